//! Accounts and their ledgers.

use audit_core::LedgerId;
use sqlx::Row as _;

use crate::db::{on_db, write_tx};
use crate::system::{self, Staged};
use crate::{now_ms, Origin, Store, StoreError, SystemEvent};

/// A new ledger id: `ldg_` and a UUIDv7 in hex.
fn new_ledger_id() -> Result<LedgerId, StoreError> {
    LedgerId::new(format!("ldg_{}", uuid::Uuid::now_v7().simple()))
        .map_err(|_| StoreError::Corrupt("generated ledger id invalid"))
}

/// An account's id: `acc_` and a UUIDv7 in hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct AccountId(String);

impl AccountId {
    fn generate() -> Self {
        Self(format!("acc_{}", uuid::Uuid::now_v7().simple()))
    }

    pub(crate) fn from_stored(id: String) -> Self {
        Self(id)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A customer account.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub created_ms: i64,
    /// The account's own audit trail (key lifecycle, sign-ins, ...).
    pub system_ledger: LedgerId,
}

/// What a ledger is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LedgerKind {
    /// Events sent by the customer's applications.
    User,
    /// The account's own audit trail, written only by AuditStore.
    System,
}

impl LedgerKind {
    fn as_str(self) -> &'static str {
        match self {
            LedgerKind::User => "user",
            LedgerKind::System => "system",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "user" => Ok(LedgerKind::User),
            "system" => Ok(LedgerKind::System),
            _ => Err(StoreError::Corrupt("unknown ledger kind")),
        }
    }
}

/// A ledger and its current size.
#[derive(Debug, Clone)]
pub struct Ledger {
    pub id: LedgerId,
    pub account_id: AccountId,
    pub name: String,
    pub kind: LedgerKind,
    /// The checkpoint origin, `<host>/ledgers/<id>`.
    pub origin: String,
    pub created_ms: i64,
    pub tree_size: u64,
    /// How many events the filter index covers (it trails `tree_size`).
    pub indexed_size: u64,
    /// When its scheduled deletion is due (Unix ms): appends are refused
    /// from the moment it is scheduled.
    pub delete_at_ms: Option<i64>,
}

/// The name of every account's system ledger.
pub const SYSTEM_LEDGER_NAME: &str = "system";

const MAX_NAME_LEN: usize = 128;

fn check_name(what: &'static str, name: &str) -> Result<(), StoreError> {
    if name.trim().is_empty() || name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!(
            "{what} must be 1 to {MAX_NAME_LEN} characters without control characters"
        )));
    }
    Ok(())
}

impl Store {
    /// Returns the account called `name`, creating it (with its system
    /// ledger) when it does not exist. Idempotent per name.
    pub async fn ensure_account(&self, name: &str) -> Result<(Account, bool), StoreError> {
        check_name("account name", name)?;
        if let Some(account) = self.account_by_name(name).await? {
            return Ok((account, false));
        }
        // The account and its system ledger are created in one transaction:
        // an account never exists without its audit trail.
        let id = AccountId::generate();
        let ledger = new_ledger_id()?;
        let created = self.insert_ledger(&id, ledger, SYSTEM_LEDGER_NAME, LedgerKind::System, Some(name), None).await?;
        let account = self.account_by_name(name).await?.ok_or(StoreError::NotFound("account"))?;
        Ok((account, created.is_some()))
    }

    /// The account called `name`, if any.
    pub async fn account_by_name(&self, name: &str) -> Result<Option<Account>, StoreError> {
        let row = on_db!(&self.db.pool, |p| {
            sqlx::query(
                "SELECT a.id, a.name, a.created_ms, l.id FROM accounts a \
                 LEFT JOIN ledgers l ON l.account_id = a.id AND l.kind = 'system' WHERE a.name = $1",
            )
            .bind(name)
            .fetch_optional(p)
            .await?
            .map(|row| -> Result<_, sqlx::Error> {
                Ok((
                    row.try_get::<String, _>(0)?,
                    row.try_get::<String, _>(1)?,
                    row.try_get::<i64, _>(2)?,
                    row.try_get::<Option<String>, _>(3)?,
                ))
            })
            .transpose()?
        });
        let Some((id, name, created_ms, system)) = row else { return Ok(None) };
        let system = system.ok_or(StoreError::Corrupt("account without a system ledger"))?;
        Ok(Some(Account {
            id: AccountId(id),
            name,
            created_ms,
            system_ledger: LedgerId::new(system).map_err(|_| StoreError::Corrupt("invalid ledger id"))?,
        }))
    }

