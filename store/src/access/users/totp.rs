//! TOTP (RFC 6238): enrolment with a QR code, confirmation with a first
//! code, recovery codes, and the secrets sealed under an instance key with
//! the user id as associated data.

use std::net::IpAddr;

use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::{TotpEnrolment, UserId, RECOVERY_CODES};
use crate::db::{on_db, write_tx};
use crate::{now_ms, system, Actor, Origin, Store, StoreError, SystemEvent};

/// The instance secret that seals TOTP secrets.
const TOTP_SEALING_SECRET: &str = "dashboard-totp-sealing-key";

pub(super) fn totp(secret: &[u8], email: &str) -> Result<totp_rs::Totp, StoreError> {
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
pub(super) fn normalize_code(code: &str) -> String {
    code.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

pub(super) fn recovery_code() -> String {
    let mut bytes = [0u8; 10];
    rand::rng().fill_bytes(&mut bytes);
    let hex = hex::encode(bytes);
    format!("{}-{}-{}-{}", &hex[0..5], &hex[5..10], &hex[10..15], &hex[15..20])
}

pub(super) fn recovery_hash(code: &str) -> Vec<u8> {
    Sha256::digest(normalize_code(code).as_bytes()).to_vec()
}

fn totp_aad(user: &UserId) -> Vec<u8> {
    format!("auditstore/v1/totp-secret:{user}").into_bytes()
}

pub(super) fn unix_seconds() -> u64 {
    u64::try_from(now_ms() / 1000).unwrap_or(0)
}

impl Store {
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
        let updated = on_db!(&self.db.pool, |p| {
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
    /// The enrolment and the sign-in it completes are recorded in the
    /// account's system ledger, in the same transaction.
    pub async fn confirm_totp_enrolment(
        &self,
        id: &UserId,
        code: &str,
        from: Option<IpAddr>,
    ) -> Result<Vec<String>, StoreError> {
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
        let origin = Origin::new(Actor::User(id.clone())).from_address(from);
        let enrolled = SystemEvent::MfaEnrolled { user: id.clone(), recovery_codes: codes.len() };
        let enrolled = self.stage(&user.account_id, &origin, enrolled).await?;
        let signed_in = SystemEvent::SignedIn { user: id.clone(), email: user.email.clone(), factor: None };
        let signed_in = self.stage(&user.account_id, &origin, signed_in).await?;
        write_tx!(&self.db, |tx| {
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
            system::outbox::insert((&mut *tx).into(), &enrolled).await?;
            system::outbox::insert((&mut *tx).into(), &signed_in).await?;
            tx.commit().await?;
        });
        self.drain_outbox(&user.account_id).await;
        Ok(codes)
    }

    /// How many unused recovery codes a user has left.
    pub async fn recovery_codes_left(&self, id: &UserId) -> Result<i64, StoreError> {
        Ok(on_db!(&self.db.pool, |p| {
            sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_ms IS NULL")
                .bind(id.as_str())
                .fetch_one(p)
                .await?
        }))
    }

    async fn seal_totp_secret(&self, id: &UserId, secret: &[u8]) -> Result<Vec<u8>, StoreError> {
        let sealer = self.keys.secret_box(TOTP_SEALING_SECRET).await?;
        sealer.seal(&totp_aad(id), secret)
    }

    pub(super) async fn totp_secret(&self, id: &UserId) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let sealed: Option<Option<Vec<u8>>> = on_db!(&self.db.pool, |p| {
            sqlx::query_scalar("SELECT totp_secret FROM users WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(p)
                .await?
        });
        let Some(sealed) = sealed.flatten() else { return Ok(None) };
        let sealer = self.keys.secret_box(TOTP_SEALING_SECRET).await?;
        let secret = sealer.open(&totp_aad(id), &sealed).ok_or_else(|| {
            StoreError::Integrity(format!("the TOTP secret of user {id} failed authenticated decryption"))
        })?;
        Ok(Some(secret))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_match_however_they_are_typed() {
        let code = recovery_code();
        assert_eq!(recovery_hash(&code), recovery_hash(&code.to_uppercase().replace('-', " ")));
        assert_ne!(recovery_hash(&code), recovery_hash(&recovery_code()));
    }
}
