//! RFC 8785 vectors from cyberphone/json-canonicalization (shared/vectors/jcs): every input
//! must canonicalize to its output byte for byte, and the outhex file must agree.

use crate::{files_under, shared_vectors};
use audit_core::jcs;

#[test]
fn every_jcs_vector_canonicalizes_byte_for_byte() {
    let inputs = files_under(&shared_vectors("jcs/input"));
    assert_eq!(inputs.len(), 6, "expected the six upstream vectors");
    for input in inputs {
        let name = input.file_name().unwrap().to_str().unwrap().to_owned();
        let text = std::fs::read_to_string(&input).unwrap();
        let want = std::fs::read(shared_vectors("jcs/output").join(&name)).unwrap();
        let hex_name = name.replace(".json", ".txt");
        let hex_text = std::fs::read_to_string(shared_vectors("jcs/outhex").join(hex_name)).unwrap();
        let want_hex = hex::decode(hex_text.split_whitespace().collect::<String>()).unwrap();
        assert_eq!(want, want_hex, "{name}: output and outhex disagree");
        let got = jcs::canonicalize_str(&text).unwrap();
        assert_eq!(got.as_bytes(), &want[..], "{name}");
        // Canonical form is a fixed point.
        assert_eq!(jcs::canonicalize_str(&got).unwrap(), got, "{name}");
    }
}

#[test]
fn a_changed_vector_output_would_be_caught() {
    // The twin of the test above: a canonicalizer that, say, kept insignificant whitespace or
    // the input's key order would not match.
    let text = std::fs::read_to_string(shared_vectors("jcs/input/weird.json")).unwrap();
    let want = std::fs::read(shared_vectors("jcs/output/weird.json")).unwrap();
    assert_ne!(text.as_bytes(), &want[..]);
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_ne!(serde_json::to_vec(&value).unwrap(), want);
}
