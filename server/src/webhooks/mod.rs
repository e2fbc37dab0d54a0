//! Webhooks out (Standard Webhooks): where they may go (`destination`,
//! `address`), how they are signed (`signature`), when a failure is tried
//! again (`schedule`) and the sender that delivers the store's outbox
//! (`sender`). The endpoints and the durable outbox are the store's
//! (`store::webhooks`).

pub mod address;
pub mod destination;
pub mod schedule;
pub mod sender;
pub mod signature;

pub use destination::Destinations;
pub use schedule::RetrySchedule;
pub use sender::{Sender, WebhookConfig};
