//! Exact numbers (I-JSON, RFC 7493 §2.2): RFC 8785 hashes every number as an IEEE 754 double
//! (§3.2.2.3), so an integer beyond ±(2^53−1) would be stored with digits its hash does not
//! commit to. Ingest refuses such values instead, naming where they are; clients send them as
//! strings.

use serde_json::{Map, Value};

use crate::error::ValidationError;

/// The largest integer every double represents exactly, with all its neighbours
/// (`Number.MAX_SAFE_INTEGER`, RFC 7493 §2.2).
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// Refuses the first number in `metadata` whose value is an integer outside
/// ±[`MAX_SAFE_INTEGER`], however it is spelled (`9007199254740993`, `1e30`): the error's field
/// is its path, e.g. `metadata.order.lines[2].qty`.
pub fn check_exact_integers(metadata: &Map<String, Value>) -> Result<(), ValidationError> {
    let mut path = String::from("metadata");
    check_object(metadata, &mut path)
}

fn check_object(map: &Map<String, Value>, path: &mut String) -> Result<(), ValidationError> {
    for (key, value) in map {
        let len = path.len();
        push_key(path, key);
        check_value(value, path)?;
        path.truncate(len);
    }
    Ok(())
}

fn check_value(value: &Value, path: &mut String) -> Result<(), ValidationError> {
    match value {
        Value::Number(number) if !exact(number) => Err(ValidationError::new(
            path.clone(),
            format!(
                "{number} is an integer beyond ±(2^53−1), which JSON hashing (RFC 8785) cannot represent \
                 exactly; send it as a string"
            ),
        )),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{index}]"));
                check_value(item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(map) => check_object(map, path),
        _ => Ok(()),
    }
}

/// Whether the number's value is exactly what its hash commits to: an integer within the safe
/// range, or a value with a fractional part (which is a double by definition of JSON's model).
fn exact(number: &serde_json::Number) -> bool {
    let safe = MAX_SAFE_INTEGER.unsigned_abs();
    if let Some(n) = number.as_u64() {
        return n <= safe;
    }
    if let Some(n) = number.as_i64() {
        return n.unsigned_abs() <= safe;
    }
    // A literal too large for 64 bits, or one with a fraction or exponent, arrives as a double.
    // It is refused when its value is integral and unsafe: `1e30` and `100000000000000000001`
    // (which parses as 1e20) alike.
    number.as_f64().is_none_or(|f| f.fract() != 0.0 || f.abs() <= MAX_SAFE_INTEGER as f64)
}

/// Appends `.key` when the key is a plain name, `["key"]` (JSON-escaped) otherwise, so a path
/// names exactly one place even for keys with dots or brackets in them.
fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        path.push('.');
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&serde_json::to_string(key).unwrap_or_default());
        path.push(']');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(v: Value) -> Option<String> {
        let Value::Object(map) = v else { panic!("an object") };
        check_exact_integers(&map).err().map(|e| e.field().to_owned())
    }

    #[test]
    fn safe_integers_and_fractions_pass() {
        let ok = json!({"max": 9007199254740991_i64, "min": -9007199254740991_i64, "tenth": 0.1,
                        "tiny": 5e-324, "half": 4503599627370495.5, "neg_zero": -0.0, "s": "9007199254740993"});
        assert_eq!(refused(ok), None);
    }

    #[test]
    fn unsafe_integers_are_refused_with_their_path() {
        assert_eq!(refused(json!({"n": 9007199254740992_u64})).as_deref(), Some("metadata.n"));
        assert_eq!(refused(json!({"n": -9007199254740992_i64})).as_deref(), Some("metadata.n"));
        assert_eq!(refused(json!({"a": {"b": [1, {"c": u64::MAX}]}})).as_deref(), Some("metadata.a.b[1].c"));
        assert_eq!(refused(json!({"a.b": 1e30})).as_deref(), Some(r#"metadata["a.b"]"#));
        let beyond_64_bits: Value = serde_json::from_str(r#"{"x": 100000000000000000001}"#).unwrap();
        assert_eq!(refused(beyond_64_bits).as_deref(), Some("metadata.x"));
    }
}
