//! The account's own audit trail: AuditStore's events about itself (key
//! lifecycle, sign-ins, user changes...) appended to the system ledger with
//! the same guarantees as any other ledger.

use audit_core::{EventId, EventInput, OccurredAt};
use serde_json::{json, Value};

use crate::{now_ms, AccountId, NewEvent, Store, StoreError};

impl Store {
    /// Appends an event to `account`'s system ledger. `actor` and
    /// `resource` are `(type, id)` pairs in audit-core's id alphabet.
    pub async fn record_system_event(
        &self,
        account: &AccountId,
        (actor_type, actor_id): (&str, &str),
        action: &str,
        (resource_type, resource_id): (&str, &str),
        metadata: Value,
    ) -> Result<(), StoreError> {
        let system = self.system_ledger(account).await?;
        let ledger = self.ledger(account, &system).await?;
        let now = OccurredAt::from_unix_millis(now_ms())
            .map_err(|e| StoreError::Invalid(format!("system event time: {e}")))?;
        let input: EventInput = serde_json::from_value(json!({
            "actor": {"type": actor_type, "id": actor_id},
            "action": action,
            "resource": {"type": resource_type, "id": resource_id},
            "occurred_at": now.as_str(),
            "metadata": metadata,
        }))
        .map_err(|e| StoreError::Invalid(format!("system event: {e}")))?;
        let id = EventId::new(uuid::Uuid::now_v7().to_string())
            .map_err(|e| StoreError::Invalid(format!("system event id: {e}")))?;
        let event = input.into_event(|| id).map_err(|e| StoreError::Invalid(format!("system event: {e}")))?;
        self.append(&ledger, vec![NewEvent { event, client_id: false }]).await?;
        Ok(())
    }
}
