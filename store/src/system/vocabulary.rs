//! The vocabulary of platform actions: one variant per action, with typed
//! fields, one `action` name each. Every path that makes a change (/v1, the
//! dashboard, the CLI, background jobs) records it through the store with
//! one of these, so the same action always reads the same in the system
//! ledger. The names and metadata keys are a public contract (customers'
//! SIEM rules match on them): extend, never rename.

use audit_core::{Action, Event, EventId, Metadata, OccurredAt, Resource};
use serde_json::{json, Map, Value};

use super::Origin;
use crate::monitor::AnomalyKind;
use crate::{
    AccountId, ApiKey, ApiKeyId, KeyScope, Role, RotationReason, SecondFactor, SignInFailure, StoreError, UserId,
};
use audit_core::LedgerId;

/// A change AuditStore records in an account's system ledger.
#[derive(Debug, Clone)]
pub enum SystemEvent {
    /// `ledger.created`
    LedgerCreated { ledger: LedgerId, name: String },
    /// `ledger_key.rotated`: a new data key for the ledger's new events.
    LedgerKeyRotated { ledger: LedgerId, key_version: u32, reason: RotationReason },
    /// `kek.rotated`: every wrapped key of the instance re-wrapped.
    KekRotated { provider: String, kek_id: String, ledger_keys_rewrapped: u64 },
    /// `api_key.created`
    ApiKeyCreated { key: ApiKey },
    /// `api_key.rotated`: `key` replaces `replaces`, revoked with it.
    ApiKeyRotated { key: ApiKey, replaces: ApiKeyId },
    /// `api_key.revoked`
    ApiKeyRevoked { key: ApiKey },
    /// `user.created`: the first owner, through the setup link.
    UserCreated { user: UserId, email: String, role: Role },
    /// `user.invited`
    UserInvited { email: String, role: Role },
    /// `invite.accepted`: the invited user exists now.
    InviteAccepted { user: UserId, email: String, role: Role },
    /// `user.mfa_enrolled`
    MfaEnrolled { user: UserId, recovery_codes: usize },
    /// `user.enrolment_resumed`: the right password of a user who never
    /// finished enrolment.
    EnrolmentResumed { user: UserId, email: String },
    /// `user.signed_in`; `factor` is `None` right after enrolment.
    SignedIn { user: UserId, email: String, factor: Option<SecondFactor> },
    /// `user.sign_in_failed`: the first failure since the user's last
    /// success or lock (the ones after it are counted in `user.locked`).
    SignInFailed { user: UserId, email: String, reason: SignInFailure },
    /// `user.locked`: `failures` failures in a row locked the user until
    /// `until_ms`.
    UserLocked { user: UserId, email: String, failures: i64, until_ms: i64 },
    /// `user.signed_out_everywhere`
    SignedOutEverywhere { user: UserId },
    /// `user.role_changed`
    RoleChanged { user: UserId, email: String, from: Role, to: Role },
    /// `user.removed`
    UserRemoved { user: UserId, email: String, role: Role },
    /// `export.started`: an export of seqs `[start, end)` (proven at
    /// `tree_size`, filtered by `filter` if given) was requested; the job
    /// writes it.
    ExportStarted {
        ledger: LedgerId,
        export: String,
        format: &'static str,
        start: u64,
        end: u64,
        tree_size: u64,
        filter: Option<Map<String, Value>>,
    },
    /// `export.failed`: an export was given up.
    ExportFailed { ledger: LedgerId, export: String, reason: String },
    /// `export.downloaded`: an export file was handed out.
    ExportDownloaded { ledger: LedgerId, export: String, sha256: String, bytes: u64 },
    /// `export.completed`: an export file of seqs `[start, end)` was written
    /// and its SHA-256 read back.
    ExportCompleted {
        ledger: LedgerId,
        export: String,
        format: &'static str,
        start: u64,
        end: u64,
        events: u64,
        sha256: String,
    },
    /// `retention.set`: the ledger keeps events `days` after their
    /// `occurred_at`; `previous` is the policy it replaces, if any.
    RetentionSet { ledger: LedgerId, days: u32, locked: bool, previous: Option<(u32, bool)> },
    /// `retention.removed`: an unlocked policy of `days` was removed; the
    /// ledger keeps its events forever again.
    RetentionRemoved { ledger: LedgerId, days: u32 },
    /// `retention.change_refused`: a change of a locked policy was refused
    /// (`requested_days` is `None` for a removal).
    RetentionChangeRefused { ledger: LedgerId, requested_days: Option<u32>, requested_locked: bool, reason: String },
    /// `legal_hold.placed`: on one ledger, or (`ledger` `None`) on every
    /// ledger of the account.
    HoldPlaced { hold: String, ledger: Option<LedgerId>, case: String, reason: String, scope: Map<String, Value> },
    /// `legal_hold.released`
    HoldReleased { hold: String, ledger: Option<LedgerId>, case: String, reason: String },
    /// `retention.archived`: the events of `runs` (seqs `[start, end)`
    /// each), within `[start, end)`, were written to the archive file at
    /// `location` and turned into tombstones.
    Archived {
        ledger: LedgerId,
        archival: String,
        start: u64,
        end: u64,
        events: u64,
        runs: Vec<(u64, u64)>,
        sha256: String,
        location: String,
        policy_days: u32,
        cutoff_ms: i64,
    },
    /// `ledger.deletion_scheduled`: the ledger will be deleted at
    /// `delete_at_ms` unless cancelled (or held) by then.
    LedgerDeletionScheduled { ledger: LedgerId, name: String, deletion: String, delete_at_ms: i64 },
    /// `ledger.deletion_cancelled`
    LedgerDeletionCancelled { ledger: LedgerId, name: String, deletion: String },
    /// `ledger.deletion_refused`: active legal holds keep the ledger.
    LedgerDeletionRefused { ledger: LedgerId, name: String, holds: Vec<String> },
    /// `ledger.deleted`: the ledger's keys were destroyed and its rows
    /// deleted; its final checkpoint is kept here.
    LedgerDeleted {
        ledger: LedgerId,
        name: String,
        deletion: String,
        final_tree_size: u64,
        final_root: String,
        final_checkpoint: String,
    },
    /// `account.deletion_refused`: active legal holds keep the account.
    AccountDeletionRefused { account: AccountId, holds: Vec<String> },
    /// `archive.downloaded`: an archive file was handed out.
    ArchiveDownloaded { ledger: LedgerId, archival: String, sha256: String, bytes: u64 },
    /// `retention.held`: a run left `events` expired events in place
    /// because the active `holds` cover them.
    RetentionHeld { ledger: LedgerId, events: u64, holds: Vec<String>, cutoff_ms: i64 },
    /// `integrity.anomaly`: the tamper monitor found `kind` over seqs
    /// `first_seq..=last_seq` of the ledger.
    IntegrityAnomaly {
        ledger: LedgerId,
        anomaly: String,
        kind: AnomalyKind,
        first_seq: u64,
        last_seq: u64,
        detail: String,
    },
    /// `integrity.acknowledged`: an owner acknowledged an anomaly (it stays recorded).
    AnomalyAcknowledged { ledger: LedgerId, anomaly: String },
    /// `monitor.disabled`: a node started without the tamper monitor.
    MonitorDisabled,
    /// `monitor.stopped`: a node that ran the tamper monitor stopped.
    MonitorStopped,
    /// `integrity.stale`: the ledger was last verified at
    /// `last_verified_ms` (never: `None`), more than `limit_ms` before
    /// `since_ms` + `limit_ms`; reported once per episode.
    IntegrityStale { ledger: LedgerId, last_verified_ms: Option<i64>, since_ms: i64, limit_ms: i64 },
    /// `webhook.created`
    WebhookCreated { webhook: String, url: String, events: Vec<&'static str> },
    /// `webhook.secret_rotated`
    WebhookSecretRotated { webhook: String, url: String },
    /// `webhook.deleted`
    WebhookDeleted { webhook: String, url: String },
    /// `webhook.disabled`: every attempt since `failing_since_ms` failed.
    WebhookDisabled { webhook: String, url: String, failing_since_ms: i64, reason: String },
    /// `webhook.enabled`: a disabled endpoint enabled again.
    WebhookEnabled { webhook: String, url: String },
}

impl SystemEvent {
    /// The event's `action`.
    pub fn action(&self) -> &'static str {
        match self {
            SystemEvent::LedgerCreated { .. } => "ledger.created",
            SystemEvent::LedgerKeyRotated { .. } => "ledger_key.rotated",
            SystemEvent::KekRotated { .. } => "kek.rotated",
            SystemEvent::ApiKeyCreated { .. } => "api_key.created",
            SystemEvent::ApiKeyRotated { .. } => "api_key.rotated",
            SystemEvent::ApiKeyRevoked { .. } => "api_key.revoked",
            SystemEvent::UserCreated { .. } => "user.created",
            SystemEvent::UserInvited { .. } => "user.invited",
            SystemEvent::InviteAccepted { .. } => "invite.accepted",
            SystemEvent::MfaEnrolled { .. } => "user.mfa_enrolled",
            SystemEvent::EnrolmentResumed { .. } => "user.enrolment_resumed",
            SystemEvent::SignedIn { .. } => "user.signed_in",
            SystemEvent::SignInFailed { .. } => "user.sign_in_failed",
            SystemEvent::UserLocked { .. } => "user.locked",
            SystemEvent::SignedOutEverywhere { .. } => "user.signed_out_everywhere",
            SystemEvent::RoleChanged { .. } => "user.role_changed",
            SystemEvent::UserRemoved { .. } => "user.removed",
            SystemEvent::ExportStarted { .. } => "export.started",
            SystemEvent::ExportFailed { .. } => "export.failed",
            SystemEvent::ExportDownloaded { .. } => "export.downloaded",
            SystemEvent::ExportCompleted { .. } => "export.completed",
            SystemEvent::RetentionSet { .. } => "retention.set",
            SystemEvent::RetentionRemoved { .. } => "retention.removed",
            SystemEvent::RetentionChangeRefused { .. } => "retention.change_refused",
            SystemEvent::HoldPlaced { .. } => "legal_hold.placed",
            SystemEvent::HoldReleased { .. } => "legal_hold.released",
            SystemEvent::Archived { .. } => "retention.archived",
            SystemEvent::RetentionHeld { .. } => "retention.held",
            SystemEvent::ArchiveDownloaded { .. } => "archive.downloaded",
            SystemEvent::LedgerDeletionScheduled { .. } => "ledger.deletion_scheduled",
            SystemEvent::LedgerDeletionCancelled { .. } => "ledger.deletion_cancelled",
            SystemEvent::LedgerDeletionRefused { .. } => "ledger.deletion_refused",
            SystemEvent::LedgerDeleted { .. } => "ledger.deleted",
            SystemEvent::AccountDeletionRefused { .. } => "account.deletion_refused",
            SystemEvent::IntegrityAnomaly { .. } => "integrity.anomaly",
            SystemEvent::AnomalyAcknowledged { .. } => "integrity.acknowledged",
            SystemEvent::MonitorDisabled => "monitor.disabled",
            SystemEvent::MonitorStopped => "monitor.stopped",
            SystemEvent::IntegrityStale { .. } => "integrity.stale",
            SystemEvent::WebhookCreated { .. } => "webhook.created",
            SystemEvent::WebhookSecretRotated { .. } => "webhook.secret_rotated",
            SystemEvent::WebhookDeleted { .. } => "webhook.deleted",
            SystemEvent::WebhookDisabled { .. } => "webhook.disabled",
            SystemEvent::WebhookEnabled { .. } => "webhook.enabled",
        }
    }

