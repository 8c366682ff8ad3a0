//! Admin sign-in: argon2id passwords, a session cookie ([`crate::session::Cookie::Admin`]:
//! HttpOnly, SameSite=Strict, Secure and `__Host-` under https) holding a random token of which only the hash is stored, a
//! CSRF token derived from the session token (so it is bound to the session and needs no
//! storage), and a rate limit on failed attempts per account and per client address.

use crate::audit::AuditEvent;
use crate::crypto;
use crate::ids;
use crate::state::AppState;
use crate::store::{Admin, AdminSession, StoreError};

/// An admin session lasts at most 12 hours.
pub const ADMIN_SESSION_TTL: i64 = 12 * 3600;
/// ... and ends after 30 minutes without a request.
pub const ADMIN_IDLE_TIMEOUT: i64 = 30 * 60;
/// A session's last use is written at most once a minute (not on every request).
pub const TOUCH_EVERY: i64 = 60;
/// Failed attempts allowed per account and per address within [`FAILURE_WINDOW`].
pub const MAX_FAILURES: i64 = 5;
pub const FAILURE_WINDOW: i64 = 15 * 60;

/// How long a browser an admin signed in from is remembered as theirs.
pub const DEVICE_TTL: i64 = 90 * 86_400;

/// The device cookie of a browser an admin signed in from: `<expiry>.<MAC>`, the MAC by the
/// server's key over the account, its current password hash and the expiry (so it names no
/// one to a reader, and a new password ends every device cookie of the account). A sign-in
/// that presents a valid one for the account it names is not held back by that account's
/// lockout, so failed attempts from elsewhere cannot lock the admin out (the per-address
/// limit and a limit per device still apply).
pub fn device_token(app: &AppState, admin: &Admin, now: i64) -> String {
    let expires = now + DEVICE_TTL;
    let mac = app
        .config
        .secret
        .mac("admin-device", &device_message(admin, expires));
    format!("{expires}.{mac}")
}

fn device_message(admin: &Admin, expires: i64) -> String {
    format!("{}\0{}\0{expires}", admin.username, admin.password_hash)
}

/// The rate-limit key of a presented device cookie, if it is valid for `admin`.
fn device_key(
    app: &AppState,
    admin: Option<&Admin>,
    presented: Option<&str>,
    now: i64,
) -> Option<String> {
    let (expires, mac) = presented?.split_once('.')?;
    let expires: i64 = expires.parse().ok()?;
    (expires > now
        && app
            .config
            .secret
            .verify_mac("admin-device", &device_message(admin?, expires), mac))
    .then(|| format!("device:{}", &mac[..mac.len().min(22)]))
}

/// Why a sign-in did not happen.
#[derive(Debug)]
pub enum LoginError {
    Invalid,
    RateLimited,
    Store(StoreError),
}

impl From<StoreError> for LoginError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Where a sign-in attempt came from.
pub struct Attempt<'a> {
    pub username: &'a str,
    pub password: String,
    /// The browser's device cookie, if any ([`device_token`]).
    pub device: Option<&'a str>,
    pub address: &'a str,
    pub user_agent: &'a str,
    pub request_id: &'a str,
}

/// The CSRF token of a session: a keyed hash of the session token, which only the
/// browser holding the cookie (and the server) can compute.
pub fn csrf_token(session_token: &str) -> String {
    crypto::b64url(&crypto::sha256(
        format!("portcullis-admin-csrf\0{session_token}").as_bytes(),
    ))
}

/// Compares a presented CSRF token with the session's in constant time.
pub fn csrf_matches(session_token: &str, presented: &str) -> bool {
    let expected = csrf_token(session_token);
    expected.len() == presented.len()
        && openssl::memcmp::eq(expected.as_bytes(), presented.as_bytes())
}

/// The live session a token names (the admin still exists), which this use keeps alive;
/// a session idle for [`ADMIN_IDLE_TIMEOUT`] is ended here.
pub async fn current(app: &AppState, token: &str) -> Result<Option<AdminSession>, StoreError> {
    let Some(session) = app
        .store
        .find_admin_session(&crypto::hash_secret(token))
        .await?
    else {
        return Ok(None);
    };
    let now = app.clock.now();
    if session.ended_at.is_some() || session.expires_at <= now {
        return Ok(None);
    }
    if now - session.last_seen_at >= ADMIN_IDLE_TIMEOUT {
        app.store.end_admin_session(&session.id, now).await?;
        return Ok(None);
    }
    if app.store.find_admin(&session.username).await?.is_none() {
        return Ok(None);
    }
    if now - session.last_seen_at >= TOUCH_EVERY {
        app.store.touch_admin_session(&session.id, now).await?;
    }
    Ok(Some(session))
}

