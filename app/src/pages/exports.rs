//! `/ledgers/:id/exports`: start an export from the explorer's filters,
//! follow its progress, download the file and read its SHA-256.

use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::StartExport;
use crate::components::{loaded, CsrfField, ErrorBox};
use crate::model::ExportRow;
use crate::verify::Step;
#[cfg(feature = "hydrate")]
use crate::verify_export::{ExportCheck, Progress};

/// Rows verified between two repaints.
#[cfg(feature = "hydrate")]
const ROWS_PER_SLICE: usize = 5_000;

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1u32 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

fn events(n: u64) -> String {
    if n == 1 {
        "1 event".to_owned()
    } else {
        format!("{n} events")
    }
}

/// The Exports page of one ledger.
#[component]
pub fn LedgerExports() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let ledger = Signal::derive(move || params.read().get("id").unwrap_or_default());
    let start = ServerAction::<StartExport>::new();
    let tick = RwSignal::new(0u32);
    let exports = Resource::new(
        move || (ledger.get(), start.version().get(), tick.get()),
        |(ledger, _, _)| crate::api::list_exports(ledger),
    );
    // While an export is unfinished, the list is read again every second
    // (effects run in the browser only).
    Effect::new(move |_| {
        if let Some(Ok(rows)) = exports.get() {
            if rows.iter().any(ExportRow::unfinished) {
                set_timeout(move || tick.update(|t| *t += 1), Duration::from_secs(1));
            }
        }
    });
    let q = move |name: &str| query.read().get(name).unwrap_or_default();
    view! {
        <Title text="Exports" />
        <section class="panel">
            <p class="breadcrumbs">
                <a href="/ledgers">"Ledgers"</a> " / "
                <a href=move || format!("/ledgers/{}", ledger.get())>"Events"</a>
            </p>
            <h1>"Exports"</h1>
            <p class="help">
                "An export is one ZIP file with the events, their proofs, the signed checkpoint and a manifest of \
                 digests. Anyone can verify it offline, trusting nothing of this server, with "
                <code>"auditstore verify FILE --key VKEY"</code>
                ". Without filters it carries the range proof and re-walks the hash chain; with filters, an \
                 inclusion proof per event. Files are deleted when they expire; the record stays."
            </p>
            <ActionForm action=start attr:class="filters">
                <CsrfField />
                <input type="hidden" name="ledger" value=move || ledger.get() />
                <input type="hidden" name="range" value=move || q("range") />
                <div class="field">
                    <label for="x-format">"Format"</label>
                    <select id="x-format" name="format">
                        <option value="jsonl" selected=true>"JSON Lines"</option>
                        <option value="csv">"CSV (spreadsheets)"</option>
                        <option value="parquet">"Parquet (data tools)"</option>
                    </select>
                </div>
                <div class="field">
                    <label for="x-actor">"Actor ID"</label>
                    <input id="x-actor" name="actor" value=move || q("actor") />
                </div>
                <div class="field">
                    <label for="x-action">"Action"</label>
                    <input id="x-action" name="action" value=move || q("action") />
                </div>
                <div class="field">
                    <label for="x-resource">"Resource ID"</label>
                    <input id="x-resource" name="resource" value=move || q("resource") />
                </div>
                <div class="field">
                    <label for="x-from">"From (UTC)"</label>
                    <input id="x-from" name="from" type="datetime-local" value=move || q("from") />
                </div>
                <div class="field">
                    <label for="x-to">"To (UTC)"</label>
                    <input id="x-to" name="to" type="datetime-local" value=move || q("to") />
                </div>
                <div class="field">
                    <label for="x-from-seq">"From seq"</label>
                    <input id="x-from-seq" name="from_seq" inputmode="numeric" placeholder="first event" />
                </div>
                <div class="field">
                    <label for="x-to-seq">"To seq (included)"</label>
                    <input id="x-to-seq" name="to_seq" inputmode="numeric" placeholder="last event" />
                </div>
                {move || (!q("range").is_empty()).then(|| view! {
                    <p class="help">{format!("Quick range: the last {} (from when you start the export).", q("range"))}</p>
                })}
                <div class="field actions">
                    <button type="submit" disabled=move || start.pending().get()>"Start the export"</button>
                </div>
            </ActionForm>
            {move || start.value().get().map(|result| match result {
                Ok(id) => view! { <p class="success" role="status">{format!("Export {id} started.")}</p> }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </section>
        <section class="panel">
            <h2>"Past exports"</h2>
            {loaded(exports, move |rows| view! { <ExportTable rows ledger=ledger.get_untracked() /> })}
        </section>
        <VerifyDrop />
    }
}

/// Runs `check` a slice at a time, yielding to the page between slices so
/// the progress shows, until it has a verdict.
#[cfg(feature = "hydrate")]
fn run_slices(mut check: ExportCheck, progress: RwSignal<Option<(u64, u64)>>, verdict: RwSignal<Option<Vec<Step>>>) {
    match check.step(ROWS_PER_SLICE) {
        Progress::Working => {
            progress.set(Some((check.done, check.total)));
            set_timeout(move || run_slices(check, progress, verdict), Duration::ZERO);
        }
        Progress::Finished(steps) => {
            progress.set(None);
            verdict.set(Some(steps));
        }
    }
}

/// Reads a file the user chose or dropped, whole (the browser holds it already).
#[cfg(feature = "hydrate")]
async fn file_bytes(file: web_sys::File) -> Result<Vec<u8>, String> {
    let buffer = wasm_bindgen_futures::JsFuture::from(file.array_buffer())
        .await
        .map_err(|_| "the file could not be read".to_owned())?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// Verifies an export file dropped here (or chosen), in this browser, with
/// audit-core in WebAssembly, against the key pinned in this browser (else
/// the one this server presents, said so): nothing is sent anywhere.
#[component]
fn VerifyDrop() -> impl IntoView {
    let server_key = Resource::new(|| (), |_| crate::api::get_checkpoint_key());
    let progress = RwSignal::new(None::<(u64, u64)>);
    let verdict = RwSignal::new(None::<Vec<Step>>);
    let name = RwSignal::new(String::new());
    let key_note = RwSignal::new(String::new());
    let dragging = RwSignal::new(false);
    // The server's key is the fallback of the browser's side only.
    #[cfg(not(feature = "hydrate"))]
    let _ = server_key;
    #[cfg(feature = "hydrate")]
    let start = move |file: web_sys::File| {
        name.set(file.name());
        verdict.set(None);
        progress.set(Some((0, 0)));
        leptos::task::spawn_local(async move {
            let pinned = super::ledgers::stored_pin();
            let key = match &pinned {
                Some(key) => {
                    key_note.set("the key pinned in this browser".into());
                    key.clone()
                }
                None => {
                    key_note.set("this server's key (pin one of your own on an event page)".into());
                    server_key.await.map(|k| k.verifier_key).unwrap_or_default()
                }
            };
            match file_bytes(file).await {
                Err(error) => {
                    progress.set(None);
                    verdict.set(Some(vec![Step { title: "Reading the file".into(), ok: false, detail: error }]));
                }
                Ok(bytes) => match ExportCheck::open(&bytes, &key) {
                    Ok(check) => run_slices(check, progress, verdict),
                    Err(steps) => {
                        progress.set(None);
                        verdict.set(Some(steps));
                    }
                },
            }
        });
    };
    let on_change = move |_ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        {
            use leptos::wasm_bindgen::JsCast as _;
            let file = _ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
                .and_then(|input| input.files())
                .and_then(|files| files.get(0));
            if let Some(file) = file {
                start(file);
            }
        }
    };
    let on_drop = move |_ev: leptos::ev::DragEvent| {
        _ev.prevent_default();
        dragging.set(false);
        #[cfg(feature = "hydrate")]
        if let Some(file) = _ev.data_transfer().and_then(|d| d.files()).and_then(|files| files.get(0)) {
            start(file);
        }
    };
    view! {
        <section class="panel" aria-labelledby="verify-drop-title">
            <h2 id="verify-drop-title">"Verify an export file"</h2>
            <p class="help">"Drop an export file (JSON Lines, CSV or Parquet) here to verify it in this browser, in WebAssembly: the members against the manifest's digests, the checkpoint signature against your pinned key, every event's leaf hash from its content, the chain and the range proof (or each inclusion proof). The file never leaves your computer; it is read into this tab's memory, so files of more than a few hundred MiB are better verified with " <code>"auditstore verify"</code> "."</p>
            <div
                class=move || if dragging.get() { "drop-zone dragging" } else { "drop-zone" }
                data-testid="drop-zone"
                on:dragover=move |ev: leptos::ev::DragEvent| { ev.prevent_default(); dragging.set(true); }
                on:dragleave=move |_| dragging.set(false)
                on:drop=on_drop
            >
                <label for="verify-file">"Export file to verify"</label>
                <input id="verify-file" type="file" accept=".zip,application/zip" on:change=on_change />
            </div>
            {move || progress.get().map(|(done, total)| view! {
                <p role="status" aria-live="polite">
                    {format!("Verifying {}… {done} of {total} events", name.get())}
                    <br /><progress max=total.to_string() value=done.to_string()></progress>
                </p>
            })}
            {move || verdict.get().map(|steps| {
                let ok = steps.iter().all(|s| s.ok) && steps.len() == 4;
                view! {
                    <div class=if ok { "verdict ok" } else { "verdict bad" } role="alert" data-testid="export-verdict">
                        {if ok {
                            format!("✔ Verified: {} is a complete, unaltered export, signed by {}.", name.get(), key_note.get())
                        } else {
                            format!("✖ VERIFICATION FAILED: do not trust {}.", name.get())
                        }}
                    </div>
                    <crate::components::StepList steps testid="export-steps" />
                }
            })}
        </section>
    }
}

#[component]
fn ExportTable(rows: Vec<ExportRow>, ledger: String) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="help">"No exports yet."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table data-testid="exports">
                <thead>
                    <tr>
                        <th scope="col">"Requested"</th>
                        <th scope="col">"What"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"File"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows.into_iter().map(|row| view! { <ExportLine row ledger=ledger.clone() /> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn ExportLine(row: ExportRow, ledger: String) -> impl IntoView {
    let filter = if row.filter.is_empty() {
        "all events".to_owned()
    } else {
        row.filter.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join(", ")
    };
    let status = match row.status.as_str() {
        "done" => view! { <span class="badge ok" data-testid="export-status">"done"</span> }.into_any(),
        "failed" => view! {
            <span class="badge bad" data-testid="export-status">"failed"</span>
            <br /><small role="alert">{row.reason.clone().unwrap_or_default()}</small>
        }
        .into_any(),
        other => view! { <span class="badge neutral" data-testid="export-status">{other.to_owned()}</span> }.into_any(),
    };
    let progress = row.unfinished().then(|| {
        let (value, max, label) = row.progress();
        view! {
            <br />
            <progress max=max.to_string() value=value.to_string() aria-label=label.clone()></progress>
            <br /><small>{label}</small>
        }
    });
    let file = match (row.status.as_str(), &row.sha256) {
        ("done", Some(sha256)) => {
            let href = format!("/ledgers/{ledger}/exports/{}/download", row.id);
            view! {
                <a class="button" rel="external" download="" data-testid="export-download" href=href>
                    {format!("Download ({}, {})", size(row.bytes), events(row.events_written))}
                </a>
                <br /><small>"SHA-256 "<code class="hash" data-testid="export-sha256">{sha256.clone()}</code></small>
                {row.expires_at.clone().map(|at| view! { <br /><small>{format!("Deleted after {at}")}</small> })}
            }
            .into_any()
        }
        ("expired", _) => view! { <small>"The file expired."</small> }.into_any(),
        _ => view! { <small>"—"</small> }.into_any(),
    };
    view! {
        <tr>
            <td><time>{row.created_at.clone()}</time><br /><small>{row.requested_by.clone()}</small></td>
            <td>
                {format!("{} · seqs {}–{}", row.format, row.from_seq, row.to_seq)}
                <br /><small>{filter}</small>
            </td>
            <td>{status}{progress}</td>
            <td>{file}</td>
        </tr>
    }
}
