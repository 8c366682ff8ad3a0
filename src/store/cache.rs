//! A read-through cache in front of the store for the two lookups every token request
//! makes (client by id, resource by id or URL). Entries live one second, so a change
//! made through another replica is seen within a second; writes through this store clear
//! the cache at once. Misses are never cached (a client registered at another replica
//! works here immediately).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::*;

const TTL: Duration = Duration::from_secs(1);
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug)]
struct Map<T>(Mutex<HashMap<String, (Instant, T)>>);

impl<T: Clone> Map<T> {
    fn new() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
    fn get(&self, key: &str) -> Option<T> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, v)| v.clone())
    }
    fn put(&self, key: &str, value: T) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, (at, _)| at.elapsed() < TTL);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(key.to_string(), (Instant::now(), value));
    }
    fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[derive(Debug)]
pub struct CachedStore {
    inner: Arc<dyn Store>,
    clients: Map<Client>,
    resources: Map<Resource>,
    resources_by_url: Map<Resource>,
}

impl CachedStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            clients: Map::new(),
            resources: Map::new(),
            resources_by_url: Map::new(),
        }
    }
    fn clear(&self) {
        self.clients.clear();
        self.resources.clear();
        self.resources_by_url.clear();
    }
}

#[async_trait]
impl ClientStore for CachedStore {
    async fn find_client(&self, id: &str) -> StoreResult<Option<Client>> {
        if let Some(c) = self.clients.get(id) {
            return Ok(Some(c));
        }
        let found = self.inner.find_client(id).await?;
        if let Some(c) = &found {
            self.clients.put(id, c.clone());
        }
        Ok(found)
    }
    async fn insert_client(&self, client: &Client) -> StoreResult<()> {
        self.clients.clear();
        self.inner.insert_client(client).await
    }
    async fn upsert_client(&self, client: &Client) -> StoreResult<()> {
        self.clients.clear();
        self.inner.upsert_client(client).await
    }
    async fn count_dynamic_clients(&self) -> StoreResult<i64> {
        self.inner.count_dynamic_clients().await
    }
    async fn register_client(
        &self,
        client: &Client,
        registration: &Registration,
    ) -> StoreResult<RegistrationOutcome> {
        self.inner.register_client(client, registration).await
    }
    async fn store_metadata_client(&self, client: &Client, max_clients: i64) -> StoreResult<bool> {
        let stored = self.inner.store_metadata_client(client, max_clients).await;
        self.clients.clear();
        stored
    }
    async fn touch_client(&self, client_id: &str, now: i64) -> StoreResult<()> {
        self.inner.touch_client(client_id, now).await
    }
    async fn reap_idle_clients(&self, idle_before: i64, now: i64) -> StoreResult<Vec<String>> {
        let reaped = self.inner.reap_idle_clients(idle_before, now).await;
        self.clients.clear();
        reaped
    }
    async fn registration_token_hash(&self, client_id: &str) -> StoreResult<Option<String>> {
        self.inner.registration_token_hash(client_id).await
    }
    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        let deleted = self.inner.delete_client(client_id).await;
        self.clients.clear();
        deleted
    }
    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        self.inner.list_clients().await
    }
    async fn list_clients_page(&self, after: Option<&str>, limit: i64) -> StoreResult<Vec<Client>> {
        self.inner.list_clients_page(after, limit).await
    }
    async fn count_clients_by_kind(&self) -> StoreResult<Vec<(ClientKind, i64)>> {
        self.inner.count_clients_by_kind().await
    }
}

#[async_trait]
impl ResourceStore for CachedStore {
    async fn find_resource(&self, id: &str) -> StoreResult<Option<Resource>> {
        if let Some(r) = self.resources.get(id) {
            return Ok(Some(r));
        }
        let found = self.inner.find_resource(id).await?;
        if let Some(r) = &found {
            self.resources.put(id, r.clone());
        }
        Ok(found)
    }
    async fn find_resource_by_url(&self, server_url: &str) -> StoreResult<Option<Resource>> {
        if let Some(r) = self.resources_by_url.get(server_url) {
            return Ok(Some(r));
        }
        let found = self.inner.find_resource_by_url(server_url).await?;
        if let Some(r) = &found {
            self.resources_by_url.put(server_url, r.clone());
        }
        Ok(found)
    }
    async fn list_resources(&self) -> StoreResult<Vec<Resource>> {
        self.inner.list_resources().await
    }
    async fn delete_resource(&self, id: &str) -> StoreResult<Deletion> {
        let result = self.inner.delete_resource(id).await;
        self.clear();
        result
    }
}

