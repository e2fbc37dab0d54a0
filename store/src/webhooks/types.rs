//! The event types a webhook endpoint subscribes to, and which platform
//! actions each announces. The names are a public contract (receivers
//! switch on `type`): extend, never rename.

use serde_json::{json, Map, Value};

use crate::SystemEvent;

macro_rules! event_types {
    ($($variant:ident => $name:literal: $about:literal,)*) => {
        /// A type of webhook message (`type` in its body).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum WebhookEventType {
            $(#[doc = $about] $variant,)*
        }

        impl WebhookEventType {
            /// Every type, in the order the documentation lists them.
            pub const ALL: &'static [WebhookEventType] = &[$(WebhookEventType::$variant,)*];

            /// The type's name, as `type` in a message body.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(WebhookEventType::$variant => $name,)*
                }
            }

            /// What a message of this type announces.
            pub fn about(self) -> &'static str {
                match self {
                    $(WebhookEventType::$variant => $about,)*
                }
            }

            /// The type named `name`, if there is one.
            pub fn parse(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(WebhookEventType::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

event_types! {
    IntegrityAnomaly => "integrity.anomaly": "The tamper monitor found an anomaly (its kind and seq range).",
    IntegrityStale => "integrity.stale": "A ledger has not been verified for more than twice the monitor's interval.",
    IntegrityAcknowledged => "integrity.acknowledged": "An owner acknowledged an anomaly (it stays recorded).",
    MonitorDisabled => "monitor.disabled": "A node started without the tamper monitor.",
    MonitorStopped => "monitor.stopped": "A node that ran the tamper monitor stopped.",
    ExportCompleted => "export.completed": "An export file was written and its SHA-256 recorded.",
    ExportFailed => "export.failed": "An export was given up.",
    RetentionArchived => "retention.archived": "Expired events were archived and turned into tombstones.",
    HoldPlaced => "hold.placed": "A legal hold was placed.",
    HoldReleased => "hold.released": "A legal hold was released.",
    LedgerDeletionScheduled => "ledger.deletion_scheduled": "A ledger was scheduled for deletion.",
    LedgerDeletionCancelled => "ledger.deletion_cancelled": "A scheduled ledger deletion was cancelled.",
    LedgerDeleted => "ledger.deleted": "A ledger was deleted (its final checkpoint is in the data).",
    KeyCreated => "key.created": "An API key was created (also by a rotation).",
    KeyRevoked => "key.revoked": "An API key was revoked (also by a rotation).",
    WebhookDisabled => "webhook.disabled": "A webhook endpoint failing for too long was disabled.",
}

/// The messages a platform action announces: each type, with what its
/// data adds to or changes in the action's own fields.
pub(crate) fn announced_by(event: &SystemEvent) -> Vec<(WebhookEventType, Map<String, Value>)> {
    use WebhookEventType as T;
    let plain = |t: T| vec![(t, Map::new())];
    match event {
        SystemEvent::IntegrityAnomaly { .. } => plain(T::IntegrityAnomaly),
        SystemEvent::IntegrityStale { .. } => plain(T::IntegrityStale),
        SystemEvent::AnomalyAcknowledged { .. } => plain(T::IntegrityAcknowledged),
        SystemEvent::MonitorDisabled => plain(T::MonitorDisabled),
        SystemEvent::MonitorStopped => plain(T::MonitorStopped),
        SystemEvent::ExportCompleted { .. } => plain(T::ExportCompleted),
        SystemEvent::ExportFailed { .. } => plain(T::ExportFailed),
        SystemEvent::Archived { .. } => plain(T::RetentionArchived),
        SystemEvent::HoldPlaced { .. } => plain(T::HoldPlaced),
        SystemEvent::HoldReleased { .. } => plain(T::HoldReleased),
        SystemEvent::LedgerDeletionScheduled { .. } => plain(T::LedgerDeletionScheduled),
        SystemEvent::LedgerDeletionCancelled { .. } => plain(T::LedgerDeletionCancelled),
        SystemEvent::LedgerDeleted { .. } => plain(T::LedgerDeleted),
        SystemEvent::ApiKeyCreated { .. } => plain(T::KeyCreated),
        SystemEvent::ApiKeyRevoked { .. } => plain(T::KeyRevoked),
        // A rotation creates one key and revokes another: the revocation
        // names the key it revoked, not the new one.
        SystemEvent::ApiKeyRotated { key, replaces } => {
            let revoked = json!({
                "resource": {"type": "api_key", "id": replaces.as_str()}, "replaced_by": key.id.as_str(),
            });
            let Value::Object(revoked) = revoked else { return plain(T::KeyCreated) };
            vec![(T::KeyCreated, Map::new()), (T::KeyRevoked, revoked)]
        }
        SystemEvent::WebhookDisabled { .. } => plain(T::WebhookDisabled),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for t in WebhookEventType::ALL {
            assert_eq!(WebhookEventType::parse(t.as_str()), Some(*t));
            assert!(seen.insert(t.as_str()), "{} twice", t.as_str());
        }
        assert_eq!(WebhookEventType::parse("integrity.anomaly"), Some(WebhookEventType::IntegrityAnomaly));
        assert_eq!(WebhookEventType::parse("integrity.*"), None);
        // The types the issue names, at least.
        for name in [
            "integrity.anomaly",
            "integrity.stale",
            "export.completed",
            "retention.archived",
            "hold.placed",
            "hold.released",
            "ledger.deletion_scheduled",
            "ledger.deleted",
            "key.created",
            "key.revoked",
        ] {
            assert!(WebhookEventType::parse(name).is_some(), "{name}");
        }
    }
}
