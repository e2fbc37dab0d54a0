//! Export jobs: an interrupted run is restarted from the beginning and its
//! file is never served half-written; chunks are sealed in place; files
//! expire and their records stay.

use std::io::Read as _;

use audit_core::export::{EventsFormat, Manifest};
use sha2::Digest as _;
use store::lifecycle::exports::{ExportFilter, ExportPlan, ExportProgress, ExportRecord, ExportRequest, ExportStatus};
use store::testing::{execute_raw, fetch_blobs, origin};
use store::{Store, StoreError};

const DAY_MS: i64 = 86_400_000;

/// The whole file of a done export, chunk by chunk, as a download reads it.
async fn file_of(store: &Store, record: &ExportRecord) -> Result<Vec<u8>, StoreError> {
    let mut file = Vec::new();
    for n in 0..record.chunks {
        file.extend(store.export_chunk(record, n).await?);
    }
    Ok(file)
}

fn manifest(file: &[u8]) -> Manifest {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(file)).expect("a ZIP");
    let mut text = String::new();
    zip.by_name("manifest.json").expect("manifest").read_to_string(&mut text).expect("read");
    serde_json::from_str(&text).expect("manifest json")
}

fn jsonl(format: EventsFormat) -> ExportRequest {
    ExportRequest { format, from_seq: None, to_seq: None, filter: ExportFilter::default() }
}

#[tokio::test]
async fn an_interrupted_export_restarts_from_the_beginning_and_only_a_whole_file_is_done() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in crate::both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let ledger = store.create_ledger(&account.id, "billing", &origin()).await.expect("ledger");
        for batch in 0..5u64 {
            let events = (0..500).map(|i| crate::event(None, "jane", batch * 500 + i)).collect();
            store.append(&ledger, events).await.expect("append");
        }
        let ledger = store.ledger(&account.id, &ledger.id).await.expect("ledger");
        let requested = store.request_export(&ledger, &jsonl(EventsFormat::Jsonl), &origin()).await.expect("request");
        assert_eq!((requested.status, requested.start, requested.end), (ExportStatus::Pending, 0, 2500));
        assert!(file_of(&store, &requested).await.expect("nothing to read").is_empty(), "no chunks before it runs");

        // A run that died: the export is left running with a chunk of
        // garbage; no download is possible, since it is not done.
        execute_raw(
            &url,
            &format!("UPDATE exports SET status = 'running', attempts = 1 WHERE export_id = '{}'", requested.id),
        )
        .await
        .expect("interrupt");
        execute_raw(
            &url,
            &format!(
                "INSERT INTO export_chunks (export_id, n, sealed) VALUES ('{}', 0, {})",
                requested.id,
                store::testing::blob_literal(&url, b"half a file")
            ),
        )
        .await
        .expect("stale chunk");

        assert_eq!(store.run_exports(DAY_MS).await.expect("run"), 1);
        let done = store.export_record(&ledger.id, &requested.id).await.expect("record");
        assert_eq!((done.status, done.attempts), (ExportStatus::Done, 2), "restarted as a new attempt");
        assert_eq!((done.events_scanned, done.events_written), (2500, 2500));
        let file = file_of(&store, &done).await.expect("file");
        assert_eq!(file.len() as u64, done.bytes);
        assert_eq!(done.sha256.as_deref(), Some(hex::encode(sha2::Sha256::digest(&file)).as_str()));
        let manifest = manifest(&file);
        assert_eq!(
            (manifest.counts.events, manifest.range.end, manifest.export_id.as_str()),
            (2500, 2500, done.id.as_str())
        );
        let expires = done.expires_ms.expect("expiry") - done.finished_ms.expect("finished");
        assert_eq!(expires, DAY_MS);

        // The chunks are sealed: nothing of an event is readable in them,
        // and an altered chunk does not open.
        let sealed = fetch_blobs(&url, "SELECT sealed FROM export_chunks").await.expect("chunks");
        assert_eq!(sealed.len() as u64, done.chunks);
        assert!(!sealed.iter().any(|c| c.windows(4).any(|w| w == b"jane")), "no content in clear");
        let flip = if url.starts_with("sqlite:") {
            "UPDATE export_chunks SET sealed = sealed || x'00' WHERE n = 0"
        } else {
            "UPDATE export_chunks SET sealed = sealed || '\\x00'::bytea WHERE n = 0"
        };
        execute_raw(&url, flip).await.expect("tamper");
        let error = file_of(&store, &done).await.expect_err("an altered chunk is refused");
        assert!(matches!(error, StoreError::Integrity(_)), "{error}");

        // Expiry: the file goes, the record stays.
        let short = store.request_export(&ledger, &jsonl(EventsFormat::Csv), &origin()).await.expect("request");
        assert_eq!(store.run_exports(0).await.expect("run"), 1);
        assert_eq!(store.export_record(&ledger.id, &short.id).await.expect("record").status, ExportStatus::Done);
        store.run_exports(0).await.expect("run");
        let expired = store.export_record(&ledger.id, &short.id).await.expect("record");
        assert_eq!(expired.status, ExportStatus::Expired);
        let left = fetch_blobs(&url, &format!("SELECT sealed FROM export_chunks WHERE export_id = '{}'", short.id))
            .await
            .expect("chunks");
        assert!(left.is_empty(), "the expired file's chunks are deleted");
        let listed = store.list_exports(&ledger.id, 10).await.expect("list");
        assert_eq!(listed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), [short.id.as_str(), done.id.as_str()]);

        // An export whose runs keep dying with the server is given up, not
        // restarted for ever.
        let doomed = store.request_export(&ledger, &jsonl(EventsFormat::Jsonl), &origin()).await.expect("request");
        execute_raw(
            &url,
            &format!("UPDATE exports SET status = 'running', attempts = 5 WHERE export_id = '{}'", doomed.id),
        )
        .await
        .expect("interrupted five times");
        assert_eq!(store.run_exports(DAY_MS).await.expect("run"), 0);
        let failed = store.export_record(&ledger.id, &doomed.id).await.expect("record");
        assert_eq!(failed.status, ExportStatus::Failed);
        assert!(failed.reason.as_deref().is_some_and(|r| r.contains("5 times")), "{:?}", failed.reason);
        store.close().await;
    }
}

