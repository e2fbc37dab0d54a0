//! The ten kinds of tampering the tamper monitor must name, as raw SQL
//! against a ledger of 40 events appended in four commits of ten
//! (checkpoints at 10, 20, 30 and 40; stored level-4 nodes over 0..16 and
//! 16..32), with the kind and exact seq range each must be found as. Run
//! with [`super::tamper_freely`]; shared by the store's and the server's
//! tests so both judge the same edits.

use crate::monitor::AnomalyKind;
use crate::StoreError;

use super::{blob_literal, fetch_blobs, fetch_texts};

/// Every case: (name, kind found, first seq, last seq).
pub const CASES: [(&str, AnomalyKind, u64, u64); 10] = [
    ("content", AnomalyKind::AlteredContent, 5, 5),
    ("leaf", AnomalyKind::AlteredHash, 5, 5),
    ("chain", AnomalyKind::AlteredHash, 5, 5),
    ("insert", AnomalyKind::InsertedRow, 40, 40),
    ("delete", AnomalyKind::DeletedRow, 5, 5),
    ("swap", AnomalyKind::ReorderedRows, 5, 9),
    ("truncate", AnomalyKind::TruncatedTail, 35, 39),
    ("node", AnomalyKind::BadNode, 16, 31),
    ("signature", AnomalyKind::BadCheckpoint, 10, 19),
    ("tombstone", AnomalyKind::ForgedTombstone, 5, 5),
];

/// A hash-sized value no row holds.
fn forged_hash(url: &str) -> String {
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::try_from(i).unwrap_or(0).wrapping_mul(37).wrapping_add(11);
    }
    blob_literal(url, &bytes)
}

/// The SQL of `case` against ledger `id` in the database at `url`.
pub async fn sql(url: &str, id: &str, case: &str) -> Result<String, StoreError> {
    let row = |seq: u64| format!("ledger_id = '{id}' AND seq = {seq}");
    Ok(match case {
        "content" => {
            let mut content = fetch_blobs(url, &format!("SELECT content FROM events WHERE {}", row(5)))
                .await?
                .pop()
                .ok_or(StoreError::NotFound("event 5"))?;
            // One bit of the sealed record's last byte (its tag) flipped.
            if let Some(last) = content.last_mut() {
                *last ^= 1;
            }
            format!("UPDATE events SET content = {} WHERE {}", blob_literal(url, &content), row(5))
        }
        "leaf" => format!("UPDATE events SET leaf_hash = {} WHERE {}", forged_hash(url), row(5)),
        "chain" => format!("UPDATE events SET chain_hash = {} WHERE {}", forged_hash(url), row(5)),
        "insert" => format!(
            "INSERT INTO events (ledger_id, seq, event_id, occurred_ms, received_ms, content, leaf_hash, chain_hash) \
             SELECT ledger_id, 40, 'forged', occurred_ms, received_ms, content, leaf_hash, chain_hash FROM events \
             WHERE {}",
            row(39)
        ),
        "delete" => format!("DELETE FROM events WHERE {}", row(5)),
        "swap" => format!(
            "UPDATE events SET seq = 1000 WHERE {}; UPDATE events SET seq = 5 WHERE {}; \
             UPDATE events SET seq = 9 WHERE {};",
            row(5),
            row(9),
            row(1000)
        ),
        "truncate" => format!("DELETE FROM events WHERE ledger_id = '{id}' AND seq >= 35"),
        "node" => format!(
            "UPDATE merkle_nodes SET hash = {} WHERE ledger_id = '{id}' AND level = 4 AND idx = 1",
            forged_hash(url)
        ),
        "signature" => {
            let note =
                fetch_texts(url, &format!("SELECT note FROM checkpoints WHERE ledger_id = '{id}' AND tree_size = 20"))
                    .await?
                    .pop()
                    .ok_or(StoreError::NotFound("checkpoint 20"))?;
            // Another valid-looking signature: one base64 character of the
            // signature line changed.
            let at = note.trim_end().len().saturating_sub(3);
            let mut forged = note.into_bytes();
            forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
            let forged = String::from_utf8(forged).map_err(|_| StoreError::Corrupt("a note is not UTF-8"))?;
            format!(
                "UPDATE checkpoints SET note = '{}' WHERE ledger_id = '{id}' AND tree_size = 20",
                forged.replace('\'', "''")
            )
        }
        "tombstone" => format!("UPDATE events SET content = NULL WHERE {}", row(5)),
        other => return Err(StoreError::Invalid(format!("no tampering case {other}"))),
    })
}