    /// An account by id.
    pub async fn account(&self, id: &AccountId) -> Result<Account, StoreError> {
        let name: Option<String> = on_db!(&self.db.pool, |p| {
            sqlx::query_scalar("SELECT name FROM accounts WHERE id = $1").bind(id.as_str()).fetch_optional(p).await?
        });
        let name = name.ok_or(StoreError::NotFound("account"))?;
        self.account_by_name(&name).await?.ok_or(StoreError::NotFound("account"))
    }

    /// The system ledger of an account.
    pub async fn system_ledger(&self, account: &AccountId) -> Result<LedgerId, StoreError> {
        let id: Option<String> = on_db!(&self.db.pool, |p| {
            sqlx::query_scalar("SELECT id FROM ledgers WHERE account_id = $1 AND kind = 'system'")
                .bind(account.as_str())
                .fetch_optional(p)
                .await?
        });
        let id = id.ok_or(StoreError::NotFound("system ledger"))?;
        LedgerId::new(id).map_err(|_| StoreError::Corrupt("invalid ledger id"))
    }

    /// Creates a ledger for an account; names are unique per account. The
    /// creation is recorded in the account's system ledger.
    pub async fn create_ledger(&self, account: &AccountId, name: &str, origin: &Origin) -> Result<Ledger, StoreError> {
        check_name("ledger name", name)?;
        let id = new_ledger_id()?;
        let event = self
            .stage(account, origin, SystemEvent::LedgerCreated { ledger: id.clone(), name: name.to_owned() })
            .await?;
        let ledger = self
            .insert_ledger(account, id, name, LedgerKind::User, None, Some(&event))
            .await?
            .ok_or(StoreError::NotFound("account"))?;
        self.drain_outbox(account).await;
        Ok(ledger)
    }

