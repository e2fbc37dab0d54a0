//! Dashboard users: argon2id passwords, TOTP (RFC 6238) with single-use
//! codes, recovery codes, lockout after repeated failures, single-use setup
//! and invite links, roles, and the session generation that signs a user out
//! everywhere.
//!
//! One file per job: `links` (setup and invite links), `passwords`
//! (argon2id), `totp` (enrolment and sealed secrets), `sign_in` (the checks
//! and the lockout), `roles` (roles, removal, signing out everywhere). Every
//! change a person makes (setup, invites, enrolment, sign-ins, roles) is
//! recorded in the account's system ledger in the change's own transaction.
//!
//! TOTP secrets are sealed with AES-256-GCM under an instance secret that the
//! key provider wraps (so a KEK rotation re-wraps it with everything else);
//! the user id is the associated data, so a secret copied to another user's
//! row does not open.

mod links;
mod passwords;
pub(crate) use passwords::PasswordSlots;
mod roles;
mod sign_in;
mod totp;

use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use crate::db::on_db;
use crate::{AccountId, Store, StoreError};

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

const USER_COLUMNS: &str =
    "id, account_id, email, role, totp_active, session_generation, created_ms, locked_until_ms, password_hash";

pub(super) struct UserRow {
    pub(super) user: User,
    pub(super) password_hash: String,
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
    /// A user by id, removed users excluded.
    pub async fn user(&self, id: &UserId) -> Result<User, StoreError> {
        let row = on_db!(&self.db.pool, |p| {
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

    pub(super) async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>, StoreError> {
        Ok(on_db!(&self.db.pool, |p| {
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
        let rows = on_db!(&self.db.pool, |p| {
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
}
