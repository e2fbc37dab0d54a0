//! Key rotation: a new data key for a ledger's new events (on demand or
//! by count and age), and KEK rotation, which re-wraps every stored key
//! under a new key encryption key without touching event rows.

use audit_core::LedgerId;

use super::key_providers::{KeyContext, WrappedKey};
use super::keyring::{version_u32, Keyring};
use super::records::DESTROYED;
use crate::db::{from_i64, on_db, write_tx};
use crate::system::{self, Staged};
use crate::{now_ms, AccountId, Origin, Store, StoreError, SystemEvent};

/// The most events one data key seals, whatever the settings: AES-GCM with
/// random 96-bit nonces stays within its bounds for at most 2^32 seals per
/// key (NIST SP 800-38D §8.3). Rotation is checked once a minute, so it
/// starts 2^24 events early (minutes of ingest at full speed).
pub(crate) const MAX_SEALS_PER_KEY: u64 = (1 << 32) - (1 << 24);

/// Why a ledger key was rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationReason {
    /// Asked for through the API or the CLI.
    Requested,
    /// The current key sealed the configured number of events.
    EventCount,
    /// The current key reached the configured age.
    Age,
}

impl RotationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RotationReason::Requested => "requested",
            RotationReason::EventCount => "event_count",
            RotationReason::Age => "age",
        }
    }
}

impl Keyring {
    /// Every wrapped key (ledger DEKs and instance secrets) not wrapped by
    /// the provider's current KEK is re-wrapped under it. Event rows are
    /// not touched. Returns how many DEKs moved, per account.
    pub(crate) async fn rewrap_all(&self) -> Result<RewrapReport, StoreError> {
        let rows: Vec<(String, String, i64, String, String, Vec<u8>)> = on_db!(&self.db.pool, |p| {
            sqlx::query_as(
                "SELECT l.account_id, k.ledger_id, k.version, k.provider, k.kek_id, k.wrapped FROM ledger_keys k \
                 JOIN ledgers l ON l.id = k.ledger_id ORDER BY l.account_id, k.ledger_id, k.version",
            )
            .fetch_all(p)
            .await?
        });
        let mut report = RewrapReport::default();
        for (account, ledger, version, provider, kek_id, blob) in rows {
            let old = WrappedKey { provider, kek_id, blob };
            let context = KeyContext::ledger_key(&ledger, version_u32(version)?);
            let Some(new) = self.provider.rewrap(&old, &context).await? else { continue };
            let updated = on_db!(&self.db.pool, |p| {
                sqlx::query(
                    "UPDATE ledger_keys SET provider = $1, kek_id = $2, wrapped = $3, wrapped_ms = $4 \
                     WHERE ledger_id = $5 AND version = $6 AND wrapped = $7",
                )
                .bind(&new.provider)
                .bind(&new.kek_id)
                .bind(new.blob.as_slice())
                .bind(now_ms())
                .bind(&ledger)
                .bind(version)
                .bind(old.blob.as_slice())
                .execute(p)
                .await?
                .rows_affected()
            });
            if updated == 1 {
                *report.ledger_keys.entry(account).or_default() += 1;
            }
        }
        let secrets: Vec<(String, String, String, Vec<u8>)> = on_db!(&self.db.pool, |p| {
            sqlx::query_as("SELECT name, provider, kek_id, wrapped FROM instance_secrets ORDER BY name")
                .fetch_all(p)
                .await?
        });
        for (name, provider, kek_id, blob) in secrets {
            let old = WrappedKey { provider, kek_id, blob };
            let Some(new) = self.provider.rewrap(&old, &KeyContext::instance_secret(&name)).await? else { continue };
            let updated = on_db!(&self.db.pool, |p| {
                sqlx::query(
                    "UPDATE instance_secrets SET provider = $1, kek_id = $2, wrapped = $3, wrapped_ms = $4 \
                     WHERE name = $5 AND wrapped = $6",
                )
                .bind(&new.provider)
                .bind(&new.kek_id)
                .bind(new.blob.as_slice())
                .bind(now_ms())
                .bind(&name)
                .bind(old.blob.as_slice())
                .execute(p)
                .await?
                .rows_affected()
            });
            report.instance_secrets += updated;
        }
        Ok(report)
    }

