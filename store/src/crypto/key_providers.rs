//! Key encryption keys (KEKs): the providers that wrap and unwrap data keys.
//!
//! Two real providers: `local`, where the KEK is a 32-byte key the server
//! reads from a file in its data directory, and `aws-kms`, where the KEK
//! never leaves AWS KMS. Both wrap with an encryption context naming what
//! the key is for (a ledger and a key version, or an instance secret), so a
//! wrapped key moved to another row does not unwrap.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::StoreError;

/// A 32-byte secret key (a DEK, a KEK or a signing seed), zeroized on drop.
pub type SecretKey = Zeroizing<[u8; 32]>;

/// What a wrapped key is for; bound into the wrapping (AES-GCM AAD for the
/// local provider, the KMS encryption context for `aws-kms`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyContext(BTreeMap<String, String>);

impl KeyContext {
    /// The data key `version` of `ledger`.
    pub fn ledger_key(ledger: &str, version: u32) -> Self {
        Self(BTreeMap::from([
            ("purpose".to_owned(), "ledger-data-key".to_owned()),
            ("ledger".to_owned(), ledger.to_owned()),
            ("version".to_owned(), version.to_string()),
        ]))
    }

    /// An instance-wide secret such as the checkpoint signing key.
    pub fn instance_secret(name: &str) -> Self {
        Self(BTreeMap::from([
            ("purpose".to_owned(), "instance-secret".to_owned()),
            ("name".to_owned(), name.to_owned()),
        ]))
    }

    /// An unambiguous byte encoding (sorted keys, each part length-prefixed).
    fn encode(&self) -> Vec<u8> {
        let mut out = b"auditstore/v1/key-context".to_vec();
        for (key, value) in &self.0 {
            for part in [key, value] {
                out.extend_from_slice(&(part.len() as u64).to_be_bytes());
                out.extend_from_slice(part.as_bytes());
            }
        }
        out
    }
}

/// A key as stored: which provider and KEK wrapped it, and the wrapped bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey {
    pub provider: String,
    pub kek_id: String,
    pub blob: Vec<u8>,
}

impl std::fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrappedKey")
            .field("provider", &self.provider)
            .field("kek_id", &self.kek_id)
            .field("blob", &format_args!("<{} bytes>", self.blob.len()))
            .finish()
    }
}

/// Where the KEK lives.
#[derive(Clone)]
pub enum KeyProvider {
    /// KEKs held in this process (read from the local key file by the
    /// server); the last one wraps, all of them unwrap.
    Local(LocalKeks),
    /// A symmetric key in AWS KMS (or an API-compatible service).
    AwsKms(KmsKek),
}

impl std::fmt::Debug for KeyProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyProvider::Local(keks) => f.debug_tuple("Local").field(keks).finish(),
            KeyProvider::AwsKms(kek) => f.debug_tuple("AwsKms").field(kek).finish(),
        }
    }
}

/// The provider name stored with keys wrapped by the local provider.
pub const LOCAL: &str = "local";
/// The provider name stored with keys wrapped by AWS KMS.
pub const AWS_KMS: &str = "aws-kms";

