//! Test support for this crate's and other crates' tests (feature
//! `testing`): every database test gets a database of its own.

pub mod tampering;

use sqlx::Connection as _;

use crate::StoreError;

/// The variable naming the throw-away PostgreSQL server that the test
/// command starts (a URL whose user may create databases).
pub const POSTGRES_ENV: &str = "AUDITSTORE_TEST_POSTGRES_URL";

/// Creates an empty database with a unique name on the test PostgreSQL
/// server and returns its URL.
///
/// # Panics
/// When the variable is not set: PostgreSQL tests are part of the suite, and
/// silently skipping them would let a broken backend pass. Run the tests
/// through `make test`, which starts a server.
pub async fn fresh_postgres_url() -> Result<String, StoreError> {
    let admin = std::env::var(POSTGRES_ENV).unwrap_or_else(|_| {
        panic!("{POSTGRES_ENV} is not set: run the tests with `make test`, which starts PostgreSQL")
    });
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin).await?;
    // Roles are cluster-wide: databases migrating at the same time would
    // race to create the application role, so it is created here first.
    sqlx::raw_sql(
        "DO $$ BEGIN \
           IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'auditstore_app') THEN \
             CREATE ROLE auditstore_app NOLOGIN; \
           END IF; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; \
         END $$",
    )
    .execute(&mut conn)
    .await?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await?;
    conn.close().await?;
    Ok(replace_database(&admin, &name))
}

/// Applies only the migrations older than `version` to the database at
/// `url`, as a release of that time left it (they are copied to `scratch`,
/// an empty directory, first): upgrade tests fill it the old way and then
/// open it with [`crate::Store::open`], which applies the rest.
pub async fn migrate_before(url: &str, version: i64, scratch: &std::path::Path) -> Result<(), StoreError> {
    let sqlite = url.starts_with("sqlite:");
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations").join(if sqlite {
        "sqlite"
    } else {
        "postgres"
    });
    let io = |e: std::io::Error| StoreError::Invalid(format!("copying the migrations: {e}"));
    for entry in std::fs::read_dir(&source).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if name.split('_').next().and_then(|v| v.parse::<i64>().ok()).is_some_and(|of| of < version) {
            std::fs::copy(&path, scratch.join(&name)).map_err(io)?;
        }
    }
    let migrator = sqlx::migrate::Migrator::new(scratch).await?;
    if sqlite {
        use std::str::FromStr as _;
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?.create_if_missing(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
        migrator.run(&mut conn).await?;
        conn.close().await?;
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        migrator.run(&mut conn).await?;
        conn.close().await?;
    }
    Ok(())
}

/// Runs raw SQL against a database behind the application's back, the way
/// an attacker with database access (or a broken disk) would: tests use it to
/// check that tampering and lost tables are noticed.
pub async fn execute_raw(url: &str, sql: &str) -> Result<u64, StoreError> {
    let rows = if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await?;
        let result = sqlx::raw_sql(sql).execute(&mut conn).await?;
        conn.close().await?;
        result.rows_affected()
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        let result = sqlx::raw_sql(sql).execute(&mut conn).await?;
        conn.close().await?;
        result.rows_affected()
    };
    Ok(rows)
}

/// Edits event rows behind the application's back, as an attacker with
/// database access would: the immutability triggers are bypassed for the
/// statements (dropped on SQLite; PostgreSQL's replication role, which
/// needs the test server's superuser), so what a read does with an edited
/// row can be tested.
pub async fn tamper(url: &str, sql: &str) -> Result<u64, StoreError> {
    if url.starts_with("sqlite:") {
        execute_raw(url, &format!("DROP TRIGGER IF EXISTS events_refuse_update; {sql}")).await
    } else {
        execute_raw(url, &format!("SET session_replication_role = replica; {sql}")).await
    }
}

/// A BLOB literal of `bytes` in the dialect of `url`.
pub fn blob_literal(url: &str, bytes: &[u8]) -> String {
    if url.starts_with("sqlite:") {
        format!("X'{}'", hex::encode(bytes))
    } else {
        format!("'\\x{}'::bytea", hex::encode(bytes))
    }
}

