//! Instance secrets (the checkpoint signing key, the sealing keys of TOTP
//! secrets and of outbox rows), kept in `instance_secrets` wrapped by the
//! key provider, and [`SecretBox`], the AES-256-GCM box small secrets are
//! sealed in with associated data that binds them to their row.

use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore as _;
use zeroize::Zeroizing;

use super::key_providers::{KeyContext, LocalKeks, SecretKey, WrappedKey};
use super::keyring::Keyring;
use crate::db::on_db;
use crate::{now_ms, StoreError};

const NONCE_LEN: usize = 12;

/// The instance secret that seals outbox rows (system events waiting for
/// their ledger: their content is event content, so it is never stored in
/// clear).
pub(crate) const OUTBOX_SECRET: &str = "system-outbox-sealing-key";

/// The instance secret that seals the CSRF cookies of dashboard visitors
/// without a session (every server process behind a load balancer must
/// open what another sealed, so it is shared through the database).
pub(crate) const CSRF_SECRET: &str = "dashboard-csrf-sealing-key";

/// The instance secret that seals webhook signing secrets and message
/// bodies (a message body is system event content).
pub(crate) const WEBHOOK_SECRET: &str = "webhook-sealing-key";

/// AES-256-GCM (NIST SP 800-38D) under one instance secret: a sealed value
/// is a random 96-bit nonce followed by the ciphertext and tag.
pub(crate) struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretBox").finish_non_exhaustive()
    }
}

impl SecretBox {
    fn new(key: &SecretKey) -> Result<Self, StoreError> {
        let cipher =
            Aes256Gcm::new_from_slice(key.as_slice()).map_err(|_| StoreError::Keys("bad sealing key length".into()))?;
        Ok(Self { cipher })
    }

    /// Seals `secret`; it opens only with the same `aad`.
    pub(crate) fn seal(&self, aad: &[u8], secret: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: secret, aad })
            .map_err(|_| StoreError::Keys("sealing a secret failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a sealed value; `None` when it is truncated, altered or bound
    /// to other associated data.
    pub(crate) fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let (nonce, body) = sealed.split_at_checked(NONCE_LEN)?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        self.cipher.decrypt(&Nonce::from(nonce), Payload { msg: body, aad }).ok().map(Zeroizing::new)
    }
}

impl Keyring {
    /// The box sealing with instance secret `name` (created on first use).
    pub(crate) async fn secret_box(&self, name: &'static str) -> Result<Arc<SecretBox>, StoreError> {
        if let Some(found) = self.boxes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(name) {
            return Ok(found.clone());
        }
        let (key, _) = self.instance_secret(name, LocalKeks::generate_key).await?;
        let sealer = Arc::new(SecretBox::new(&key)?);
        self.boxes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(name, sealer.clone());
        Ok(sealer)
    }

    /// The box outbox rows are sealed in.
    pub(crate) async fn outbox_box(&self) -> Result<Arc<SecretBox>, StoreError> {
        self.secret_box(OUTBOX_SECRET).await
    }

    /// The box webhook secrets and message bodies are sealed in.
    pub(crate) async fn webhook_box(&self) -> Result<Arc<SecretBox>, StoreError> {
        self.secret_box(WEBHOOK_SECRET).await
    }

    /// An instance secret, creating it with `create` when absent. Several
    /// processes starting at once agree on the first one stored.
    pub(crate) async fn instance_secret(
        &self,
        name: &str,
        create: impl FnOnce() -> SecretKey,
    ) -> Result<(SecretKey, bool), StoreError> {
        let context = KeyContext::instance_secret(name);
        if let Some(wrapped) = self.stored_instance_secret(name).await? {
            return Ok((self.provider.unwrap(&wrapped, &context).await?, false));
        }
        let wrapped = self.provider.wrap(&create(), &context).await?;
        let inserted = on_db!(&self.db.pool, |p| {
            sqlx::query(
                "INSERT INTO instance_secrets (name, provider, kek_id, wrapped, created_ms, wrapped_ms) \
                 VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(&wrapped.provider)
            .bind(&wrapped.kek_id)
            .bind(wrapped.blob.as_slice())
            .bind(now_ms())
            .execute(p)
            .await?
            .rows_affected()
        });
        // Read back what is stored: ours, or a peer's that won the race.
        let stored = self.stored_instance_secret(name).await?;
        let stored = stored.ok_or_else(|| StoreError::Keys(format!("instance secret {name} could not be stored")))?;
        Ok((self.provider.unwrap(&stored, &context).await?, inserted == 1))
    }

    async fn stored_instance_secret(&self, name: &str) -> Result<Option<WrappedKey>, StoreError> {
        let row: Option<(String, String, Vec<u8>)> = on_db!(&self.db.pool, |p| {
            sqlx::query_as("SELECT provider, kek_id, wrapped FROM instance_secrets WHERE name = $1")
                .bind(name)
                .fetch_optional(p)
                .await?
        });
        Ok(row.map(|(provider, kek_id, blob)| WrappedKey { provider, kek_id, blob }))
    }
}
