//! Dashboard users: argon2id passwords, TOTP (RFC 6238) with single-use
//! codes, recovery codes, lockout after repeated failures, single-use setup
//! and invite links, roles, and the session generation that signs a user out
//! everywhere.
//!
//! TOTP secrets are sealed with AES-256-GCM under an instance secret that the
//! key provider wraps (so a KEK rotation re-wraps it with everything else);
//! the user id is the associated data, so a secret copied to another user's
//! row does not open.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use argon2::{PasswordHasher as _, PasswordVerifier as _};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::accounts::AccountId;
use crate::{now_ms, on_pool, Store, StoreError};

/// The instance secret that seals TOTP secrets.
const TOTP_SEALING_SECRET: &str = "dashboard-totp-sealing-key";
const NONCE_LEN: usize = 12;
/// How many recovery codes an enrolment hands out.
pub const RECOVERY_CODES: usize = 10;
/// Shortest password accepted (NIST SP 800-63B asks for at least 8; we ask
/// for more because nothing else stands between a leaked TOTP seed and an
/// account).
pub const MIN_PASSWORD_CHARS: usize = 12;
const MAX_PASSWORD_BYTES: usize = 1024;
const MAX_EMAIL_LEN: usize = 254;

/// A user's id: `usr_` and a UUIDv7 in hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    fn generate() -> Self {
        Self(format!("usr_{}", uuid::Uuid::now_v7().simple()))
    }

    /// Parses an id as shown in URLs and forms.
    pub fn parse(s: &str) -> Option<Self> {
        let hex = s.strip_prefix("usr_")?;
        (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Self(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a dashboard user may do. Each role includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads, verifies and exports.
    Auditor,
    /// Also manages ledgers and API keys (later holds and retention).
    Admin,
    /// Also manages users.
    Owner,
}

impl Role {
    /// The role's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }

    /// Parses a role name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "auditor" => Some(Role::Auditor),
            _ => None,
        }
    }

    /// Whether this role may do what `needed` may.
    pub fn includes(self, needed: Role) -> bool {
        self.rank() >= needed.rank()
    }

    fn rank(self) -> u8 {
        match self {
            Role::Auditor => 1,
            Role::Admin => 2,
            Role::Owner => 3,
        }
    }
}

/// A dashboard user.
#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub account_id: AccountId,
    pub email: String,
    pub role: Role,
    /// Whether TOTP enrolment was confirmed; until then the user cannot
    /// sign in.
    pub totp_active: bool,
    /// Sessions opened in an older generation are no longer valid.
    pub session_generation: i64,
    pub created_ms: i64,
    pub locked_until_ms: i64,
}

/// The secret of a setup or invite link; only its SHA-256 is stored.
pub struct LinkToken(String);

impl std::fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkToken(..)")
    }
}

impl LinkToken {
    fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(hex::encode(bytes))
    }

    /// The token as it goes into the link.
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn hash(token: &str) -> Vec<u8> {
        Sha256::digest(token.trim().as_bytes()).to_vec()
    }
}

/// Which kind of single-use link creates a user.
#[derive(Debug, Clone, Copy)]
enum LinkKind {
    /// The first-run link: the account's first owner.
    Setup,
    /// An owner's invite.
    Invite,
}

impl LinkKind {
    fn as_str(self) -> &'static str {
        match self {
            LinkKind::Setup => "setup",
            LinkKind::Invite => "invite",
        }
    }

    /// The refusal of a link of this kind that cannot be used.
    fn invalid(self) -> StoreError {
        StoreError::Invalid(
            match self {
                LinkKind::Setup => "this setup link is not valid (used, expired or replaced)",
                LinkKind::Invite => "this invite link is not valid (used or expired)",
            }
            .into(),
        )
    }
}

/// A user about to be created by a link.
struct NewUser<'a> {
    account: &'a AccountId,
    email: &'a str,
    password_hash: &'a str,
    role: Role,
}

/// What an invite link grants, shown before it is accepted.
#[derive(Debug, Clone)]
pub struct Invite {
    pub account_id: AccountId,
    pub email: String,
    pub role: Role,
    pub expires_ms: i64,
}

