//! The key provider as configured: the local key file (the embedded
//! default), a KEK given in the environment, or AWS KMS.
//!
//! The local key file holds one or more raw 32-byte KEKs, oldest first; the
//! last one wraps new keys. It is created with mode 0600 in a 0700
//! directory, and refused if group or others may read it.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use store::{KeyProvider, KmsKek, LocalKeks, SecretKey};
use zeroize::Zeroizing;

use crate::config::KeyConfig;

/// The environment variable that may hold the local KEK (base64 of 32
/// bytes; several, comma-separated and oldest first, during a rotation).
pub const KEK_ENV: &str = "AUDITSTORE_KEK";

/// Why the key provider could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read or write the key file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the key file {0} must be a whole number of 32-byte keys")]
    Malformed(PathBuf),
    #[error("the key file {0} may be read by group or others: run `chmod 600` on it")]
    TooOpen(PathBuf),
    #[error("{KEK_ENV} must be base64 of 32 bytes (several comma-separated, oldest first)")]
    BadEnv,
    #[error("the KEK is given in {KEK_ENV}: rotate it by adding the new key there (see docs/ENCRYPTION.md)")]
    EnvRotation,
    #[error("{0}")]
    Provider(String),
}

/// Builds the configured provider, creating the local key file on first
/// start.
pub async fn provider(config: &KeyConfig) -> Result<KeyProvider, KeyFileError> {
    match config {
        KeyConfig::Local { file } => {
            if let Some(keys) = env_keys()? {
                let keys = LocalKeks::new(keys).map_err(|e| KeyFileError::Provider(e.to_string()))?;
                return Ok(KeyProvider::Local(keys));
            }
            create_if_missing(file)?;
            let path = file.clone();
            let reload: store::ReloadKeks = Arc::new(move || read_keys(&path).map_err(|e| e.to_string()));
            let keys = LocalKeks::reloading(reload).map_err(|e| KeyFileError::Provider(e.to_string()))?;
            Ok(KeyProvider::Local(keys))
        }
        KeyConfig::AwsKms { key_id, endpoint } => {
            // The standard AWS chain: environment, profile, web identity,
            // container and instance credentials; region likewise.
            let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
            if let Some(endpoint) = endpoint {
                loader = loader.endpoint_url(endpoint);
            }
            let sdk = loader.load().await;
            let kek = KmsKek::resolve(aws_sdk_kms::Client::new(&sdk), key_id)
                .await
                .map_err(|e| KeyFileError::Provider(e.to_string()))?;
            Ok(KeyProvider::AwsKms(kek))
        }
    }
}

fn env_keys() -> Result<Option<Vec<SecretKey>>, KeyFileError> {
    let Ok(value) = std::env::var(KEK_ENV) else { return Ok(None) };
    let value = Zeroizing::new(value);
    let mut keys = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bytes =
            Zeroizing::new(base64::engine::general_purpose::STANDARD.decode(part).map_err(|_| KeyFileError::BadEnv)?);
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| KeyFileError::BadEnv)?;
        keys.push(Zeroizing::new(key));
    }
    if keys.is_empty() {
        return Err(KeyFileError::BadEnv);
    }
    Ok(Some(keys))
}

/// Whether a key file's mode lets its group or others read it: every key
/// file (the KEK, the TLS private key, the legacy signing key) is then
/// refused rather than used.
pub(crate) fn readable_by_others(path: &Path) -> std::io::Result<bool> {
    Ok(fs::metadata(path)?.permissions().mode() & 0o077 != 0)
}

/// Reads every KEK in the key file, oldest first.
pub fn read_keys(path: &Path) -> Result<Vec<SecretKey>, KeyFileError> {
    let io = |source| KeyFileError::Io { path: path.to_owned(), source };
    if readable_by_others(path).map_err(io)? {
        return Err(KeyFileError::TooOpen(path.to_owned()));
    }
    let bytes = Zeroizing::new(fs::read(path).map_err(io)?);
    if bytes.is_empty() || bytes.len() % 32 != 0 {
        return Err(KeyFileError::Malformed(path.to_owned()));
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|chunk| {
            let mut key = Zeroizing::new([0u8; 32]);
            key.copy_from_slice(chunk);
            key
        })
        .collect())
}

