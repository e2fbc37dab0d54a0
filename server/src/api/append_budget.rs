//! The memory budget of appends in flight. A request body of up to 4 MiB
//! is held, parsed and queued until its commit, and nothing else bounds
//! how many are held at once; so every append reserves its declared size
//! (or the largest body, when it declares none) before its body is read,
//! first from its account's share, then from this process's budget. A
//! reservation that cannot be had waits (FIFO, without reading the body)
//! for a few seconds, and is then refused: 429 when the account's share is
//! in use, 503 when the process's budget is, both with `Retry-After`. One
//! account flooding the server slows only itself, and the process's
//! memory stays bounded whatever arrives.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, Path};
use axum::http::header::CONTENT_LENGTH;
use axum::http::request::Parts;
use store::{Ledger, Permission};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::auth::Caller;
use super::error::ApiError;
use crate::state::AppState;

const MIB: u64 = 1024 * 1024;
/// Budgets are counted in KiB, so that a semaphore's permits cover them.
const UNIT: u64 = 1024;

/// How many body bytes of appends may be in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendBudgetConfig {
    /// In this process, all accounts together.
    pub process_bytes: NonZeroU64,
    /// Of one account.
    pub account_bytes: NonZeroU64,
    /// How long an append waits for its reservation before it is refused.
    pub wait: Duration,
}

impl Default for AppendBudgetConfig {
    fn default() -> Self {
        Self {
            process_bytes: NonZeroU64::new(256 * MIB).unwrap_or(NonZeroU64::MIN),
            account_bytes: NonZeroU64::new(64 * MIB).unwrap_or(NonZeroU64::MIN),
            wait: Duration::from_secs(5),
        }
    }
}

/// The budget of this process.
#[derive(Debug, Clone)]
pub struct AppendBudget {
    wait: Duration,
    /// Units of the process budget and of each account's share.
    process_units: u32,
    account_units: u32,
    process: Arc<Semaphore>,
    /// One share per account that has appended since the process started
    /// (accounts are created by operators, so the map stays small).
    accounts: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

/// Bytes reserved for one request, given back when it is dropped (the
/// response is ready, or the request was abandoned).
#[derive(Debug)]
pub struct Reservation {
    _account: OwnedSemaphorePermit,
    _process: OwnedSemaphorePermit,
}

fn units(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(UNIT)).unwrap_or(u32::MAX)
}

impl AppendBudget {
    pub fn new(config: AppendBudgetConfig) -> Self {
        let process_units = units(config.process_bytes.get());
        Self {
            wait: config.wait,
            process_units,
            account_units: units(config.account_bytes.get()),
            process: Arc::new(Semaphore::new(process_units as usize)),
            accounts: Arc::default(),
        }
    }

    fn share(&self, account: &str) -> Arc<Semaphore> {
        let mut accounts = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        accounts
            .entry(account.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.account_units as usize)))
            .clone()
    }

    /// Reserves `bytes` for an append of `account`, waiting for them a
    /// while, or says why not.
    pub async fn reserve(&self, account: &str, bytes: u64) -> Result<Reservation, ApiError> {
        let wanted = units(bytes).max(1);
        let most = self.account_units.min(self.process_units);
        if wanted > most {
            return Err(ApiError::PayloadTooLarge(format!(
                "a body of {bytes} bytes is larger than this server accepts in flight for one account \
                 ({} bytes); send smaller batches",
                u64::from(most) * UNIT
            )));
        }
        let deadline = Instant::now() + self.wait;
        let share = self.share(account);
        let account_permit = match tokio::time::timeout(self.wait, share.acquire_many_owned(wanted)).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(ApiError::Unavailable),
            Err(_) => {
                return Err(ApiError::Busy(
                    "this account's appends in flight fill its share of the server's memory; retry shortly, \
                     or send fewer requests at once"
                        .into(),
                ))
            }
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let process_permit = match tokio::time::timeout(left, self.process.clone().acquire_many_owned(wanted)).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(ApiError::Unavailable),
            Err(_) => {
                return Err(ApiError::Overloaded(
                    "appends in flight fill this server's memory budget; retry shortly".into(),
                ))
            }
        };
        Ok(Reservation { _account: account_permit, _process: process_permit })
    }

    /// Bytes reserved now, in the process and by `account`.
    pub fn in_flight(&self, account: &str) -> (u64, u64) {
        let process = self.process_units.saturating_sub(units_available(&self.process));
        let accounts = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        let used = accounts.get(account).map_or(0, |share| self.account_units.saturating_sub(units_available(share)));
        (u64::from(process) * UNIT, u64::from(used) * UNIT)
    }
}