#[async_trait]
impl OrganizationStore for CachedStore {
    async fn find_organization(&self, id: &str) -> StoreResult<Option<Organization>> {
        self.inner.find_organization(id).await
    }
    async fn find_organization_by_domain(&self, domain: &str) -> StoreResult<Option<Organization>> {
        self.inner.find_organization_by_domain(domain).await
    }
    async fn find_connection(&self, id: &str) -> StoreResult<Option<Connection>> {
        self.inner.find_connection(id).await
    }
    async fn list_organizations(&self) -> StoreResult<Vec<Organization>> {
        self.inner.list_organizations().await
    }
    async fn list_connections(&self) -> StoreResult<Vec<Connection>> {
        self.inner.list_connections().await
    }
    async fn list_rules(&self, resource_id: &str) -> StoreResult<Vec<Rule>> {
        self.inner.list_rules(resource_id).await
    }
    async fn delete_organization(&self, id: &str) -> StoreResult<Deletion> {
        self.inner.delete_organization(id).await
    }
    async fn delete_connection(&self, id: &str) -> StoreResult<Deletion> {
        self.inner.delete_connection(id).await
    }
}

#[async_trait]
impl KeyStore for CachedStore {
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        self.inner.list_signing_keys().await
    }
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        self.inner.insert_signing_key(key).await
    }
}

#[async_trait]
impl AuditStore for CachedStore {
    async fn insert_audit_events(&self, events: &[AuditRecord]) -> StoreResult<()> {
        self.inner.insert_audit_events(events).await
    }
    async fn list_audit_events(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditRecord>> {
        self.inner.list_audit_events(filter).await
    }
}

#[async_trait]
impl AdminStore for CachedStore {
    async fn find_admin(&self, username: &str) -> StoreResult<Option<Admin>> {
        self.inner.find_admin(username).await
    }
}

#[async_trait]
impl SeedStore for CachedStore {
    async fn apply_seed(&self, plan: &SeedPlan, now: i64) -> StoreResult<()> {
        let result = self.inner.apply_seed(plan, now).await;
        self.clear();
        result
    }
}

#[async_trait]
impl AdminConsoleStore for CachedStore {
    async fn insert_admin_session(&self, session: &AdminSession) -> StoreResult<()> {
        self.inner.insert_admin_session(session).await
    }
    async fn find_admin_session(&self, token_hash: &str) -> StoreResult<Option<AdminSession>> {
        self.inner.find_admin_session(token_hash).await
    }
    async fn end_admin_session(&self, id: &str, now: i64) -> StoreResult<()> {
        self.inner.end_admin_session(id, now).await
    }
    async fn touch_admin_session(&self, id: &str, now: i64) -> StoreResult<()> {
        self.inner.touch_admin_session(id, now).await
    }
    async fn record_login_failure(&self, key: &str, at: i64) -> StoreResult<()> {
        self.inner.record_login_failure(key, at).await
    }
    async fn count_login_failures(&self, key: &str, since: i64) -> StoreResult<i64> {
        self.inner.count_login_failures(key, since).await
    }
    async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        self.inner.clear_login_failures(key).await
    }
    async fn delete_rule(&self, id: &str) -> StoreResult<bool> {
        self.inner.delete_rule(id).await
    }
    async fn delete_user(&self, user_id: &str, now: i64) -> StoreResult<Option<u64>> {
        self.inner.delete_user(user_id, now).await
    }
    async fn list_users(&self, limit: i64) -> StoreResult<Vec<User>> {
        self.inner.list_users(limit).await
    }
    async fn count_live_sessions(&self, now: i64) -> StoreResult<Vec<(String, i64)>> {
        self.inner.count_live_sessions(now).await
    }
    async fn end_user_sessions(&self, user_id: &str, now: i64) -> StoreResult<u64> {
        self.inner.end_user_sessions(user_id, now).await
    }
    async fn revoke_user_grants(&self, user_id: &str, now: i64) -> StoreResult<u64> {
        self.inner.revoke_user_grants(user_id, now).await
    }
    async fn revoke_client_grants(&self, client_id: &str, now: i64) -> StoreResult<u64> {
        self.inner.revoke_client_grants(client_id, now).await
    }
    async fn client_tokens_cutoff(&self, client_id: &str) -> StoreResult<Option<i64>> {
        self.inner.client_tokens_cutoff(client_id).await
    }
    async fn user_tokens_cutoff(&self, user_id: &str) -> StoreResult<Option<i64>> {
        self.inner.user_tokens_cutoff(user_id).await
    }
    async fn list_all_consents(&self, limit: i64) -> StoreResult<Vec<Consent>> {
        self.inner.list_all_consents(limit).await
    }
    async fn search_audit_events(&self, search: &AuditSearch) -> StoreResult<Vec<AuditRecord>> {
        self.inner.search_audit_events(search).await
    }
    async fn list_client_last_used(&self) -> StoreResult<Vec<(String, Option<i64>)>> {
        self.inner.list_client_last_used().await
    }
}