    /// Runs `retire` (which destroys old KEKs) only if no stored key is
    /// wrapped by another KEK than the current one, while holding a lock that
    /// keeps new keys from being stored meanwhile (new keys re-check their
    /// KEK under that lock; see `add_version`). `events` (the rotation, for
    /// every account) commit with the check.
    pub(crate) async fn retire_old_keks(
        &self,
        retire: impl FnOnce() -> Result<usize, String>,
        events: &[Staged],
    ) -> Result<usize, StoreError> {
        let (provider, kek) = (self.provider.name(), self.provider.current_kek_id());
        write_tx!(&self.db, |tx, sql| {
            for statement in sql.freeze_wrapped_keys {
                sqlx::query(statement).execute(&mut *tx).await?;
            }
            let remaining: i64 = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM ledger_keys WHERE provider <> $1 OR kek_id <> $2) \
                      + (SELECT COUNT(*) FROM instance_secrets WHERE provider <> $1 OR kek_id <> $2)",
            )
            .bind(provider)
            .bind(&kek)
            .fetch_one(&mut *tx)
            .await?;
            if remaining > 0 {
                return Err(StoreError::Keys(format!(
                    "{remaining} stored keys are still wrapped by an old KEK (created concurrently?); nothing was \
                     destroyed: run the KEK rotation again"
                )));
            }
            for event in events {
                system::outbox::insert((&mut *tx).into(), event).await?;
            }
            let retired = retire().map_err(StoreError::Keys)?;
            tx.commit().await?;
            Ok(retired)
        })
    }

    /// Ledgers whose current DEK is due for rotation by count or age.
    pub(crate) async fn due(&self, max_events: u64, max_age_ms: i64) -> Result<Vec<Due>, StoreError> {
        let rows: Vec<(String, String, i64, i64)> = on_db!(&self.db.pool, |p| {
            sqlx::query_as(
                "SELECT h.ledger_id, l.account_id, h.key_version, h.tree_size - k.from_seq \
                 FROM ledger_heads h JOIN ledger_keys k ON k.ledger_id = h.ledger_id AND k.version = h.key_version \
                 JOIN ledgers l ON l.id = h.ledger_id \
                 WHERE h.key_version > 0 AND (h.tree_size - k.from_seq >= $1 OR k.created_ms <= $2)",
            )
            // Beyond the database's integers means "never by count".
            .bind(i64::try_from(max_events).unwrap_or(i64::MAX))
            .bind(now_ms().saturating_sub(max_age_ms))
            .fetch_all(p)
            .await?
        });
        rows.into_iter()
            .map(|(ledger, account, version, sealed)| {
                Ok(Due {
                    ledger: LedgerId::new(ledger).map_err(|_| StoreError::Corrupt("invalid ledger id"))?,
                    account: AccountId::from_stored(account),
                    version,
                    reason: if from_i64(sealed)? >= max_events {
                        RotationReason::EventCount
                    } else {
                        RotationReason::Age
                    },
                })
            })
            .collect()
    }
}

impl Store {
    /// Makes a new DEK current for `ledger`'s new events (older versions
    /// stay for reading) and returns its version.
    /// The rotation is recorded in the ledger's account's system ledger.
    pub async fn rotate_ledger_key(&self, ledger: &LedgerId, origin: &Origin) -> Result<u32, StoreError> {
        let account = self.ledger_account(ledger).await?;
        let current = self.keys.current_version(ledger).await?;
        if current == DESTROYED {
            return Err(StoreError::KeysDestroyed);
        }
        let key_version = version_u32(current + 1)?;
        let event =
            SystemEvent::LedgerKeyRotated { ledger: ledger.clone(), key_version, reason: RotationReason::Requested };
        let staged = self.stage(&account, origin, event).await?;
        let (dek, added) = self.keys.add_version(ledger, current, Some(staged)).await?;
        if added {
            self.drain_outbox(&account).await;
        }
        Ok(dek.version())
    }

