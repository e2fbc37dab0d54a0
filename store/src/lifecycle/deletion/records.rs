//! The `ledger_deletions` table: one row per requested deletion, kept for
//! good once the ledger is gone.

use audit_core::LedgerId;

use crate::db::{from_i64, on_db};
use crate::{AccountId, Store, StoreError};

/// Where a deletion is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletionStatus {
    /// Waiting for its time; appends are refused; it can be cancelled.
    Scheduled,
    /// Cancelled within the grace period.
    Cancelled,
    /// Under way: keys destroyed or being destroyed, rows being deleted.
    Deleting,
    /// Done: the ledger is gone.
    Deleted,
}

impl DeletionStatus {
    /// The status as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            DeletionStatus::Scheduled => "scheduled",
            DeletionStatus::Cancelled => "cancelled",
            DeletionStatus::Deleting => "deleting",
            DeletionStatus::Deleted => "deleted",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "scheduled" => DeletionStatus::Scheduled,
            "cancelled" => DeletionStatus::Cancelled,
            "deleting" => DeletionStatus::Deleting,
            "deleted" => DeletionStatus::Deleted,
            _ => return Err(StoreError::Corrupt("a ledger deletion has an unknown status")),
        })
    }
}

/// A ledger deletion as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerDeletion {
    pub id: String,
    pub ledger: LedgerId,
    pub account: AccountId,
    /// The ledger's name (kept after the ledger is gone).
    pub name: String,
    pub status: DeletionStatus,
    /// Who asked, as (`type`, `id`) of their system event's actor.
    pub requested_by: (String, String),
    pub requested_ms: i64,
    pub delete_at_ms: i64,
    pub cancelled_by: Option<(String, String)>,
    pub cancelled_ms: Option<i64>,
    /// The ledger's last signed checkpoint when its deletion began, its size
    /// and root (hex).
    pub final_checkpoint: Option<String>,
    pub final_tree_size: Option<u64>,
    pub final_root: Option<String>,
    pub started_ms: Option<i64>,
    pub deleted_ms: Option<i64>,
    /// The holds that refused it at its time, last.
    pub refused_by: Option<Vec<String>>,
    /// The account's system ledger, deleted with its account (no system
    /// ledger is left to record it in: its final checkpoint stays here).
    pub with_account: bool,
}

pub(super) const COLUMNS: &str = "deletion_id, ledger_id, account_id, name, status, requested_by_type, \
                                  requested_by_id, requested_ms, delete_at_ms, cancelled_by_type, cancelled_by_id, \
                                  cancelled_ms, final_checkpoint, final_tree_size, final_root, started_ms, deleted_ms, \
                                  refused_by, with_account";

pub(super) fn deletion_from_row<R>(row: &R) -> Result<LedgerDeletion, StoreError>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let ledger: String = row.try_get(1)?;
    let status: String = row.try_get(4)?;
    let cancelled_by: (Option<String>, Option<String>) = (row.try_get(9)?, row.try_get(10)?);
    let refused_by: Option<String> = row.try_get(17)?;
    Ok(LedgerDeletion {
        id: row.try_get(0)?,
        ledger: LedgerId::new(ledger).map_err(|_| StoreError::Corrupt("a ledger deletion names a bad ledger id"))?,
        account: AccountId::from_stored(row.try_get(2)?),
        name: row.try_get(3)?,
        status: DeletionStatus::parse(&status)?,
        requested_by: (row.try_get(5)?, row.try_get(6)?),
        requested_ms: row.try_get(7)?,
        delete_at_ms: row.try_get(8)?,
        cancelled_by: match cancelled_by {
            (Some(kind), Some(id)) => Some((kind, id)),
            _ => None,
        },
        cancelled_ms: row.try_get(11)?,
        final_checkpoint: row.try_get(12)?,
        final_tree_size: row.try_get::<Option<i64>, _>(13)?.map(from_i64).transpose()?,
        final_root: row.try_get(14)?,
        started_ms: row.try_get(15)?,
        deleted_ms: row.try_get(16)?,
        refused_by: refused_by
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|_| StoreError::Corrupt("a ledger deletion's refusing holds do not parse"))?,
        with_account: row.try_get::<i64, _>(18)? == 1,
    })
}

impl Store {
    /// The deletion `id`.
    pub async fn ledger_deletion(&self, id: &str) -> Result<LedgerDeletion, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM ledger_deletions WHERE deletion_id = $1");
        let found = on_db!(&self.db.pool, |p| {
            sqlx::query(&sql).bind(id).fetch_optional(p).await?.map(|row| deletion_from_row(&row)).transpose()?
        });
        found.ok_or(StoreError::NotFound("ledger deletion"))
    }

    /// The scheduled or running deletion of `ledger`, if any.
    pub async fn open_deletion(&self, ledger: &LedgerId) -> Result<Option<LedgerDeletion>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM ledger_deletions WHERE ledger_id = $1 AND status IN ('scheduled', 'deleting')"
        );
        Ok(on_db!(&self.db.pool, |p| {
            sqlx::query(&sql)
                .bind(ledger.as_str())
                .fetch_optional(p)
                .await?
                .map(|row| deletion_from_row(&row))
                .transpose()?
        }))
    }

    /// Every deletion of `account`'s ledgers, newest first (the last 1,000):
    /// scheduled, cancelled, under way and done.
    pub async fn ledger_deletions(&self, account: &AccountId) -> Result<Vec<LedgerDeletion>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM ledger_deletions WHERE account_id = $1 ORDER BY requested_ms DESC, deletion_id DESC \
             LIMIT 1000"
        );
        Ok(on_db!(&self.db.pool, |p| {
            sqlx::query(&sql)
                .bind(account.as_str())
                .fetch_all(p)
                .await?
                .iter()
                .map(deletion_from_row)
                .collect::<Result<Vec<_>, _>>()?
        }))
    }
}
