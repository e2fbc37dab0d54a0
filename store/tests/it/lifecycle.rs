//! Retention policies and legal holds: a locked policy only lengthens and
//! a hold is only released, through the store and behind its back (raw
//! SQL), and every change and refusal is in the system ledger.

use store::lifecycle::holds::{HoldScope, HoldsOf};
use store::lifecycle::retention::RetentionDays;
use store::testing::{execute_raw, origin};
use store::StoreError;

use crate::{both_backends, system_metadata};

fn days(n: u64) -> RetentionDays {
    RetentionDays::new(n).expect("days")
}

#[tokio::test]
async fn a_locked_retention_policy_only_lengthens_on_every_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let ledger = store.create_ledger(&account.id, "billing", &origin()).await.expect("ledger");
        assert_eq!(store.retention_policy(&ledger.id).await.expect("read"), None, "no policy: keep forever");

        // Unlocked, a policy changes either way and can be removed.
        let set = store.set_retention(&ledger, days(30), false, &origin()).await.expect("set");
        assert_eq!((set.days.get(), set.locked, set.locked_ms), (30, false, None));
        assert_eq!(set.set_by, ("cli".to_owned(), "test".to_owned()));
        store.set_retention(&ledger, days(10), false, &origin()).await.expect("shortened while unlocked");
        store.remove_retention(&ledger, &origin()).await.expect("removed while unlocked");
        assert_eq!(store.retention_policy(&ledger.id).await.expect("read"), None);
        let missing = store.remove_retention(&ledger, &origin()).await.expect_err("nothing to remove");
        assert!(matches!(missing, StoreError::NotFound(_)), "{missing}");

        let locked = store.set_retention(&ledger, days(30), true, &origin()).await.expect("locked");
        let locked_ms = locked.locked_ms.expect("lock time");
        for (n, lock) in [(29, true), (30, false), (90, false)] {
            let error = store.set_retention(&ledger, days(n), lock, &origin()).await.expect_err("refused");
            assert!(matches!(error, StoreError::Conflict(_)), "{error}");
        }
        let error = store.remove_retention(&ledger, &origin()).await.expect_err("never removed");
        assert!(error.to_string().contains("never be removed"), "{error}");
        let longer = store.set_retention(&ledger, days(60), true, &origin()).await.expect("lengthened");
        assert_eq!((longer.days.get(), longer.locked, longer.locked_ms), (60, true, Some(locked_ms)));

        // Behind the store's back, the database refuses the same.
        let id = ledger.id.as_str();
        let mut attacks = vec![
            format!("UPDATE retention_policies SET days = 1 WHERE ledger_id = '{id}'"),
            format!("UPDATE retention_policies SET locked = 0, locked_ms = NULL WHERE ledger_id = '{id}'"),
            format!("DELETE FROM retention_policies WHERE ledger_id = '{id}'"),
        ];
        if url.starts_with("sqlite:") {
            attacks.push(format!(
                "INSERT OR REPLACE INTO retention_policies (ledger_id, days, locked, set_by_type, set_by_id, set_ms) \
                 VALUES ('{id}', 1, 0, 'x', 'x', 0)"
            ));
        } else {
            attacks.push("TRUNCATE retention_policies".to_owned());
        }
        for sql in attacks {
            let error = execute_raw(&url, &sql).await.expect_err(&format!("{sql} must be refused ({url})"));
            assert!(error.to_string().contains("locked retention policy"), "{sql}: {error}");
        }
        let kept = store.retention_policy(&ledger.id).await.expect("read").expect("policy");
        assert_eq!((kept.days.get(), kept.locked), (60, true));

        let set = system_metadata(&store, &account.id, "retention.set").await;
        let recorded: Vec<_> = set.iter().map(|m| (m["days"].clone(), m["locked"].clone())).collect();
        assert_eq!(recorded.len(), 4, "{set:?}");
        assert_eq!(recorded[0], (60.into(), true.into()), "newest first");
        assert_eq!((set[0]["previous_days"].clone(), set[0]["previous_locked"].clone()), (30.into(), true.into()));
        assert_eq!(system_metadata(&store, &account.id, "retention.removed").await.len(), 1);
        let refused = system_metadata(&store, &account.id, "retention.change_refused").await;
        assert_eq!(refused.len(), 4, "three changes and a removal: {refused:?}");
        assert!(refused
            .iter()
            .all(|m| m["ledger"] == id && m["reason"].as_str().is_some_and(|r| r.contains("locked"))));
    }
}

