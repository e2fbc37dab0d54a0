//! One module per area of the dashboard.

mod auth;
mod exports;
mod home;
mod keys;
mod ledgers;
mod not_found;
mod users;

pub use auth::{Enrol, Invite, Login, Setup};
pub use exports::LedgerExports;
pub use home::Home;
pub use keys::Keys;
pub use ledgers::{EventDetail, LedgerEvents, Ledgers, SystemLog};
pub use not_found::NotFound;
pub use users::Users;