#[async_trait]
impl HealthStore for CachedStore {
    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
}

#[async_trait]
impl UserStore for CachedStore {
    async fn upsert_user(&self, user: &User) -> StoreResult<User> {
        self.inner.upsert_user(user).await
    }
    async fn find_user(&self, id: &str) -> StoreResult<Option<User>> {
        self.inner.find_user(id).await
    }
    async fn set_user_enabled(&self, id: &str, is_enabled: bool, now: i64) -> StoreResult<()> {
        self.inner.set_user_enabled(id, is_enabled, now).await
    }
}

#[async_trait]
impl SessionStore for CachedStore {
    async fn insert_session(&self, session: &Session) -> StoreResult<()> {
        self.inner.insert_session(session).await
    }
    async fn find_session_by_token(&self, token_hash: &str) -> StoreResult<Option<Session>> {
        self.inner.find_session_by_token(token_hash).await
    }
    async fn end_session(&self, id: &str, now: i64) -> StoreResult<()> {
        self.inner.end_session(id, now).await
    }
}

#[async_trait]
impl TokenStore for CachedStore {
    async fn insert_code(&self, code: &CodeRecord, family: &NewFamily) -> StoreResult<()> {
        self.inner.insert_code(code, family).await
    }
    async fn find_code(&self, code_hash: &str) -> StoreResult<Option<CodeRecord>> {
        self.inner.find_code(code_hash).await
    }
    async fn redeem_code(
        &self,
        code_hash: &str,
        now: i64,
        issued: &Issuance,
    ) -> StoreResult<Redeemed<CodeRecord>> {
        self.inner.redeem_code(code_hash, now, issued).await
    }
    async fn insert_refresh(&self, token: &RefreshRecord) -> StoreResult<()> {
        self.inner.insert_refresh(token).await
    }
    async fn find_refresh(&self, token_hash: &str) -> StoreResult<Option<RefreshRecord>> {
        self.inner.find_refresh(token_hash).await
    }
    async fn rotate_refresh(
        &self,
        token_hash: &str,
        now: i64,
        issued: &Issuance,
    ) -> StoreResult<Redeemed<RefreshRecord>> {
        self.inner.rotate_refresh(token_hash, now, issued).await
    }
    async fn revoke_family(&self, family_id: &str, now: i64) -> StoreResult<()> {
        self.inner.revoke_family(family_id, now).await
    }
    async fn revoke_access_token(&self, jti: &str, expires_at: i64) -> StoreResult<()> {
        self.inner.revoke_access_token(jti, expires_at).await
    }
    async fn access_token_status(&self, jti: &str) -> StoreResult<AccessTokenStatus> {
        self.inner.access_token_status(jti).await
    }
}

