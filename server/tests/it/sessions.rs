//! The dashboard's server side over real HTTPS: first-run setup, TOTP
//! enrolment, sign-in with session rotation, CSRF, every role rule of the
//! server functions, lockout, sign-out everywhere and session expiry.

use serde_json::{json, Value};

use crate::common::TestServer;

const PASSWORD: &str = "correct horse battery staple";
const COOKIE: &str = "__Host-auditstore-session";
/// The cookie that carries an anonymous visitor's sealed CSRF token.
const CSRF_COOKIE: &str = "__Host-auditstore-csrf";

/// A browser stand-in: one session cookie, and the CSRF token of the
/// session it was last told about.
struct Browser<'a> {
    server: &'a TestServer,
    client: reqwest::Client,
    cookie: Option<String>,
    csrf_cookie: Option<String>,
    csrf: String,
}

impl<'a> Browser<'a> {
    fn new(server: &'a TestServer) -> Self {
        Self { server, client: server.client(), cookie: None, csrf_cookie: None, csrf: String::new() }
    }

    fn keep_cookie(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all("set-cookie") {
            let value = value.to_str().expect("ascii cookie");
            if let Some(rest) = value.strip_prefix(&format!("{COOKIE}=")) {
                let id = rest.split(';').next().unwrap_or_default();
                // Only the removal cookie of a signed-out session goes without them.
                if !id.is_empty() {
                    assert!(value.contains("Secure") && value.contains("HttpOnly"), "{value}");
                    assert!(value.contains("SameSite=Strict"), "{value}");
                }
                self.cookie = (!id.is_empty()).then(|| id.to_owned());
            }
            if let Some(rest) = value.strip_prefix(&format!("{CSRF_COOKIE}=")) {
                assert!(value.contains("Secure") && value.contains("HttpOnly"), "{value}");
                assert!(value.contains("SameSite=Strict") && value.contains("Path=/"), "{value}");
                self.csrf_cookie = Some(rest.split(';').next().unwrap_or_default().to_owned());
            }
        }
    }

    /// The `Cookie` header this browser sends, if it holds any cookie.
    fn cookie_header(&self) -> Option<String> {
        let session = self.cookie.as_ref().map(|c| format!("{COOKIE}={c}"));
        let csrf = self.csrf_cookie.as_ref().map(|c| format!("{CSRF_COOKIE}={c}"));
        let all: Vec<String> = session.into_iter().chain(csrf).collect();
        (!all.is_empty()).then(|| all.join("; "))
    }