fn create_if_missing(path: &Path) -> Result<(), KeyFileError> {
    if path.exists() {
        return Ok(());
    }
    let io = |source| KeyFileError::Io { path: path.to_owned(), source };
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(io)?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
    }
    let key = LocalKeks::generate_key();
    // create_new: never overwrite a key another process just wrote.
    match fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(mut file) => {
            file.write_all(key.as_slice()).map_err(io)?;
            file.sync_all().map_err(io)?;
            sync_dir(path)?;
            tracing::warn!(
                path = %path.display(),
                "generated the local key encryption key: back it up separately from the database, which is unreadable without it"
            );
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(io(error)),
    }
}

/// Replaces the key file's contents atomically (a new file renamed over it).
fn write_keys(path: &Path, keys: &[SecretKey]) -> Result<(), KeyFileError> {
    let io = |source| KeyFileError::Io { path: path.to_owned(), source };
    let tmp = path.with_extension("new");
    let _ = fs::remove_file(&tmp);
    let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(io)?;
    for key in keys {
        file.write_all(key.as_slice()).map_err(io)?;
    }
    file.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)?;
    sync_dir(path)
}

fn sync_dir(path: &Path) -> Result<(), KeyFileError> {
    if let Some(dir) = path.parent() {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| KeyFileError::Io { path: dir.to_owned(), source })?;
    }
    Ok(())
}

/// Step one of a local KEK rotation: appends a new KEK, which from now on
/// wraps every new key (running servers re-read the file before wrapping).
pub fn add_local_kek(config: &KeyConfig) -> Result<(), KeyFileError> {
    let KeyConfig::Local { file } = config else { return Ok(()) };
    if std::env::var_os(KEK_ENV).is_some() {
        return Err(KeyFileError::EnvRotation);
    }
    create_if_missing(file)?;
    let mut keys = read_keys(file)?;
    keys.push(LocalKeks::generate_key());
    write_keys(file, &keys)
}

/// Last step of a local KEK rotation, once nothing is wrapped by older
/// KEKs: the file keeps only the newest, so the old ones are destroyed.
pub fn retire_old_local_keks(config: &KeyConfig) -> Result<usize, KeyFileError> {
    let KeyConfig::Local { file } = config else { return Ok(0) };
    let mut keys = read_keys(file)?;
    let retired = keys.len().saturating_sub(1);
    if retired > 0 {
        let newest = keys.split_off(keys.len() - 1);
        write_keys(file, &newest)?;
    }
    Ok(retired)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_key_file_is_created_private_rotated_and_retired() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("keys/kek.key");
        let config = KeyConfig::Local { file: file.clone() };
        let provider = provider(&config).await.expect("provider");
        assert_eq!(fs::metadata(&file).expect("file").permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(file.parent().expect("dir")).expect("dir").permissions().mode() & 0o777, 0o700);
        let first = provider.current_kek_id();

        add_local_kek(&config).expect("rotated");
        assert_eq!(read_keys(&file).expect("keys").len(), 2);
        // The running provider picks the new KEK up before its next wrap.
        let context = store::KeyContext::instance_secret("x");
        let wrapped = provider.wrap(&LocalKeks::generate_key(), &context).await.expect("wrap");
        assert_ne!(wrapped.kek_id, first);
        assert_eq!(retire_old_local_keks(&config).expect("retired"), 1);
        assert_eq!(read_keys(&file).expect("keys").len(), 1);
        provider.unwrap(&wrapped, &context).await.expect("still unwraps with the newest KEK");

        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(read_keys(&file), Err(KeyFileError::TooOpen(_))));
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).expect("chmod");
        fs::write(&file, [1u8; 31]).expect("truncate");
        assert!(matches!(read_keys(&file), Err(KeyFileError::Malformed(_))));
    }
}
