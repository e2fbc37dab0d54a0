//! The /v1 API over real HTTPS, on SQLite and PostgreSQL.

use audit_core::merkle::{verify_consistency, verify_inclusion, verify_range};
use audit_core::{Checkpoint, EventInput, Hash, TreeSize, VerifierKey};
use serde_json::{json, Value};
use store::testing::fresh_postgres_url;

use crate::common::TestServer;

/// A server per backend.
pub(crate) async fn servers() -> Vec<TestServer> {
    let url = fresh_postgres_url().await.expect("test database");
    vec![TestServer::start().await, TestServer::start_with(|args| args.database_url = Some(url)).await]
}

pub(crate) struct Account {
    pub(crate) server: TestServer,
    pub(crate) client: reqwest::Client,
    pub(crate) admin: String,
}

impl Account {
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, self.server.url(path)).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("response");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub(crate) async fn post(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, key, Some(body)).await
    }

    pub(crate) async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, key, None).await
    }

    pub(crate) async fn ledger(&self, name: &str) -> String {
        let (status, body) = self.post("/v1/ledgers", &self.admin, json!({"name": name})).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("id").to_owned()
    }

    /// The id of the account's system ledger, as its admin lists it.
    pub(crate) async fn system_ledger(&self) -> String {
        let (_, listed) = self.get("/v1/ledgers", &self.admin).await;
        let ledgers = listed["ledgers"].as_array().expect("ledgers");
        let system = ledgers.iter().find(|l| l["kind"] == "system").expect("system ledger");
        system["id"].as_str().expect("id").to_owned()
    }

    /// The server's checkpoint verifier key (public, no key needed).
    pub(crate) async fn checkpoint_key(&self) -> String {
        let response = self.client.get(self.server.url("/v1/checkpoint-key")).send().await.expect("key");
        response.text().await.expect("key text").trim().to_owned()
    }

    /// Appends `invoice.updated` events `evt_<n>` for every `n` of `range`, `per_batch` a
    /// request, with e-mail actor ids and non-ASCII metadata.
    pub(crate) async fn append_invoices(
        &self,
        ledger: &str,
        writer: &str,
        range: std::ops::Range<u64>,
        per_batch: u64,
    ) {
        let mut start = range.start;
        while start < range.end {
            let end = (start + per_batch).min(range.end);
            let events: Vec<Value> = (start..end)
                .map(|i| {
                    json!({"id": format!("evt_{i}"), "actor": {"type": "user", "id": format!("u{}@example.com", i % 7)},
                           "action": "invoice.updated", "resource": {"type": "invoice", "id": format!("inv_{i}")},
                           "occurred_at": "2026-12-02T10:00:00.5+01:00", "metadata": {"n": i, "note": "é \u{1F600}"}})
                })
                .collect();
            let (status, body) =
                self.post(&format!("/v1/ledgers/{ledger}/events"), writer, json!({"events": events})).await;
            assert_eq!(status, 201, "{body}");
            start = end;
        }
    }

    pub(crate) async fn key(&self, permission: &str, ledgers: Option<Vec<&str>>) -> String {
        let mut body = json!({"name": format!("{permission} key"), "permission": permission});
        if let Some(ledgers) = ledgers {
            body["ledgers"] = json!(ledgers);
        }
        let (status, body) = self.post("/v1/keys", &self.admin, body).await;
        assert_eq!(status, 201, "{body}");
        body["secret"].as_str().expect("secret").to_owned()
    }
}

pub(crate) async fn account(server: TestServer) -> Account {
    let boot = server.bootstrap("acme").await;
    assert!(boot["account_id"].as_str().expect("account_id").starts_with("acc_"));
    let admin = boot["admin_key"].as_str().expect("admin_key").to_owned();
    let client = server.client();
    Account { server, client, admin }
}

fn event(id: &str, actor: &str) -> Value {
    json!({
        "id": id,
        "actor": {"type": "user", "id": actor, "name": "Jane Doe"},
        "action": "invoice.updated",
        "resource": {"type": "invoice", "id": "inv_42"},
        "occurred_at": "2026-11-26T11:00:00.123456+01:00",
        "metadata": {"amount": 12.5, "tags": ["a", "é"]},
    })
}

