//! Rows as Parquet (docs/FORMAT.md §13, feature `parquet`): one typed column per field of the
//! CSV header, in row groups bounded in bytes, Snappy-compressed. As with CSV, the columns
//! rebuild the normalised event exactly, whose leaf hash is checked as for JSON Lines.

use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, FixedLenByteArray, FixedLenByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{ChunkReader, FileReader, SerializedFileReader};
use parquet::file::writer::{SerializedColumnWriter, SerializedFileWriter, SerializedRowGroupWriter};
use parquet::record::{Field, Row};
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::Type;

use super::csv_rows::{event_from_columns, CSV_HEADER};
use super::rows::{ExportRow, RowHashes};
use crate::error::VerifyError;
use crate::hash::Hash;
use crate::OccurredAt;

/// The schema of `events.parquet`, in Parquet's message syntax: the CSV header's columns, typed.
pub const PARQUET_SCHEMA: &str = "message auditstore_export_row {
  required int64 seq (INTEGER(64,false));
  required fixed_len_byte_array(32) leaf_hash;
  required fixed_len_byte_array(32) chain_hash;
  required boolean tombstone;
  optional binary id (STRING);
  optional int64 occurred_at (TIMESTAMP(MILLIS,true));
  optional binary actor_type (STRING);
  optional binary actor_id (STRING);
  optional binary actor_name (STRING);
  optional binary action (STRING);
  optional binary resource_type (STRING);
  optional binary resource_id (STRING);
  optional binary resource_name (STRING);
  optional binary metadata (JSON);
}";

/// Bytes of row content collected before they are written as one row group.
pub const ROW_GROUP_BYTES: usize = 8 << 20;

/// The text columns after `occurred_at`, and `id` before it, in schema order.
const TEXT_COLUMNS: usize = 8;

fn malformed(why: impl Into<String>) -> VerifyError {
    VerifyError::MalformedExport(why.into())
}

fn parquet_error(e: parquet::errors::ParquetError) -> VerifyError {
    malformed(format!("Parquet: {e}"))
}

fn schema() -> Result<Type, VerifyError> {
    parse_message_type(PARQUET_SCHEMA).map_err(parquet_error)
}

/// One row group's columns as they are collected; optional columns hold their present values
/// and a definition level per row.
#[derive(Default)]
struct Columns {
    seq: Vec<i64>,
    leaf: Vec<FixedLenByteArray>,
    chain: Vec<FixedLenByteArray>,
    tombstone: Vec<bool>,
    id: (Vec<ByteArray>, Vec<i16>),
    occurred: (Vec<i64>, Vec<i16>),
    text: [(Vec<ByteArray>, Vec<i16>); TEXT_COLUMNS - 1],
    metadata: (Vec<ByteArray>, Vec<i16>),
    bytes: usize,
}

fn optional<T>(column: &mut (Vec<T>, Vec<i16>), value: Option<T>) {
    column.1.push(i16::from(value.is_some()));
    column.0.extend(value);
}

fn next_column<'a>(
    group: &'a mut SerializedRowGroupWriter<'_, Vec<u8>>,
) -> Result<SerializedColumnWriter<'a>, VerifyError> {
    group.next_column().map_err(parquet_error)?.ok_or_else(|| malformed("the schema has fewer columns"))
}

/// Writes rows as a Parquet file into memory, one row group at a time; the caller takes the
/// bytes written so far with [`ParquetRowsWriter::take_bytes`], so only about one row group
/// is held.
pub struct ParquetRowsWriter {
    writer: SerializedFileWriter<Vec<u8>>,
    columns: Columns,
    row_group_bytes: usize,
}

impl std::fmt::Debug for ParquetRowsWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetRowsWriter").field("buffered", &self.columns.bytes).finish_non_exhaustive()
    }
}

impl ParquetRowsWriter {
    /// Starts a file with [`PARQUET_SCHEMA`].
    pub fn new() -> Result<Self, VerifyError> {
        Self::with_row_groups_of(ROW_GROUP_BYTES)
    }

