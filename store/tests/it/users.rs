//! Dashboard users on both backends: first-run setup, TOTP enrolment and
//! single use of codes, lockout, invites, roles and session generations.

use store::{Lockout, Role, SecondFactor, SignInFailure, Store, User};

const PASSWORD: &str = "correct horse battery staple";

fn code_at(secret_base32: &str, unix: u64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret_base32).expect("base32 secret");
    totp_rs::Builder::new().with_secret(secret).build().expect("totp").generate(unix).to_string()
}

fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs()
}

/// Runs the setup link and enrolment; returns the owner, its TOTP secret
/// and its recovery codes.
async fn owner(store: &Store) -> (User, String, Vec<String>) {
    let (user, secret, codes, _) = enrolled_owner(store).await;
    (user, secret, codes)
}

/// As [`owner`], with the Unix time whose code confirmed the enrolment.
async fn enrolled_owner(store: &Store) -> (User, String, Vec<String>, u64) {
    let link = store.create_setup_link(60_000).await.expect("link").expect("no users yet");
    let user = store.complete_setup(link.expose(), "acme", "Owner@Example.com", PASSWORD, None).await.expect("setup");
    assert_eq!(user.email, "owner@example.com");
    assert_eq!(user.role, Role::Owner);
    assert!(!user.totp_active);
    let enrolment = store.begin_totp_enrolment(&user.id).await.expect("enrol");
    assert!(enrolment.otpauth_url.starts_with("otpauth://totp/"));
    assert!(!enrolment.qr_png_base64.is_empty());
    // The code of the previous step confirms (a little skew is tolerated).
    let confirmed_at = now_s() - 30;
    let codes = store
        .confirm_totp_enrolment(&user.id, &code_at(&enrolment.secret_base32, confirmed_at), None)
        .await
        .expect("confirmed");
    assert_eq!(codes.len(), store::RECOVERY_CODES);
    (store.user(&user.id).await.expect("user"), enrolment.secret_base32, codes, confirmed_at)
}

#[tokio::test]
async fn setup_enrolment_and_single_use_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in crate::both_backends(dir.path()).await {
        // Until a user exists, a setup link can be made; only the last one works.
        assert!(!store.users_exist().await.expect("count"));
        let first = store.create_setup_link(60_000).await.expect("link").expect("offered");
        let (user, secret, recovery, confirmed_at) = enrolled_owner(&store).await;
        assert!(user.totp_active);
        // An invited user who never finished enrolment is told so (after the
        // right password only), and that is no failed attempt.
        let link = store
            .create_invite(
                &user.account_id,
                "late@example.com",
                Role::Admin,
                &user.id,
                60_000,
                &store::testing::origin(),
            )
            .await;
        let late = store.accept_invite(link.expect("invite").expose(), PASSWORD, None).await.expect("accepted");
        let lockout = Lockout { max_failures: 1, duration_ms: 60_000 };
        let refused = store.sign_in("late@example.com", PASSWORD, "123456", lockout, None).await.expect("asked");
        assert_eq!(refused.expect_err("not enrolled").reason, SignInFailure::NotEnrolled, "{url}");
        let refused = store.sign_in("late@example.com", "wrong password!!", "123456", Lockout::default(), None).await;
        assert_eq!(refused.expect("asked").expect_err("refused").reason, SignInFailure::BadPassword);
        assert_eq!(store.user(&late.id).await.expect("user").locked_until_ms, 0, "{url}: enrolment counted as failure");
        let replaced = store.complete_setup(first.expose(), "other", "x@example.com", PASSWORD, None).await;
        assert!(replaced.is_err(), "{url}: a replaced setup link still worked");
        assert!(store.create_setup_link(60_000).await.expect("asked").is_none(), "{url}: setup offered twice");

        // The enrolment step is used: the same code cannot sign in. (The
        // code is the one that confirmed, not one computed anew: on a slow
        // run a step boundary passes meanwhile, and `now - 30` is then the
        // next step, a code never used.)
        let lockout = Lockout::default();
        let step_code = code_at(&secret, confirmed_at);
        let refused = store.sign_in("owner@example.com", PASSWORD, &step_code, lockout, None).await.expect("asked");
        let reason = refused.expect_err("a code was accepted twice").reason;
        // While its step is still within the window (one step of skew) it
        // is refused as used; once the window has moved on it may also be
        // refused as expired, which is no less a refusal.
        if now_s() / 30 <= confirmed_at / 30 + 1 {
            assert_eq!(reason, SignInFailure::ReusedCode, "{url}");
        } else {
            assert!(matches!(reason, SignInFailure::ReusedCode | SignInFailure::BadCode), "{url}: {reason:?}");
        }

        let code = code_at(&secret, now_s());
        let (signed_in, factor) = store
            .sign_in("OWNER@example.com", PASSWORD, &code, lockout, None)
            .await
            .expect("asked")
            .expect("signed in");
        assert_eq!((signed_in.id.clone(), factor), (user.id.clone(), SecondFactor::Totp));
        let again = store.sign_in("owner@example.com", PASSWORD, &code, lockout, None).await.expect("asked");
        assert_eq!(again.expect_err("reused").reason, SignInFailure::ReusedCode, "{url}");

        // Wrong password, wrong code, unknown email: all refused.
        let next = code_at(&secret, now_s() + 30);
        let bad = store.sign_in("owner@example.com", "wrong password!!", &next, lockout, None).await.expect("asked");
        assert_eq!(bad.expect_err("refused").reason, SignInFailure::BadPassword);
        let bad = store.sign_in("owner@example.com", PASSWORD, "000000", lockout, None).await.expect("asked");
        assert!(matches!(bad.expect_err("refused").reason, SignInFailure::BadCode | SignInFailure::ReusedCode));
        let bad = store.sign_in("nobody@example.com", PASSWORD, &next, lockout, None).await.expect("asked");
        assert_eq!(bad.expect_err("refused").reason, SignInFailure::UnknownEmail);

        // A recovery code works once, however it is typed.
        let typed = recovery[0].to_uppercase().replace('-', " ");
        let (_, factor) = store
            .sign_in("owner@example.com", PASSWORD, &typed, lockout, None)
            .await
            .expect("asked")
            .expect("recovery");
        assert_eq!(factor, SecondFactor::RecoveryCode);
        let reused = store.sign_in("owner@example.com", PASSWORD, &recovery[0], lockout, None).await.expect("asked");
        assert!(reused.is_err(), "{url}: a recovery code was accepted twice");
        assert_eq!(store.recovery_codes_left(&user.id).await.expect("count"), 9);

        // Enrolment cannot be restarted once active.
        assert!(store.begin_totp_enrolment(&user.id).await.is_err());
    }
}

