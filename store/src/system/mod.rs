//! The account's own audit trail: AuditStore's events about itself (key
//! lifecycle, ledgers, sign-ins, user changes...) in the account's system
//! ledger, with the same guarantees as any other ledger.
//!
//! A store method that makes a change writes the change and an outbox row
//! for its [`SystemEvent`] in the same transaction, so no change can commit
//! unrecorded. The system ledger's writer appends what the outbox holds
//! inside its own commit transaction, deleting the rows it appended there
//! too, in the order they committed; the event id was chosen when the row
//! was written, so even a drain that ran twice would be answered as a retry,
//! never appended twice. The store drains an account's outbox right after
//! each change (so its system log reads what just happened); whatever a
//! crash left behind is drained by the next `drain_outboxes` (a background
//! job) or the account's next change.

pub(crate) mod outbox;
mod vocabulary;

use std::net::IpAddr;

use audit_core::EventId;

pub use vocabulary::SystemEvent;

use crate::{now_ms, AccountId, ApiKeyId, Store, StoreError, UserId};

/// Who made a change, as the actor of its system event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A dashboard user.
    User(UserId),
    /// An API key (its id, never its secret).
    ApiKey(ApiKeyId),
    /// An operator at the command line, by subcommand (`rotate-kek`).
    Cli(&'static str),
    /// One of AuditStore's background jobs (`key-rotation`).
    Job(&'static str),
    /// Someone not signed in, by the form they used (`sign-in-form`).
    Anonymous(&'static str),
}

impl Actor {
    /// The event's `actor` as (`type`, `id`).
    pub fn parts(&self) -> (&'static str, &str) {
        match self {
            Actor::User(id) => ("user", id.as_str()),
            Actor::ApiKey(id) => ("api_key", id.as_str()),
            Actor::Cli(command) => ("cli", command),
            Actor::Job(job) => ("system", job),
            Actor::Anonymous(form) => ("anonymous", form),
        }
    }
}

/// Who made a change and from where: the actor and, for requests, the
/// client address (recorded as `client_ip` in the event's metadata).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    actor: Actor,
    client_ip: Option<IpAddr>,
}

impl Origin {
    /// A change made by `actor`.
    pub fn new(actor: Actor) -> Self {
        Self { actor, client_ip: None }
    }

    /// The same origin, from the client address `ip` (if known).
    pub fn from_address(mut self, ip: Option<IpAddr>) -> Self {
        self.client_ip = ip;
        self
    }

    /// The actor of the change.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
}

/// A system event ready for the outbox: its account, the id it will have
/// in the system ledger, and its content sealed.
#[derive(Debug, Clone)]
pub(crate) struct Staged {
    pub(crate) account: AccountId,
    pub(crate) event_id: String,
    pub(crate) sealed: Vec<u8>,
    pub(crate) created_ms: i64,
    /// The webhook messages the action announces (written with it).
    pub(crate) webhooks: Vec<crate::webhooks::StagedMessage>,
}

impl Store {
    /// Prepares the system event of a change for its transaction: the
    /// normalised event (now, a new UUIDv7 id) sealed for the outbox.
    pub(crate) async fn stage(
        &self,
        account: &AccountId,
        origin: &Origin,
        event: SystemEvent,
    ) -> Result<Staged, StoreError> {
        let sealer = self.keys.outbox_box().await?;
        let created_ms = now_ms();
        let id = EventId::new(uuid::Uuid::now_v7().to_string())
            .map_err(|e| StoreError::Invalid(format!("system event id: {e}")))?;
        let announced = crate::webhooks::types_of(&event);
        let event = event.into_event(id, origin, created_ms)?;
        let webhooks = if announced.is_empty() {
            Vec::new()
        } else {
            crate::webhooks::stage(announced, account, &event, &*self.keys.webhook_box().await?)?
        };
        let content = serde_json::to_vec(&event).map_err(|_| StoreError::Corrupt("system event does not serialise"))?;
        let event_id = event.id().as_str().to_owned();
        let sealed = sealer.seal(&outbox::aad(account, &event_id), &content)?;
        Ok(Staged { account: account.clone(), event_id, sealed, created_ms, webhooks })
    }

    /// Appends what `account`'s outbox holds to its system ledger. Called
    /// after a change committed: a failure is logged, not returned (the
    /// change and its outbox row are committed; a later drain appends it).
    pub(crate) async fn drain_outbox(&self, account: &AccountId) {
        #[cfg(feature = "testing")]
        if self.ingest.outbox_paused.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        if let Err(error) = self.try_drain_outbox(account).await {
            tracing::error!(%account, %error, "system events stay in the outbox until the next drain");
        }
    }

    async fn try_drain_outbox(&self, account: &AccountId) -> Result<(), StoreError> {
        let system = self.system_ledger(account).await?;
        let ledger = self.ledger(account, &system).await?;
        self.submit(&ledger, Vec::new()).await?;
        Ok(())
    }

    /// Appends every account's pending system events (the background job
    /// that finishes what a crash between a change and its drain left).
    /// Returns how many accounts had any.
    /// One account's trouble does not keep the others' events out.
    pub async fn drain_outboxes(&self) -> Result<usize, StoreError> {
        let accounts = outbox::pending_accounts(&self.db).await?;
        let mut failure = None;
        for account in &accounts {
            if let Err(error) = self.try_drain_outbox(account).await {
                tracing::error!(%account, %error, "this account's system events stay in the outbox; the others go on");
                failure = Some(error);
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(accounts.len()),
        }
    }

    /// Records `event` on its own, for actions that change nothing else in
    /// the database (a refused sign-in, an export download): the outbox row
    /// is the whole change.
    pub async fn record_system_event(
        &self,
        account: &AccountId,
        origin: &Origin,
        event: SystemEvent,
    ) -> Result<(), StoreError> {
        let staged = self.stage(account, origin, event).await?;
        // A write transaction of its own (the writer turn on SQLite, like
        // every other write).
        crate::db::write_tx!(&self.db, |tx| {
            outbox::insert((&mut *tx).into(), &staged).await?;
            tx.commit().await?;
        });
        self.drain_outbox(account).await;
        Ok(())
    }
}