fn hashes(value: &Value) -> Vec<Hash> {
    value.as_array().expect("array").iter().map(|h| Hash::from_hex(h.as_str().expect("hex")).expect("hash")).collect()
}

#[tokio::test]
async fn ingested_events_read_back_and_every_proof_verifies_against_the_signed_checkpoint() {
    for server in servers().await {
        let acct = account(server).await;
        let ledger = acct.ledger("billing").await;
        let writer = acct.key("write", Some(vec![&ledger])).await;
        let reader = acct.key("read", Some(vec![&ledger])).await;
        let path = format!("/v1/ledgers/{ledger}/events");

        let (status, one) = acct.post(&path, &writer, event("evt_1", "u_1")).await;
        assert_eq!(status, 201, "{one}");
        assert_eq!(one["tree_size"], 1);
        assert_eq!(one["events"][0]["seq"], 0);
        let batch: Vec<Value> = (2..=20).map(|i| event(&format!("evt_{i}"), &format!("u_{}", i % 2))).collect();
        let (status, appended) = acct.post(&path, &writer, json!({"events": batch})).await;
        assert_eq!(status, 201, "{appended}");
        assert_eq!(appended["tree_size"], 20);

        // The verifier key is public; the checkpoint is signed with it.
        let key_text = acct
            .client
            .get(acct.server.url("/v1/checkpoint-key"))
            .send()
            .await
            .expect("key")
            .text()
            .await
            .expect("text");
        let key: VerifierKey = key_text.trim().parse().expect("verifier key");
        let keys = [key];
        let note = acct
            .client
            .get(acct.server.url(&format!("/v1/ledgers/{ledger}/checkpoint")))
            .bearer_auth(&reader)
            .send()
            .await
            .expect("cp");
        let note = note.text().await.expect("note");
        let checkpoint = Checkpoint::open_for_origin(&note, &keys, &format!("localhost/ledgers/{ledger}"))
            .expect("valid checkpoint");
        assert_eq!(checkpoint.size(), TreeSize(20));
        let tampered_note = note.replace("\n20\n", "\n21\n");
        assert_ne!(tampered_note, note);
        assert!(Checkpoint::open(&tampered_note, &keys).is_err(), "a changed size breaks the signature");

        // Read back: the stored event hashes to its leaf, which is in the tree.
        let (status, stored) = acct.get(&format!("{path}/evt_7"), &reader).await;
        assert_eq!(status, 200, "{stored}");
        assert_eq!(stored["occurred_at"], "2026-11-26T10:00:00.123Z");
        let input: EventInput = serde_json::from_value(json!({
            "id": stored["id"], "actor": stored["actor"], "action": stored["action"],
            "resource": stored["resource"], "occurred_at": stored["occurred_at"], "metadata": stored["metadata"],
        }))
        .expect("input");
        let leaf = input.into_event(|| unreachable!("id given")).expect("valid").leaf_hash();
        assert_eq!(leaf.to_hex(), stored["leaf_hash"].as_str().expect("hex"));
        let seq = stored["seq"].as_u64().expect("seq");
        let (status, proof) =
            acct.get(&format!("/v1/ledgers/{ledger}/proofs/inclusion?seq={seq}&tree_size=20"), &reader).await;
        assert_eq!(status, 200, "{proof}");
        verify_inclusion(seq, TreeSize(20), &leaf, &hashes(&proof["proof"]), checkpoint.root())
            .expect("inclusion verifies");
        let forged = audit_core::hash::leaf_hash(b"forged");
        assert!(verify_inclusion(seq, TreeSize(20), &forged, &hashes(&proof["proof"]), checkpoint.root()).is_err());

        let (status, first) = acct.get(&format!("/v1/ledgers/{ledger}/checkpoint?tree_size=1"), &reader).await;
        assert_eq!(status, 200);
        let first = Checkpoint::open(first.as_str().expect("note"), &keys).expect("first checkpoint");
        let (_, consistency) =
            acct.get(&format!("/v1/ledgers/{ledger}/proofs/consistency?from=1&to=20"), &reader).await;
        verify_consistency(TreeSize(1), TreeSize(20), first.root(), checkpoint.root(), &hashes(&consistency["proof"]))
            .expect("consistent");

        let (_, page) = acct.get(&format!("{path}?limit=500"), &reader).await;
        let mut leaves: Vec<Hash> = page["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| Hash::from_hex(e["leaf_hash"].as_str().expect("hex")).expect("hash"))
            .collect();
        leaves.reverse();
        let (_, range) =
            acct.get(&format!("/v1/ledgers/{ledger}/proofs/range?start=5&end=15&tree_size=20"), &reader).await;
        verify_range(5, 15, TreeSize(20), &leaves[5..15], &hashes(&range["proof"]), checkpoint.root())
            .expect("range verifies");

        // Filters: actor u_1 wrote evt_1 and the odd ones.
        let (_, filtered) = acct.get(&format!("{path}?actor_id=u_1&limit=3"), &reader).await;
        let ids: Vec<&str> =
            filtered["events"].as_array().expect("events").iter().map(|e| e["id"].as_str().expect("id")).collect();
        assert_eq!(ids, ["evt_19", "evt_17", "evt_15"]);
        let cursor = filtered["next_cursor"].as_str().expect("more pages");
        let (_, next) = acct.get(&format!("{path}?actor_id=u_1&limit=3&cursor={cursor}"), &reader).await;
        assert_eq!(next["events"][0]["id"], "evt_13");

        // Applications' own ids as they are: an e-mail address and an ARN
        // with a space are stored, read back, hashed and filtered exactly.
        let mut own = event("evt_own", "jane.doe+audit@acme.example");
        own["resource"]["id"] = json!("arn:aws:s3:::acme-invoices/inv 42.pdf");
        let (status, appended) = acct.post(&path, &writer, own).await;
        assert_eq!(status, 201, "{appended}");
        let (status, stored) = acct.get(&format!("{path}/evt_own"), &reader).await;
        assert_eq!(status, 200, "{stored}");
        assert_eq!(stored["actor"]["id"], "jane.doe+audit@acme.example");
        assert_eq!(stored["resource"]["id"], "arn:aws:s3:::acme-invoices/inv 42.pdf");
        assert_eq!(stored["leaf_hash"], appended["events"][0]["leaf_hash"]);
        let (_, found) = acct.get(&format!("{path}?actor_id=jane.doe%2Baudit%40acme.example"), &reader).await;
        let found = found["events"].as_array().expect("events");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0]["id"], "evt_own");
    }
}