    /// Starts a file whose row groups each hold about `bytes` of content.
    fn with_row_groups_of(bytes: usize) -> Result<Self, VerifyError> {
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by("auditstore-export/v1".to_owned())
            .build();
        let writer =
            SerializedFileWriter::new(Vec::new(), Arc::new(schema()?), Arc::new(properties)).map_err(parquet_error)?;
        Ok(Self { writer, columns: Columns::default(), row_group_bytes: bytes })
    }

    /// Adds a row; a row group is written once [`ROW_GROUP_BYTES`] are collected.
    pub fn push(&mut self, row: &ExportRow) -> Result<(), VerifyError> {
        let c = &mut self.columns;
        c.seq.push(i64::try_from(row.seq).map_err(|_| malformed("a seq beyond 2^63"))?);
        c.leaf.push(FixedLenByteArray::from(row.leaf_hash.as_bytes().to_vec()));
        c.chain.push(FixedLenByteArray::from(row.chain_hash.as_bytes().to_vec()));
        c.tombstone.push(row.event.is_none());
        c.bytes += 8 + 64 + 1;
        let text = |s: &str| Some(ByteArray::from(s.as_bytes().to_vec()));
        match &row.event {
            None => {
                optional(&mut c.id, None);
                optional(&mut c.occurred, None);
                for column in &mut c.text {
                    optional(column, None);
                }
                optional(&mut c.metadata, None);
            }
            Some(event) => {
                let metadata = event.metadata().canonical_json().map_err(|e| malformed(e.to_string()))?;
                let (actor, resource) = (event.actor(), event.resource());
                let values = [
                    Some(actor.kind()),
                    Some(actor.id()),
                    actor.name(),
                    Some(event.action().as_str()),
                    Some(resource.kind()),
                    Some(resource.id()),
                    resource.name(),
                ];
                c.bytes += event.id().as_str().len() + 8 + metadata.len();
                optional(&mut c.id, text(event.id().as_str()));
                optional(&mut c.occurred, Some(event.occurred_at().unix_millis()));
                for (column, value) in c.text.iter_mut().zip(values) {
                    c.bytes += value.map_or(0, str::len);
                    optional(column, value.and_then(text));
                }
                optional(&mut c.metadata, Some(ByteArray::from(metadata)));
            }
        }
        if self.columns.bytes >= self.row_group_bytes {
            self.write_row_group()?;
        }
        Ok(())
    }

    fn write_row_group(&mut self) -> Result<(), VerifyError> {
        let c = std::mem::take(&mut self.columns);
        if c.seq.is_empty() {
            return Ok(());
        }
        let mut group = self.writer.next_row_group().map_err(parquet_error)?;
        let mut column = next_column(&mut group)?;
        column.typed::<Int64Type>().write_batch(&c.seq, None, None).map_err(parquet_error)?;
        column.close().map_err(parquet_error)?;
        for hashes in [&c.leaf, &c.chain] {
            let mut column = next_column(&mut group)?;
            column.typed::<FixedLenByteArrayType>().write_batch(hashes, None, None).map_err(parquet_error)?;
            column.close().map_err(parquet_error)?;
        }
        let mut column = next_column(&mut group)?;
        column.typed::<BoolType>().write_batch(&c.tombstone, None, None).map_err(parquet_error)?;
        column.close().map_err(parquet_error)?;
        let mut column = next_column(&mut group)?;
        column.typed::<ByteArrayType>().write_batch(&c.id.0, Some(&c.id.1), None).map_err(parquet_error)?;
        column.close().map_err(parquet_error)?;
        let mut column = next_column(&mut group)?;
        column.typed::<Int64Type>().write_batch(&c.occurred.0, Some(&c.occurred.1), None).map_err(parquet_error)?;
        column.close().map_err(parquet_error)?;
        for (values, levels) in c.text.iter().chain(std::iter::once(&c.metadata)) {
            let mut column = next_column(&mut group)?;
            column.typed::<ByteArrayType>().write_batch(values, Some(levels), None).map_err(parquet_error)?;
            column.close().map_err(parquet_error)?;
        }
        group.close().map_err(parquet_error)?;
        self.writer.flush().map_err(|e| malformed(format!("Parquet: {e}")))?;
        Ok(())
    }

