//! All persistence, behind small traits per aggregate. One portable SQL implementation
//! ([`sql::SqlStore`]) serves SQLite and PostgreSQL through sqlx's `Any` driver; the
//! backend is chosen by the URL scheme and only `connect` knows the difference. It also
//! holds the short-lived read-through caches of clients and resources, cleared by its own
//! writes of them.

#[cfg(test)]
mod admin_tests;
#[cfg(test)]
mod cache_tests;
#[cfg(test)]
mod domain_tests;
mod error;
pub mod flow;
pub mod model;
pub mod rule;
mod sql;
#[cfg(test)]
mod test_databases;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod token_tests;

use async_trait::async_trait;

pub use error::StoreError;
pub use flow::*;
pub use model::*;
pub use rule::{Condition, Conditions, RuleEffect};
pub use sql::{Backend, SqlStore};

pub type StoreResult<T> = Result<T, StoreError>;

/// Clients, with their dynamic registrations (RFC 7591/7592) and metadata documents.
#[async_trait]
pub trait ClientStore {
    async fn find_client(&self, id: &str) -> StoreResult<Option<Client>>;
    async fn insert_client(&self, client: &Client) -> StoreResult<()>;
    /// Inserts or replaces by id (metadata-document clients are refreshed this way).
    async fn upsert_client(&self, client: &Client) -> StoreResult<()>;
    async fn list_clients(&self) -> StoreResult<Vec<Client>>;
    /// At most `limit` clients in creation order, after the client `after` (its id).
    async fn list_clients_page(&self, after: Option<&str>, limit: i64) -> StoreResult<Vec<Client>>;
    /// How many clients of each kind.
    async fn count_clients_by_kind(&self) -> StoreResult<Vec<(ClientKind, i64)>>;
    /// Live clients that outsiders created: dynamic and metadata-document clients.
    async fn count_dynamic_clients(&self) -> StoreResult<i64>;
    /// Inserts a dynamic client with its RFC 7592 registration, unless its address made
    /// `rate_limit` registrations since `window_start` or `max_clients` outsider clients
    /// exist: checked and inserted as one step under concurrency and across replicas.
    async fn register_client(
        &self,
        client: &Client,
        registration: &Registration,
    ) -> StoreResult<RegistrationOutcome>;
    /// Stores a metadata-document client: updates a known one; adds a new one unless
    /// `max_clients` outsider clients exist (then false).
    async fn store_metadata_client(&self, client: &Client, max_clients: i64) -> StoreResult<bool>;
    /// Marks a client used (at most one write an hour).
    async fn touch_client(&self, client_id: &str, now: i64) -> StoreResult<()>;
    /// When each client was last used (`None`: never).
    async fn list_client_last_used(&self) -> StoreResult<Vec<(String, Option<i64>)>>;
    /// Deletes dynamic clients idle since `idle_before` that hold no live refresh token.
    async fn reap_idle_clients(&self, idle_before: i64, now: i64) -> StoreResult<Vec<String>>;
    async fn registration_token_hash(&self, client_id: &str) -> StoreResult<Option<String>>;
    async fn delete_client(&self, client_id: &str) -> StoreResult<bool>;
}

/// Organization M2M clients (`m2morg_…`) and their secrets (`sec_…`), several live at a
/// time so one can be rotated.
#[async_trait]
pub trait OrgClientStore {
    /// Inserts the client with its first secret, in one transaction.
    async fn insert_org_client(&self, client: &Client, secret: &ClientSecret) -> StoreResult<()>;
    /// An organization's clients, in creation order.
    async fn list_org_clients(&self, organization_id: &str) -> StoreResult<Vec<Client>>;
    /// Adds a secret unless the client already has `max` (then false).
    async fn insert_client_secret(&self, secret: &ClientSecret, max: i64) -> StoreResult<bool>;
    async fn list_client_secrets(&self, client_id: &str) -> StoreResult<Vec<ClientSecret>>;
    /// Deletes a secret unless it is the client's last one.
    async fn delete_client_secret(&self, client_id: &str, secret_id: &str)
    -> StoreResult<Deletion>;
}

