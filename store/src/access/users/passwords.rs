//! Passwords: argon2id (RFC 9106) with the OWASP parameters, hashed on a
//! blocking thread.

use argon2::{PasswordHasher as _, PasswordVerifier as _};
use zeroize::Zeroizing;

use super::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
use crate::StoreError;

pub(super) fn check_password(password: &str) -> Result<(), StoreError> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(StoreError::Invalid(format!(
            "the password must be at least {MIN_PASSWORD_CHARS} characters (and at most {MAX_PASSWORD_BYTES} bytes)"
        )));
    }
    Ok(())
}

/// argon2id with the OWASP Password Storage Cheat Sheet's first
/// configuration: 19 MiB, 2 iterations, 1 lane.
fn hasher() -> Result<argon2::Argon2<'static>, StoreError> {
    let params = argon2::Params::new(19 * 1024, 2, 1, None)
        .map_err(|e| StoreError::Invalid(format!("argon2 parameters: {e}")))?;
    Ok(argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params))
}

/// Hashes on a blocking thread: argon2id takes tens of milliseconds on
/// purpose and must not stall the async workers.
pub(super) async fn hash_password(password: &str) -> Result<String, StoreError> {
    check_password(password)?;
    let password = Zeroizing::new(password.as_bytes().to_vec());
    tokio::task::spawn_blocking(move || {
        hasher()?
            .hash_password(&password)
            .map(|hash| hash.to_string())
            .map_err(|e| StoreError::Invalid(format!("password hashing failed: {e}")))
    })
    .await
    .map_err(|e| StoreError::Invalid(format!("password hashing task failed: {e}")))?
}

pub(super) async fn verify_password(password: &str, hash: String) -> bool {
    let password = Zeroizing::new(password.as_bytes().to_vec());
    tokio::task::spawn_blocking(move || {
        hasher().is_ok_and(|hasher| hasher.verify_password(&password, hash.as_str()).is_ok())
    })
    .await
    .unwrap_or(false)
}

/// A hash of a password nobody has, verified for unknown emails so that the
/// answer takes as long as for a known one.
pub(super) const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$V6F1t4hvBf5E0FqXPSaIWw0s3CpGyPqkK7IbPXVyb1U";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_is_a_valid_argon2id_hash() {
        // Otherwise unknown emails would answer faster than known ones.
        let hash = argon2::PasswordHash::new(DUMMY_HASH).expect("parses");
        assert_eq!(hash.algorithm.as_str(), "argon2id");
    }
}