#[async_trait]
impl GrantStore for CachedStore {
    async fn insert_pending(
        &self,
        pending: &PendingAuthorization,
        from_address: &str,
    ) -> StoreResult<()> {
        self.inner.insert_pending(pending, from_address).await
    }
    async fn count_pending_from(&self, from_address: &str, since: i64) -> StoreResult<i64> {
        self.inner.count_pending_from(from_address, since).await
    }
    async fn find_pending(&self, id: &str) -> StoreResult<Option<PendingAuthorization>> {
        self.inner.find_pending(id).await
    }
    async fn attach_session(&self, pending_id: &str, session_id: &str) -> StoreResult<()> {
        self.inner.attach_session(pending_id, session_id).await
    }
    async fn finish_pending(&self, id: &str, now: i64) -> StoreResult<bool> {
        self.inner.finish_pending(id, now).await
    }
    async fn purge_expired(&self, now: i64) -> StoreResult<u64> {
        self.inner.purge_expired(now).await
    }
    async fn insert_upstream_login(&self, login: &UpstreamLogin) -> StoreResult<()> {
        self.inner.insert_upstream_login(login).await
    }
    async fn find_upstream_login(&self, state_hash: &str) -> StoreResult<Option<UpstreamLogin>> {
        self.inner.find_upstream_login(state_hash).await
    }
    async fn take_upstream_login(
        &self,
        state_hash: &str,
        now: i64,
    ) -> StoreResult<Taken<UpstreamLogin>> {
        self.inner.take_upstream_login(state_hash, now).await
    }
    async fn remember_assertion(
        &self,
        connection_id: &str,
        assertion_id: &str,
        expires_at: i64,
    ) -> StoreResult<bool> {
        self.inner
            .remember_assertion(connection_id, assertion_id, expires_at)
            .await
    }
}

#[async_trait]
impl ConsentStore for CachedStore {
    async fn find_consent(
        &self,
        user_id: &str,
        client_id: &str,
        redirect_uri: &str,
        resource_id: &str,
    ) -> StoreResult<Option<Consent>> {
        self.inner
            .find_consent(user_id, client_id, redirect_uri, resource_id)
            .await
    }
    async fn upsert_consent(&self, consent: &Consent) -> StoreResult<Consent> {
        self.inner.upsert_consent(consent).await
    }
    async fn find_consent_by_id(&self, id: &str) -> StoreResult<Option<Consent>> {
        self.inner.find_consent_by_id(id).await
    }
    async fn revoke_consent(&self, id: &str, now: i64) -> StoreResult<bool> {
        self.inner.revoke_consent(id, now).await
    }
    async fn list_consents(&self, user_id: &str) -> StoreResult<Vec<Consent>> {
        self.inner.list_consents(user_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hits_within_a_second_misses_are_not_cached_and_writes_clear() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("c.db").display());
        let inner: Arc<dyn Store> = Arc::new(SqlStore::open(&url).await.unwrap());
        let cached = CachedStore::new(inner.clone());
        let plan = |ttl| SeedPlan {
            resources: vec![Resource {
                id: "res_1".into(),
                name: "R".into(),
                server_url: "http://127.0.0.1:1/mcp".into(),
                access_token_ttl: ttl,
                refresh_token_ttl: 60,
                is_dcr_enabled: true,
                is_cimd_enabled: true,
                cimd_allowlist: vec![],
                scopes: vec![],
            }],
            ..Default::default()
        };
        assert_eq!(cached.find_resource("res_1").await.unwrap(), None);
        inner.apply_seed(&plan(100), 1).await.unwrap();
        assert_eq!(
            cached
                .find_resource("res_1")
                .await
                .unwrap()
                .unwrap()
                .access_token_ttl,
            100,
            "miss not cached"
        );
        // Another replica changes it: seen after at most a second.
        inner.apply_seed(&plan(200), 2).await.unwrap();
        assert_eq!(
            cached
                .find_resource("res_1")
                .await
                .unwrap()
                .unwrap()
                .access_token_ttl,
            100
        );
        tokio::time::sleep(TTL + Duration::from_millis(50)).await;
        assert_eq!(
            cached
                .find_resource("res_1")
                .await
                .unwrap()
                .unwrap()
                .access_token_ttl,
            200
        );
        // A write through the cache is seen at once.
        cached.apply_seed(&plan(300), 3).await.unwrap();
        assert_eq!(
            cached
                .find_resource("res_1")
                .await
                .unwrap()
                .unwrap()
                .access_token_ttl,
            300
        );
    }
}