/// docs/vectors/refusals.json over HTTPS: every refused body is a 400 naming its field and
/// stores nothing; each accepted twin is stored and reads back digit for digit.
#[tokio::test]
async fn inexact_integers_are_refused_as_the_published_vectors_say() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors/refusals.json"))
        .expect("refusal vectors");
    let vectors: Value = serde_json::from_str(&text).expect("json");
    let body_of = |case: &Value| match case.get("body_text") {
        Some(text) => text.as_str().expect("text").to_owned(),
        None => case["body"].to_string(),
    };
    let server = TestServer::start().await;
    let acct = account(server).await;
    let ledger = acct.ledger("numbers").await;
    let writer = acct.key("write", Some(vec![&ledger])).await;
    let reader = acct.key("read", None).await;
    let path = format!("/v1/ledgers/{ledger}/events");
    for case in vectors["cases"].as_array().expect("cases") {
        let response = acct
            .client
            .post(acct.server.url(&path))
            .bearer_auth(&writer)
            .header("content-type", "application/json")
            .body(body_of(case))
            .send()
            .await
            .expect("response");
        assert_eq!(response.status(), 400, "{}", case["name"]);
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        let problem: Value = response.json().await.expect("problem");
        assert_eq!(problem["field"], case["field"], "{problem}");
        assert!(problem["detail"].as_str().expect("detail").contains("as a string"), "{problem}");
    }
    let (_, page) = acct.get(&path, &reader).await;
    assert_eq!(page["events"], json!([]), "nothing refused was stored");
    for case in vectors["accepted"].as_array().expect("accepted") {
        let (status, body) = acct.post(&path, &writer, case["body"].clone()).await;
        assert_eq!(status, 201, "{body}");
        let (_, stored) = acct.get(&format!("{path}/{}", case["body"]["id"].as_str().expect("id")), &reader).await;
        assert_eq!(stored["metadata"], case["body"]["metadata"], "{stored}");
    }
}