    /// The file's bytes written since the last call.
    pub fn take_bytes(&mut self) -> Vec<u8> {
        std::mem::take(self.writer.inner_mut())
    }

    /// Writes the last row group and the footer; returns the bytes not taken yet.
    pub fn finish(mut self) -> Result<Vec<u8>, VerifyError> {
        self.write_row_group()?;
        self.writer.finish().map_err(parquet_error)?;
        Ok(self.take_bytes())
    }
}

/// The rows of `events.parquet` with their schema checked first.
fn records<R: ChunkReader + 'static>(file: R) -> Result<parquet::record::reader::RowIter<'static>, VerifyError> {
    let reader = SerializedFileReader::new(file).map_err(parquet_error)?;
    if reader.metadata().file_metadata().schema() != &schema()? {
        return Err(malformed("events.parquet does not have the schema of docs/FORMAT.md §13"));
    }
    Ok(parquet::record::reader::RowIter::from_file_into(Box::new(reader)))
}

/// Reads `events.parquet` back as the verifier needs it, checking its schema first, with the
/// leaf hash of each row's content recomputed from its columns.
pub fn parquet_rows<R: ChunkReader + 'static>(
    file: R,
) -> Result<impl Iterator<Item = Result<RowHashes, VerifyError>>, VerifyError> {
    let rows = records(file)?;
    Ok(rows.map(|row| {
        row.map_err(parquet_error).and_then(|row| {
            row_of(&row, |seq, leaf, chain, cells| match cells {
                Some(cells) => RowHashes::from_columns(seq, leaf, chain, cells),
                None => Ok(RowHashes::new(seq, leaf, chain, None)),
            })
        })
    }))
}

/// Reads `events.parquet` back as rows with their events (each read in full, as stored events
/// are), checking its schema first.
pub fn parquet_export_rows<R: ChunkReader + 'static>(
    file: R,
) -> Result<impl Iterator<Item = Result<ExportRow, VerifyError>>, VerifyError> {
    let rows = records(file)?;
    Ok(rows.map(|row| {
        row.map_err(parquet_error).and_then(|row| {
            row_of(&row, |seq, leaf_hash, chain_hash, cells| {
                let event = cells.map(|cells| event_from_columns(seq, cells)).transpose()?;
                Ok(ExportRow { seq, leaf_hash, chain_hash, event })
            })
        })
    }))
}

/// The text of a string column; null is empty (an absent name).
fn text_of(seq: u64, field: &Field) -> Result<&str, VerifyError> {
    match field {
        Field::Str(s) => Ok(s.as_str()),
        Field::Null => Ok(""),
        _ => Err(malformed(format!("seq {seq}: a text column holds something else"))),
    }
}

