//! The checkpoint signer: the instance's Ed25519 key, kept in the database
//! wrapped by the key provider, and the note key name (the host).

use audit_core::{Checkpoint, Hash, KeyName, TreeSize, VerifierKey};
use ed25519_dalek::SigningKey;

use crate::crypto::keyring::Keyring;
use crate::db::{on_db, Db};
use crate::{now_ms, StoreError};

/// The instance secret holding the checkpoint signing key's seed.
const SIGNING_KEY_SECRET: &str = "checkpoint-signing-key";

/// Signs checkpoints (C2SP signed notes): an Ed25519 key and the note key
/// name (the host).
pub struct CheckpointSigner {
    name: KeyName,
    key: SigningKey,
    host: String,
}

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointSigner").field("name", &self.name).field("key", &"***").finish()
    }
}

impl CheckpointSigner {
    /// A signer for checkpoints of ledgers served at `host` (the origin
    /// prefix and the note key name).
    pub fn new(host: &str, key: SigningKey) -> Result<Self, StoreError> {
        let name = KeyName::new(host).map_err(|e| StoreError::Invalid(format!("invalid checkpoint key name: {e}")))?;
        Ok(Self { name, key, host: host.to_owned() })
    }

    /// The public verifier key, in the C2SP note format.
    pub fn verifier_key(&self) -> VerifierKey {
        VerifierKey::new(self.name.clone(), self.key.verifying_key())
    }

    /// The host in checkpoint origins.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// Signs the checkpoint of a tree of `size` leaves with `root` for the
    /// log `origin`.
    pub(crate) fn sign(&self, origin: &str, size: u64, root: Hash) -> Result<String, StoreError> {
        let checkpoint =
            Checkpoint::new(origin, TreeSize(size), root).map_err(|e| StoreError::Signing(e.to_string()))?;
        checkpoint.sign(&self.name, &self.key).map_err(|e| StoreError::Signing(e.to_string()))
    }
}

/// Unwraps (or creates, or imports `legacy`) the signing key and checks it
/// against the one the database recorded.
pub(crate) async fn load(
    db: &Db,
    keys: &Keyring,
    host: &str,
    legacy: Option<SigningKey>,
) -> Result<CheckpointSigner, StoreError> {
    let legacy = legacy.map(|key| zeroize::Zeroizing::new(key.to_bytes()));
    let (seed, _) = keys
        .instance_secret(SIGNING_KEY_SECRET, || {
            legacy.unwrap_or_else(crate::crypto::key_providers::LocalKeks::generate_key)
        })
        .await?;
    let signer = CheckpointSigner::new(host, SigningKey::from_bytes(&seed))?;
    check_recorded(db, &signer).await?;
    Ok(signer)
}

/// Records this database's checkpoint key on first use, and refuses a
/// signer whose public key differs from the recorded one.
async fn check_recorded(db: &Db, signer: &CheckpointSigner) -> Result<(), StoreError> {
    let key = signer.verifier_key();
    let name = key.name().as_str().to_owned();
    let public = key.verifying_key().to_bytes().to_vec();
    let recorded: Vec<(String, Vec<u8>)> = on_db!(&db.pool, |p| {
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT key_name, public_key FROM checkpoint_signers").fetch_all(p).await?;
        if rows.is_empty() {
            sqlx::query("INSERT INTO checkpoint_signers (key_name, public_key, created_ms) VALUES ($1, $2, $3)")
                .bind(&name)
                .bind(public.as_slice())
                .bind(now_ms())
                .execute(p)
                .await?;
        }
        rows
    });
    if recorded.is_empty() || recorded.iter().any(|(n, k)| *n == name && *k == public) {
        return Ok(());
    }
    let names: Vec<&str> = recorded.iter().map(|(n, _)| n.as_str()).collect();
    Err(StoreError::Conflict(format!(
        "this database's checkpoints are signed as {names:?} with another key or name than this process's ({name:?}): \
         give every server process the same --public-host, and for a database that predates wrapped keys keep its \
         keys/checkpoint-signing.key in the data dir so that it is imported"
    )))
}
