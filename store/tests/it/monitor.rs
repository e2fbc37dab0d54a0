//! The tamper monitor against real databases edited behind the
//! application's back: each kind of tampering is named with its kind and
//! exact seq range, recorded once with its system event, and kept.

use std::time::Duration;

use store::monitor::{AnomalyKind, IntegrityStatus, PassKind};
use store::testing::{execute_raw, origin, tamper_freely};
use store::{AccountId, Ledger, Store};

use crate::{both_backends, event, system_metadata};

const HOUR: Duration = Duration::from_secs(3600);

/// A ledger of 40 events appended in four commits (checkpoints at 10, 20,
/// 30 and 40; stored level-4 nodes over 0..16 and 16..32), verified once.
async fn verified_ledger(store: &Store, account: &AccountId, name: &str) -> Ledger {
    let ledger = store.create_ledger(account, name, &origin()).await.expect("ledger");
    for batch in 0..4 {
        store.append(&ledger, (0..10).map(|n| event(None, "u", batch * 10 + n)).collect()).await.expect("append");
    }
    let ledger = store.ledger(account, &ledger.id).await.expect("ledger");
    let pass = store.monitor_ledger(&ledger, PassKind::Incremental, None).await.expect("pass").expect("walked");
    assert_eq!(pass.verified_size, 40);
    assert!(pass.new_anomalies.is_empty(), "a clean ledger has no anomaly: {:?}", store.anomalies(&ledger.id).await);
    ledger
}

/// Runs a pass of `kind` and answers every anomaly of the ledger as
/// (kind, first, last), by first seq.
async fn pass(store: &Store, account: &AccountId, ledger: &Ledger, kind: PassKind) -> Vec<(AnomalyKind, u64, u64)> {
    pass_with(store, account, ledger, kind, None).await
}

async fn pass_with(
    store: &Store,
    account: &AccountId,
    ledger: &Ledger,
    kind: PassKind,
    archive: Option<&store::lifecycle::archive::ArchiveStore>,
) -> Vec<(AnomalyKind, u64, u64)> {
    let ledger = store.ledger(account, &ledger.id).await.expect("ledger");
    store.monitor_ledger(&ledger, kind, archive).await.expect("pass").expect("walked");
    let mut found: Vec<_> = store
        .anomalies(&ledger.id)
        .await
        .expect("anomalies")
        .iter()
        .map(|a| (a.kind, a.first_seq, a.last_seq))
        .collect();
    found.sort_by_key(|&(kind, first, _)| (first, kind));
    found
}

#[tokio::test]
async fn a_clean_ledger_verifies_incrementally_and_in_full_sweeps() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, _url) in both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let ledger = store.create_ledger(&account.id, "l", &origin()).await.expect("ledger");
        let report = store.integrity_report(&ledger, HOUR).await.expect("report");
        assert_eq!(report.status, IntegrityStatus::Pending, "not verified yet");
        let ledger = verified_ledger(&store, &account.id, "clean").await;
        // Odd sizes too: frontier state saved mid-group, checkpoints
        // between stored nodes.
        store.append(&ledger, (0..7).map(|n| event(None, "u", 100 + n)).collect()).await.expect("append");
        store.append(&ledger, (0..300).map(|n| event(None, "u", 200 + n)).collect()).await.expect("append");
        assert!(pass(&store, &account.id, &ledger, PassKind::Incremental).await.is_empty());
        assert!(pass(&store, &account.id, &ledger, PassKind::FullSweep).await.is_empty());
        let ledger = store.ledger(&account.id, &ledger.id).await.expect("ledger");
        let report = store.integrity_report(&ledger, HOUR).await.expect("report");
        assert_eq!(report.status, IntegrityStatus::Ok);
        assert_eq!((report.verified_size, report.tree_size), (347, 347));
        assert!(report.last_full_sweep_ms.is_some() && report.last_verified_ms.is_some());
        // Every ledger of the instance, the system ledgers included, is clean.
        let passes = store.monitor_all(HOUR, None).await.expect("all");
        assert!(passes.len() >= 3, "{passes:?}");
        assert!(passes.iter().all(|p| p.new_anomalies.is_empty()), "{passes:?}");
        // Stale once the last verification is older than two intervals.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let report = store.integrity_report(&ledger, Duration::from_millis(5)).await.expect("report");
        assert_eq!(report.status, IntegrityStatus::Stale);
    }
}

