//! Ledgers, the event explorer, event detail and in-browser verification.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::{CancelLedgerDeletion, CreateLedger};
use crate::components::{loaded, outcome, session, CsrfField, ErrorBox, EventExplorer, Loading};
use crate::model::{EventRow, Integrity, LedgerRow};

fn integrity_view(integrity: Integrity) -> impl IntoView {
    match integrity {
        Integrity::Empty => view! { <span class="badge neutral">"No events yet"</span> }.into_any(),
        Integrity::Verified { size } => {
            view! { <span class="badge ok">{format!("✔ Checkpoint verified · {size} events")}</span> }.into_any()
        }
        Integrity::Behind { size, tree_size } => {
            view! { <span class="badge neutral">{format!("Checkpoint at {size} of {tree_size} (writing)")}</span> }
                .into_any()
        }
        Integrity::Failed { reason } => {
            view! { <span class="badge bad" role="alert">{format!("✖ Checkpoint check failed: {reason}")}</span> }
                .into_any()
        }
    }
}

/// `/ledgers`: the account's ledgers; admins create new ones.
#[component]
pub fn Ledgers() -> impl IntoView {
    let create = ServerAction::<CreateLedger>::new();
    let cancel = ServerAction::<CancelLedgerDeletion>::new();
    let ledgers =
        Resource::new(move || (create.version().get(), cancel.version().get()), |_| crate::api::list_ledgers());
    let admin = session().viewer.is_some_and(|v| v.is_admin());
    view! {
        <Title text="Ledgers" />
        <section class="panel">
            <h1>"Ledgers"</h1>
            {outcome(cancel)}
            {loaded(ledgers, move |rows| view! { <LedgerTable rows admin cancel /> })}
        </section>
        {admin.then(|| view! {
            <section class="panel">
                <h2>"Create a ledger"</h2>
                <ActionForm action=create attr:class="form inline">
                    <CsrfField />
                    <label for="ledger-name">"Name"</label>
                    <input id="ledger-name" name="name" required=true maxlength="128" placeholder="e.g. billing" />
                    <button type="submit" disabled=move || create.pending().get()>"Create ledger"</button>
                </ActionForm>
                {move || create.value().get().map(|result| match result {
                    Ok(id) => view! { <p class="success" role="status">"Ledger created: " <a href=format!("/ledgers/{id}")>{id.clone()}</a></p> }.into_any(),
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                })}
            </section>
        })}
    }
}

