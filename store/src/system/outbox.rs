//! The outbox: system events committed with their change and not yet in
//! the account's system ledger. Rows are sealed like event content (they
//! are event content); the event id in each row is final, so appending a
//! row twice is answered as a retry, never stored twice.

use audit_core::Event;

use super::Staged;
use crate::crypto::secrets::SecretBox;
use crate::db::{on_db, Conn, Db};
use crate::ledger::sequencer::NewEvent;
use crate::{AccountId, StoreError};

/// The most outbox rows one system-ledger commit takes; more wait for the
/// next one (the writer drains again when asked).
const MAX_DRAIN: i64 = 1_000;

/// An outbox row read back for appending.
#[derive(Debug)]
pub(crate) struct Drained {
    id: i64,
    pub(crate) event: NewEvent,
}

/// The associated data of an outbox row: what it is, whose, and which
/// event, so a row copied to another account or event fails to open.
pub(crate) fn aad(account: &AccountId, event_id: &str) -> Vec<u8> {
    let mut aad = b"auditstore/v1/outbox\0".to_vec();
    aad.extend_from_slice(account.as_str().as_bytes());
    aad.push(0);
    aad.extend_from_slice(event_id.as_bytes());
    aad
}

/// Writes a staged system event into the outbox, inside the transaction of
/// the change it records.
pub(crate) async fn insert(conn: Conn<'_>, staged: &Staged) -> Result<(), StoreError> {
    on_db!(conn, |c| {
        sqlx::query("INSERT INTO system_outbox (account_id, event_id, sealed, created_ms) VALUES ($1, $2, $3, $4)")
            .bind(staged.account.as_str())
            .bind(&staged.event_id)
            .bind(staged.sealed.as_slice())
            .bind(staged.created_ms)
            .execute(&mut *c)
            .await?;
    });
    Ok(())
}

/// The account's oldest outbox rows, opened, inside the system ledger's
/// commit transaction (which holds the ledger's head lock, so two drains
/// never interleave).
pub(crate) async fn take(conn: Conn<'_>, account: &AccountId, sealer: &SecretBox) -> Result<Vec<Drained>, StoreError> {
    let rows: Vec<(i64, String, Vec<u8>)> = on_db!(conn, |c| {
        sqlx::query_as(
            "SELECT id, event_id, sealed FROM system_outbox WHERE account_id = $1 ORDER BY created_ms, id LIMIT $2",
        )
        .bind(account.as_str())
        .bind(MAX_DRAIN)
        .fetch_all(&mut *c)
        .await?
    });
    rows.into_iter()
        .map(|(id, event_id, sealed)| {
            let content = sealer.open(&aad(account, &event_id), &sealed).ok_or_else(|| {
                StoreError::Integrity(format!(
                    "the outbox row of system event {event_id} failed authenticated decryption"
                ))
            })?;
            let event: Event = serde_json::from_slice(&content)
                .map_err(|_| StoreError::Corrupt("an outbox row does not hold a valid event"))?;
            if event.id().as_str() != event_id {
                return Err(StoreError::Corrupt("an outbox row's event id differs from its content"));
            }
            Ok(Drained { id, event: NewEvent { event, client_id: true } })
        })
        .collect()
}

/// Deletes the rows just appended, in the same transaction.
pub(crate) async fn remove(conn: Conn<'_>, drained: &[Drained]) -> Result<(), StoreError> {
    if drained.is_empty() {
        return Ok(());
    }
    on_db!(conn, |c| {
        for chunk in drained.chunks(500) {
            let mut query = sqlx::QueryBuilder::new("DELETE FROM system_outbox WHERE id IN (");
            let mut separated = query.separated(", ");
            for row in chunk {
                separated.push_bind(row.id);
            }
            query.push(")");
            query.build().execute(&mut *c).await?;
        }
    });
    Ok(())
}

/// Accounts with rows in the outbox.
pub(crate) async fn pending_accounts(db: &Db) -> Result<Vec<AccountId>, StoreError> {
    let ids: Vec<String> = on_db!(&db.pool, |p| {
        sqlx::query_scalar("SELECT DISTINCT account_id FROM system_outbox ORDER BY account_id").fetch_all(p).await?
    });
    Ok(ids.into_iter().map(AccountId::from_stored).collect())
}
