//! `/keys`: the account's API keys.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{CreateKey, RevokeKey, RotateKey};
use crate::components::{loaded, session, CsrfField, ErrorBox, Loading, SecretOnce};
use crate::model::KeyRow;

/// The keys page: admins create, rotate and revoke; auditors see the list.
#[component]
pub fn Keys() -> impl IntoView {
    let admin = session().viewer.is_some_and(|v| v.is_admin());
    let create = ServerAction::<CreateKey>::new();
    let rotate = ServerAction::<RotateKey>::new();
    let revoke = ServerAction::<RevokeKey>::new();
    let keys = Resource::new(
        move || (create.version().get(), rotate.version().get(), revoke.version().get()),
        |_| crate::api::list_keys(),
    );
    let ledgers = Resource::new(|| (), |_| crate::api::list_ledgers());
    view! {
        <Title text="API keys" />
        <section class="panel">
            <h1>"API keys"</h1>
            {move || rotate.value().get().map(|r| match r {
                Ok(key) => view! { <SecretOnce name=key.name secret=key.secret /> }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
            {move || revoke.value().get().and_then(Result::err).map(|error| view! { <ErrorBox error /> })}
            {loaded(keys, move |rows| {
                if rows.is_empty() {
                    view! { <p class="empty">"No API keys yet."</p> }.into_any()
                } else {
                    view! { <KeyTable rows admin rotate revoke /> }.into_any()
                }
            })}
        </section>
        <section class="panel">
            <h2>"Create a key"</h2>
            {if admin {
                view! {
                    <ActionForm action=create attr:class="form">
                        <CsrfField />
                        <label for="key-name">"Name"</label>
                        <input id="key-name" name="name" required=true maxlength="128" placeholder="e.g. billing-service" />
                        <label for="key-permission">"Permission"</label>
                        <select id="key-permission" name="permission">
                            <option value="write">"Write-only (append events)"</option>
                            <option value="read">"Read-only (events and proofs)"</option>
                        </select>
                        <label for="key-ledger">"Scope"</label>
                        <Suspense fallback=|| view! { <Loading /> }>
                            {move || Suspend::new(async move {
                                let options = ledgers.await.unwrap_or_default();
                                view! {
                                    <select id="key-ledger" name="ledger">
                                        <option value="">"All ledgers of the account"</option>
                                        {options.into_iter().filter(|l| l.kind != "system").map(|l| view! { <option value=l.id.clone()>{format!("Ledger {}", l.name)}</option> }).collect_view()}
                                    </select>
                                }
                            })}
                        </Suspense>
                        <button type="submit" disabled=move || create.pending().get()>"Create key"</button>
                    </ActionForm>
                    {move || create.value().get().map(|r| match r {
                        Ok(key) => view! { <SecretOnce name=key.name secret=key.secret /> }.into_any(),
                        Err(error) => view! { <ErrorBox error /> }.into_any(),
                    })}
                }.into_any()
            } else {
                view! { <p class="notice">"Only admins and owners can create, rotate or revoke keys."</p> }.into_any()
            }}
        </section>
    }
}

/// Which destructive action of a row waits for confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    None,
    Rotate,
    Revoke,
}

#[component]
fn KeyTable(
    rows: Vec<KeyRow>,
    admin: bool,
    rotate: ServerAction<RotateKey>,
    revoke: ServerAction<RevokeKey>,
) -> impl IntoView {
    let csrf = session().csrf;
    view! {
        <div class="table-wrap">
            <table>
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Prefix"</th>
                        <th scope="col">"Scope"</th>
                        <th scope="col">"Permission"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Last used"</th>
                        <th scope="col">"Status"</th>
                        {admin.then(|| view! { <th scope="col">"Actions"</th> })}
                    </tr>
                </thead>
                <tbody>
                    {rows.into_iter().map(|key| {
                        let confirming = RwSignal::new(Pending::None);
                        let csrf = csrf.clone();
                        let (id_rotate, id_revoke) = (key.id.clone(), key.id.clone());
                        let (csrf_rotate, csrf_revoke) = (csrf.clone(), csrf.clone());
                        view! {
                            <tr data-key-id=key.id.clone()>
                                <td>{key.name.clone()}</td>
                                <td><code>{key.prefix.clone()}</code></td>
                                <td>{key.scope.clone()}</td>
                                <td>{key.permission.clone()}</td>
                                <td>{key.created_at.clone()}<br /><small>{key.created_by.clone().unwrap_or_default()}</small></td>
                                <td>{key.last_used_at.clone().unwrap_or_else(|| "never".into())}</td>
                                <td>{if key.revoked { view! { <span class="badge bad">"revoked"</span> } } else { view! { <span class="badge ok">"active"</span> } }}</td>
                                {(admin && !key.revoked).then(|| view! {
                                    <td class="row-actions">
                                        {move || match confirming.get() {
                                            Pending::Rotate => {
                                                let (csrf, id) = (csrf_rotate.clone(), id_rotate.clone());
                                                view! {
                                                    <span role="group" aria-label="Confirm rotation">
                                                        <button type="button" on:click=move |_| { confirming.set(Pending::None); rotate.dispatch(RotateKey { csrf: csrf.clone(), id: id.clone() }); }>"Rotate now (the old secret stops working)"</button>
                                                        <button type="button" class="secondary" on:click=move |_| confirming.set(Pending::None)>"Cancel"</button>
                                                    </span>
                                                }.into_any()
                                            }
                                            Pending::Revoke => {
                                                let (csrf, id) = (csrf_revoke.clone(), id_revoke.clone());
                                                view! {
                                                    <span role="group" aria-label="Confirm revocation">
                                                        <button type="button" class="danger" on:click=move |_| { confirming.set(Pending::None); revoke.dispatch(RevokeKey { csrf: csrf.clone(), id: id.clone() }); }>"Revoke now"</button>
                                                        <button type="button" class="secondary" on:click=move |_| confirming.set(Pending::None)>"Cancel"</button>
                                                    </span>
                                                }.into_any()
                                            }
                                            Pending::None => view! {
                                                <button type="button" class="secondary" on:click=move |_| confirming.set(Pending::Rotate)>"Rotate…"</button>
                                                <button type="button" class="danger" on:click=move |_| confirming.set(Pending::Revoke)>"Revoke…"</button>
                                            }.into_any(),
                                        }}
                                    </td>
                                })}
                                {(admin && key.revoked).then(|| view! { <td></td> })}
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
