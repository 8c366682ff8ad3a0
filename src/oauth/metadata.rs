//! Authorization server metadata (RFC 8414) and OpenID discovery, for the environment
//! issuer and for each resource's own issuer (`{issuer}/resources/{res}`), per the issuer
//! rule. Endpoints are advertised once they exist.

use super::form::OAuthPath;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::endpoint::resource_issuer;
use crate::state::AppState;
use crate::store::{RefreshPolicy, Resource, StoreError};

/// Grant types the token endpoint serves today.
pub const GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token", "client_credentials"];

fn sorted_unique(mut scopes: Vec<String>) -> Vec<String> {
    scopes.sort();
    scopes.dedup();
    scopes
}

/// The fields shared by every authorization server document; `base` is where this
/// issuer's `/oauth/…` endpoints live.
/// What a document may advertise: registration and metadata documents only where on.
struct Offers {
    is_dcr: bool,
    is_cimd: bool,
    /// Identity assertion grants (ID-JAG, Cross-App Access).
    is_xaa: bool,
    /// `offline_access` gets a refresh token somewhere.
    is_offline_access: bool,
}

/// The algorithms `private_key_jwt` client assertions may be signed with.
pub const CLIENT_ASSERTION_ALGS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
];
/// The ID-JAG grant profile (draft-ietf-oauth-identity-assertion-authz-grant).
pub const ID_JAG_PROFILE: &str = "urn:ietf:params:oauth:grant-profile:id-jag";

fn common(
    issuer: &str,
    base: &str,
    jwks_uri: &str,
    scopes: Vec<String>,
    offers: Offers,
) -> Map<String, Value> {
    let mut scopes = scopes;
    if offers.is_offline_access {
        scopes.push("offline_access".into());
    }
    let doc = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/oauth/authorize"),
        "token_endpoint": format!("{base}/oauth/token"),
        "registration_endpoint": format!("{base}/oauth/register"),
        "revocation_endpoint": format!("{base}/oauth/revoke"),
        "introspection_endpoint": format!("{base}/oauth/introspect"),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "jwks_uri": jwks_uri,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": GRANT_TYPES,
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": CLIENT_ASSERTION_ALGS,
        "scopes_supported": sorted_unique(scopes),
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": offers.is_cimd,
    });
    let mut doc = match doc {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    if !offers.is_dcr {
        doc.remove("registration_endpoint");
    }
    if offers.is_xaa {
        let mut grants: Vec<&str> = GRANT_TYPES.to_vec();
        grants.push(super::token::jwt_bearer::GRANT);
        doc.insert("grant_types_supported".into(), json!(grants));
        doc.insert(
            "authorization_grant_profiles_supported".into(),
            json!([ID_JAG_PROFILE]),
        );
    }
    doc
}

/// RFC 8414 document of the environment issuer.
pub fn environment_metadata(issuer: &str, resources: &[Resource]) -> Value {
    let scopes = resources
        .iter()
        .flat_map(|r| r.scope_names().map(str::to_string))
        .collect();
    let offers = Offers {
        is_dcr: resources.iter().any(|r| r.is_dcr_enabled),
        is_cimd: resources.iter().any(|r| r.is_cimd_enabled),
        is_xaa: resources.iter().any(|r| r.is_xaa_enabled),
        // With no resource at all, login apps still sign in with offline_access.
        is_offline_access: resources.is_empty()
            || resources
                .iter()
                .any(|r| r.refresh_tokens != RefreshPolicy::Never),
    };
    Value::Object(common(
        issuer,
        issuer,
        &format!("{issuer}/keys"),
        scopes,
        offers,
    ))
}

/// OpenID Provider metadata: the RFC 8414 fields plus the OpenID ones.
pub fn openid_metadata(issuer: &str, resources: &[Resource], signing_alg: &str) -> Value {
    let mut doc = match environment_metadata(issuer, resources) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    doc.insert("subject_types_supported".into(), json!(["public"]));
    doc.insert(
        "userinfo_endpoint".into(),
        json!(format!("{issuer}/oauth/userinfo")),
    );
    doc.insert(
        "end_session_endpoint".into(),
        json!(format!("{issuer}/oidc/logout")),
    );
    doc.insert(
        "claims_supported".into(),
        json!([
            "sub",
            "email",
            "email_verified",
            "name",
            "oid",
            "sid",
            "amr",
            "nonce",
            "at_hash",
            "auth_time"
        ]),
    );
    doc.insert(
        "id_token_signing_alg_values_supported".into(),
        json!([signing_alg]),
    );
    Value::Object(doc)
}