#[tokio::test]
async fn repeated_failures_lock_the_user_even_for_the_right_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in crate::both_backends(dir.path()).await {
        let (user, secret, _) = owner(&store).await;
        let lockout = Lockout { max_failures: 3, duration_ms: 60_000 };
        for _ in 0..3 {
            let bad = store.sign_in(&user.email, "not the password", "123456", lockout, None).await.expect("asked");
            assert_eq!(bad.expect_err("refused").reason, SignInFailure::BadPassword);
        }
        let code = code_at(&secret, now_s());
        let locked = store.sign_in(&user.email, PASSWORD, &code, lockout, None).await.expect("asked");
        assert!(
            matches!(locked.expect_err("locked").reason, SignInFailure::Locked { .. }),
            "{url}: a locked user signed in"
        );
        // Once the lock is over, the right credentials work again.
        store::testing::execute_raw(&url, "UPDATE users SET locked_until_ms = 0").await.expect("unlock");
        store
            .sign_in(&user.email, PASSWORD, &code, lockout, None)
            .await
            .expect("asked")
            .expect("signed in after the lock");
    }
}

#[tokio::test]
async fn invites_roles_and_removal() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in crate::both_backends(dir.path()).await {
        let (owner, _, _) = owner(&store).await;
        let link = store
            .create_invite(
                &owner.account_id,
                "Aud@Example.com",
                Role::Auditor,
                &owner.id,
                60_000,
                &store::testing::origin(),
            )
            .await;
        let link = link.expect("invite");
        let invite = store.invite(link.expose()).await.expect("asked").expect("valid");
        assert_eq!((invite.email.as_str(), invite.role), ("aud@example.com", Role::Auditor));
        assert!(store.accept_invite(link.expose(), "short", None).await.is_err(), "a short password was accepted");
        let auditor = store.accept_invite(link.expose(), PASSWORD, None).await.expect("accepted");
        assert_eq!(auditor.role, Role::Auditor);
        assert_eq!(auditor.account_id, owner.account_id);
        assert!(store.accept_invite(link.expose(), PASSWORD, None).await.is_err(), "{url}: an invite was used twice");
        assert!(store.invite(link.expose()).await.expect("asked").is_none());
        // An expired invite does not work.
        let expired = store
            .create_invite(&owner.account_id, "late@example.com", Role::Admin, &owner.id, -1, &store::testing::origin())
            .await
            .expect("invite");
        assert!(
            store.accept_invite(expired.expose(), PASSWORD, None).await.is_err(),
            "{url}: an expired invite worked"
        );
        // An invite dies with its creator's owner rights.
        let co = store
            .create_invite(
                &owner.account_id,
                "co@example.com",
                Role::Owner,
                &owner.id,
                60_000,
                &store::testing::origin(),
            )
            .await;
        let co = store.accept_invite(co.expect("invite").expose(), PASSWORD, None).await.expect("co-owner");
        let orphan = store
            .create_invite(
                &owner.account_id,
                "orphan@example.com",
                Role::Owner,
                &co.id,
                60_000,
                &store::testing::origin(),
            )
            .await
            .expect("invite");
        store
            .set_user_role(&owner.account_id, &co.id, Role::Auditor, &store::testing::origin())
            .await
            .expect("demoted");
        assert!(store.invite(orphan.expose()).await.expect("asked").is_none(), "{url}");
        assert!(
            store.accept_invite(orphan.expose(), PASSWORD, None).await.is_err(),
            "{url}: a demoted owner's invite worked"
        );
        store.remove_user(&owner.account_id, &co.id, &store::testing::origin()).await.expect("removed");

        // Role changes end the user's sessions (generation bump).
        let promoted = store
            .set_user_role(&owner.account_id, &auditor.id, Role::Admin, &store::testing::origin())
            .await
            .expect("promoted");
        assert_eq!(promoted.role, Role::Admin);
        assert!(promoted.session_generation > auditor.session_generation);
        // The last owner can neither be demoted nor removed.
        assert!(store
            .set_user_role(&owner.account_id, &owner.id, Role::Admin, &store::testing::origin())
            .await
            .is_err());
        assert!(store.remove_user(&owner.account_id, &owner.id, &store::testing::origin()).await.is_err());
        // Another account's owner reaches nobody here.
        let (other, _) = store.ensure_account("other").await.expect("account");
        assert!(store.set_user_role(&other.id, &auditor.id, Role::Owner, &store::testing::origin()).await.is_err());

        store.remove_user(&owner.account_id, &auditor.id, &store::testing::origin()).await.expect("removed");
        assert!(store.user(&auditor.id).await.is_err());
        assert_eq!(store.list_users(&owner.account_id).await.expect("list").len(), 1);
        let gone = store.sign_in("aud@example.com", PASSWORD, "123456", Lockout::default(), None).await.expect("asked");
        assert_eq!(gone.expect_err("refused").reason, SignInFailure::UnknownEmail);

        let before = store.user(&owner.id).await.expect("user").session_generation;
        store.sign_out_everywhere(&owner.id, &store::testing::origin()).await.expect("signed out");
        assert_eq!(store.user(&owner.id).await.expect("user").session_generation, before + 1);
    }
}