    /// The event's `resource` as (`type`, `id`).
    fn resource(&self) -> (&'static str, String) {
        match self {
            SystemEvent::LedgerCreated { ledger, .. }
            | SystemEvent::LedgerKeyRotated { ledger, .. }
            | SystemEvent::LedgerDeletionScheduled { ledger, .. }
            | SystemEvent::LedgerDeletionCancelled { ledger, .. }
            | SystemEvent::LedgerDeletionRefused { ledger, .. }
            | SystemEvent::LedgerDeleted { ledger, .. } => ("ledger", ledger.as_str().to_owned()),
            SystemEvent::KekRotated { provider, .. } => ("key_provider", provider.clone()),
            SystemEvent::AccountDeletionRefused { account, .. } => ("account", account.as_str().to_owned()),
            SystemEvent::ApiKeyCreated { key }
            | SystemEvent::ApiKeyRotated { key, .. }
            | SystemEvent::ApiKeyRevoked { key } => ("api_key", key.id.as_str().to_owned()),
            SystemEvent::UserInvited { .. } => ("user_invite", "pending".to_owned()),
            SystemEvent::UserCreated { user, .. }
            | SystemEvent::InviteAccepted { user, .. }
            | SystemEvent::MfaEnrolled { user, .. }
            | SystemEvent::EnrolmentResumed { user, .. }
            | SystemEvent::SignedIn { user, .. }
            | SystemEvent::SignInFailed { user, .. }
            | SystemEvent::UserLocked { user, .. }
            | SystemEvent::SignedOutEverywhere { user }
            | SystemEvent::RoleChanged { user, .. }
            | SystemEvent::UserRemoved { user, .. } => ("user", user.as_str().to_owned()),
            SystemEvent::ExportStarted { export, .. }
            | SystemEvent::ExportFailed { export, .. }
            | SystemEvent::ExportDownloaded { export, .. }
            | SystemEvent::ExportCompleted { export, .. } => ("export", export.clone()),
            SystemEvent::RetentionSet { ledger, .. }
            | SystemEvent::RetentionRemoved { ledger, .. }
            | SystemEvent::RetentionChangeRefused { ledger, .. } => ("retention_policy", ledger.as_str().to_owned()),
            SystemEvent::HoldPlaced { hold, .. } | SystemEvent::HoldReleased { hold, .. } => {
                ("legal_hold", hold.clone())
            }
            SystemEvent::Archived { archival, .. } | SystemEvent::ArchiveDownloaded { archival, .. } => {
                ("archival", archival.clone())
            }
            SystemEvent::RetentionHeld { ledger, .. } => ("retention_policy", ledger.as_str().to_owned()),
            SystemEvent::IntegrityAnomaly { anomaly, .. } | SystemEvent::AnomalyAcknowledged { anomaly, .. } => {
                ("integrity_anomaly", anomaly.clone())
            }
            SystemEvent::MonitorDisabled | SystemEvent::MonitorStopped => ("monitor", "tamper-monitor".to_owned()),
            SystemEvent::IntegrityStale { ledger, .. } => ("ledger", ledger.as_str().to_owned()),
            SystemEvent::WebhookCreated { webhook, .. }
            | SystemEvent::WebhookSecretRotated { webhook, .. }
            | SystemEvent::WebhookDeleted { webhook, .. }
            | SystemEvent::WebhookDisabled { webhook, .. }
            | SystemEvent::WebhookEnabled { webhook, .. } => ("webhook", webhook.clone()),
        }
    }