#[tokio::test]
async fn retries_conflicts_and_bad_batches_store_nothing_twice_or_partly() {
    for server in servers().await {
        let acct = account(server).await;
        let ledger = acct.ledger("l").await;
        let writer = acct.key("write", Some(vec![&ledger])).await;
        let reader = acct.key("read", None).await;
        let path = format!("/v1/ledgers/{ledger}/events");

        let (_, first) = acct.post(&path, &writer, event("evt_a", "u_1")).await;
        let (status, retry) = acct.post(&path, &writer, event("evt_a", "u_1")).await;
        assert_eq!(status, 201);
        assert_eq!(first["events"], retry["events"], "the stored record, no duplicate");
        let (status, conflict) = acct.post(&path, &writer, event("evt_a", "u_2")).await;
        assert_eq!(status, 409, "{conflict}");
        assert_eq!(conflict["status"], 409);

        // One bad event fails the whole batch and names itself.
        let mut bad = event("evt_c", "u_1");
        bad["occurred_at"] = json!("yesterday");
        let (status, problem) = acct.post(&path, &writer, json!({"events": [event("evt_b", "u_1"), bad]})).await;
        assert_eq!(status, 400, "{problem}");
        assert_eq!(problem["field"], "events[1].occurred_at");
        let (status, _) = acct.get(&format!("{path}/evt_b"), &reader).await;
        assert_eq!(status, 404, "nothing of a rejected batch is stored");

        for (body, field) in [
            (json!({"events": []}), "events"),
            (
                {
                    let mut e = event("x", "u");
                    e["extra"] = json!(1);
                    e
                },
                "event",
            ),
            (
                {
                    let mut e = event("x", "u");
                    // A control character (ids may hold spaces, `@`, `|`, `/`...).
                    e["actor"]["id"] = json!("tab\there");
                    e
                },
                "actor.id",
            ),
            (
                {
                    let mut e = event("x", "u");
                    e["metadata"] = json!([1]);
                    e
                },
                "metadata",
            ),
            (
                {
                    let mut e = event("bad id!", "u");
                    e["id"] = json!("bad id!");
                    e
                },
                "id",
            ),
        ] {
            let (status, problem) = acct.post(&path, &writer, body.clone()).await;
            assert_eq!(status, 400, "{body} -> {problem}");
            assert_eq!(problem["field"], field, "{problem}");
        }
        let mut deep = json!(1);
        for _ in 0..40 {
            deep = json!({ "d": deep });
        }
        let mut too_deep = event("deep", "u");
        too_deep["metadata"] = deep;
        let (status, problem) = acct.post(&path, &writer, too_deep).await;
        assert_eq!(status, 400, "{problem}");
        let mut huge = event("huge", "u");
        huge["metadata"] = json!({"blob": "x".repeat(70_000)});
        let (status, problem) = acct.post(&path, &writer, huge).await;
        assert_eq!(status, 400, "{problem}");
        assert_eq!(problem["field"], "event");
        assert!(problem["detail"].as_str().expect("detail").contains("65536"), "{problem}");
        let many: Vec<Value> = (0..1001).map(|i| event(&format!("m{i}"), "u")).collect();
        let (status, _) = acct.post(&path, &writer, json!({"events": many})).await;
        assert_eq!(status, 413);
        let (_, page) = acct.get(&format!("{path}?limit=500"), &reader).await;
        assert_eq!(page["events"].as_array().expect("events").len(), 1, "only evt_a is stored");

        // Hostile numbers are client errors, never "corruption".
        use base64::Engine as _;
        let huge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("before:18446744073709551615");
        let (status, problem) = acct.get(&format!("{path}?cursor={huge}"), &reader).await;
        assert_eq!(status, 400, "{problem}");
        assert_eq!(problem["field"], "cursor");
        let (status, _) =
            acct.get(&format!("/v1/ledgers/{ledger}/checkpoint?tree_size=18446744073709551615"), &reader).await;
        assert_eq!(status, 404);
        let (status, _) = acct
            .get(&format!("/v1/ledgers/{ledger}/proofs/inclusion?seq=0&tree_size=18446744073709551615"), &reader)
            .await;
        assert_eq!(status, 400);
    }
}

