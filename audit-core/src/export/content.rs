//! The leaf hash a row's content hashes to, read straight from the row's text.
//!
//! Writers put `metadata` in its canonical form (`JCS(metadata)`, docs/FORMAT.md §13), so the
//! entry (DESIGN §3) can be rebuilt from the row's strings and the SHA-256 of the metadata's
//! bytes, without parsing the metadata into a value and canonicalising it again. When that
//! leaf hash is the stored one, the row's text is exactly what was committed (a second preimage
//! of SHA-256 is out of reach). When it is not (a file from another writer, whose metadata is
//! valid JSON in another form, or a tampered row), the row is read in full as a stored event
//! and hashed from that: the slow path alone decides what is malformed and what does not match.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::csv_rows::event_from_columns;
use super::rows::{ExportRow, RowHashes};
use crate::error::VerifyError;
use crate::event::{jcs_escapes, EntryParts, PartyParts};
use crate::hash::Hash;

/// A JSON Lines row, borrowed from its line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FastRow<'a> {
    seq: u64,
    leaf_hash: Hash,
    chain_hash: Hash,
    #[serde(borrow, default)]
    event: Option<FastEvent<'a>>,
    #[serde(default)]
    tombstone: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FastEvent<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    actor: FastParty<'a>,
    #[serde(borrow)]
    action: Cow<'a, str>,
    #[serde(borrow)]
    resource: FastParty<'a>,
    #[serde(borrow)]
    occurred_at: Cow<'a, str>,
    #[serde(borrow)]
    metadata: &'a RawValue,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FastParty<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
}

impl<'a> FastParty<'a> {
    fn parts(&'a self) -> PartyParts<'a> {
        PartyParts { kind: &self.kind, id: &self.id, name: self.name.as_deref() }
    }
}

impl FastEvent<'_> {
    fn leaf_hash(&self) -> Hash {
        EntryParts {
            id: &self.id,
            actor: self.actor.parts(),
            action: &self.action,
            resource: self.resource.parts(),
            occurred_at: &self.occurred_at,
            metadata_hash: Hash::digest(self.metadata.get().as_bytes()),
        }
        .leaf_hash()
    }
}

/// A row exactly as [`ExportRow::to_jsonl`] writes it, its strings without escapes, read by
/// matching its fixed skeleton: `{"seq":N,"leaf_hash":"…","chain_hash":"…","event":{"id":"…",
/// "actor":{"type":"…","id":"…"[,"name":"…"]},"action":"…","resource":{…},"occurred_at":"…",
/// "metadata":M}}` or the tombstone's `…,"tombstone":true}`. `M` is taken as the bytes between
/// `"metadata":` and the closing `}}`, unparsed: if they hash to the committed metadata hash (the
/// caller checks the leaf hash), they are the canonical JSON of that metadata, so the whole
/// line is valid JSON that reads as exactly these values.
struct Skeleton<'a> {
    rest: &'a str,
}

impl<'a> Skeleton<'a> {
    fn literal(&mut self, text: &str) -> Option<()> {
        self.rest = self.rest.strip_prefix(text)?;
        Some(())
    }

    /// A string with no escape in it (one with escapes is left to the JSON parser).
    fn string(&mut self) -> Option<&'a str> {
        let rest = self.rest.strip_prefix('"')?;
        let end = rest.bytes().position(jcs_escapes)?;
        if rest.as_bytes()[end] != b'"' {
            return None;
        }
        self.rest = &rest[end + 1..];
        Some(&rest[..end])
    }

    /// A JSON number that is a u64 without leading zeros.
    fn seq(&mut self) -> Option<u64> {
        let digits = self.rest.bytes().take_while(u8::is_ascii_digit).count();
        let (number, rest) = self.rest.split_at(digits);
        if number.is_empty() || (number.len() > 1 && number.starts_with('0')) {
            return None;
        }
        self.rest = rest;
        number.parse().ok()
    }

    /// A hash's 64 hex digits in quotes: they need no scan for the string's end, since
    /// decoding them refuses anything but a hex digit.
    fn hash(&mut self) -> Option<Hash> {
        let (digits, rest) = self.rest.strip_prefix('"')?.split_at_checked(64)?;
        self.rest = rest.strip_prefix('"')?;
        Hash::from_hex(digits).ok()
    }

    fn party(&mut self) -> Option<PartyParts<'a>> {
        self.literal("{\"type\":")?;
        let kind = self.string()?;
        self.literal(",\"id\":")?;
        let id = self.string()?;
        let name = match self.literal(",\"name\":") {
            Some(()) => Some(self.string()?),
            None => None,
        };
        self.literal("}")?;
        Some(PartyParts { kind, id, name })
    }

    /// The row's seq and hashes, and the leaf hash of its content (`None`: a tombstone), or
    /// `None` when the line is not in the writer's exact form.
    fn read(line: &'a str) -> Option<(u64, Hash, Hash, Option<Hash>)> {
        let mut s = Skeleton { rest: line };
        s.literal("{\"seq\":")?;
        let seq = s.seq()?;
        s.literal(",\"leaf_hash\":")?;
        let leaf = s.hash()?;
        s.literal(",\"chain_hash\":")?;
        let chain = s.hash()?;
        if s.rest == ",\"tombstone\":true}" {
            return Some((seq, leaf, chain, None));
        }
        s.literal(",\"event\":{\"id\":")?;
        let id = s.string()?;
        s.literal(",\"actor\":")?;
        let actor = s.party()?;
        s.literal(",\"action\":")?;
        let action = s.string()?;
        s.literal(",\"resource\":")?;
        let resource = s.party()?;
        s.literal(",\"occurred_at\":")?;
        let occurred_at = s.string()?;
        s.literal(",\"metadata\":")?;
        let metadata = s.rest.strip_suffix("}}")?;
        if !metadata.starts_with('{') || !metadata.ends_with('}') {
            return None;
        }
        let metadata_hash = Hash::digest(metadata.as_bytes());
        // The strings were read up to their closing quote and hold none of what JCS escapes.
        let content = EntryParts { id, actor, action, resource, occurred_at, metadata_hash }.leaf_hash_unescaped();
        Some((seq, leaf, chain, Some(content)))
    }
}

