//! The Standard Webhooks signature of a delivery: `webhook-signature` is
//! `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` per signing key,
//! space-separated (two during a secret rotation's overlap), computed by
//! the `standardwebhooks` crate (the specification's own implementation)
//! so receivers verify with any Standard Webhooks library.

use zeroize::Zeroizing;

/// The `webhook-signature` header for message `id` sent at `timestamp`
/// (Unix seconds) with `body`, one signature per key.
pub fn sign(keys: &[Zeroizing<Vec<u8>>], id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let mut signatures = Vec::with_capacity(keys.len());
    for key in keys {
        let signer =
            standardwebhooks::Webhook::from_bytes(key.to_vec()).map_err(|e| format!("signing key refused: {e}"))?;
        signatures.push(signer.sign(id, timestamp, body).map_err(|e| format!("signing failed: {e}"))?);
    }
    if signatures.is_empty() {
        return Err("no signing key".into());
    }
    Ok(signatures.join(" "))
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    fn key(secret: &str) -> Zeroizing<Vec<u8>> {
        let encoded = secret.strip_prefix("whsec_").expect("prefix");
        Zeroizing::new(base64::engine::general_purpose::STANDARD.decode(encoded).expect("base64"))
    }

    #[test]
    fn the_specifications_example_signs_as_published() {
        // The example of the Standard Webhooks specification.
        let keys = [key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")];
        let body = br#"{"test": 2432232314}"#;
        let signature = sign(&keys, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).expect("signs");
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        // Its tampered twins: another body, id or time signs differently.
        assert_ne!(
            sign(&keys, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232315}"#).ok(),
            Some(signature.clone())
        );
        assert_ne!(sign(&keys, "msg_p5jXN8AQM9LWM0D4loKWxJel", 1614265330, body).ok(), Some(signature.clone()));
        assert_ne!(sign(&keys, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, body).ok(), Some(signature));
    }

    #[test]
    fn during_a_rotation_both_keys_sign() {
        let keys = [key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), key("whsec_dGVzdC1rZXktYnl0ZXMtdGVzdC1rZXk=")];
        let header = sign(&keys, "msg_1", 1, b"{}").expect("signs");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
        assert_ne!(parts[0], parts[1]);
        assert!(sign(&[], "msg_1", 1, b"{}").is_err());
    }
}
