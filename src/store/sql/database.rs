//! Writes that span aggregates. The seed: a validated plan applied in one transaction,
//! upserts by id, nothing deleted except an organization's domain list, which the seed
//! states in full (a SAML user's address outside the new list stops counting as verified).
//! The purge of expired rows of every aggregate.

use async_trait::async_trait;

use super::clients::{UPSERT_CLIENT, bind_client};
use super::{SqlStore, to_json};
use crate::store::EmailVerifiedTrust;
use crate::store::{ConnectionKind, DatabaseStore, SeedPlan, StoreError, StoreResult};

fn conflict(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| StoreError::from_write(e, what)
}

#[async_trait]
impl DatabaseStore for SqlStore {
    async fn apply_seed(&self, plan: &SeedPlan, now: i64) -> StoreResult<()> {
        let _written = self.cache.clients_and_resources_written();
        let mut tx = self.pool().begin().await?;
        for o in &plan.organizations {
            sqlx::query(
                "INSERT INTO organizations (id, display_name, external_id, created_at, updated_at, enabled, \
                 initiate_login_uri) VALUES ($1, $2, $3, $4, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET \
                 display_name = excluded.display_name, external_id = excluded.external_id, \
                 updated_at = excluded.updated_at, enabled = excluded.enabled, \
                 initiate_login_uri = excluded.initiate_login_uri",
            )
            .bind(&o.id)
            .bind(&o.display_name)
            .bind(o.external_id.as_deref())
            .bind(now)
            .bind(i64::from(o.is_enabled))
            .bind(o.initiate_login_uri.as_deref())
            .execute(&mut *tx)
            .await
            .map_err(conflict("external_id already used by another organization"))?;
            sqlx::query("DELETE FROM organization_domains WHERE organization_id = $1")
                .bind(&o.id)
                .execute(&mut *tx)
                .await?;
            for d in &o.domains {
                sqlx::query(
                    "INSERT INTO organization_domains (domain, organization_id) VALUES ($1, $2)",
                )
                .bind(d)
                .bind(&o.id)
                .execute(&mut *tx)
                .await
                .map_err(conflict("domain already belongs to another organization"))?;
            }
            // A SAML IdP, an application's own login (custom), and an OIDC IdP not trusted
            // for any domain vouch only for their organization's domains (EmailTrust): an
            // address in a domain the organization no longer has is unverified from now
            // on, not from its owner's next sign-in.
            sqlx::query(
                "UPDATE users SET email_verified = 0 WHERE organization_id = $1 \
                 AND email_verified = 1 AND email IS NOT NULL \
                 AND connection_id IN (SELECT id FROM connections WHERE kind IN ($3, $5) \
                   OR (kind = $4 AND settings NOT LIKE $2)) \
                 AND NOT EXISTS (SELECT 1 FROM organization_domains d \
                   WHERE d.organization_id = $1 \
                   AND lower(substr(users.email, length(users.email) - length(d.domain))) \
                       = '@' || lower(d.domain))",
            )
            .bind(&o.id)
            .bind(format!(
                "%\"{}\":\"{}\"%",
                EmailVerifiedTrust::KEY,
                EmailVerifiedTrust::AnyDomain.as_str()
            ))
            .bind(ConnectionKind::Saml.as_str())
            .bind(ConnectionKind::Oidc.as_str())
            .bind(ConnectionKind::Custom.as_str())
            .execute(&mut *tx)
            .await?;
        }
        for c in &plan.connections {
            sqlx::query(
                "INSERT INTO connections (id, organization_id, kind, enabled, settings, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (id) DO UPDATE SET \
                 organization_id = excluded.organization_id, kind = excluded.kind, \
                 enabled = excluded.enabled, settings = excluded.settings, updated_at = excluded.updated_at",
            )
            .bind(&c.id)
            .bind(&c.organization_id)
            .bind(c.kind.as_str())
            .bind(i64::from(c.is_enabled))
            .bind(to_json(&c.settings))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        for r in &plan.resources {
            sqlx::query(
                "INSERT INTO resources (id, name, server_url, access_token_ttl, refresh_token_ttl, \
                 dynamic_client_registration, client_id_metadata_documents, cimd_allowlist, scopes, \
                 created_at, updated_at, token_issuer, xaa_enabled, refresh_tokens) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13) \
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, server_url = excluded.server_url, \
                 access_token_ttl = excluded.access_token_ttl, refresh_token_ttl = excluded.refresh_token_ttl, \
                 dynamic_client_registration = excluded.dynamic_client_registration, \
                 client_id_metadata_documents = excluded.client_id_metadata_documents, \
                 cimd_allowlist = excluded.cimd_allowlist, scopes = excluded.scopes, \
                 updated_at = excluded.updated_at, token_issuer = excluded.token_issuer, \
                 xaa_enabled = excluded.xaa_enabled, refresh_tokens = excluded.refresh_tokens",
            )
            .bind(&r.id)
            .bind(&r.name)
            .bind(&r.server_url)
            .bind(r.access_token_ttl)
            .bind(r.refresh_token_ttl)
            .bind(i64::from(r.is_dcr_enabled))
            .bind(i64::from(r.is_cimd_enabled))
            .bind(to_json(&r.cimd_allowlist))
            .bind(to_json(&r.scopes))
            .bind(now)
            .bind(r.token_issuer.as_str())
            .bind(i64::from(r.is_xaa_enabled))
            .bind(r.refresh_tokens.as_str())
            .execute(&mut *tx)
            .await
            .map_err(conflict("server_url already used by another resource"))?;
        }
        for r in &plan.rules {
            sqlx::query(
                "INSERT INTO rules (id, resource_id, organization_id, conditions, grants, effect, \
                 position, created_at, updated_at, name) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) \
                 ON CONFLICT (id) DO UPDATE SET resource_id = excluded.resource_id, name = excluded.name, \
                 organization_id = excluded.organization_id, conditions = excluded.conditions, \
                 grants = excluded.grants, effect = excluded.effect, position = excluded.position, \
                 updated_at = excluded.updated_at",
            )
            .bind(&r.id)
            .bind(&r.resource_id)
            .bind(r.organization_id.as_deref())
            .bind(to_json(&r.conditions.to_json()))
            .bind(to_json(&r.grants))
            .bind(r.effect.as_str())
            .bind(r.position)
            .bind(now)
            .bind(&r.name)
            .execute(&mut *tx)
            .await?;
        }
        for c in &plan.clients {
            bind_client(sqlx::query(UPSERT_CLIENT), c)
                .execute(&mut *tx)
                .await
                .map_err(conflict("client"))?;
        }
        for a in &plan.admins {
            sqlx::query(
                "INSERT INTO admins (username, password_hash, created_at, updated_at) \
                 VALUES ($1, $2, $3, $3) ON CONFLICT (username) DO UPDATE SET \
                 password_hash = excluded.password_hash, updated_at = excluded.updated_at",
            )
            .bind(&a.username)
            .bind(&a.password_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn purge_expired(&self, now: i64) -> StoreResult<u64> {
        // Used codes stay until they expire (replays are recognised), then an hour more.
        let statements = [
            "DELETE FROM pending_authorizations WHERE expires_at < $1 - 300",
            "DELETE FROM authorization_codes WHERE expires_at < $1 - 3600",
            "DELETE FROM refresh_tokens WHERE family_expires_at < $1",
            "DELETE FROM revoked_tokens WHERE expires_at < $1",
            "DELETE FROM family_access_tokens WHERE expires_at < $1",
            "DELETE FROM token_families WHERE expires_at < $1",
            "DELETE FROM client_registrations WHERE at < $1 - 86400",
            "DELETE FROM sessions WHERE expires_at < $1 - 86400",
            "DELETE FROM upstream_logins WHERE expires_at < $1 - 3600",
            "DELETE FROM saml_assertions WHERE expires_at < $1",
            "DELETE FROM admin_sessions WHERE expires_at < $1 - 86400",
            "DELETE FROM admin_login_failures WHERE at < $1 - 86400",
        ];
        let mut total = 0;
        for sql in statements {
            total += sqlx::query(sql)
                .bind(now)
                .execute(self.pool())
                .await?
                .rows_affected();
        }
        Ok(total)
    }
}
