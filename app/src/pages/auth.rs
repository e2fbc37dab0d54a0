//! Signing in, first-run setup, invites and TOTP enrolment.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::{AcceptInvite, ConfirmEnrolment, Login, Setup, StartEnrolment};
use crate::components::{error_text, navigate_on_success, session, CsrfField, ErrorBox, Loading};

/// `/login`: email, password and authenticator code in one form.
#[component]
pub fn Login() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    navigate_on_success(move || login.value().get());
    let signed_in = session().viewer.map(|v| v.email);
    view! {
        <Title text="Sign in" />
        <section class="panel narrow">
            <h1>"Sign in"</h1>
            {signed_in.map(|email| view! { <p class="notice" role="status">{format!("You are signed in as {email}.")} " " <a href="/ledgers">"Go to your ledgers"</a></p> })}
            <ActionForm action=login attr:class="form" attr:aria-describedby="login-help">
                <CsrfField />
                <label for="email">"Email"</label>
                <input id="email" name="email" type="email" autocomplete="username" required=true />
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required=true />
                <label for="code">"Authenticator code or recovery code"</label>
                <input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" />
                <button type="submit" disabled=move || login.pending().get()>
                    {move || if login.pending().get() { "Signing in…" } else { "Sign in" }}
                </button>
                {move || login.value().get().and_then(Result::err).map(|error| view! { <ErrorBox error /> })}
                <p id="login-help" class="help">"Every account signs in with a password and a TOTP code from an authenticator app. If you never finished setting up the app, sign in with your password and the setup continues."</p>
            </ActionForm>
        </section>
    }
}

