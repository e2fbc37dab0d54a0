//! Rows as CSV (docs/FORMAT.md §13): RFC 4180 records ending in CRLF under one header line. A
//! row's content is spread over columns a spreadsheet shows, and it still verifies: the
//! columns rebuild the normalised event exactly, whose leaf hash is checked as for JSON Lines.
//!
//! Spreadsheet applications run a cell that starts with `=`, `+`, `-` or `@` (or a tab or
//! carriage return before them) as a formula (CSV injection). Every text cell that starts with
//! one of those characters, or with `'`, is written with one `'` in front, which spreadsheets
//! show as text; a reader removes exactly one leading `'` from every text cell that has one.

use std::borrow::Cow;

use serde_json::{json, Map, Value};

use super::rows::{ExportRow, RowHashes};
use crate::error::VerifyError;
use crate::event::Event;
use crate::hash::Hash;

/// The header line's cells, in order.
pub const CSV_HEADER: [&str; 14] = [
    "seq",
    "leaf_hash",
    "chain_hash",
    "tombstone",
    "id",
    "occurred_at",
    "actor_type",
    "actor_id",
    "actor_name",
    "action",
    "resource_type",
    "resource_id",
    "resource_name",
    "metadata",
];

fn malformed(why: impl Into<String>) -> VerifyError {
    VerifyError::MalformedExport(why.into())
}

/// `cell` with a `'` in front when a spreadsheet would read it as a formula, or when it starts
/// with `'` itself (so that reading removes exactly what writing added).
fn protect(cell: &str) -> Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\'') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

fn unprotect(cell: &str) -> &str {
    cell.strip_prefix('\'').unwrap_or(cell)
}

fn record_line(cells: &[&str]) -> Result<String, VerifyError> {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    writer.write_record(cells).map_err(|e| malformed(format!("a CSV record does not encode: {e}")))?;
    let bytes = writer.into_inner().map_err(|e| malformed(format!("a CSV record does not encode: {e}")))?;
    String::from_utf8(bytes).map_err(|_| malformed("a CSV record is not UTF-8"))
}

/// The header line, with its CRLF.
pub fn csv_header_line() -> Result<String, VerifyError> {
    record_line(&CSV_HEADER)
}

/// Reads CSV record lines one after another with the same buffers (a `csv::Reader` made for
/// each line costs more than the line).
#[derive(Debug)]
pub struct CsvRowReader {
    reader: csv_core::Reader,
    input: Vec<u8>,
    output: Vec<u8>,
    ends: Vec<usize>,
}

/// A record's seq, leaf hash, chain hash and content columns (`None` for a tombstone).
type Columns<'a> = (u64, Hash, Hash, Option<[&'a str; 10]>);

impl Default for CsvRowReader {
    fn default() -> Self {
        Self::new()
    }
}

impl CsvRowReader {
    /// A reader for the lines of one member.
    pub fn new() -> Self {
        // RFC 4180: `,` between cells, `"` quoting, `""` for a quote inside.
        let reader = csv_core::ReaderBuilder::new().delimiter(b',').quote(b'"').double_quote(true).build();
        Self { reader, input: Vec::new(), output: Vec::new(), ends: Vec::new() }
    }

    /// The cells of exactly one record on `line` (without its line ending).
    fn cells(&mut self, line: &str) -> Result<[&str; CSV_HEADER.len()], VerifyError> {
        // The line with a terminator, so that one call reads the whole record.
        self.input.clear();
        self.input.extend_from_slice(line.as_bytes());
        self.input.push(b'\n');
        self.output.resize(self.input.len(), 0);
        self.ends.resize(CSV_HEADER.len() + 1, 0);
        self.reader.reset();
        let (result, read, _, fields) = self.reader.read_record(&self.input, &mut self.output, &mut self.ends);
        match result {
            csv_core::ReadRecordResult::Record if read == self.input.len() => {}
            csv_core::ReadRecordResult::Record => return Err(malformed("a CSV line holds more than one record")),
            csv_core::ReadRecordResult::OutputEndsFull => {
                return Err(malformed(format!("a CSV record has more than {} cells", CSV_HEADER.len())))
            }
            _ => return Err(malformed("a CSV line does not parse")),
        }
        if fields != CSV_HEADER.len() {
            return Err(malformed(format!("a CSV record has {fields} cells, not {}", CSV_HEADER.len())));
        }
        let text = std::str::from_utf8(&self.output).map_err(|_| malformed("a CSV record is not UTF-8"))?;
        let mut cells = [""; CSV_HEADER.len()];
        let mut start = 0;
        for (cell, &end) in cells.iter_mut().zip(&self.ends) {
            *cell = text.get(start..end).ok_or_else(|| malformed("a CSV cell is not UTF-8"))?;
            start = end;
        }
        Ok(cells)
    }

