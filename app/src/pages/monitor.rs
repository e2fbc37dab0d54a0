//! The tamper monitor's verdict on a ledger, as a badge: how far and how
//! long ago it verified the ledger, `stale` when that is older than twice
//! its interval (so a stopped or switched-off monitor shows), and the
//! anomalies no owner has acknowledged.

use leptos::prelude::*;

use crate::model::MonitorRow;

/// "12 s ago", "5 min ago", "3 h ago", "2 days ago".
fn ago(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s ago"),
        s if s < 7_200 => format!("{} min ago", s / 60),
        s if s < 172_800 => format!("{} h ago", s / 3_600),
        s => format!("{} days ago", s / 86_400),
    }
}

pub fn monitor_view(m: MonitorRow) -> impl IntoView {
    let when = match (m.age_seconds, m.last_verified_at.clone()) {
        (Some(age), Some(at)) => format!("verified {} · {}", ago(age), at),
        _ => "not verified yet".to_owned(),
    };
    let (class, label) = match m.status.as_str() {
        "ok" => ("badge ok", format!("✔ {} events verified", m.verified_size)),
        "anomaly" => (
            "badge bad",
            format!("✖ {} open anomal{}", m.open_anomalies, if m.open_anomalies == 1 { "y" } else { "ies" }),
        ),
        "stale" => ("badge bad", "⚠ Stale: not verified for over twice the monitor's interval".to_owned()),
        _ => ("badge neutral", "Pending first verification".to_owned()),
    };
    view! {
        <span class=class data-testid="monitor-status" data-status=m.status.clone()>{label}</span>
        <br /><small>{when}</small>
    }
}

#[cfg(test)]
mod tests {
    use super::ago;

    #[test]
    fn ages_read_in_the_largest_sensible_unit() {
        assert_eq!(ago(5), "5 s ago");
        assert_eq!(ago(600), "10 min ago");
        assert_eq!(ago(3 * 3_600), "3 h ago");
        assert_eq!(ago(3 * 86_400), "3 days ago");
    }
}
