//! Leaf hashes computed by the SDK against the published vectors
//! (docs/vectors/events.json), each with a tampered twin that must differ.

use auditstore_client::leaf_hash;
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/vectors/events.json");
    let text = std::fs::read_to_string(path).expect("docs/vectors/events.json");
    serde_json::from_str(&text).expect("json")
}

#[test]
fn every_vectors_leaf_hash_is_computed_locally_and_every_twin_differs() {
    let vectors = vectors();
    let events = vectors["events"].as_array().expect("events");
    assert!(events.len() >= 3);
    for vector in events {
        let event = &vector["event"];
        let expected = vector["leaf_hash"].as_str().expect("leaf_hash");
        assert_eq!(leaf_hash(event).expect("hashes").to_hex(), expected, "{event}");
        // Tampered twins: the action, the actor, one metadata member.
        let mut twin = event.clone();
        twin["action"] = Value::String(format!("{}x", event["action"].as_str().expect("action")));
        assert_ne!(leaf_hash(&twin).expect("hashes").to_hex(), expected);
        let mut twin = event.clone();
        twin["actor"]["id"] = Value::String("someone-else".into());
        assert_ne!(leaf_hash(&twin).expect("hashes").to_hex(), expected);
        let mut twin = event.clone();
        twin["metadata"]["added"] = Value::Bool(true);
        assert_ne!(leaf_hash(&twin).expect("hashes").to_hex(), expected);
    }
}

#[test]
fn an_event_without_id_or_with_bad_members_has_no_leaf_hash() {
    let vectors = vectors();
    let mut event = vectors["events"][0]["event"].clone();
    let members = event.as_object_mut().expect("object");
    members.remove("id");
    assert!(leaf_hash(&event).is_err());
    assert!(leaf_hash(&Value::String("not an event".into())).is_err());
    let mut bad = vectors["events"][0]["event"].clone();
    bad["occurred_at"] = Value::String("yesterday".into());
    assert!(leaf_hash(&bad).is_err());
}

/// The shared RFC 8785 vectors (cyberphone/json-canonicalization), through
/// the canonicalisation the SDK's leaf hashes use (audit-core's), byte for
/// byte; and a twin: a reordered or respaced input canonicalises the same,
/// another value does not.
#[test]
fn the_shared_jcs_vectors_canonicalise_byte_for_byte() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/jcs");
    let mut names: Vec<_> = std::fs::read_dir(format!("{dir}/input"))
        .expect("shared/vectors/jcs/input")
        .map(|e| e.expect("entry").file_name())
        .collect();
    names.sort();
    assert!(names.len() >= 5);
    for name in names {
        let name = name.to_string_lossy();
        let input = std::fs::read_to_string(format!("{dir}/input/{name}")).expect("input");
        let output = std::fs::read_to_string(format!("{dir}/output/{name}")).expect("output");
        assert_eq!(audit_core::jcs::canonicalize_str(&input).expect("canonicalises"), output, "{name}");
    }
    assert_eq!(
        audit_core::jcs::canonicalize_str("{ \"b\": 1, \"a\": [1.0, 2e0] }").expect("jcs"),
        r#"{"a":[1,2],"b":1}"#
    );
    assert_ne!(audit_core::jcs::canonicalize_str(r#"{"a":[1,3],"b":1}"#).expect("jcs"), r#"{"a":[1,2],"b":1}"#);
}
