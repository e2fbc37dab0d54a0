//! RFC 8785 JSON Canonicalization Scheme (JCS).
//!
//! Delegates to `serde_json_canonicalizer`, which reproduces every RFC 8785 vector in
//! `shared/vectors/jcs` byte for byte (the integration tests prove it on each run). Note
//! RFC 8785 §3.2.2.3: numbers are IEEE 754 doubles, so an integer above 2^53 is rounded to the
//! nearest double before it is printed (12345678901234567 becomes 12345678901234568).

use serde::Serialize;

/// Canonical JSON bytes of `value` (RFC 8785 §3.2).
pub fn to_vec<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    serde_json_canonicalizer::to_vec(value)
}

/// Canonical JSON text of `value` (RFC 8785 §3.2).
pub fn to_string<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    serde_json_canonicalizer::to_string(value)
}

/// Parses JSON text and returns its canonical form (RFC 8785 §3.2).
pub fn canonicalize_str(json: &str) -> Result<String, serde_json::Error> {
    serde_json_canonicalizer::pipe(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_ecmascript() {
        let got = canonicalize_str(r#"{"x": 1e30, "i": 10.0, "f": 1.5e-7, "big": 12345678901234567}"#);
        assert_eq!(got.ok().as_deref(), Some(r#"{"big":12345678901234568,"f":1.5e-7,"i":10,"x":1e+30}"#));
    }
}
