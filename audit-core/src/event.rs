//! The event model (DESIGN §3, `docs/FORMAT.md` §2): what a client sends ([`EventInput`]), the
//! validated and normalised [`Event`] the ledger stores, and the event's hashes
//! (`metadata_hash`, `entry`, `leaf_hash`).

use std::fmt;

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::error::ValidationError;
use crate::hash::{leaf_hash, Hash};
use crate::ids::{check_token, EventId};
use crate::jcs;

/// The largest event: the canonical JSON of the normalised event ([`Event::encoded_len`]) may
/// not exceed 64 KiB (DESIGN §4).
pub const MAX_EVENT_BYTES: usize = 64 * 1024;
/// The deepest metadata nesting: the metadata object itself is depth 1 (DESIGN §4).
pub const MAX_METADATA_DEPTH: usize = 32;
/// The longest `actor.type` / `resource.type`, in characters.
pub const MAX_TYPE_LEN: usize = 64;
/// The longest `action`, in characters.
pub const MAX_ACTION_LEN: usize = 128;
/// The longest display name, in Unicode scalar values.
pub const MAX_NAME_LEN: usize = 256;
/// Longest actor or resource id, in Unicode scalar values.
pub const MAX_PARTY_ID_LEN: usize = 256;

/// The ingest body of one event, as a client sends it (DESIGN §3). Unknown fields are rejected.
///
/// Nothing is validated here; [`EventInput::into_event`] parses it into an [`Event`].
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EventInput {
    /// Optional client-chosen id, also the idempotency key.
    #[serde(default, deserialize_with = "non_null", skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Who did it.
    pub actor: PartyInput,
    /// What they did, e.g. `invoice.updated`.
    pub action: String,
    /// What they did it to.
    pub resource: PartyInput,
    /// When, as any RFC 3339 date-time.
    pub occurred_at: String,
    /// Optional JSON object; absent means `{}`.
    #[serde(default, deserialize_with = "non_null", skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// The unvalidated `actor` or `resource` object of an [`EventInput`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PartyInput {
    /// The `type` field.
    #[serde(rename = "type")]
    pub kind: String,
    /// The `id` field.
    pub id: String,
    /// The optional `name` field.
    #[serde(default, deserialize_with = "non_null", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Optional fields may be absent but never `null` (DESIGN §3): a present value must parse as `T`.
fn non_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

impl EventInput {
    /// Validates and normalises the input into an [`Event`].
    ///
    /// `fallback_id` is called only when the client sent no id; the server passes a UUIDv7
    /// generator (this crate has no randomness or clock).
    /// Metadata numbers must be exact ([`crate::numbers`]): ingest refuses integers beyond
    /// ±(2^53−1), which a stored event read back ([`Event`]'s `Deserialize`) may still hold.
    pub fn into_event(self, fallback_id: impl FnOnce() -> EventId) -> Result<Event, ValidationError> {
        if let Some(Value::Object(metadata)) = &self.metadata {
            crate::numbers::check_exact_integers(metadata)?;
        }
        self.into_event_as_stored(fallback_id)
    }

    /// [`Self::into_event`] without the exact-number rule: events stored before it are read
    /// and hashed as they were accepted.
    fn into_event_as_stored(self, fallback_id: impl FnOnce() -> EventId) -> Result<Event, ValidationError> {
        let id = match self.id {
            Some(id) => EventId::new(id)?,
            None => fallback_id(),
        };
        let actor = Actor(Party::parse("actor", self.actor)?);
        let action = Action::new(self.action)?;
        let resource = Resource(Party::parse("resource", self.resource)?);
        let occurred_at = OccurredAt::parse(&self.occurred_at)?;
        let metadata = match self.metadata {
            None => Metadata::default(),
            Some(value) => Metadata::from_value(value)?,
        };
        Event::new(id, actor, action, resource, occurred_at, metadata)
    }
}

/// The `type`, `id` and optional `name` shared by actors and resources.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Party {
    kind: String,
    id: String,
    name: Option<String>,
}

impl Party {
    fn parse(which: &'static str, input: PartyInput) -> Result<Self, ValidationError> {
        Self::new(which, input.kind, input.id, input.name)
    }