/// The seq, hashes and content columns (none for a tombstone) of a row, given to `build`.
fn row_of<T>(
    row: &Row,
    build: impl FnOnce(u64, Hash, Hash, Option<&[&str; 10]>) -> Result<T, VerifyError>,
) -> Result<T, VerifyError> {
    let fields: Vec<&Field> = row.get_column_iter().map(|(_, field)| field).collect();
    if fields.len() != CSV_HEADER.len() {
        return Err(malformed("a Parquet row has the wrong number of columns"));
    }
    let seq = match fields[0] {
        Field::ULong(seq) => *seq,
        _ => return Err(malformed("a Parquet row's seq is not an unsigned integer")),
    };
    let hash = |i: usize| match fields[i] {
        Field::Bytes(bytes) => {
            Hash::try_from(bytes.data()).map_err(|_| malformed(format!("seq {seq}: {} is not 32 bytes", CSV_HEADER[i])))
        }
        _ => Err(malformed(format!("seq {seq}: {} is not 32 bytes", CSV_HEADER[i]))),
    };
    let (leaf_hash, chain_hash) = (hash(1)?, hash(2)?);
    let content = &fields[4..];
    match fields[3] {
        Field::Bool(true) => {
            if content.iter().any(|f| !matches!(f, Field::Null)) {
                return Err(malformed(format!("seq {seq}: a tombstone has content")));
            }
            build(seq, leaf_hash, chain_hash, None)
        }
        Field::Bool(false) => {
            let occurred_at = match content[1] {
                Field::TimestampMillis(ms) => {
                    OccurredAt::from_unix_millis(*ms).map_err(|e| malformed(format!("seq {seq}: occurred_at: {e}")))?
                }
                _ => return Err(malformed(format!("seq {seq}: occurred_at is missing"))),
            };
            let mut cells = [""; 10];
            cells[0] = text_of(seq, content[0])?;
            cells[1] = occurred_at.as_str();
            for (cell, field) in cells[2..].iter_mut().zip(&content[2..]) {
                *cell = text_of(seq, field)?;
            }
            build(seq, leaf_hash, chain_hash, Some(&cells))
        }
        _ => Err(malformed(format!("seq {seq}: tombstone is not a boolean"))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::event::EventInput;
    use crate::ids::EventId;

    fn row(seq: u64, actor: &str, name: Option<&str>) -> ExportRow {
        let mut body = json!({"id": format!("evt_{seq}"), "actor": {"type": "user", "id": actor},
            "action": "invoice.updated", "resource": {"type": "invoice", "id": "=1+1"},
            "occurred_at": "2026-12-02T10:00:00.123+01:00", "metadata": {"n": seq, "f": 1.5e-7, "s": "é\n"}});
        if let Some(name) = name {
            body["actor"]["name"] = json!(name);
        }
        let input: EventInput = serde_json::from_value(body).expect("test data");
        let event = input.into_event(|| EventId::new("x").expect("test data")).expect("test data");
        ExportRow {
            seq,
            leaf_hash: event.leaf_hash(),
            chain_hash: Hash::digest(&seq.to_be_bytes()),
            event: Some(event),
        }
    }

    fn read(bytes: Vec<u8>) -> Result<Vec<RowHashes>, VerifyError> {
        parquet_rows(bytes::Bytes::from(bytes))?.collect()
    }

    #[test]
    fn rows_round_trip_through_parquet_across_row_groups_and_rebuild_their_leaf_hashes() {
        let mut writer = ParquetRowsWriter::with_row_groups_of(64 << 10).expect("test data");
        let mut file = Vec::new();
        // Enough rows for several row groups.
        let rows: Vec<ExportRow> = (0..3_000u64)
            .map(|seq| match seq % 3 {
                0 => row(seq, "u@example.com", Some("Jane \"J\" Doe")),
                1 => row(seq, "@admin", None),
                _ => ExportRow { event: None, ..row(seq, "gone", None) },
            })
            .collect();
        for r in &rows {
            writer.push(r).expect("test data");
            file.extend(writer.take_bytes());
        }
        file.extend(writer.finish().expect("test data"));
        let reader = SerializedFileReader::new(bytes::Bytes::from(file.clone())).expect("test data");
        assert!(reader.metadata().num_row_groups() > 1, "row groups are bounded in bytes");
        let back = read(file.clone()).expect("test data");
        assert_eq!(back.len(), rows.len());
        for (a, b) in rows.iter().zip(&back) {
            assert_eq!(&a.hashes(), b, "seq {}", a.seq);
        }
        let full: Vec<ExportRow> = parquet_export_rows(bytes::Bytes::from(file.clone()))
            .expect("test data")
            .collect::<Result<_, _>>()
            .expect("rows");
        for (a, b) in rows.iter().zip(&full) {
            assert_eq!(a.hashes(), b.hashes(), "seq {}", a.seq);
        }
    }

    #[test]
    fn a_file_of_another_schema_is_refused() {
        let other = parse_message_type("message x { required int64 seq; }").expect("test data");
        let mut writer =
            SerializedFileWriter::new(Vec::new(), Arc::new(other), Arc::new(WriterProperties::builder().build()))
                .expect("test data");
        writer.finish().expect("test data");
        let file = std::mem::take(writer.inner_mut());
        let error = read(file).map(|_| ()).expect_err("refused");
        assert!(error.to_string().contains("schema"), "{error}");
        assert!(read(b"PAR1 not really".to_vec()).is_err());
    }
}
