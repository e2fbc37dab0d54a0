//! Ledger deletion over the /v1 API on both backends: confirmed, refused
//! while held, cancelled within the grace period (appends refused until
//! then), and carried out by the deletion job, after which the ledger is
//! not found and its final checkpoint is in the system ledger.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use store::testing::fresh_postgres_url;

use crate::api::{account, Account};
use crate::common::TestServer;

async fn event(account: &Account, ledger: &str, key: &str, n: u64) -> (u16, Value) {
    let body = json!({"id": format!("evt_{n}"), "actor": {"type": "user", "id": "jane"}, "action": "invoice.paid",
                      "resource": {"type": "invoice", "id": "inv_1"}, "occurred_at": "2026-11-30T10:00:00Z"});
    account.post(&format!("/v1/ledgers/{ledger}/events"), key, body).await
}

async fn system_events(account: &Account, action: &str) -> Vec<Value> {
    let system = account.system_ledger().await;
    let reader = account.key("read", Some(vec![&system])).await;
    let (_, page) = account.get(&format!("/v1/ledgers/{system}/events?action={action}"), &reader).await;
    page["events"].as_array().expect("events").iter().map(|e| e["metadata"].clone()).collect()
}

#[tokio::test]
async fn a_deletion_is_confirmed_refused_while_held_cancellable_and_then_carried_out() {
    let url = fresh_postgres_url().await.expect("test database");
    for server in [
        TestServer::start_with(|args| args.ledger_deletion_grace_hours = Some(0)).await,
        TestServer::start_with(|args| {
            args.database_url = Some(url);
            args.ledger_deletion_grace_hours = Some(0);
        })
        .await,
    ] {
        let account = account(server).await;
        let ledger = account.ledger("doomed").await;
        let writer = account.key("write", Some(vec![&ledger])).await;
        let reader = account.key("read", Some(vec![&ledger])).await;
        for n in 0..3 {
            assert_eq!(event(&account, &ledger, &writer, n).await.0, 201);
        }
        let path = format!("/v1/ledgers/{ledger}");

        // The ledger must be named again.
        for confirm in ["", "?confirm=ldg_other"] {
            let (status, problem) =
                account.send(Method::DELETE, &format!("{path}{confirm}"), &account.admin, None).await;
            assert_eq!(status, 400, "{problem}");
            assert!(problem["detail"].as_str().expect("detail").contains("confirm"), "{problem}");
        }
        assert_eq!(account.send(Method::DELETE, &format!("{path}?confirm={ledger}"), &writer, None).await.0, 403);

        // A hold refuses it, naming the hold.
        let (_, hold) =
            account.post(&format!("{path}/holds"), &account.admin, json!({"case": "SEC-1", "reason": "inquiry"})).await;
        let (status, problem) =
            account.send(Method::DELETE, &path, &account.admin, Some(json!({"confirm": ledger}))).await;
        assert_eq!(status, 409, "{problem}");
        let detail = problem["detail"].as_str().expect("detail");
        assert!(detail.contains(hold["id"].as_str().expect("id")) && detail.contains("SEC-1"), "{problem}");
        let release = format!("/v1/holds/{}/release", hold["id"].as_str().expect("id"));
        assert_eq!(account.post(&release, &account.admin, json!({"reason": "closed"})).await.0, 200);

        // The system ledger goes only with its account.
        let system = account.system_ledger().await;
        let (status, problem) =
            account.send(Method::DELETE, &format!("/v1/ledgers/{system}?confirm={system}"), &account.admin, None).await;
        assert_eq!(status, 409, "{problem}");

        // Scheduled (grace 0 here): appends are refused; a restore in time
        // cancels it. The job runs every 10 s, so a cancel right away wins.
        let (status, scheduled) =
            account.send(Method::DELETE, &format!("{path}?confirm={ledger}"), &account.admin, None).await;
        assert_eq!(status, 202, "{scheduled}");
        assert_eq!(scheduled["status"], "scheduled");
        let (status, problem) = event(&account, &ledger, &writer, 9).await;
        if status == 409 {
            assert!(problem["detail"].as_str().expect("detail").contains("scheduled for deletion"), "{problem}");
        } else {
            panic!("an append to a ledger scheduled for deletion answered {status}: {problem}");
        }
        let (status, restored) = account.post(&format!("{path}/restore"), &account.admin, json!({})).await;
        if status == 200 {
            assert_eq!(restored["status"], "cancelled");
            assert_eq!(event(&account, &ledger, &writer, 10).await.0, 201, "appends again");
            let (status, again) =
                account.send(Method::DELETE, &format!("{path}?confirm={ledger}"), &account.admin, None).await;
            assert_eq!(status, 202, "{again}");
        } else {
            // The job got there first (it ran just then): nothing to restore.
            assert_eq!(status, 409, "{restored}");
        }
        let (_, listed) = account.get("/v1/ledgers", &account.admin).await;
        let listed =
            listed["ledgers"].as_array().expect("ledgers").iter().find(|l| l["id"] == ledger.as_str()).cloned();
        if let Some(listed) = listed {
            assert!(listed["delete_at"].as_str().is_some(), "shown as in deletion: {listed}");
        }

        // The job deletes it within its interval; then it is not found.
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let (status, _) = account.get(&format!("/v1/ledgers/{ledger}/events"), &reader).await;
            if status == 404 {
                break;
            }
            assert!(Instant::now() < deadline, "the deletion job did not delete the ledger ({status})");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert_eq!(account.get(&format!("/v1/ledgers/{ledger}/checkpoint"), &reader).await.0, 404);
        assert_eq!(account.get(&format!("/v1/ledgers/{ledger}/holds"), &account.admin).await.0, 404);
        let (_, listed) = account.get("/v1/ledgers", &account.admin).await;
        assert!(listed["ledgers"].as_array().expect("ledgers").iter().all(|l| l["id"] != ledger.as_str()));
        let deleted = system_events(&account, "ledger.deleted").await;
        assert_eq!(deleted.len(), 1);
        assert!(deleted[0]["final_tree_size"].as_u64().is_some_and(|n| n >= 3), "{deleted:?}");
        assert!(deleted[0]["final_checkpoint"].as_str().is_some_and(|n| n.contains(&ledger)), "{deleted:?}");
        assert_eq!(system_events(&account, "ledger.deletion_refused").await.len(), 1);
    }
}

