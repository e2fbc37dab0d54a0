//! A real `auditstore` process killed with SIGKILL while it archives, at
//! the moment an archive file lands in the archive directory (between the
//! file and the transaction that tombstones its events), twice: once in a
//! requested run, once in the retention job that the restarted process
//! runs at start. What the database and the archive directory hold after
//! each kill is read directly, with no process of ours in between: every
//! tombstone lies in a recorded archival's range, every range holds only
//! tombstones, each archival's file is on disk, hashes to its record and
//! verifies offline, and every other event still has its content. Then
//! the restarted process finishes the job and the API agrees.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::Digest as _;
use store::testing::{fetch_texts, sqlite_url_in};

use crate::common::auditstore_verify;
use crate::processes::{bootstrap, setup, Process};

/// Events ingested, all past retention: three archival batches of 5,000 at most.
const EVENTS: usize = 12_000;

fn zips(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| name.ends_with(".zip"))
                .collect()
        })
        .unwrap_or_default()
}

/// Kills the process with SIGKILL as soon as an archive file that was not
/// in `dir` before appears (or, with `run`, when the run ends first).
async fn kill_when_a_new_archive_lands(process: &Process, dir: &Path, run: Option<(&str, &str)>) {
    let before = zips(dir);
    let body = json!({});
    let request = async {
        match run {
            Some((path, admin)) => drop(process.post(path, admin, &body).await),
            None => std::future::pending().await,
        }
    };
    tokio::pin!(request);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        tokio::select! {
            () = &mut request => break,
            () = tokio::time::sleep(Duration::from_millis(1)) => {
                if zips(dir).difference(&before).next().is_some() {
                    break;
                }
            }
        }
        assert!(Instant::now() < deadline, "no archive file appeared");
    }
    process.kill_9();
}

async fn texts(url: &str, sql: &str) -> Vec<String> {
    fetch_texts(url, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn count(url: &str, sql: &str) -> usize {
    texts(url, sql).await[0].parse().expect("a count")
}

/// What the killed process left, read from its database file and archive
/// directory. Returns (tombstones, archivals, archive files).
async fn check_left_behind(data: &Path, ledger: &str, key: &str) -> (usize, usize, usize) {
    let url = sqlite_url_in(data);
    let dir = data.join("archive").join(ledger);
    let records = texts(
        &url,
        &format!("SELECT archival_id || ' ' || events || ' ' || sha256 FROM archivals WHERE ledger_id = '{ledger}'"),
    )
    .await;
    let mut events_of = BTreeMap::new();
    for record in &records {
        let fields: Vec<&str> = record.split(' ').collect();
        let (id, events, sha256) = (fields[0], fields[1].parse::<usize>().expect("events"), fields[2]);
        let file = dir.join(format!("{id}.zip"));
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("archival {id} has no file: {e}"));
        assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), sha256, "archive {id} hashes to its record");
        let (status, out) = auditstore_verify(&[file.to_str().expect("path"), "--key", key]).await;
        assert_eq!(status, 0, "archive {id} does not verify:\n{out}");
        events_of.insert(id.to_owned(), events);
    }
    let in_ranges = |content: &str| {
        format!(
            "SELECT r.archival_id || ' ' || COUNT(*) FROM events e JOIN archival_ranges r ON r.ledger_id = e.ledger_id \
             AND e.seq >= r.start_seq AND e.seq < r.end_seq WHERE e.ledger_id = '{ledger}' AND e.content IS {content} \
             GROUP BY r.archival_id"
        )
    };
    let tombstones_of: BTreeMap<String, usize> = texts(&url, &in_ranges("NULL"))
        .await
        .iter()
        .map(|row| {
            let (id, n) = row.split_once(' ').expect("row");
            (id.to_owned(), n.parse().expect("count"))
        })
        .collect();
    assert_eq!(tombstones_of, events_of, "each archival's ranges hold exactly its tombstones");
    assert!(texts(&url, &in_ranges("NOT NULL")).await.is_empty(), "an archived range holds no content");
    let tombstones = count(
        &url,
        &format!("SELECT CAST(COUNT(*) AS TEXT) FROM events WHERE ledger_id = '{ledger}' AND content IS NULL"),
    )
    .await;
    assert_eq!(tombstones, events_of.values().sum::<usize>(), "no tombstone outside a recorded archival");
    let total = count(&url, &format!("SELECT CAST(COUNT(*) AS TEXT) FROM events WHERE ledger_id = '{ledger}'")).await;
    assert_eq!(total, EVENTS, "no row is lost");
    (tombstones, records.len(), zips(&dir).len())
}