    /// Inserts a ledger and its head, and the outbox row of `event`. With
    /// `new_account`, first inserts the account `account` under that name in
    /// the same transaction, and returns `None` (inserting nothing) when that
    /// name is taken.
    async fn insert_ledger(
        &self,
        account: &AccountId,
        id: LedgerId,
        name: &str,
        kind: LedgerKind,
        new_account: Option<&str>,
        event: Option<&Staged>,
    ) -> Result<Option<Ledger>, StoreError> {
        let origin = audit_core::ledger_origin(self.ingest.origin_host(), &id);
        let created_ms = now_ms();
        let genesis = audit_core::genesis(&id);
        let empty_root = audit_core::hash::empty_root();
        let inserted = write_tx!(&self.db, |tx| {
            let fresh =
                match new_account {
                    None => true,
                    Some(account_name) => sqlx::query(
                        "INSERT INTO accounts (id, name, created_ms) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
                    )
                    .bind(account.as_str())
                    .bind(account_name)
                    .bind(created_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1,
                };
            if fresh {
                sqlx::query(
                    "INSERT INTO ledgers (id, account_id, name, kind, origin, created_ms) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id.as_str())
                .bind(account.as_str())
                .bind(name)
                .bind(kind.as_str())
                .bind(&origin)
                .bind(created_ms)
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::conflict_on_unique(e, || format!("a ledger named {name:?} already exists")))?;
                sqlx::query(
                    "INSERT INTO ledger_heads (ledger_id, tree_size, chain_hash, root_hash) VALUES ($1, 0, $2, $3)",
                )
                .bind(id.as_str())
                .bind(genesis.as_bytes().as_slice())
                .bind(empty_root.as_bytes().as_slice())
                .execute(&mut *tx)
                .await?;
                sqlx::query("INSERT INTO index_progress (ledger_id, indexed_size) VALUES ($1, 0)")
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?;
                if let Some(event) = event {
                    system::outbox::insert((&mut *tx).into(), event).await?;
                }
                tx.commit().await?;
            }
            fresh
        });
        Ok(inserted.then(|| Ledger {
            id,
            account_id: account.clone(),
            name: name.to_owned(),
            kind,
            origin,
            created_ms,
            tree_size: 0,
            indexed_size: 0,
            delete_at_ms: None,
        }))
    }

    /// The ledgers of an account, oldest first.
    pub async fn list_ledgers(&self, account: &AccountId) -> Result<Vec<Ledger>, StoreError> {
        let rows = on_db!(&self.db.pool, |p| {
            sqlx::query(
                "SELECT l.id, l.name, l.kind, l.origin, l.created_ms, h.tree_size, p.indexed_size, l.delete_at_ms FROM ledgers l \
                 JOIN ledger_heads h ON h.ledger_id = l.id JOIN index_progress p ON p.ledger_id = l.id \
                 WHERE l.account_id = $1 ORDER BY l.created_ms, l.id",
            )
            .bind(account.as_str())
            .fetch_all(p)
            .await?
            .into_iter()
            .map(|row| ledger_from_row(account, &row))
            .collect::<Result<Vec<_>, _>>()?
        });
        Ok(rows)
    }

    /// Every account's id, oldest first (for instance-wide operations that
    /// record themselves in each system ledger).
    pub async fn list_accounts(&self) -> Result<Vec<AccountId>, StoreError> {
        let ids: Vec<String> = on_db!(&self.db.pool, |p| {
            sqlx::query_scalar("SELECT id FROM accounts ORDER BY created_ms, id").fetch_all(p).await?
        });
        Ok(ids.into_iter().map(AccountId).collect())
    }

    /// The account a ledger belongs to (for operator commands that name a
    /// ledger only).
    pub async fn ledger_account(&self, id: &LedgerId) -> Result<AccountId, StoreError> {
        let account: Option<String> = on_db!(&self.db.pool, |p| {
            sqlx::query_scalar("SELECT account_id FROM ledgers WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(p)
                .await?
        });
        account.map(AccountId).ok_or(StoreError::NotFound("ledger"))
    }

    /// One ledger of an account; [`StoreError::NotFound`] when it does not
    /// exist or belongs to another account (callers must not learn which).
    pub async fn ledger(&self, account: &AccountId, id: &LedgerId) -> Result<Ledger, StoreError> {
        let ledger = on_db!(&self.db.pool, |p| {
            sqlx::query(
                "SELECT l.id, l.name, l.kind, l.origin, l.created_ms, h.tree_size, p.indexed_size, l.delete_at_ms FROM ledgers l \
                 JOIN ledger_heads h ON h.ledger_id = l.id JOIN index_progress p ON p.ledger_id = l.id \
                 WHERE l.account_id = $1 AND l.id = $2",
            )
            .bind(account.as_str())
            .bind(id.as_str())
            .fetch_optional(p)
            .await?
            .map(|row| ledger_from_row(account, &row))
            .transpose()?
        });
        ledger.ok_or(StoreError::NotFound("ledger"))
    }
}

fn ledger_from_row<R>(account: &AccountId, row: &R) -> Result<Ledger, StoreError>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let id: String = row.try_get(0)?;
    let kind: String = row.try_get(2)?;
    Ok(Ledger {
        id: LedgerId::new(id).map_err(|_| StoreError::Corrupt("invalid ledger id"))?,
        account_id: account.clone(),
        name: row.try_get(1)?,
        kind: LedgerKind::parse(&kind)?,
        origin: row.try_get(3)?,
        created_ms: row.try_get(4)?,
        tree_size: crate::db::from_i64(row.try_get(5)?)?,
        indexed_size: crate::db::from_i64(row.try_get(6)?)?,
        delete_at_ms: row.try_get(7)?,
    })
}
