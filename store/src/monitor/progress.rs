//! The monitor's position in each ledger, saved with the findings of the
//! rows it covers (one transaction), so a pass that stops resumes there
//! and nothing it found is reported twice.

use audit_core::LedgerId;

use super::state::WalkState;
use crate::db::{on_db, to_i64, Conn};
use crate::{Store, StoreError};

/// A ledger's saved position.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    pub(crate) state: WalkState,
    pub(crate) last_verified_ms: i64,
    pub(crate) last_full_sweep_ms: Option<i64>,
}

impl Store {
    /// Where the monitor stands in `ledger`; `None` before its first pass.
    pub(crate) async fn monitor_progress(&self, ledger: &LedgerId) -> Result<Option<Progress>, StoreError> {
        let row: Option<(Vec<u8>, i64, Option<i64>)> = on_db!(&self.db.pool, |p| {
            sqlx::query_as(
                "SELECT state, last_verified_ms, last_full_sweep_ms FROM monitor_progress WHERE ledger_id = $1",
            )
            .bind(ledger.as_str())
            .fetch_optional(p)
            .await?
        });
        row.map(|(state, last_verified_ms, last_full_sweep_ms)| {
            Ok(Progress { state: WalkState::decode(&state)?, last_verified_ms, last_full_sweep_ms })
        })
        .transpose()
    }
}

/// Saves `state` as `ledger`'s position, verified at `now`; `full_sweep`
/// when the walk started from genesis.
pub(super) async fn save(
    conn: Conn<'_>,
    ledger: &LedgerId,
    state: &WalkState,
    now: i64,
    full_sweep: bool,
) -> Result<(), StoreError> {
    let size = to_i64(state.size())?;
    let sweep = full_sweep.then_some(now);
    on_db!(conn, |c| {
        sqlx::query(
            "INSERT INTO monitor_progress (ledger_id, verified_size, state, last_verified_ms, last_full_sweep_ms) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (ledger_id) DO UPDATE SET verified_size = excluded.verified_size, \
             state = excluded.state, last_verified_ms = excluded.last_verified_ms, \
             last_full_sweep_ms = COALESCE(excluded.last_full_sweep_ms, monitor_progress.last_full_sweep_ms)",
        )
        .bind(ledger.as_str())
        .bind(size)
        .bind(state.encode())
        .bind(now)
        .bind(sweep)
        .execute(&mut *c)
        .await?;
    });
    Ok(())
}