    fn new(which: &'static str, kind: String, id: String, name: Option<String>) -> Result<Self, ValidationError> {
        let (f_type, f_id, f_name) = match which {
            "actor" => ("actor.type", "actor.id", "actor.name"),
            _ => ("resource.type", "resource.id", "resource.name"),
        };
        check_token(f_type, &kind, MAX_TYPE_LEN)?;
        check_party_id(f_id, &id)?;
        if let Some(name) = &name {
            check_name(f_name, name)?;
        }
        Ok(Self { kind, id, name })
    }
}

/// Actor and resource ids: 1–256 Unicode scalar values without control
/// characters, because applications' own ids are e-mail addresses,
/// `auth0|…` subjects, ARNs and paths. (Event ids, actions and types keep
/// the token alphabet.)
fn check_party_id(field: &'static str, id: &str) -> Result<(), ValidationError> {
    check_text(field, id, MAX_PARTY_ID_LEN, "must not be empty")
}

/// Display names: 1–256 Unicode scalar values, no control characters.
fn check_name(field: &'static str, name: &str) -> Result<(), ValidationError> {
    check_text(field, name, MAX_NAME_LEN, "must not be empty; omit the field instead")
}

/// Free text: 1 to `max` Unicode scalar values, no control characters.
fn check_text(field: &'static str, text: &str, max: usize, empty: &'static str) -> Result<(), ValidationError> {
    if text.is_empty() {
        return Err(ValidationError::new(field, empty));
    }
    let chars = text.chars().count();
    if chars > max {
        return Err(ValidationError::new(field, format!("must be at most {max} characters, got {chars}")));
    }
    if text.chars().any(char::is_control) {
        return Err(ValidationError::new(field, "must not contain control characters"));
    }
    Ok(())
}

impl Serialize for Party {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(if self.name.is_some() { 3 } else { 2 }))?;
        map.serialize_entry("type", &self.kind)?;
        map.serialize_entry("id", &self.id)?;
        if let Some(name) = &self.name {
            map.serialize_entry("name", name)?;
        }
        map.end()
    }
}

macro_rules! party_type {
    ($(#[$doc:meta])* $name:ident, $which:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        #[serde(transparent)]
        pub struct $name(Party);

        impl $name {
            /// Validates the parts: `type` is 1–64 characters of `[A-Za-z0-9._:-]`;
            /// `id` 1–256 and `name`, if present, 1–256 Unicode scalar values without
            /// control characters.
            pub fn new(
                kind: impl Into<String>,
                id: impl Into<String>,
                name: Option<String>,
            ) -> Result<Self, ValidationError> {
                Party::new($which, kind.into(), id.into(), name).map(Self)
            }

            /// The `type` field.
            pub fn kind(&self) -> &str {
                &self.0.kind
            }

            /// The `id` field.
            pub fn id(&self) -> &str {
                &self.0.id
            }

            /// The optional `name` field.
            pub fn name(&self) -> Option<&str> {
                self.0.name.as_deref()
            }
        }
    };
}

party_type!(
    /// Who performed the action: `{"type", "id", "name"?}`.
    Actor,
    "actor"
);
party_type!(
    /// What the action was performed on: `{"type", "id", "name"?}`.
    Resource,
    "resource"
);

/// What happened, e.g. `invoice.updated`: 1–128 characters of `[A-Za-z0-9._:-]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Action(String);

impl Action {
    /// Validates an action name.
    pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        check_token("action", &value, MAX_ACTION_LEN)?;
        Ok(Self(value))
    }

    /// The action as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// When the event happened, normalised to UTC with millisecond precision:
/// `YYYY-MM-DDTHH:MM:SS.sssZ` (DESIGN §3).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "String")]
pub struct OccurredAt {
    // Milliseconds since the Unix epoch; the text form is derived from it.
    unix_millis: i64,
    text: String,
}

impl OccurredAt {
    /// Parses any RFC 3339 §5.6 `date-time`, converts it to UTC and truncates it (never rounds)
    /// to whole milliseconds. Years outside 0000–9999 after conversion are rejected.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let dt = OffsetDateTime::parse(s, &Rfc3339)
            .map_err(|e| ValidationError::new("occurred_at", format!("not an RFC 3339 date-time: {e}")))?;
        let utc = dt.to_offset(UtcOffset::UTC);
        let millis = utc.unix_timestamp_nanos().div_euclid(1_000_000);
        Self::from_unix_millis(i64::try_from(millis).unwrap_or(i64::MAX))
    }

    /// The instant `millis` milliseconds after 1970-01-01T00:00:00Z.
    pub fn from_unix_millis(millis: i64) -> Result<Self, ValidationError> {
        let out_of_range = || ValidationError::new("occurred_at", "must be between years 0000 and 9999 in UTC");
        let nanos = i128::from(millis) * 1_000_000;
        let dt = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| out_of_range())?;
        if !(0..=9999).contains(&dt.year()) {
            return Err(out_of_range());
        }
        let text = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            dt.year(),
            u8::from(dt.month()),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            dt.millisecond()
        );
        Ok(Self { unix_millis: millis, text })
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_millis(&self) -> i64 {
        self.unix_millis
    }

    /// The normalised text, e.g. `2026-11-26T10:00:00.123Z`.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl From<OccurredAt> for String {
    fn from(t: OccurredAt) -> String {
        t.text
    }
}