    /// Rotates every ledger key that sealed at least `max_events` events or
    /// is older than `max_age_ms` (the automatic rotation job, `origin`);
    /// each rotation is recorded in its account's system ledger. Returns
    /// what it rotated.
    pub async fn rotate_due_keys(
        &self,
        max_events: u64,
        max_age_ms: i64,
        origin: &Origin,
    ) -> Result<Vec<(LedgerId, AccountId, u32, RotationReason)>, StoreError> {
        let mut rotated = Vec::new();
        for due in self.keys.due(max_events.min(MAX_SEALS_PER_KEY), max_age_ms).await? {
            let key_version = version_u32(due.version + 1)?;
            let event = SystemEvent::LedgerKeyRotated { ledger: due.ledger.clone(), key_version, reason: due.reason };
            let staged = self.stage(&due.account, origin, event).await?;
            let (dek, added) = self.keys.add_version(&due.ledger, due.version, Some(staged)).await?;
            if added {
                self.drain_outbox(&due.account).await;
                rotated.push((due.ledger, due.account, dek.version(), due.reason));
            }
        }
        Ok(rotated)
    }

    /// Re-wraps every stored key under the provider's current KEK (KEK
    /// rotation); event rows are not touched.
    pub async fn rewrap_keys(&self) -> Result<RewrapReport, StoreError> {
        self.keys.rewrap_all().await
    }

    /// The last step of a KEK rotation: runs `retire` (which destroys the
    /// old KEKs) only when no stored key is wrapped by anything but the
    /// current KEK, under a lock that keeps new keys out meanwhile. Fails,
    /// destroying nothing, when some key still needs an old KEK.
    /// The rotation (`report`, the re-wrapping before it) is recorded in
    /// every account's system ledger in the same transaction as the check.
    pub async fn retire_old_keks(
        &self,
        retire: impl FnOnce() -> Result<usize, String>,
        report: &RewrapReport,
        origin: &Origin,
    ) -> Result<usize, StoreError> {
        let accounts = self.list_accounts().await?;
        let mut events = Vec::with_capacity(accounts.len());
        for account in &accounts {
            let event = SystemEvent::KekRotated {
                provider: self.keys.provider.name().to_owned(),
                kek_id: self.keys.provider.current_kek_id(),
                ledger_keys_rewrapped: report.ledger_keys.get(account.as_str()).copied().unwrap_or(0),
            };
            events.push(self.stage(account, origin, event).await?);
        }
        let retired = self.keys.retire_old_keks(retire, &events).await?;
        for account in &accounts {
            self.drain_outbox(account).await;
        }
        Ok(retired)
    }

    /// The data key versions of a ledger: (version, provider, kek id,
    /// first seq sealed with it, created ms), oldest first.
    pub async fn ledger_key_versions(&self, ledger: &LedgerId) -> Result<Vec<KeyVersion>, StoreError> {
        let rows: Vec<(i64, String, String, i64, i64)> = on_db!(&self.db.pool, |p| {
            sqlx::query_as(
                "SELECT version, provider, kek_id, from_seq, created_ms FROM ledger_keys WHERE ledger_id = $1 ORDER BY version",
            )
            .bind(ledger.as_str())
            .fetch_all(p)
            .await?
        });
        rows.into_iter()
            .map(|(version, provider, kek_id, from_seq, created_ms)| {
                Ok(KeyVersion {
                    version: version_u32(version)?,
                    provider,
                    kek_id,
                    from_seq: from_i64(from_seq)?,
                    created_ms,
                })
            })
            .collect()
    }
}

/// One data key version of a ledger (never the key itself).
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyVersion {
    pub version: u32,
    pub provider: String,
    pub kek_id: String,
    pub from_seq: u64,
    pub created_ms: i64,
}

/// A ledger whose current DEK is due for rotation.
#[derive(Debug, Clone)]
pub(crate) struct Due {
    pub(crate) ledger: LedgerId,
    pub(crate) account: AccountId,
    pub(crate) version: i64,
    pub(crate) reason: RotationReason,
}

/// What a KEK rotation re-wrapped.
#[derive(Debug, Clone, Default)]
pub struct RewrapReport {
    /// Ledger DEKs re-wrapped, by account id.
    pub ledger_keys: std::collections::BTreeMap<String, u64>,
    /// Instance secrets (the checkpoint signing key) re-wrapped.
    pub instance_secrets: u64,
}
