//! Pieces several pages share: error and loading states, the hidden CSRF
//! field, full-page navigation, and the event explorer.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::model::{EventList, SessionInfo};

/// The session, resolved once per page load by the app root.
pub fn session() -> SessionInfo {
    use_context::<SessionInfo>().unwrap_or(SessionInfo { viewer: None, csrf: String::new(), enrolling: None })
}

/// The CSRF token every state-changing form carries.
#[component]
pub fn CsrfField() -> impl IntoView {
    view! { <input type="hidden" name="csrf" value=session().csrf /> }
}

/// The message of a server function error, without the framework's prefix.
pub fn error_text(error: &ServerFnError) -> String {
    match error {
        ServerFnError::ServerError(message) => message.clone(),
        ServerFnError::Request(_) => "The server could not be reached; check the connection and try again.".into(),
        other => other.to_string(),
    }
}

/// A failed request, announced to screen readers.
#[component]
pub fn ErrorBox(error: ServerFnError) -> impl IntoView {
    view! { <p class="error" role="alert">{error_text(&error)}</p> }
}

/// What an action that answers with a sentence said: the sentence as a
/// status, or its error, once it has run.
pub fn outcome<S>(action: ServerAction<S>) -> impl IntoView
where
    S: leptos::server_fn::ServerFn<Output = String, Error = ServerFnError> + Clone + Send + Sync + 'static,
{
    move || {
        action.value().get().map(|result| match result {
            Ok(said) => view! { <p class="success" role="status">{said}</p> }.into_any(),
            Err(error) => view! { <ErrorBox error /> }.into_any(),
        })
    }
}

/// Shown while something slow loads.
#[component]
pub fn Loading() -> impl IntoView {
    view! { <p class="loading" role="status" aria-live="polite"><span class="spinner" aria-hidden="true"></span>"Loading…"</p> }
}

/// A resource's value shown with `ok`: a loading indicator until it
/// arrives (and the previous value while it reloads), the error otherwise.
pub fn loaded<T, V>(
    resource: Resource<Result<T, ServerFnError>>,
    ok: impl Fn(T) -> V + Clone + Send + Sync + 'static,
) -> impl IntoView
where
    T: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
    V: IntoView + 'static,
{
    view! {
        <Transition fallback=|| view! { <Loading /> }>
            {move || {
                let ok = ok.clone();
                Suspend::new(async move {
                    match resource.await {
                        Ok(value) => ok(value).into_any(),
                        Err(error) => view! { <ErrorBox error /> }.into_any(),
                    }
                })
            }}
        </Transition>
    }
}

/// A full page load of `path` (so the session is read afresh), once the
/// page runs in the browser.
pub fn go(path: &str) {
    #[cfg(feature = "hydrate")]
    {
        let _ = window().location().set_href(path);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
}

/// Navigates with a full page load once `result` (an action's value)
/// holds a path.
pub fn navigate_on_success(result: impl Fn() -> Option<Result<String, ServerFnError>> + 'static) {
    Effect::new(move |_| {
        if let Some(Ok(path)) = result() {
            go(&path);
        }
    });
}

/// Shown instead of a page the viewer's role does not allow; the server
/// answers 403 as well.
#[component]
pub fn Forbidden(what: &'static str) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::FORBIDDEN);
    }
    view! {
        <section class="panel narrow">
            <h1>"Not allowed"</h1>
            <p class="error" role="alert">{format!("Your role does not allow {what}.")}</p>
        </section>
    }
}

fn query_value(name: &str) -> String {
    use_query_map().read().get(name).unwrap_or_default()
}

/// A link to this page with `changes` applied to its query (empty values
/// are dropped) and the cursor reset unless given.
fn with_query(base: &str, changes: &[(&str, &str)]) -> String {
    let query = use_query_map().get_untracked();
    let mut pairs: Vec<(String, String)> = Vec::new();
    for key in ["actor", "action", "resource", "from", "to", "range"] {
        let value = changes
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| (*v).to_owned())
            .unwrap_or_else(|| query.get(key).unwrap_or_default());
        if !value.is_empty() {
            pairs.push((key.to_owned(), value));
        }
    }
    if let Some((_, cursor)) = changes.iter().find(|(k, _)| *k == "cursor") {
        pairs.push(("cursor".into(), (*cursor).to_owned()));
    }
    if pairs.is_empty() {
        return base.to_owned();
    }
    let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
    format!("{base}?{}", query.join("&"))
}

