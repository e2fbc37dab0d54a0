//! `/webhooks`: the account's webhook endpoints and their recent
//! deliveries; admins create them (the signing secret is shown once),
//! rotate secrets, enable disabled ones and delete them.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{CreateWebhook, DeleteWebhook, EnableWebhook, RotateWebhookSecret};
use crate::components::{loaded, session, CsrfField, ErrorBox, SecretOnce};
use crate::model::{EventTypeRow, WebhookRow};

/// The types checked when the form opens: what an integrity officer wants.
const DEFAULT_TYPES: [&str; 2] = ["integrity.anomaly", "integrity.stale"];

#[component]
pub fn Webhooks() -> impl IntoView {
    let admin = session().viewer.is_some_and(|v| v.is_admin());
    let create = ServerAction::<CreateWebhook>::new();
    let rotate = ServerAction::<RotateWebhookSecret>::new();
    let enable = ServerAction::<EnableWebhook>::new();
    let delete = ServerAction::<DeleteWebhook>::new();
    let page = Resource::new(
        move || (create.version().get(), rotate.version().get(), enable.version().get(), delete.version().get()),
        |_| crate::api::list_webhooks(),
    );
    view! {
        <Title text="Webhooks" />
        <section class="panel">
            <h1>"Webhooks"</h1>
            <p class="notice">
                "Signed with Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature): verify them with any Standard Webhooks library and the endpoint's whsec_ secret. Failed deliveries are retried with backoff for more than a day, with the same webhook-id."
            </p>
            {move || rotate.value().get().map(|r| match r {
                Ok(new) => view! { <SecretOnce name=new.url secret=new.secret /> }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
            {move || enable.value().get().and_then(Result::err).map(|error| view! { <ErrorBox error /> })}
            {move || delete.value().get().and_then(Result::err).map(|error| view! { <ErrorBox error /> })}
            {loaded(page, move |page| {
                if page.webhooks.is_empty() {
                    view! { <p class="empty">"No webhook endpoints yet."</p> }.into_any()
                } else {
                    page.webhooks.into_iter().map(|row| view! { <Endpoint row admin rotate enable delete /> }).collect_view().into_any()
                }
            })}
        </section>
        <section class="panel">
            <h2>"Add an endpoint"</h2>
            {if admin {
                view! {
                    {loaded(page, move |page| view! { <CreateForm types=page.event_types create /> })}
                    {move || create.value().get().map(|r| match r {
                        Ok(new) => view! { <SecretOnce name=new.url secret=new.secret /> }.into_any(),
                        Err(error) => view! { <ErrorBox error /> }.into_any(),
                    })}
                }.into_any()
            } else {
                view! { <p class="notice">"Only admins and owners can manage webhooks."</p> }.into_any()
            }}
        </section>
    }
}

#[component]
fn CreateForm(types: Vec<EventTypeRow>, create: ServerAction<CreateWebhook>) -> impl IntoView {
    let chosen = RwSignal::new(DEFAULT_TYPES.iter().map(|t| (*t).to_owned()).collect::<Vec<String>>());
    view! {
        <ActionForm action=create attr:class="form">
            <CsrfField />
            <label for="webhook-url">"URL"</label>
            <input id="webhook-url" name="url" type="url" required=true maxlength="2048" placeholder="https://hooks.example.com/auditstore" />
            <label for="webhook-description">"Description"</label>
            <input id="webhook-description" name="description" maxlength="200" placeholder="e.g. security on-call" />
            <fieldset>
                <legend>"Event types"</legend>
                {types.into_iter().map(|t| {
                    let name = t.name.clone();
                    let checked = chosen.get_untracked().contains(&name);
                    let toggle = name.clone();
                    view! {
                        <label class="check" title=t.about.clone()>
                            <input type="checkbox" value=name.clone() checked=checked data-event-type=name.clone()
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    chosen.update(|list| {
                                        list.retain(|n| *n != toggle);
                                        if on { list.push(toggle.clone()); }
                                    });
                                } />
                            <code>{name.clone()}</code>" "<small>{t.about.clone()}</small>
                        </label>
                    }
                }).collect_view()}
            </fieldset>
            <input type="hidden" name="events" prop:value=move || chosen.get().join(",") />
            <button type="submit" disabled=move || create.pending().get()>"Add endpoint"</button>
        </ActionForm>
    }
}

/// Which destructive action of an endpoint waits for confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    None,
    Rotate,
    Delete,
}

#[component]
fn Endpoint(
    row: WebhookRow,
    admin: bool,
    rotate: ServerAction<RotateWebhookSecret>,
    enable: ServerAction<EnableWebhook>,
    delete: ServerAction<DeleteWebhook>,
) -> impl IntoView {
    let csrf = session().csrf;
    let confirming = RwSignal::new(Pending::None);
    let enabled = row.status == "enabled";
    let (id, id_rotate, id_delete, id_enable) = (row.id.clone(), row.id.clone(), row.id.clone(), row.id.clone());
    let (csrf_rotate, csrf_delete, csrf_enable) = (csrf.clone(), csrf.clone(), csrf);
    view! {
        <article class="webhook" data-webhook-id=id.clone()>
            <h3><code>{row.url.clone()}</code>" "
                {if enabled { view! { <span class="badge ok">"enabled"</span> } } else { view! { <span class="badge bad">"disabled"</span> } }}
            </h3>
            {(!row.description.is_empty()).then(|| view! { <p>{row.description.clone()}</p> })}
            <p><small>{format!("Events: {}", row.events.join(", "))}</small><br />
               <small>{format!("Created {}", row.created_at)}</small>
               {row.previous_secret_until.clone().map(|until| view! { <br /><small>{format!("The previous secret also signs until {until}")}</small> })}
            </p>
            {row.disabled_reason.clone().map(|why| view! { <p class="error" role="alert">{format!("Disabled: {why}")}</p> })}
            {row.failing_since.clone().filter(|_| enabled).map(|since| view! { <p class="notice">{format!("Every attempt has failed since {since}.")}</p> })}
            {admin.then(|| view! {
                <p class="row-actions">
                    {move || match confirming.get() {
                        Pending::Rotate => {
                            let (csrf, id) = (csrf_rotate.clone(), id_rotate.clone());
                            view! {
                                <span role="group" aria-label="Confirm rotation">
                                    <button type="button" on:click=move |_| { confirming.set(Pending::None); rotate.dispatch(RotateWebhookSecret { csrf: csrf.clone(), id: id.clone() }); }>"Rotate now (the old secret signs for one more day)"</button>
                                    <button type="button" class="secondary" on:click=move |_| confirming.set(Pending::None)>"Cancel"</button>
                                </span>
                            }.into_any()
                        }
                        Pending::Delete => {
                            let (csrf, id) = (csrf_delete.clone(), id_delete.clone());
                            view! {
                                <span role="group" aria-label="Confirm deletion">
                                    <button type="button" class="danger" on:click=move |_| { confirming.set(Pending::None); delete.dispatch(DeleteWebhook { csrf: csrf.clone(), id: id.clone() }); }>"Delete now"</button>
                                    <button type="button" class="secondary" on:click=move |_| confirming.set(Pending::None)>"Cancel"</button>
                                </span>
                            }.into_any()
                        }
                        Pending::None => {
                            let (csrf, id) = (csrf_enable.clone(), id_enable.clone());
                            view! {
                                {(!enabled).then(|| view! { <button type="button" on:click=move |_| { enable.dispatch(EnableWebhook { csrf: csrf.clone(), id: id.clone() }); }>"Enable"</button> })}
                                <button type="button" class="secondary" on:click=move |_| confirming.set(Pending::Rotate)>"Rotate secret…"</button>
                                <button type="button" class="danger" on:click=move |_| confirming.set(Pending::Delete)>"Delete…"</button>
                            }.into_any()
                        }
                    }}
                </p>
            })}
            <h4>"Recent deliveries"</h4>
            {if row.deliveries.is_empty() {
                view! { <p class="empty">"None yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table data-testid=format!("deliveries-{id}")>
                            <thead><tr>
                                <th scope="col">"Event type"</th><th scope="col">"Message"</th><th scope="col">"Status"</th>
                                <th scope="col">"Attempts"</th><th scope="col">"Last result"</th><th scope="col">"Queued"</th>
                            </tr></thead>
                            <tbody>
                                {row.deliveries.into_iter().map(|d| {
                                    let badge = match d.status.as_str() { "delivered" => "badge ok", "failed" => "badge bad", _ => "badge" };
                                    view! {
                                        <tr>
                                            <td><code>{d.event_type}</code></td>
                                            <td><code>{d.message_id}</code></td>
                                            <td><span class=badge>{d.status}</span>
                                                {d.next_attempt_at.map(|at| view! { <br /><small>{format!("next attempt {at}")}</small> })}</td>
                                            <td>{d.attempts}</td>
                                            <td>{d.last_result.unwrap_or_default()}</td>
                                            <td>{d.created_at}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </article>
    }
}
