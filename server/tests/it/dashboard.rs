use crate::common::TestServer;

fn csp_nonce(csp: &str) -> String {
    let start = csp.find("'nonce-").expect("nonce in CSP") + "'nonce-".len();
    let end = csp[start..].find('\'').expect("closing quote") + start;
    csp[start..end].to_owned()
}

#[tokio::test]
async fn the_shell_is_server_rendered_with_a_fresh_nonce_on_every_script() {
    let server = TestServer::start().await;
    let client = server.client();

    let first = client.get(server.url("/")).send().await.expect("page");
    assert_eq!(first.status(), 200);
    let csp = first.headers()["content-security-policy"].to_str().expect("ascii").to_owned();
    assert!(csp.contains("'wasm-unsafe-eval'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let nonce = csp_nonce(&csp);
    let html = first.text().await.expect("html");
    assert!(html.contains("<h1>AuditStore</h1>"), "server-rendered content: {html}");
    assert!(html.contains("/pkg/auditstore.js") && html.contains("auditstore.wasm"), "hydration script: {html}");
    // Every inline script carries this response's nonce, or the browser
    // would refuse to hydrate.
    let scripts = html.matches("<script").count();
    assert!(scripts >= 1);
    assert_eq!(html.matches(&format!("nonce=\"{nonce}\"")).count(), scripts, "{html}");

    let second = client.get(server.url("/")).send().await.expect("page");
    let second_nonce = csp_nonce(second.headers()["content-security-policy"].to_str().expect("ascii"));
    assert_ne!(nonce, second_nonce, "a nonce is never reused");
}

#[tokio::test]
async fn the_sign_in_page_renders_and_unknown_paths_are_404() {
    let server = TestServer::start().await;
    let client = server.client();
    let login = client.get(server.url("/login")).send().await.expect("login");
    assert_eq!(login.status(), 200);
    assert!(login.text().await.expect("html").contains("<h1>Sign in</h1>"));

    let missing = client.get(server.url("/no/such/page")).send().await.expect("404 page");
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.expect("html").contains("Page not found"));
}
