//! Organization M2M clients (`m2morg_…`, Scalekit's organization clients): created per
//! organization with a name, description, scopes, audience, custom claims and token expiry;
//! each secret (`sec_…`) is shown once and only its hash kept; up to [`MAX_SECRETS`] live at
//! a time, so a secret is rotated by adding the new one, then removing the old one.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Actor, AdminError, Touched, deleted, record};
use crate::crypto;
use crate::ids;
use crate::oauth::scope;
use crate::state::AppState;
use crate::store::{Client, ClientKind, ClientSecret, CustomClaim, OrgClientSettings, PkceMode};

/// Live secrets per client.
pub const MAX_SECRETS: i64 = 5;
/// Clients per organization.
pub const MAX_CLIENTS: usize = 100;
/// Claims a custom claim may not replace: the token's own.
const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "client_id",
    "scope",
    "scopes",
    "oid",
    "sid",
    "azp",
    "typ",
    "cnf",
    "act",
];

/// An organization client as an admin writes it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrgClientInput {
    pub name: String,
    pub description: String,
    pub scopes: Vec<String>,
    pub audience: Vec<String>,
    pub custom_claims: Vec<CustomClaim>,
    /// Token lifetime in seconds (default 3600).
    pub expiry: Option<i64>,
}

/// A secret as listed: never the secret, never its hash.
#[derive(Debug, Clone, Serialize)]
pub struct SecretView {
    pub id: String,
    pub secret_suffix: String,
    pub created_at: i64,
}

/// An organization client as listed.
#[derive(Debug, Clone, Serialize)]
pub struct OrgClientView {
    pub client_id: String,
    pub organization_id: String,
    pub name: String,
    pub description: String,
    pub scopes: Vec<String>,
    pub audience: Vec<String>,
    pub custom_claims: Vec<CustomClaim>,
    pub expiry: i64,
    pub secrets: Vec<SecretView>,
    pub created_at: i64,
}

/// A created client or secret and the secret itself, which is never shown again.
#[derive(Debug, Clone, Serialize)]
pub struct WithPlainSecret<T> {
    #[serde(flatten)]
    pub item: T,
    pub plain_secret: String,
}

fn secret_view(s: &ClientSecret) -> SecretView {
    SecretView {
        id: s.id.clone(),
        secret_suffix: s.secret_suffix.clone(),
        created_at: s.created_at,
    }
}

fn view(c: &Client, secrets: &[ClientSecret]) -> OrgClientView {
    let settings = c.org_settings();
    OrgClientView {
        client_id: c.id.clone(),
        organization_id: c.organization_id.clone().unwrap_or_default(),
        name: c.name.clone(),
        description: settings.description,
        scopes: settings.scopes,
        audience: settings.audience,
        custom_claims: settings.custom_claims,
        expiry: settings.expiry,
        secrets: secrets.iter().map(secret_view).collect(),
        created_at: c.created_at,
    }
}

/// The settings an input describes, or the first rule it breaks (pure).
pub fn plan_settings(input: &OrgClientInput) -> Result<OrgClientSettings, AdminError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(AdminError::invalid("name", "must be 1 to 200 characters"));
    }
    if input.description.chars().count() > 1_000 {
        return Err(AdminError::invalid(
            "description",
            "at most 1000 characters",
        ));
    }
    if input.scopes.len() > 50 {
        return Err(AdminError::invalid("scopes", "at most 50 scopes"));
    }
    for s in &input.scopes {
        let parsed = scope::parse(s).map_err(|p| AdminError::invalid("scopes", p))?;
        if parsed.len() != 1 || s.len() > 128 || s == scope::ADMIN_SCOPE {
            return Err(AdminError::invalid(
                "scopes",
                format!("`{s}` is not a scope"),
            ));
        }
    }
    if input.audience.len() > 10 {
        return Err(AdminError::invalid("audience", "at most 10 audiences"));
    }
    if input
        .audience
        .iter()
        .any(|a| a.trim().is_empty() || a.len() > 2_048 || a.chars().any(char::is_control))
    {
        return Err(AdminError::invalid(
            "audience",
            "each audience is 1 to 2048 characters",
        ));
    }
    if input.custom_claims.len() > 20 {
        return Err(AdminError::invalid("custom_claims", "at most 20 claims"));
    }
    for c in &input.custom_claims {
        let valid_key = (1..=64).contains(&c.key.len())
            && c.key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
        if !valid_key {
            return Err(AdminError::invalid(
                "custom_claims",
                "a claim name is 1 to 64 letters, digits, `_`, `-`, `.` or `:`",
            ));
        }
        if RESERVED_CLAIMS.contains(&c.key.as_str()) {
            return Err(AdminError::invalid(
                "custom_claims",
                format!("`{}` is a claim of the token itself", c.key),
            ));
        }
        if c.value.chars().count() > 1_024 {
            return Err(AdminError::invalid(
                "custom_claims",
                "a value is at most 1024 characters",
            ));
        }
    }
    if input
        .custom_claims
        .iter()
        .enumerate()
        .any(|(i, c)| input.custom_claims[..i].iter().any(|d| d.key == c.key))
    {
        return Err(AdminError::invalid(
            "custom_claims",
            "a claim is named twice",
        ));
    }
    let expiry = input.expiry.unwrap_or(3_600);
    if !(60..=86_400).contains(&expiry) {
        return Err(AdminError::invalid("expiry", "must be 60 to 86400 seconds"));
    }
    Ok(OrgClientSettings {
        description: input.description.clone(),
        scopes: input.scopes.clone(),
        audience: input
            .audience
            .iter()
            .map(|a| a.trim().to_string())
            .collect(),
        custom_claims: input.custom_claims.clone(),
        expiry,
    })
}

