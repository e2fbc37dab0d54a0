//! The dashboard's server functions, one module per area of the dashboard
//! (as in `pages`). Every one checks the caller's role on the server, and
//! every state change checks the CSRF token first
//! (`auth::require_mutation`); hiding a button in the UI is never the
//! protection. Endpoints are named, so they are a stable contract; they do
//! not depend on the module a function lives in.
//!
//! Everything is re-exported here, so callers keep using `crate::api::…`.

mod exports;
mod holds;
mod integrity;
mod keys;
mod ledgers;
mod lifecycle;
mod session;
#[cfg(feature = "ssr")]
pub(crate) mod support;
mod users;
mod webhooks;

pub use exports::*;
pub use holds::*;
pub use integrity::*;
pub use keys::*;
pub use ledgers::*;
pub use lifecycle::*;
pub use session::*;
pub use users::*;
pub use webhooks::*;
