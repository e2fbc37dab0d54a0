//! Dashboard sessions in the same database as everything else
//! (tower-sessions-sqlx-store), so every server process behind a load
//! balancer sees every session. The tables are created by our migrations,
//! never by the library, so the application role needs no DDL rights.
//! Rows are keyed by a hash of the session id, never the id itself.

use sha2::{Digest as _, Sha256};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;

use crate::crypto::secrets::CSRF_SECRET;
use crate::db::PerBackend;
use crate::{Store, StoreError};

/// The session store of a [`Store`]'s database.
#[derive(Debug, Clone)]
pub enum Sessions {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Store {
    /// The dashboard's session store, on this store's database.
    pub fn sessions(&self) -> Sessions {
        match &self.db.pool {
            PerBackend::Sqlite(pool) => Sessions::Sqlite(SqliteStore::new(pool.clone())),
            PerBackend::Postgres(pool) => Sessions::Postgres(PostgresStore::new(pool.clone())),
        }
    }
}

/// The id a session is stored under: the first 128 bits of SHA-256 of the
/// id in its cookie. Someone who reads the sessions table (a backup, a
/// replica, SQL access) learns no cookie to present; the cookie's id is
/// 128 random bits, so the hash cannot be reversed by guessing.
fn stored_id(id: &Id) -> Id {
    let digest = Sha256::digest(id.0.to_le_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    Id(i128::from_le_bytes(first))
}

/// `record` as it is stored: under the hash of its id.
fn stored(record: &Record) -> Record {
    Record { id: stored_id(&record.id), ..record.clone() }
}

impl Sessions {
    fn inner(&self) -> &dyn SessionStore {
        match self {
            Sessions::Sqlite(store) => store,
            Sessions::Postgres(store) => store,
        }
    }
}

/// The associated data of an anonymous CSRF cookie: it opens as nothing else.
const CSRF_AAD: &[u8] = b"auditstore/anonymous-csrf/v1";

impl Store {
    /// A CSRF token for a dashboard visitor without a session, and the
    /// cookie value that vouches for it: the token sealed under an instance
    /// secret (a signed double-submit cookie, OWASP CSRF Prevention Cheat
    /// Sheet), so anonymous visitors cost no session row.
    pub async fn anonymous_csrf(&self) -> Result<(String, String), StoreError> {
        let sealer = self.keys.secret_box(CSRF_SECRET).await?;
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = hex::encode(bytes);
        let cookie = URL_SAFE_NO_PAD.encode(sealer.seal(CSRF_AAD, token.as_bytes())?);
        Ok((token, cookie))
    }

    /// The token a cookie from [`Store::anonymous_csrf`] vouches for;
    /// `None` for a cookie this instance did not seal, or altered.
    pub async fn anonymous_csrf_token(&self, cookie: &str) -> Result<Option<String>, StoreError> {
        let Ok(sealed) = URL_SAFE_NO_PAD.decode(cookie) else { return Ok(None) };
        let sealer = self.keys.secret_box(CSRF_SECRET).await?;
        Ok(sealer.open(CSRF_AAD, &sealed).and_then(|token| String::from_utf8(token.to_vec()).ok()))
    }
}

#[async_trait::async_trait]
impl SessionStore for Sessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            let mut row = stored(record);
            let want = row.id;
            self.inner().create(&mut row).await?;
            // The library picks another id when the stored one is taken;
            // that row's cookie id is unknowable, so start over with a new
            // one (with 128-bit ids this does not happen in practice).
            if row.id == want {
                return Ok(());
            }
            self.inner().delete(&row.id).await?;
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.inner().save(&stored(record)).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let record = self.inner().load(&stored_id(id)).await?;
        Ok(record.map(|record| Record { id: *id, ..record }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.inner().delete(&stored_id(id)).await
    }
}

#[async_trait::async_trait]
impl ExpiredDeletion for Sessions {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match self {
            Sessions::Sqlite(store) => store.delete_expired().await,
            Sessions::Postgres(store) => store.delete_expired().await,
        }
    }
}