/// What an authenticator app needs to enrol (RFC 6238, `otpauth://` URI).
pub struct TotpEnrolment {
    /// The secret in base32, for typing in by hand.
    pub secret_base32: String,
    pub otpauth_url: String,
    /// A PNG of the QR code of `otpauth_url`, base64.
    pub qr_png_base64: String,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrolment(..)")
    }
}

/// Why a sign-in was refused. The dashboard shows the same message for
/// every reason; the reason goes only into the system ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInFailure {
    UnknownEmail,
    BadPassword,
    BadCode,
    /// A TOTP code of a time step already used (RFC 6238 §5.2).
    ReusedCode,
    /// The password was right but TOTP enrolment was never confirmed (the
    /// caller lets the user finish it).
    NotEnrolled,
    /// Too many failures in a row; refused until `until_ms`.
    Locked {
        until_ms: i64,
    },
}

impl SignInFailure {
    /// The reason as recorded in the system ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            SignInFailure::UnknownEmail => "unknown_email",
            SignInFailure::BadPassword => "bad_password",
            SignInFailure::BadCode => "bad_code",
            SignInFailure::ReusedCode => "reused_code",
            SignInFailure::NotEnrolled => "not_enrolled",
            SignInFailure::Locked { .. } => "locked",
        }
    }
}

/// A refused sign-in, with the user when the email was known.
#[derive(Debug, Clone)]
pub struct SignInRefused {
    pub user: Option<User>,
    pub reason: SignInFailure,
}

/// When repeated failures lock a user out.
#[derive(Debug, Clone, Copy)]
pub struct Lockout {
    /// Failures in a row that lock the user.
    pub max_failures: u32,
    /// How long the lock lasts.
    pub duration_ms: i64,
}

impl Default for Lockout {
    fn default() -> Self {
        Self { max_failures: 5, duration_ms: 15 * 60 * 1000 }
    }
}

/// How the second factor was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    Totp,
    RecoveryCode,
}

/// Normalises and checks an email address (lower-cased, one `@`, no spaces).
pub fn normalize_email(email: &str) -> Result<String, StoreError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= MAX_EMAIL_LEN
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split('@').count() == 2
        && email.split('@').all(|part| !part.is_empty());
    if valid {
        Ok(email)
    } else {
        Err(StoreError::Invalid("the email address is not valid".into()))
    }
}