#[tokio::test]
async fn totp_secrets_are_sealed_and_bound_to_their_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in crate::both_backends(dir.path()).await {
        let (owner, secret, _) = owner(&store).await;
        let raw = totp_rs::Secret::try_from_base32(&secret).expect("base32").as_bytes().to_vec();
        let stored = store::testing::fetch_blobs(&url, "SELECT totp_secret FROM users").await.expect("blobs");
        assert_eq!(stored.len(), 1);
        assert!(!stored[0].windows(raw.len()).any(|w| w == raw.as_slice()), "{url}: the TOTP secret is stored plain");

        // A sealed secret copied onto another user's row does not open.
        let link = store
            .create_invite(
                &owner.account_id,
                "b@example.com",
                Role::Admin,
                &owner.id,
                60_000,
                &store::testing::origin(),
            )
            .await;
        let b = store.accept_invite(link.expect("invite").expose(), PASSWORD, None).await.expect("accepted");
        store.begin_totp_enrolment(&b.id).await.expect("enrol");
        store::testing::execute_raw(
            &url,
            &format!(
                "UPDATE users SET totp_secret = (SELECT totp_secret FROM users WHERE id = '{}') WHERE id = '{}'",
                owner.id, b.id
            ),
        )
        .await
        .expect("copied");
        let error = store.confirm_totp_enrolment(&b.id, &code_at(&secret, now_s()), None).await.expect_err("refused");
        assert!(matches!(error, store::StoreError::Integrity(_)), "{url}: {error}");
    }
}

#[tokio::test]
async fn two_owners_demoting_each_other_at_once_leave_one_owner() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in crate::both_backends(dir.path()).await {
        let (a, _, _) = owner(&store).await;
        for round in 0..3 {
            let email = format!("owner{round}@example.com");
            let link = store
                .create_invite(&a.account_id, &email, Role::Owner, &a.id, 60_000, &store::testing::origin())
                .await
                .expect("invite");
            let b = store.accept_invite(link.expose(), PASSWORD, None).await.expect("accepted");
            let origin = store::testing::origin();
            let (x, y) = tokio::join!(
                store.set_user_role(&a.account_id, &a.id, Role::Admin, &origin),
                store.remove_user(&a.account_id, &b.id, &origin),
            );
            let owners = store.list_users(&a.account_id).await.expect("users");
            let owners = owners.iter().filter(|u| u.role == Role::Owner).count();
            assert_eq!(owners, 1, "{url}: round {round}: {x:?} / {y:?}");
            assert!(x.is_ok() != y.is_ok(), "{url}: exactly one change goes through: {x:?} / {y:?}");
            // Restore: whoever is left owner makes `a` an owner again.
            if x.is_ok() {
                store
                    .set_user_role(&a.account_id, &a.id, Role::Owner, &store::testing::origin())
                    .await
                    .expect("promote back");
                store.remove_user(&a.account_id, &b.id, &store::testing::origin()).await.expect("remove b");
            }
        }
    }
}

