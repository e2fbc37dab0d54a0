//! Envelope encryption in the store: crypto-shredding, the downgrade guard,
//! and the aws-kms provider's encryption context against a real endpoint.

use store::testing::{execute_raw, fetch_blobs, local_keys_from, options_with};
use store::{EventFilter, KeyContext, KeyProvider, KmsKek, Store, StoreError};

use crate::{both_backends, event};

async fn index_all(store: &Store) {
    while store.index_pending().await.expect("indexes") > 0 {}
}

#[tokio::test]
async fn destroyed_ledger_keys_leave_nothing_readable_through_any_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let doomed = store.create_ledger(&account.id, "doomed", &store::testing::origin()).await.expect("ledger");
        let kept = store.create_ledger(&account.id, "kept", &store::testing::origin()).await.expect("ledger");
        for ledger in [&doomed, &kept] {
            store.append(ledger, (0..4).map(|n| event(None, "jane", n)).collect()).await.expect("append");
        }
        store.rotate_ledger_key(&doomed.id, &store::testing::origin()).await.expect("rotate");
        let doomed = store.ledger(&account.id, &doomed.id).await.expect("ledger");
        let later = store.append(&doomed, (4..8).map(|n| event(None, "jane", n)).collect()).await.expect("append");
        index_all(&store).await;
        let wrapped = fetch_blobs(&url, &format!("SELECT wrapped FROM ledger_keys WHERE ledger_id = '{}'", doomed.id))
            .await
            .expect("wrapped keys");
        assert_eq!(wrapped.len(), 2, "two versions");
        // A backup taken before the shredding.
        let backup = dir.path().join("backup.db");
        if url.starts_with("sqlite:") {
            execute_raw(&url, &format!("VACUUM INTO '{}'", backup.display())).await.expect("backup");
        }

        let terms_sql = format!(
            "SELECT term FROM event_terms WHERE ledger = (SELECT number FROM ledgers WHERE id = '{}')",
            doomed.id
        );
        assert_eq!(fetch_blobs(&url, &terms_sql).await.expect("terms").len(), 40, "five terms an event");
        assert_eq!(store.destroy_ledger_keys(&doomed.id).await.expect("destroyed"), 2);
        let doomed = store.ledger(&account.id, &doomed.id).await.expect("the ledger itself remains");
        assert!(matches!(store.event(&doomed.id, "x").await, Err(StoreError::NotFound(_))));
        let rows = fetch_blobs(&url, &format!("SELECT content FROM events WHERE ledger_id = '{}'", doomed.id))
            .await
            .expect("rows stay");
        assert_eq!(rows.len(), 8, "the sealed rows are still there, unreadable");
        let read = store.event(&doomed.id, later.events[0].id.as_str()).await;
        assert!(matches!(read, Err(StoreError::KeysDestroyed)), "{read:?}");
        let listing = store.list_events(&doomed.id, &EventFilter::default(), None, 10).await;
        assert!(matches!(listing, Err(StoreError::KeysDestroyed)), "{listing:?}");
        let filter = EventFilter { actor_id: Some("jane".into()), ..EventFilter::default() };
        assert!(matches!(store.list_events(&doomed.id, &filter, None, 10).await, Err(StoreError::KeysDestroyed)));
        let append = store.append(&doomed, vec![event(None, "jane", 99)]).await;
        assert!(matches!(append, Err(StoreError::KeysDestroyed)), "{append:?}");
        assert!(matches!(
            store.rotate_ledger_key(&doomed.id, &store::testing::origin()).await,
            Err(StoreError::KeysDestroyed)
        ));
        let terms = fetch_blobs(&url, &terms_sql).await.expect("terms");
        assert!(terms.is_empty(), "no blind-index terms are left");
        // Integrity stays provable: hashes and proofs are not encrypted.
        assert_eq!(store.inclusion_proof(&doomed, 3, 8).await.expect("proof").len(), 3);
        // The other ledger is untouched.
        assert_eq!(store.list_events(&kept.id, &EventFilter::default(), None, 10).await.expect("kept").events.len(), 4);

        if url.starts_with("sqlite:") {
            // Not even the file keeps the wrapped keys (secure_delete, WAL
            // truncated).
            store.close().await;
            let mut bytes = std::fs::read(dir.path().join("auditstore.db")).expect("db");
            bytes.extend(std::fs::read(dir.path().join("auditstore.db-wal")).unwrap_or_default());
            for key in &wrapped {
                assert!(!bytes.windows(key.len()).any(|w| w == key.as_slice()), "a wrapped key survived in the file");
            }
            // The backup still holds them, wrapped by the KEK; rotating the
            // KEK and retiring the old one makes the backup unreadable.
            let rotating = Store::open(&url, options_with(local_keys_from(&[7, 8]))).await.expect("opens");
            rotating.rewrap_keys().await.expect("rewrapped");
            rotating.close().await;
            let live = Store::open(&url, options_with(local_keys_from(&[8]))).await.expect("new KEK opens the live db");
            assert_eq!(
                live.list_events(&kept.id, &EventFilter::default(), None, 10).await.expect("kept").events.len(),
                4
            );
            live.close().await;
            let backup_url = format!("sqlite:{}", backup.display());
            let error = Store::open(&backup_url, options_with(local_keys_from(&[8]))).await.expect_err("unreadable");
            assert!(matches!(error, StoreError::Keys(_)), "{error}");
        }
    }
}