#[tokio::test]
async fn permissions_and_scopes_are_enforced_and_other_ledgers_do_not_exist() {
    let acct = account(TestServer::start().await).await;
    let a = acct.ledger("a").await;
    let b = acct.ledger("b").await;
    let write_a = acct.key("write", Some(vec![&a])).await;
    let read_a = acct.key("read", Some(vec![&a])).await;
    let events_a = format!("/v1/ledgers/{a}/events");
    let events_b = format!("/v1/ledgers/{b}/events");

    assert_eq!(acct.post(&events_a, &write_a, event("e1", "u")).await.0, 201);
    assert_eq!(acct.get(&events_a, &write_a).await.0, 403, "write-only cannot read");
    assert_eq!(acct.post(&events_a, &read_a, event("e2", "u")).await.0, 403, "read-only cannot write");
    assert_eq!(acct.post(&events_b, &write_a, event("e3", "u")).await.0, 404, "out of scope is not found");
    assert_eq!(acct.get(&events_b, &read_a).await.0, 404);
    assert_eq!(acct.get("/v1/ledgers/ldg_nope/events", &read_a).await.0, 404);
    assert_eq!(
        acct.post(&events_a, &acct.admin, event("e4", "u")).await.0,
        403,
        "admin keys manage, they do not write"
    );
    assert_eq!(acct.post("/v1/ledgers", &write_a, json!({"name": "c"})).await.0, 403);
    assert_eq!(acct.post("/v1/keys", &read_a, json!({"name": "k", "permission": "admin"})).await.0, 403);
    assert_eq!(acct.get(&events_a, "auds_not_a_key").await.0, 401);
    let anonymous = acct.client.get(acct.server.url(&events_a)).send().await.expect("response");
    assert_eq!(anonymous.status(), 401);

    // Another account's admin sees none of this one.
    let other = acct.server.bootstrap("other").await;
    let other_admin = other["admin_key"].as_str().expect("key");
    assert_eq!(acct.get(&events_a, other_admin).await.0, 404, "another account's ledger does not exist for it");
    let other_reader = {
        let (status, body) = acct.post("/v1/keys", other_admin, json!({"name": "r", "permission": "read"})).await;
        assert_eq!(status, 201);
        body["secret"].as_str().expect("secret").to_owned()
    };
    assert_eq!(acct.get(&events_a, &other_reader).await.0, 404, "another account's ledger does not exist for it");

    // Events are immutable through the API.
    for method in [reqwest::Method::PUT, reqwest::Method::PATCH, reqwest::Method::DELETE] {
        let (status, _) = acct.send(method.clone(), &format!("{events_a}/e1"), &write_a, Some(json!({}))).await;
        assert_eq!(status, 405, "{method}");
        let response = acct
            .client
            .request(method.clone(), acct.server.url(&events_a))
            .bearer_auth(&write_a)
            .send()
            .await
            .expect("response");
        assert_eq!(response.status(), 405, "{method} on the collection");
        assert_eq!(response.headers()["allow"], "GET, POST");
    }

    // The system ledger is read-only to clients and records key lifecycle.
    let system = acct.system_ledger().await;
    let write_all = acct.key("write", None).await;
    assert_eq!(acct.post(&format!("/v1/ledgers/{system}/events"), &write_all, event("s", "u")).await.0, 403);
    let (status, revoked) =
        acct.send(reqwest::Method::DELETE, &format!("/v1/keys/{}", key_id(&write_all)), &acct.admin, None).await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(acct.post(&events_a, &write_all, event("e5", "u")).await.0, 401, "revoked keys authenticate nothing");
    let read_all = acct.key("read", None).await;
    let (_, log) = acct.get(&format!("/v1/ledgers/{system}/events?limit=500"), &read_all).await;
    let actions: Vec<&str> =
        log["events"].as_array().expect("events").iter().map(|e| e["action"].as_str().expect("action")).collect();
    assert_eq!(actions.first(), Some(&"api_key.created"), "the newest: the read key just made");
    assert!(actions.contains(&"api_key.revoked") && actions.contains(&"ledger.created"), "{actions:?}");
    assert_eq!(actions.last(), Some(&"api_key.created"), "the oldest: bootstrap's admin key");

    let (status, rotated) = acct.post(&format!("/v1/keys/{}/rotate", key_id(&read_a)), &acct.admin, json!({})).await;
    assert_eq!(status, 201, "{rotated}");
    assert_eq!(acct.get(&events_a, &read_a).await.0, 401, "the rotated-out secret stops working");
    assert_eq!(acct.get(&events_a, rotated["secret"].as_str().expect("secret")).await.0, 200);
}

