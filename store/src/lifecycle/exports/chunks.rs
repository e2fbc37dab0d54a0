//! An export file kept in the database as sealed chunks (`export_chunks`):
//! any server process can serve any export, and the decrypted events in it
//! are never at rest in clear. Each chunk is sealed with the ledger's
//! current data key, bound to its export, number and whether it is the
//! last ([`Dek::seal_chunk`]).

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use audit_core::Hash;
use sha2::{Digest as _, Sha256};

use super::records::ExportRecord;
use crate::crypto::records::{sealed_version, Dek};
use crate::db::{on_db, to_i64, Conn};
use crate::{Store, StoreError};

/// Bytes of file per chunk.
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

#[derive(Debug, Default)]
struct Buffer {
    current: Vec<u8>,
    full: VecDeque<Vec<u8>>,
    hasher: Sha256,
    bytes: u64,
}

/// Where the export's ZIP writer puts its bytes: they are cut into chunks
/// of [`CHUNK_BYTES`] and hashed as they pass; the job takes the full
/// chunks after each window ([`ChunkSink::take_full`]), so at most about
/// a window's worth is held.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChunkSink(Arc<Mutex<Buffer>>);

impl Write for ChunkSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut buffer = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        buffer.hasher.update(bytes);
        buffer.bytes += bytes.len() as u64;
        let mut rest = bytes;
        while !rest.is_empty() {
            let room = CHUNK_BYTES - buffer.current.len();
            let (now, later) = rest.split_at(room.min(rest.len()));
            buffer.current.extend_from_slice(now);
            rest = later;
            if buffer.current.len() == CHUNK_BYTES {
                let full = std::mem::replace(&mut buffer.current, Vec::with_capacity(CHUNK_BYTES));
                buffer.full.push_back(full);
            }
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl ChunkSink {
    /// The chunks filled since the last call.
    pub(crate) fn take_full(&self) -> Vec<Vec<u8>> {
        let mut buffer = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        buffer.full.drain(..).collect()
    }

    /// After the archive is closed: the chunks not taken yet (the last one
    /// possibly short or empty), the file's SHA-256 and its length.
    pub(crate) fn take_rest(&self) -> (Vec<Vec<u8>>, Hash, u64) {
        let mut buffer = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut rest: Vec<Vec<u8>> = buffer.full.drain(..).collect();
        rest.push(std::mem::take(&mut buffer.current));
        let hasher = std::mem::take(&mut buffer.hasher);
        (rest, Hash::from_bytes(hasher.finalize().into()), buffer.bytes)
    }
}

/// Writes chunk `n` of `export`, sealed.
pub(crate) async fn insert(
    conn: Conn<'_>,
    dek: &Dek,
    record: &ExportRecord,
    n: u64,
    last: bool,
    bytes: &[u8],
) -> Result<(), StoreError> {
    let sealed = dek.seal_chunk(record.ledger.as_str(), &record.id, n, last, bytes)?;
    on_db!(conn, |c| {
        sqlx::query("INSERT INTO export_chunks (export_id, n, sealed) VALUES ($1, $2, $3)")
            .bind(&record.id)
            .bind(to_i64(n)?)
            .bind(sealed.as_slice())
            .execute(&mut *c)
            .await?;
    });
    Ok(())
}

/// Removes every chunk of `export`.
pub(crate) async fn delete_all(conn: Conn<'_>, export: &str) -> Result<(), StoreError> {
    on_db!(conn, |c| {
        sqlx::query("DELETE FROM export_chunks WHERE export_id = $1").bind(export).execute(&mut *c).await?;
    });
    Ok(())
}

impl Store {
    /// Chunk `n` of a finished export's file, opened: the download streams
    /// them in order. A chunk that is missing or does not open is an
    /// integrity error (the file was altered in the database).
    pub async fn export_chunk(&self, record: &ExportRecord, n: u64) -> Result<Vec<u8>, StoreError> {
        if n >= record.chunks {
            return Err(StoreError::NotFound("export chunk"));
        }
        let sealed: Option<Vec<u8>> = on_db!(&self.db.pool, |p| {
            sqlx::query_scalar("SELECT sealed FROM export_chunks WHERE export_id = $1 AND n = $2")
                .bind(&record.id)
                .bind(to_i64(n)?)
                .fetch_optional(p)
                .await?
        });
        let missing = || StoreError::Integrity(format!("chunk {n} of export {} is missing", record.id));
        let sealed = sealed.ok_or_else(missing)?;
        let version = sealed_version(&sealed).ok_or_else(missing)?;
        let dek = self.keys.key(&record.ledger, version).await?;
        dek.open_chunk(record.ledger.as_str(), &record.id, n, n + 1 == record.chunks, &sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sink_cuts_full_chunks_and_hashes_every_byte() {
        let mut sink = ChunkSink::default();
        let data: Vec<u8> = (0..(2 * CHUNK_BYTES + 10)).map(|i| (i % 251) as u8).collect();
        sink.write_all(&data[..10]).expect("write");
        assert!(sink.take_full().is_empty());
        sink.write_all(&data[10..]).expect("write");
        let full = sink.take_full();
        assert_eq!(full.len(), 2);
        assert!(full.iter().all(|c| c.len() == CHUNK_BYTES));
        let (rest, sha256, bytes) = sink.take_rest();
        assert_eq!(rest, vec![data[2 * CHUNK_BYTES..].to_vec()]);
        assert_eq!(bytes, data.len() as u64);
        assert_eq!(sha256, Hash::digest(&data));
        let joined: Vec<u8> = full.into_iter().chain(rest).flatten().collect();
        assert_eq!(joined, data);
    }
}
