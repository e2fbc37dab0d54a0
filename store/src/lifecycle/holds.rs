//! Legal holds: events a case needs kept, whatever their retention. A hold
//! covers one ledger or every ledger of its account, and within them the
//! events its scope matches (an `occurred_at` range, an actor id, a
//! resource id, or any combination; no scope is everything). Holds have no
//! expiry: a hold stands until it is released, once, with a reason. Events
//! an active hold covers are never archived, and a ledger any active hold
//! covers cannot be deleted.

use audit_core::{Event, LedgerId, OccurredAt};

use crate::db::{on_db, write_tx};
use crate::system::{outbox, SystemEvent};
use crate::{now_ms, AccountId, Ledger, Origin, Store, StoreError};

/// The longest case name.
pub const MAX_CASE_CHARS: usize = 200;
/// The longest reason (placing or releasing).
pub const MAX_REASON_CHARS: usize = 2_000;
/// The longest actor or resource id a scope names (as events allow).
const MAX_ID_CHARS: usize = 256;
/// Active holds an account may have at once: archival checks every event
/// against each, so their number is bounded.
pub const MAX_ACTIVE_PER_ACCOUNT: i64 = 1_000;
/// The most holds a listing returns.
pub const MAX_LISTED: i64 = 1_000;

/// Which events of a ledger a hold covers. Every field given must match;
/// none given matches every event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HoldScope {
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    actor_id: Option<String>,
    resource_id: Option<String>,
}

impl HoldScope {
    /// A scope of `occurred_at` in `[from, to)` (RFC 3339, either open),
    /// one actor id and one resource id (either open). Refuses an empty
    /// time range and ids events could not have, naming the field.
    pub fn new(
        from: Option<&str>,
        to: Option<&str>,
        actor_id: Option<String>,
        resource_id: Option<String>,
    ) -> Result<Self, StoreError> {
        let time = |field: &str, value: Option<&str>| {
            value
                .map(|v| {
                    OccurredAt::parse(v)
                        .map(|t| t.unix_millis())
                        .map_err(|e| StoreError::Invalid(format!("scope.{field}: {}", e.message())))
                })
                .transpose()
        };
        let (from_ms, to_ms) = (time("from", from)?, time("to", to)?);
        if let (Some(from), Some(to)) = (from_ms, to_ms) {
            if from >= to {
                return Err(StoreError::Invalid("scope.to: must be after scope.from".into()));
            }
        }
        for (field, id) in [("actor_id", &actor_id), ("resource_id", &resource_id)] {
            if let Some(id) = id {
                if id.is_empty() || id.chars().count() > MAX_ID_CHARS {
                    return Err(StoreError::Invalid(format!("scope.{field}: must be 1 to {MAX_ID_CHARS} characters")));
                }
            }
        }
        Ok(Self { from_ms, to_ms, actor_id, resource_id })
    }

    /// Whether the scope names nothing: the hold covers every event.
    pub fn is_everything(&self) -> bool {
        self == &Self::default()
    }

    /// Whether the hold covers `event`.
    pub fn covers(&self, event: &Event) -> bool {
        let at = event.occurred_at().unix_millis();
        self.from_ms.is_none_or(|from| at >= from)
            && self.to_ms.is_none_or(|to| at < to)
            && self.actor_id.as_deref().is_none_or(|id| event.actor().id() == id)
            && self.resource_id.as_deref().is_none_or(|id| event.resource().id() == id)
    }

    /// `occurred_at` from (included), Unix ms.
    pub fn from_ms(&self) -> Option<i64> {
        self.from_ms
    }

    /// `occurred_at` to (excluded), Unix ms.
    pub fn to_ms(&self) -> Option<i64> {
        self.to_ms
    }

    pub fn actor_id(&self) -> Option<&str> {
        self.actor_id.as_deref()
    }

    pub fn resource_id(&self) -> Option<&str> {
        self.resource_id.as_deref()
    }

