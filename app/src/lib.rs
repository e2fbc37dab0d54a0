//! AuditStore's dashboard.
//!
//! The same components render on the server (feature `ssr`, used by the
//! `server` crate) and hydrate in the browser (feature `hydrate`, used by the
//! `frontend` crate). Which side a build is for is chosen only by the feature
//! the depending crate enables.

pub mod api;
#[cfg(feature = "ssr")]
pub mod auth;
mod components;
mod layout;
pub mod model;
mod pages;
#[cfg(feature = "ssr")]
mod shell;
pub mod verify;
pub mod verify_export;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};

pub use layout::Layout;
#[cfg(feature = "ssr")]
pub use shell::shell;

/// The name the build pipeline gives the browser bundle: `/pkg/auditstore.js`,
/// `/pkg/auditstore.wasm` and `/pkg/auditstore.css`.
pub const OUTPUT_NAME: &str = "auditstore";

/// The root component: the session is resolved once per page load, then
/// the routes of the dashboard render inside the common layout.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let session = Resource::new_blocking(|| (), |_| api::get_session());
    view! {
        <Title formatter=|page: String| {
            if page.is_empty() { "AuditStore".to_string() } else { format!("{page} · AuditStore") }
        } />
        <Router>
            <Suspense fallback=|| view! { <components::Loading /> }>
                {move || Suspend::new(async move {
                    match session.await {
                        Ok(info) => {
                            provide_context(info);
                            view! { <Pages /> }.into_any()
                        }
                        Err(error) => view! {
                            <main id="main" class="panel narrow">
                                <h1>"AuditStore is unavailable"</h1>
                                <components::ErrorBox error />
                            </main>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </Router>
    }
}

/// Pages render completely on the server before the response starts, so
/// that what they decide (a 403 or 404 status, a redirect) reaches the
/// headers; dashboard pages are small, so nothing is gained by streaming.
#[component]
fn Pages() -> impl IntoView {
    view! {
        <Layout>
            <Routes fallback=pages::NotFound>
                <Route path=path!("/") ssr=SsrMode::Async view=pages::Home />
                <Route path=path!("/login") ssr=SsrMode::Async view=pages::Login />
                <Route path=path!("/setup") ssr=SsrMode::Async view=pages::Setup />
                <Route path=path!("/invite") ssr=SsrMode::Async view=pages::Invite />
                <Route path=path!("/enrol") ssr=SsrMode::Async view=pages::Enrol />
                <Route path=path!("/ledgers") ssr=SsrMode::Async view=pages::Ledgers />
                <Route path=path!("/ledgers/:id") ssr=SsrMode::Async view=pages::LedgerEvents />
                <Route path=path!("/ledgers/:id/events/:event") ssr=SsrMode::Async view=pages::EventDetail />
                <Route path=path!("/ledgers/:id/exports") ssr=SsrMode::Async view=pages::LedgerExports />
                <Route path=path!("/ledgers/:id/holds") ssr=SsrMode::Async view=pages::LedgerHolds />
                <Route path=path!("/ledgers/:id/retention") ssr=SsrMode::Async view=pages::LedgerRetention />
                <Route path=path!("/holds") ssr=SsrMode::Async view=pages::AccountHolds />
                <Route path=path!("/system") ssr=SsrMode::Async view=pages::SystemLog />
                <Route path=path!("/keys") ssr=SsrMode::Async view=pages::Keys />
                <Route path=path!("/webhooks") ssr=SsrMode::Async view=pages::Webhooks />
                <Route path=path!("/users") ssr=SsrMode::Async view=pages::Users />
            </Routes>
        </Layout>
    }
}