    /// Parses one record line (without its line ending) and recomputes the leaf hash of its
    /// content from its columns.
    pub fn row(&mut self, line: &str) -> Result<RowHashes, VerifyError> {
        let (seq, leaf_hash, chain_hash, content) = self.columns(line)?;
        match content {
            Some(content) => RowHashes::from_columns(seq, leaf_hash, chain_hash, &content),
            None => Ok(RowHashes::new(seq, leaf_hash, chain_hash, None)),
        }
    }

    /// The seq, the hashes and the content columns (`id` … `metadata`, the text cells'
    /// protection removed; `None` for a tombstone) of one record line.
    fn columns<'a>(&'a mut self, line: &str) -> Result<Columns<'a>, VerifyError> {
        let cells = self.cells(line)?;
        let seq: u64 = cells[0].parse().map_err(|_| malformed(format!("the seq {:?} is not a number", cells[0])))?;
        let hash =
            |i: usize| Hash::from_hex(cells[i]).map_err(|e| malformed(format!("seq {seq}: {}: {e}", CSV_HEADER[i])));
        let (leaf_hash, chain_hash) = (hash(1)?, hash(2)?);
        match cells[3] {
            "true" => {
                if cells[4..].iter().any(|c| !c.is_empty()) {
                    return Err(malformed(format!("seq {seq}: a tombstone has content")));
                }
                Ok((seq, leaf_hash, chain_hash, None))
            }
            "false" => {
                let mut content = [""; 10];
                for (i, (cell, text)) in content.iter_mut().zip(&cells[4..]).enumerate() {
                    // Every text cell was protected; the metadata (JSON) never is.
                    *cell = if i < 9 { unprotect(text) } else { text };
                }
                Ok((seq, leaf_hash, chain_hash, Some(content)))
            }
            other => Err(malformed(format!("seq {seq}: tombstone is {other:?}, not true or false"))),
        }
    }
}

/// Checks the header line (without its line ending).
pub fn check_csv_header(line: &str) -> Result<(), VerifyError> {
    if CsvRowReader::new().cells(line)? != CSV_HEADER {
        return Err(malformed(format!("the CSV header is not {}", CSV_HEADER.join(","))));
    }
    Ok(())
}

impl ExportRow {
    /// The row as one CSV record, with its CRLF.
    pub fn to_csv(&self) -> Result<String, VerifyError> {
        let (seq, leaf, chain) = (self.seq.to_string(), self.leaf_hash.to_hex(), self.chain_hash.to_hex());
        let Some(event) = &self.event else {
            let empty = [""; 10];
            let mut cells = vec![seq.as_str(), leaf.as_str(), chain.as_str(), "true"];
            cells.extend(empty);
            return record_line(&cells);
        };
        let metadata = event.metadata().canonical_json().map_err(|e| malformed(e.to_string()))?;
        let metadata = String::from_utf8(metadata).map_err(|_| malformed("metadata is not UTF-8"))?;
        let (actor, resource) = (event.actor(), event.resource());
        let text = [
            event.id().as_str(),
            event.occurred_at().as_str(),
            actor.kind(),
            actor.id(),
            actor.name().unwrap_or(""),
            event.action().as_str(),
            resource.kind(),
            resource.id(),
            resource.name().unwrap_or(""),
        ];
        let protected: Vec<Cow<'_, str>> = text.iter().map(|cell| protect(cell)).collect();
        let mut cells = vec![seq.as_str(), leaf.as_str(), chain.as_str(), "false"];
        cells.extend(protected.iter().map(|c| c.as_ref()));
        cells.push(&metadata);
        record_line(&cells)
    }

    /// Parses one CSV record line (without its line ending), rebuilding the normalised event
    /// from its columns.
    pub fn from_csv(line: &str) -> Result<Self, VerifyError> {
        let mut reader = CsvRowReader::new();
        let (seq, leaf_hash, chain_hash, content) = reader.columns(line)?;
        let event = content.map(|cells| event_from_columns(seq, &cells)).transpose()?;
        Ok(Self { seq, leaf_hash, chain_hash, event })
    }
}

