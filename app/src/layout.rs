//! The frame every page shares: skip link, header with the product name,
//! the primary navigation for the viewer's role, and the main landmark.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::{AcknowledgeAnomaly, Logout, LogoutEverywhere};
use crate::components::{navigate_on_success, session, CsrfField};
use crate::model::AnomalyRow;

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
    let signed_in = viewer.is_some();
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
            <A href="/webhooks">"Webhooks"</A>
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
        <main id="main" tabindex="-1">
            // Rendered in the browser once hydrated: the banner is read
            // afresh on every page load and never part of the served HTML,
            // so it cannot put the page's hydration out of step.
            {move || (signed_in && hydrated.get()).then(|| view! { <IntegrityBanner /> })}
            {children()}
        </main>
        <footer class="footer">
            <p>"AuditStore — tamper-evident audit trails."</p>
        </footer>
        </div>
    }
}

/// The red banner of the tamper monitor's unacknowledged anomalies, on
/// every page of a signed-in viewer until an owner acknowledges each.
#[component]
fn IntegrityBanner() -> impl IntoView {
    let acknowledge = ServerAction::<AcknowledgeAnomaly>::new();
    let anomalies = Resource::new(move || acknowledge.version().get(), |_| crate::api::open_anomalies());
    let owner = session().viewer.is_some_and(|v| v.is_owner());
    let banner = move |list: Vec<AnomalyRow>| {
        if list.is_empty() {
            return ().into_any();
        }
        let items = list
            .into_iter()
            .map(|a| {
                let ledger = if a.ledger_name.is_empty() { a.ledger.clone() } else { a.ledger_name.clone() };
                let id = a.id.clone();
                view! {
                    <li data-testid="anomaly" data-kind=a.kind.clone()>
                        <strong>{a.kind.replace('_', " ")}</strong>
                        " in " <a href=format!("/ledgers/{}", a.ledger)>{ledger}</a>
                        {format!(", seq {} to {}: {}", a.first_seq, a.last_seq, a.detail)}
                        <p class="advice">{a.advice}</p>
                        <p class="found">{format!("Found {}", a.found_at)}</p>
                        {owner.then(|| view! {
                            <ActionForm action=acknowledge attr:class="inline">
                                <CsrfField />
                                <input type="hidden" name="id" value=id />
                                <button type="submit">"Acknowledge"</button>
                            </ActionForm>
                        })}
                    </li>
                }
            })
            .collect_view();
        view! {
            <div class="integrity-banner" role="alert" data-testid="integrity-banner">
                <h2>"Integrity anomaly"</h2>
                <p>"The tamper monitor found records changed behind AuditStore's back. Each finding stays recorded; an owner acknowledges it once it is handled."</p>
                <ul>{items}</ul>
            </div>
        }
        .into_any()
    };
    // Resolved with the page on the server and awaited when hydrating, as
    // every resource of the dashboard is (components::loaded); an error
    // shows nothing here (the page itself says what failed).
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match anomalies.await {
                    Ok(list) => banner(list),
                    Err(_) => ().into_any(),
                }
            })}
        </Transition>
    }
}