    /// The event's metadata (without the origin's `client_ip`).
    fn metadata(&self) -> Value {
        match self {
            SystemEvent::LedgerCreated { name, .. } => json!({"name": name}),
            SystemEvent::LedgerKeyRotated { key_version, reason, .. } => {
                json!({"key_version": key_version, "reason": reason.as_str()})
            }
            SystemEvent::KekRotated { kek_id, ledger_keys_rewrapped, .. } => {
                json!({"kek_id": kek_id, "ledger_keys_rewrapped": ledger_keys_rewrapped})
            }
            SystemEvent::ApiKeyCreated { key } | SystemEvent::ApiKeyRevoked { key } => key_metadata(key),
            SystemEvent::ApiKeyRotated { key, replaces } => {
                let mut metadata = key_metadata(key);
                metadata["replaces"] = Value::String(replaces.as_str().to_owned());
                metadata
            }
            SystemEvent::UserCreated { email, role, .. } => {
                json!({"email": email, "role": role.as_str(), "via": "setup_link"})
            }
            SystemEvent::UserInvited { email, role } => json!({"email": email, "role": role.as_str()}),
            SystemEvent::InviteAccepted { email, role, .. } => {
                json!({"email": email, "role": role.as_str(), "via": "invite"})
            }
            SystemEvent::MfaEnrolled { recovery_codes, .. } => {
                json!({"method": "totp", "recovery_codes": recovery_codes})
            }
            SystemEvent::EnrolmentResumed { email, .. } => json!({"email": email}),
            SystemEvent::SignedIn { email, factor, .. } => {
                let factor = match factor {
                    Some(SecondFactor::Totp) => "totp",
                    Some(SecondFactor::RecoveryCode) => "recovery_code",
                    None => "totp_enrolment",
                };
                json!({"email": email, "second_factor": factor})
            }
            SystemEvent::SignInFailed { email, reason, .. } => json!({"email": email, "reason": reason.as_str()}),
            SystemEvent::UserLocked { email, failures, until_ms, .. } => {
                let until = OccurredAt::from_unix_millis(*until_ms).map(|t| t.as_str().to_owned()).ok();
                json!({"email": email, "failures": failures, "locked_until": until})
            }
            SystemEvent::SignedOutEverywhere { .. } => json!({}),
            SystemEvent::RoleChanged { email, from, to, .. } => {
                json!({"email": email, "from": from.as_str(), "to": to.as_str()})
            }
            SystemEvent::UserRemoved { email, role, .. } => json!({"email": email, "role": role.as_str()}),
            SystemEvent::ExportStarted { ledger, format, start, end, tree_size, filter, .. } => json!({
                "ledger": ledger.as_str(), "format": format, "from_seq": start, "to_seq": end.saturating_sub(1),
                "tree_size": tree_size, "filter": filter,
            }),
            SystemEvent::ExportFailed { ledger, reason, .. } => json!({"ledger": ledger.as_str(), "reason": reason}),
            SystemEvent::ExportDownloaded { ledger, sha256, bytes, .. } => {
                json!({"ledger": ledger.as_str(), "sha256": sha256, "bytes": bytes})
            }
            SystemEvent::ExportCompleted { ledger, format, start, end, events, sha256, .. } => json!({
                "ledger": ledger.as_str(), "format": format, "from_seq": start, "to_seq": end.saturating_sub(1),
                "events": events, "sha256": sha256,
            }),
            SystemEvent::RetentionSet { ledger, days, locked, previous } => {
                let mut metadata = json!({"ledger": ledger.as_str(), "days": days, "locked": locked});
                if let Some((days, locked)) = previous {
                    metadata["previous_days"] = json!(days);
                    metadata["previous_locked"] = json!(locked);
                }
                metadata
            }
            SystemEvent::RetentionRemoved { ledger, days } => json!({"ledger": ledger.as_str(), "previous_days": days}),
            SystemEvent::RetentionChangeRefused { ledger, requested_days, requested_locked, reason } => json!({
                "ledger": ledger.as_str(), "requested_days": requested_days, "requested_locked": requested_locked,
                "reason": reason,
            }),
            SystemEvent::HoldPlaced { ledger, case, reason, scope, .. } => json!({
                "ledger": ledger.as_ref().map(LedgerId::as_str), "case": case, "reason": reason, "scope": scope,
            }),
            SystemEvent::HoldReleased { ledger, case, reason, .. } => {
                json!({"ledger": ledger.as_ref().map(LedgerId::as_str), "case": case, "reason": reason})
            }
            SystemEvent::Archived {
                ledger,
                start,
                end,
                events,
                runs,
                sha256,
                location,
                policy_days,
                cutoff_ms,
                ..
            } => {
                // A batch has at most a few runs unless holds fragment it:
                // the ranges are listed up to a bound, always counted.
                let listed: Vec<[u64; 2]> =
                    runs.iter().take(MAX_LISTED_RUNS).map(|(s, e)| [*s, e.saturating_sub(1)]).collect();
                json!({
                    "ledger": ledger.as_str(), "from_seq": start, "to_seq": end.saturating_sub(1), "events": events,
                    "ranges": listed, "range_count": runs.len(), "sha256": sha256, "location": location,
                    "policy_days": policy_days, "archived_before": time(*cutoff_ms),
                })
            }
            SystemEvent::LedgerDeletionScheduled { name, deletion, delete_at_ms, .. } => {
                json!({"name": name, "deletion": deletion, "delete_at": time(*delete_at_ms)})
            }
            SystemEvent::LedgerDeletionCancelled { name, deletion, .. } => json!({"name": name, "deletion": deletion}),
            SystemEvent::LedgerDeletionRefused { name, holds, .. } => json!({"name": name, "holds": holds}),
            SystemEvent::AccountDeletionRefused { holds, .. } => json!({"holds": holds}),
            SystemEvent::LedgerDeleted { name, deletion, final_tree_size, final_root, final_checkpoint, .. } => json!({
                "name": name, "deletion": deletion, "final_tree_size": final_tree_size, "final_root": final_root,
                "final_checkpoint": final_checkpoint,
            }),
            SystemEvent::ArchiveDownloaded { ledger, sha256, bytes, .. } => {
                json!({"ledger": ledger.as_str(), "sha256": sha256, "bytes": bytes})
            }
            SystemEvent::RetentionHeld { ledger, events, holds, cutoff_ms } => json!({
                "ledger": ledger.as_str(), "events": events, "holds": holds, "archived_before": time(*cutoff_ms),
            }),
            SystemEvent::IntegrityAnomaly { ledger, kind, first_seq, last_seq, detail, .. } => json!({
                "ledger": ledger.as_str(), "kind": kind.as_str(), "first_seq": first_seq, "last_seq": last_seq,
                "detail": detail, "advice": kind.advice(),
            }),
            SystemEvent::AnomalyAcknowledged { ledger, .. } => json!({"ledger": ledger.as_str()}),
            SystemEvent::MonitorDisabled | SystemEvent::MonitorStopped => json!({}),
            SystemEvent::IntegrityStale { ledger, last_verified_ms, since_ms, limit_ms } => json!({
                "ledger": ledger.as_str(), "last_verified_at": last_verified_ms.map(time),
                "unverified_since": time(*since_ms), "stale_after_seconds": limit_ms / 1000,
            }),
            SystemEvent::WebhookCreated { url, events, .. } => json!({"url": url, "events": events}),
            SystemEvent::WebhookSecretRotated { url, .. }
            | SystemEvent::WebhookDeleted { url, .. }
            | SystemEvent::WebhookEnabled { url, .. } => json!({"url": url}),
            SystemEvent::WebhookDisabled { url, failing_since_ms, reason, .. } => {
                json!({"url": url, "failing_since": time(*failing_since_ms), "reason": reason})
            }
        }
    }