impl RowHashes {
    /// Parses one JSON Lines line (without its newline) and recomputes the leaf hash of its
    /// content; see the module docs. A line in the writer's exact form is read by its
    /// skeleton, other valid lines by the JSON parser; either is accepted on that path only
    /// when its content hashes to the row's leaf hash.
    pub fn from_jsonl(line: &str) -> Result<Self, VerifyError> {
        if let Some((seq, leaf, chain, content)) = Skeleton::read(line) {
            if content.is_none_or(|c| c.ct_eq(&leaf)) {
                return Ok(Self::new(seq, leaf, chain, content));
            }
        }
        if let Ok(row) = serde_json::from_str::<FastRow<'_>>(line) {
            match (&row.event, row.tombstone) {
                (Some(event), false) => {
                    let content = event.leaf_hash();
                    if content.ct_eq(&row.leaf_hash) {
                        return Ok(Self::new(row.seq, row.leaf_hash, row.chain_hash, Some(content)));
                    }
                }
                (None, true) => return Ok(Self::new(row.seq, row.leaf_hash, row.chain_hash, None)),
                _ => {}
            }
        }
        Ok(ExportRow::from_jsonl(line)?.hashes())
    }

    /// The hashes of a row whose content is given as the CSV header's content columns (`id` …
    /// `metadata`, names empty when absent, `metadata` as `JCS(metadata)`), as CSV and Parquet
    /// rows hold it.
    pub(crate) fn from_columns(
        seq: u64,
        leaf_hash: Hash,
        chain_hash: Hash,
        cells: &[&str; 10],
    ) -> Result<Self, VerifyError> {
        fn name(cell: &str) -> Option<&str> {
            Some(cell).filter(|c| !c.is_empty())
        }
        let content = EntryParts {
            id: cells[0],
            occurred_at: cells[1],
            actor: PartyParts { kind: cells[2], id: cells[3], name: name(cells[4]) },
            action: cells[5],
            resource: PartyParts { kind: cells[6], id: cells[7], name: name(cells[8]) },
            metadata_hash: Hash::digest(cells[9].as_bytes()),
        }
        .leaf_hash();
        let content = if content.ct_eq(&leaf_hash) { content } else { event_from_columns(seq, cells)?.leaf_hash() };
        Ok(Self::new(seq, leaf_hash, chain_hash, Some(content)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::event::{Event, EventInput};
    use crate::ids::EventId;

    fn event(metadata: serde_json::Value) -> Event {
        let input: EventInput = serde_json::from_value(json!({
            "id": "evt_1", "actor": {"type": "user", "id": "alice@example.com", "name": "Alice \"A\""},
            "action": "invoice.updated", "resource": {"type": "invoice", "id": "inv/7"},
            "occurred_at": "2026-12-02T10:00:00.250+01:00", "metadata": metadata,
        }))
        .unwrap();
        input.into_event(|| EventId::new("unused").unwrap()).unwrap()
    }

    fn line(event: &Event) -> String {
        let leaf = event.leaf_hash();
        ExportRow { seq: 3, leaf_hash: leaf, chain_hash: Hash::digest(b"c"), event: Some(event.clone()) }
            .to_jsonl()
            .unwrap()
    }

    #[test]
    fn a_written_row_hashes_on_the_fast_path_to_what_the_full_read_gives() {
        let event = event(json!({"z": [1, 2.5, "\u{e9}"], "a": {"y": null, "b": true}}));
        let line = line(&event);
        // The writer puts the metadata in canonical order, so the fast path applies.
        assert!(line.contains(r#""metadata":{"a":{"b":true,"y":null},"z":[1,2.5,"é"]}"#), "{line}");
        let fast = serde_json::from_str::<FastRow<'_>>(&line).unwrap();
        assert_eq!(fast.event.as_ref().map(FastEvent::leaf_hash), Some(event.leaf_hash()));
        // The name holds quotes, escaped: the skeleton leaves the line to the JSON parser.
        assert!(Skeleton::read(&line).is_none());
        let plain = self::event(json!({"z": 1, "a": "x"}));
        let mut input = plain.to_input();
        input.actor.name = Some("Alice".into());
        let plain = input.into_event(|| EventId::new("unused").unwrap()).unwrap();
        let line = self::line(&plain);
        let read = Skeleton::read(&line).unwrap();
        assert_eq!(read, (3, plain.leaf_hash(), Hash::digest(b"c"), Some(plain.leaf_hash())));
        assert_eq!(RowHashes::from_jsonl(&line).unwrap(), ExportRow::from_jsonl(&line).unwrap().hashes());
        assert_eq!(RowHashes::from_jsonl(&line).unwrap(), ExportRow::from_jsonl(&line).unwrap().hashes());
    }

    #[test]
    fn metadata_in_another_form_still_verifies_through_the_full_read() {
        let event = event(json!({"b": 1, "a": 2}));
        let written = line(&event);
        let reordered = written.replace(r#"{"a":2,"b":1}"#, r#"{ "b" : 1, "a" : 2 }"#);
        assert_ne!(reordered, written);
        let row = RowHashes::from_jsonl(&reordered).unwrap();
        assert_eq!(row.content_leaf(), Some(event.leaf_hash()));
        // Its tampered twin: the same line with a value changed hashes to something else.
        let altered = RowHashes::from_jsonl(&reordered.replace(r#""a" : 2"#, r#""a" : 3"#)).unwrap();
        assert_ne!(altered.content_leaf(), Some(event.leaf_hash()));
    }

    #[test]
    fn the_skeleton_reads_only_the_writers_exact_form_and_the_rest_goes_to_the_parser() {
        let event = event(json!({"k": [1, {"n": null}]}));
        let mut input = event.to_input();
        input.actor.name = None;
        let event = input.into_event(|| EventId::new("unused").unwrap()).unwrap();
        let line = line(&event);
        assert!(Skeleton::read(&line).is_some(), "{line}");
        let tombstone = ExportRow { event: None, ..ExportRow::from_jsonl(&line).unwrap() }.to_jsonl().unwrap();
        assert_eq!(Skeleton::read(&tombstone).map(|r| r.3), Some(None));
        // Valid JSON in another form: not the skeleton's, still read (and verified) by the parser.
        for other in [
            line.replacen("{\"seq\":3", "{ \"seq\": 3", 1),
            line.replacen("\"seq\":3,", "\"seq\":3.0,", 1),
            line.replacen("\"id\":\"evt_1\"", "\"id\":\"evt\\u005f1\"", 1),
        ] {
            assert!(Skeleton::read(&other).is_none(), "{other}");
            let parsed = RowHashes::from_jsonl(&other);
            if let Ok(row) = parsed {
                assert_eq!(row.content_leaf(), Some(event.leaf_hash()), "{other}");
            }
        }
        // Not valid JSON, or not a row: the skeleton does not take it, and neither does the
        // parser.
        for bad in [
            line.replacen("\"seq\":3", "\"seq\":03", 1),
            line.replacen("}}", "}},", 1),
            format!("{line}}}"),
            line.replacen("\"metadata\":{", "\"metadata\":[", 1),
            line.replacen("\"metadata\":", "\"metadata\":1,\"x\":", 1),
            line.replacen("\"seq\":3", "\"seq\":18446744073709551616", 1),
        ] {
            assert_ne!(bad, line);
            assert!(RowHashes::from_jsonl(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_altered_string_field_is_caught_on_either_path() {
        let event = event(json!({}));
        let altered = line(&event).replace("invoice.updated", "invoice.deleted");
        let row = RowHashes::from_jsonl(&altered).unwrap();
        assert_ne!(row.content_leaf(), Some(row.leaf_hash()));
        // A field the event does not have is refused, as the full read refuses it.
        let extra = line(&event).replace(r#""action":"#, r#""extra":1,"action":"#);
        assert!(matches!(RowHashes::from_jsonl(&extra), Err(VerifyError::MalformedExport(_))));
    }

    #[test]
    fn columns_hash_on_the_fast_path_and_fall_back_for_other_metadata_forms() {
        let event = event(json!({"b": 1, "a": 2}));
        let leaf = event.leaf_hash();
        let mut cells = [
            "evt_1",
            "2026-12-02T09:00:00.250Z",
            "user",
            "alice@example.com",
            "Alice \"A\"",
            "invoice.updated",
            "invoice",
            "inv/7",
            "",
            r#"{"a":2,"b":1}"#,
        ];
        let row = RowHashes::from_columns(1, leaf, leaf, &cells).unwrap();
        assert_eq!(row.content_leaf(), Some(leaf));
        cells[9] = r#"{"b":1,"a":2}"#;
        assert_eq!(RowHashes::from_columns(1, leaf, leaf, &cells).unwrap().content_leaf(), Some(leaf));
        cells[9] = r#"{"b":1,"a":3}"#;
        assert_ne!(RowHashes::from_columns(1, leaf, leaf, &cells).unwrap().content_leaf(), Some(leaf));
    }
}