#[tokio::test]
async fn an_invite_tells_nothing_of_other_accounts_users_and_fails_only_at_acceptance() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in crate::both_backends(dir.path()).await {
        let (owner, _, _) = owner(&store).await;
        // A user of another account.
        let (other, _) = store.ensure_account("other").await.expect("account");
        let elsewhere = store
            .create_invite(
                &owner.account_id,
                "taken@example.com",
                Role::Auditor,
                &owner.id,
                60_000,
                &store::testing::origin(),
            )
            .await
            .expect("invite");
        let taken = store.accept_invite(elsewhere.expose(), PASSWORD, None).await.expect("accepted");
        // (Users join other accounts through those accounts' owners; here
        // the row is simply moved there.)
        let moved = format!("UPDATE users SET account_id = '{}' WHERE id = '{}'", other.id.as_str(), taken.id.as_str());
        assert_eq!(store::testing::execute_raw(&url, &moved).await.expect("moved"), 1);

        // Inviting a taken address answers like any other invite...
        let probe = store
            .create_invite(
                &owner.account_id,
                "Taken@Example.com",
                Role::Admin,
                &owner.id,
                60_000,
                &store::testing::origin(),
            )
            .await
            .expect("an invite for a taken address is made like any other");
        let fresh = store
            .create_invite(
                &owner.account_id,
                "free@example.com",
                Role::Admin,
                &owner.id,
                60_000,
                &store::testing::origin(),
            )
            .await
            .expect("invite");
        assert_eq!(probe.expose().len(), fresh.expose().len());
        // ...and is refused when accepted, changing nothing.
        let refused = store.accept_invite(probe.expose(), PASSWORD, None).await.expect_err("the address is taken");
        assert!(refused.to_string().contains("exists already"), "{refused}");
        let kept = store.user(&taken.id).await.expect("the existing user is untouched");
        assert_eq!((kept.account_id, kept.role), (other.id.clone(), Role::Auditor));
        store.accept_invite(fresh.expose(), PASSWORD, None).await.expect("the other invite still works");
    }
}

#[tokio::test]
async fn parallel_failures_are_judged_within_the_budget_and_recorded_once_with_the_lock() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, url) in crate::both_backends(dir.path()).await {
        let (user, _, _) = owner(&store).await;
        let lockout = Lockout { max_failures: 3, duration_ms: 60_000 };
        // Twelve wrong passwords at once: each attempt is reserved before it
        // is judged, so at most three are judged before the lock.
        let attempts: Vec<_> = (0..12)
            .map(|_| {
                let (store, email) = (store.clone(), user.email.clone());
                tokio::spawn(async move { store.sign_in(&email, "not the password", "123456", lockout, None).await })
            })
            .collect();
        let mut judged = 0;
        for attempt in attempts {
            // Beyond the password hashing slots and their queue an attempt
            // is refused as busy, unjudged and uncounted.
            let refused = match attempt.await.expect("task") {
                Err(store::StoreError::Busy(_)) => continue,
                outcome => outcome.expect("asked").expect_err("refused"),
            };
            match refused.reason {
                SignInFailure::BadPassword => judged += 1,
                SignInFailure::Locked { .. } => {}
                other => panic!("unexpected refusal {other:?} ({url})"),
            }
        }
        assert!(judged <= 3, "{judged} attempts were judged, beyond the budget of 3 ({url})");
        let locked = store.user(&user.id).await.expect("user");
        assert!(locked.locked_until_ms > store::now_ms(), "the user is locked ({url})");

        // The system ledger holds the window's first failure and the lock,
        // with its count: not twelve events from anyone on the internet.
        store.drain_outboxes().await.expect("drained");
        let system = store.system_ledger(&user.account_id).await.expect("system ledger");
        let count = |action: &'static str| {
            let store = store.clone();
            let system = system.clone();
            async move {
                let filter = store::EventFilter { action: Some(action.into()), ..store::EventFilter::default() };
                store.list_events(&system, &filter, None, 100).await.expect("events").events
            }
        };
        assert_eq!(count("user.sign_in_failed").await.len(), 1, "{url}");
        let locks = count("user.locked").await;
        assert_eq!(locks.len(), 1, "{url}");
        let lock = serde_json::to_value(locks[0].event.as_ref().expect("content")).expect("json");
        assert_eq!(lock["metadata"]["failures"], 3, "{lock}");
    }
}
