//! The checkpoint signing key: an Ed25519 key generated on first start and
//! kept in the data directory (0600). The encryption issue wraps it with the
//! key provider; until then the file holds the raw 32-byte seed.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use rand::RngCore as _;
use zeroize::Zeroizing;

/// Why the signing key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    #[error("cannot read or write the signing key {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the signing key {0} is not a 32-byte Ed25519 seed")]
    Malformed(PathBuf),
}

/// Loads the key from `<data_dir>/keys/checkpoint-signing.key`, creating it
/// when absent.
pub fn load_or_create(data_dir: &Path) -> Result<SigningKey, SigningKeyError> {
    let dir = data_dir.join("keys");
    let path = dir.join("checkpoint-signing.key");
    let io = |source| SigningKeyError::Io { path: path.clone(), source };
    if path.exists() {
        let bytes = Zeroizing::new(fs::read(&path).map_err(io)?);
        let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| SigningKeyError::Malformed(path.clone()))?;
        let seed = Zeroizing::new(seed);
        return Ok(SigningKey::from_bytes(&seed));
    }
    fs::create_dir_all(&dir).map_err(io)?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(io)?;
    let mut seed = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(seed.as_mut_slice());
    // create_new: never overwrite a key another process just wrote.
    let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(io)?;
    file.write_all(seed.as_slice()).map_err(io)?;
    file.sync_all().map_err(io)?;
    tracing::info!(path = %path.display(), "generated the checkpoint signing key");
    Ok(SigningKey::from_bytes(&seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_created_private_and_reloaded_identically() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = load_or_create(dir.path()).expect("created");
        let mode = fs::metadata(dir.path().join("keys/checkpoint-signing.key")).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = load_or_create(dir.path()).expect("reloaded");
        assert_eq!(first.verifying_key(), second.verifying_key());
        fs::write(dir.path().join("keys/checkpoint-signing.key"), b"short").expect("corrupt");
        assert!(matches!(load_or_create(dir.path()), Err(SigningKeyError::Malformed(_))));
    }
}
