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
    pub(crate) id: i64,
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
pub(crate) async fn insert(mut conn: Conn<'_>, staged: &Staged) -> Result<(), StoreError> {
    on_db!(conn.reborrow(), |c| {
        sqlx::query("INSERT INTO system_outbox (account_id, event_id, sealed, created_ms) VALUES ($1, $2, $3, $4)")
            .bind(staged.account.as_str())
            .bind(&staged.event_id)
            .bind(staged.sealed.as_slice())
            .bind(staged.created_ms)
            .execute(&mut *c)
            .await?;
    });
    crate::webhooks::fan_out(conn, &staged.account, &staged.webhooks, staged.created_ms).await
}

/// The account's oldest outbox rows, opened, inside the system ledger's
/// commit transaction (which holds the ledger's head lock, so two drains
/// never interleave). A row that does not open or does not hold its event
/// is set aside (`failed_ms`) in the same transaction, loudly, so that one
/// bad row cannot stop the account's audit trail.
pub(crate) async fn take(
    mut conn: Conn<'_>,
    account: &AccountId,
    sealer: &SecretBox,
) -> Result<Vec<Drained>, StoreError> {
    let rows: Vec<(i64, String, Vec<u8>)> = on_db!(conn.reborrow(), |c| {
        sqlx::query_as(
            "SELECT id, event_id, sealed FROM system_outbox WHERE account_id = $1 AND failed_ms IS NULL \
             ORDER BY id LIMIT $2",
        )
        .bind(account.as_str())
        .bind(MAX_DRAIN)
        .fetch_all(&mut *c)
        .await?
    });
    let mut drained = Vec::with_capacity(rows.len());
    let mut failed = Vec::new();
    for (id, event_id, sealed) in rows {
        match open(account, &event_id, &sealed, sealer) {
            Ok(event) => drained.push(Drained { id, event: NewEvent::new(event, true)? }),
            Err(error) => {
                tracing::error!(%account, event_id, %error, "an outbox row was set aside: it cannot be appended");
                failed.push(id);
            }
        }
    }
    set_aside(conn, &failed).await?;
    Ok(drained)
}

/// Opens one outbox row: its seal, bound to its account and event id, and
/// the event inside, whose id must be the row's.
fn open(account: &AccountId, event_id: &str, sealed: &[u8], sealer: &SecretBox) -> Result<Event, StoreError> {
    let content = sealer.open(&aad(account, event_id), sealed).ok_or_else(|| {
        StoreError::Integrity(format!("the outbox row of system event {event_id} failed authenticated decryption"))
    })?;
    let event: Event = serde_json::from_slice(&content).map_err(|_| {
        StoreError::Integrity(format!("the outbox row of system event {event_id} holds no valid event"))
    })?;
    if event.id().as_str() != event_id {
        return Err(StoreError::Integrity(format!("the outbox row of system event {event_id} holds another event")));
    }
    Ok(event)
}

/// Marks rows that cannot be appended, in the drain's transaction.
pub(crate) async fn set_aside(conn: Conn<'_>, ids: &[i64]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let now = crate::now_ms();
    on_db!(conn, |c| {
        for id in ids {
            sqlx::query("UPDATE system_outbox SET failed_ms = $1 WHERE id = $2")
                .bind(now)
                .bind(*id)
                .execute(&mut *c)
                .await?;
        }
    });
    Ok(())
}

/// Deletes the rows just appended, in the same transaction.
pub(crate) async fn remove(conn: Conn<'_>, ids: &[i64]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    on_db!(conn, |c| {
        for chunk in ids.chunks(500) {
            let mut query = sqlx::QueryBuilder::new("DELETE FROM system_outbox WHERE id IN (");
            let mut separated = query.separated(", ");
            for id in chunk {
                separated.push_bind(*id);
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
        sqlx::query_scalar("SELECT DISTINCT account_id FROM system_outbox WHERE failed_ms IS NULL ORDER BY account_id")
            .fetch_all(p)
            .await?
    });
    Ok(ids.into_iter().map(AccountId::from_stored).collect())
}