fn key_id(secret: &str) -> String {
    format!("key_{}", &secret[5..21])
}

#[tokio::test]
async fn a_key_over_its_rate_limit_gets_429_with_retry_after_and_ratelimit_headers() {
    let server = TestServer::start_with(|args| args.rate_limit_per_key = std::num::NonZeroU32::new(3)).await;
    let acct = account(server).await;
    let ledger = acct.ledger("l").await;
    let reader = acct.key("read", Some(vec![&ledger])).await;
    let path = acct.server.url(&format!("/v1/ledgers/{ledger}/events"));
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..6 {
        let response = acct.client.get(&path).bearer_auth(&reader).send().await.expect("response");
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            limited = Some(response);
        }
    }
    assert_eq!(&statuses[..3], &[200, 200, 200], "{statuses:?}");
    assert!(statuses[3..].iter().all(|s| *s == 429), "{statuses:?}");
    let limited = limited.expect("a 429");
    let retry_after: u64 = limited.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!(retry_after >= 1);
    assert_eq!(limited.headers()["ratelimit-policy"], "3;w=1");
    assert!(limited.headers()["ratelimit"].to_str().expect("ascii").contains("remaining=0"));
    let problem: Value = limited.json().await.expect("problem");
    assert_eq!(problem["status"], 429);
    // Other keys are not affected by this key's budget.
    let other = acct.key("read", Some(vec![&ledger])).await;
    assert_eq!(acct.get(&format!("/v1/ledgers/{ledger}/events"), &other).await.0, 200);
}

/// The contract tools `make test` installs (scripts/services.sh): a test
/// that needs them fails rather than skipping when they are missing.
fn api_tool(name: &str) -> std::path::PathBuf {
    let dir = std::env::var("AUDITSTORE_API_TOOLS")
        .unwrap_or_else(|_| panic!("AUDITSTORE_API_TOOLS is not set: run the tests with `make test`"));
    std::path::Path::new(&dir).join(name)
}