#[component]
fn LedgerTable(rows: Vec<LedgerRow>, admin: bool, cancel: ServerAction<CancelLedgerDeletion>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table>
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Events"</th>
                        <th scope="col">"Last event"</th>
                        <th scope="col">"Integrity"</th>
                        <th scope="col">"Tamper monitor"</th>
                        <th scope="col">"Created"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows.into_iter().map(|row| view! {
                        <tr>
                            <td>
                                <a href=format!("/ledgers/{}", row.id)>{row.name.clone()}</a>
                                {(row.kind == "system").then(|| view! { " " <span class="badge neutral">"system"</span> })}
                                <br /><small><code>{row.id.clone()}</code></small>
                                {row.delete_at.clone().map(|at| {
                                    let ledger = row.id.clone();
                                    view! {
                                        <br /><span class="badge bad" data-testid="in-deletion">{format!("Deletion scheduled: deleted at {at}")}</span>
                                        {admin.then(|| view! {
                                            <ActionForm action=cancel attr:class="inline">
                                                <CsrfField />
                                                <input type="hidden" name="ledger" value=ledger />
                                                <button type="submit" class="secondary">"Cancel the deletion"</button>
                                            </ActionForm>
                                        })}
                                    }
                                })}
                            </td>
                            <td>{row.events}</td>
                            <td>{row.last_event_at.unwrap_or_else(|| "—".into())}</td>
                            <td>{integrity_view(row.integrity)}</td>
                            <td>{super::monitor::monitor_view(row.monitor)}</td>
                            <td>{row.created_at}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// `/ledgers/:id`: the event explorer of one ledger.
#[component]
pub fn LedgerEvents() -> impl IntoView {
    let params = use_params_map();
    let ledger = Signal::derive(move || params.read().get("id").unwrap_or_default());
    let base = Signal::derive(move || format!("/ledgers/{}", ledger.get()));
    view! {
        <Title text="Events" />
        <section class="panel">
            <p class="breadcrumbs"><a href="/ledgers">"Ledgers"</a> " / " <code>{move || ledger.get()}</code></p>
            <h1>"Events"</h1>
            <p class="button-row">
                <a class="button secondary" href=move || format!("/ledgers/{}/holds", ledger.get())>"Legal holds"</a>
                " "
                <a class="button secondary" href=move || format!("/ledgers/{}/retention", ledger.get())>"Retention and deletion"</a>
            </p>
            <EventExplorer ledger base />
        </section>
    }
}

/// `/system`: the account's own audit trail.
#[component]
pub fn SystemLog() -> impl IntoView {
    let ledger = session().viewer.map(|v| v.system_ledger).unwrap_or_default();
    view! {
        <Title text="System log" />
        <section class="panel">
            <h1>"System log"</h1>
            <p class="help">"Everything done to this account: sign-ins, user changes, ledgers, API keys and key rotations. It is a ledger like any other, with the same proofs."</p>
            <EventExplorer ledger=Signal::stored(ledger) base=Signal::stored("/system".to_owned()) />
        </section>
    }
}

/// `/ledgers/:id/events/:event`: one event, its hashes, and verification.
#[component]
pub fn EventDetail() -> impl IntoView {
    let params = use_params_map();
    let key = move || (params.read().get("id").unwrap_or_default(), params.read().get("event").unwrap_or_default());
    let event = Resource::new(key, |(ledger, event)| crate::api::get_event(ledger, event));
    view! {
        <Title text="Event" />
        <section class="panel">
            <p class="breadcrumbs">
                <a href="/ledgers">"Ledgers"</a> " / "
                <a href=move || format!("/ledgers/{}", key().0)>"Events"</a>
            </p>
            <Suspense fallback=|| view! { <Loading /> }>
                {move || Suspend::new(async move {
                    let ledger = key().0;
                    match event.await {
                        Ok(event) => view! { <EventView event ledger /> }.into_any(),
                        Err(error) => view! { <h1>"Event"</h1><ErrorBox error /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn EventView(event: EventRow, ledger: String) -> impl IntoView {
    let party = |kind: &str, id: &str, name: &Option<String>| match name {
        Some(name) => format!("{kind}:{id} ({name})"),
        None => format!("{kind}:{id}"),
    };
    let tombstoned = event.is_tombstone();
    if tombstoned {
        return view! { <TombstoneView event ledger /> }.into_any();
    }
    view! {
        <h1>{format!("Event {}", event.seq)}</h1>
        <dl class="details">
            <dt>"Event ID"</dt><dd><code>{event.id.clone()}</code></dd>
            <dt>"Actor"</dt><dd>{party(&event.actor_type, &event.actor_id, &event.actor_name)}</dd>
            <dt>"Action"</dt><dd><code>{event.action.clone()}</code></dd>
            <dt>"Resource"</dt><dd>{party(&event.resource_type, &event.resource_id, &event.resource_name)}</dd>
            <dt>"Occurred at"</dt><dd><time>{event.occurred_at.clone()}</time></dd>
            <dt>"Received at"</dt><dd><time>{event.received_at.clone()}</time></dd>
            <dt>"Seq"</dt><dd>{event.seq}</dd>
            <dt>"Leaf hash"</dt><dd><code class="hash" data-testid="leaf-hash">{event.leaf_hash.clone()}</code></dd>
            <dt>"Chain hash"</dt><dd><code class="hash">{event.chain_hash.clone()}</code></dd>
        </dl>
        <h2>"Metadata"</h2>
        <pre class="json">{event.metadata_pretty.clone()}</pre>
        <Verify event=event.clone() ledger=ledger.clone() />
        <EvidenceDownload event=event.id.clone() ledger=ledger.clone() />
    }
    .into_any()
}

/// A tombstone: retention archived its content; its seq and hashes stay,
/// so its inclusion proof still verifies.
#[component]
fn TombstoneView(event: EventRow, ledger: String) -> impl IntoView {
    let archive = match event.archive.clone() {
        Some(archive) => view! {
            <p class="tombstone-note" data-testid="tombstone-note">
                {format!("Retention archived this event's content on {} into archive {}. ", archive.archived_at, archive.id)}
                "Only its seq and hashes stay here, so every proof and checkpoint still verifies; the content is in the archive file ("
                <a href=format!("/ledgers/{ledger}/retention")>"download it"</a>
                ", SHA-256 " <code class="hash">{archive.sha256.clone()}</code> ")."
            </p>
        }
        .into_any(),
        None => view! {
            <p class="error" role="alert" data-testid="tombstone-note">
                "This event's content is gone, but no archival accounts for its removal: only retention archival removes content, so this is a sign of tampering."
            </p>
        }
        .into_any(),
    };
    view! {
        <h1>{format!("Event {} (tombstone)", event.seq)}</h1>
        {archive}
        <dl class="details">
            <dt>"Event ID"</dt><dd><code>{event.id.clone()}</code></dd>
            <dt>"Received at"</dt><dd><time>{event.received_at.clone()}</time></dd>
            <dt>"Seq"</dt><dd>{event.seq}</dd>
            <dt>"Leaf hash"</dt><dd><code class="hash" data-testid="leaf-hash">{event.leaf_hash.clone()}</code></dd>
            <dt>"Chain hash"</dt><dd><code class="hash">{event.chain_hash.clone()}</code></dd>
        </dl>
        <Verify event=event.clone() ledger=ledger.clone() />
    }
}

/// The event's evidence file (docs/FORMAT.md §12: the event, its inclusion
/// proof and the signed checkpoint, as a C2SP tlog-proof), for anyone to
/// verify offline with `auditstore verify FILE --key VKEY`.
#[component]
fn EvidenceDownload(event: String, ledger: String) -> impl IntoView {
    let fetch = Action::new(move |_: &()| crate::api::event_evidence(ledger.clone(), event.clone()));
    view! {
        <section class="evidence" aria-labelledby="evidence-title">
            <h2 id="evidence-title">"Evidence file"</h2>
            <p class="help">"One file with this event, its inclusion proof and the signed checkpoint (a C2SP tlog-proof). Anyone can verify it offline, trusting nothing of this server, with " <code>"auditstore verify FILE --key VKEY"</code> " and the checkpoint key above."</p>
            <div class="button-row">
                <button type="button" class="secondary" data-testid="evidence" on:click=move |_| { fetch.dispatch(()); } disabled=move || fetch.pending().get()>
                    {move || if fetch.pending().get() { "Preparing…" } else { "Prepare the evidence file" }}
                </button>
                {move || fetch.value().get().map(|result| match result {
                    Ok(file) => view! {
                        <a class="button" data-testid="evidence-download" download=file.file_name.clone() href=data_url(&file.text)>
                            {format!("Download {}", file.file_name)}
                        </a>
                    }.into_any(),
                    Err(error) => view! { <span class="error" role="alert">{crate::components::error_text(&error)}</span> }.into_any(),
                })}
            </div>
        </section>
    }
}

/// A `data:` URL of `text`, so the file downloads from memory, with no
/// second request.
fn data_url(text: &str) -> String {
    use base64::Engine as _;
    format!("data:text/plain;charset=utf-8;base64,{}", base64::engine::general_purpose::STANDARD.encode(text))
}

/// Where this browser keeps the key the user pinned.
#[cfg(feature = "hydrate")]
const PIN_STORAGE_KEY: &str = "auditstore.pinned-checkpoint-key";

/// The key pinned in this browser, if any.
pub(crate) fn stored_pin() -> Option<String> {
    #[cfg(feature = "hydrate")]
    {
        window().local_storage().ok().flatten()?.get_item(PIN_STORAGE_KEY).ok().flatten()
    }
    #[cfg(not(feature = "hydrate"))]
    None
}

/// Pins `key` in this browser, or forgets the pin.
fn set_stored_pin(key: Option<&str>) {
    #[cfg(feature = "hydrate")]
    if let Some(storage) = window().local_storage().ok().flatten() {
        let _ = match key {
            Some(key) => storage.set_item(PIN_STORAGE_KEY, key),
            None => storage.remove_item(PIN_STORAGE_KEY),
        };
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = key;
}

/// Verification in the browser with audit-core (WebAssembly): the proof
/// and checkpoint come from the server, but every check runs here against
/// the pinned key, and the server's opinion is never asked. A key pinned
/// in this browser (local storage) wins over the one the server presents,
/// and a difference between the two is shown loudly.
#[component]
fn Verify(event: EventRow, ledger: String) -> impl IntoView {
    let key = Resource::new(|| (), |_| crate::api::get_checkpoint_key());
    let pinned = RwSignal::new(String::new());
    let server_key = RwSignal::new(String::new());
    let saved = RwSignal::new(None::<String>);
    // Runs in the browser only, after hydration.
    Effect::new(move |_| {
        if let Some(pin) = stored_pin() {
            pinned.set(pin.clone());
            saved.set(Some(pin));
        }
    });
    let tombstone = event.is_tombstone();
    let ledger_for_run = ledger.clone();
    let run = Action::new(move |pinned_key: &String| {
        let pinned_key = pinned_key.clone();
        let ledger = ledger_for_run.clone();
        let event = event.clone();
        async move {
            let bundle = crate::api::event_proof(ledger.clone(), event.seq).await?;
            // The fields on the page are checked against the hashed content
            // too, so what is shown is what is verified.
            Ok::<_, ServerFnError>(crate::verify::verify_event(&ledger, &event, &bundle, &pinned_key))
        }
    });
    let fingerprint = move || {
        let text = pinned.get();
        if text.trim().is_empty() {
            return "no key pinned".to_owned();
        }
        crate::verify::key_fingerprint(&text).unwrap_or_else(|e| format!("not a valid key: {e}"))
    };
    let differs =
        move || saved.get().is_some_and(|pin| !server_key.get().is_empty() && pin.trim() != server_key.get().trim());
    view! {
        <section class="verify" aria-labelledby="verify-title">
            <h2 id="verify-title">"Verify in your browser"</h2>
            <p class="help">{if tombstone {
                "Checks the checkpoint signature against the pinned key, that an archival accounts for the removed content, and the inclusion proof of the stored leaf hash against the signed root — all here, in WebAssembly."
            } else {
                "Checks the checkpoint signature against the pinned key, recomputes this event's leaf hash from the content shown above, and checks its inclusion proof against the signed root — all here, in WebAssembly."
            }}</p>
            <Suspense fallback=|| view! { <Loading /> }>
                {move || Suspend::new(async move {
                    match key.await {
                        Ok(key) => {
                            server_key.set(key.verifier_key.clone());
                            if pinned.get_untracked().is_empty() {
                                pinned.set(key.verifier_key.clone());
                            }
                            view! {
                                <p>"This server's checkpoint key has fingerprint " <code data-testid="server-fingerprint">{key.fingerprint}</code>
                                   ". Compare it with one obtained elsewhere, or paste that key below and pin it."</p>
                            }.into_any()
                        }
                        Err(error) => view! { <ErrorBox error /> }.into_any(),
                    }
                })}
            </Suspense>
            {move || differs().then(|| view! {
                <p class="error" role="alert" data-testid="pin-differs">
                    "The key pinned in this browser is not the key this server presents now. Verification uses your pinned key; find out why the server's key changed before trusting it."
                </p>
            })}
            <label for="pinned-key">"Pinned checkpoint key"</label>
            <textarea id="pinned-key" rows="2" prop:value=move || pinned.get() on:input=move |ev| pinned.set(event_target_value(&ev))></textarea>
            <p class="help">
                "Fingerprint of the pinned key: " <code data-testid="pinned-fingerprint">{fingerprint}</code>
                {move || saved.get().map(|_| " · pinned in this browser")}
            </p>
            <div class="button-row">
                <button type="button" data-testid="verify" on:click=move |_| { run.dispatch(pinned.get_untracked()); } disabled=move || run.pending().get()>
                    {move || if run.pending().get() { "Verifying…" } else { "Verify" }}
                </button>
                <button type="button" class="secondary" on:click=move |_| {
                    let key = pinned.get_untracked();
                    set_stored_pin(Some(&key));
                    saved.set(Some(key));
                }>"Pin this key in this browser"</button>
                {move || saved.get().map(|_| view! {
                    <button type="button" class="secondary" on:click=move |_| {
                        set_stored_pin(None);
                        saved.set(None);
                        pinned.set(server_key.get_untracked());
                    }>"Forget the pinned key"</button>
                })}
            </div>
            {move || run.value().get().map(|result| match result {
                Ok(steps) => {
                    let ok = crate::verify::all_ok(&steps);
                    view! {
                        <div class=if ok { "verdict ok" } else { "verdict bad" } role="alert" data-testid="verdict">
                            {match (ok, tombstone) {
                                (true, false) => "✔ Verified: this event is in the ledger's signed tree, unaltered.",
                                (true, true) => "✔ Verified: this event's leaf hash is in the ledger's signed tree; its content is archived (verify the archive file for it).",
                                (false, _) => "✖ VERIFICATION FAILED: do not trust this event's content or this server's proofs.",
                            }}
                        </div>
                        <crate::components::StepList steps testid="steps" />
                    }.into_any()
                }
                Err(error) => view! { <div class="verdict bad" role="alert" data-testid="verdict">"✖ Could not fetch the proof: " {crate::components::error_text(&error)}</div> }.into_any(),
            })}
        </section>
    }
}