#[tokio::test]
async fn every_kind_of_tampering_is_named_with_its_exact_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        for (case, kind, first, last) in store::testing::tampering::CASES {
            let ledger = verified_ledger(&store, &account.id, case).await;
            let id = ledger.id.as_str();
            let sql = store::testing::tampering::sql(&url, id, case).await.expect(case);
            tamper_freely(&url, &sql).await.expect(case);
            let found = pass(&store, &account.id, &ledger, PassKind::FullSweep).await;
            assert_eq!(found, vec![(kind, first, last)], "{case} on {url}");
            let ledger = store.ledger(&account.id, &ledger.id).await.expect("ledger");
            let report = store.integrity_report(&ledger, HOUR).await.expect("report");
            assert_eq!(report.status, IntegrityStatus::Anomaly, "{case}");
            // Found again by the next sweep, recorded once.
            assert_eq!(pass(&store, &account.id, &ledger, PassKind::FullSweep).await, found, "{case}");
            let events: Vec<_> = system_metadata(&store, &account.id, "integrity.anomaly")
                .await
                .into_iter()
                .filter(|m| m["ledger"] == id)
                .collect();
            assert_eq!(events.len(), 1, "{case}: {events:?}");
            assert_eq!(events[0]["kind"], kind.as_str());
            assert_eq!((events[0]["first_seq"].as_u64(), events[0]["last_seq"].as_u64()), (Some(first), Some(last)));
            assert!(events[0]["advice"].as_str().is_some_and(|a| !a.is_empty()));
        }
    }
}

#[tokio::test]
async fn the_incremental_pass_verifies_new_rows_and_the_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let ledger = verified_ledger(&store, &account.id, "l").await;
        store.append(&ledger, (0..10).map(|n| event(None, "u", 50 + n)).collect()).await.expect("append");
        let id = ledger.id.as_str();
        let sql = format!("UPDATE events SET content = NULL WHERE ledger_id = '{id}' AND seq = 45");
        tamper_freely(&url, &sql).await.expect("tombstone");
        let found = pass(&store, &account.id, &ledger, PassKind::Incremental).await;
        assert_eq!(found, vec![(AnomalyKind::ForgedTombstone, 45, 45)]);
        // The tail cut below what was verified is found without a sweep.
        tamper_freely(&url, &format!("DELETE FROM events WHERE ledger_id = '{id}' AND seq >= 48")).await.expect("cut");
        tamper_freely(&url, &format!("UPDATE ledger_heads SET tree_size = 48 WHERE ledger_id = '{id}'"))
            .await
            .expect("head");
        let found = pass(&store, &account.id, &ledger, PassKind::Incremental).await;
        assert!(found.contains(&(AnomalyKind::TruncatedTail, 48, 49)), "{found:?}");
    }
}

#[tokio::test]
async fn an_anomaly_is_acknowledged_once_and_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let ledger = verified_ledger(&store, &account.id, "l").await;
        let id = ledger.id.as_str();
        tamper_freely(&url, &format!("DELETE FROM events WHERE ledger_id = '{id}' AND seq = 12"))
            .await
            .expect("delete");
        assert_eq!(
            pass(&store, &account.id, &ledger, PassKind::FullSweep).await,
            vec![(AnomalyKind::DeletedRow, 12, 12)]
        );
        let open = store.open_anomalies(&account.id).await.expect("open");
        assert_eq!(open.len(), 1);
        let by = store::Origin::new(store::Actor::Cli("owner"));
        let acknowledged = store.acknowledge_anomaly(&account.id, &open[0].id, &by).await.expect("ack");
        assert!(acknowledged.acknowledged_ms.is_some());
        let again = store.acknowledge_anomaly(&account.id, &open[0].id, &by).await.expect("ack again");
        assert_eq!(again.acknowledged_ms, acknowledged.acknowledged_ms, "acknowledged once");
        assert!(store.open_anomalies(&account.id).await.expect("open").is_empty());
        let ledger = store.ledger(&account.id, &ledger.id).await.expect("ledger");
        let report = store.integrity_report(&ledger, HOUR).await.expect("report");
        assert_eq!(report.status, IntegrityStatus::Ok, "acknowledged");
        assert_eq!(report.anomalies.len(), 1, "the finding stays");
        assert_eq!(system_metadata(&store, &account.id, "integrity.acknowledged").await.len(), 1);
        // Another account cannot see or acknowledge it.
        let (other, _) = store.ensure_account("other").await.expect("account");
        assert!(store.acknowledge_anomaly(&other.id, &open[0].id, &by).await.is_err());
        // The database keeps findings as found.
        let anomaly = &open[0].id;
        for sql in [
            format!("DELETE FROM integrity_anomalies WHERE anomaly_id = '{anomaly}'"),
            format!("UPDATE integrity_anomalies SET detail = 'nothing' WHERE anomaly_id = '{anomaly}'"),
            format!("UPDATE integrity_anomalies SET acknowledged_by = 'someone' WHERE anomaly_id = '{anomaly}'"),
        ] {
            let error = execute_raw(&url, &sql).await.expect_err(&sql);
            assert!(error.to_string().contains("kept"), "{error}");
        }
    }
}