fn units_available(semaphore: &Semaphore) -> u32 {
    u32::try_from(semaphore.available_permits()).unwrap_or(u32::MAX)
}

/// An append admitted before its body is read: the key may write to the
/// ledger of the path, and the body's bytes are reserved. Extracted from
/// the request head, so a key that may not write, or a body beyond the
/// limit or the budget, is answered without reading a byte of it.
#[derive(Debug)]
pub struct AdmittedAppend {
    pub caller: Caller,
    pub ledger: Ledger,
    _reservation: Reservation,
}

impl FromRequestParts<AppState> for AdmittedAppend {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let Path(ledger) = Path::<String>::from_request_parts(parts, state).await?;
        let ledger = caller.ledger(state, &ledger, Permission::Write).await?;
        let limit = super::MAX_BODY_BYTES as u64;
        let declared = parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let bytes = match declared {
            Some(bytes) if bytes > limit => {
                return Err(ApiError::PayloadTooLarge("the request body is larger than the 4 MiB limit".into()))
            }
            Some(bytes) => bytes,
            // A body of unknown length (chunked) may be as large as allowed.
            None => limit,
        };
        let reservation = state.appends.reserve(caller.0.account_id.as_str(), bytes).await?;
        Ok(Self { caller, ledger, _reservation: reservation })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(process_kib: u64, account_kib: u64, wait: Duration) -> AppendBudgetConfig {
        AppendBudgetConfig {
            process_bytes: NonZeroU64::new(process_kib * UNIT).expect("non-zero"),
            account_bytes: NonZeroU64::new(account_kib * UNIT).expect("non-zero"),
            wait,
        }
    }

    fn budget(process_kib: u64, account_kib: u64) -> AppendBudget {
        AppendBudget::new(config(process_kib, account_kib, Duration::from_millis(50)))
    }

    #[tokio::test]
    async fn an_account_is_held_to_its_share_and_all_accounts_to_the_process_budget() {
        let budget = budget(10, 4);
        let a1 = budget.reserve("a", 3 * UNIT).await.expect("a fits");
        assert!(matches!(budget.reserve("a", 2 * UNIT).await, Err(ApiError::Busy(_))), "a's share is full");
        let _b = budget.reserve("b", 4 * UNIT).await.expect("b fits");
        let _c = budget.reserve("c", 3 * UNIT).await.expect("c fits");
        assert_eq!(budget.in_flight("a"), (10 * UNIT, 3 * UNIT));
        assert!(matches!(budget.reserve("d", 1).await, Err(ApiError::Overloaded(_))), "the process is full");
        // What the refused reservations took meanwhile was given back.
        assert_eq!(budget.in_flight("d"), (10 * UNIT, 0));
        drop(a1);
        assert_eq!(budget.in_flight("a"), (7 * UNIT, 0));
        let _a2 = budget.reserve("a", 3 * UNIT).await.expect("given back on drop");
    }

    #[tokio::test]
    async fn a_waiting_append_is_admitted_when_bytes_are_given_back() {
        let budget = AppendBudget::new(config(4, 4, Duration::from_secs(10)));
        let first = budget.reserve("a", 4 * UNIT).await.expect("fits");
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve("a", 2 * UNIT).await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "it waits for its share");
        drop(first);
        waiting.await.expect("joins").expect("admitted once the bytes are back");
    }

    #[tokio::test]
    async fn a_body_larger_than_any_share_is_refused_as_too_large() {
        let budget = budget(10, 4);
        assert!(matches!(budget.reserve("a", 5 * UNIT).await, Err(ApiError::PayloadTooLarge(_))));
        assert_eq!(budget.in_flight("a"), (0, 0));
    }
}
