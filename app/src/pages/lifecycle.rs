//! `/ledgers/:id/retention`: a ledger's retention policy, archival now, its
//! archive files, and its deletion. Auditors read; admins change.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::{CancelLedgerDeletion, RemoveRetention, RunRetentionNow, ScheduleLedgerDeletion, SetRetention};
use crate::components::{loaded, outcome, session, CsrfField};
use crate::model::{ArchiveRow, LifecycleView};

/// The Retention page of one ledger.
#[component]
pub fn LedgerRetention() -> impl IntoView {
    let params = use_params_map();
    let ledger = Signal::derive(move || params.read().get("id").unwrap_or_default());
    let actions = Actions {
        set: ServerAction::<SetRetention>::new(),
        remove: ServerAction::<RemoveRetention>::new(),
        run: ServerAction::<RunRetentionNow>::new(),
        schedule: ServerAction::<ScheduleLedgerDeletion>::new(),
        cancel: ServerAction::<CancelLedgerDeletion>::new(),
    };
    let lifecycle =
        Resource::new(move || (ledger.get(), actions.versions()), |(ledger, _)| crate::api::ledger_lifecycle(ledger));
    let admin = session().viewer.is_some_and(|v| v.is_admin());
    view! {
        <Title text="Retention and deletion" />
        <section class="panel">
            <p class="breadcrumbs">
                <a href="/ledgers">"Ledgers"</a> " / "
                <a href=move || format!("/ledgers/{}", ledger.get())>"Events"</a>
            </p>
            <h1>"Retention and deletion"</h1>
            {outcome(actions.set)}
            {outcome(actions.remove)}
            {outcome(actions.run)}
            {outcome(actions.schedule)}
            {outcome(actions.cancel)}
            {loaded(lifecycle, move |view| view! { <Lifecycle view admin actions /> })}
        </section>
    }
}

/// The page's changes; each one reloads what it shows.
#[derive(Clone, Copy)]
struct Actions {
    set: ServerAction<SetRetention>,
    remove: ServerAction<RemoveRetention>,
    run: ServerAction<RunRetentionNow>,
    schedule: ServerAction<ScheduleLedgerDeletion>,
    cancel: ServerAction<CancelLedgerDeletion>,
}

impl Actions {
    fn versions(self) -> [usize; 5] {
        [
            self.set.version().get(),
            self.remove.version().get(),
            self.run.version().get(),
            self.schedule.version().get(),
            self.cancel.version().get(),
        ]
    }
}

#[component]
fn Lifecycle(view: LifecycleView, admin: bool, actions: Actions) -> impl IntoView {
    let ledger = view.ledger_id.clone();
    let policy = match &view.policy {
        None => view! { <p data-testid="retention-policy">"No retention policy: events are kept forever."</p> }.into_any(),
        Some(p) => view! {
            <p data-testid="retention-policy">
                {format!("Events are kept {} days from when they happened (their occurred_at), then archived. ", p.days)}
                {if p.locked {
                    view! { <span class="badge ok">"Locked: it can only be lengthened"</span> }.into_any()
                } else {
                    view! { <span class="badge neutral">"Unlocked"</span> }.into_any()
                }}
                <br /><small>{format!("Set by {} at {}", p.set_by, p.set_at)}{p.locked_at.clone().map(|at| format!(" · locked at {at}"))}</small>
            </p>
        }
        .into_any(),
    };
    let locked = view.policy.as_ref().is_some_and(|p| p.locked);
    let days = view.policy.as_ref().map(|p| p.days.to_string()).unwrap_or_default();
    let has_policy = view.policy.is_some();
    let (for_set, for_remove, for_run) = (ledger.clone(), ledger.clone(), ledger.clone());
    view! {
        <h2>"Retention policy"</h2>
        {policy}
        <p class="help">"Past its retention, an event is written to an archive file (a verifiable export) and only then turned into a tombstone: its content is removed, its seq and hashes stay, so every proof and checkpoint still verifies. Events a legal hold covers are never archived. A locked policy can never be shortened, unlocked or removed, by anyone."</p>
        {admin.then(|| view! {
            <ActionForm action=actions.set attr:class="form inline">
                <CsrfField />
                <input type="hidden" name="ledger" value=for_set.clone() />
                <label for="retention-days">"Keep events for (days)"</label>
                <input id="retention-days" name="days" inputmode="numeric" required=true value=days.clone() />
                <label for="retention-lock">"Lock"</label>
                <select id="retention-lock" name="lock">
                    {(!locked).then(|| view! { <option value="unlocked">"Unlocked (can be changed)"</option> })}
                    <option value="locked" selected=locked>"Locked (only lengthened, for good)"</option>
                </select>
                <button type="submit" disabled=move || actions.set.pending().get()>"Save the policy"</button>
            </ActionForm>
        })}
        {(admin && has_policy && !locked).then(|| view! {
            <ActionForm action=actions.remove attr:class="inline">
                <CsrfField />
                <input type="hidden" name="ledger" value=for_remove.clone() />
                <button type="submit" class="secondary">"Remove the policy (keep forever)"</button>
            </ActionForm>
        })}
        {(admin && has_policy).then(|| view! {
            <h2>"Archive now"</h2>
            <p class="help">"The retention job archives every hour; this runs it for this ledger now (up to 20 archive files at a time)."</p>
            <ActionForm action=actions.run attr:class="inline">
                <CsrfField />
                <input type="hidden" name="ledger" value=for_run.clone() />
                <button type="submit" disabled=move || actions.run.pending().get()>
                    {move || if actions.run.pending().get() { "Archiving…" } else { "Archive expired events now" }}
                </button>
            </ActionForm>
        })}
        <h2>"Archive files"</h2>
        <ArchiveTable rows=view.archives.clone() ledger=ledger.clone() />
        <Deletion view admin actions />
    }
}