/// Resources: the MCP servers tokens are issued for.
#[async_trait]
pub trait ResourceStore {
    async fn find_resource(&self, id: &str) -> StoreResult<Option<Resource>>;
    async fn find_resource_by_url(&self, server_url: &str) -> StoreResult<Option<Resource>>;
    async fn list_resources(&self) -> StoreResult<Vec<Resource>>;
    /// Deletes a resource no rule, client or live consent refers to.
    async fn delete_resource(&self, id: &str) -> StoreResult<Deletion>;
}

/// A resource's scope rules.
#[async_trait]
pub trait RuleStore {
    async fn list_rules(&self, resource_id: &str) -> StoreResult<Vec<Rule>>;
    async fn delete_rule(&self, id: &str) -> StoreResult<bool>;
}

/// The upstream side: organizations with their domains, the connections (IdPs) their users
/// sign in through, and the state of a round trip to an IdP (upstream login states, the
/// SAML replay cache).
#[async_trait]
pub trait UpstreamStore {
    async fn find_organization(&self, id: &str) -> StoreResult<Option<Organization>>;
    /// The organization a (lower-case) email domain belongs to.
    async fn find_organization_by_domain(&self, domain: &str) -> StoreResult<Option<Organization>>;
    async fn list_organizations(&self) -> StoreResult<Vec<Organization>>;
    /// Deletes an organization (and its domains) no connection, user or rule refers to.
    async fn delete_organization(&self, id: &str) -> StoreResult<Deletion>;
    async fn find_connection(&self, id: &str) -> StoreResult<Option<Connection>>;
    async fn list_connections(&self) -> StoreResult<Vec<Connection>>;
    /// Deletes a connection nobody has signed in through.
    async fn delete_connection(&self, id: &str) -> StoreResult<Deletion>;
    async fn insert_upstream_login(&self, login: &UpstreamLogin) -> StoreResult<()>;
    /// An upstream state, used or not, without consuming it: a check that must not spend
    /// it (whether this browser may) comes before [`UpstreamStore::take_upstream_login`].
    async fn find_upstream_login(&self, state_hash: &str) -> StoreResult<Option<UpstreamLogin>>;
    /// Consumes an upstream state atomically; a second use is `Replayed`.
    async fn take_upstream_login(
        &self,
        state_hash: &str,
        now: i64,
    ) -> StoreResult<Taken<UpstreamLogin>>;
    /// Records a bring-your-own-auth login request (the hash of its id) of the upstream
    /// login `state_hash`.
    async fn insert_login_request(
        &self,
        login_request_hash: &str,
        state_hash: &str,
        connection_id: &str,
        expires_at: i64,
    ) -> StoreResult<()>;
    /// Sets the (sealed) identity an application posted for its login request, once: false
    /// when the request is unknown, of another connection, expired, answered already, or its
    /// login used.
    async fn set_login_request_identity(
        &self,
        login_request_hash: &str,
        connection_id: &str,
        sealed_identity: &str,
        now: i64,
    ) -> StoreResult<bool>;
    /// The (sealed) identity posted for the login request of upstream login `state_hash`.
    async fn find_login_request_identity(&self, state_hash: &str) -> StoreResult<Option<String>>;
    /// Records a SAML assertion ID until `expires_at`; false when it was already recorded
    /// (a replay).
    async fn remember_assertion(
        &self,
        connection_id: &str,
        assertion_id: &str,
        expires_at: i64,
    ) -> StoreResult<bool>;
}

#[async_trait]
pub trait UserStore {
    /// Inserts or updates by (connection, subject); keeps the id and the enabled flag. A
    /// disabled user is not updated (its login is refused): the stored row is returned.
    async fn upsert_user(&self, user: &User) -> StoreResult<User>;
    async fn find_user(&self, id: &str) -> StoreResult<Option<User>>;
    /// The user a connection knows by this upstream subject.
    async fn find_user_by_subject(
        &self,
        connection_id: &str,
        subject: &str,
    ) -> StoreResult<Option<User>>;
    /// Users, most recent login first.
    async fn list_users(&self, limit: i64) -> StoreResult<Vec<User>>;
    /// Disabling (at `now`) also cuts off the access tokens the user holds (see
    /// [`TokenStore::user_tokens_cutoff`]); enabling again does not revive them.
    async fn set_user_enabled(&self, id: &str, is_enabled: bool, now: i64) -> StoreResult<()>;
    /// Revokes a user's refresh tokens, cuts off their access tokens and deletes the user,
    /// with their sessions and consents, in one transaction; `None` when there was no such user, else how many
    /// refresh tokens were revoked.
    async fn delete_user(&self, user_id: &str, now: i64) -> StoreResult<Option<u64>>;
}

