//! Key encryption keys (KEKs): the providers that wrap and unwrap data keys.
//!
//! Two real providers: `local`, where the KEK is a 32-byte key the server
//! reads from a file in its data directory, and `aws-kms`, where the KEK
//! never leaves AWS KMS. Both wrap with an encryption context naming what
//! the key is for (a ledger and a key version, or an instance secret), so a
//! wrapped key moved to another row does not unwrap.

mod kms;
mod local;

use std::collections::BTreeMap;

use rand::RngCore as _;
use zeroize::Zeroizing;

pub use kms::KmsKek;
pub use local::{LocalKeks, ReloadKeks};

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

pub(crate) fn random_key() -> SecretKey {
    let mut key = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(key.as_mut_slice());
    key
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