/// Checks an admin's password unless the account or the address is rate limited; a
/// failure counts against both, a success clears both. A browser with a valid device
/// cookie for the account is limited per device instead of per account. Shared by the
/// sign-in page and HTTP Basic on the admin API. The attempt is counted before the password
/// is checked, so attempts sent in parallel cannot all pass the limit together; usernames
/// are capped.
pub async fn check_password(
    app: &AppState,
    username: &str,
    password: String,
    address: &str,
    device: Option<&str>,
) -> Result<Admin, LoginError> {
    if username.is_empty() || username.chars().count() > MAX_USERNAME_CHARS {
        return Err(LoginError::Invalid);
    }
    let now = app.clock.now();
    let admin = app.store.find_admin(username).await?;
    let first =
        device_key(app, admin.as_ref(), device, now).unwrap_or_else(|| format!("user:{username}"));
    let keys = [first, format!("addr:{address}")];
    for key in &keys {
        app.store.record_login_failure(key, now).await?;
    }
    for key in &keys {
        if app
            .store
            .count_login_failures(key, now - FAILURE_WINDOW)
            .await?
            > MAX_FAILURES
        {
            return Err(LoginError::RateLimited);
        }
    }
    // Verify against a fixed hash when the account is unknown: the same cost either way.
    let hash = admin
        .as_ref()
        .map(|a| a.password_hash.clone())
        .unwrap_or_else(|| UNKNOWN_ACCOUNT_HASH.to_string());
    let is_ok = crate::password::verify(password, hash).await;
    let Some(admin) = admin.filter(|_| is_ok) else {
        return Err(LoginError::Invalid);
    };
    for key in &keys {
        app.store.clear_login_failures(key).await?;
    }
    Ok(admin)
}

/// Longest admin username considered (longer ones are refused before any lookup).
pub const MAX_USERNAME_CHARS: usize = 64;

/// Checks the password (see [`check_password`]) and opens a session. Returns the new
/// session token and the browser's device token, for the cookies.
pub async fn login(app: &AppState, attempt: Attempt<'_>) -> Result<(String, String), LoginError> {
    let now = app.clock.now();
    let outcome = async {
        let admin = check_password(
            app,
            attempt.username,
            attempt.password,
            attempt.address,
            attempt.device,
        )
        .await?;
        let token = crypto::random_token();
        app.store
            .insert_admin_session(&AdminSession {
                id: ids::generate("ases"),
                token_hash: crypto::hash_secret(&token),
                username: attempt.username.to_string(),
                created_at: now,
                expires_at: now + ADMIN_SESSION_TTL,
                ended_at: None,
                last_seen_at: now,
            })
            .await?;
        Ok((token, device_token(app, &admin, now)))
    }
    .await;
    let label = match &outcome {
        Ok(_) => "succeeded",
        Err(LoginError::Invalid) => "failed",
        Err(LoginError::RateLimited) => "rate_limited",
        Err(LoginError::Store(_)) => return outcome,
    };
    app.audit
        .record(AuditEvent::AdminLogin {
            username: attempt.username.chars().take(64).collect(),
            address: attempt.address.to_string(),
            user_agent: attempt.user_agent.chars().take(200).collect(),
            request_id: attempt.request_id.to_string(),
            outcome: label,
        })
        .await;
    outcome
}

/// Ends the session a token names.
pub async fn logout(app: &AppState, token: &str) -> Result<(), StoreError> {
    if let Some(s) = current(app, token).await? {
        app.store.end_admin_session(&s.id, app.clock.now()).await?;
    }
    Ok(())
}

/// An argon2id hash of a random password nobody knows, checked for unknown accounts.
const UNKNOWN_ACCOUNT_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2q2zK5eyQ2jUqk8bIo1M4CuvtRpy3hqaRNIxwzOy0sI";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Cookie;

    #[test]
    fn csrf_is_bound_to_the_session_token() {
        let a = csrf_token("token-a");
        assert!(csrf_matches("token-a", &a));
        assert!(!csrf_matches("token-b", &a));
        assert!(!csrf_matches("token-a", ""));
        assert!(!csrf_matches("token-a", &a[1..]));
    }

    #[test]
    fn the_cookie_is_strict_and_secure_under_https() {
        let c = Cookie::Admin.set("https://auth.example", "t", 60);
        let c = c.to_str().unwrap();
        assert!(c.starts_with("__Host-portcullis_admin=t;"));
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        let plain = Cookie::Admin.set("http://127.0.0.1:8080", "t", 60);
        assert!(!plain.to_str().unwrap().contains("Secure"));
    }
}