    /// The scope as its system events and the API write it: only the
    /// fields given, times in normalised RFC 3339.
    pub fn to_map(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut map = serde_json::Map::new();
        let time = |ms: i64| OccurredAt::from_unix_millis(ms).map(String::from).unwrap_or_default();
        if let Some(ms) = self.from_ms {
            map.insert("from".into(), time(ms).into());
        }
        if let Some(ms) = self.to_ms {
            map.insert("to".into(), time(ms).into());
        }
        if let Some(id) = &self.actor_id {
            map.insert("actor_id".into(), id.clone().into());
        }
        if let Some(id) = &self.resource_id {
            map.insert("resource_id".into(), id.clone().into());
        }
        map
    }
}

/// A hold's release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub by: (String, String),
    pub ms: i64,
    pub reason: String,
}

/// A legal hold as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalHold {
    pub id: String,
    pub account: AccountId,
    /// `None`: every ledger of the account.
    pub ledger: Option<LedgerId>,
    pub case: String,
    pub reason: String,
    pub scope: HoldScope,
    /// Who placed it, as (`type`, `id`) of their system event's actor.
    pub placed_by: (String, String),
    pub placed_ms: i64,
    /// Set once released.
    pub released: Option<Release>,
}

impl LegalHold {
    /// Whether the hold still stands.
    pub fn is_active(&self) -> bool {
        self.released.is_none()
    }

    /// Whether the hold applies to `ledger` at all.
    pub fn applies_to(&self, ledger: &LedgerId) -> bool {
        self.ledger.as_ref().is_none_or(|l| l == ledger)
    }
}

/// Which holds a listing returns.
#[derive(Debug, Clone, Copy)]
pub enum HoldsOf<'a> {
    /// Every hold of the account.
    Account,
    /// The holds that apply to one ledger: its own and the account-wide ones.
    Ledger(&'a LedgerId),
}

fn check_text(field: &str, text: &str, max: usize) -> Result<(), StoreError> {
    if text.trim().is_empty() || text.chars().count() > max {
        return Err(StoreError::Invalid(format!("{field}: must be 1 to {max} characters")));
    }
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(StoreError::Invalid(format!("{field}: must not hold control characters")));
    }
    Ok(())
}

const COLUMNS: &str = "hold_id, account_id, ledger_id, case_name, reason, from_ms, to_ms, actor_id, resource_id, \
                       placed_by_type, placed_by_id, placed_ms, released_ms, released_by_type, released_by_id, \
                       release_reason";

fn hold_from_row<R>(row: &R) -> Result<LegalHold, StoreError>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let corrupt = || StoreError::Corrupt("a legal hold names a bad id");
    let account: String = row.try_get(1)?;
    let ledger: Option<String> = row.try_get(2)?;
    let released_ms: Option<i64> = row.try_get(12)?;
    let released = match released_ms {
        Some(ms) => Some(Release {
            by: (
                row.try_get::<Option<String>, _>(13)?.unwrap_or_default(),
                row.try_get::<Option<String>, _>(14)?.unwrap_or_default(),
            ),
            ms,
            reason: row.try_get::<Option<String>, _>(15)?.unwrap_or_default(),
        }),
        None => None,
    };
    Ok(LegalHold {
        id: row.try_get(0)?,
        account: AccountId::from_stored(account),
        ledger: ledger.map(LedgerId::new).transpose().map_err(|_| corrupt())?,
        case: row.try_get(3)?,
        reason: row.try_get(4)?,
        scope: HoldScope {
            from_ms: row.try_get(5)?,
            to_ms: row.try_get(6)?,
            actor_id: row.try_get(7)?,
            resource_id: row.try_get(8)?,
        },
        placed_by: (row.try_get(9)?, row.try_get(10)?),
        placed_ms: row.try_get(11)?,
        released,
    })
}

