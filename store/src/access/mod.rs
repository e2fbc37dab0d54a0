//! Who may do what: API keys, dashboard users, and the dashboard's
//! sessions.

pub(crate) mod api_keys;
pub(crate) mod sessions;
pub(crate) mod users;
