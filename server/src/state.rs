//! What every handler can reach: the store, the rate limits, the read gate,
//! the append budget and the dashboard's context.

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use store::Store;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub leptos: LeptosOptions,
    pub store: Store,
    pub limits: crate::api::limits::RateLimits,
    pub reads: crate::api::shedding::ReadGate,
    /// Body bytes of appends in flight.
    pub appends: crate::api::append_budget::AppendBudget,
    pub dashboard: app::auth::Dashboard,
    pub dashboard_config: crate::config::DashboardConfig,
    /// Proxies whose forwarding headers name the client address.
    pub trusted_proxies: crate::client_address::TrustedProxies,
    /// Where retention archive files are written.
    pub archive: store::lifecycle::archive::ArchiveStore,
    /// How long a scheduled ledger deletion waits.
    pub deletion_grace: std::time::Duration,
    /// The tamper monitor's interval: integrity answers go stale past twice it.
    pub monitor_interval: std::time::Duration,
    /// Where webhook endpoints may point.
    pub webhook_destinations: crate::webhooks::Destinations,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
