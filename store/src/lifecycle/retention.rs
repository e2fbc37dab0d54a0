//! Retention policies: how long a ledger keeps its events before archival
//! may turn them into tombstones. A ledger without a policy keeps its
//! events forever. The retention clock is the event's `occurred_at` (the
//! time the action happened, not the time it was received).
//!
//! A policy is either unlocked (an admin may change or remove it) or
//! locked: from then on it can only be lengthened, never shortened,
//! unlocked or removed, by anyone. The store refuses such a change with a
//! reason and records the refusal; the database's triggers refuse it on
//! every other path, raw SQL included.

use audit_core::LedgerId;

use crate::db::{on_db, write_tx};
use crate::system::{outbox, SystemEvent};
use crate::{now_ms, Ledger, Origin, Store, StoreError};

/// The longest retention a policy may set: 100 years.
pub const MAX_RETENTION_DAYS: u32 = 36_500;
/// One day in milliseconds: retention counts whole days of 86,400 s.
const DAY_MS: i64 = 86_400_000;

/// A number of days a policy keeps events: 1 to [`MAX_RETENTION_DAYS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RetentionDays(u32);

impl RetentionDays {
    /// Parses a number of days, naming the bound it breaks.
    pub fn new(days: u64) -> Result<Self, StoreError> {
        match u32::try_from(days) {
            Ok(days) if (1..=MAX_RETENTION_DAYS).contains(&days) => Ok(Self(days)),
            _ => Err(StoreError::Invalid(format!("days must be 1 to {MAX_RETENTION_DAYS}, not {days}"))),
        }
    }

    /// The number of days.
    pub fn get(self) -> u32 {
        self.0
    }

    /// The `occurred_at` (Unix ms) before which events are past this
    /// retention at `now_ms`: an event is expired once a whole retention
    /// period has passed since it happened.
    pub fn cutoff_ms(self, now_ms: i64) -> i64 {
        now_ms.saturating_sub(i64::from(self.0) * DAY_MS)
    }
}

/// A ledger's retention policy as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub ledger: LedgerId,
    pub days: RetentionDays,
    pub locked: bool,
    /// Who set it last, as (`type`, `id`) of their system event's actor.
    pub set_by: (String, String),
    pub set_ms: i64,
    /// When it was locked.
    pub locked_ms: Option<i64>,
}

impl RetentionPolicy {
    /// Why changing this policy to `days`/`locked` is refused, if it is: a
    /// locked policy only lengthens.
    fn refusal(&self, days: RetentionDays, locked: bool) -> Option<String> {
        if !self.locked {
            return None;
        }
        if !locked {
            Some(format!("the retention policy is locked at {} days: it can never be unlocked", self.days.get()))
        } else if days < self.days {
            Some(format!(
                "the retention policy is locked at {} days: it can only be lengthened, not shortened to {}",
                self.days.get(),
                days.get()
            ))
        } else {
            None
        }
    }
}

const COLUMNS: &str = "ledger_id, days, locked, set_by_type, set_by_id, set_ms, locked_ms";

fn policy_from_row<R>(row: &R) -> Result<RetentionPolicy, StoreError>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let ledger: String = row.try_get(0)?;
    let days: i64 = row.try_get(1)?;
    let locked: i64 = row.try_get(2)?;
    Ok(RetentionPolicy {
        ledger: LedgerId::new(ledger).map_err(|_| StoreError::Corrupt("a retention policy names a bad ledger id"))?,
        days: u64::try_from(days)
            .ok()
            .and_then(|d| RetentionDays::new(d).ok())
            .ok_or(StoreError::Corrupt("a retention policy's days are out of range"))?,
        locked: locked == 1,
        set_by: (row.try_get(3)?, row.try_get(4)?),
        set_ms: row.try_get(5)?,
        locked_ms: row.try_get(6)?,
    })
}