fn encode(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A ledger's events, newest first, with filters, quick time ranges and
/// cursor pagination; all state is in the URL, so a reload or a shared
/// link shows the same page.
#[component]
pub fn EventExplorer(#[prop(into)] ledger: Signal<String>, #[prop(into)] base: Signal<String>) -> impl IntoView {
    let query = use_query_map();
    let events = Resource::new(
        move || {
            let q = query.get();
            let get = |k: &str| q.get(k).unwrap_or_default();
            (
                ledger.get(),
                get("actor"),
                get("action"),
                get("resource"),
                get("from"),
                get("to"),
                get("range"),
                get("cursor"),
            )
        },
        |(ledger, actor, action, resource, from, to, range, cursor)| {
            crate::api::list_events(ledger, actor, action, resource, from, to, range, cursor)
        },
    );
    let range_link = move |range: &'static str, label: &'static str| {
        let href = move || with_query(&base.get(), &[("range", range), ("from", "")]);
        let current = move || query.get().get("range").unwrap_or_default() == range;
        view! { <a href=href class="chip" aria-current=move || if current() { "true" } else { "false" }>{label}</a> }
    };
    view! {
        <form class="filters" method="get" role="search" aria-label="Filter events">
            <div class="field">
                <label for="f-actor">"Actor ID"</label>
                <input id="f-actor" name="actor" value=move || query_value("actor") placeholder="e.g. user_42" />
            </div>
            <div class="field">
                <label for="f-action">"Action"</label>
                <input id="f-action" name="action" value=move || query_value("action") placeholder="e.g. invoice.paid" />
            </div>
            <div class="field">
                <label for="f-resource">"Resource ID"</label>
                <input id="f-resource" name="resource" value=move || query_value("resource") />
            </div>
            <div class="field">
                <label for="f-from">"From (UTC)"</label>
                <input id="f-from" name="from" type="datetime-local" value=move || query_value("from") />
            </div>
            <div class="field">
                <label for="f-to">"To (UTC)"</label>
                <input id="f-to" name="to" type="datetime-local" value=move || query_value("to") />
            </div>
            // The quick range stays when other filters change; a From date
            // given here wins over it.
            <input type="hidden" name="range" value=move || query_value("range") />
            <div class="field actions">
                <button type="submit">"Apply filters"</button>
                <a class="button secondary" href=move || base.get()>"Clear"</a>
            </div>
        </form>
        <nav class="quick-ranges" aria-label="Quick time ranges">
            <span>"Occurred in the last:"</span>
            {range_link("1h", "hour")}
            {range_link("24h", "24 hours")}
            {range_link("7d", "7 days")}
            {range_link("30d", "30 days")}
            <a class="chip" href=move || with_query(&base.get(), &[("range", ""), ("from", "")])>"any time"</a>
        </nav>
        <p class="button-row">
            <a class="button secondary" data-testid="export-link" href=move || {
                // Read to follow the filters as they change.
                query.track();
                with_query(&format!("/ledgers/{}/exports", ledger.get()), &[])
            }>"Export these events…"</a>
        </p>
        {loaded(events, move |list| view! { <EventTable list base=base.get_untracked() /> })}
    }
}

#[component]
fn EventTable(list: EventList, base: String) -> impl IntoView {
    if list.events.is_empty() {
        return view! {
            <p class="empty" role="status">"No events match. Widen the time range or clear the filters."</p>
        }
        .into_any();
    }
    let next = list.next_cursor.clone().map(|cursor| with_query(&base, &[("cursor", cursor.as_str())]));
    let ledger = list.ledger_id.clone();
    view! {
        <div class="table-wrap">
            <table class="events">
                <caption class="visually-hidden">{format!("Events of {}, newest first", list.ledger_name)}</caption>
                <thead>
                    <tr>
                        <th scope="col">"Seq"</th>
                        <th scope="col">"Occurred"</th>
                        <th scope="col">"Actor"</th>
                        <th scope="col">"Action"</th>
                        <th scope="col">"Resource"</th>
                    </tr>
                </thead>
                <tbody>
                    {list
                        .events
                        .into_iter()
                        .map(|e| {
                            let href = format!("/ledgers/{}/events/{}", ledger, e.id);
                            if e.is_tombstone() {
                                // Greyed: only the seq and hashes stay; the archive has the rest.
                                let archive = e.archive.as_ref().map_or_else(
                                    || "no archival record: a tamper finding".to_owned(),
                                    |a| format!("content archived in {} on {}", a.id, a.archived_at),
                                );
                                return view! {
                                    <tr class="tombstone" data-testid="tombstone">
                                        <td><a href=href>{e.seq}</a></td>
                                        <td colspan="4"><span class="badge neutral">"tombstone"</span> " " {archive}</td>
                                    </tr>
                                }
                                .into_any();
                            }
                            view! {
                                <tr>
                                    <td><a href=href>{e.seq}</a></td>
                                    <td><time>{e.occurred_at}</time></td>
                                    <td>{format!("{}:{}", e.actor_type, e.actor_id)}</td>
                                    <td><code>{e.action}</code></td>
                                    <td>{format!("{}:{}", e.resource_type, e.resource_id)}</td>
                                </tr>
                            }
                            .into_any()
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
        <nav class="pager" aria-label="Pages">
            <a href=base.clone()>"Newest"</a>
            {next.map(|href| view! { <a href=href rel="next">"Older events →"</a> })}
        </nav>
    }
    .into_any()
}

/// The steps of a verification, each with what it found; `data-ok` tells tests which failed.
#[component]
pub fn StepList(steps: Vec<crate::verify::Step>, #[prop(into)] testid: String) -> impl IntoView {
    view! {
        <ol class="steps" data-testid=testid>
            {steps.into_iter().map(|s| view! {
                <li class=if s.ok { "step ok" } else { "step bad" } data-ok=if s.ok { "true" } else { "false" }>
                    <strong>{if s.ok { "✔ " } else { "✖ " }}{s.title}</strong>
                    <span class="detail">{s.detail}</span>
                </li>
            }).collect_view()}
        </ol>
    }
}

/// A new secret, shown once, with a copy button.
#[component]
pub fn SecretOnce(name: String, secret: String) -> impl IntoView {
    let value = secret.clone();
    let (copied, set_copied) = signal(false);
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let _ = window().navigator().clipboard().write_text(&value);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &value;
        set_copied.set(true);
    };
    view! {
        <div class="success secret" role="status">
            <p>{format!("Secret of “{name}” — copy it now, it is not shown again:")}</p>
            <p><code data-testid="new-secret">{secret}</code></p>
            <button type="button" on:click=copy>{move || if copied.get() { "Copied" } else { "Copy" }}</button>
        </div>
    }
}
