//! The server archiving to an S3-compatible bucket (moto): configured with
//! `--archive-s3-bucket`, a retention run writes its file to the bucket,
//! the tombstones name it, the download verifies offline with the real
//! `auditstore verify`, an object altered in the bucket is refused at
//! download, and a bucket that cannot be reached stops the server at start.

use serde_json::{json, Value};
use store::testing::{fresh_bucket, s3_client, s3_endpoint};

use crate::api::{account, Account};
use crate::common::{auditstore_verify, TestServer};

async fn s3_server(bucket: &str) -> TestServer {
    let bucket = bucket.to_owned();
    TestServer::start_with(move |args| {
        args.archive_s3_bucket = Some(bucket);
        args.archive_s3_prefix = Some("auditstore".into());
        args.archive_s3_endpoint = Some(s3_endpoint());
    })
    .await
}

async fn download(account: &Account, path: &str, key: &str) -> (u16, Vec<u8>) {
    let response = account.client.get(account.server.url(path)).bearer_auth(key).send().await.expect("download");
    (response.status().as_u16(), response.bytes().await.expect("bytes").to_vec())
}

#[tokio::test]
async fn archive_files_go_to_the_bucket_verify_offline_and_an_altered_object_is_refused() {
    let client = s3_client();
    let bucket = fresh_bucket(&client).await;
    let account = account(s3_server(&bucket).await).await;
    let ledger = account.ledger("billing").await;
    let writer = account.key("write", Some(vec![&ledger])).await;
    let reader = account.key("read", Some(vec![&ledger])).await;
    let events: Vec<Value> = (0..5)
        .map(|n| {
            json!({"id": format!("evt_{n}"), "actor": {"type": "user", "id": "jane"}, "action": "invoice.paid",
                   "resource": {"type": "invoice", "id": format!("inv_{n}")}, "occurred_at": "2025-01-02T03:04:05Z"})
        })
        .collect();
    let (status, body) =
        account.post(&format!("/v1/ledgers/{ledger}/events"), &writer, json!({"events": events})).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = account
        .send(
            reqwest::Method::PUT,
            &format!("/v1/ledgers/{ledger}/retention"),
            &account.admin,
            Some(json!({"days": 30})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, run) = account.post(&format!("/v1/ledgers/{ledger}/retention/run"), &account.admin, json!({})).await;
    assert_eq!((status, run["archived"].as_u64()), (200, Some(5)), "{run}");
    let archival = &run["archivals"][0];
    let id = archival["id"].as_str().expect("id");
    let key = format!("auditstore/{ledger}/{id}.zip");
    assert_eq!(archival["location"], format!("s3://{bucket}/{key}"));
    let (_, event) = account.get(&format!("/v1/ledgers/{ledger}/events/evt_2"), &reader).await;
    assert_eq!((event["tombstoned"].as_bool(), event["archive"]["id"].as_str()), (Some(true), Some(id)), "{event}");

    let path = format!("/v1/ledgers/{ledger}/archives/{id}/download");
    let (status, bytes) = download(&account, &path, &reader).await;
    assert_eq!(status, 200);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("archive.zip");
    std::fs::write(&file, &bytes).expect("write");
    let verifier = account.checkpoint_key().await;
    let (code, out) = auditstore_verify(&[file.to_str().expect("path"), "--key", &verifier]).await;
    assert_eq!(code, 0, "{out}");

    // The object is written once: the service refuses a second write of its key.
    let again =
        client.put_object().bucket(&bucket).key(&key).if_none_match("*").body(bytes.clone().into()).send().await;
    assert!(again.is_err(), "a conditional write over an archive must be refused");
    // Someone with write access to the bucket replaces it: the download refuses it.
    let mut altered = bytes.clone();
    let middle = altered.len() / 2;
    altered[middle] ^= 1;
    client.put_object().bucket(&bucket).key(&key).body(altered.into()).send().await.expect("replaced");
    let (status, body) = download(&account, &path, &reader).await;
    assert_eq!(status, 500, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("Integrity"), "{}", String::from_utf8_lossy(&body));
}

#[tokio::test]
async fn a_bucket_that_cannot_be_reached_stops_the_server_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = server::config::ServeArgs {
        data_dir: Some(dir.path().to_owned()),
        listen: Some("127.0.0.1:0".parse().expect("addr")),
        site_root: Some("/nonexistent-site".into()),
        archive_s3_bucket: Some("no-such-bucket-here".into()),
        archive_s3_endpoint: Some(s3_endpoint()),
        ..server::config::ServeArgs::default()
    };
    let config = server::config::Config::resolve(args).expect("config");
    let Err(error) = server::start(config).await else { panic!("a server started without its archive bucket") };
    assert!(error.to_string().contains("no-such-bucket-here"), "{error}");
}
