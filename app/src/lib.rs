//! AuditStore's dashboard.
//!
//! The same components render on the server (feature `ssr`, used by the
//! `server` crate) and hydrate in the browser (feature `hydrate`, used by the
//! `frontend` crate). Which side a build is for is chosen only by the feature
//! the depending crate enables.

mod layout;
mod pages;
#[cfg(feature = "ssr")]
mod shell;

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

/// The root component: routes of the dashboard inside the common layout.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title formatter=|page: String| {
            if page.is_empty() { "AuditStore".to_string() } else { format!("{page} · AuditStore") }
        } />
        <Router>
            <Layout>
                <Routes fallback=pages::NotFound>
                    <Route path=path!("/") view=pages::Home />
                    <Route path=path!("/login") view=pages::Login />
                </Routes>
            </Layout>
        </Router>
    }
}