/// Browser sessions of signed-in users.
#[async_trait]
pub trait SessionStore {
    async fn insert_session(&self, session: &Session) -> StoreResult<()>;
    async fn find_session_by_token(&self, token_hash: &str) -> StoreResult<Option<Session>>;
    async fn end_session(&self, id: &str, now: i64) -> StoreResult<()>;
    /// How many live (not ended, not expired) browser sessions each user has.
    async fn count_live_sessions(&self, now: i64) -> StoreResult<Vec<(String, i64)>>;
    /// Ends every live browser session of a user; returns how many.
    async fn end_user_sessions(&self, user_id: &str, now: i64) -> StoreResult<u64>;
}

/// Pending authorizations: `/authorize` requests between the redirect to sign-in and the
/// code.
#[async_trait]
pub trait AuthorizationStore {
    /// Stores a pending authorization opened from `from_address`.
    async fn insert_pending(
        &self,
        pending: &PendingAuthorization,
        from_address: &str,
    ) -> StoreResult<()>;
    /// Unfinished pending authorizations opened from `from_address` since `since`.
    async fn count_pending_from(&self, from_address: &str, since: i64) -> StoreResult<i64>;
    async fn find_pending(&self, id: &str) -> StoreResult<Option<PendingAuthorization>>;
    async fn attach_session(&self, pending_id: &str, session_id: &str) -> StoreResult<()>;
    /// Marks a pending request finished; false when it already was (a double submit).
    async fn finish_pending(&self, id: &str, now: i64) -> StoreResult<bool>;
}

/// Codes, token families, refresh tokens and access-token revocations: a code opens a
/// family, and everything the family issues is stored in one transaction and dies with it.
/// Bulk revocations by user or client leave a cutoff that access tokens are checked against.
#[async_trait]
pub trait TokenStore {
    /// Stores a code and creates the family it opens (`code.family_id` is `family.id`).
    async fn insert_code(&self, code: &CodeRecord, family: &NewFamily) -> StoreResult<()>;
    async fn find_code(&self, code_hash: &str) -> StoreResult<Option<CodeRecord>>;
    /// Consumes the code and stores what it issued, in one transaction; nothing is stored
    /// when the code was used already or its family is revoked.
    async fn redeem_code(
        &self,
        code_hash: &str,
        now: i64,
        issued: &Issuance,
    ) -> StoreResult<Redeemed<CodeRecord>>;
    async fn insert_refresh(&self, token: &RefreshRecord) -> StoreResult<()>;
    async fn find_refresh(&self, token_hash: &str) -> StoreResult<Option<RefreshRecord>>;
    /// Rotation: consumes the refresh token and stores its successor, in one transaction;
    /// nothing is stored when it was used already (reuse) or its family is revoked.
    async fn rotate_refresh(
        &self,
        token_hash: &str,
        now: i64,
        issued: &Issuance,
    ) -> StoreResult<Redeemed<RefreshRecord>>;
    /// Marks the family revoked (for good) and its refresh tokens with it.
    async fn revoke_family(&self, family_id: &str, now: i64) -> StoreResult<()>;
    async fn revoke_access_token(&self, jti: &str, expires_at: i64) -> StoreResult<()>;
    async fn access_token_status(&self, jti: &str) -> StoreResult<AccessTokenStatus>;
    /// Revokes every live refresh token of a user, and their access tokens issued until `now`
    /// (a cutoff); returns how many refresh tokens.
    async fn revoke_user_grants(&self, user_id: &str, now: i64) -> StoreResult<u64>;
    /// Revokes every live refresh token issued to a client, and its access tokens issued
    /// until `now` (a cutoff); returns how many refresh tokens.
    async fn revoke_client_grants(&self, client_id: &str, now: i64) -> StoreResult<u64>;
    /// The client's token cutoff: its access tokens issued at or before it are revoked.
    async fn client_tokens_cutoff(&self, client_id: &str) -> StoreResult<Option<i64>>;
    /// The user's token cutoff (revoked, disabled or deleted by an admin): their access
    /// tokens and codes issued at or before it are revoked. It only ever moves forward.
    async fn user_tokens_cutoff(&self, user_id: &str) -> StoreResult<Option<i64>>;
}

