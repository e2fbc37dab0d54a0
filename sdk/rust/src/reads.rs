//! Reads (docs/SDK.md §5) and verified reads (§6): events, pages with
//! their cursor, checkpoints verified against the pinned key, proofs,
//! integrity and evidence files.

use audit_core::Hash;
use reqwest::Method;
use serde_json::Value;

use crate::client::{hash, number, url_escape};
use crate::verify::{self, VerifiedCheckpoint};
use crate::{Client, Error};

/// A stored event: the normalised event as the API answers it, with its
/// place in the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// The whole answer (`id`, `actor`, `action`, `resource`,
    /// `occurred_at`, `metadata`, `seq`, `leaf_hash`, `chain_hash`, …).
    pub json: Value,
    pub id: String,
    pub seq: u64,
    pub leaf_hash: Hash,
    pub chain_hash: Hash,
    /// Archived by retention: only the hashes remain.
    pub tombstoned: bool,
}

/// The filters of a listing; empty ones are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub actor_type: Option<String>,
    pub actor_id: Option<String>,
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    /// RFC 3339, included.
    pub from: Option<String>,
    /// RFC 3339, excluded.
    pub to: Option<String>,
    pub limit: Option<u32>,
}

/// A page of events, newest first, and the cursor of the next.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    pub events: Vec<StoredEvent>,
    pub next_cursor: Option<String>,
}

/// Every page of a listing, one at a time.
#[derive(Debug)]
pub struct Pages {
    client: Client,
    ledger: String,
    filter: EventFilter,
    cursor: Option<String>,
    done: bool,
}

impl Pages {
    /// The next page, or `None` once the last was returned.
    pub async fn next_page(&mut self) -> Result<Option<Vec<StoredEvent>>, Error> {
        if self.done {
            return Ok(None);
        }
        let page = self.client.list_page(&self.ledger, &self.filter, self.cursor.as_deref()).await?;
        self.cursor = page.next_cursor;
        self.done = self.cursor.is_none();
        Ok(Some(page.events))
    }
}

fn stored(json: Value) -> Result<StoredEvent, Error> {
    Ok(StoredEvent {
        id: json["id"].as_str().ok_or_else(|| Error::Protocol("an event without id".into()))?.to_owned(),
        seq: number(&json["seq"], "seq")?,
        leaf_hash: hash(&json["leaf_hash"], "leaf_hash")?,
        chain_hash: hash(&json["chain_hash"], "chain_hash")?,
        tombstoned: json["tombstoned"].as_bool().unwrap_or(false),
        json,
    })
}

fn hashes(value: &Value) -> Result<Vec<Hash>, Error> {
    value
        .as_array()
        .ok_or_else(|| Error::Protocol("a proof is a list".into()))?
        .iter()
        .map(|h| hash(h, "a proof hash"))
        .collect()
}

impl Client {
    /// One event by id.
    pub async fn get_event(&self, ledger: &str, id: &str) -> Result<StoredEvent, Error> {
        let path = format!("/ledgers/{}/events/{}", url_escape(ledger), url_escape(id));
        stored(self.transport().json(Method::GET, &path, None).await?)
    }

    /// One event by id, proven included in the latest signed checkpoint:
    /// its leaf hash computed here from its content, the proof checked
    /// against the checkpoint's root, the checkpoint's signature against
    /// the pinned key.
    pub async fn get_verified_event(&self, ledger: &str, id: &str) -> Result<(StoredEvent, VerifiedCheckpoint), Error> {
        let event = self.get_event(ledger, id).await?;
        if event.tombstoned {
            return Err(Error::Verification(format!("event {id} is a tombstone: its content is archived")));
        }
        let local = verify::leaf_hash(&event.json)?;
        if !local.ct_eq(&event.leaf_hash) {
            return Err(Error::Verification(format!(
                "event {id}'s content does not hash to the leaf hash it came with"
            )));
        }
        let checkpoint = self.checkpoint(ledger, None).await?;
        let proof = self.inclusion_proof(ledger, event.seq, Some(checkpoint.tree_size)).await?;
        verify::verify_inclusion(&event.json, event.seq, &proof, &checkpoint)?;
        Ok((event, checkpoint))
    }

