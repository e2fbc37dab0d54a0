//! The frame every page shares: skip link, header with the product name,
//! the primary navigation for the viewer's role, and the main landmark.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::{Logout, LogoutEverywhere};
use crate::components::{navigate_on_success, session, CsrfField};

/// The page frame. On narrow screens the navigation collapses behind a menu
/// button; the button only works once the page is hydrated, so the
/// navigation stays visible without JavaScript (see `style/main.css`).
#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let (menu_open, set_menu_open) = signal(false);
    // Effects run only in the browser, so this flips once the WebAssembly has
    // hydrated the page: CSS collapses the navigation only then, and tests
    // wait for it before interacting.
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    let viewer = session().viewer;
    let logout = ServerAction::<Logout>::new();
    let everywhere = ServerAction::<LogoutEverywhere>::new();
    navigate_on_success(move || logout.value().get());
    navigate_on_success(move || everywhere.value().get());
    let nav = match viewer {
        Some(viewer) => view! {
            <A href="/ledgers">"Ledgers"</A>
            <A href="/holds">"Legal holds"</A>
            <A href="/system">"System log"</A>
            <A href="/keys">"API keys"</A>
            {viewer.is_owner().then(|| view! { <A href="/users">"Users"</A> })}
            <span class="who" title=viewer.account_name.clone()>{format!("{} · {}", viewer.email, viewer.role)}</span>
            <ActionForm action=logout attr:class="inline">
                <CsrfField />
                <button type="submit" class="link">"Sign out"</button>
            </ActionForm>
            <ActionForm action=everywhere attr:class="inline">
                <CsrfField />
                <button type="submit" class="link" title="End every session of this user, on every device">"Sign out everywhere"</button>
            </ActionForm>
        }
        .into_any(),
        None => view! {
            <A href="/" exact=true>"Overview"</A>
            <A href="/login">"Sign in"</A>
        }
        .into_any(),
    };
    view! {
        <div class="app" data-hydrated=move || if hydrated.get() { "true" } else { "false" }>
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="topbar">
            <a class="brand" href="/">
                <img src="/favicon.svg" alt="" width="24" height="24" />
                <span>"AuditStore"</span>
            </a>
            <button
                type="button"
                class="menu-toggle"
                aria-controls="primary-nav"
                aria-expanded=move || if menu_open.get() { "true" } else { "false" }
                on:click=move |_| set_menu_open.update(|open| *open = !*open)
            >
                "Menu"
            </button>
            <nav
                id="primary-nav"
                aria-label="Primary"
                class="primary-nav"
                class:open=move || menu_open.get()
            >
                {nav}
            </nav>
        </header>
        <main id="main" tabindex="-1">{children()}</main>
        <footer class="footer">
            <p>"AuditStore — tamper-evident audit trails."</p>
        </footer>
        </div>
    }
}
