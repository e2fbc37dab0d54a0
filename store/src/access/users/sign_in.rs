//! Signing in: password, then a TOTP or recovery code, each accepted at
//! most once, with a lockout after repeated failures.

use std::net::IpAddr;

use super::passwords::{verify_password, DUMMY_HASH};
use super::totp::{normalize_code, recovery_hash, totp, unix_seconds};
use super::{normalize_email, Lockout, SecondFactor, SignInFailure, SignInRefused, User, UserRow};
use crate::db::write_tx;
use crate::system;
use crate::{now_ms, AccountId, Actor, Origin, Store, StoreError, SystemEvent};

impl Store {
    /// Checks email, password and second factor (a TOTP code, or a recovery
    /// code). A TOTP step is accepted at most once and a recovery code only
    /// once; `lockout.max_failures` failures in a row lock the user for
    /// `lockout.duration_ms`, during which even correct credentials are
    /// refused. Unknown emails cost the same password hashing as known ones.
    /// A success, a resumed enrolment, the first failure of a run and the
    /// lock (with its count) are recorded in the user's account's system
    /// ledger, each in the transaction of the change it records; `from` is
    /// the client address.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        code: &str,
        lockout: Lockout,
        from: Option<IpAddr>,
    ) -> Result<Result<(User, SecondFactor), SignInRefused>, StoreError> {
        // A hashing slot first: when all are taken the attempt is refused
        // as busy before it costs a lookup, a write or a hash.
        let slot = self.passwords.take().await?;
        let found = match normalize_email(email) {
            Ok(email) => self.user_by_email(&email).await?,
            Err(_) => None,
        };
        let Some(UserRow { user, password_hash }) = found else {
            verify_password(slot, password, DUMMY_HASH.to_owned()).await;
            return Ok(Err(SignInRefused { user: None, reason: SignInFailure::UnknownEmail }));
        };
        let now = now_ms();
        // The attempt is reserved before it is judged: parallel attempts
        // each take one of the budget, so no more than `max_failures` are
        // ever judged before the lock.
        let reserved = self.reserve_attempt(&user.id, now).await?;
        // The password is hashed even for a locked user, so that the answer
        // takes as long as any other and does not tell locked users apart.
        let password_ok = verify_password(slot, password, password_hash).await;
        let attempt = match reserved {
            Ok(attempt) if attempt <= i64::from(lockout.max_failures) => attempt,
            // Over the budget (attempts raced the lock): refused unjudged,
            // and locked if no other attempt has locked yet.
            Ok(attempt) => {
                let reason = SignInFailure::Locked { until_ms: now.saturating_add(lockout.duration_ms) };
                self.conclude_failure(&user, reason, attempt, lockout, now, from).await?;
                return Ok(Err(SignInRefused { user: Some(user), reason }));
            }
            // Locked: the lock and the failure that opened its window are
            // recorded already; refusals during it are not, one by one.
            Err(until_ms) => {
                return Ok(Err(SignInRefused { user: Some(user), reason: SignInFailure::Locked { until_ms } }))
            }
        };
        let outcome = if !password_ok {
            Err(SignInFailure::BadPassword)
        } else if !user.totp_active {
            Err(SignInFailure::NotEnrolled)
        } else {
            self.check_second_factor(&user, code, from).await?
        };
        match outcome {
            // The password was right; the user still has to enrol, which is
            // not a failed attempt: the reservation is given back.
            Err(SignInFailure::NotEnrolled) => {
                self.release_attempt(&user.id).await?;
                let origin = Origin::new(Actor::User(user.id.clone())).from_address(from);
                let event = SystemEvent::EnrolmentResumed { user: user.id.clone(), email: user.email.clone() };
                self.record_system_event(&user.account_id, &origin, event).await?;
                Ok(Err(SignInRefused { user: Some(user), reason: SignInFailure::NotEnrolled }))
            }
            // The success's transaction reset the count.
            Ok(factor) => {
                self.drain_outbox(&user.account_id).await;
                Ok(Ok((user, factor)))
            }
            Err(reason) => {
                self.conclude_failure(&user, reason, attempt, lockout, now, from).await?;
                Ok(Err(SignInRefused { user: Some(user), reason }))
            }
        }
    }

    /// Counts an attempt unless the user is locked: the attempt's number
    /// since the last success or lock, or the end of the lock.
    async fn reserve_attempt(&self, id: &super::UserId, now: i64) -> Result<Result<i64, i64>, StoreError> {
        write_tx!(&self.db, |tx| {
            let reserved: Option<i64> = sqlx::query_scalar(
                "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1 AND locked_until_ms <= $2 \
                 RETURNING failed_logins",
            )
            .bind(id.as_str())
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let outcome = match reserved {
                Some(attempt) => Ok(attempt),
                None => Err(sqlx::query_scalar("SELECT locked_until_ms FROM users WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_one(&mut *tx)
                    .await?),
            };
            tx.commit().await?;
            Ok(outcome)
        })
    }

    /// Gives back a reserved attempt that was no failure.
    async fn release_attempt(&self, id: &super::UserId) -> Result<(), StoreError> {
        write_tx!(&self.db, |tx| {
            sqlx::query("UPDATE users SET failed_logins = failed_logins - 1 WHERE id = $1 AND failed_logins > 0")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Checks the code and, when it is accepted, spends it, resets the
    /// failure count and records the sign-in, in one transaction.
    async fn check_second_factor(
        &self,
        user: &User,
        code: &str,
        from: Option<IpAddr>,
    ) -> Result<Result<SecondFactor, SignInFailure>, StoreError> {
        let origin = Origin::new(Actor::User(user.id.clone())).from_address(from);
        let signed_in =
            |factor| SystemEvent::SignedIn { user: user.id.clone(), email: user.email.clone(), factor: Some(factor) };
        let normalized = normalize_code(code);
        if normalized.len() == 6 && normalized.bytes().all(|b| b.is_ascii_digit()) {
            let Some(secret) = self.totp_secret(&user.id).await? else { return Ok(Err(SignInFailure::BadCode)) };
            let Some(step) = totp(&secret, &user.email)?.check(&normalized, unix_seconds()) else {
                return Ok(Err(SignInFailure::BadCode));
            };
            let step = i64::try_from(step).unwrap_or(i64::MAX);
            let event = self.stage(&user.account_id, &origin, signed_in(SecondFactor::Totp)).await?;
            // The conditional update makes "never twice" hold between
            // concurrent sign-ins and server processes too.
            let accepted = write_tx!(&self.db, |tx| {
                // A lock set by a concurrent failure since this sign-in began
                // holds here too.
                let accepted = sqlx::query(
                    "UPDATE users SET totp_last_step = $1, failed_logins = 0 \
                     WHERE id = $2 AND totp_last_step < $1 AND locked_until_ms <= $3",
                )
                .bind(step)
                .bind(user.id.as_str())
                .bind(now_ms())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if accepted == 1 {
                    system::outbox::insert((&mut *tx).into(), &event).await?;
                }
                tx.commit().await?;
                accepted
            });
            return Ok(if accepted == 1 { Ok(SecondFactor::Totp) } else { Err(SignInFailure::ReusedCode) });
        }
        let event = self.stage(&user.account_id, &origin, signed_in(SecondFactor::RecoveryCode)).await?;
        let used = write_tx!(&self.db, |tx| {
            let now = now_ms();
            let used = sqlx::query(
                "UPDATE recovery_codes SET used_ms = $1 WHERE user_id = $2 AND code_hash = $3 AND used_ms IS NULL \
                 AND EXISTS (SELECT 1 FROM users u WHERE u.id = $2 AND u.locked_until_ms <= $1)",
            )
            .bind(now)
            .bind(user.id.as_str())
            .bind(recovery_hash(code))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if used == 1 {
                sqlx::query("UPDATE users SET failed_logins = 0 WHERE id = $1")
                    .bind(user.id.as_str())
                    .execute(&mut *tx)
                    .await?;
                system::outbox::insert((&mut *tx).into(), &event).await?;
            }
            tx.commit().await?;
            used
        });
        Ok(if used == 1 { Ok(SecondFactor::RecoveryCode) } else { Err(SignInFailure::BadCode) })
    }

    /// Concludes failed attempt number `attempt`: the budget's last one
    /// locks the user (once, whichever attempt gets there first), and the
    /// first failure of a window and the lock are recorded (with the count),
    /// in one transaction. Failures in between only count.
    async fn conclude_failure(
        &self,
        user: &User,
        reason: SignInFailure,
        attempt: i64,
        lockout: Lockout,
        now: i64,
        from: Option<IpAddr>,
    ) -> Result<(), StoreError> {
        let origin = Origin::new(Actor::Anonymous("sign-in-form")).from_address(from);
        let first = match attempt {
            1 => {
                let event = SystemEvent::SignInFailed { user: user.id.clone(), email: user.email.clone(), reason };
                Some(self.stage(&user.account_id, &origin, event).await?)
            }
            _ => None,
        };
        let until = now.saturating_add(lockout.duration_ms);
        let locks = attempt >= i64::from(lockout.max_failures);
        let lock_event = match locks {
            true => {
                let event = SystemEvent::UserLocked {
                    user: user.id.clone(),
                    email: user.email.clone(),
                    failures: attempt.min(i64::from(lockout.max_failures)),
                    until_ms: until,
                };
                Some(self.stage(&user.account_id, &origin, event).await?)
            }
            false => None,
        };
        let locked = write_tx!(&self.db, |tx| {
            let locked = match locks {
                true => sqlx::query(
                    "UPDATE users SET failed_logins = 0, locked_until_ms = $1 WHERE id = $2 AND locked_until_ms <= $3",
                )
                .bind(until)
                .bind(user.id.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1,
                false => false,
            };
            if let Some(event) = &first {
                system::outbox::insert((&mut *tx).into(), event).await?;
            }
            if let (true, Some(event)) = (locked, &lock_event) {
                system::outbox::insert((&mut *tx).into(), event).await?;
            }
            tx.commit().await?;
            locked
        });
        if locked {
            tracing::warn!(user = %user.id, "dashboard user locked after repeated sign-in failures");
        }
        if first.is_some() || locked {
            self.drain_off_the_response_path(&user.account_id);
        }
        Ok(())
    }

    /// Drains in the background: waiting for the system ledger's commit
    /// would make refusals of known emails answer slower than of unknown.
    fn drain_off_the_response_path(&self, account: &AccountId) {
        let (store, account) = (self.clone(), account.clone());
        tokio::spawn(async move { store.drain_outbox(&account).await });
    }
}
