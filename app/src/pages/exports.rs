//! `/ledgers/:id/exports`: start an export from the explorer's filters,
//! follow its progress, download the file and read its SHA-256.

use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::StartExport;
use crate::components::{loaded, CsrfField, ErrorBox};
use crate::model::ExportRow;

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
        let label = format!("{} of {} events read, {} written", row.events_scanned, row.events_total, row.events_written);
        view! {
            <br />
            <progress max=row.events_total.to_string() value=row.events_scanned.to_string() aria-label=label.clone()></progress>
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