    /// The normalised event `id` records: this action by `origin` at
    /// `at_ms`.
    pub(crate) fn into_event(self, id: EventId, origin: &Origin, at_ms: i64) -> Result<Event, StoreError> {
        let invalid = |e: audit_core::ValidationError| StoreError::Invalid(format!("system event: {e}"));
        let (actor_type, actor_id) = origin.actor.parts();
        let actor = audit_core::Actor::new(actor_type, actor_id, None).map_err(invalid)?;
        let (resource_type, resource_id) = self.resource();
        let resource = Resource::new(resource_type, resource_id, None).map_err(invalid)?;
        let mut metadata = match self.metadata() {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        if let Some(ip) = origin.client_ip {
            metadata.insert("client_ip".into(), Value::String(ip.to_string()));
        }
        let metadata = Metadata::new(metadata).map_err(invalid)?;
        let action = Action::new(self.action()).map_err(invalid)?;
        let at = OccurredAt::from_unix_millis(at_ms).map_err(invalid)?;
        Event::new(id, actor, action, resource, at, metadata).map_err(invalid)
    }
}

/// The most seq ranges a `retention.archived` event lists (each as
/// `[first, last]`, both included).
const MAX_LISTED_RUNS: usize = 100;

/// A time in Unix ms as normalised RFC 3339 (empty if out of range).
fn time(ms: i64) -> String {
    OccurredAt::from_unix_millis(ms).map(String::from).unwrap_or_default()
}

/// What a key's events say of it: name, permission and scope (never the
/// secret).
fn key_metadata(key: &ApiKey) -> Value {
    let ledgers = match &key.scope {
        KeyScope::AccountWide => Value::Null,
        KeyScope::Ledgers(ids) => ids.iter().map(|l| Value::String(l.as_str().to_owned())).collect(),
    };
    json!({"name": key.name, "permission": key.permission.as_str(), "ledgers": ledgers})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Actor;

    #[test]
    fn every_event_is_a_valid_normalised_event_with_the_origin() {
        let ledger = LedgerId::new("ldg_0123").expect("id");
        let origin = Origin::new(Actor::Cli("rotate-kek")).from_address("192.0.2.7".parse().ok());
        let event = SystemEvent::LedgerKeyRotated { ledger, key_version: 2, reason: RotationReason::Requested };
        let id = EventId::new("0194f1c2-0000-7000-8000-000000000000").expect("id");
        let event = event.into_event(id, &origin, 1_764_000_000_000).expect("valid");
        assert_eq!(event.action().as_str(), "ledger_key.rotated");
        assert_eq!(event.actor().kind(), "cli");
        assert_eq!(event.actor().id(), "rotate-kek");
        assert_eq!(event.resource().kind(), "ledger");
        let metadata = event.metadata().as_map();
        assert_eq!(metadata.get("key_version"), Some(&json!(2)));
        assert_eq!(metadata.get("reason"), Some(&json!("requested")));
        assert_eq!(metadata.get("client_ip"), Some(&json!("192.0.2.7")));
    }
}