impl Store {
    /// Places a legal hold on `ledger` (or, with `None`, on every ledger of
    /// `account`), with its `legal_hold.placed` system event in the same
    /// transaction.
    pub async fn place_hold(
        &self,
        account: &AccountId,
        ledger: Option<&Ledger>,
        case: &str,
        reason: &str,
        scope: HoldScope,
        origin: &Origin,
    ) -> Result<LegalHold, StoreError> {
        check_text("case", case, MAX_CASE_CHARS)?;
        check_text("reason", reason, MAX_REASON_CHARS)?;
        if ledger.is_some_and(|l| &l.account_id != account) {
            return Err(StoreError::NotFound("ledger"));
        }
        let id = format!("hold_{}", uuid::Uuid::now_v7().simple());
        let event = SystemEvent::HoldPlaced {
            hold: id.clone(),
            ledger: ledger.map(|l| l.id.clone()),
            case: case.to_owned(),
            reason: reason.to_owned(),
            scope: scope.to_map(),
        };
        let staged = self.stage(account, origin, event).await?;
        let (by_type, by_id) = origin.actor().parts();
        let now = now_ms();
        write_tx!(&self.db, |tx, sql| {
            // Orders the hold with any archival of the account in progress
            // (which re-reads the holds under the same lock before it
            // tombstones anything).
            sqlx::query(&format!("SELECT id FROM accounts WHERE id = $1{}", sql.for_update))
                .bind(account.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(ledger) = ledger {
                let deleting: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM ledger_deletions WHERE ledger_id = $1 AND status = 'deleting'",
                )
                .bind(ledger.id.as_str())
                .fetch_one(&mut *tx)
                .await?;
                if deleting > 0 {
                    return Err(StoreError::Conflict(
                        "the ledger is being deleted; nothing of it is left to hold".into(),
                    ));
                }
            }
            let active: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM legal_holds WHERE account_id = $1 AND released_ms IS NULL")
                    .bind(account.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
            if active >= MAX_ACTIVE_PER_ACCOUNT {
                return Err(StoreError::Conflict(format!(
                    "the account has {active} active legal holds, the most it may have; release one first"
                )));
            }
            sqlx::query(
                "INSERT INTO legal_holds (hold_id, account_id, ledger_id, case_name, reason, from_ms, to_ms, actor_id, \
                 resource_id, placed_by_type, placed_by_id, placed_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(&id)
            .bind(account.as_str())
            .bind(ledger.map(|l| l.id.as_str()))
            .bind(case)
            .bind(reason)
            .bind(scope.from_ms)
            .bind(scope.to_ms)
            .bind(scope.actor_id.as_deref())
            .bind(scope.resource_id.as_deref())
            .bind(by_type)
            .bind(by_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            outbox::insert((&mut *tx).into(), &staged).await?;
            tx.commit().await?;
        });
        self.drain_outbox(account).await;
        self.legal_hold(account, &id).await
    }

    /// The hold `id` of `account`.
    pub async fn legal_hold(&self, account: &AccountId, id: &str) -> Result<LegalHold, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM legal_holds WHERE account_id = $1 AND hold_id = $2");
        let hold = on_db!(&self.db.pool, |p| {
            sqlx::query(&sql)
                .bind(account.as_str())
                .bind(id)
                .fetch_optional(p)
                .await?
                .map(|row| hold_from_row(&row))
                .transpose()?
        });
        hold.ok_or(StoreError::NotFound("legal hold"))
    }

    /// Holds of `account` (all, or those applying to one ledger), active
    /// ones first, newest first within each (at most [`MAX_LISTED`]).
    pub async fn legal_holds(
        &self,
        account: &AccountId,
        of: HoldsOf<'_>,
        active_only: bool,
    ) -> Result<Vec<LegalHold>, StoreError> {
        let ledger = match of {
            HoldsOf::Account => None,
            HoldsOf::Ledger(ledger) => Some(ledger.as_str()),
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM legal_holds WHERE account_id = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR ledger_id IS NULL OR ledger_id = $2) \
             AND ($3 = 0 OR released_ms IS NULL) \
             ORDER BY (released_ms IS NULL) DESC, placed_ms DESC, hold_id DESC LIMIT $4"
        );
        Ok(on_db!(&self.db.pool, |p| {
            sqlx::query(&sql)
                .bind(account.as_str())
                .bind(ledger)
                .bind(i64::from(active_only))
                .bind(MAX_LISTED)
                .fetch_all(p)
                .await?
                .iter()
                .map(hold_from_row)
                .collect::<Result<Vec<_>, _>>()?
        }))
    }

    /// Releases the hold `id`, once, with `reason`, with its
    /// `legal_hold.released` system event in the same transaction.
    pub async fn release_hold(
        &self,
        account: &AccountId,
        id: &str,
        reason: &str,
        origin: &Origin,
    ) -> Result<LegalHold, StoreError> {
        check_text("reason", reason, MAX_REASON_CHARS)?;
        let hold = self.legal_hold(account, id).await?;
        if let Some(release) = &hold.released {
            return Err(StoreError::Conflict(format!(
                "legal hold {id} was already released ({})",
                OccurredAt::from_unix_millis(release.ms).map(String::from).unwrap_or_default()
            )));
        }
        let event = SystemEvent::HoldReleased {
            hold: hold.id.clone(),
            ledger: hold.ledger.clone(),
            case: hold.case.clone(),
            reason: reason.to_owned(),
        };
        let staged = self.stage(account, origin, event).await?;
        let (by_type, by_id) = origin.actor().parts();
        let now = now_ms();
        write_tx!(&self.db, |tx| {
            let released = sqlx::query(
                "UPDATE legal_holds SET released_ms = $3, released_by_type = $4, released_by_id = $5, \
                 release_reason = $6 WHERE account_id = $1 AND hold_id = $2 AND released_ms IS NULL",
            )
            .bind(account.as_str())
            .bind(id)
            .bind(now)
            .bind(by_type)
            .bind(by_id)
            .bind(reason)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if released == 0 {
                return Err(StoreError::Conflict(format!("legal hold {id} was released meanwhile")));
            }
            outbox::insert((&mut *tx).into(), &staged).await?;
            tx.commit().await?;
        });
        self.drain_outbox(account).await;
        self.legal_hold(account, id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(actor: &str, resource: &str, at: &str) -> Event {
        let value = json!({
            "id": "0194f1c2-0000-7000-8000-000000000001",
            "actor": {"type": "user", "id": actor},
            "action": "invoice.paid",
            "resource": {"type": "invoice", "id": resource},
            "occurred_at": at,
        });
        serde_json::from_value(value).expect("valid event")
    }

    #[test]
    fn a_scope_covers_what_every_given_field_matches() {
        let old = event("jane", "inv_1", "2025-01-10T00:00:00Z");
        let everything = HoldScope::default();
        assert!(everything.is_everything() && everything.covers(&old));
        let jane = HoldScope::new(None, None, Some("jane".into()), None).expect("scope");
        assert!(jane.covers(&old));
        assert!(!jane.covers(&event("joe", "inv_1", "2025-01-10T00:00:00Z")));
        let january =
            HoldScope::new(Some("2025-01-01T00:00:00Z"), Some("2025-02-01T00:00:00Z"), None, None).expect("scope");
        assert!(january.covers(&old));
        assert!(january.covers(&event("jane", "inv_1", "2025-01-01T00:00:00Z")), "from is included");
        assert!(!january.covers(&event("jane", "inv_1", "2025-02-01T00:00:00Z")), "to is excluded");
        let both = HoldScope::new(Some("2025-01-01T00:00:00Z"), None, Some("jane".into()), Some("inv_2".into()))
            .expect("scope");
        assert!(!both.covers(&old), "every field must match");
        assert!(both.covers(&event("jane", "inv_2", "2026-01-01T00:00:00Z")));
    }

    #[test]
    fn a_scope_refuses_an_empty_range_and_impossible_ids() {
        let error = HoldScope::new(Some("2025-02-01T00:00:00Z"), Some("2025-01-01T00:00:00Z"), None, None)
            .expect_err("empty range");
        assert!(error.to_string().contains("scope.to"), "{error}");
        assert!(HoldScope::new(Some("yesterday"), None, None, None)
            .expect_err("bad time")
            .to_string()
            .contains("scope.from"));
        assert!(HoldScope::new(None, None, Some(String::new()), None).is_err());
        assert!(HoldScope::new(None, None, None, Some("x".repeat(257))).is_err());
        assert!(check_text("case", "  ", MAX_CASE_CHARS).is_err());
        assert!(check_text("case", "a\u{7}", MAX_CASE_CHARS).is_err());
        assert!(check_text("reason", "line one\nline two", MAX_REASON_CHARS).is_ok());
    }
}