/// The record of event `seq` re-sealed in format 1 (associated data of
/// ledger, seq and key version only), as releases before the hardening
/// wrote it: to be written over the row with [`tamper`].
pub async fn record_in_format_1(
    store: &crate::Store,
    ledger: &audit_core::LedgerId,
    seq: u64,
) -> Result<Vec<u8>, StoreError> {
    let sql = format!("SELECT {} FROM events WHERE ledger_id = $1 AND seq = $2", crate::ledger::event_rows::COLUMNS);
    let raw = crate::db::on_db!(&store.db.pool, |p| {
        let row = sqlx::query(&sql).bind(ledger.as_str()).bind(crate::db::to_i64(seq)?).fetch_one(p).await?;
        crate::ledger::event_rows::raw_event(&row)?
    });
    let record = raw.content.as_deref().ok_or(StoreError::NotFound("event content"))?;
    let plain = store.keys.open(ledger, &raw.binding(), record).await?;
    let version = crate::crypto::records::sealed_version(record).ok_or(StoreError::Corrupt("not a sealed record"))?;
    let dek = store.keys.key(ledger, version).await?;
    dek.seal_as(crate::crypto::records::SEALED_V1, ledger.as_str(), &raw.binding(), &plain)
}

/// Edits the ledger tables (events, Merkle nodes, checkpoints, heads)
/// behind the application's back with every guard on them off, as an owner
/// of the database can: their SQLite triggers dropped, PostgreSQL's
/// replication role (which needs the test server's superuser).
pub async fn tamper_freely(url: &str, sql: &str) -> Result<u64, StoreError> {
    if url.starts_with("sqlite:") {
        let triggers = fetch_texts(
            url,
            "SELECT name FROM sqlite_master WHERE type = 'trigger' \
             AND tbl_name IN ('events', 'merkle_nodes', 'checkpoints', 'ledger_heads')",
        )
        .await?;
        let drops: String = triggers.iter().map(|t| format!("DROP TRIGGER \"{t}\"; ")).collect();
        execute_raw(url, &format!("{drops}{sql}")).await
    } else {
        execute_raw(url, &format!("SET session_replication_role = replica; {sql}")).await
    }
}

/// Reads one BLOB column through raw SQL (what an attacker with database
/// access sees), for tests that look for key material.
pub async fn fetch_blobs(url: &str, sql: &str) -> Result<Vec<Vec<u8>>, StoreError> {
    let rows = if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await?;
        let rows: Vec<Vec<u8>> = sqlx::query_scalar(sql).fetch_all(&mut conn).await?;
        conn.close().await?;
        rows
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        let rows: Vec<Vec<u8>> = sqlx::query_scalar(sql).fetch_all(&mut conn).await?;
        conn.close().await?;
        rows
    };
    Ok(rows)
}

/// Reads one TEXT column through raw SQL: what the rows say, as the
/// database holds them, with no process of ours in between.
pub async fn fetch_texts(url: &str, sql: &str) -> Result<Vec<String>, StoreError> {
    let rows = if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await?;
        let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(&mut conn).await?;
        conn.close().await?;
        rows
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(&mut conn).await?;
        conn.close().await?;
        rows
    };
    Ok(rows)
}

/// A SQLite URL for a new file in `dir`.
pub fn sqlite_url_in(dir: &std::path::Path) -> String {
    format!("sqlite:{}", dir.join("auditstore.db").display())
}

fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// The local key provider with one fixed test KEK.
pub fn local_keys() -> crate::KeyProvider {
    local_keys_from(&[7])
}

/// The local key provider with fixed KEKs made of these bytes, oldest first.
pub fn local_keys_from(seeds: &[u8]) -> crate::KeyProvider {
    let keys = seeds.iter().map(|s| zeroize::Zeroizing::new([*s; 32])).collect();
    crate::KeyProvider::Local(crate::LocalKeks::new(keys).unwrap_or_else(|e| panic!("test keys: {e}")))
}

/// Options for a test store: the fixed test KEK, host `test.local`.
pub fn options() -> crate::StoreOptions {
    options_with(local_keys())
}

/// Options for a test store with the given key provider.
pub fn options_with(keys: crate::KeyProvider) -> crate::StoreOptions {
    crate::StoreOptions { keys, public_host: "test.local".into(), legacy_signing_key: None }
}