/// RFC 8414 document of a resource's own authorization server.
pub fn resource_metadata(environment_issuer: &str, resource: &Resource) -> Value {
    let issuer = resource_issuer(environment_issuer, &resource.id);
    let scopes = resource.scope_names().map(str::to_string).collect();
    let offers = Offers {
        is_dcr: resource.is_dcr_enabled,
        is_cimd: resource.is_cimd_enabled,
        is_xaa: resource.is_xaa_enabled,
        is_offline_access: resource.refresh_tokens != RefreshPolicy::Never,
    };
    Value::Object(common(
        &issuer,
        &issuer,
        &format!("{environment_issuer}/keys"),
        scopes,
        offers,
    ))
}

fn document(doc: Value) -> Response {
    ([(header::CACHE_CONTROL, "public, max-age=60")], Json(doc)).into_response()
}

fn unavailable(e: StoreError) -> Response {
    tracing::error!(error = %e, "metadata: store failure");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "error": "temporarily_unavailable" })),
    )
        .into_response()
}

pub async fn get_authorization_server(State(app): State<AppState>) -> Response {
    match app.store.list_resources().await {
        Ok(resources) => document(environment_metadata(app.issuer(), &resources)),
        Err(e) => unavailable(e),
    }
}

pub async fn get_openid_configuration(State(app): State<AppState>) -> Response {
    match app.store.list_resources().await {
        Ok(resources) => document(openid_metadata(
            app.issuer(),
            &resources,
            app.config.signing_alg.as_str(),
        )),
        Err(e) => unavailable(e),
    }
}

pub async fn get_resource_authorization_server(
    State(app): State<AppState>,
    OAuthPath(resource): OAuthPath<String>,
) -> Response {
    match app.store.find_resource(&resource).await {
        Ok(Some(r)) => document(resource_metadata(app.issuer(), &r)),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "not_found", "error_description": "unknown resource" })),
        )
            .into_response(),
        Err(e) => unavailable(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ScopeDef;

    fn tickets() -> Resource {
        Resource {
            id: "res_tickets".into(),
            name: "Tickets".into(),
            server_url: "http://127.0.0.1:8081/mcp".into(),
            access_token_ttl: 300,
            refresh_token_ttl: 86400,
            is_dcr_enabled: true,
            is_cimd_enabled: false,
            token_issuer: crate::store::TokenIssuer::Resource,
            is_xaa_enabled: false,
            refresh_tokens: crate::store::RefreshPolicy::Always,
            cimd_allowlist: vec![],
            scopes: vec![ScopeDef {
                name: "tickets.read".into(),
                description: String::new(),
            }],
        }
    }

    #[test]
    fn per_resource_document_uses_its_own_issuer_and_endpoints() {
        let doc = resource_metadata("https://auth.example.com", &tickets());
        assert_eq!(
            doc["issuer"],
            "https://auth.example.com/resources/res_tickets"
        );
        assert_eq!(
            doc["token_endpoint"],
            "https://auth.example.com/resources/res_tickets/oauth/token"
        );
        assert_eq!(doc["jwks_uri"], "https://auth.example.com/keys");
        assert_eq!(
            doc["scopes_supported"],
            json!(["offline_access", "tickets.read"])
        );
    }

    #[test]
    fn registration_and_cimd_are_advertised_only_where_on() {
        let mut closed = tickets();
        closed.is_dcr_enabled = false;
        closed.is_cimd_enabled = false;
        let doc = resource_metadata("https://auth.example.com", &closed);
        assert!(doc.get("registration_endpoint").is_none());
        assert_eq!(doc["client_id_metadata_document_supported"], false);
        let open = resource_metadata("https://auth.example.com", &tickets());
        assert!(open.get("registration_endpoint").is_some());
        let env = environment_metadata("https://auth.example.com", &[closed, tickets()]);
        assert!(
            env.get("registration_endpoint").is_some(),
            "one resource allows it"
        );
    }

    #[test]
    fn environment_document_lists_environment_endpoints() {
        let doc = environment_metadata("https://auth.example.com", &[tickets()]);
        assert_eq!(doc["issuer"], "https://auth.example.com");
        assert_eq!(
            doc["registration_endpoint"],
            "https://auth.example.com/oauth/register"
        );
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    }
}
