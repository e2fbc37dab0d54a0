//! Server functions of the integrity banner: the anomalies the tamper
//! monitor found in the account's ledgers that no owner has acknowledged
//! yet, and an owner's acknowledgement (the finding stays recorded).

use leptos::prelude::*;

use crate::model::AnomalyRow;

#[cfg(feature = "ssr")]
use {
    super::support::{origin, store_error, time},
    crate::auth,
    store::Role,
};

/// The account's unacknowledged anomalies, newest first; every role sees
/// them.
#[server(endpoint = "open_anomalies")]
pub async fn open_anomalies() -> Result<Vec<AnomalyRow>, ServerFnError> {
    let (dashboard, user) = auth::require(Role::Auditor)?;
    let store = &dashboard.store;
    let anomalies = store.open_anomalies(&user.account_id).await.map_err(store_error)?;
    let ledgers = store.list_ledgers(&user.account_id).await.map_err(store_error)?;
    Ok(anomalies
        .into_iter()
        .map(|a| AnomalyRow {
            // A ledger deleted since keeps its findings; its name is gone.
            ledger_name: ledgers.iter().find(|l| l.id == a.ledger).map_or_else(String::new, |l| l.name.clone()),
            ledger: a.ledger.as_str().to_owned(),
            kind: a.kind.as_str().to_owned(),
            first_seq: a.first_seq,
            last_seq: a.last_seq,
            advice: a.advice().to_owned(),
            found_at: time(a.found_ms),
            detail: a.detail,
            id: a.id,
        })
        .collect())
}

/// Acknowledges an anomaly (owners): its banner ends, the finding stays
/// recorded with who acknowledged it, and the system log says so.
#[server(endpoint = "acknowledge_anomaly")]
pub async fn acknowledge_anomaly(csrf: String, id: String) -> Result<String, ServerFnError> {
    let (dashboard, user) = auth::require_mutation(Role::Owner, &csrf)?;
    let anomaly =
        dashboard.store.acknowledge_anomaly(&user.account_id, id.trim(), &origin(&user)).await.map_err(store_error)?;
    Ok(format!("Anomaly {} acknowledged; it stays recorded.", anomaly.id))
}