/// `/setup?token=…`: the first-run link creates the account and its owner.
#[component]
pub fn Setup() -> impl IntoView {
    let token = use_query_map().get_untracked().get("token").unwrap_or_default();
    let setup = ServerAction::<Setup>::new();
    navigate_on_success(move || setup.value().get());
    let check = token.clone();
    let valid = Resource::new(|| (), move |_| crate::api::setup_link_valid(check.clone()));
    view! {
        <Title text="Set up AuditStore" />
        <section class="panel narrow">
            <h1>"Set up AuditStore"</h1>
            <Suspense fallback=|| view! { <Loading /> }>
                {move || {
                    let token = token.clone();
                    Suspend::new(async move {
                        match valid.await {
                            Ok(true) => view! {
                                <p>"Create your account and its first user, the owner. Two-factor sign-in is set up next."</p>
                                <ActionForm action=setup attr:class="form">
                                    <CsrfField />
                                    <input type="hidden" name="token" value=token />
                                    <label for="account">"Organisation name"</label>
                                    <input id="account" name="account" required=true maxlength="128" />
                                    <label for="email">"Your email"</label>
                                    <input id="email" name="email" type="email" autocomplete="username" required=true />
                                    <label for="password">"Password (at least 12 characters)"</label>
                                    <input id="password" name="password" type="password" autocomplete="new-password" minlength="12" required=true />
                                    <button type="submit" disabled=move || setup.pending().get()>"Create the owner account"</button>
                                    {move || setup.value().get().and_then(Result::err).map(|error| view! { <ErrorBox error /> })}
                                </ActionForm>
                            }.into_any(),
                            Ok(false) => view! {
                                <p class="error" role="alert">"This setup link is not valid: it was used, it expired, or a newer one was printed. Restart the server with an empty database to get a new one."</p>
                            }.into_any(),
                            Err(error) => view! { <ErrorBox error /> }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </section>
    }
}

/// `/invite?token=…`: an invited user chooses a password.
#[component]
pub fn Invite() -> impl IntoView {
    let token = use_query_map().get_untracked().get("token").unwrap_or_default();
    let accept = ServerAction::<AcceptInvite>::new();
    navigate_on_success(move || accept.value().get());
    let check = token.clone();
    let invite = Resource::new(|| (), move |_| crate::api::invite_info(check.clone()));
    view! {
        <Title text="Join AuditStore" />
        <section class="panel narrow">
            <h1>"Join AuditStore"</h1>
            <Suspense fallback=|| view! { <Loading /> }>
                {move || {
                    let token = token.clone();
                    Suspend::new(async move {
                        match invite.await {
                            Ok(Some((email, role))) => view! {
                                <p>{format!("You were invited as {email} with the {role} role.")}</p>
                                <ActionForm action=accept attr:class="form">
                                    <CsrfField />
                                    <input type="hidden" name="token" value=token />
                                    <label for="password">"Choose a password (at least 12 characters)"</label>
                                    <input id="password" name="password" type="password" autocomplete="new-password" minlength="12" required=true />
                                    <button type="submit">"Continue"</button>
                                    {move || accept.value().get().and_then(Result::err).map(|error| view! { <ErrorBox error /> })}
                                </ActionForm>
                            }.into_any(),
                            Ok(None) => view! { <p class="error" role="alert">"This invite link is not valid: it was used or it expired. Ask for a new one."</p> }.into_any(),
                            Err(error) => view! { <ErrorBox error /> }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </section>
    }
}

/// `/enrol`: TOTP enrolment of the user created in this session.
#[component]
pub fn Enrol() -> impl IntoView {
    let info = session();
    let start = ServerAction::<StartEnrolment>::new();
    let confirm = ServerAction::<ConfirmEnrolment>::new();
    let Some(email) = info.enrolling else {
        return view! {
            <Title text="Two-factor enrolment" />
            <section class="panel narrow">
                <h1>"Two-factor enrolment"</h1>
                <p>"There is no enrolment in progress in this browser session. Use your setup or invite link first, or "<a href="/login">"sign in"</a>"."</p>
            </section>
        }
        .into_any();
    };
    view! {
        <Title text="Two-factor enrolment" />
        <section class="panel narrow">
            <h1>"Set up your authenticator"</h1>
            <p>{format!("Signed up as {email}. Every sign-in needs a code from an authenticator app (TOTP).")}</p>
            {move || match (start.value().get(), confirm.value().get()) {
                (_, Some(Ok(codes))) => view! {
                    <div class="success" role="status">
                        <h2>"Two-factor sign-in is active"</h2>
                        <p>"Keep these recovery codes somewhere safe. Each works once instead of a code; they are not shown again."</p>
                        <ol class="recovery-codes" data-testid="recovery-codes">
                            {codes.into_iter().map(|c| view! { <li><code>{c}</code></li> }).collect_view()}
                        </ol>
                        <p>"You are signed in."</p>
                        // A full page load, so the whole page knows who is signed in.
                        <p><a class="button" href="/ledgers" rel="external">"Continue to your ledgers"</a></p>
                    </div>
                }.into_any(),
                (Some(Ok(enrolment)), confirmed) => view! {
                    <figure class="qr">
                        <img src=format!("data:image/png;base64,{}", enrolment.qr_png_base64) alt="QR code to scan with your authenticator app" width="200" height="200" />
                        <figcaption>
                            "Or type this secret: "
                            <code data-testid="totp-secret">{enrolment.secret_base32.clone()}</code>
                        </figcaption>
                    </figure>
                    <ActionForm action=confirm attr:class="form">
                        <CsrfField />
                        <label for="code">"Code shown by the app"</label>
                        <input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required=true />
                        <button type="submit">"Confirm"</button>
                    </ActionForm>
                    {confirmed.and_then(Result::err).map(|error| view! { <ErrorBox error /> })}
                }.into_any(),
                (started, _) => view! {
                    <ActionForm action=start attr:class="form">
                        <CsrfField />
                        <button type="submit">"Show the QR code"</button>
                    </ActionForm>
                    {started.and_then(Result::err).map(|error| view! { <p class="error" role="alert">{error_text(&error)}</p> })}
                }.into_any(),
            }}
        </section>
    }
    .into_any()
}