    async fn list_page(&self, ledger: &str, filter: &EventFilter, cursor: Option<&str>) -> Result<EventPage, Error> {
        let mut query: Vec<String> = [
            ("actor_type", &filter.actor_type),
            ("actor_id", &filter.actor_id),
            ("action", &filter.action),
            ("resource_type", &filter.resource_type),
            ("resource_id", &filter.resource_id),
            ("from", &filter.from),
            ("to", &filter.to),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", url_escape(v))))
        .collect();
        if let Some(limit) = filter.limit {
            query.push(format!("limit={limit}"));
        }
        if let Some(cursor) = cursor {
            query.push(format!("cursor={}", url_escape(cursor)));
        }
        let path = format!("/ledgers/{}/events?{}", url_escape(ledger), query.join("&"));
        let page = self.transport().json(Method::GET, &path, None).await?;
        let events = page["events"].as_array().ok_or_else(|| Error::Protocol("a page holds events".into()))?;
        Ok(EventPage {
            events: events.iter().cloned().map(stored).collect::<Result<_, _>>()?,
            next_cursor: page["next_cursor"].as_str().map(str::to_owned),
        })
    }

    /// One page of events, newest first.
    pub async fn list_events(&self, ledger: &str, filter: &EventFilter) -> Result<EventPage, Error> {
        self.list_page(ledger, filter, None).await
    }

    /// Every page of a listing, following its cursor.
    pub fn pages(&self, ledger: &str, filter: EventFilter) -> Pages {
        Pages { client: self.clone(), ledger: ledger.to_owned(), filter, cursor: None, done: false }
    }

    /// The signed checkpoint note, as the server answers it (unverified).
    pub async fn checkpoint_note(&self, ledger: &str, tree_size: Option<u64>) -> Result<String, Error> {
        let size = tree_size.map(|n| format!("?tree_size={n}")).unwrap_or_default();
        self.transport().text(&format!("/ledgers/{}/checkpoint{size}", url_escape(ledger))).await
    }

    /// The checkpoint, its signature verified against the pinned key and
    /// its origin checked to name the ledger.
    pub async fn checkpoint(&self, ledger: &str, tree_size: Option<u64>) -> Result<VerifiedCheckpoint, Error> {
        let note = self.checkpoint_note(ledger, tree_size).await?;
        let checkpoint = verify::verify_checkpoint(&note, self.verifier()?)?;
        if !audit_core::origin_names_ledger(&checkpoint.origin, ledger) {
            return Err(Error::Verification(format!(
                "the checkpoint is of {}, not of ledger {ledger}",
                checkpoint.origin
            )));
        }
        if tree_size.is_some_and(|n| n != checkpoint.tree_size) {
            return Err(Error::Verification("the checkpoint is of another tree size than asked".into()));
        }
        Ok(checkpoint)
    }

    /// The RFC 9162 inclusion proof of leaf `seq` (default: in the current tree).
    pub async fn inclusion_proof(&self, ledger: &str, seq: u64, tree_size: Option<u64>) -> Result<Vec<Hash>, Error> {
        let size = tree_size.map(|n| format!("&tree_size={n}")).unwrap_or_default();
        let path = format!("/ledgers/{}/proofs/inclusion?seq={seq}{size}", url_escape(ledger));
        hashes(&self.transport().json(Method::GET, &path, None).await?["proof"])
    }

    /// The RFC 9162 consistency proof from size `from` to `to` (default: the current size).
    pub async fn consistency_proof(&self, ledger: &str, from: u64, to: Option<u64>) -> Result<Vec<Hash>, Error> {
        let to = to.map(|n| format!("&to={n}")).unwrap_or_default();
        let path = format!("/ledgers/{}/proofs/consistency?from={from}{to}", url_escape(ledger));
        hashes(&self.transport().json(Method::GET, &path, None).await?["proof"])
    }

    /// The tamper monitor's verdict on the ledger (`status`, `verified_size`, anomalies…).
    pub async fn integrity(&self, ledger: &str) -> Result<Value, Error> {
        self.transport().json(Method::GET, &format!("/ledgers/{}/integrity", url_escape(ledger)), None).await
    }

    /// The event's evidence file (FORMAT.md §12), for [`crate::verify_evidence`].
    pub async fn evidence(&self, ledger: &str, id: &str) -> Result<String, Error> {
        self.transport().text(&format!("/ledgers/{}/events/{}/evidence", url_escape(ledger), url_escape(id))).await
    }
}