/// A new secret: the plain text (shown once) and what is kept of it.
fn new_secret(client_id: &str, now: i64) -> (String, ClientSecret) {
    let plain = crypto::random_token();
    let suffix: String = plain
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let record = ClientSecret {
        id: ids::generate("sec"),
        client_id: client_id.to_string(),
        secret_hash: crypto::hash_secret(&plain),
        secret_suffix: suffix,
        created_at: now,
    };
    (plain, record)
}

async fn organization_exists(app: &AppState, id: &str) -> Result<(), AdminError> {
    app.store
        .find_organization(id)
        .await?
        .map(|_| ())
        .ok_or(AdminError::NotFound("organization"))
}

/// The organization's client `id`.
async fn find(app: &AppState, organization_id: &str, id: &str) -> Result<Client, AdminError> {
    app.store
        .find_client(id)
        .await?
        .filter(|c| {
            c.kind == ClientKind::Organization
                && c.organization_id.as_deref() == Some(organization_id)
        })
        .ok_or(AdminError::NotFound("organization client"))
}

pub async fn list(app: &AppState, organization_id: &str) -> Result<Vec<OrgClientView>, AdminError> {
    organization_exists(app, organization_id).await?;
    let mut out = Vec::new();
    for c in app.store.list_org_clients(organization_id).await? {
        let secrets = app.store.list_client_secrets(&c.id).await?;
        out.push(view(&c, &secrets));
    }
    Ok(out)
}

pub async fn get(
    app: &AppState,
    organization_id: &str,
    id: &str,
) -> Result<OrgClientView, AdminError> {
    let c = find(app, organization_id, id).await?;
    let secrets = app.store.list_client_secrets(&c.id).await?;
    Ok(view(&c, &secrets))
}

/// An audience must not name something whose tokens mean more: an MCP server (its id or
/// URL: a verifier of that server would take the token as its own, past its rules and
/// client list), a client (a login app's or management token), or the admin API.
async fn check_audience(app: &AppState, audience: &[String]) -> Result<(), AdminError> {
    let resources = app.store.list_resources().await?;
    let admin_api = scope::admin_audience(app.issuer());
    for a in audience {
        let is_resource = resources.iter().any(|r| r.id == *a || r.server_url == *a);
        let is_client = app.store.find_client(a).await?.is_some();
        if is_resource || is_client || *a == admin_api || a.starts_with(app.issuer()) {
            return Err(AdminError::invalid(
                "audience",
                format!(
                    "`{a}` names an MCP server, a client or this server: choose your API's own identifier"
                ),
            ));
        }
    }
    Ok(())
}

pub async fn create(
    app: &AppState,
    actor: &Actor,
    organization_id: &str,
    input: OrgClientInput,
) -> Result<WithPlainSecret<OrgClientView>, AdminError> {
    let settings = plan_settings(&input)?;
    organization_exists(app, organization_id).await?;
    check_audience(app, &settings.audience).await?;
    if app.store.list_org_clients(organization_id).await?.len() >= MAX_CLIENTS {
        return Err(AdminError::invalid(
            "",
            format!("an organization has at most {MAX_CLIENTS} M2M clients"),
        ));
    }
    let now = app.clock.now();
    let id = ids::generate("m2morg");
    let client = Client {
        id: id.clone(),
        name: input.name.trim().to_string(),
        kind: ClientKind::Organization,
        secret_hash: None,
        secret_expires_at: 0,
        token_endpoint_auth_method: "client_secret_basic".into(),
        redirect_uris: Vec::new(),
        grant_types: vec!["client_credentials".into()],
        resources: Vec::new(),
        bound_resource_id: None,
        scopes: settings.scopes.clone(),
        has_introspection: false,
        pkce: PkceMode::Required,
        application_type: "web".into(),
        metadata: json!({ "client_name": input.name.trim() }),
        created_at: now,
        organization_id: Some(organization_id.to_string()),
        settings: serde_json::to_value(&settings).unwrap_or_default(),
    };
    let (plain, secret) = new_secret(&id, now);
    app.store.insert_org_client(&client, &secret).await?;
    let item = view(&client, std::slice::from_ref(&secret));
    record(
        app,
        actor,
        "admin.organization_client.created",
        &id,
        Touched {
            client_id: Some(id.clone()),
            organization_id: Some(organization_id.to_string()),
            ..Default::default()
        },
        json!({ "name": item.name, "scopes": item.scopes, "audience": item.audience,
                "custom_claims": item.custom_claims.iter().map(|c| &c.key).collect::<Vec<_>>(),
                "expiry": item.expiry, "secret_id": secret.id }),
    )
    .await;
    Ok(WithPlainSecret {
        item,
        plain_secret: plain,
    })
}