#[tokio::test]
async fn a_legal_hold_stands_until_released_once_with_a_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in both_backends(dir.path()).await {
        let (account, _) = store.ensure_account("acme").await.expect("account");
        let billing = store.create_ledger(&account.id, "billing", &origin()).await.expect("ledger");
        let other = store.create_ledger(&account.id, "other", &origin()).await.expect("ledger");
        let scope = HoldScope::new(Some("2025-01-01T00:00:00Z"), None, Some("jane".into()), None).expect("scope");
        let jane = store
            .place_hold(&account.id, Some(&billing), "SEC-2026-17", "subpoena of 3 Nov", scope.clone(), &origin())
            .await
            .expect("placed");
        assert!(jane.is_active() && jane.ledger.as_ref() == Some(&billing.id) && jane.scope == scope);
        let everything = store
            .place_hold(&account.id, None, "Audit 2026", "whole account", HoldScope::default(), &origin())
            .await
            .expect("account-wide");
        assert!(everything.ledger.is_none() && everything.applies_to(&other.id));

        let ids = |holds: Vec<store::lifecycle::holds::LegalHold>| holds.into_iter().map(|h| h.id).collect::<Vec<_>>();
        let of_billing = store.legal_holds(&account.id, HoldsOf::Ledger(&billing.id), false).await.expect("list");
        assert_eq!(ids(of_billing), [everything.id.clone(), jane.id.clone()], "newest first");
        let of_other = store.legal_holds(&account.id, HoldsOf::Ledger(&other.id), false).await.expect("list");
        assert_eq!(ids(of_other), [everything.id.as_str()], "only the account-wide hold applies");

        let bad = store.place_hold(&account.id, Some(&billing), " ", "r", HoldScope::default(), &origin()).await;
        assert!(bad.expect_err("no case").to_string().contains("case"));
        let bad = store.release_hold(&account.id, &jane.id, "", &origin()).await;
        assert!(bad.expect_err("no reason").to_string().contains("reason"));

        // Behind the store's back, an active hold is neither changed nor
        // deleted, and a release is for good.
        let hold = jane.id.as_str();
        for sql in [
            format!("DELETE FROM legal_holds WHERE hold_id = '{hold}'"),
            format!("UPDATE legal_holds SET actor_id = 'joe' WHERE hold_id = '{hold}'"),
            format!("UPDATE legal_holds SET case_name = 'none' WHERE hold_id = '{hold}'"),
        ] {
            let error = execute_raw(&url, &sql).await.expect_err(&format!("{sql} must be refused ({url})"));
            assert!(error.to_string().contains("legal hold"), "{sql}: {error}");
        }

        let released = store.release_hold(&account.id, &jane.id, "case closed", &origin()).await.expect("released");
        let release = released.released.as_ref().expect("release");
        assert_eq!((release.reason.as_str(), release.by.0.as_str()), ("case closed", "cli"));
        let again = store.release_hold(&account.id, &jane.id, "twice", &origin()).await.expect_err("once");
        assert!(matches!(again, StoreError::Conflict(_)), "{again}");
        let error = execute_raw(&url, &format!("UPDATE legal_holds SET released_ms = NULL, release_reason = NULL, released_by_id = NULL WHERE hold_id = '{hold}'"))
            .await
            .expect_err("a release is for good");
        assert!(error.to_string().contains("legal hold"), "{error}");
        let active = store.legal_holds(&account.id, HoldsOf::Account, true).await.expect("list");
        assert_eq!(ids(active), [everything.id.as_str()]);
        let all = store.legal_holds(&account.id, HoldsOf::Account, false).await.expect("list");
        assert_eq!(ids(all), [everything.id.clone(), jane.id.clone()], "active first");

        // Another account sees none of them.
        let (stranger, _) = store.ensure_account("stranger").await.expect("account");
        assert!(store.legal_hold(&stranger.id, &jane.id).await.is_err());
        assert!(store.release_hold(&stranger.id, &everything.id, "x", &origin()).await.is_err());

        let placed = system_metadata(&store, &account.id, "legal_hold.placed").await;
        assert_eq!(placed.len(), 2);
        assert_eq!(placed[1]["case"], "SEC-2026-17");
        assert_eq!(placed[1]["scope"], serde_json::json!({"from": "2025-01-01T00:00:00.000Z", "actor_id": "jane"}));
        assert_eq!(placed[0]["ledger"], serde_json::Value::Null, "account-wide");
        let released = system_metadata(&store, &account.id, "legal_hold.released").await;
        assert_eq!(released.len(), 1);
        assert_eq!(
            (released[0]["reason"].as_str(), released[0]["case"].as_str()),
            (Some("case closed"), Some("SEC-2026-17"))
        );
    }
}