/// A KMS client for the KMS-compatible endpoint the test command starts
/// (moto, at `AWS_ENDPOINT_URL_KMS`; it accepts any credentials).
///
/// # Panics
/// When the variable is not set: run the tests with `make test`.
pub fn kms_client() -> aws_sdk_kms::Client {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_KMS").unwrap_or_else(|_| {
        panic!("AWS_ENDPOINT_URL_KMS is not set: run the tests with `make test`, which starts moto")
    });
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
        .region(aws_sdk_kms::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_kms::config::Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

/// The S3-compatible endpoint the test command starts (moto, which serves
/// S3 beside KMS: `AWS_ENDPOINT_URL_S3`, else the KMS one).
///
/// # Panics
/// When neither variable is set: run the tests with `make test`.
pub fn s3_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_S3")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL_KMS"))
        .unwrap_or_else(|_| panic!("AWS_ENDPOINT_URL_S3 is not set: run the tests with `make test`, which starts moto"))
}

/// An S3 client for [`s3_endpoint`], addressing buckets by path.
pub fn s3_client() -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(s3_endpoint())
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Creates a bucket of its own for one test and returns its name.
pub async fn fresh_bucket(client: &aws_sdk_s3::Client) -> String {
    let name = format!("audit-{}", uuid::Uuid::now_v7().simple());
    client
        .create_bucket()
        .bucket(&name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("cannot create bucket {name}: {}", aws_sdk_s3::error::DisplayErrorContext(e)));
    name
}

/// Makes ledger writers end after `idle` without requests (instead of
/// minutes), and returns how many writer tasks are alive now.
pub fn writers(store: &crate::Store, idle: Option<std::time::Duration>) -> usize {
    if let Some(idle) = idle {
        let ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
        store.ingest.writer_idle_ms.store(ms, std::sync::atomic::Ordering::Relaxed);
    }
    store.ingest.active_writers()
}

/// Skips (or resumes) the drain of the system-event outbox after each
/// change, as if the process died after the change's commit and before its
/// system event was appended.
pub fn pause_outbox(store: &crate::Store, paused: bool) {
    store.ingest.outbox_paused.store(paused, std::sync::atomic::Ordering::Relaxed);
}

/// Makes every archival stop right after writing its file (`true`), as if
/// the process died between the file and the transaction.
pub fn crash_archival_after_write(store: &crate::Store, crash: bool) {
    store.ingest.archival_crashes.store(crash, std::sync::atomic::Ordering::Relaxed);
}

/// The origin tests make changes as.
pub fn origin() -> crate::Origin {
    crate::Origin::new(crate::Actor::Cli("test"))
}

/// Benchmarks only: store new events unsealed, so the cost of sealing can be
/// measured against the same pipeline without it.
pub fn set_sealing(store: &crate::Store, on: bool) {
    store.keys.plaintext.store(!on, std::sync::atomic::Ordering::Relaxed);
}