#[tokio::test]
async fn a_plain_record_where_sealed_ones_belong_is_refused_not_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let ledger = store.create_ledger(&account.id, "l", &store::testing::origin()).await.expect("ledger");
        // A downgrade: a row whose content is plain JSON (as an attacker, or
        // a pre-encryption release, would write it).
        store::testing::set_sealing(&store, false);
        let stored = store.append(&ledger, vec![event(Some("plain"), "jane", 1)]).await.expect("append");
        store::testing::set_sealing(&store, true);
        assert_eq!(stored.events[0].seq, 0);
        let error = store.event(&ledger.id, "plain").await.expect_err("refused");
        assert!(matches!(error, StoreError::Integrity(_)), "{error}");
        assert!(error.to_string().contains("not sealed"), "{error}");
        // Rows from before encryption existed are marked by the migration.
        execute_raw(&url, &format!("UPDATE ledgers SET plaintext_below = 1 WHERE id = '{}'", ledger.id))
            .await
            .expect("mark legacy");
        let reopened = Store::open(&url, store::testing::options()).await.expect("reopen");
        let event = reopened.event(&ledger.id, "plain").await.expect("legacy row reads");
        assert_eq!(event.event.expect("content").actor().id(), "jane");
    }
}

#[tokio::test]
async fn kms_wrapped_keys_unwrap_only_with_their_encryption_context() {
    let client = store::testing::kms_client();
    let key = client.create_key().send().await.expect("CreateKey");
    let key_id = key.key_metadata().expect("metadata").key_id().to_owned();
    let provider = KeyProvider::AwsKms(KmsKek::new(client, key_id.clone()));
    let context = KeyContext::ledger_key("ldg_a", 1);
    let (plain, wrapped) = provider.generate(&context).await.expect("GenerateDataKey");
    assert_eq!(wrapped.provider, "aws-kms");
    assert_eq!(wrapped.kek_id, key_id);
    assert!(!wrapped.blob.windows(32).any(|w| w == plain.as_slice()));
    assert_eq!(*provider.unwrap(&wrapped, &context).await.expect("Decrypt"), *plain);

    for other in [KeyContext::ledger_key("ldg_b", 1), KeyContext::ledger_key("ldg_a", 2)] {
        let error = provider.unwrap(&wrapped, &other).await.expect_err("wrong context refused");
        assert!(matches!(error, StoreError::Keys(_)), "{error}");
    }
    let mut flipped = wrapped.clone();
    let middle = flipped.blob.len() / 2;
    flipped.blob[middle] ^= 1;
    assert!(provider.unwrap(&flipped, &context).await.is_err(), "a tampered blob is refused");
    // The local provider cannot take a KMS-wrapped key for its own.
    let local = local_keys_from(&[1]);
    assert!(matches!(local.unwrap(&wrapped, &context).await, Err(StoreError::Keys(_))));
}