impl fmt::Display for OccurredAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for OccurredAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OccurredAt({})", self.text)
    }
}

/// The event's metadata: any JSON object, nested at most [`MAX_METADATA_DEPTH`] deep.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(transparent)]
pub struct Metadata(Map<String, Value>);

impl Metadata {
    /// Validates that `value` is an object within the depth limit.
    pub fn from_value(value: Value) -> Result<Self, ValidationError> {
        match value {
            Value::Object(map) => Self::new(map),
            other => Err(ValidationError::new("metadata", format!("must be a JSON object, got {}", json_kind(&other)))),
        }
    }

    /// Validates the depth of an object.
    pub fn new(map: Map<String, Value>) -> Result<Self, ValidationError> {
        let depth = 1 + map.values().map(depth_of).max().unwrap_or(0);
        if depth > MAX_METADATA_DEPTH {
            return Err(ValidationError::new(
                "metadata",
                format!("nesting depth {depth} exceeds the limit of {MAX_METADATA_DEPTH}"),
            ));
        }
        Ok(Self(map))
    }

    /// The object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// `JCS(metadata)` (RFC 8785).
    pub fn canonical_json(&self) -> Result<Vec<u8>, ValidationError> {
        jcs::to_vec(&self.0).map_err(|e| ValidationError::new("metadata", e.to_string()))
    }
}

/// The nesting depth of a JSON value: scalars are 0, containers one more than their contents.
/// serde_json already refuses input nested deeper than 128, which bounds this recursion.
fn depth_of(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth_of).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth_of).max().unwrap_or(0),
        _ => 0,
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A validated, normalised event: what the ledger stores and returns.
///
/// Its serde form is the normalised ingest JSON (`metadata` always present), so a client that
/// reads it back and recomputes the hashes gets the stored `leaf_hash`.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    id: EventId,
    actor: Actor,
    action: Action,
    resource: Resource,
    occurred_at: OccurredAt,
    metadata: Metadata,
    // Derived once at construction: the size check needs JCS(metadata) and the entry anyway.
    metadata_hash: Hash,
    encoded_len: usize,
}