/// The benchmark baseline: inserts `contents.len()` event rows (with their
/// five filter-term rows) into `ledger` in transactions of `batch` rows, the
/// way a plain application would, without hashing, Merkle nodes or
/// checkpoints. The hashes stored are placeholders derived from the
/// position; the rows are the same size as real ones.
pub async fn raw_insert_baseline(
    store: &crate::Store,
    ledger: &crate::Ledger,
    contents: &[Vec<u8>],
    batch: usize,
) -> Result<(), StoreError> {
    let ledger_id = ledger.id.as_str();
    let number: i64 = crate::db::on_db!(&store.db.pool, |p| {
        sqlx::query_scalar("SELECT number FROM ledgers WHERE id = $1").bind(ledger_id).fetch_one(p).await?
    });
    let received = crate::now_ms();
    let mut seq = 0i64;
    for chunk in contents.chunks(batch.max(1)) {
        crate::db::on_db!(&store.db.pool, |p| {
            let mut tx = p.begin().await?;
            let rows: Vec<(i64, &Vec<u8>, [u8; 32])> = chunk
                .iter()
                .map(|content| {
                    let mut hash = [0u8; 32];
                    hash[..8].copy_from_slice(&seq.to_be_bytes());
                    seq += 1;
                    (seq - 1, content, hash)
                })
                .collect();
            for part in rows.chunks(500) {
                let mut query = sqlx::QueryBuilder::new(
                    "INSERT INTO events (ledger_id, seq, event_id, occurred_ms, received_ms, content, leaf_hash, chain_hash) ",
                );
                query.push_values(part, |mut b, (seq, content, hash)| {
                    b.push_bind(ledger_id)
                        .push_bind(*seq)
                        .push_bind(format!("raw-{seq}"))
                        .push_bind(received)
                        .push_bind(received)
                        .push_bind(content.as_slice())
                        .push_bind(hash.as_slice())
                        .push_bind(hash.as_slice());
                });
                query.build().execute(&mut *tx).await?;
                let mut terms = sqlx::QueryBuilder::new("INSERT INTO event_terms (ledger, term, seq) ");
                let term_rows: Vec<(i64, crate::crypto::records::Term)> = part
                    .iter()
                    .flat_map(|(seq, _, _)| {
                        (0u8..5).map(move |field| {
                            let mut term = [0u8; crate::crypto::records::TERM_LEN];
                            term[0] = field;
                            term[1..9].copy_from_slice(&(seq % 1000).to_be_bytes());
                            (*seq, term)
                        })
                    })
                    .collect();
                terms.push_values(&term_rows, |mut b, (seq, term)| {
                    b.push_bind(number).push_bind(term.as_slice()).push_bind(*seq);
                });
                terms.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
    }
    Ok(())
}

/// The table the ceiling inserts into: the events table's columns, primary
/// key and unique event id index, without AuditStore's triggers. The
/// benchmark hands it to `scripts/sqlite_ceiling.py` too, so both ceilings
/// measure one schema.
pub const CEILING_SCHEMA: &str = "CREATE TABLE events (ledger_id TEXT NOT NULL, seq INTEGER NOT NULL, \
     event_id TEXT NOT NULL, occurred_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL, content BLOB, \
     leaf_hash BLOB NOT NULL, chain_hash BLOB NOT NULL, PRIMARY KEY (ledger_id, seq)) WITHOUT ROWID; \
     CREATE UNIQUE INDEX events_by_event_id ON events (ledger_id, event_id);";

/// The sustained benchmark's ceiling: SQLite's own bulk insert of event
/// rows like ours into a fresh file at `path` (WAL, synchronous=FULL, the
/// primary key and the unique event id index, transactions of `batch`
/// rows), with nothing of AuditStore in the way. `contents` are the rows'
/// content; ids, times and hashes are derived from the position.
pub async fn sqlite_bulk_insert(path: &std::path::Path, contents: &[Vec<u8>], batch: usize) -> Result<(), StoreError> {
    use std::str::FromStr as _;
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&format!("sqlite:{}", path.display()))?
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Full);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    sqlx::raw_sql(CEILING_SCHEMA).execute(&mut conn).await?;
    let mut seq = 0i64;
    for chunk in contents.chunks(batch.max(1)) {
        let mut tx = conn.begin().await?;
        for part in chunk.chunks(500) {
            let mut query = sqlx::QueryBuilder::new(
                "INSERT INTO events (ledger_id, seq, event_id, occurred_ms, received_ms, content, leaf_hash, chain_hash) ",
            );
            query.push_values(part, |mut b, content| {
                let hash = crate::now_ms().to_be_bytes().repeat(4);
                b.push_bind("ldg_ceiling")
                    .push_bind(seq)
                    .push_bind(uuid::Uuid::now_v7().to_string())
                    .push_bind(seq)
                    .push_bind(seq)
                    .push_bind(content.as_slice())
                    .push_bind(hash.clone())
                    .push_bind(hash);
                seq += 1;
            });
            query.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
    }
    conn.close().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn the_database_name_is_replaced_and_the_query_kept() {
        assert_eq!(
            replace_database("postgres://u@127.0.0.1:5/postgres?host=/tmp", "t_1"),
            "postgres://u@127.0.0.1:5/t_1?host=/tmp"
        );
        assert_eq!(replace_database("postgres://u@h:5", "t_1"), "postgres://u@h:5/t_1");
    }
}
