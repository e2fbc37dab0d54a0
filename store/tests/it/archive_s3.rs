//! Archival into S3-compatible object storage (moto, as the test command
//! starts it), on both backends: new archive files go to the bucket below
//! the prefix, once, encrypted at rest, and read back before their events
//! are tombstoned; files written to the directory before the switch stay
//! readable; deleting the ledger removes its objects and its files.

use audit_core::export::Manifest;
use aws_sdk_s3::types::ServerSideEncryption;
use store::lifecycle::archive::{ArchiveStore, S3Archive};
use store::lifecycle::retention::RetentionDays;
use store::testing::{fresh_bucket, origin, s3_client};
use store::NewEvent;

use crate::both_backends;

fn event_at(n: u64, at: &str) -> NewEvent {
    let input = serde_json::json!({
        "id": format!("evt_{n}"),
        "actor": {"type": "user", "id": "jane"},
        "action": "invoice.paid",
        "resource": {"type": "invoice", "id": format!("inv_{n}")},
        "occurred_at": at,
    });
    let parsed: audit_core::EventInput = serde_json::from_value(input).expect("event input");
    NewEvent::new(parsed.into_event(|| unreachable!("the id is given")).expect("valid event"), true).expect("new event")
}

async fn keys_below(client: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    let page = client.list_objects_v2().bucket(bucket).prefix(prefix).send().await.expect("list");
    page.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect()
}

#[tokio::test]
async fn archives_go_to_the_bucket_once_read_back_and_leave_with_their_ledger() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (n, (store, _url)) in both_backends(dir.path()).await.into_iter().enumerate() {
        let client = s3_client();
        let bucket = fresh_bucket(&client).await;
        let directory = dir.path().join(format!("archive-{n}"));
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let ledger = store.create_ledger(&account.id, "billing", &origin()).await.expect("ledger");
        store.set_retention(&ledger, RetentionDays::new(30).expect("days"), false, &origin()).await.expect("policy");

        // Before the switch: four events archived into the directory.
        store.append(&ledger, (0..4).map(|i| event_at(i, "2024-05-01T10:00:00Z")).collect()).await.expect("append");
        let before = ArchiveStore::Directory(directory.clone());
        let run = store.run_retention(&ledger.id, &before, &origin(), None).await.expect("run");
        let old = run.archivals[0].clone();
        assert!(old.location.starts_with("file:"), "{}", old.location);

        // After it: the next six go to the bucket.
        store.append(&ledger, (4..10).map(|i| event_at(i, "2024-06-01T10:00:00Z")).collect()).await.expect("append");
        let s3 = ArchiveStore::S3 {
            bucket: S3Archive::new(client.clone(), &bucket, "acme/prod").expect("bucket"),
            directory: directory.clone(),
        };
        let run = store.run_retention(&ledger.id, &s3, &origin(), None).await.expect("run");
        assert_eq!(run.archived, 6);
        let record = &run.archivals[0];
        let key = format!("acme/prod/{}/{}.zip", ledger.id, record.id);
        assert_eq!(record.location, format!("s3://{bucket}/{key}"));
        let head = client.head_object().bucket(&bucket).key(&key).send().await.expect("the object");
        assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::Aes256), "encrypted at rest");
        let bytes = s3.read(&record.location).await.expect("read back");
        assert_eq!(audit_core::Hash::digest(&bytes).to_string(), record.sha256);
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a ZIP file");
        let manifest: Manifest =
            serde_json::from_reader(zip.by_name("manifest.json").expect("manifest")).expect("json");
        assert_eq!((manifest.export_id.as_str(), manifest.counts.events), (record.id.as_str(), 6));
        let info = store.tombstone_info(&ledger.id, 7).await.expect("lookup").expect("seq 7 is archived");
        assert_eq!(info.location, record.location);
        // The file from before the switch is still served, from the directory.
        let old_bytes = s3.read(&old.location).await.expect("the old file");
        assert_eq!(audit_core::Hash::digest(&old_bytes).to_string(), old.sha256);
        // Another bucket's location is refused unless it names an archive file.
        assert!(s3.read(&format!("s3://{bucket}/acme/prod/{}/../../x.zip", ledger.id)).await.is_err());

        // The ledger's deletion takes its objects and its files with it.
        store.schedule_ledger_deletion(&ledger, 0, &origin()).await.expect("scheduled");
        assert_eq!(store.run_ledger_deletions(&s3, &origin()).await.expect("deleted"), 1);
        assert!(keys_below(&client, &bucket, "acme/prod/").await.is_empty(), "no object of the ledger is left");
        assert!(!directory.join(ledger.id.as_str()).exists(), "no file of the ledger is left");
    }
}