#[component]
fn ArchiveTable(rows: Vec<ArchiveRow>, ledger: String) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="help">"Nothing archived yet."</p> }.into_any();
    }
    view! {
        <p class="help">"Each file is an export file of the events it removed, with their proofs: verify it offline with " <code>"auditstore verify FILE --key VKEY"</code> ", or drop it on the Exports page."</p>
        <div class="table-wrap">
            <table data-testid="archives">
                <thead>
                    <tr>
                        <th scope="col">"Archived"</th>
                        <th scope="col">"Events"</th>
                        <th scope="col">"File"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows.into_iter().map(|row| {
                        let href = format!("/ledgers/{ledger}/archives/{}/download", row.id);
                        view! {
                            <tr>
                                <td><time>{row.archived_at.clone()}</time><br /><small>{row.archived_by.clone()}</small></td>
                                <td>
                                    {format!("{} events of seqs {}–{}", row.events, row.from_seq, row.to_seq)}
                                    <br /><small>{format!("occurred before {}", row.archived_before)}</small>
                                </td>
                                <td>
                                    <a class="button secondary" rel="external" download="" data-testid="archive-download" href=href>
                                        {format!("Download {}", row.id)}
                                    </a>
                                    <br /><small>"SHA-256 " <code class="hash" data-testid="archive-sha256">{row.sha256.clone()}</code></small>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn Deletion(view: LifecycleView, admin: bool, actions: Actions) -> impl IntoView {
    let ledger = view.ledger_id.clone();
    let body = if view.kind == "system" {
        view! { <p class="help">"The system ledger is deleted only with its account (" <code>"auditstore admin delete-account"</code> ")."</p> }.into_any()
    } else if let Some(deletion) = view.deletion.clone() {
        view! {
            <p class="error" role="status" data-testid="deletion-scheduled">
                {format!("Deletion scheduled: this ledger is deleted at {}. It accepts no events until then.", deletion.delete_at)}
                <br /><small>{format!("Asked by {} at {}", deletion.requested_by, deletion.requested_at)}</small>
            </p>
            {(admin && deletion.status == "scheduled").then(|| view! {
                <ActionForm action=actions.cancel attr:class="inline">
                    <CsrfField />
                    <input type="hidden" name="ledger" value=ledger.clone() />
                    <button type="submit">"Cancel the deletion"</button>
                </ActionForm>
            })}
        }
        .into_any()
    } else {
        let held = (!view.holds.is_empty()).then(|| {
            let holds = view.holds.iter().map(|(id, case)| format!("{id} ({case})")).collect::<Vec<_>>().join(", ");
            view! { <p class="notice" data-testid="deletion-held">{format!("Legal holds apply, so it cannot be deleted while they stand: {holds}.")}</p> }
        });
        view! {
            <p class="help">{format!(
                "Deleting a ledger waits {} hours, during which it can be cancelled here. Then its data keys are destroyed, its events deleted, and its final checkpoint recorded in the system log.",
                view.grace_hours
            )}</p>
            {held}
            {admin.then(|| view! {
                <ActionForm action=actions.schedule attr:class="form inline">
                    <CsrfField />
                    <input type="hidden" name="ledger" value=ledger.clone() />
                    <label for="delete-confirm">{format!("Type {} to confirm", view.ledger_name)}</label>
                    <input id="delete-confirm" name="confirm" required=true autocomplete="off" />
                    <button type="submit" class="danger">"Delete this ledger"</button>
                </ActionForm>
            })}
        }
        .into_any()
    };
    view! {
        <h2>"Deletion"</h2>
        {body}
    }
}
