//! Webhooks, following the Standard Webhooks specification: an account's
//! endpoints (`endpoints`), the event types they subscribe to (`types`),
//! and a durable outbox: a platform action that announces something
//! writes its messages and one delivery per subscribed endpoint in the
//! transaction of the change itself (`messages`), and the server's sender
//! delivers them at least once, with the same message id on every retry
//! (`deliveries`). Bodies and secrets are sealed at rest with an instance
//! key, like the system events they announce.

mod deliveries;
mod endpoints;
mod history;
mod messages;
mod types;

pub use deliveries::{Attempt, DueDelivery, Outcome};
pub use endpoints::{WebhookEndpoint, WebhookSecret, MAX_ENDPOINTS, MAX_URL_LEN};
pub use history::Delivery;
pub(crate) use messages::fan_out;
pub(crate) use messages::{stage, types_of, StagedMessage};
pub use types::WebhookEventType;
