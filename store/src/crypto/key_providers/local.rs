//! The local provider: KEKs read from a key file in the data directory,
//! wrapping with AES-256-GCM under the newest one.

use std::sync::{Arc, RwLock};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{random_key, KeyContext, SecretKey, WrappedKey, LOCAL};
use crate::StoreError;

/// Reads the local KEKs again (the key file, oldest first).
pub type ReloadKeks = Arc<dyn Fn() -> Result<Vec<SecretKey>, String> + Send + Sync>;

/// The local provider's KEKs, oldest first; the last one wraps new keys.
///
/// With a reloader (the server passes one that reads the key file), the
/// keys are read again before every wrap and when a stored key names a KEK
/// not loaded yet, so a KEK rotation by `auditstore admin rotate-kek` takes
/// effect in running servers without a restart.
#[derive(Clone)]
pub struct LocalKeks {
    keys: Arc<RwLock<Vec<SecretKey>>>,
    reload: Option<ReloadKeks>,
}

impl std::fmt::Debug for LocalKeks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKeks").field("ids", &self.ids()).finish()
    }
}

/// The public identifier of a local KEK: a truncated hash that names the key
/// without revealing it.
fn kek_id(key: &[u8; 32]) -> String {
    let digest = Sha256::new().chain_update(b"auditstore/v1/kek-id\n").chain_update(key).finalize();
    format!("local:{}", hex::encode(&digest[..8]))
}

/// Bytes of a locally wrapped key: nonce, then ciphertext and tag.
const NONCE_LEN: usize = 12;

impl LocalKeks {
    /// KEKs from the key file's contents, oldest first.
    pub fn new(keys: Vec<SecretKey>) -> Result<Self, StoreError> {
        if keys.is_empty() {
            return Err(StoreError::Keys("the local key file holds no key".into()));
        }
        Ok(Self { keys: Arc::new(RwLock::new(keys)), reload: None })
    }

    /// KEKs that `reload` reads again when they may have changed.
    pub fn reloading(reload: ReloadKeks) -> Result<Self, StoreError> {
        let keys = reload().map_err(StoreError::Keys)?;
        let mut keks = Self::new(keys)?;
        keks.reload = Some(reload);
        Ok(keks)
    }

    /// The ids of the loaded KEKs, oldest first.
    pub fn ids(&self) -> Vec<String> {
        self.read().iter().map(|k| kek_id(k)).collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<SecretKey>> {
        self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn refresh(&self) -> Result<(), StoreError> {
        if let Some(reload) = &self.reload {
            let keys = reload().map_err(StoreError::Keys)?;
            if keys.is_empty() {
                return Err(StoreError::Keys("the local key file holds no key".into()));
            }
            *self.keys.write().unwrap_or_else(std::sync::PoisonError::into_inner) = keys;
        }
        Ok(())
    }

    /// A new random KEK (for a new key file or a rotation).
    pub fn generate_key() -> SecretKey {
        random_key()
    }

    /// The id of the KEK that wraps new keys.
    pub fn current_id(&self) -> String {
        self.read().last().map(|k| kek_id(k)).unwrap_or_default()
    }

    pub(super) fn wrap(&self, key: &SecretKey, context: &KeyContext) -> Result<WrappedKey, StoreError> {
        self.refresh()?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let keys = self.read();
        let current = keys.last().ok_or_else(|| StoreError::Keys("the local key file holds no key".into()))?;
        let cipher = kek_cipher(current);
        let aad = context.encode();
        // Encryption with a valid key and nonce cannot fail for 32 bytes.
        let sealed =
            cipher.encrypt(&Nonce::from(nonce), Payload { msg: key.as_slice(), aad: &aad }).unwrap_or_default();
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        Ok(WrappedKey { provider: LOCAL.to_owned(), kek_id: kek_id(current), blob })
    }

    pub(super) fn unwrap(&self, wrapped: &WrappedKey, context: &KeyContext) -> Result<SecretKey, StoreError> {
        if !self.read().iter().any(|k| kek_id(k) == wrapped.kek_id) {
            // Perhaps rotated in by another process since we loaded.
            self.refresh()?;
        }
        let keys = self.read();
        let kek = keys.iter().find(|k| kek_id(k) == wrapped.kek_id).ok_or_else(|| {
            StoreError::Keys(format!(
                "a key is wrapped by local KEK {} which is not in the local key file (it holds {})",
                wrapped.kek_id,
                keys.iter().map(|k| kek_id(k)).collect::<Vec<_>>().join(", ")
            ))
        })?;
        let (nonce, sealed) = wrapped
            .blob
            .split_at_checked(NONCE_LEN)
            .ok_or_else(|| StoreError::Integrity("a wrapped key is truncated".into()))?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| StoreError::Integrity("bad nonce".into()))?;
        let cipher = kek_cipher(kek);
        let aad = context.encode();
        let plain =
            Zeroizing::new(cipher.decrypt(&Nonce::from(nonce), Payload { msg: sealed, aad: &aad }).map_err(|_| {
                StoreError::Integrity(
                    "a wrapped key failed authentication: altered, or moved from another record".into(),
                )
            })?);
        let key: [u8; 32] = plain
            .as_slice()
            .try_into()
            .map_err(|_| StoreError::Integrity("a wrapped key has the wrong length".into()))?;
        Ok(Zeroizing::new(key))
    }
}

fn kek_cipher(kek: &SecretKey) -> Aes256Gcm {
    // A 32-byte slice is always a valid AES-256 key; no copy of it is made.
    match Aes256Gcm::new_from_slice(kek.as_slice()) {
        Ok(cipher) => cipher,
        Err(_) => unreachable!("AES-256 takes a 32-byte key"),
    }
}
