//! The checkpoint signing key before keys were wrapped: releases up to the
//! ingest issue kept its raw seed in `<data dir>/keys/checkpoint-signing.key`.
//! Now the key lives in the database wrapped by the key provider; a legacy
//! file is imported on first start and then removed, so no plaintext key is
//! left on disk outside the local provider's key file.

use std::fs;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use zeroize::Zeroizing;

/// Why the legacy signing key could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    #[error("cannot read or remove the legacy signing key {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the legacy signing key {0} may be read by group or others: run `chmod 600` on it")]
    TooOpen(PathBuf),
    #[error("the legacy signing key {0} is not a 32-byte Ed25519 seed")]
    Malformed(PathBuf),
}

/// Where releases before wrapped keys kept the signing key.
pub fn legacy_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("checkpoint-signing.key")
}

/// The legacy signing key, if its file exists.
pub fn legacy_key(data_dir: &Path) -> Result<Option<SigningKey>, SigningKeyError> {
    let path = legacy_path(data_dir);
    if !path.exists() {
        return Ok(None);
    }
    let io = |source| SigningKeyError::Io { path: path.clone(), source };
    if crate::key_provider::readable_by_others(&path).map_err(io)? {
        return Err(SigningKeyError::TooOpen(path));
    }
    let bytes = Zeroizing::new(fs::read(&path).map_err(|source| SigningKeyError::Io { path: path.clone(), source })?);
    let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| SigningKeyError::Malformed(path.clone()))?;
    let seed = Zeroizing::new(seed);
    Ok(Some(SigningKey::from_bytes(&seed)))
}

/// Removes the legacy file once the database holds the same key wrapped.
pub fn remove_legacy(data_dir: &Path) -> Result<(), SigningKeyError> {
    let path = legacy_path(data_dir);
    fs::remove_file(&path).map_err(|source| SigningKeyError::Io { path: path.clone(), source })?;
    tracing::info!(path = %path.display(), "the checkpoint signing key is now stored wrapped; removed its plaintext file");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn a_legacy_key_is_read_and_a_malformed_one_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(legacy_key(dir.path()).expect("absent is fine").is_none());
        fs::create_dir_all(dir.path().join("keys")).expect("dir");
        fs::write(legacy_path(dir.path()), [5u8; 32]).expect("write");
        fs::set_permissions(legacy_path(dir.path()), fs::Permissions::from_mode(0o640)).expect("chmod");
        assert!(matches!(legacy_key(dir.path()), Err(SigningKeyError::TooOpen(_))), "a group-readable key is refused");
        fs::set_permissions(legacy_path(dir.path()), fs::Permissions::from_mode(0o600)).expect("chmod");
        let key = legacy_key(dir.path()).expect("read").expect("present");
        assert_eq!(key.verifying_key(), SigningKey::from_bytes(&[5u8; 32]).verifying_key());
        fs::write(legacy_path(dir.path()), b"short").expect("corrupt");
        assert!(matches!(legacy_key(dir.path()), Err(SigningKeyError::Malformed(_))));
        remove_legacy(dir.path()).expect("removed");
        assert!(!legacy_path(dir.path()).exists());
    }
}