/// The normalised event of the content columns (`id` … `metadata` of [`CSV_HEADER`], names
/// empty when absent), shared by the CSV and Parquet rows.
pub(crate) fn event_from_columns(seq: u64, cells: &[&str; 10]) -> Result<Event, VerifyError> {
    let party = |kind: usize| {
        let mut map = Map::new();
        map.insert("type".into(), json!(cells[kind]));
        map.insert("id".into(), json!(cells[kind + 1]));
        if !cells[kind + 2].is_empty() {
            map.insert("name".into(), json!(cells[kind + 2]));
        }
        Value::Object(map)
    };
    let metadata: Value =
        serde_json::from_str(cells[9]).map_err(|e| malformed(format!("seq {seq}: the metadata is not JSON: {e}")))?;
    let event = json!({
        "id": cells[0], "occurred_at": cells[1], "actor": party(2), "action": cells[5], "resource": party(6),
        "metadata": metadata,
    });
    serde_json::from_value(event).map_err(|e| malformed(format!("seq {seq}: the columns are not an event: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventInput;
    use crate::ids::EventId;

    fn row(actor: &str, name: Option<&str>, metadata: Value) -> ExportRow {
        let mut body = json!({"id": "evt_1", "actor": {"type": "user", "id": actor},
            "action": "invoice.updated", "resource": {"type": "invoice", "id": "-42"},
            "occurred_at": "2026-12-02T10:00:00Z", "metadata": metadata});
        if let Some(name) = name {
            body["actor"]["name"] = json!(name);
        }
        let input: EventInput = serde_json::from_value(body).unwrap();
        let event = input.into_event(|| EventId::new("x").unwrap()).unwrap();
        ExportRow { seq: 7, leaf_hash: event.leaf_hash(), chain_hash: Hash::digest(b"c"), event: Some(event) }
    }

    #[test]
    fn rows_round_trip_through_csv_with_formula_cells_neutralised() {
        let cases = [
            row("=HYPERLINK(\"http://x\")", Some("+1 \"quoted\", with comma"), json!({"a": [1, 2.5, "x\ny"]})),
            row("@admin", None, json!({})),
            row("'already quoted", Some("-minus"), json!({"f": 1.5e-7, "x": 10.0})),
        ];
        for original in cases {
            let line = original.to_csv().unwrap();
            assert!(line.ends_with("\r\n") && line.matches('\n').count() == 1, "{line:?}");
            assert!(!line.contains(",=") && !line.contains(",@") && !line.contains(",+"), "{line}");
            let parsed = ExportRow::from_csv(line.trim_end_matches("\r\n")).unwrap();
            assert_eq!(parsed.event.as_ref().unwrap().leaf_hash(), original.leaf_hash, "{line}");
            assert_eq!((parsed.seq, parsed.leaf_hash, parsed.chain_hash), (7, original.leaf_hash, original.chain_hash));
            // The reader of a whole member gives the same hashes, its buffers reused.
            let mut reader = CsvRowReader::new();
            for _ in 0..2 {
                assert_eq!(reader.row(line.trim_end_matches("\r\n")).unwrap(), original.hashes(), "{line}");
            }
        }
        let tombstone = ExportRow { event: None, ..row("u", None, json!({})) };
        let line = tombstone.to_csv().unwrap();
        assert_eq!(ExportRow::from_csv(line.trim_end()).unwrap(), tombstone);
        assert_eq!(CsvRowReader::new().row(line.trim_end()).unwrap(), tombstone.hashes());
        check_csv_header(csv_header_line().unwrap().trim_end()).unwrap();
    }

    #[test]
    fn malformed_csv_rows_are_refused() {
        let line = row("u", None, json!({"k": 1})).to_csv().unwrap();
        let line = line.trim_end();
        for bad in [
            line.replacen(",false,", ",maybe,", 1),
            line.replacen(",false,", ",true,", 1),
            format!("{line},extra"),
            line.replacen("\"{\"\"k\"\":1}\"", "\"{\"\"k\"\":\"", 1),
            line.replacen("7,", "x,", 1),
            line.replacen(",false,", ",false\n,", 1),
            line.replacen(",false,", ",\"false,", 1),
            line.replacen(",evt_1,", ",,", 1),
        ] {
            assert_ne!(bad, line, "each case changes the line");
            assert!(matches!(ExportRow::from_csv(&bad), Err(VerifyError::MalformedExport(_))), "{bad}");
            assert!(matches!(CsvRowReader::new().row(&bad), Err(VerifyError::MalformedExport(_))), "{bad}");
        }
        assert!(check_csv_header("seq,leaf_hash").is_err());
        // An altered cell still parses; it is the leaf hash that catches it.
        let altered = ExportRow::from_csv(&line.replacen("invoice.updated", "invoice.deleted", 1)).unwrap();
        assert_ne!(altered.event.unwrap().leaf_hash(), altered.leaf_hash);
        let altered = CsvRowReader::new().row(&line.replacen("invoice.updated", "invoice.deleted", 1)).unwrap();
        assert_ne!(altered.content_leaf(), Some(altered.leaf_hash()));
    }
}
