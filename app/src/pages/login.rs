use leptos::prelude::*;
use leptos_meta::Title;

/// The sign-in page. Accounts, passwords and TOTP arrive with the dashboard
/// issue; until then the form is shown disabled and says so, rather than
/// pretending to accept credentials.
#[component]
pub fn Login() -> impl IntoView {
    view! {
        <Title text="Sign in" />
        <section class="panel narrow">
            <h1>"Sign in"</h1>
            <p class="notice" role="status">
                "Dashboard accounts are not enabled on this server yet."
            </p>
            <form class="form" aria-describedby="login-help">
                <fieldset disabled=true>
                    <label for="email">"Email"</label>
                    <input id="email" name="email" type="email" autocomplete="username" />
                    <label for="password">"Password"</label>
                    <input id="password" name="password" type="password" autocomplete="current-password" />
                    <label for="totp">"Authenticator code"</label>
                    <input id="totp" name="totp" inputmode="numeric" autocomplete="one-time-code" />
                    <button type="submit">"Sign in"</button>
                </fieldset>
                <p id="login-help" class="help">"Every account signs in with a password and a TOTP code."</p>
            </form>
        </section>
    }
}