/// Deletes the client and its secrets; its tokens already issued live until they expire.
pub async fn delete(
    app: &AppState,
    actor: &Actor,
    organization_id: &str,
    id: &str,
) -> Result<(), AdminError> {
    find(app, organization_id, id).await?;
    app.store.revoke_client_grants(id, app.clock.now()).await?;
    if !app.store.delete_client(id).await? {
        return Err(AdminError::NotFound("organization client"));
    }
    record(
        app,
        actor,
        "admin.organization_client.deleted",
        id,
        Touched {
            client_id: Some(id.to_string()),
            organization_id: Some(organization_id.to_string()),
            ..Default::default()
        },
        json!({}),
    )
    .await;
    Ok(())
}

pub async fn add_secret(
    app: &AppState,
    actor: &Actor,
    organization_id: &str,
    id: &str,
) -> Result<WithPlainSecret<SecretView>, AdminError> {
    find(app, organization_id, id).await?;
    let (plain, secret) = new_secret(id, app.clock.now());
    if !app.store.insert_client_secret(&secret, MAX_SECRETS).await? {
        return Err(AdminError::invalid(
            "",
            format!("a client has at most {MAX_SECRETS} secrets: remove an old one first"),
        ));
    }
    record(
        app,
        actor,
        "admin.organization_client.secret_added",
        id,
        Touched {
            client_id: Some(id.to_string()),
            organization_id: Some(organization_id.to_string()),
            ..Default::default()
        },
        json!({ "secret_id": secret.id }),
    )
    .await;
    Ok(WithPlainSecret {
        item: secret_view(&secret),
        plain_secret: plain,
    })
}

pub async fn remove_secret(
    app: &AppState,
    actor: &Actor,
    organization_id: &str,
    id: &str,
    secret_id: &str,
) -> Result<(), AdminError> {
    find(app, organization_id, id).await?;
    let outcome = app.store.delete_client_secret(id, secret_id).await?;
    deleted(outcome, "secret", secret_id, "add a new secret first")?;
    record(
        app,
        actor,
        "admin.organization_client.secret_removed",
        id,
        Touched {
            client_id: Some(id.to_string()),
            organization_id: Some(organization_id.to_string()),
            ..Default::default()
        },
        json!({ "secret_id": secret_id }),
    )
    .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> OrgClientInput {
        OrgClientInput {
            name: "Billing sync".into(),
            scopes: vec!["invoices:read".into()],
            audience: vec!["https://api.example.com".into()],
            custom_claims: vec![CustomClaim {
                key: "tenant".into(),
                value: "acme".into(),
            }],
            ..Default::default()
        }
    }

    fn field(r: Result<OrgClientSettings, AdminError>) -> String {
        match r {
            Err(AdminError::Invalid { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn settings_are_checked_and_defaulted() {
        let s = plan_settings(&input()).expect("valid");
        assert_eq!(s.expiry, 3_600);
        let mut i = input();
        i.name = " ".into();
        assert_eq!(field(plan_settings(&i)), "name");
        let mut i = input();
        i.expiry = Some(10);
        assert_eq!(field(plan_settings(&i)), "expiry");
        let mut i = input();
        i.scopes = vec!["two words".into()];
        assert_eq!(field(plan_settings(&i)), "scopes");
        let mut i = input();
        i.scopes = vec![scope::ADMIN_SCOPE.into()];
        assert_eq!(field(plan_settings(&i)), "scopes");
        let mut i = input();
        i.audience = vec![String::new()];
        assert_eq!(field(plan_settings(&i)), "audience");
    }

    #[test]
    fn custom_claims_never_replace_the_tokens_own() {
        for key in [
            "aud",
            "iss",
            "sub",
            "exp",
            "scopes",
            "oid",
            "client_id",
            "",
            "a b",
            "é",
        ] {
            let mut i = input();
            i.custom_claims = vec![CustomClaim {
                key: key.into(),
                value: "x".into(),
            }];
            assert_eq!(field(plan_settings(&i)), "custom_claims", "{key:?}");
        }
        let mut i = input();
        i.custom_claims.push(i.custom_claims[0].clone());
        assert_eq!(field(plan_settings(&i)), "custom_claims");
    }
}
