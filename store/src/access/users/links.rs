//! Single-use links that create users: the first-run setup link (the
//! account's first owner) and owners' invites. Only SHA-256 hashes of the
//! tokens are stored.

use std::net::IpAddr;

use super::passwords::{check_password, hash_password};
use super::{normalize_email, Invite, LinkKind, LinkToken, NewUser, Role, User, UserId};
use crate::db::{on_db, write_tx};
use crate::system::{self, Staged};
use crate::{now_ms, AccountId, Actor, Origin, Store, StoreError, SystemEvent};

impl Store {
    /// Whether any dashboard user exists (the first-run setup link is
    /// offered only while none does).
    pub async fn users_exist(&self) -> Result<bool, StoreError> {
        let n: i64 = on_db!(&self.db.pool, |p| sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(p).await?);
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
        write_tx!(&self.db, |tx| {
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
        let n: i64 = on_db!(&self.db.pool, |p| {
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
        from: Option<IpAddr>,
    ) -> Result<User, StoreError> {
        let email = normalize_email(email)?;
        check_password(password)?;
        if !self.setup_link_valid(token).await? {
            return Err(LinkKind::Setup.invalid());
        }
        let hash = hash_password(&self.passwords, password).await?;
        let (account, _) = self.ensure_account(account_name).await?;
        let id = UserId::generate();
        let origin = Origin::new(Actor::Job("first-run-setup")).from_address(from);
        let event = SystemEvent::UserCreated { user: id.clone(), email: email.clone(), role: Role::Owner };
        let event = self.stage(&account.id, &origin, event).await?;
        let user = NewUser { account: &account.id, email: &email, password_hash: &hash, role: Role::Owner };
        self.redeem_link(LinkKind::Setup, token, id, user, event).await
    }

    /// Creates a single-use invite link for `email` to join `account` as
    /// `role`, valid for `ttl_ms`; recorded in the system ledger. Whether
    /// the address is taken, in this account or any other, is not told here
    /// (that would let an owner of one account probe the others'): it is
    /// resolved when the invite is accepted.
    pub async fn create_invite(
        &self,
        account: &AccountId,
        email: &str,
        role: Role,
        created_by: &UserId,
        ttl_ms: i64,
        origin: &Origin,
    ) -> Result<LinkToken, StoreError> {
        let email = normalize_email(email)?;
        let token = LinkToken::generate();
        let now = now_ms();
        let event = self.stage(account, origin, SystemEvent::UserInvited { email: email.clone(), role }).await?;
        write_tx!(&self.db, |tx| {
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
            .execute(&mut *tx)
            .await?;
            system::outbox::insert((&mut *tx).into(), &event).await?;
            tx.commit().await?;
        });
        self.drain_outbox(account).await;
        Ok(token)
    }

    /// The invite behind `token`, if it can still be used: unused, not
    /// expired, and its creator is still an owner of the account (an invite
    /// dies with its creator's rights).
    pub async fn invite(&self, token: &str) -> Result<Option<Invite>, StoreError> {
        let row: Option<(String, String, String, i64)> = on_db!(&self.db.pool, |p| {
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
    pub async fn accept_invite(&self, token: &str, password: &str, from: Option<IpAddr>) -> Result<User, StoreError> {
        check_password(password)?;
        let invite = self.invite(token).await?.ok_or_else(|| LinkKind::Invite.invalid())?;
        let hash = hash_password(&self.passwords, password).await?;
        let id = UserId::generate();
        let origin = Origin::new(Actor::User(id.clone())).from_address(from);
        let event = SystemEvent::InviteAccepted { user: id.clone(), email: invite.email.clone(), role: invite.role };
        let event = self.stage(&invite.account_id, &origin, event).await?;
        let user =
            NewUser { account: &invite.account_id, email: &invite.email, password_hash: &hash, role: invite.role };
        self.redeem_link(LinkKind::Invite, token, id, user, event).await
    }

    /// Consumes the link `token` of `kind` and creates `user` as `id`,
    /// recording `event`, in one transaction: all happen or none. A setup
    /// link works only while no user exists.
    async fn redeem_link(
        &self,
        kind: LinkKind,
        token: &str,
        id: UserId,
        user: NewUser<'_>,
        event: Staged,
    ) -> Result<User, StoreError> {
        let token_hash = LinkToken::hash(token);
        let now = now_ms();
        write_tx!(&self.db, |tx| {
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
            system::outbox::insert((&mut *tx).into(), &event).await?;
            tx.commit().await?;
        });
        self.drain_outbox(user.account).await;
        self.user(&id).await
    }
}
