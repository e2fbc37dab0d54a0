//! `/holds` and `/ledgers/:id/holds`: legal holds, each with what it
//! covers now. Admins place them (with a case, a reason and a scope) and
//! release them (with a reason); auditors see them.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::{PlaceHold, ReleaseHold};
use crate::components::{loaded, outcome, session, CsrfField, ErrorBox};
use crate::model::HoldRow;

/// The holds of the whole account, account-wide ones placed here.
#[component]
pub fn AccountHolds() -> impl IntoView {
    view! {
        <Title text="Legal holds" />
        <section class="panel">
            <h1>"Legal holds"</h1>
            <p class="help">"Every hold of the account. A hold placed here covers every ledger; a hold of one ledger is placed from that ledger's Holds page."</p>
            <Holds ledger=Signal::stored(String::new()) />
        </section>
    }
}

/// The holds that apply to one ledger: its own and the account-wide ones.
#[component]
pub fn LedgerHolds() -> impl IntoView {
    let params = use_params_map();
    let ledger = Signal::derive(move || params.read().get("id").unwrap_or_default());
    view! {
        <Title text="Legal holds" />
        <section class="panel">
            <p class="breadcrumbs">
                <a href="/ledgers">"Ledgers"</a> " / "
                <a href=move || format!("/ledgers/{}", ledger.get())>"Events"</a>
            </p>
            <h1>"Legal holds"</h1>
            <p class="help">"The holds of this ledger and those of the whole account (" <a href="/holds">"all holds"</a> ")."</p>
            <Holds ledger />
        </section>
    }
}

#[component]
fn Holds(ledger: Signal<String>) -> impl IntoView {
    let place = ServerAction::<PlaceHold>::new();
    let release = ServerAction::<ReleaseHold>::new();
    let holds = Resource::new(
        move || (ledger.get(), place.version().get(), release.version().get()),
        |(ledger, _, _)| crate::api::list_holds(ledger),
    );
    let admin = session().viewer.is_some_and(|v| v.is_admin());
    view! {
        <p class="help">"Events a hold covers are never archived, whatever the retention, and a ledger any hold covers cannot be deleted. Holds have no expiry: one stands until it is released. Placing and releasing are recorded in the system log."</p>
        {admin.then(|| view! { <PlaceForm ledger place /> })}
        {move || place.value().get().map(|result| match result {
            Ok(id) => view! { <p class="success" role="status">{format!("Hold {id} placed.")}</p> }.into_any(),
            Err(error) => view! { <ErrorBox error /> }.into_any(),
        })}
        {outcome(release)}
        <h2>"Holds"</h2>
        {loaded(holds, move |rows| view! { <HoldTable rows admin release /> })}
    }
}

#[component]
fn PlaceForm(ledger: Signal<String>, place: ServerAction<PlaceHold>) -> impl IntoView {
    view! {
        <h2>{move || if ledger.get().is_empty() { "Place an account-wide hold" } else { "Place a hold on this ledger" }}</h2>
        <ActionForm action=place attr:class="filters">
            <CsrfField />
            <input type="hidden" name="ledger" value=move || ledger.get() />
            <div class="field">
                <label for="hold-case">"Case"</label>
                <input id="hold-case" name="case" required=true maxlength="200" placeholder="e.g. SEC-2026-17" />
            </div>
            <div class="field">
                <label for="hold-reason">"Reason"</label>
                <input id="hold-reason" name="reason" required=true maxlength="2000" placeholder="e.g. subpoena of 3 Nov" />
            </div>
            <div class="field">
                <label for="hold-actor">"Only actor ID"</label>
                <input id="hold-actor" name="actor" placeholder="any actor" />
            </div>
            <div class="field">
                <label for="hold-resource">"Only resource ID"</label>
                <input id="hold-resource" name="resource" placeholder="any resource" />
            </div>
            <div class="field">
                <label for="hold-from">"Occurred from (UTC)"</label>
                <input id="hold-from" name="from" type="datetime-local" />
            </div>
            <div class="field">
                <label for="hold-to">"Occurred before (UTC)"</label>
                <input id="hold-to" name="to" type="datetime-local" />
            </div>
            <div class="field actions">
                <button type="submit" disabled=move || place.pending().get()>"Place the hold"</button>
            </div>
        </ActionForm>
        <p class="help">"Every field of the scope given must match; with none, the hold covers every event."</p>
    }
}

#[component]
fn HoldTable(rows: Vec<HoldRow>, admin: bool, release: ServerAction<ReleaseHold>) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="empty">"No legal holds."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table data-testid="holds">
                <thead>
                    <tr>
                        <th scope="col">"Case"</th>
                        <th scope="col">"Covers"</th>
                        <th scope="col">"Placed"</th>
                        <th scope="col">"Status"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows.into_iter().map(|row| view! { <HoldLine row admin release /> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn HoldLine(row: HoldRow, admin: bool, release: ServerAction<ReleaseHold>) -> impl IntoView {
    let scope = if row.scope.is_empty() {
        "every event".to_owned()
    } else {
        row.scope.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join(", ")
    };
    let on = match &row.ledger {
        Some((id, name)) => view! { <a href=format!("/ledgers/{id}")>{name.clone()}</a> }.into_any(),
        None => view! { <strong>"every ledger"</strong> }.into_any(),
    };
    let covers = match (&row.released, row.uncounted) {
        (Some(_), _) => "nothing (released)".to_owned(),
        (None, 0) => events(row.covers),
        (None, more) => format!("{} (and up to {more} newer events not indexed yet)", events(row.covers)),
    };
    let reason_id = format!("release-reason-{}", row.id);
    let hold_id = row.id.clone();
    let status = match row.released.clone() {
        Some(released) => view! {
            <span class="badge neutral">"released"</span>
            <br /><small>{format!("by {} at {}: {}", released.by, released.at, released.reason)}</small>
        }
        .into_any(),
        None => view! {
            <span class="badge ok">"active"</span>
            {admin.then(|| view! {
                <ActionForm action=release attr:class="form inline">
                    <CsrfField />
                    <input type="hidden" name="hold" value=hold_id.clone() />
                    <label for=reason_id.clone()>"Reason for releasing"</label>
                    <input id=reason_id.clone() name="reason" required=true maxlength="2000" />
                    <button type="submit" class="secondary">"Release"</button>
                </ActionForm>
            })}
        }
        .into_any(),
    };
    view! {
        <tr data-hold=row.id.clone()>
            <td>
                <strong>{row.case.clone()}</strong>
                <br /><small>{row.reason.clone()}</small>
                <br /><small><code>{row.id.clone()}</code></small>
            </td>
            <td>
                {on}{format!(" · {scope}")}
                <br /><span data-testid="hold-covers">{covers}</span>
            </td>
            <td><time>{row.placed_at.clone()}</time><br /><small>{row.placed_by.clone()}</small></td>
            <td>{status}</td>
        </tr>
    }
}

fn events(n: u64) -> String {
    if n == 1 {
        "1 event".to_owned()
    } else {
        format!("{n} events")
    }
}