impl KeyProvider {
    /// `local` or `aws-kms`.
    pub fn name(&self) -> &'static str {
        match self {
            KeyProvider::Local(_) => LOCAL,
            KeyProvider::AwsKms(_) => AWS_KMS,
        }
    }

    /// The KEK new keys are wrapped with.
    pub fn current_kek_id(&self) -> String {
        match self {
            KeyProvider::Local(keks) => keks.current_id(),
            KeyProvider::AwsKms(kek) => kek.key_id.clone(),
        }
    }

    /// Re-reads the local key file (a KEK rotation may have changed it);
    /// nothing to do for KMS.
    pub fn refresh(&self) -> Result<(), StoreError> {
        match self {
            KeyProvider::Local(keks) => keks.refresh(),
            KeyProvider::AwsKms(_) => Ok(()),
        }
    }

    /// A fresh random 256-bit data key and its wrapped form (KMS
    /// GenerateDataKey with `AES_256`; locally, the OS RNG and a wrap).
    pub async fn generate(&self, context: &KeyContext) -> Result<(SecretKey, WrappedKey), StoreError> {
        match self {
            KeyProvider::Local(_) => {
                let key = random_key();
                let wrapped = self.wrap(&key, context).await?;
                Ok((key, wrapped))
            }
            KeyProvider::AwsKms(kek) => kek.generate(context).await,
        }
    }

    /// Wraps an existing secret (the checkpoint signing key on import).
    pub async fn wrap(&self, key: &SecretKey, context: &KeyContext) -> Result<WrappedKey, StoreError> {
        match self {
            KeyProvider::Local(keks) => keks.wrap(key, context),
            KeyProvider::AwsKms(kek) => kek.encrypt(key, context).await,
        }
    }

    /// Unwraps a stored key. Fails with [`StoreError::Integrity`] when the
    /// blob or its context was altered, and with [`StoreError::Keys`] when
    /// the KEK that wrapped it is not available to this provider.
    pub async fn unwrap(&self, wrapped: &WrappedKey, context: &KeyContext) -> Result<SecretKey, StoreError> {
        if wrapped.provider != self.name() {
            return Err(StoreError::Keys(format!(
                "a key is wrapped by the {:?} provider but this server is configured with {:?}",
                wrapped.provider,
                self.name()
            )));
        }
        match self {
            KeyProvider::Local(keks) => keks.unwrap(wrapped, context),
            KeyProvider::AwsKms(kek) => kek.decrypt(wrapped, context).await,
        }
    }

    /// Re-wraps `wrapped` under the current KEK without exposing the key
    /// outside the provider where it can (KMS ReEncrypt). `None` when it is
    /// already wrapped by the current KEK.
    pub async fn rewrap(&self, wrapped: &WrappedKey, context: &KeyContext) -> Result<Option<WrappedKey>, StoreError> {
        if wrapped.provider == self.name() && wrapped.kek_id == self.current_kek_id() {
            return Ok(None);
        }
        match self {
            KeyProvider::Local(keks) => {
                let key = self.unwrap(wrapped, context).await?;
                keks.wrap(&key, context).map(Some)
            }
            KeyProvider::AwsKms(kek) => {
                if wrapped.provider != AWS_KMS {
                    return Err(StoreError::Keys(format!(
                        "a key is wrapped by the {:?} provider; this server can only re-wrap aws-kms keys",
                        wrapped.provider
                    )));
                }
                kek.reencrypt(wrapped, context).await.map(Some)
            }
        }
    }
}