#[tokio::test]
async fn data_keys_rotate_by_themselves_after_a_count_or_an_age_and_old_events_stay_readable() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, _url) in both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let busy = store.create_ledger(&account.id, "busy", &store::testing::origin()).await.expect("ledger");
        let quiet = store.create_ledger(&account.id, "quiet", &store::testing::origin()).await.expect("ledger");
        store.append(&busy, (0..10).map(|n| event(None, "jane", n)).collect()).await.expect("append");
        store.append(&quiet, vec![event(None, "joe", 0)]).await.expect("append");

        let day = 86_400_000;
        let rotated = store.rotate_due_keys(10, day, &store::testing::origin()).await.expect("rotation pass");
        assert_eq!(rotated.len(), 1, "only the ledger whose key sealed 10 events: {rotated:?}");
        assert_eq!((&rotated[0].0, rotated[0].2, rotated[0].3), (&busy.id, 2, store::RotationReason::EventCount));
        assert!(
            store.rotate_due_keys(10, day, &store::testing::origin()).await.expect("pass").is_empty(),
            "the new key sealed nothing yet"
        );

        // Every key is older than zero milliseconds.
        let rotated = store.rotate_due_keys(u64::MAX, 0, &store::testing::origin()).await.expect("rotation pass");
        assert!(rotated.iter().all(|r| r.3 == store::RotationReason::Age));
        let versions: Vec<(String, u32)> = rotated.iter().map(|r| (r.0.as_str().to_owned(), r.2)).collect();
        assert!(
            versions.contains(&(busy.id.as_str().to_owned(), 3))
                && versions.contains(&(quiet.id.as_str().to_owned(), 2))
        );

        let busy = store.ledger(&account.id, &busy.id).await.expect("ledger");
        store.append(&busy, vec![event(Some("after"), "jane", 10)]).await.expect("append with the new key");
        index_all(&store).await;
        let filter = EventFilter { actor_id: Some("jane".into()), ..EventFilter::default() };
        let page = store.list_events(&busy.id, &filter, None, 100).await.expect("listing");
        assert_eq!(page.events.len(), 11, "events of every key version are found and open");
        assert_eq!(store.ledger_key_versions(&busy.id).await.expect("versions").len(), 3);
    }
}

#[tokio::test]
async fn old_keks_are_retired_only_when_nothing_is_wrapped_by_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let ledger = store.create_ledger(&account.id, "l", &store::testing::origin()).await.expect("ledger");
        store.append(&ledger, vec![event(None, "jane", 1)]).await.expect("append");
        store.close().await;

        // KEK 8 is added; nothing has been re-wrapped yet.
        let rotating = Store::open(&url, options_with(local_keys_from(&[7, 8]))).await.expect("opens");
        let mut called = false;
        let refused = rotating
            .retire_old_keks(
                || {
                    called = true;
                    Ok(1)
                },
                &store::RewrapReport::default(),
                &store::testing::origin(),
            )
            .await;
        assert!(matches!(refused, Err(StoreError::Keys(_))), "{refused:?}");
        assert!(!called, "nothing is destroyed while keys still need the old KEK");

        rotating.rewrap_keys().await.expect("rewrap");
        let retired = rotating
            .retire_old_keks(|| Ok(1), &store::RewrapReport::default(), &store::testing::origin())
            .await
            .expect("retired");
        assert_eq!(retired, 1);
        rotating.close().await;
        let after = Store::open(&url, options_with(local_keys_from(&[8]))).await.expect("the new KEK alone opens it");
        assert_eq!(
            after.list_events(&ledger.id, &EventFilter::default(), None, 5).await.expect("reads").events.len(),
            1
        );
    }
}

#[tokio::test]
async fn a_data_key_rotates_before_two_to_the_32_seals_whatever_the_settings() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in crate::both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let ledger = store.create_ledger(&account.id, "busy", &store::testing::origin()).await.expect("ledger");
        store.append(&ledger, vec![crate::event(None, "u", 1)]).await.expect("append");
        // Settings that would never rotate by count or age...
        let never = store.rotate_due_keys(u64::MAX, i64::MAX, &store::testing::origin()).await.expect("pass");
        assert!(never.iter().all(|(l, ..)| l != &ledger.id), "nothing to rotate yet");
        // ...and a key that has sealed 2^32 events (its start moved back).
        let sql = format!("UPDATE ledger_keys SET from_seq = -4294967296 WHERE ledger_id = '{}'", ledger.id.as_str());
        store::testing::execute_raw(&url, &sql).await.expect("aged key");
        let rotated = store.rotate_due_keys(u64::MAX, i64::MAX, &store::testing::origin()).await.expect("pass");
        let ours: Vec<_> = rotated.iter().filter(|(l, ..)| l == &ledger.id).collect();
        assert_eq!(ours.len(), 1, "rotated regardless of the settings: {rotated:?}");
        assert_eq!((ours[0].2, ours[0].3), (2, store::RotationReason::EventCount));
    }
}
