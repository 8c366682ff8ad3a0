//! The whole URL map: every route of portcullis and the middleware stack around them.

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, Method, header};
use axum::routing::{delete, get, post};
use tower_http::cors::{Any, CorsLayer};
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::federation::{self, discovery, simulator};
use crate::oauth::{
    authorize, client_config, form, introspect, jwks, logout, metadata, register, revoke, token,
    userinfo,
};
use crate::state::AppState;
use crate::{admin, consent, ops};

/// CORS for browser-based MCP clients (MCP Inspector): any origin, never credentials.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("mcp-protocol-version"),
        ])
        .max_age(Duration::from_secs(600))
}

/// The whole URL map.
pub fn build_router(state: AppState) -> Router {
    let token = Router::new()
        .route("/oauth/token", post(token::post_token))
        .route(
            "/resources/{res}/oauth/token",
            post(token::post_resource_token),
        )
        .layer(DefaultBodyLimit::max(form::MAX_FORM_BYTES));
    let revocation = Router::new()
        .route("/oauth/revoke", post(revoke::post_revoke))
        .route(
            "/resources/{res}/oauth/revoke",
            post(revoke::post_resource_revoke),
        )
        .layer(DefaultBodyLimit::max(form::MAX_FORM_BYTES));
    // Bring-your-own-auth: the application posts who signed in (a JSON body).
    let login_requests = Router::new()
        .route(
            "/api/v1/connections/{conn}/auth-requests/{login_request_id}/user",
            post(federation::custom::auth_request::post_auth_request_user),
        )
        .layer(DefaultBodyLimit::max(form::MAX_FORM_BYTES));
    let registration = Router::new()
        .route("/oauth/register", post(register::post_register))
        .route(
            "/resources/{res}/oauth/register",
            post(register::post_resource_register),
        )
        .route(
            "/api/v1/resources/{res}/clients:register",
            post(register::post_resource_register),
        )
        .route(
            "/oauth/register/{client_id}",
            get(client_config::get_client_config)
                .put(client_config::put_client_config)
                .delete(client_config::delete_client_config),
        )
        .route(
            "/resources/{res}/oauth/register/{client_id}",
            get(client_config::get_resource_client_config)
                .put(client_config::put_resource_client_config)
                .delete(client_config::delete_resource_client_config),
        )
        .layer(DefaultBodyLimit::max(register::MAX_REGISTRATION_BYTES));
    let public = Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(metadata::get_authorization_server),
        )
        .route(
            "/.well-known/oauth-authorization-server/resources/{res}",
            get(metadata::get_resource_authorization_server),
        )
        .route(
            "/resources/{res}/.well-known/oauth-authorization-server",
            get(metadata::get_resource_authorization_server),
        )
        .route(
            "/.well-known/openid-configuration",
            get(metadata::get_openid_configuration),
        )
        .route("/keys", get(jwks::get_jwks))
        .route("/.well-known/jwks.json", get(jwks::get_jwks))
        .merge(doubled_slash())
        .merge(token)
        .merge(revocation)
        .merge(login_requests)
        .merge(registration)
        .layer(cors());
    let flow = Router::new()
        .route("/oauth/authorize", get(authorize::get_authorize))
        .route(
            "/resources/{res}/oauth/authorize",
            get(authorize::get_resource_authorize),
        )
        .route(
            "/oauth/consent",
            get(consent::get_consent).post(consent::post_consent),
        )
        .route(
            "/sso/v1/login",
            get(discovery::get_login).post(discovery::post_login),
        )
        .route(
            "/sso/v1/simulator/{conn}",
            get(simulator::get_simulator).post(simulator::post_simulator),
        )
        .route(
            "/sso/v1/connections/{conn}/start",
            get(federation::custom::get_start),
        )
        .route(
            "/sso/v1/connections/{conn}/partner:callback",
            get(federation::custom::get_partner_callback),
        )
        .route(
            "/sso/v1/simulator/{conn}/jwks",
            get(federation::simulator_idp::get_jwks),
        )
        .route(
            "/sso/v1/simulator/{conn}/.well-known/openid-configuration",
            get(federation::simulator_idp::get_discovery),
        )
        .route(
            "/sso/v1/simulator/{conn}/id-token",
            post(federation::simulator_idp::post_id_token),
        )
        .route(
            "/sso/v1/simulator/{conn}/token",
            post(federation::simulator_idp::post_token),
        )
        .route(
            "/sso/v1/simulator/{conn}/idp-initiated",
            get(simulator::get_idp_initiated).post(simulator::post_idp_initiated),
        )
        .route("/sso/v1/oidc/{conn}/start", get(federation::get_oidc_start))
        .route(
            "/sso/v1/saml/{conn}/start",
            get(federation::saml::get_start),
        )
        .route(
            "/sso/v1/saml/{conn}/metadata",
            get(federation::saml::get_sp_metadata),
        )
        .route(
            "/sso/v1/saml/{conn}/continue",
            post(federation::saml::post_continue),
        )
        .route(
            "/sso/v1/saml/{conn}/acs",
            post(federation::saml::post_acs).layer(DefaultBodyLimit::max(
                federation::saml::verify::MAX_RESPONSE_BYTES * 4,
            )),
        )
        .route(
            "/sso/v1/oidc/{conn}/callback",
            get(federation::oidc::get_callback),
        )
        .route("/oauth/introspect", post(introspect::post_introspect))
        .route(
            "/resources/{res}/oauth/introspect",
            post(introspect::post_resource_introspect),
        )
        .route(
            "/oauth/userinfo",
            get(userinfo::get_userinfo).post(userinfo::get_userinfo),
        )
        .route(
            "/oidc/logout",
            get(logout::get_logout).post(logout::post_logout),
        )
        // From an environment URL with a trailing slash (see `doubled_slash`).
        .route("//oauth/authorize", get(authorize::get_authorize))
        .route(
            "//oidc/logout",
            get(logout::get_logout).post(logout::post_logout),
        );

    Router::new()
        .merge(public)
        .merge(flow)
        .merge(admin_pages())
        .merge(admin_api())
        .route("/", get(ops::get_index))
        .route("/healthz", get(ops::get_healthz))
        .route("/readyz", get(ops::get_readyz))
        .fallback(ops::not_found)
        .layer(DefaultBodyLimit::max(form::MAX_FORM_BYTES))
        // A body that trickles in is cut off (408) rather than holding a connection.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            std::time::Duration::from_secs(30),
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            // Never the full URI: query strings carry codes and state.
            let path = req
                .extensions()
                .get::<MatchedPath>()
                .map(MatchedPath::as_str)
                .unwrap_or("unmatched");
            let request_id = req
                .extensions()
                .get::<RequestId>()
                .and_then(|id| id.header_value().to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path, request_id)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// The paths Scalekit's SDKs build from an environment URL written with a trailing slash
