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

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

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

#[component]
fn Pages() -> impl IntoView {
    view! {
        <Layout>
            <Routes fallback=pages::NotFound>
                <Route path=path!("/") view=pages::Home />
                <Route path=path!("/login") view=pages::Login />
                <Route path=path!("/setup") view=pages::Setup />
                <Route path=path!("/invite") view=pages::Invite />
                <Route path=path!("/enrol") view=pages::Enrol />
                <Route path=path!("/ledgers") view=pages::Ledgers />
                <Route path=path!("/ledgers/:id") view=pages::LedgerEvents />
                <Route path=path!("/ledgers/:id/events/:event") view=pages::EventDetail />
                <Route path=path!("/system") view=pages::SystemLog />
                <Route path=path!("/keys") view=pages::Keys />
                <Route path=path!("/users") view=pages::Users />
            </Routes>
        </Layout>
    }
}