impl Store {
    /// The retention policy of `ledger`, if it has one.
    pub async fn retention_policy(&self, ledger: &LedgerId) -> Result<Option<RetentionPolicy>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM retention_policies WHERE ledger_id = $1");
        Ok(on_db!(&self.db.pool, |p| {
            sqlx::query(&sql)
                .bind(ledger.as_str())
                .fetch_optional(p)
                .await?
                .map(|row| policy_from_row(&row))
                .transpose()?
        }))
    }

    /// Sets the retention policy of `ledger` to `days`, locked or not, with
    /// its `retention.set` system event in the same transaction. Changing a
    /// locked policy other than by lengthening it is refused (409) and the
    /// refusal recorded as `retention.change_refused`; locking is for good.
    pub async fn set_retention(
        &self,
        ledger: &Ledger,
        days: RetentionDays,
        locked: bool,
        origin: &Origin,
    ) -> Result<RetentionPolicy, StoreError> {
        let previous = self.retention_policy(&ledger.id).await?;
        if let Some(reason) = previous.as_ref().and_then(|p| p.refusal(days, locked)) {
            return Err(self.refuse_retention_change(ledger, days.get(), locked, reason, origin).await);
        }
        let event = SystemEvent::RetentionSet {
            ledger: ledger.id.clone(),
            days: days.get(),
            locked,
            previous: previous.as_ref().map(|p| (p.days.get(), p.locked)),
        };
        let staged = self.stage(&ledger.account_id, origin, event).await?;
        let (by_type, by_id) = origin.actor().parts();
        let now = now_ms();
        let locked_ms = match &previous {
            Some(RetentionPolicy { locked: true, locked_ms, .. }) => *locked_ms,
            _ => locked.then_some(now),
        };
        write_tx!(&self.db, |tx| {
            // Read again under the write lock: the refusal above may have
            // raced with another change.
            let sql = format!("SELECT {COLUMNS} FROM retention_policies WHERE ledger_id = $1");
            let current =
                sqlx::query(&sql).bind(ledger.id.as_str()).fetch_optional(&mut *tx).await?.map(|r| policy_from_row(&r));
            if current.transpose()? != previous {
                return Err(StoreError::Conflict("the retention policy changed meanwhile; read it and retry".into()));
            }
            let locked_flag = i64::from(locked);
            let updated = sqlx::query(
                "UPDATE retention_policies SET days = $2, locked = $3, set_by_type = $4, set_by_id = $5, set_ms = $6, \
                 locked_ms = $7 WHERE ledger_id = $1",
            )
            .bind(ledger.id.as_str())
            .bind(i64::from(days.get()))
            .bind(locked_flag)
            .bind(by_type)
            .bind(by_id)
            .bind(now)
            .bind(locked_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                sqlx::query(
                    "INSERT INTO retention_policies (ledger_id, days, locked, set_by_type, set_by_id, set_ms, locked_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(ledger.id.as_str())
                .bind(i64::from(days.get()))
                .bind(locked_flag)
                .bind(by_type)
                .bind(by_id)
                .bind(now)
                .bind(locked_ms)
                .execute(&mut *tx)
                .await?;
            }
            outbox::insert((&mut *tx).into(), &staged).await?;
            tx.commit().await?;
        });
        self.drain_outbox(&ledger.account_id).await;
        self.retention_policy(&ledger.id).await?.ok_or(StoreError::Corrupt("a retention policy vanished as it was set"))
    }

    /// Removes the retention policy of `ledger` (its events are kept
    /// forever again), with its `retention.removed` system event. A locked
    /// policy is never removed: refused (409) and recorded.
    pub async fn remove_retention(&self, ledger: &Ledger, origin: &Origin) -> Result<(), StoreError> {
        let Some(previous) = self.retention_policy(&ledger.id).await? else {
            return Err(StoreError::NotFound("retention policy"));
        };
        if previous.locked {
            let reason =
                format!("the retention policy is locked at {} days: it can never be removed", previous.days.get());
            return Err(self.refuse_retention_change(ledger, 0, false, reason, origin).await);
        }
        let event = SystemEvent::RetentionRemoved { ledger: ledger.id.clone(), days: previous.days.get() };
        let staged = self.stage(&ledger.account_id, origin, event).await?;
        write_tx!(&self.db, |tx| {
            let removed = sqlx::query("DELETE FROM retention_policies WHERE ledger_id = $1 AND locked = 0")
                .bind(ledger.id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if removed == 0 {
                return Err(StoreError::Conflict("the retention policy changed meanwhile; read it and retry".into()));
            }
            outbox::insert((&mut *tx).into(), &staged).await?;
            tx.commit().await?;
        });
        self.drain_outbox(&ledger.account_id).await;
        Ok(())
    }

    /// Records a refused change of a locked policy and returns the error
    /// the caller gets (409 with the reason). `days` 0 is a removal.
    async fn refuse_retention_change(
        &self,
        ledger: &Ledger,
        days: u32,
        locked: bool,
        reason: String,
        origin: &Origin,
    ) -> StoreError {
        let event = SystemEvent::RetentionChangeRefused {
            ledger: ledger.id.clone(),
            requested_days: (days > 0).then_some(days),
            requested_locked: locked,
            reason: reason.clone(),
        };
        if let Err(error) = self.record_system_event(&ledger.account_id, origin, event).await {
            tracing::error!(ledger = %ledger.id, %error, "a refused retention change could not be recorded");
        }
        StoreError::Conflict(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_bounded_and_the_cutoff_counts_whole_days_back() {
        assert!(RetentionDays::new(0).is_err());
        assert!(RetentionDays::new(u64::from(MAX_RETENTION_DAYS) + 1).is_err());
        assert!(RetentionDays::new(u64::MAX).is_err());
        let days = RetentionDays::new(30).expect("30 days");
        assert_eq!(days.cutoff_ms(31 * DAY_MS), DAY_MS);
        assert_eq!(RetentionDays::new(1).expect("1").cutoff_ms(i64::MIN), i64::MIN);
    }

    #[test]
    fn a_locked_policy_only_lengthens() {
        let policy = |locked| RetentionPolicy {
            ledger: LedgerId::new("ldg_x").expect("id"),
            days: RetentionDays::new(30).expect("days"),
            locked,
            set_by: ("cli".into(), "t".into()),
            set_ms: 0,
            locked_ms: locked.then_some(0),
        };
        let days = |n| RetentionDays::new(n).expect("days");
        assert_eq!(policy(false).refusal(days(1), false), None, "unlocked: anything goes");
        assert_eq!(policy(true).refusal(days(30), true), None);
        assert_eq!(policy(true).refusal(days(31), true), None);
        assert!(policy(true).refusal(days(29), true).expect("shortening").contains("not shortened to 29"));
        assert!(policy(true).refusal(days(90), false).expect("unlocking").contains("never be unlocked"));
    }
}