#[tokio::test]
async fn an_account_is_deleted_from_the_command_line_unless_something_of_it_is_held() {
    let server = TestServer::start().await;
    let leaving = server.bootstrap("leaving").await;
    let admin = leaving["admin_key"].as_str().expect("admin key").to_owned();
    let client = server.client();
    let post = |path: &str, body: Value| client.post(server.url(path)).bearer_auth(&admin).json(&body).send();
    let created: Value =
        post("/v1/ledgers", json!({"name": "billing"})).await.expect("ledger").json().await.expect("json");
    let ledger = created["id"].as_str().expect("id").to_owned();
    let hold: Value = post("/v1/holds", json!({"case": "Exit audit", "reason": "before termination"}))
        .await
        .expect("hold")
        .json()
        .await
        .expect("json");
    let refused = server.admin(&["delete-account", "--account", "leaving"]).await.expect_err("held");
    assert!(refused.contains(hold["id"].as_str().expect("id")), "{refused}");
    let release = format!("/v1/holds/{}/release", hold["id"].as_str().expect("id"));
    assert!(post(&release, json!({"reason": "audit done"})).await.expect("release").status().is_success());

    let out = server.admin(&["delete-account", "--account", "leaving"]).await.expect("deleted");
    let deleted = out["deleted"].as_array().expect("deleted");
    assert_eq!(deleted.len(), 2, "the ledger and the system ledger: {out}");
    assert_eq!(deleted[0]["ledger"], ledger.as_str());
    assert_eq!(deleted[0]["final_tree_size"], 0, "an empty ledger: {out}");
    assert_eq!(deleted[0]["final_checkpoint"], Value::Null, "never signed: {out}");
    assert!(deleted[1]["final_checkpoint"].as_str().is_some_and(|n| n.contains("/ledgers/")), "{out}");
    let gone = client.get(server.url("/v1/ledgers")).bearer_auth(&admin).send().await.expect("list");
    assert_eq!(gone.status(), 401, "its keys are gone with it");
    let again = server.admin(&["delete-account", "--account", "leaving"]).await.expect_err("no such account");
    assert!(again.contains("no account"), "{again}");
}