/// (`{env}/` + `/oauth/token`): these four, and no other doubled path, answer as their
/// single-slash selves.
/// The machine ones here; `//oauth/authorize` and `//oidc/logout` sit with the flow's pages.
fn doubled_slash() -> Router<AppState> {
    Router::new()
        .route("//oauth/token", post(token::post_token))
        .route("//keys", get(jwks::get_jwks))
        .layer(DefaultBodyLimit::max(form::MAX_FORM_BYTES))
}

/// The admin pages (`/admin/…`): server-rendered, session cookie, CSRF on every form.
fn admin_pages() -> Router<AppState> {
    use admin::pages::{
        clients, connections, dashboard, keys, login, org_clients, organizations, resources, rules,
        users,
    };
    Router::new()
        .route("/admin", get(dashboard::get_dashboard))
        .route(
            "/admin/login",
            get(login::get_login).post(login::post_login),
        )
        .route("/admin/logout", post(login::post_logout))
        .route(
            "/admin/organizations",
            get(organizations::get_organizations).post(organizations::post_organizations),
        )
        .route(
            "/admin/organizations/{id}",
            get(organizations::get_organization).post(organizations::post_organization),
        )
        .route(
            "/admin/organizations/{id}/enabled",
            post(organizations::post_organization_enabled),
        )
        .route(
            "/admin/organizations/{id}/delete",
            post(organizations::post_organization_delete),
        )
        .route(
            "/admin/organizations/{id}/clients",
            post(org_clients::post_org_clients),
        )
        .route(
            "/admin/organizations/{id}/clients/{client_id}/secrets",
            post(org_clients::post_org_client_secrets),
        )
        .route(
            "/admin/organizations/{id}/clients/{client_id}/secrets/{secret_id}/delete",
            post(org_clients::post_org_client_secret_delete),
        )
        .route(
            "/admin/organizations/{id}/clients/{client_id}/delete",
            post(org_clients::post_org_client_delete),
        )
        .route(
            "/admin/connections",
            get(connections::get_connections).post(connections::post_connections),
        )
        .route(
            "/admin/connections/{id}",
            get(connections::get_connection).post(connections::post_connection),
        )
        .route(
            "/admin/connections/{id}/enabled",
            post(connections::post_connection_enabled),
        )
        .route(
            "/admin/connections/{id}/delete",
            post(connections::post_connection_delete),
        )
        .route(
            "/admin/connections/{id}/test",
            get(connections::get_connection_test),
        )
        .route(
            "/admin/resources",
            get(resources::get_resources).post(resources::post_resources),
        )
        .route(
            "/admin/resources/{id}",
            get(resources::get_resource).post(resources::post_resource),
        )
        .route(
            "/admin/resources/{id}/delete",
            post(resources::post_resource_delete),
        )
        .route(
            "/admin/rules",
            get(rules::get_rules).post(rules::post_rules),
        )
        .route(
            "/admin/rules/{id}",
            get(rules::get_rule).post(rules::post_rule),
        )
        .route("/admin/rules/{id}/delete", post(rules::post_rule_delete))
        .route("/admin/simulator", get(rules::get_simulator))
        .route(
            "/admin/clients",
            get(clients::get_clients).post(clients::post_clients),
        )
        .route("/admin/clients/revoke", post(clients::post_client_revoke))
        .route("/admin/clients/delete", post(clients::post_client_delete))
        .route("/admin/users", get(users::get_users))
        .route("/admin/users/{id}/enabled", post(users::post_user_enabled))
        .route("/admin/users/{id}/revoke", post(users::post_user_revoke))
        .route("/admin/users/{id}/delete", post(users::post_user_delete))
        .route("/admin/consents", get(users::get_consents))
        .route(
            "/admin/consents/{id}/revoke",
            post(users::post_consent_revoke),
        )
        .route("/admin/audit", get(dashboard::get_audit))
        .route("/admin/audit/export", get(dashboard::get_audit_export))
        .route("/admin/keys", get(keys::get_keys))
        .route("/admin/keys/rotate", post(keys::post_rotate))
        // SAML IdP metadata pasted into a form can be large.
        .layer(DefaultBodyLimit::max(512 * 1024))
}