#[async_trait]
pub trait ConsentStore {
    async fn find_consent(
        &self,
        user_id: &str,
        client_id: &str,
        redirect_uri: &str,
        resource_id: &str,
    ) -> StoreResult<Option<Consent>>;
    /// Records (or renews) a consent; returns the stored one.
    async fn upsert_consent(&self, consent: &Consent) -> StoreResult<Consent>;
    async fn find_consent_by_id(&self, id: &str) -> StoreResult<Option<Consent>>;
    async fn revoke_consent(&self, id: &str, now: i64) -> StoreResult<bool>;
    async fn list_consents(&self, user_id: &str) -> StoreResult<Vec<Consent>>;
    /// Consents of every user, newest first.
    async fn list_all_consents(&self, limit: i64) -> StoreResult<Vec<Consent>>;
}

#[async_trait]
pub trait KeyStore {
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;
}

#[async_trait]
pub trait AuditStore {
    async fn insert_audit_events(&self, events: &[AuditRecord]) -> StoreResult<()>;
    async fn list_audit_events(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditRecord>>;
    /// Audit events by any of their columns and a time range, newest first, paged.
    async fn search_audit_events(&self, search: &AuditSearch) -> StoreResult<Vec<AuditRecord>>;
}

/// Admins, their console sessions and the admin login rate limit.
#[async_trait]
pub trait AdminStore {
    async fn find_admin(&self, username: &str) -> StoreResult<Option<Admin>>;
    async fn insert_admin_session(&self, session: &AdminSession) -> StoreResult<()>;
    async fn find_admin_session(&self, token_hash: &str) -> StoreResult<Option<AdminSession>>;
    async fn end_admin_session(&self, id: &str, now: i64) -> StoreResult<()>;
    /// Records that a live session was used at `now`.
    async fn touch_admin_session(&self, id: &str, now: i64) -> StoreResult<()>;
    /// Records a failed admin login under a key (`user:<name>` or `addr:<ip>`).
    async fn record_login_failure(&self, key: &str, at: i64) -> StoreResult<()>;
    async fn count_login_failures(&self, key: &str, since: i64) -> StoreResult<i64>;
    async fn clear_login_failures(&self, key: &str) -> StoreResult<()>;
}

#[async_trait]
pub trait HealthStore {
    async fn ping(&self) -> StoreResult<()>;
}

/// Writes that span aggregates: the seed, and the purge of what has expired everywhere.
#[async_trait]
pub trait DatabaseStore {
    /// Writes the whole plan in one transaction: all of it or nothing.
    async fn apply_seed(&self, plan: &SeedPlan, now: i64) -> StoreResult<()>;
    /// Deletes what can no longer matter: expired pending requests, codes, refresh
    /// families, revocation records and sessions. Returns how many rows went.
    async fn purge_expired(&self, now: i64) -> StoreResult<u64>;
}

/// Everything the application needs from storage.
pub trait Store:
    ClientStore
    + OrgClientStore
    + ResourceStore
    + RuleStore
    + UpstreamStore
    + UserStore
    + SessionStore
    + AuthorizationStore
    + TokenStore
    + ConsentStore
    + KeyStore
    + AuditStore
    + AdminStore
    + HealthStore
    + DatabaseStore
    + Send
    + Sync
    + std::fmt::Debug
{
}

impl<T> Store for T where
    T: ClientStore
        + OrgClientStore
        + ResourceStore
        + RuleStore
        + UpstreamStore
        + UserStore
        + SessionStore
        + AuthorizationStore
        + TokenStore
        + ConsentStore
        + KeyStore
        + AuditStore
        + AdminStore
        + HealthStore
        + DatabaseStore
        + Send
        + Sync
        + std::fmt::Debug
{
}