fn random_key() -> SecretKey {
    let mut key = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(key.as_mut_slice());
    key
}

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

    fn refresh(&self) -> Result<(), StoreError> {
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

    fn wrap(&self, key: &SecretKey, context: &KeyContext) -> Result<WrappedKey, StoreError> {
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

    fn unwrap(&self, wrapped: &WrappedKey, context: &KeyContext) -> Result<SecretKey, StoreError> {
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

/// A KMS key (id, ARN or alias) and a client to reach it.
#[derive(Clone)]
pub struct KmsKek {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl std::fmt::Debug for KmsKek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsKek").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

fn kms_error(operation: &str, error: impl std::error::Error) -> StoreError {
    // The SDK's Display is terse ("service error"); the source chain names
    // the KMS exception (for example InvalidCiphertextException).
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    StoreError::Keys(format!("AWS KMS {operation} failed: {message}"))
}

fn to_secret(blob: Option<&Blob>) -> Result<SecretKey, StoreError> {
    let bytes = blob.ok_or_else(|| StoreError::Keys("AWS KMS returned no key material".into()))?;
    let key: [u8; 32] = bytes
        .as_ref()
        .try_into()
        .map_err(|_| StoreError::Keys("AWS KMS returned key material of the wrong length".into()))?;
    Ok(Zeroizing::new(key))
}

impl KmsKek {
    /// Wraps with `key_id` through `client` (built by the server from the
    /// standard AWS configuration chain), recording `key_id` as given.
    pub fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self { client, key_id: key_id.into() }
    }

    /// Like [`KmsKek::new`], but resolves `key_id` (an id, ARN or alias)
    /// to the key's ARN first (DescribeKey), so stored keys name the key
    /// itself and stay decryptable if an alias is later pointed elsewhere.
    pub async fn resolve(client: aws_sdk_kms::Client, key_id: &str) -> Result<Self, StoreError> {
        let described = client.describe_key().key_id(key_id).send().await.map_err(|e| kms_error("DescribeKey", e))?;
        let arn = described
            .key_metadata()
            .and_then(|m| m.arn())
            .ok_or_else(|| StoreError::Keys(format!("AWS KMS did not describe key {key_id}")))?;
        Ok(Self { client, key_id: arn.to_owned() })
    }

    fn wrapped(&self, blob: Option<&Blob>) -> Result<WrappedKey, StoreError> {
        let blob = blob.ok_or_else(|| StoreError::Keys("AWS KMS returned no ciphertext".into()))?;
        Ok(WrappedKey { provider: AWS_KMS.to_owned(), kek_id: self.key_id.clone(), blob: blob.as_ref().to_vec() })
    }

    async fn generate(&self, context: &KeyContext) -> Result<(SecretKey, WrappedKey), StoreError> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(context.0.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| kms_error("GenerateDataKey", e))?;
        Ok((to_secret(out.plaintext())?, self.wrapped(out.ciphertext_blob())?))
    }

    async fn encrypt(&self, key: &SecretKey, context: &KeyContext) -> Result<WrappedKey, StoreError> {
        let out = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(key.to_vec()))
            .set_encryption_context(Some(context.0.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| kms_error("Encrypt", e))?;
        self.wrapped(out.ciphertext_blob())
    }

    async fn decrypt(&self, wrapped: &WrappedKey, context: &KeyContext) -> Result<SecretKey, StoreError> {
        let out = self
            .client
            .decrypt()
            .key_id(&wrapped.kek_id)
            .ciphertext_blob(Blob::new(wrapped.blob.clone()))
            .set_encryption_context(Some(context.0.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| kms_error("Decrypt", e))?;
        to_secret(out.plaintext())
    }

    async fn reencrypt(&self, wrapped: &WrappedKey, context: &KeyContext) -> Result<WrappedKey, StoreError> {
        let pairs: std::collections::HashMap<String, String> = context.0.clone().into_iter().collect();
        let out = self
            .client
            .re_encrypt()
            .ciphertext_blob(Blob::new(wrapped.blob.clone()))
            .source_key_id(&wrapped.kek_id)
            .set_source_encryption_context(Some(pairs.clone()))
            .destination_key_id(&self.key_id)
            .set_destination_encryption_context(Some(pairs))
            .send()
            .await
            .map_err(|e| kms_error("ReEncrypt", e))?;
        self.wrapped(out.ciphertext_blob())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keks(seeds: &[u8]) -> LocalKeks {
        LocalKeks::new(seeds.iter().map(|s| Zeroizing::new([*s; 32])).collect()).expect("keks")
    }

    #[tokio::test]
    async fn local_keys_unwrap_only_in_their_context() {
        let provider = KeyProvider::Local(keks(&[1]));
        let context = KeyContext::ledger_key("ldg_a", 1);
        let (key, wrapped) = provider.generate(&context).await.expect("generated");
        assert_eq!(*provider.unwrap(&wrapped, &context).await.expect("unwraps"), *key);
        assert!(!wrapped.blob.windows(32).any(|w| w == key.as_slice()), "the key is not stored in clear");

        let other = KeyContext::ledger_key("ldg_b", 1);
        assert!(matches!(provider.unwrap(&wrapped, &other).await, Err(StoreError::Integrity(_))));
        let next = KeyContext::ledger_key("ldg_a", 2);
        assert!(matches!(provider.unwrap(&wrapped, &next).await, Err(StoreError::Integrity(_))));
        let mut flipped = wrapped.clone();
        flipped.blob[20] ^= 1;
        assert!(matches!(provider.unwrap(&flipped, &context).await, Err(StoreError::Integrity(_))));
    }

    #[tokio::test]
    async fn rotation_rewraps_under_the_newest_kek_and_old_keks_are_needed_until_then() {
        let old = KeyProvider::Local(keks(&[1]));
        let context = KeyContext::instance_secret("checkpoint-signing-key");
        let (key, wrapped) = old.generate(&context).await.expect("generated");

        let both = KeyProvider::Local(keks(&[1, 2]));
        assert_ne!(both.current_kek_id(), old.current_kek_id());
        let rewrapped = both.rewrap(&wrapped, &context).await.expect("rewrap").expect("changed");
        assert_eq!(rewrapped.kek_id, both.current_kek_id());
        assert!(both.rewrap(&rewrapped, &context).await.expect("rewrap").is_none(), "already current");

        let new_only = KeyProvider::Local(keks(&[2]));
        assert_eq!(*new_only.unwrap(&rewrapped, &context).await.expect("unwraps"), *key);
        assert!(matches!(new_only.unwrap(&wrapped, &context).await, Err(StoreError::Keys(_))), "retired KEK");
    }

    #[test]
    fn debug_output_never_shows_key_material() {
        let provider = KeyProvider::Local(keks(&[0xab]));
        let shown = format!("{provider:?}");
        assert!(!shown.contains("171") && !shown.contains("abab"), "{shown}");
        assert!(shown.contains("local:"));
    }
}