/// Whether RFC 8785 §3.2.2.2 escapes this byte of a string: `"`, `\\` and the control
/// characters below U+0020 (every other byte is written as it is).
pub(crate) const fn jcs_escapes(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Appends `s` as an RFC 8785 §3.2.2.2 string: `"` and `\\` escaped, U+0008, U+0009,
/// U+000A, U+000C and U+000D as two-character escapes, other controls below U+0020 as `\\u00xx`
/// (lowercase hex), everything else literally.
pub(crate) fn write_jcs_string(out: &mut String, s: &str) {
    out.push('"');
    // Most strings (ids, actions, types, times) need no escape: copied whole. The check folds
    // every byte rather than stopping at the first escape, so that it runs as vector code.
    if !s.bytes().fold(false, |found, b| found | jcs_escapes(b)) {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(char::from(HEX[(c as usize) >> 4]));
                out.push(char::from(HEX[(c as usize) & 0xf]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// An actor's or resource's `type`, `id` and optional `name`, as [`EntryParts`] borrows them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PartyParts<'a> {
    pub(crate) kind: &'a str,
    pub(crate) id: &'a str,
    pub(crate) name: Option<&'a str>,
}

impl<'a> From<&'a Party> for PartyParts<'a> {
    fn from(p: &'a Party) -> Self {
        Self { kind: &p.kind, id: &p.id, name: p.name.as_deref() }
    }
}

/// What the entry (DESIGN §3) is made of. An export verifier builds it straight from a row's
/// text; the leaf hash then shows whether that text is exactly what was committed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EntryParts<'a> {
    pub(crate) id: &'a str,
    pub(crate) actor: PartyParts<'a>,
    pub(crate) action: &'a str,
    pub(crate) resource: PartyParts<'a>,
    pub(crate) occurred_at: &'a str,
    pub(crate) metadata_hash: Hash,
}

impl EntryParts<'_> {
    /// `entry = JCS({id, actor, action, resource, occurred_at, metadata_hash})` (DESIGN §3),
    /// absent names omitted.
    pub(crate) fn entry(&self) -> String {
        self.entry_with(write_jcs_string)
    }

    /// [`EntryParts::entry`] with `string` writing each string member.
    fn entry_with(&self, string: impl Fn(&mut String, &str) + Copy) -> String {
        // Written by hand rather than through a JSON value: every member is a string, the
        // member order is fixed (RFC 8785 §3.2.3 sorts `action` < `actor` < `id` <
        // `metadata_hash` < `occurred_at` < `resource`), and this is the ingest hot path.
        // A test checks it against the general canonicalizer.
        // Room for the names, the hash and the punctuation (under 256 bytes) and the strings
        // unescaped, so that most entries are written without growing.
        let party = |p: &PartyParts<'_>| p.kind.len() + p.id.len() + p.name.map_or(0, str::len);
        let strings = self.id.len() + self.action.len() + self.occurred_at.len();
        let mut out = String::with_capacity(256 + strings + party(&self.actor) + party(&self.resource));
        out.push_str("{\"action\":");
        string(&mut out, self.action);
        out.push_str(",\"actor\":");
        write_party(&mut out, &self.actor, string);
        out.push_str(",\"id\":");
        string(&mut out, self.id);
        out.push_str(",\"metadata_hash\":\"");
        self.metadata_hash.push_hex(&mut out);
        out.push_str("\",\"occurred_at\":");
        string(&mut out, self.occurred_at);
        out.push_str(",\"resource\":");
        write_party(&mut out, &self.resource, string);
        out.push('}');
        out
    }

    /// `leaf_hash = SHA-256(0x00 || entry)` (RFC 9162 §2.1.1).
    pub(crate) fn leaf_hash(&self) -> Hash {
        leaf_hash(self.entry().as_bytes())
    }

    /// [`EntryParts::leaf_hash`] of parts whose strings the caller has read up to their closing
    /// quote with no escape, quote or control character in them: written without looking for
    /// one again. Were a string to hold one after all, the entry would not be the canonical
    /// JSON whose hash was committed, so it would not match (it cannot verify what it should not).
    pub(crate) fn leaf_hash_unescaped(&self) -> Hash {
        leaf_hash(self.entry_with(write_unescaped_string).as_bytes())
    }
}

/// Writes `"s"` for a string that holds nothing JCS escapes (RFC 8785 §3.2.2.2).
fn write_unescaped_string(out: &mut String, s: &str) {
    debug_assert!(!s.bytes().any(jcs_escapes), "{s:?} needs escapes");
    out.push('"');
    out.push_str(s);
    out.push('"');
}

/// Appends `{"id":…,"name":…,"type":…}` with members in RFC 8785 order.
fn write_party(out: &mut String, p: &PartyParts<'_>, string: impl Fn(&mut String, &str)) {
    out.push_str("{\"id\":");
    string(out, p.id);
    if let Some(name) = p.name {
        out.push_str(",\"name\":");
        string(out, name);
    }
    out.push_str(",\"type\":");
    string(out, p.kind);
    out.push('}');
}

impl Event {
    /// Assembles an event from validated parts, checking the 64 KiB size limit.
    pub fn new(
        id: EventId,
        actor: Actor,
        action: Action,
        resource: Resource,
        occurred_at: OccurredAt,
        metadata: Metadata,
    ) -> Result<Self, ValidationError> {
        let canonical = metadata.canonical_json()?;
        let mut event = Self {
            id,
            actor,
            action,
            resource,
            occurred_at,
            metadata,
            metadata_hash: Hash::digest(&canonical),
            encoded_len: 0,
        };
        // The entry differs from the normalised event only in its `metadata_hash` member
        // (`"metadata_hash":"<64 hex>"`, 82 bytes), which sorts where `metadata` does.
        event.encoded_len = event.entry().len() - 82 + "\"metadata\":".len() + canonical.len();
        let len = event.encoded_len;
        if len > MAX_EVENT_BYTES {
            return Err(ValidationError::new(
                "event",
                format!("is {len} bytes as canonical JSON; the limit is {MAX_EVENT_BYTES}"),
            ));
        }
        Ok(event)
    }

    /// The byte length of the canonical JSON (RFC 8785) of the normalised event, i.e. of
    /// `{"action","actor","id","metadata","occurred_at","resource"}`; at most
    /// [`MAX_EVENT_BYTES`].
    pub fn encoded_len(&self) -> usize {
        self.encoded_len
    }

    /// The event id.
    pub fn id(&self) -> &EventId {
        &self.id
    }
    /// The actor.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
    /// The action.
    pub fn action(&self) -> &Action {
        &self.action
    }
    /// The resource.
    pub fn resource(&self) -> &Resource {
        &self.resource
    }
    /// The normalised time.
    pub fn occurred_at(&self) -> &OccurredAt {
        &self.occurred_at
    }
    /// The metadata (`{}` when the client sent none).
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// `metadata_hash = SHA-256(JCS(metadata))` (DESIGN §3).
    pub fn metadata_hash(&self) -> Hash {
        self.metadata_hash
    }

    /// `entry = JCS({id, actor, action, resource, occurred_at, metadata_hash})` (DESIGN §3),
    /// absent names omitted.
    pub fn entry(&self) -> String {
        self.parts().entry()
    }

    /// `leaf_hash = SHA-256(0x00 || entry)`, the RFC 9162 §2.1.1 leaf hash and the event's
    /// identity in the ledger.
    pub fn leaf_hash(&self) -> Hash {
        self.parts().leaf_hash()
    }

    fn parts(&self) -> EntryParts<'_> {
        EntryParts {
            id: self.id.as_str(),
            actor: (&self.actor.0).into(),
            action: self.action.as_str(),
            resource: (&self.resource.0).into(),
            occurred_at: self.occurred_at.as_str(),
            metadata_hash: self.metadata_hash,
        }
    }

    /// The event as an [`EventInput`] with every field present (e.g. to re-validate it).
    pub fn to_input(&self) -> EventInput {
        let party = |p: &Party| PartyInput { kind: p.kind.clone(), id: p.id.clone(), name: p.name.clone() };
        EventInput {
            id: Some(self.id.to_string()),
            actor: party(&self.actor.0),
            action: self.action.0.clone(),
            resource: party(&self.resource.0),
            occurred_at: self.occurred_at.text.clone(),
            metadata: Some(Value::Object(self.metadata.0.clone())),
        }
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(6))?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("actor", &self.actor)?;
        map.serialize_entry("action", &self.action)?;
        map.serialize_entry("resource", &self.resource)?;
        map.serialize_entry("occurred_at", &self.occurred_at)?;
        map.serialize_entry("metadata", &self.metadata)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for Event {
    /// Reads a stored event back; unlike ingest, the id is required, and integers beyond
    /// ±(2^53−1) that older versions accepted are read (and hashed) as they were stored.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let input = EventInput::deserialize(deserializer)?;
        let Some(id) = input.id.clone() else {
            return Err(serde::de::Error::missing_field("id"));
        };
        let id = EventId::new(id).map_err(serde::de::Error::custom)?;
        input.into_event_as_stored(|| id).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(v: Value) -> Result<EventInput, serde_json::Error> {
        serde_json::from_value(v)
    }

    fn base() -> Value {
        json!({
            "actor": {"type": "user", "id": "u_1"},
            "action": "invoice.updated",
            "resource": {"type": "invoice", "id": "inv_42"},
            "occurred_at": "2026-11-26T10:00:00.123Z"
        })
    }

    fn field_of(v: Value) -> Option<String> {
        let inp = input(v).ok()?;
        inp.into_event(|| EventId::new("fallback").unwrap()).err().map(|e| e.field().to_owned())
    }

    #[test]
    fn an_event_serialises_exactly_like_its_input_form() {
        // The store writes `Event`'s own serialisation; readers and older
        // records use the `to_input` shape. They must be the same bytes.
        let mut with_all = base();
        with_all["actor"]["name"] = json!("Jane \"J\" Doe");
        with_all["metadata"] = json!({"b": [1, 2.5, null], "a": {"é": true}});
        for v in [base(), with_all] {
            let ev = input(v).unwrap().into_event(|| EventId::new("gen").unwrap()).unwrap();
            assert_eq!(serde_json::to_vec(&ev).unwrap(), serde_json::to_vec(&ev.to_input()).unwrap());
        }
    }

    #[test]
    fn fallback_id_used_only_when_absent() {
        let ev = input(base()).unwrap().into_event(|| EventId::new("gen").unwrap()).unwrap();
        assert_eq!(ev.id().as_str(), "gen");
        let mut v = base();
        v["id"] = json!("mine");
        let ev = input(v).unwrap().into_event(|| unreachable!()).unwrap();
        assert_eq!(ev.id().as_str(), "mine");
    }

    #[test]
    fn unknown_fields_and_nulls_are_rejected() {
        let mut v = base();
        v["extra"] = json!(1);
        assert!(input(v).is_err());
        let mut v = base();
        v["actor"]["email"] = json!("x");
        assert!(input(v).is_err());
        let mut v = base();
        v["metadata"] = Value::Null;
        assert_eq!(field_of(v).as_deref(), Some("metadata"));
        let mut v = base();
        v["actor"]["name"] = Value::Null;
        assert!(input(v).is_err());
    }

    #[test]
    fn real_world_actor_and_resource_ids_are_accepted() {
        for id in [
            "jane@acme.example",
            "auth0|5f7c8ec7c33c6c004bbafe82",
            "arn:aws:s3:::bucket/key",
            "/invoices/42?x=1",
            "Zoë",
        ] {
            let mut v = base();
            v["actor"]["id"] = json!(id);
            v["resource"]["id"] = json!(id);
            let event = input(v).expect("parses").into_event(|| EventId::new("x").expect("id")).expect(id);
            assert_eq!((event.actor().id(), event.resource().id()), (id, id));
        }
        // Types, actions and event ids keep the token alphabet.
        let mut v = base();
        v["actor"]["type"] = json!("a@b");
        assert_eq!(field_of(v).as_deref(), Some("actor.type"));
    }

    #[test]
    fn errors_name_the_field() {
        let cases: Vec<(&str, Value)> = vec![
            ("id", json!("has space")),
            ("action", json!("")),
            ("occurred_at", json!("yesterday")),
            ("metadata", json!([1])),
        ];
        for (field, value) in cases {
            let mut v = base();
            v[field] = value;
            assert_eq!(field_of(v).as_deref(), Some(field));
        }
        let mut v = base();
        v["actor"]["id"] = json!("a".repeat(257));
        assert_eq!(field_of(v).as_deref(), Some("actor.id"));
        let mut v = base();
        v["resource"]["id"] = json!("line\nbreak");
        assert_eq!(field_of(v).as_deref(), Some("resource.id"));
        let mut v = base();
        v["actor"]["id"] = json!("");
        assert_eq!(field_of(v).as_deref(), Some("actor.id"));
        let mut v = base();
        v["resource"]["type"] = json!("in voice");
        assert_eq!(field_of(v).as_deref(), Some("resource.type"));
        let mut v = base();
        v["resource"]["name"] = json!("");
        assert_eq!(field_of(v).as_deref(), Some("resource.name"));
        let mut v = base();
        v["actor"]["name"] = json!("x".repeat(257));
        assert_eq!(field_of(v).as_deref(), Some("actor.name"));
    }

    #[test]
    fn ingest_refuses_inexact_integers_that_a_stored_event_may_hold() {
        let mut v = base();
        v["id"] = json!("e");
        v["metadata"] = json!({"order": {"total": 9007199254740993_u64}});
        assert_eq!(field_of(v.clone()).as_deref(), Some("metadata.order.total"));
        let stored: Event = serde_json::from_value(v).expect("a stored event reads back as it was stored");
        assert_eq!(stored.metadata().as_map()["order"]["total"], json!(9007199254740993_u64));
    }

    #[test]
    fn metadata_depth_limit() {
        let nest = |depth: usize| {
            let mut v = json!(1);
            for _ in 0..depth - 1 {
                v = json!({ "a": v });
            }
            json!({ "a": v }) // total depth = depth
        };
        let mut v = base();
        v["metadata"] = nest(32);
        assert!(field_of(v).is_none());
        let mut v = base();
        v["metadata"] = nest(33);
        assert_eq!(field_of(v).as_deref(), Some("metadata"));
        let mut v = base();
        v["metadata"] = json!({"a": [[[]]]});
        let ev = input(v).unwrap().into_event(|| EventId::new("x").unwrap());
        assert!(ev.is_ok());
    }

    #[test]
    fn size_limit_is_64_kib_of_canonical_json() {
        let mut v = base();
        v["id"] = json!("e");
        v["metadata"] = json!({ "s": "" });
        let ev = input(v.clone()).unwrap().into_event(|| unreachable!()).unwrap();
        let overhead = ev.encoded_len();
        let full = serde_json_canonicalizer::to_vec(&ev).unwrap();
        assert_eq!(overhead, full.len());
        v["metadata"]["s"] = json!("x".repeat(MAX_EVENT_BYTES - overhead));
        assert!(input(v.clone()).unwrap().into_event(|| unreachable!()).is_ok());
        v["metadata"]["s"] = json!("x".repeat(MAX_EVENT_BYTES - overhead + 1));
        assert_eq!(field_of(v).as_deref(), Some("event"));
    }

    #[test]
    fn hand_written_entry_matches_the_canonicalizer() {
        let names = ["Jane \"JD\" Doe \\ ü 😀", "\u{2028}\u{fffe}\u{a0}", "plain"];
        for name in names {
            let mut v = base();
            v["id"] = json!("e");
            v["actor"]["name"] = json!(name);
            let ev = input(v).unwrap().into_event(|| unreachable!()).unwrap();
            let general = serde_json_canonicalizer::to_string(&json!({
                "id": "e",
                "actor": {"type": "user", "id": "u_1", "name": name},
                "action": "invoice.updated",
                "resource": {"type": "invoice", "id": "inv_42"},
                "occurred_at": "2026-11-26T10:00:00.123Z",
                "metadata_hash": ev.metadata_hash().to_hex(),
            }))
            .unwrap();
            assert_eq!(ev.entry(), general);
        }
        let mut s = String::new();
        let all: String = (0u8..0x20).map(char::from).chain("\"\\".chars()).collect();
        write_jcs_string(&mut s, &all);
        assert_eq!(s, serde_json_canonicalizer::to_string(&all).unwrap());
    }

    #[test]
    fn occurred_at_normalisation() {
        let cases = [
            ("2026-11-26T10:00:00.123Z", "2026-11-26T10:00:00.123Z"),
            ("2026-11-26T10:00:00Z", "2026-11-26T10:00:00.000Z"),
            ("2026-11-26T12:30:00.987654321+02:30", "2026-11-26T10:00:00.987Z"),
            ("2026-11-26T10:00:00.9999-00:00", "2026-11-26T10:00:00.999Z"),
            ("2026-01-01T00:30:00.5+01:00", "2025-12-31T23:30:00.500Z"),
            ("1969-12-31T23:59:59.9999Z", "1969-12-31T23:59:59.999Z"),
            ("2026-11-26t10:00:00z", "2026-11-26T10:00:00.000Z"),
        ];
        for (input, want) in cases {
            let got = OccurredAt::parse(input).map(|t| t.to_string());
            assert_eq!(got.as_deref(), Ok(want), "{input}");
        }
        for bad in ["2026-11-26", "2026-11-26T10:00:00", "2026-13-01T00:00:00Z", "0000-01-01T00:00:00+01:00", ""] {
            assert!(OccurredAt::parse(bad).is_err(), "{bad}");
        }
        // A leap second (allowed by RFC 3339 only at 23:59:60 UTC) folds into the last
        // millisecond of the minute, as docs/FORMAT.md §2 states.
        let leap = OccurredAt::parse("2016-12-31T23:59:60.5Z").map(|t| t.to_string());
        assert_eq!(leap.as_deref(), Ok("2016-12-31T23:59:59.999Z"));
        let t = OccurredAt::parse("1969-12-31T23:59:59.9999Z").unwrap();
        assert_eq!(t.unix_millis(), -1);
    }

    #[test]
    fn event_round_trips_through_its_serde_form() {
        let mut v = base();
        v["id"] = json!("e1");
        v["occurred_at"] = json!("2026-11-26T11:00:00.1239+01:00");
        let ev = input(v).unwrap().into_event(|| unreachable!()).unwrap();
        let text = serde_json::to_string(&ev).unwrap();
        let back: Event = serde_json::from_str(&text).unwrap();
        assert_eq!(back, ev);
        assert_eq!(back.leaf_hash(), ev.leaf_hash());
        assert!(text.contains("\"metadata\":{}"));
        assert!(text.contains("2026-11-26T10:00:00.123Z"));
        let no_id = serde_json::from_value::<Event>(base());
        assert!(no_id.is_err());
    }
}