/// Every event through the API: tombstones name their archival, the rest
/// have their content. Returns the tombstones.
async fn tombstones_listed(process: &Process, ledger: &str, read: &str) -> usize {
    let (mut seen, mut tombstones) = (0usize, 0usize);
    let mut cursor: Option<String> = None;
    loop {
        let page = match &cursor {
            Some(c) => format!("/v1/ledgers/{ledger}/events?limit=500&cursor={c}"),
            None => format!("/v1/ledgers/{ledger}/events?limit=500"),
        };
        let page = process.get_json(&page, read).await;
        for event in page["events"].as_array().expect("events") {
            seen += 1;
            if event["tombstoned"] == json!(true) {
                tombstones += 1;
                assert!(event["archive"]["id"].is_string(), "a tombstone without its archival: {event}");
            } else {
                assert!(event["metadata"]["n"].is_u64(), "content lost: {event}");
            }
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, EVENTS, "every event is listed");
    tombstones
}

#[tokio::test]
async fn sigkill_while_an_archive_lands_loses_nothing_and_the_next_run_finishes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path();
    let admin = bootstrap(data, None);
    let process = Process::start(data, None).await;
    let (ledger, write, read) = setup(&process, &admin).await;
    let key = process.client.get(format!("{}/v1/checkpoint-key", process.base)).send().await.expect("key");
    let key = key.text().await.expect("text").trim().to_owned();
    for chunk in 0..EVENTS / 1_000 {
        let events: Vec<Value> = (0..1_000)
            .map(|i| {
                let n = chunk * 1_000 + i;
                json!({
                    "id": format!("old-{n}"),
                    "actor": {"type": "user", "id": format!("u_{}", n % 50)},
                    "action": "record.created",
                    "resource": {"type": "record", "id": format!("r_{n}")},
                    "occurred_at": "2021-03-01T10:00:00Z",
                    "metadata": {"n": n},
                })
            })
            .collect();
        let response =
            process.post(&format!("/v1/ledgers/{ledger}/events"), &write, &json!({ "events": events })).await;
        assert!(response.expect("append").status().is_success());
    }
    let policy = process
        .client
        .put(format!("{}/v1/ledgers/{ledger}/retention", process.base))
        .bearer_auth(&admin)
        .json(&json!({"days": 30, "locked": false}))
        .send()
        .await
        .expect("policy");
    assert!(policy.status().is_success(), "{}", policy.status());
    let archive_dir = data.join("archive").join(&ledger);

    // Killed in a requested run, as its first file lands.
    let run = format!("/v1/ledgers/{ledger}/retention/run");
    kill_when_a_new_archive_lands(&process, &archive_dir, Some((&run, &admin))).await;
    let (first, archivals, files) = check_left_behind(data, &ledger, &key).await;
    eprintln!("after the first kill: {first} tombstones, {archivals} archivals, {files} files");
    assert!(files >= archivals && files <= archivals + 1, "at most the killed batch's file is an orphan");

    // Restarted, the retention job runs at once; killed again as its next file lands.
    let process = Process::start(data, None).await;
    kill_when_a_new_archive_lands(&process, &archive_dir, None).await;
    let (second, archivals, files) = check_left_behind(data, &ledger, &key).await;
    eprintln!("after the second kill: {second} tombstones, {archivals} archivals, {files} files");
    assert!(second >= first, "tombstones never come back to life");
    assert!(files >= archivals && files <= archivals + 2, "at most one orphan per kill");

    // Left alone, the restarted process's job archives the rest, and the API agrees.
    let process = Process::start(data, None).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while tombstones_listed(&process, &ledger, &read).await < EVENTS {
        assert!(Instant::now() < deadline, "the job did not finish the archival");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(process);
    let (all, _, _) = check_left_behind(data, &ledger, &key).await;
    assert_eq!(all, EVENTS, "everything expired is archived in the end");
}