/// The JSON admin API (`/api/v1/admin/…`) over the same domain functions as the pages.
fn admin_api() -> Router<AppState> {
    use admin::{api, org_clients_api};
    Router::new()
        .route(
            "/api/v1/admin/organizations",
            get(api::get_organizations).post(api::post_organizations),
        )
        .route(
            "/api/v1/admin/organizations/{id}",
            get(api::get_organization)
                .put(api::put_organization)
                .delete(api::delete_organization),
        )
        .route(
            "/api/v1/admin/organizations/{id}/{action}",
            post(api::post_organization_action),
        )
        .route(
            "/api/v1/admin/organizations/{id}/clients",
            get(org_clients_api::get_org_clients).post(org_clients_api::post_org_clients),
        )
        .route(
            "/api/v1/admin/organizations/{id}/clients/{client_id}",
            get(org_clients_api::get_org_client).delete(org_clients_api::delete_org_client),
        )
        .route(
            "/api/v1/admin/organizations/{id}/clients/{client_id}/secrets",
            post(org_clients_api::post_org_client_secrets),
        )
        .route(
            "/api/v1/admin/organizations/{id}/clients/{client_id}/secrets/{secret_id}",
            delete(org_clients_api::delete_org_client_secret),
        )
        .route(
            "/api/v1/admin/connections",
            get(api::get_connections).post(api::post_connections),
        )
        .route(
            "/api/v1/admin/connections/{id}",
            get(api::get_connection)
                .put(api::put_connection)
                .delete(api::delete_connection),
        )
        .route(
            "/api/v1/admin/connections/{id}/{action}",
            post(api::post_connection_action),
        )
        .route(
            "/api/v1/admin/resources",
            get(api::get_resources).post(api::post_resources),
        )
        .route(
            "/api/v1/admin/resources/{id}",
            get(api::get_resource)
                .put(api::put_resource)
                .delete(api::delete_resource),
        )
        .route(
            "/api/v1/admin/rules",
            get(api::get_rules).post(api::post_rules),
        )
        .route("/api/v1/admin/rules:simulate", post(api::post_simulate))
        .route(
            "/api/v1/admin/rules/{id}",
            get(api::get_rule)
                .put(api::put_rule)
                .delete(api::delete_rule),
        )
        .route(
            "/api/v1/admin/clients",
            get(api::get_clients)
                .post(api::post_clients)
                .delete(api::delete_client),
        )
        .route(
            "/api/v1/admin/clients:revoke-tokens",
            post(api::post_client_revoke),
        )
        .route("/api/v1/admin/users", get(api::get_users))
        .route("/api/v1/admin/users/{id}", delete(api::delete_user))
        .route(
            "/api/v1/admin/users/{id}/{action}",
            post(api::post_user_action),
        )
        .route("/api/v1/admin/consents", get(api::get_consents))
        .route(
            "/api/v1/admin/consents/{id}/revoke",
            post(api::post_consent_revoke),
        )
        .route("/api/v1/admin/audit-events", get(api::get_audit_events))
        .route(
            "/api/v1/admin/audit-events:export",
            get(api::get_audit_export),
        )
        .route("/api/v1/admin/keys", get(api::get_keys))
        .route("/api/v1/admin/keys:rotate", post(api::post_rotate))
        .layer(DefaultBodyLimit::max(512 * 1024))
}