#[tokio::test]
async fn a_full_sweep_checks_each_archive_file_against_its_recorded_digest() {
    use store::lifecycle::archive::ArchiveStore;
    use store::lifecycle::retention::RetentionDays;
    let dir = tempfile::tempdir().expect("tempdir");
    for (n, (store, _url)) in both_backends(dir.path()).await.into_iter().enumerate() {
        let root = dir.path().join(format!("archive-{n}"));
        let archive = ArchiveStore::Directory(root.clone());
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let ledger = store.create_ledger(&account.id, "billing", &origin()).await.expect("ledger");
        let old: Vec<_> = (0..10)
            .map(|i| {
                let input = serde_json::json!({
                    "id": format!("evt_{i}"), "actor": {"type": "user", "id": "jane"}, "action": "invoice.paid",
                    "resource": {"type": "invoice", "id": format!("inv_{i}")},
                    "occurred_at": format!("2025-01-{:02}T10:00:00Z", i + 1),
                });
                let parsed: audit_core::EventInput = serde_json::from_value(input).expect("input");
                store::NewEvent::new(parsed.into_event(|| unreachable!("the id is given")).expect("event"), true)
                    .expect("new event")
            })
            .collect();
        store.append(&ledger, old).await.expect("append");
        store.append(&ledger, (0..5).map(|i| event(None, "joe", i)).collect()).await.expect("append");
        store.set_retention(&ledger, RetentionDays::new(30).expect("days"), false, &origin()).await.expect("policy");
        let run = store.run_retention(&ledger.id, &archive, &origin(), None).await.expect("run");
        assert_eq!(run.archived, 10);
        let ledger = store.ledger(&account.id, &ledger.id).await.expect("ledger");
        store.monitor_ledger(&ledger, PassKind::FullSweep, Some(&archive)).await.expect("sweep");
        assert!(store.anomalies(&ledger.id).await.expect("anomalies").is_empty(), "archived tombstones are covered");

        // The file is altered in the archive store: its tombstones are no
        // longer backed by what was recorded.
        let record = store.list_archivals(&ledger.id, 10).await.expect("archivals").remove(0);
        let path = root.join(record.location.strip_prefix("file:").expect("a file location"));
        let mut bytes = std::fs::read(&path).expect("archive file");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).expect("altered");
        let found = pass_with(&store, &account.id, &ledger, PassKind::FullSweep, Some(&archive)).await;
        assert_eq!(found, vec![(AnomalyKind::ForgedTombstone, 0, 9)]);
        let anomaly = store.anomalies(&ledger.id).await.expect("anomalies").remove(0);
        assert!(anomaly.detail.contains(&record.id) && anomaly.detail.contains("SHA-256"), "{}", anomaly.detail);

        // Gone altogether: the same tombstones, named once.
        std::fs::remove_file(&path).expect("removed");
        let found = pass_with(&store, &account.id, &ledger, PassKind::FullSweep, Some(&archive)).await;
        assert_eq!(found, vec![(AnomalyKind::ForgedTombstone, 0, 9)]);
        // An incremental pass does not read the archive store.
        let found = pass_with(&store, &account.id, &ledger, PassKind::Incremental, Some(&archive)).await;
        assert_eq!(found.len(), 1);
    }
}
