//! `/users`: the owner manages the account's users.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{ChangeRole, InviteUser, RemoveUser};
use crate::components::{loaded, session, CsrfField, ErrorBox, Forbidden};
use crate::model::UserRow;

/// The users page (owners only; the server refuses everyone else too).
#[component]
pub fn Users() -> impl IntoView {
    let viewer = session().viewer;
    if !viewer.as_ref().is_some_and(|v| v.is_owner()) {
        return view! { <Forbidden what="managing users" /> }.into_any();
    }
    let me = viewer.map(|v| v.user_id).unwrap_or_default();
    let invite = ServerAction::<InviteUser>::new();
    let change = ServerAction::<ChangeRole>::new();
    let remove = ServerAction::<RemoveUser>::new();
    let users = Resource::new(
        move || (invite.version().get(), change.version().get(), remove.version().get()),
        |_| crate::api::list_users(),
    );
    view! {
        <Title text="Users" />
        <section class="panel">
            <h1>"Users"</h1>
            {move || change.value().get().and_then(Result::err).map(|error| view! { <ErrorBox error /> })}
            {move || remove.value().get().and_then(Result::err).map(|error| view! { <ErrorBox error /> })}
            {loaded(users, move |rows| view! { <UserTable rows me=me.clone() change remove /> })}
        </section>
        <section class="panel">
            <h2>"Invite a user"</h2>
            <ActionForm action=invite attr:class="form">
                <CsrfField />
                <label for="invite-email">"Email"</label>
                <input id="invite-email" name="email" type="email" required=true />
                <label for="invite-role">"Role"</label>
                <select id="invite-role" name="role">
                    <option value="auditor">"Auditor — read, verify, export"</option>
                    <option value="admin">"Admin — also ledgers and API keys"</option>
                    <option value="owner">"Owner — also users"</option>
                </select>
                <button type="submit">"Create invite link"</button>
            </ActionForm>
            {move || invite.value().get().map(|r| match r {
                Ok(link) => view! {
                    <div class="success" role="status">
                        <p>"Send this single-use link to the person you invite (it expires):"</p>
                        <p><code data-testid="invite-link">{link}</code></p>
                    </div>
                }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </section>
    }
    .into_any()
}

#[component]
fn UserTable(
    rows: Vec<UserRow>,
    me: String,
    change: ServerAction<ChangeRole>,
    remove: ServerAction<RemoveUser>,
) -> impl IntoView {
    let csrf = session().csrf;
    view! {
        <div class="table-wrap">
            <table>
                <thead>
                    <tr>
                        <th scope="col">"Email"</th>
                        <th scope="col">"Role"</th>
                        <th scope="col">"Two-factor"</th>
                        <th scope="col">"Added"</th>
                        <th scope="col">"Actions"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows.into_iter().map(|user| {
                        let confirming = RwSignal::new(false);
                        let is_me = user.id == me;
                        let role = user.role.clone();
                        let (csrf_change, csrf_remove) = (csrf.clone(), csrf.clone());
                        let (id_change, id_remove) = (user.id.clone(), user.id.clone());
                        view! {
                            <tr>
                                <td>{user.email.clone()}{is_me.then_some(" (you)")}</td>
                                <td>
                                    <ActionForm action=change attr:class="inline">
                                        <input type="hidden" name="csrf" value=csrf_change.clone() />
                                        <input type="hidden" name="user_id" value=id_change.clone() />
                                        <label class="visually-hidden" for=format!("role-{}", id_change)>"Role"</label>
                                        <select id=format!("role-{}", id_change) name="role">
                                            {["owner", "admin", "auditor"].into_iter().map(|r| view! { <option value=r selected=role == r>{r}</option> }).collect_view()}
                                        </select>
                                        <button type="submit" class="secondary">"Change"</button>
                                    </ActionForm>
                                </td>
                                <td>{if user.enrolled { "active" } else { "pending" }}</td>
                                <td>{user.created_at.clone()}</td>
                                <td>
                                    {(!is_me).then(|| view! {
                                        {move || if confirming.get() {
                                            let (csrf, id) = (csrf_remove.clone(), id_remove.clone());
                                            view! {
                                                <button type="button" class="danger" on:click=move |_| { remove.dispatch(RemoveUser { csrf: csrf.clone(), user_id: id.clone() }); }>"Remove now"</button>
                                                <button type="button" class="secondary" on:click=move |_| confirming.set(false)>"Cancel"</button>
                                            }.into_any()
                                        } else {
                                            view! { <button type="button" class="danger" on:click=move |_| confirming.set(true)>"Remove…"</button> }.into_any()
                                        }}
                                    })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