#[tokio::test]
async fn a_request_is_checked_and_bounded_before_anything_is_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, _) in crate::both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let empty = store.create_ledger(&account.id, "empty", &origin()).await.expect("ledger");
        let refused = store.request_export(&empty, &jsonl(EventsFormat::Jsonl), &origin()).await;
        assert!(matches!(refused, Err(StoreError::Conflict(_))), "{refused:?}");

        let ledger = store.create_ledger(&account.id, "billing", &origin()).await.expect("ledger");
        store.append(&ledger, (0..10).map(|i| crate::event(None, "jane", i)).collect()).await.expect("append");
        let ledger = store.ledger(&account.id, &ledger.id).await.expect("ledger");
        let beyond = ExportRequest { to_seq: Some(10), ..jsonl(EventsFormat::Jsonl) };
        let error = store.request_export(&ledger, &beyond, &origin()).await.expect_err("beyond the ledger");
        assert!(error.to_string().contains("to_seq"), "{error}");
        let backwards = ExportRequest { from_seq: Some(5), to_seq: Some(4), ..jsonl(EventsFormat::Jsonl) };
        assert!(store.request_export(&ledger, &backwards, &origin()).await.is_err());
        let bad_time = ExportRequest {
            filter: ExportFilter { from: Some("yesterday".into()), ..ExportFilter::default() },
            ..jsonl(EventsFormat::Jsonl)
        };
        assert!(store.request_export(&ledger, &bad_time, &origin()).await.is_err());
        assert!(store.list_exports(&ledger.id, 10).await.expect("list").is_empty(), "nothing was recorded");

        // No account queues unbounded work.
        for _ in 0..store::lifecycle::exports::MAX_UNFINISHED_PER_ACCOUNT {
            store.request_export(&ledger, &jsonl(EventsFormat::Jsonl), &origin()).await.expect("request");
        }
        let error = store.request_export(&ledger, &jsonl(EventsFormat::Jsonl), &origin()).await.expect_err("bounded");
        assert!(matches!(error, StoreError::Conflict(_)) && error.to_string().contains("wait for one"), "{error}");
        store.close().await;
    }
}

#[tokio::test]
async fn a_filtered_export_reports_its_proofs_pass_as_progress_of_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, _) in crate::both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let ledger = store.create_ledger(&account.id, "billing", &origin()).await.expect("ledger");
        // Every third event is Jane's: 800 of 2,400, more than one window of rows holds.
        for batch in 0..4u64 {
            let events = (batch * 600..(batch + 1) * 600)
                .map(|i| crate::event(None, if i % 3 == 0 { "jane" } else { "john" }, i))
                .collect();
            store.append(&ledger, events).await.expect("append");
        }
        let ledger = store.ledger(&account.id, &ledger.id).await.expect("ledger");
        let request = ExportRequest {
            filter: ExportFilter { actor_id: Some("jane".into()), ..ExportFilter::default() },
            ..jsonl(EventsFormat::Jsonl)
        };
        let requested = store.request_export(&ledger, &request, &origin()).await.expect("request");

        // Step by step, as the job runs it: the rows' pass reads every row and writes Jane's;
        // only then do the proofs come, one per written row, with the read count at its end.
        let mut writer = store.export_writer(&ledger, ExportPlan::of(&requested), Vec::new()).await.expect("writer");
        let mut seen = vec![writer.progress()];
        while writer.step().await.expect("step") {
            seen.push(writer.progress());
        }
        assert_eq!(seen.first(), Some(&ExportProgress::default()));
        assert_eq!(seen.last(), Some(&ExportProgress { scanned: 2400, written: 800, proofs: 800 }));
        for pair in seen.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert!(b.scanned >= a.scanned && b.written >= a.written && b.proofs >= a.proofs, "{seen:?}");
            assert!(b.proofs == 0 || a.scanned == 2400, "a proof before the rows' pass ended: {seen:?}");
        }
        let midway = seen.iter().filter(|p| p.scanned == 2400 && p.proofs > 0 && p.proofs < 800).count();
        assert!(midway > 0, "the proofs' pass is seen in steps: {seen:?}");
        writer.finish().expect("finish");

        // The job records the same, and a contiguous export writes no inclusion proof.
        assert_eq!(store.run_exports(DAY_MS).await.expect("run"), 1);
        let done = store.export_record(&ledger.id, &requested.id).await.expect("record");
        assert_eq!((done.events_scanned, done.events_written, done.proofs_written), (2400, 800, 800));
        let whole = store.request_export(&ledger, &jsonl(EventsFormat::Csv), &origin()).await.expect("request");
        assert_eq!(store.run_exports(DAY_MS).await.expect("run"), 1);
        let whole = store.export_record(&ledger.id, &whole.id).await.expect("record");
        assert_eq!((whole.events_scanned, whole.events_written, whole.proofs_written), (2400, 2400, 0));
        store.close().await;
    }
}