fn check_password(password: &str) -> Result<(), StoreError> {
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

/// Hashes on a blocking thread: argon2id takes tens of milliseconds on
/// purpose and must not stall the async workers.
async fn hash_password(password: &str) -> Result<String, StoreError> {
    check_password(password)?;
    let password = Zeroizing::new(password.as_bytes().to_vec());
    tokio::task::spawn_blocking(move || {
        hasher()?
            .hash_password(&password)
            .map(|hash| hash.to_string())
            .map_err(|e| StoreError::Invalid(format!("password hashing failed: {e}")))
    })
    .await
    .map_err(|e| StoreError::Invalid(format!("password hashing task failed: {e}")))?
}

async fn verify_password(password: &str, hash: String) -> bool {
    let password = Zeroizing::new(password.as_bytes().to_vec());
    tokio::task::spawn_blocking(move || {
        hasher().is_ok_and(|hasher| hasher.verify_password(&password, hash.as_str()).is_ok())
    })
    .await
    .unwrap_or(false)
}

/// A hash of a password nobody has, verified for unknown emails so that the
/// answer takes as long as for a known one.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$V6F1t4hvBf5E0FqXPSaIWw0s3CpGyPqkK7IbPXVyb1U";

fn totp(secret: &[u8], email: &str) -> Result<totp_rs::Totp, StoreError> {
    totp_rs::Builder::new()
        .with_secret(secret.to_vec())
        .with_skew(1)
        .with_issuer(Some("AuditStore"))
        .with_account_name(email)
        .build()
        .map_err(|e| StoreError::Invalid(format!("TOTP parameters: {e}")))
}

/// Keeps only the characters a code is made of: people type spaces and
/// dashes.
fn normalize_code(code: &str) -> String {
    code.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

fn recovery_code() -> String {
    let mut bytes = [0u8; 10];
    rand::rng().fill_bytes(&mut bytes);
    let hex = hex::encode(bytes);
    format!("{}-{}-{}-{}", &hex[0..5], &hex[5..10], &hex[10..15], &hex[15..20])
}

fn recovery_hash(code: &str) -> Vec<u8> {
    Sha256::digest(normalize_code(code).as_bytes()).to_vec()
}

fn totp_aad(user: &UserId) -> Vec<u8> {
    format!("auditstore/v1/totp-secret:{user}").into_bytes()
}

const USER_COLUMNS: &str =
    "id, account_id, email, role, totp_active, session_generation, created_ms, locked_until_ms, password_hash";

struct UserRow {
    user: User,
    password_hash: String,
}

type UserTuple = (String, String, String, String, bool, i64, i64, i64, String);

fn user_from_row(row: UserTuple) -> Result<UserRow, StoreError> {
    let (id, account_id, email, role, totp_active, session_generation, created_ms, locked_until_ms, password_hash) =
        row;
    Ok(UserRow {
        user: User {
            id: UserId(id),
            account_id: AccountId::from_stored(account_id),
            email,
            role: Role::parse(&role).ok_or(StoreError::Corrupt("unknown role"))?,
            totp_active,
            session_generation,
            created_ms,
            locked_until_ms,
        },
        password_hash,
    })
}

impl Store {
    /// Whether any dashboard user exists (the first-run setup link is
    /// offered only while none does).
    pub async fn users_exist(&self) -> Result<bool, StoreError> {
        let n: i64 = on_pool!(&self.pool, |p| { sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(p).await? });
        Ok(n > 0)
    }

    /// A fresh first-run setup link, valid for `ttl_ms`, or `None` when a
    /// user exists already. Earlier unused setup links stop working: only
    /// the one last printed is valid.
    pub async fn create_setup_link(&self, ttl_ms: i64) -> Result<Option<LinkToken>, StoreError> {
        if self.users_exist().await? {
            return Ok(None);
        }
        let token = LinkToken::generate();
        let now = now_ms();
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE user_links SET expires_ms = $1 WHERE kind = 'setup' AND used_ms IS NULL")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO user_links (token_hash, kind, created_ms, expires_ms) VALUES ($1, 'setup', $2, $3)",
            )
            .bind(LinkToken::hash(token.expose()))
            .bind(now)
            .bind(now.saturating_add(ttl_ms))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(Some(token))
    }

    /// Whether `token` is a setup link that can still be used.
    pub async fn setup_link_valid(&self, token: &str) -> Result<bool, StoreError> {
        let hash = LinkToken::hash(token);
        let n: i64 = on_pool!(&self.pool, |p| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM user_links WHERE token_hash = $1 AND kind = 'setup' \
                 AND used_ms IS NULL AND expires_ms > $2",
            )
            .bind(&hash)
            .bind(now_ms())
            .fetch_one(p)
            .await?
        });
        Ok(n == 1 && !self.users_exist().await?)
    }

    /// Uses a setup link: creates (or takes) the account `account_name` and
    /// its first user, an owner whose TOTP enrolment is still to come. The
    /// link is consumed in the same transaction that creates the user, and
    /// only while no user exists.
    pub async fn complete_setup(
        &self,
        token: &str,
        account_name: &str,
        email: &str,
        password: &str,
    ) -> Result<User, StoreError> {
        let email = normalize_email(email)?;
        check_password(password)?;
        if !self.setup_link_valid(token).await? {
            return Err(LinkKind::Setup.invalid());
        }
        let hash = hash_password(password).await?;
        let (account, _) = self.ensure_account(account_name).await?;
        let user = NewUser { account: &account.id, email: &email, password_hash: &hash, role: Role::Owner };
        self.redeem_link(LinkKind::Setup, token, user).await
    }

    /// Creates a single-use invite link for `email` to join `account` as
    /// `role`, valid for `ttl_ms`.
    pub async fn create_invite(
        &self,
        account: &AccountId,
        email: &str,
        role: Role,
        created_by: &UserId,
        ttl_ms: i64,
    ) -> Result<LinkToken, StoreError> {
        let email = normalize_email(email)?;
        if self.user_by_email(&email).await?.is_some() {
            return Err(StoreError::Conflict("a user with this email exists already".into()));
        }
        let token = LinkToken::generate();
        let now = now_ms();
        on_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO user_links (token_hash, kind, account_id, email, role, created_by, created_ms, expires_ms) \
                 VALUES ($1, 'invite', $2, $3, $4, $5, $6, $7)",
            )
            .bind(LinkToken::hash(token.expose()))
            .bind(account.as_str())
            .bind(&email)
            .bind(role.as_str())
            .bind(created_by.as_str())
            .bind(now)
            .bind(now.saturating_add(ttl_ms))
            .execute(p)
            .await?;
        });
        Ok(token)
    }

    /// The invite behind `token`, if it can still be used: unused, not
    /// expired, and its creator is still an owner of the account (an invite
    /// dies with its creator's rights).
    pub async fn invite(&self, token: &str) -> Result<Option<Invite>, StoreError> {
        let row: Option<(String, String, String, i64)> = on_pool!(&self.pool, |p| {
            sqlx::query_as(
                "SELECT l.account_id, l.email, l.role, l.expires_ms FROM user_links l \
                 JOIN users c ON c.id = l.created_by AND c.account_id = l.account_id \
                 WHERE l.token_hash = $1 AND l.kind = 'invite' AND l.used_ms IS NULL AND l.expires_ms > $2 \
                 AND c.role = 'owner' AND c.removed_ms IS NULL",
            )
            .bind(LinkToken::hash(token))
            .bind(now_ms())
            .fetch_optional(p)
            .await?
        });
        let Some((account, email, role, expires_ms)) = row else { return Ok(None) };
        Ok(Some(Invite {
            account_id: AccountId::from_stored(account),
            email,
            role: Role::parse(&role).ok_or(StoreError::Corrupt("unknown role"))?,
            expires_ms,
        }))
    }

    /// Accepts an invite: creates its user (TOTP enrolment still to come)
    /// and consumes the link in one transaction.
    pub async fn accept_invite(&self, token: &str, password: &str) -> Result<User, StoreError> {
        check_password(password)?;
        let invite = self.invite(token).await?.ok_or_else(|| LinkKind::Invite.invalid())?;
        let hash = hash_password(password).await?;
        let user =
            NewUser { account: &invite.account_id, email: &invite.email, password_hash: &hash, role: invite.role };
        self.redeem_link(LinkKind::Invite, token, user).await
    }

    /// Consumes the link `token` of `kind` and creates `user`, in one
    /// transaction: both happen or neither. A setup link works only while
    /// no user exists.
    async fn redeem_link(&self, kind: LinkKind, token: &str, user: NewUser<'_>) -> Result<User, StoreError> {
        let id = UserId::generate();
        let token_hash = LinkToken::hash(token);
        let now = now_ms();
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin().await?;
            let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&mut *tx).await?;
            let used = sqlx::query(
                "UPDATE user_links SET used_ms = $1 WHERE token_hash = $2 AND kind = $3 \
                 AND used_ms IS NULL AND expires_ms > $1",
            )
            .bind(now)
            .bind(&token_hash)
            .bind(kind.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if used != 1 || (matches!(kind, LinkKind::Setup) && users > 0) {
                return Err(kind.invalid());
            }
            sqlx::query(
                "INSERT INTO users (id, account_id, email, password_hash, role, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id.as_str())
            .bind(user.account.as_str())
            .bind(user.email)
            .bind(user.password_hash)
            .bind(user.role.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::conflict_on_unique(e, || "a user with this email exists already".into()))?;
            tx.commit().await?;
        });
        self.user(&id).await
    }

    /// A user by id, removed users excluded.
    pub async fn user(&self, id: &UserId) -> Result<User, StoreError> {
        let row = on_pool!(&self.pool, |p| {
            sqlx::query_as::<_, UserTuple>(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND removed_ms IS NULL"
            ))
            .bind(id.as_str())
            .fetch_optional(p)
            .await?
            .map(user_from_row)
            .transpose()?
        });
        row.map(|r| r.user).ok_or(StoreError::NotFound("user"))
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>, StoreError> {
        Ok(on_pool!(&self.pool, |p| {
            sqlx::query_as::<_, UserTuple>(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE email = $1 AND removed_ms IS NULL"
            ))
            .bind(email)
            .fetch_optional(p)
            .await?
            .map(user_from_row)
            .transpose()?
        }))
    }

    /// The users of an account, oldest first.
    pub async fn list_users(&self, account: &AccountId) -> Result<Vec<User>, StoreError> {
        let rows = on_pool!(&self.pool, |p| {
            sqlx::query_as::<_, UserTuple>(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE account_id = $1 AND removed_ms IS NULL ORDER BY created_ms, id"
            ))
            .bind(account.as_str())
            .fetch_all(p)
            .await?
            .into_iter()
            .map(user_from_row)
            .collect::<Result<Vec<_>, _>>()?
        });
        Ok(rows.into_iter().map(|r| r.user).collect())
    }

    /// Starts (or restarts) TOTP enrolment for a user who has not confirmed
    /// one yet: a new secret, stored sealed and inactive.
    pub async fn begin_totp_enrolment(&self, id: &UserId) -> Result<TotpEnrolment, StoreError> {
        let user = self.user(id).await?;
        if user.totp_active {
            return Err(StoreError::Conflict("TOTP is already enrolled for this user".into()));
        }
        let secret = Zeroizing::new(totp_rs::Secret::generate().as_bytes().to_vec());
        let totp = totp(&secret, &user.email)?;
        let sealed = self.seal_totp_secret(id, &secret).await?;
        let updated = on_pool!(&self.pool, |p| {
            sqlx::query("UPDATE users SET totp_secret = $1 WHERE id = $2 AND totp_active = $3 AND removed_ms IS NULL")
                .bind(sealed.as_slice())
                .bind(id.as_str())
                .bind(false)
                .execute(p)
                .await?
                .rows_affected()
        });
        if updated != 1 {
            return Err(StoreError::Conflict("TOTP is already enrolled for this user".into()));
        }
        Ok(TotpEnrolment {
            secret_base32: totp_rs::Secret::from(secret.to_vec()).to_base32(),
            otpauth_url: totp.to_url().map_err(|e| StoreError::Invalid(format!("TOTP URL: {e}")))?,
            qr_png_base64: totp.to_qr_base64().map_err(|e| StoreError::Invalid(format!("TOTP QR code: {e}")))?,
        })
    }

    /// Confirms TOTP enrolment with a code from the authenticator: the
    /// enrolment becomes active, the code's step counts as used, and
    /// [`RECOVERY_CODES`] new recovery codes are returned (shown once, stored
    /// only hashed).
    pub async fn confirm_totp_enrolment(&self, id: &UserId, code: &str) -> Result<Vec<String>, StoreError> {
        let user = self.user(id).await?;
        if user.totp_active {
            return Err(StoreError::Conflict("TOTP is already enrolled for this user".into()));
        }
        let secret = self.totp_secret(id).await?.ok_or(StoreError::Invalid("TOTP enrolment was not started".into()))?;
        let step = totp(&secret, &user.email)?.check(&normalize_code(code), unix_seconds()).ok_or_else(|| {
            StoreError::Invalid("the code is not valid; check the device's clock and try again".into())
        })?;
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin().await?;
            let updated = sqlx::query(
                "UPDATE users SET totp_active = $1, totp_last_step = $2 WHERE id = $3 AND totp_active = $4",
            )
            .bind(true)
            .bind(step)
            .bind(id.as_str())
            .bind(false)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated != 1 {
                return Err(StoreError::Conflict("TOTP is already enrolled for this user".into()));
            }
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(id.as_str()).execute(&mut *tx).await?;
            for code in &codes {
                sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                    .bind(id.as_str())
                    .bind(recovery_hash(code))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(codes)
    }

    /// How many unused recovery codes a user has left.
    pub async fn recovery_codes_left(&self, id: &UserId) -> Result<i64, StoreError> {
        Ok(on_pool!(&self.pool, |p| {
            sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_ms IS NULL")
                .bind(id.as_str())
                .fetch_one(p)
                .await?
        }))
    }

    /// Checks email, password and second factor (a TOTP code, or a recovery
    /// code). A TOTP step is accepted at most once and a recovery code only
    /// once; `lockout.max_failures` failures in a row lock the user for
    /// `lockout.duration_ms`, during which even correct credentials are
    /// refused. Unknown emails cost the same password hashing as known ones.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        code: &str,
        lockout: Lockout,
    ) -> Result<Result<(User, SecondFactor), SignInRefused>, StoreError> {
        let found = match normalize_email(email) {
            Ok(email) => self.user_by_email(&email).await?,
            Err(_) => None,
        };
        let Some(UserRow { user, password_hash }) = found else {
            verify_password(password, DUMMY_HASH.to_owned()).await;
            return Ok(Err(SignInRefused { user: None, reason: SignInFailure::UnknownEmail }));
        };
        let now = now_ms();
        // The password is hashed even for a locked user, so that the answer
        // takes as long as any other and does not tell locked users apart.
        let password_ok = verify_password(password, password_hash).await;
        if user.locked_until_ms > now {
            let until_ms = user.locked_until_ms;
            return Ok(Err(SignInRefused { user: Some(user), reason: SignInFailure::Locked { until_ms } }));
        }
        let outcome = if !password_ok {
            Err(SignInFailure::BadPassword)
        } else if !user.totp_active {
            Err(SignInFailure::NotEnrolled)
        } else {
            self.check_second_factor(&user, code).await?
        };
        match outcome {
            // The password was right; the user still has to enrol, which is
            // not a failed attempt.
            Err(SignInFailure::NotEnrolled) => {
                Ok(Err(SignInRefused { user: Some(user), reason: SignInFailure::NotEnrolled }))
            }
            Ok(factor) => {
                on_pool!(&self.pool, |p| {
                    sqlx::query("UPDATE users SET failed_logins = 0 WHERE id = $1")
                        .bind(user.id.as_str())
                        .execute(p)
                        .await?;
                });
                Ok(Ok((user, factor)))
            }
            Err(reason) => {
                if self.count_failure(&user.id, lockout, now).await?.is_some() {
                    tracing::warn!(user = %user.id, "dashboard user locked after repeated sign-in failures");
                }
                Ok(Err(SignInRefused { user: Some(user), reason }))
            }
        }
    }

    async fn check_second_factor(
        &self,
        user: &User,
        code: &str,
    ) -> Result<Result<SecondFactor, SignInFailure>, StoreError> {
        let normalized = normalize_code(code);
        if normalized.len() == 6 && normalized.bytes().all(|b| b.is_ascii_digit()) {
            let Some(secret) = self.totp_secret(&user.id).await? else { return Ok(Err(SignInFailure::BadCode)) };
            let Some(step) = totp(&secret, &user.email)?.check(&normalized, unix_seconds()) else {
                return Ok(Err(SignInFailure::BadCode));
            };
            let step = i64::try_from(step).unwrap_or(i64::MAX);
            // The conditional update makes "never twice" hold between
            // concurrent sign-ins and server processes too.
            let accepted = on_pool!(&self.pool, |p| {
                // A lock set by a concurrent failure since this sign-in began
                // holds here too.
                sqlx::query(
                    "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1 AND locked_until_ms <= $3",
                )
                .bind(step)
                .bind(user.id.as_str())
                .bind(now_ms())
                    .execute(p)
                    .await?
                    .rows_affected()
            });
            return Ok(if accepted == 1 { Ok(SecondFactor::Totp) } else { Err(SignInFailure::ReusedCode) });
        }
        let used = on_pool!(&self.pool, |p| {
            sqlx::query(
                "UPDATE recovery_codes SET used_ms = $1 WHERE user_id = $2 AND code_hash = $3 AND used_ms IS NULL \
                 AND EXISTS (SELECT 1 FROM users u WHERE u.id = $2 AND u.locked_until_ms <= $1)",
            )
            .bind(now_ms())
            .bind(user.id.as_str())
            .bind(recovery_hash(code))
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(if used == 1 { Ok(SecondFactor::RecoveryCode) } else { Err(SignInFailure::BadCode) })
    }

    /// Counts a failed sign-in; returns the lock's end when this failure
    /// locked the user.
    async fn count_failure(&self, id: &UserId, lockout: Lockout, now: i64) -> Result<Option<i64>, StoreError> {
        let failures: i64 = on_pool!(&self.pool, |p| {
            sqlx::query_scalar(
                "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1 RETURNING failed_logins",
            )
            .bind(id.as_str())
            .fetch_one(p)
            .await?
        });
        if failures < i64::from(lockout.max_failures) {
            return Ok(None);
        }
        let until = now.saturating_add(lockout.duration_ms);
        on_pool!(&self.pool, |p| {
            sqlx::query("UPDATE users SET failed_logins = 0, locked_until_ms = $1 WHERE id = $2")
                .bind(until)
                .bind(id.as_str())
                .execute(p)
                .await?;
        });
        Ok(Some(until))
    }

    /// Changes a user's role. The last owner of an account cannot be
    /// demoted. The user's sessions end, so the new role applies at once.
    pub async fn set_user_role(&self, account: &AccountId, id: &UserId, role: Role) -> Result<User, StoreError> {
        let user = self.user(id).await?;
        if user.account_id != *account {
            return Err(StoreError::NotFound("user"));
        }
        // The last-owner rule is part of the UPDATE itself, so that two
        // owners demoting each other at once cannot both succeed.
        let sql = format!(
            "UPDATE users SET role = $1, session_generation = session_generation + 1 \
             WHERE id = $2 AND account_id = $3 AND removed_ms IS NULL AND ($1 = 'owner' OR {})",
            keeps_an_owner("$3")
        );
        let postgres = self.backend() == crate::Backend::Postgres;
        let updated = on_pool!(&self.pool, |p| {
            let mut tx = p.begin().await?;
            if postgres {
                lock_owners(&mut tx, account).await?;
            }
            let n = sqlx::query(&sql)
                .bind(role.as_str())
                .bind(id.as_str())
                .bind(account.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            n
        });
        if updated != 1 {
            return Err(StoreError::Conflict("the account's last owner cannot be demoted".into()));
        }
        self.user(id).await
    }

    /// Removes a user: they can no longer sign in and their sessions end.
    /// The row stays (system-ledger events name its id). The last owner
    /// cannot be removed.
    pub async fn remove_user(&self, account: &AccountId, id: &UserId) -> Result<User, StoreError> {
        let user = self.user(id).await?;
        if user.account_id != *account {
            return Err(StoreError::NotFound("user"));
        }
        // The address is freed for a later invite; the original stays
        // recorded in the system ledger's event.
        let tombstone = format!("removed:{}:{}", id, user.email);
        let sql = format!(
            "UPDATE users SET removed_ms = $1, email = $2, session_generation = session_generation + 1 \
             WHERE id = $3 AND account_id = $4 AND removed_ms IS NULL AND {}",
            keeps_an_owner("$4")
        );
        let postgres = self.backend() == crate::Backend::Postgres;
        let updated = on_pool!(&self.pool, |p| {
            let mut tx = p.begin().await?;
            if postgres {
                lock_owners(&mut tx, account).await?;
            }
            let n = sqlx::query(&sql)
                .bind(now_ms())
                .bind(&tombstone)
                .bind(id.as_str())
                .bind(account.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 1 {
                sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            n
        });
        if updated != 1 {
            return Err(StoreError::Conflict("the account's last owner cannot be removed".into()));
        }
        Ok(user)
    }

    /// Ends every session of a user, on every server process.
    pub async fn sign_out_everywhere(&self, id: &UserId) -> Result<(), StoreError> {
        on_pool!(&self.pool, |p| {
            sqlx::query("UPDATE users SET session_generation = session_generation + 1 WHERE id = $1")
                .bind(id.as_str())
                .execute(p)
                .await?;
        });
        Ok(())
    }

    async fn totp_cipher(&self) -> Result<Aes256Gcm, StoreError> {
        let (key, _) = self.keys.instance_secret(TOTP_SEALING_SECRET, crate::kek::LocalKeks::generate_key).await?;
        Aes256Gcm::new_from_slice(key.as_slice()).map_err(|_| StoreError::Keys("bad TOTP sealing key".into()))
    }

    async fn seal_totp_secret(&self, id: &UserId, secret: &[u8]) -> Result<Vec<u8>, StoreError> {
        let cipher = self.totp_cipher().await?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = totp_aad(id);
        let sealed = cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: secret, aad: &aad })
            .map_err(|_| StoreError::Keys("sealing a TOTP secret failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    async fn totp_secret(&self, id: &UserId) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let sealed: Option<Option<Vec<u8>>> = on_pool!(&self.pool, |p| {
            sqlx::query_scalar("SELECT totp_secret FROM users WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(p)
                .await?
        });
        let Some(sealed) = sealed.flatten() else { return Ok(None) };
        let cipher = self.totp_cipher().await?;
        let (nonce, body) = sealed.split_at_checked(NONCE_LEN).ok_or(StoreError::Corrupt("truncated TOTP secret"))?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| StoreError::Corrupt("truncated TOTP secret"))?;
        let aad = totp_aad(id);
        let secret = cipher.decrypt(&Nonce::from(nonce), Payload { msg: body, aad: &aad }).map_err(|_| {
            StoreError::Integrity(format!("the TOTP secret of user {id} failed authenticated decryption"))
        })?;
        Ok(Some(Zeroizing::new(secret)))
    }
}

/// SQL that is true for a row that is no owner, or not the last owner of
/// the account bound as `account_param` (`$3`, `$4`...).
fn keeps_an_owner(account_param: &str) -> String {
    format!(
        "(role <> 'owner' OR (SELECT COUNT(*) FROM users o \
         WHERE o.account_id = {account_param} AND o.role = 'owner' AND o.removed_ms IS NULL) > 1)"
    )
}

/// On PostgreSQL, locks the account's owner rows until the transaction
/// ends: concurrent owner changes then see each other's result (SQLite runs
/// one writer at a time, and its single UPDATE is atomic).
async fn lock_owners<'c, DB>(tx: &mut sqlx::Transaction<'c, DB>, account: &AccountId) -> Result<(), StoreError>
where
    DB: sqlx::Database,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'e> &'e mut <DB as sqlx::Database>::Connection: sqlx::Executor<'e, Database = DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query("SELECT id FROM users WHERE account_id = $1 AND role = 'owner' AND removed_ms IS NULL FOR UPDATE")
        .bind(account.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn unix_seconds() -> u64 {
    u64::try_from(now_ms() / 1000).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_ones_below() {
        assert!(Role::Owner.includes(Role::Admin));
        assert!(Role::Admin.includes(Role::Auditor));
        assert!(!Role::Auditor.includes(Role::Admin));
        assert!(!Role::Admin.includes(Role::Owner));
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(normalize_email(" Ada@Example.COM ").expect("valid"), "ada@example.com");
        for bad in ["", "ada", "ada@", "@x", "a b@x", "a@b@c"] {
            assert!(normalize_email(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_dummy_hash_is_a_valid_argon2id_hash() {
        // Otherwise unknown emails would answer faster than known ones.
        let hash = argon2::PasswordHash::new(DUMMY_HASH).expect("parses");
        assert_eq!(hash.algorithm.as_str(), "argon2id");
    }

    #[test]
    fn recovery_codes_match_however_they_are_typed() {
        let code = recovery_code();
        assert_eq!(recovery_hash(&code), recovery_hash(&code.to_uppercase().replace('-', " ")));
        assert_ne!(recovery_hash(&code), recovery_hash(&recovery_code()));
    }
}
