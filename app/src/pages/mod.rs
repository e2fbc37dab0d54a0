//! One module per area of the dashboard.

mod auth;
mod exports;
mod holds;
mod home;
mod keys;
mod ledgers;
mod lifecycle;
mod monitor;
mod not_found;
mod users;
mod webhooks;

pub use auth::{Enrol, Invite, Login, Setup};
pub use exports::LedgerExports;
pub use holds::{AccountHolds, LedgerHolds};
pub use home::Home;
pub use keys::Keys;
pub use ledgers::{EventDetail, LedgerEvents, Ledgers, SystemLog};
pub use lifecycle::LedgerRetention;
pub use not_found::NotFound;
pub use users::Users;
pub use webhooks::Webhooks;