    /// Calls a server function with form-encoded arguments.
    async fn call(&mut self, name: &str, args: &[(&str, &str)]) -> (u16, Value) {
        let mut request = self
            .client
            .post(self.server.url(&format!("/api/{name}")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(args));
        if let Some(cookies) = self.cookie_header() {
            request = request.header("cookie", cookies);
        }
        let response = request.send().await.expect("server function answers");
        self.keep_cookie(&response);
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Calls a state-changing server function with this session's token.
    async fn mutate(&mut self, name: &str, args: &[(&str, &str)]) -> (u16, Value) {
        let csrf = self.csrf.clone();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(args);
        self.call(name, &all).await
    }

    async fn refresh(&mut self) -> Value {
        let (status, info) = self.call("session_info", &[]).await;
        assert_eq!(status, 200, "{info}");
        self.csrf = info["csrf"].as_str().expect("csrf").to_owned();
        info
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        let mut request = self.client.get(self.server.url(path));
        if let Some(cookies) = self.cookie_header() {
            request = request.header("cookie", cookies);
        }
        request.send().await.expect("page")
    }
}

/// An `application/x-www-form-urlencoded` body.
fn form(args: &[(&str, &str)]) -> String {
    let encode = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    args.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

fn code_at(secret: &str, offset: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let secret = totp_rs::Secret::try_from_base32(secret).expect("base32");
    let totp = totp_rs::Builder::new().with_secret(secret).build().expect("totp");
    totp.generate(now.saturating_add_signed(offset)).to_string()
}

/// Enrols the user this browser just created; returns the TOTP secret and
/// the recovery codes.
async fn enrol(browser: &mut Browser<'_>) -> (String, Vec<String>) {
    browser.refresh().await;
    let (status, enrolment) = browser.mutate("start_enrolment", &[]).await;
    assert_eq!(status, 200, "{enrolment}");
    let secret = enrolment["secret_base32"].as_str().expect("secret").to_owned();
    let (status, codes) = browser.mutate("confirm_enrolment", &[("code", &code_at(&secret, -30))]).await;
    assert_eq!(status, 200, "{codes}");
    let codes: Vec<String> = serde_json::from_value(codes).expect("codes");
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

async fn sign_in(browser: &mut Browser<'_>, email: &str, code: &str) {
    browser.refresh().await;
    let before = browser.cookie.clone();
    let (status, body) = browser.mutate("login", &[("email", email), ("password", PASSWORD), ("code", code)]).await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(browser.cookie, before, "the session id was not rotated at sign-in");
    let info = browser.refresh().await;
    assert_eq!(info["viewer"]["email"], email, "{info}");
}

/// Setup, returning the owner's browser, TOTP secret and recovery codes.
async fn owner<'a>(server: &'a TestServer) -> (Browser<'a>, String, Vec<String>) {
    let link = server.server.setup_link.clone().expect("a setup link on an empty database");
    let token = link.split("token=").nth(1).expect("token").to_owned();
    let mut browser = Browser::new(server);
    browser.refresh().await;
    let args = [("token", token.as_str()), ("account", "acme"), ("email", "owner@example.com"), ("password", PASSWORD)];
    let (status, _) = browser.call("setup", &args).await;
    assert_eq!(status, 403, "setup without the CSRF token was accepted");
    let (status, body) = browser.mutate("setup", &args).await;
    assert_eq!(status, 200, "{body}");
    let (secret, codes) = enrol(&mut browser).await;
    // The link works once.
    let mut other = Browser::new(server);
    other.refresh().await;
    let (status, _) = other.mutate("setup", &args).await;
    assert_eq!(status, 400);
    sign_in(&mut browser, "owner@example.com", &code_at(&secret, 0)).await;
    (browser, secret, codes)
}

/// Invites `email` as `role` and has a new browser accept, enrol and sign in.
async fn invited<'a>(server: &'a TestServer, owner: &mut Browser<'_>, email: &str, role: &str) -> Browser<'a> {
    let (status, link) = owner.mutate("invite_user", &[("email", email), ("role", role)]).await;
    assert_eq!(status, 200, "{link}");
    let token = link.as_str().and_then(|l| l.split("token=").nth(1)).expect("invite token").to_owned();
    let mut browser = Browser::new(server);
    browser.refresh().await;
    let (status, body) = browser.mutate("accept_invite", &[("token", &token), ("password", PASSWORD)]).await;
    assert_eq!(status, 200, "{body}");
    let (secret, _) = enrol(&mut browser).await;
    sign_in(&mut browser, email, &code_at(&secret, 0)).await;
    browser
}

#[tokio::test]
async fn roles_csrf_and_sessions_are_enforced_by_the_server() {
    let server = TestServer::start_with(|args| {
        args.login_lockout_failures = std::num::NonZeroU32::new(3);
    })
    .await;

    // Signed-out visitors are sent to the sign-in page and get nothing.
    let anonymous = Browser::new(&server);
    let page = anonymous.get("/ledgers").await;
    assert_eq!(page.url().path(), "/login", "a signed-out visitor saw /ledgers");
    let mut anonymous = Browser::new(&server);
    assert_eq!(anonymous.call("list_ledgers", &[]).await.0, 401);

    let (mut owner, owner_secret, recovery) = owner(&server).await;
    let (status, ledger) = owner.mutate("create_ledger", &[("name", "billing")]).await;
    assert_eq!(status, 200, "{ledger}");
    let ledger = ledger.as_str().expect("ledger id").to_owned();
    // A mutation with a wrong or missing token changes nothing.
    let (status, _) = owner.call("create_ledger", &[("csrf", "forged"), ("name", "forged")]).await;
    assert_eq!(status, 403);
    let (status, _) = owner.call("create_ledger", &[("name", "forged")]).await;
    assert_eq!(status, 403);
    // A browser marking the request cross-site is refused before anything runs.
    let response = owner
        .client
        .post(server.url("/api/create_ledger"))
        .header("cookie", format!("{COOKIE}={}", owner.cookie.clone().unwrap_or_default()))
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("csrf", owner.csrf.as_str()), ("name", "evil")]))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 403);
    let (_, ledgers) = owner.call("list_ledgers", &[]).await;
    let names: Vec<&str> = ledgers.as_array().expect("list").iter().filter_map(|l| l["name"].as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"billing") && names.contains(&"system"));

    // A write-only key made in the dashboard ingests; the event is found by filter.
    let (status, key) =
        owner.mutate("create_key", &[("name", "svc"), ("permission", "write"), ("ledger", &ledger)]).await;
    assert_eq!(status, 200, "{key}");
    let secret = key["secret"].as_str().expect("secret");
    let appended = owner
        .client
        .post(server.url(&format!("/v1/ledgers/{ledger}/events")))
        .bearer_auth(secret)
        .json(&json!({"actor": {"type": "user", "id": "u_7"}, "action": "invoice.paid",
            "resource": {"type": "invoice", "id": "inv_1"}, "occurred_at": "2026-11-26T10:00:00Z"}))
        .send()
        .await
        .expect("append");
    assert_eq!(appended.status(), 201);
    server.server.store().index_pending().await.expect("indexed");
    let filter = [
        ("ledger", ledger.as_str()),
        ("actor", "u_7"),
        ("action", ""),
        ("resource", ""),
        ("from", ""),
        ("to", ""),
        ("range", ""),
        ("cursor", ""),
    ];
    let (status, page) = owner.call("list_events", &filter).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["events"].as_array().map(Vec::len), Some(1), "{page}");
    let seq = page["events"][0]["seq"].to_string();
    let (status, proof) = owner.call("event_proof", &[("ledger", &ledger), ("seq", &seq)]).await;
    assert_eq!(status, 200, "{proof}");

    // Auditors read and verify, and nothing else.
    let mut auditor = invited(&server, &mut owner, "aud@example.com", "auditor").await;
    assert_eq!(auditor.call("list_ledgers", &[]).await.0, 200);
    assert_eq!(auditor.call("list_events", &filter).await.0, 200);
    assert_eq!(auditor.call("event_proof", &[("ledger", &ledger), ("seq", &seq)]).await.0, 200);
    assert_eq!(auditor.call("list_keys", &[]).await.0, 200);
    for (name, args) in [
        ("create_key", vec![("name", "x"), ("permission", "read"), ("ledger", "")]),
        ("create_ledger", vec![("name", "x")]),
        ("invite_user", vec![("email", "x@example.com"), ("role", "owner")]),
    ] {
        let (status, body) = auditor.mutate(name, &args).await;
        assert_eq!(status, 403, "auditor {name}: {body}");
    }
    assert_eq!(auditor.call("list_users", &[]).await.0, 403);
    let users_page = auditor.get("/users").await;
    assert_eq!(users_page.status(), 403);

    // Admins manage ledgers and keys, not users.
    let mut admin = invited(&server, &mut owner, "adm@example.com", "admin").await;
    let (status, _) = admin.mutate("create_key", &[("name", "r"), ("permission", "read"), ("ledger", "")]).await;
    assert_eq!(status, 200);
    assert_eq!(admin.mutate("create_ledger", &[("name", "ops")]).await.0, 200);
    assert_eq!(admin.call("list_users", &[]).await.0, 403);
    assert_eq!(admin.mutate("invite_user", &[("email", "y@example.com"), ("role", "admin")]).await.0, 403);
    let (_, users) = owner.call("list_users", &[]).await;
    let admin_id = users
        .as_array()
        .and_then(|u| u.iter().find(|u| u["email"] == "adm@example.com"))
        .and_then(|u| u["id"].as_str())
        .expect("admin listed")
        .to_owned();
    assert_eq!(admin.mutate("change_role", &[("user_id", &admin_id), ("role", "owner")]).await.0, 403);

    // A role change ends the user's sessions at once.
    let (status, _) = owner.mutate("change_role", &[("user_id", &admin_id), ("role", "auditor")]).await;
    assert_eq!(status, 200);
    assert_eq!(admin.call("list_ledgers", &[]).await.0, 401, "the demoted admin kept their session");

    // Sign-out everywhere ends the owner's other sessions too.
    let mut second = Browser::new(&server);
    sign_in(&mut second, "owner@example.com", &code_at(&owner_secret, 30)).await;
    assert_eq!(second.mutate("logout_everywhere", &[]).await.0, 200);
    assert_eq!(owner.call("list_ledgers", &[]).await.0, 401, "another session survived sign-out everywhere");

    // Repeated failures lock the account; then even the right code is refused.
    let mut attacker = Browser::new(&server);
    attacker.refresh().await;
    for _ in 0..3 {
        let (status, body) = attacker
            .mutate("login", &[("email", "aud@example.com"), ("password", "wrong password"), ("code", "000000")])
            .await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, body) =
        attacker.mutate("login", &[("email", "nobody@example.com"), ("password", "x"), ("code", "1")]).await;
    assert_eq!(status, 401);
    let generic = body.clone();
    let (status, body) =
        attacker.mutate("login", &[("email", "owner@example.com"), ("password", "wrong"), ("code", "1")]).await;
    assert_eq!((status, &body), (401, &generic), "refusals must not tell whether an email exists");

    // Every sign-in, failure, enrolment, invite and role change is in the system log.
    // Both TOTP steps within the skew are used: a recovery code signs in.
    let mut owner = Browser::new(&server);
    sign_in(&mut owner, "owner@example.com", &recovery[0]).await;
    let info = owner.refresh().await;
    let system = info["viewer"]["system_ledger"].as_str().expect("system ledger").to_owned();
    let mut actions = Vec::new();
    let mut cursor = String::new();
    loop {
        let args = [
            ("ledger", system.as_str()),
            ("actor", ""),
            ("action", ""),
            ("resource", ""),
            ("from", ""),
            ("to", ""),
            ("range", ""),
            ("cursor", cursor.as_str()),
        ];
        let (_, page) = owner.call("list_events", &args).await;
        for event in page["events"].as_array().expect("events") {
            actions.push(event["action"].as_str().unwrap_or_default().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    for expected in [
        "user.created",
        "user.mfa_enrolled",
        "user.signed_in",
        "user.sign_in_failed",
        "user.invited",
        "invite.accepted",
        "user.role_changed",
        "ledger.created",
        "api_key.created",
        "user.signed_out_everywhere",
    ] {
        assert!(actions.iter().any(|a| a == expected), "{expected} missing from {actions:?}");
    }
}

#[tokio::test]
async fn idle_sessions_expire() {
    let server = TestServer::start_with(|args| {
        args.session_idle_secs = std::num::NonZeroU64::new(1);
    })
    .await;
    let (mut owner, _, _) = owner(&server).await;
    assert_eq!(owner.call("list_ledgers", &[]).await.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(owner.call("list_ledgers", &[]).await.0, 401, "an idle session outlived its timeout");
    let info = owner.refresh().await;
    assert!(info["viewer"].is_null(), "{info}");
}

#[tokio::test]
async fn sessions_end_at_their_absolute_lifetime_even_when_used() {
    let server = TestServer::start_with(|args| {
        args.session_lifetime_secs = std::num::NonZeroU64::new(2);
    })
    .await;
    let (mut owner, _, _) = owner(&server).await;
    for _ in 0..2 {
        assert_eq!(owner.call("list_ledgers", &[]).await.0, 200);
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    assert_eq!(owner.call("list_ledgers", &[]).await.0, 401, "a session outlived its absolute lifetime");
}

#[tokio::test]
async fn an_unfinished_enrolment_resumes_after_the_right_password() {
    let server = TestServer::start().await;
    let link = server.server.setup_link.clone().expect("setup link");
    let token = link.split("token=").nth(1).expect("token").to_owned();
    let mut closed = Browser::new(&server);
    closed.refresh().await;
    let args = [("token", token.as_str()), ("account", "acme"), ("email", "owner@example.com"), ("password", PASSWORD)];
    assert_eq!(closed.mutate("setup", &args).await.0, 200);
    // The browser is closed before enrolment. A wrong password learns nothing…
    let mut later = Browser::new(&server);
    later.refresh().await;
    let wrong = [("email", "owner@example.com"), ("password", "not the password"), ("code", "123456")];
    assert_eq!(later.mutate("login", &wrong).await.0, 401);
    assert!(later.refresh().await["enrolling"].is_null());
    // …the right one continues the enrolment, on a new session id.
    let before = later.cookie.clone();
    let right = [("email", "owner@example.com"), ("password", PASSWORD), ("code", "")];
    let (status, to) = later.mutate("login", &right).await;
    assert_eq!((status, to), (200, json!("/enrol")));
    assert_ne!(later.cookie, before);
    assert_eq!(later.refresh().await["enrolling"], "owner@example.com");
    let (secret, _) = enrol(&mut later).await;
    sign_in(&mut later, "owner@example.com", &code_at(&secret, 0)).await;
}

/// A plain HTML form post, as a browser without JavaScript sends it.
async fn post_form(browser: &mut Browser<'_>, name: &str, args: &[(&str, &str)], from: &str) -> reqwest::Response {
    let mut request = browser
        .client
        .post(browser.server.url(&format!("/api/{name}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "text/html")
        .header("referer", browser.server.url(from))
        .body(form(args));
    if let Some(cookies) = browser.cookie_header() {
        request = request.header("cookie", cookies);
    }
    let response = request.send().await.expect("form post");
    browser.keep_cookie(&response);
    response
}

#[tokio::test]
async fn sign_in_works_without_javascript() {
    let server = TestServer::start().await;
    let (_, secret, _) = owner(&server).await;
    let mut browser = Browser::new(&server);
    // The sign-in page carries the session's CSRF token in its form.
    let page = browser.get("/login").await;
    assert_eq!(page.headers()["cache-control"], "no-store", "dashboard pages are never cached");
    browser.keep_cookie(&page);
    let html = page.text().await.expect("html");
    let start = html.find("name=\"csrf\" value=\"").expect("csrf field") + "name=\"csrf\" value=\"".len();
    let csrf = html[start..start + 64].to_owned();

    // A refusal comes back to the sign-in page, with the message rendered.
    let wrong = [("csrf", csrf.as_str()), ("email", "owner@example.com"), ("password", PASSWORD), ("code", "000000")];
    let refused = post_form(&mut browser, "login", &wrong, "/login").await;
    assert_eq!(refused.url().path(), "/login");
    assert!(refused.text().await.expect("html").contains("Sign-in failed"), "the error is shown without JavaScript");

    // Success redirects to the ledgers with a new session cookie; the
    // redirect is followed by hand so that the new cookie is sent.
    let pem = std::fs::read(server.cert_path()).expect("certificate");
    browser.client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .resolve("localhost", server.server.https_addr)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let code = code_at(&secret, 30);
    let right =
        [("csrf", csrf.as_str()), ("email", "owner@example.com"), ("password", PASSWORD), ("code", code.as_str())];
    let signed_in = post_form(&mut browser, "login", &right, "/login").await;
    assert_eq!(signed_in.status(), 302);
    assert_eq!(signed_in.headers()["location"], "/ledgers");
    let ledgers = browser.get("/ledgers").await;
    assert_eq!(ledgers.status(), 200);
    assert!(ledgers.text().await.expect("html").contains("<h1>Ledgers</h1>"));

    // A step whose result is a secret shown once refuses a plain form post
    // (the redirect would lose the secret) and creates nothing.
    browser.refresh().await;
    let csrf = browser.csrf.clone();
    let args = [("csrf", csrf.as_str()), ("name", "k"), ("permission", "read"), ("ledger", "")];
    let refused = post_form(&mut browser, "create_key", &args, "/keys").await;
    assert_eq!(refused.status(), 302);
    let back = refused.headers()["location"].to_str().expect("ascii").to_owned();
    assert!(back.contains("/keys") && back.contains("__err="), "{back}");
    let (_, keys) = browser.call("list_keys", &[]).await;
    assert_eq!(keys, json!([]));
}

/// The same actions through /v1 and through the dashboard are recorded
/// alike: the same `action`, resource type and metadata keys, with the
/// actor that made each (a key there, a user here).
#[tokio::test]
async fn the_same_action_through_v1_and_the_dashboard_records_the_same_event() {
    let server = TestServer::start().await;
    let (mut browser, _, _) = owner(&server).await;
    let bootstrapped = server.bootstrap("acme").await;
    let admin = bootstrapped["admin_key"].as_str().expect("admin key").to_owned();
    let admin_id = bootstrapped["admin_key_id"].as_str().expect("admin key id").to_owned();

    // Through the dashboard.
    let (status, ledger) = browser.mutate("create_ledger", &[("name", "from-dashboard")]).await;
    assert_eq!(status, 200, "{ledger}");
    let ledger = ledger.as_str().expect("ledger id").to_owned();
    let args = [("name", "dash key"), ("permission", "read"), ("ledger", ledger.as_str())];
    let (status, key) = browser.mutate("create_key", &args).await;
    assert_eq!(status, 200, "{key}");
    let key_id = key["id"].as_str().expect("key id").to_owned();
    let (status, rotated) = browser.mutate("rotate_key", &[("id", &key_id)]).await;
    assert_eq!(status, 200, "{rotated}");
    let rotated_id = rotated["id"].as_str().expect("key id").to_owned();
    let (status, body) = browser.mutate("revoke_key", &[("id", &rotated_id)]).await;
    assert_eq!(status, 200, "{body}");

    // Through /v1, with an admin key of the same account.
    let client = server.client();
    let post =
        |path: &str, body: Value| client.post(server.url(&format!("/v1{path}"))).bearer_auth(&admin).json(&body).send();
    let created: Value =
        post("/ledgers", json!({"name": "from-api"})).await.expect("ledger").json().await.expect("json");
    let api_ledger = created["id"].as_str().expect("id").to_owned();
    let key: Value = post("/keys", json!({"name": "api key", "permission": "read", "ledgers": [api_ledger]}))
        .await
        .expect("key")
        .json()
        .await
        .expect("json");
    let key_id = key["id"].as_str().expect("key id").to_owned();
    let rotated: Value =
        post(&format!("/keys/{key_id}/rotate"), json!({})).await.expect("rotate").json().await.expect("json");
    let rotated_id = rotated["id"].as_str().expect("key id").to_owned();
    let revoked =
        client.delete(server.url(&format!("/v1/keys/{rotated_id}"))).bearer_auth(&admin).send().await.expect("revoke");
    assert_eq!(revoked.status(), 200);

    // The dashboard creates no admin keys, so it rotates none either (it
    // would hand out a fresh admin secret); the key keeps working.
    let (status, body) = browser.mutate("rotate_key", &[("id", &admin_id)]).await;
    assert_eq!(status, 403, "{body}");
    let still = client.get(server.url("/v1/keys")).bearer_auth(&admin).send().await.expect("list");
    assert_eq!(still.status(), 200);

    let store = server.server.store();
    let account = store.account_by_name("acme").await.expect("account").expect("exists");
    for action in ["ledger.created", "api_key.created", "api_key.rotated", "api_key.revoked"] {
        let filter = store::EventFilter { action: Some(action.into()), ..store::EventFilter::default() };
        let events = store.list_events(&account.system_ledger, &filter, None, 50).await.expect("events").events;
        let by = |actor_type: &str| -> Value {
            events
                .iter()
                .filter_map(|e| e.event.as_ref().map(|event| serde_json::to_value(event).expect("json")))
                .find(|e| e["actor"]["type"] == actor_type)
                .unwrap_or_else(|| panic!("no {action} by a {actor_type}"))
        };
        let (dashboard, api) = (by("user"), by("api_key"));
        let keys = |event: &Value| -> Vec<String> {
            let mut keys: Vec<String> = event["metadata"].as_object().expect("metadata").keys().cloned().collect();
            keys.sort();
            keys
        };
        assert_eq!(keys(&dashboard), keys(&api), "{action}: the same metadata keys");
        assert_eq!(dashboard["resource"]["type"], api["resource"]["type"], "{action}");
        assert!(keys(&api).contains(&"client_ip".to_owned()), "{action}: the client address is recorded");
    }
}

/// A flood of sign-ins (500 parallel POSTs would once hold ~10 GiB of
/// argon2 memory) is judged only as fast as there are cores: the excess is
/// refused at once with 503 and Retry-After, and nothing else.
#[tokio::test]
async fn a_sign_in_flood_is_refused_beyond_the_hashing_slots() {
    let server = TestServer::start_with(|args| args.sign_ins_per_minute = std::num::NonZeroU32::new(10_000)).await;
    let mut browsers = Vec::new();
    for _ in 0..48 {
        let mut browser = Browser::new(&server);
        browser.refresh().await;
        browsers.push(browser);
    }
    let mut flood = tokio::task::JoinSet::new();
    for browser in browsers {
        let (client, url, cookie, csrf) =
            (browser.client.clone(), server.url("/api/login"), browser.cookie_header(), browser.csrf.clone());
        flood.spawn(async move {
            let body = form(&[("csrf", &csrf), ("email", "nobody@example.com"), ("password", "wrong"), ("code", "1")]);
            let mut request = client.post(url).header("content-type", "application/x-www-form-urlencoded").body(body);
            if let Some(cookies) = cookie {
                request = request.header("cookie", cookies);
            }
            let response = request.send().await.expect("answer");
            (response.status().as_u16(), response.headers().get("retry-after").is_some())
        });
    }
    let answers = flood.join_all().await;
    let busy = answers.iter().filter(|(status, _)| *status == 503).count();
    assert!(answers.iter().all(|(status, _)| [401, 503].contains(status)), "{answers:?}");
    assert!(busy > 0, "the excess is refused: {answers:?}");
    assert!(answers.iter().filter(|(status, _)| *status == 503).all(|(_, retry)| *retry), "503 says when to retry");
    assert!(busy < answers.len(), "the slots still judge: {answers:?}");
}

/// Sign-ins are charged to the address before any hashing, on a budget
/// of their own: the API's failed keys do not spend it, nor it theirs.
#[tokio::test]
async fn sign_in_attempts_have_their_own_address_budget() {
    let server = TestServer::start_with(|args| {
        args.sign_ins_per_minute = std::num::NonZeroU32::new(2);
        args.auth_failures_per_minute = std::num::NonZeroU32::new(2);
    })
    .await;
    let boot = server.bootstrap("acme").await;
    let admin = boot["admin_key"].as_str().expect("admin key").to_owned();
    let client = server.client();
    for _ in 0..4 {
        let _ = client.get(server.url("/v1/ledgers")).bearer_auth("auds_wrong").send().await.expect("answer");
    }
    let mut browser = Browser::new(&server);
    browser.refresh().await;
    let wrong = [("email", "nobody@example.com"), ("password", "wrong"), ("code", "1")];
    assert_eq!(browser.mutate("login", &wrong).await.0, 401, "the API's failures spent nothing here");
    assert_eq!(browser.mutate("login", &wrong).await.0, 401);
    let (status, body) = browser.mutate("login", &wrong).await;
    assert_eq!(status, 429, "{body}");
    let api = client.get(server.url("/v1/ledgers")).bearer_auth(&admin).send().await.expect("answer");
    assert_eq!(api.status(), 200, "a valid key is served whatever the address did");
}

/// How many dashboard sessions the server's SQLite database holds.
async fn session_rows(server: &TestServer) -> u64 {
    let url = store::testing::sqlite_url_in(&server.data_path);
    store::testing::execute_raw(&url, "UPDATE tower_sessions SET expiry_date = expiry_date").await.expect("raw")
}

/// Anonymous page views write nothing: the CSRF token of a visitor without
/// a session travels sealed in a cookie, which only this server can make.
#[tokio::test]
async fn anonymous_visitors_cost_no_session_row_and_their_csrf_cookie_cannot_be_forged() {
    let server = TestServer::start().await;
    for path in ["/", "/login", "/setup?token=nope", "/ledgers", "/no-such-page"] {
        for _ in 0..3 {
            let page = Browser::new(&server).get(path).await;
            assert!(page.status().is_success() || page.status() == 404, "{path}: {}", page.status());
        }
    }
    let mut visitor = Browser::new(&server);
    let info = visitor.refresh().await;
    assert!(info["viewer"].is_null());
    assert!(visitor.csrf_cookie.is_some(), "the token's cookie is set");
    assert_eq!(session_rows(&server).await, 0, "anonymous traffic wrote session rows");

    // The token and its cookie go together: a wrong token, a forged cookie
    // or no cookie at all is refused before the password is looked at.
    let wrong = [("email", "nobody@example.com"), ("password", "wrong"), ("code", "1")];
    assert_eq!(visitor.mutate("login", &wrong).await.0, 401, "the pair is accepted");
    let token = visitor.csrf.clone();
    visitor.csrf = "0".repeat(64);
    assert_eq!(visitor.mutate("login", &wrong).await.0, 403, "another token");
    visitor.csrf = token;
    let sealed = visitor.csrf_cookie.clone().expect("cookie");
    // Replace the first character by another one: a fixed replacement would
    // leave the one cookie in 64 that already starts with it unaltered.
    let first = if sealed.starts_with('A') { 'B' } else { 'A' };
    visitor.csrf_cookie = Some(format!("{first}{}", &sealed[1..]));
    assert_eq!(visitor.mutate("login", &wrong).await.0, 403, "an altered cookie");
    visitor.csrf_cookie = None;
    assert_eq!(visitor.mutate("login", &wrong).await.0, 403, "no cookie");
    assert_eq!(session_rows(&server).await, 0);

    // Signing in is state: that session has its row.
    let (_owner, _, _) = owner(&server).await;
    assert_eq!(session_rows(&server).await, 1, "the signed-in owner's session");
}

#[tokio::test]
async fn anonymous_dashboard_traffic_is_throttled_per_address() {
    let server = TestServer::start_with(|args| args.anonymous_requests_per_minute = std::num::NonZeroU32::new(5)).await;
    let statuses: Vec<u16> = {
        let mut statuses = Vec::new();
        for _ in 0..7 {
            statuses.push(Browser::new(&server).get("/login").await.status().as_u16());
        }
        statuses
    };
    assert_eq!(statuses[..5], [200; 5], "{statuses:?}");
    assert_eq!(statuses[5..], [429; 2], "{statuses:?}");
    let refused = Browser::new(&server).get("/login").await;
    assert!(refused.headers().get("retry-after").is_some());
    // The API is not the dashboard: its health and keys are unaffected.
    let health = server.client().get(server.url("/healthz")).send().await.expect("health");
    assert_eq!(health.status(), 200);
}
