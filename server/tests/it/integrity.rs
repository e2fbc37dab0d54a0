//! The tamper monitor over the API, on both backends: a real server whose
//! monitor runs every second (each pass a full sweep), its database edited
//! behind its back while it runs. The anomaly appears in `/integrity` with
//! its kind and exact range and in the system ledger; an admin acknowledges
//! it and it stays listed. A node without the monitor says so in the system
//! ledger, and its answers go stale.

use std::time::{Duration, Instant};

use serde_json::Value;
use store::testing::{fresh_postgres_url, sqlite_url_in, tamper_freely};

use crate::api::{account, Account};
use crate::common::TestServer;

fn fast(args: &mut server::config::ServeArgs) {
    args.monitor_interval = std::num::NonZeroU64::new(1);
    args.monitor_full_sweep_hours = Some(0.0001);
}

fn database_url(server: &TestServer) -> String {
    server.database_url.clone().unwrap_or_else(|| sqlite_url_in(&server.data_path))
}

/// Polls the ledger's integrity until `done` holds (30 s at most).
async fn integrity_until(account: &Account, ledger: &str, key: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = account.get(&format!("/v1/ledgers/{ledger}/integrity"), key).await;
        assert_eq!(status, 200, "{body}");
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "integrity never reached the expected state: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn tampering_while_the_server_runs_is_reported_and_acknowledged() {
    let url = fresh_postgres_url().await.expect("test database");
    let servers = vec![
        TestServer::start_with(fast).await,
        TestServer::start_with(|args| {
            fast(args);
            args.database_url = Some(url);
        })
        .await,
    ];
    for server in servers {
        let database = database_url(&server);
        let acct = account(server).await;
        let ledger = acct.ledger("billing").await;
        let writer = acct.key("write", Some(vec![&ledger])).await;
        let reader = acct.key("read", Some(vec![&ledger])).await;
        acct.append_invoices(&ledger, &writer, 0..30, 10).await;
        let clean = integrity_until(&acct, &ledger, &reader, |b| b["status"] == "ok" && b["verified_size"] == 30).await;
        assert_eq!(clean["stale"], false);
        assert_eq!(clean["monitor_interval_seconds"], 1);
        assert!(clean["last_full_sweep_at"].is_string() && clean["anomalies"].as_array().is_some_and(Vec::is_empty));

        let sql = format!("DELETE FROM events WHERE ledger_id = '{ledger}' AND seq = 7");
        tamper_freely(&database, &sql).await.expect("deleted behind its back");
        let found = integrity_until(&acct, &ledger, &reader, |b| b["status"] == "anomaly").await;
        let anomalies = found["anomalies"].as_array().expect("anomalies");
        assert_eq!(anomalies.len(), 1, "{found}");
        let anomaly = &anomalies[0];
        assert_eq!(
            (anomaly["kind"].as_str(), anomaly["first_seq"].as_u64(), anomaly["last_seq"].as_u64()),
            (Some("deleted_row"), Some(7), Some(7))
        );
        assert!(anomaly["advice"].as_str().is_some_and(|a| a.contains("backup")), "{anomaly}");

        // The system ledger holds it, once.
        let system = acct.system_ledger().await;
        let auditor = acct.key("read", None).await;
        let (status, page) = acct.get(&format!("/v1/ledgers/{system}/events?action=integrity.anomaly"), &auditor).await;
        assert_eq!(status, 200, "{page}");
        let events = page["events"].as_array().expect("events");
        assert_eq!(events.len(), 1, "{page}");
        let metadata = &events[0]["metadata"];
        assert_eq!(
            (metadata["kind"].as_str(), metadata["first_seq"].as_u64()),
            (Some("deleted_row"), Some(7)),
            "{page}"
        );

        // Acknowledged by an admin only; the finding stays.
        let id = anomaly["id"].as_str().expect("id");
        let path = format!("/v1/ledgers/{ledger}/integrity/anomalies/{id}/acknowledge");
        let (status, _) = acct.post(&path, &reader, Value::Null).await;
        assert_eq!(status, 403);
        let (status, acknowledged) = acct.post(&path, &acct.admin, Value::Null).await;
        assert_eq!(status, 200, "{acknowledged}");
        assert!(acknowledged["acknowledged_at"].is_string() && acknowledged["acknowledged_by"].is_string());
        let after = integrity_until(&acct, &ledger, &reader, |b| b["status"] == "ok").await;
        assert_eq!(after["anomalies"].as_array().map(Vec::len), Some(1), "{after}");
    }
}

#[tokio::test]
async fn a_stopped_or_disabled_monitor_is_recorded_and_its_answers_go_stale() {
    let acct = account(TestServer::start_with(fast).await).await;
    let ledger = acct.ledger("billing").await;
    let reader = acct.key("read", None).await;
    integrity_until(&acct, &ledger, &reader, |b| b["status"] == "ok").await;
    let Account { server, admin, .. } = acct;
    let TestServer { server: running, data_dir, data_path, .. } = server;
    running.shutdown().await.expect("stops");

    // The same data, served by a node that does not run the monitor.
    let restarted = TestServer::start_with(|args| {
        fast(args);
        args.no_monitor = Some(true);
        args.data_dir = Some(data_path);
    })
    .await;
    let client = restarted.client();
    let acct = Account { server: restarted, client, admin };
    let stale = integrity_until(&acct, &ledger, &reader, |b| b["status"] == "stale").await;
    assert_eq!(stale["stale"], true);
    assert!(stale["verification_age_seconds"].as_u64().is_some_and(|age| age >= 2), "{stale}");
    let system = acct.system_ledger().await;
    for action in ["monitor.stopped", "monitor.disabled"] {
        let (status, page) = acct.get(&format!("/v1/ledgers/{system}/events?action={action}"), &reader).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["events"].as_array().map(Vec::len), Some(1), "{action}: {page}");
    }
    drop(data_dir);
}
