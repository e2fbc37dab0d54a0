//! Passwords: argon2id (RFC 9106) with the OWASP parameters, hashed on a
//! blocking thread.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use argon2::{PasswordHasher as _, PasswordVerifier as _};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zeroize::Zeroizing;

use super::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
use crate::StoreError;

pub(super) fn check_password(password: &str) -> Result<(), StoreError> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(StoreError::Invalid(format!(
            "the password must be at least {MIN_PASSWORD_CHARS} characters (and at most {MAX_PASSWORD_BYTES} bytes)"
        )));
    }
    Ok(())
}

/// argon2id with the OWASP Password Storage Cheat Sheet's first
/// configuration: 19 MiB, 2 iterations, 1 lane.
fn hasher() -> Result<argon2::Argon2<'static>, StoreError> {
    let params = argon2::Params::new(19 * 1024, 2, 1, None)
        .map_err(|e| StoreError::Invalid(format!("argon2 parameters: {e}")))?;
    Ok(argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params))
}

/// Hashes on a blocking thread, in one of `slots`: argon2id takes tens of
/// milliseconds on purpose and must not stall the async workers.
pub(super) async fn hash_password(slots: &PasswordSlots, password: &str) -> Result<String, StoreError> {
    check_password(password)?;
    let password = Zeroizing::new(password.as_bytes().to_vec());
    let slot = slots.take().await?;
    tokio::task::spawn_blocking(move || {
        let _running = slot.run();
        hasher()?
            .hash_password(&password)
            .map(|hash| hash.to_string())
            .map_err(|e| StoreError::Invalid(format!("password hashing failed: {e}")))
    })
    .await
    .map_err(|e| StoreError::Invalid(format!("password hashing task failed: {e}")))?
}

/// Whether `password` matches `hash`, computed in `slot` (taken with
/// [`PasswordSlots::take`] before any other work, so a refused flood costs
/// nothing else either).
pub(super) async fn verify_password(slot: HashingSlot, password: &str, hash: String) -> bool {
    let password = Zeroizing::new(password.as_bytes().to_vec());
    tokio::task::spawn_blocking(move || {
        let _running = slot.run();
        hasher().is_ok_and(|hasher| hasher.verify_password(&password, hash.as_str()).is_ok())
    })
    .await
    .unwrap_or(false)
}

/// Requests that may wait for a slot, per slot; beyond them a request is
/// refused at once, so waiting is bounded too.
const WAITERS_PER_SLOT: usize = 4;
/// The longest wait for a slot.
const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The password hashes a store computes at once: one per core. Each holds
/// 19 MiB, so without this limit 500 parallel sign-ins would hold ~10 GiB
/// (and 512 blocking threads). A server process has one store, so this is
/// the process-wide limit.
#[derive(Debug)]
pub(crate) struct PasswordSlots {
    capacity: usize,
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    /// Hashes running now, and the most ever at once (what the limit
    /// bounds; read by the tests).
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl Default for PasswordSlots {
    fn default() -> Self {
        Self::new(std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get))
    }
}

impl PasswordSlots {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            slots: Arc::new(Semaphore::new(capacity)),
            waiting: AtomicUsize::new(0),
            running: Arc::new(AtomicUsize::new(0)),
            peak: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A hashing slot, held until the hash is done; `Busy` when all are
    /// taken and too many requests wait already, or the wait is too long.
    pub(super) async fn take(&self) -> Result<HashingSlot, StoreError> {
        let slot = |permit| HashingSlot { _permit: permit, running: self.running.clone(), peak: self.peak.clone() };
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(slot(permit));
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.capacity * WAITERS_PER_SLOT {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(StoreError::Busy("every password hashing slot is in use"));
        }
        let permit = tokio::time::timeout(MAX_WAIT, self.slots.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match permit {
            Ok(Ok(permit)) => Ok(slot(permit)),
            _ => Err(StoreError::Busy("every password hashing slot is in use")),
        }
    }
}

/// The right to compute one password hash (see [`PasswordSlots::take`]).
#[derive(Debug)]
pub(super) struct HashingSlot {
    _permit: OwnedSemaphorePermit,
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl HashingSlot {
    /// Counts the hash as running until the guard drops.
    fn run(self) -> impl Drop {
        let now = self.running.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak.fetch_max(now, Ordering::AcqRel);
        Running(self)
    }
}

struct Running(HashingSlot);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A hash of a password nobody has, verified for unknown emails so that the
/// answer takes as long as for a known one.
pub(super) const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$V6F1t4hvBf5E0FqXPSaIWw0s3CpGyPqkK7IbPXVyb1U";

#[cfg(test)]
mod tests {
    use super::*;

    /// A flood gets bounded work: at most one hash per slot runs, a few
    /// more wait, and the rest are refused at once as busy.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_verifications_is_bounded_and_the_excess_refused() {
        let slots = Arc::new(PasswordSlots::new(2));
        let flood = 32;
        let mut attempts = tokio::task::JoinSet::new();
        for _ in 0..flood {
            let slots = slots.clone();
            attempts.spawn(async move {
                let slot = slots.take().await?;
                Ok::<_, StoreError>(verify_password(slot, "wrong password", DUMMY_HASH.to_owned()).await)
            });
        }
        let outcomes = attempts.join_all().await;
        let busy = outcomes.iter().filter(|o| matches!(o, Err(StoreError::Busy(_)))).count();
        let judged = outcomes.iter().filter(|o| matches!(o, Ok(false))).count();
        assert_eq!(busy + judged, flood, "every attempt is either judged (and refused) or busy");
        assert!(judged >= 2, "the slots were used: {judged}");
        assert!(busy > 0, "the excess is refused");
        assert!((1..=2).contains(&slots.peak.load(Ordering::Acquire)), "never more hashes at once than slots");
        assert_eq!(slots.slots.available_permits(), 2, "every slot is given back");
        assert_eq!((slots.waiting.load(Ordering::Acquire), slots.running.load(Ordering::Acquire)), (0, 0));
    }

    #[test]
    fn the_dummy_hash_is_a_valid_argon2id_hash() {
        // Otherwise unknown emails would answer faster than known ones.
        let hash = argon2::PasswordHash::new(DUMMY_HASH).expect("parses");
        assert_eq!(hash.algorithm.as_str(), "argon2id");
    }
}
