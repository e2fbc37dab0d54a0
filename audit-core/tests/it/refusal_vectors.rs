//! The published refusal vectors, `docs/vectors/refusals.json`: ingest bodies a conforming
//! server refuses, each with the field path it must name, and their accepted twins.

use serde_json::Value;

use audit_core::{EventId, EventInput};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors/refusals.json");

fn vectors() -> Value {
    let text = std::fs::read_to_string(PATH).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A case's body: as JSON, or as exact text where a JSON value cannot carry it (digits beyond
/// 64 bits).
fn body_text(case: &Value) -> String {
    match case.get("body_text") {
        Some(text) => text.as_str().unwrap().to_owned(),
        None => serde_json::to_string(&case["body"]).unwrap(),
    }
}

fn ingest(text: &str) -> Result<audit_core::Event, audit_core::ValidationError> {
    let input: EventInput = serde_json::from_str(text).unwrap();
    input.into_event(|| EventId::new("unused").unwrap())
}

#[test]
fn every_refusal_is_refused_naming_its_field() {
    let doc = vectors();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 5);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let error = ingest(&body_text(case)).expect_err(name);
        assert_eq!(error.field(), case["field"].as_str().unwrap(), "{name}: {error}");
        assert!(error.message().contains("send it as a string"), "{name}: {error}");
    }
}

#[test]
fn the_accepted_twins_are_accepted() {
    let doc = vectors();
    for case in doc["accepted"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        ingest(&body_text(case)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}