/// The served document is valid OpenAPI 3.1 to an independent validator,
/// a standard generator makes a client from it, and every error it
/// documents is a problem document.
#[tokio::test]
async fn the_openapi_document_is_valid_generates_a_client_and_documents_every_error() {
    let server = TestServer::start().await;
    let text =
        server.client().get(server.url("/v1/openapi.json")).send().await.expect("doc").text().await.expect("body");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &text).expect("write");
    let validated = std::process::Command::new(api_tool("openapi-spec-validator")).arg(&file).output().expect("runs");
    assert!(
        validated.status.success(),
        "openapi-spec-validator refused the document:\n{}{}",
        String::from_utf8_lossy(&validated.stdout),
        String::from_utf8_lossy(&validated.stderr)
    );
    let tools = api_tool("");
    let path = format!("{}:{}", tools.display(), std::env::var("PATH").unwrap_or_default());
    // Export files are ZIP archives: binary, as the generator's own
    // octet-stream (its documented override for such types).
    let config = dir.path().join("client-config.json");
    std::fs::write(&config, r#"{"content_type_overrides": {"application/zip": "application/octet-stream"}}"#)
        .expect("config");
    let generated = std::process::Command::new(api_tool("openapi-python-client"))
        .env("PATH", path)
        .args(["generate", "--fail-on-warning", "--meta", "none", "--config"])
        .arg(&config)
        .arg("--path")
        .arg(&file)
        .arg("--output-path")
        .arg(dir.path().join("client"))
        .output()
        .expect("runs");
    assert!(
        generated.status.success(),
        "openapi-python-client could not generate a client:\n{}{}",
        String::from_utf8_lossy(&generated.stdout),
        String::from_utf8_lossy(&generated.stderr)
    );
    let client = dir.path().join("client");
    for module in ["api/events", "api/proofs", "api/admin", "api/exports", "models/problem.py"] {
        assert!(client.join(module).exists(), "the generated client has no {module}");
    }
    let document: Value = serde_json::from_str(&text).expect("json");
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("item") {
            let responses = operation["responses"].as_object().expect("responses");
            let secured = operation["security"].as_array().is_some_and(|s| !s.is_empty());
            let needed: &[&str] = if secured { &["401", "403", "429", "500", "503"] } else { &["500"] };
            for status in needed {
                assert!(responses.contains_key(*status), "{method} {path} does not document {status}");
            }
            for (status, response) in responses {
                assert!(response["description"].as_str().is_some_and(|d| !d.is_empty()), "{method} {path} {status}");
                if status.as_str() >= "400" {
                    assert_eq!(
                        response["content"]["application/problem+json"]["schema"]["$ref"],
                        "#/components/schemas/Problem",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_that_answers() {
    let server = TestServer::start().await;
    let client = server.client();
    let response = client.get(server.url("/v1/openapi.json")).send().await.expect("document");
    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.expect("json");
    assert!(document["openapi"].as_str().expect("version").starts_with("3."));
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());
    for schema in ["AppendResponse", "EventOut", "EventPage", "InclusionProof", "KeyOut", "Problem"] {
        assert!(document["components"]["schemas"][schema].is_object(), "schema {schema}");
    }
    let paths = document["paths"].as_object().expect("paths");
    for expected in [
        "/v1/ledgers",
        "/v1/keys",
        "/v1/keys/{id}/rotate",
        "/v1/keys/{id}",
        "/v1/ledgers/{ledger}/events",
        "/v1/ledgers/{ledger}/events/{id}",
        "/v1/ledgers/{ledger}/checkpoint",
        "/v1/ledgers/{ledger}/proofs/inclusion",
        "/v1/ledgers/{ledger}/proofs/consistency",
        "/v1/ledgers/{ledger}/proofs/range",
        "/v1/checkpoint-key",
        "/v1/ledgers/{ledger}/retention",
        "/v1/ledgers/{ledger}/holds",
        "/v1/holds",
        "/v1/holds/{id}",
        "/v1/holds/{id}/release",
        "/v1/ledgers/{ledger}/retention/run",
        "/v1/ledgers/{ledger}/archives",
        "/v1/ledgers/{ledger}/archives/{id}/download",
        "/v1/ledgers/{ledger}",
        "/v1/ledgers/{ledger}/restore",
        "/v1/webhooks",
        "/v1/webhooks/event-types",
        "/v1/webhooks/{id}",
        "/v1/webhooks/{id}/rotate-secret",
        "/v1/webhooks/{id}/enable",
        "/v1/webhooks/{id}/deliveries",
    ] {
        assert!(paths.contains_key(expected), "{expected} is documented");
    }
    // Every documented operation is routed: without a key it answers 401
    // (or 200 when public), never 404 or 405.
    for (path, item) in paths {
        let concrete = path.replace("{ledger}", "ldg_x").replace("{id}", "key_0000000000000000");
        for method in item.as_object().expect("item").keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let response =
                client.request(method.clone(), server.url(&concrete)).json(&json!({})).send().await.expect("response");
            let status = response.status().as_u16();
            assert!(status == 401 || status == 200, "{method} {path} answered {status}");
        }
    }
    let unknown = client.get(server.url("/v1/no-such-route")).send().await.expect("response");
    assert_eq!(unknown.status(), 404);
    assert_eq!(unknown.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn under_ingest_overload_reads_are_shed_with_503_and_writes_go_on() {
    // A threshold of 0 queued appends: the server is "overloaded" for reads
    // at all times, which makes the shedding path deterministic.
    let server = TestServer::start_with(|args| args.shed_reads_at_backlog = Some(0)).await;
    let account = account(server).await;
    let ledger = account.ledger("busy").await;
    let write = account.key("write", Some(vec![&ledger])).await;
    let read = account.key("read", Some(vec![&ledger])).await;
    let (status, body) = account.post(&format!("/v1/ledgers/{ledger}/events"), &write, event("e1", "jane")).await;
    assert_eq!(status, 201, "writes are never shed: {body}");
    let response = account
        .client
        .get(account.server.url(&format!("/v1/ledgers/{ledger}/events/e1")))
        .bearer_auth(&read)
        .send()
        .await
        .expect("response");
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let body: Value = response.json().await.expect("problem");
    assert!(body["detail"].as_str().expect("detail").contains("reads are shed"), "{body}");
    let (status, _) = account.get("/v1/openapi.json", &read).await;
    assert_eq!(status, 200, "the API description is not a read of data");
}

#[tokio::test]
async fn an_address_that_keeps_failing_authentication_is_refused_but_its_valid_keys_are_served() {
    let server = TestServer::start_with(|args| args.auth_failures_per_minute = std::num::NonZeroU32::new(3)).await;
    let account = account(server).await;
    // Requests without credentials are no guesses: they are never counted.
    for _ in 0..10 {
        let response = account.client.get(account.server.url("/v1/ledgers")).send().await.expect("response");
        assert_eq!(response.status().as_u16(), 401);
    }
    let wrong = format!("{}x", &account.admin[..account.admin.len() - 1]);
    for _ in 0..3 {
        let (status, body) = account.get("/v1/ledgers", &wrong).await;
        assert_eq!(status, 401, "{body}");
    }
    // The fourth failure spends the budget: failing credentials from this
    // address are refused from now on...
    for _ in 0..2 {
        let response =
            account.client.get(account.server.url("/v1/ledgers")).bearer_auth(&wrong).send().await.expect("response");
        assert_eq!(response.status().as_u16(), 429);
        assert!(response.headers().get("retry-after").is_some());
    }
    // ...but a key that verifies is served, so one tenant's bad client
    // behind a NAT cannot stop everyone else's ingestion.
    let (status, body) = account.get("/v1/ledgers", &account.admin).await;
    assert_eq!(status, 200, "{body}");
}

/// Behind a trusted proxy, the client address is the one it forwarded for:
/// the audit trail records it, and the failure budget is per client, not
/// per proxy. From an untrusted peer the same headers are ignored.
#[tokio::test]
async fn a_trusted_proxy_names_the_client_and_anyone_else_cannot() {
    for trusted in [true, false] {
        let server = TestServer::start_with(|args| {
            args.auth_failures_per_minute = std::num::NonZeroU32::new(2);
            if trusted {
                args.trusted_proxies = Some(vec!["127.0.0.0/8".parse().expect("net")]);
            }
        })
        .await;
        let account = account(server).await;
        let via = |client: &'static str, key: &str| {
            account
                .client
                .post(account.server.url("/v1/ledgers"))
                .bearer_auth(key)
                .header("x-forwarded-for", format!("203.0.113.99, {client}"))
                .json(&json!({"name": format!("from {client}")}))
        };
        let created = via("198.51.100.7", &account.admin).send().await.expect("response");
        assert_eq!(created.status(), 201);
        let store = account.server.server.store();
        let acme = store.account_by_name("acme").await.expect("account").expect("exists");
        let filter = store::EventFilter { action: Some("ledger.created".into()), ..store::EventFilter::default() };
        let events = store.list_events(&acme.system_ledger, &filter, None, 50).await.expect("events").events;
        let recorded: Vec<Value> = events
            .iter()
            .filter_map(|e| e.event.as_ref().map(|event| serde_json::to_value(event).expect("json")))
            .filter(|e| e["metadata"]["name"] == "from 198.51.100.7")
            .map(|e| e["metadata"]["client_ip"].clone())
            .collect();
        let want = if trusted { "198.51.100.7" } else { "127.0.0.1" };
        assert_eq!(recorded, vec![json!(want)], "trusted: {trusted}");

        // One forwarded client spends its budget; another behind the same
        // proxy is still judged on its own.
        for _ in 0..3 {
            let _ = via("198.51.100.66", "auds_wrong").send().await.expect("response");
        }
        let other = via("198.51.100.8", "auds_wrong").send().await.expect("response");
        let want = if trusted { 401 } else { 429 };
        assert_eq!(other.status().as_u16(), want, "trusted: {trusted}");
    }
}
