//! The JWT-bearer grant (RFC 7523 §2.1) with an Identity Assertion JWT Authorization Grant
//! (ID-JAG, draft-ietf-oauth-identity-assertion-authz-grant; MCP's enterprise-managed
//! authorization, SEP-990, "Cross-App Access"): an enterprise IdP, where the person already
//! signed in, vouches that this client may act for them at this resource, and the token
//! comes without a browser, a consent page or a second login. Accepted only when signed
//! (asymmetric) by a key of an IdP trusted for it on one of the organization's connections
//! (`xaa_issuer`, or the simulator's own issuer), `typ` `oauth-id-jag+jwt`, for this
//! endpoint's issuer (`aud`), this client (`client_id`) and this resource (`resource`),
//! short-lived, used once (`jti`, on every replica). The person is the connection's user
//! with that subject (made on first use, as a login would), enabled, in an enabled
//! organization; the scope is the request ∩ the assertion's ∩ what the rules allow; no
//! refresh token (the client asks the IdP again). Every refusal is `invalid_grant` naming
//! the failed check.

use serde_json::Value;

use super::TokenResponse;
use crate::audit::{AuditEvent, XaaDetail};
use crate::federation::simulator_idp::{self, ID_JAG_TYP};
use crate::federation::{EmailTrust, VerifiedIdentity};
use crate::oauth::access_token::{self, TokenSubject};
use crate::oauth::client_auth;
use crate::oauth::endpoint::{Endpoint, client_may_use, resolve_resource};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::form::{BasicAuth, FormParams};
use crate::oauth::{jwt_assertion, scope};
use crate::seed::plan::{XAA_ISSUER, XAA_JWKS_URI};
use crate::state::AppState;
use crate::store::{ClientKind, Connection, ConnectionKind, User};

/// RFC 7523 §2.1's grant type.
pub const GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// How far ahead an ID-JAG's `exp` may be.
const MAX_LIFETIME: i64 = 600;

fn refused(check: &str, why: impl std::fmt::Display) -> OAuthError {
    OAuthError::invalid_grant(format!("identity assertion refused ({check}): {why}"))
}

pub async fn exchange(
    app: &AppState,
    endpoint: &Endpoint,
    basic: BasicAuth,
    params: &FormParams,
) -> Result<TokenResponse, OAuthError> {
    let client = client_auth::authenticate(app, basic, params).await?.client;
    if client.kind != ClientKind::Static || client.is_public() || !client.has_grant(GRANT) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the JWT-bearer grant",
        ));
    }
    let assertion = params
        .get("assertion")
        .ok_or_else(|| OAuthError::invalid_request("assertion is required"))?;
    let (header, peeked) =
        jwt_assertion::peek(assertion).map_err(|e| refused("format", e.describe()))?;
    if header["typ"].as_str() != Some(ID_JAG_TYP) {
        return Err(refused("typ", format!("the JWS typ must be {ID_JAG_TYP}")));
    }
    let iss = peeked["iss"].as_str().unwrap_or_default();
    let (connection, jwks) = trusted_idp(app, iss).await?;
    let claims = match jwt_assertion::verify(assertion, &jwks) {
        Err(jwt_assertion::SignatureRefusal::UnknownKey(_)) if !is_simulator(&connection) => {
            // A key the cached set does not have yet (a rotation): refetched, rate-limited.
            let jwks = idp_jwks(app, &connection, true).await?;
            jwt_assertion::verify(assertion, &jwks)
        }
        other => other,
    }
    .map_err(|e| refused("signature", e.describe()))?
    .1;

    // For this endpoint, this client, this resource.
    let endpoint_issuer = endpoint.issuer(app.issuer());
    let with_slash = format!("{endpoint_issuer}/");
    if !jwt_assertion::audience_has(&claims["aud"], &[&endpoint_issuer, &with_slash]) {
        return Err(refused("aud", format!("it is not for {endpoint_issuer}")));
    }
    if claims["client_id"].as_str() != Some(client.id.as_str()) {
        return Err(refused("client_id", "it was issued for another client"));
    }
    let claimed_resource = claims["resource"]
        .as_str()
        .or_else(|| claims["resource"][0].as_str());
    // A per-resource endpoint serves its own resource (the claim is checked below); at the
    // environment's, the request or the claim names it.
    let named = match endpoint {
        Endpoint::Resource(_) => params.get("resource"),
        Endpoint::Environment => params.get("resource").or(claimed_resource),
    };
    let resource = resolve_resource(app, endpoint, named)
        .await?
        .ok_or_else(|| refused("resource", "it names no resource"))?;
    let names_it = |v: &Value| {
        jwt_assertion::audience_has(v, &[resource.id.as_str(), resource.server_url.as_str()])
    };
    if !names_it(&claims["resource"]) {
        return Err(refused(
            "resource",
            format!("it is not for {}", resource.id),
        ));
    }
    let now = app.clock.now();
    let exp = claims["exp"].as_i64().unwrap_or(0);
    if exp <= now {
        return Err(refused("exp", "it has expired"));
    }
    if exp > now + MAX_LIFETIME || claims["iat"].as_i64().is_none_or(|iat| iat > now + 60) {
        return Err(refused("iat", "its lifetime is not sensible"));
    }
    if claims["nbf"].as_i64().is_some_and(|nbf| nbf > now + 60) {
        return Err(refused("nbf", "it is not valid yet"));
    }
    let sub = claims["sub"]
        .as_str()
        .filter(|s| !s.is_empty() && s.len() <= 255)
        .ok_or_else(|| refused("sub", "it names nobody"))?;
    let jti = claims["jti"]
        .as_str()
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| refused("jti", "it has none"))?;

    // Policy: the resource takes such grants, the client may use it.
    if !resource.is_xaa_enabled {
        return Err(refused(
            "xaa_enabled",
            "this resource does not accept Cross-App Access",
        ));
    }
    if !client_may_use(&client, &resource) {
        return Err(refused(
            "client",
            "this client may not get tokens for that resource",
        ));
    }
    // Used once, on every replica.
    if !app
        .store
        .remember_assertion(&format!("id_jag|{iss}"), jti, exp + 60)
        .await?
    {
        return Err(refused("jti", "it was already used"));
    }

    // The person: the connection's user with that subject.
    let (user, organization) = person(app, &connection, sub, &claims).await?;
    let requested = params
        .get("scope")
        .map(scope::parse)
        .transpose()
        .map_err(OAuthError::invalid_scope)?
        .map(|s| {
            s.into_iter()
                .filter(|x| !scope::OIDC_SCOPES.contains(&x.as_str()))
                .collect::<Vec<_>>()
        });
    // The IdP's limit: absent, or a space-separated string; anything else is no limit we
    // can read, so nothing.
    let asserted: Option<Vec<String>> = match &claims["scope"] {
        Value::Null => None,
        Value::String(s) => Some(
            s.split(' ')
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect(),
        ),
        _ => return Err(refused("scope", "its scope is not a string")),
    };
    let ceiling: Option<Vec<String>> = match (&requested, &asserted) {
        (Some(r), Some(a)) => Some(scope::intersect(r, a)),
        (Some(r), None) => Some(r.clone()),
        (None, Some(a)) => Some(a.clone()),
        (None, None) => None,
    };
    let decision =
        crate::flow::rule_decision(app, &user, &organization, &resource, ceiling.as_deref())
            .await?;
    if decision.granted.is_empty() {
        return Err(refused(
            "scope",
            "none of the requested scopes is allowed (by the assertion and the rules)",
        ));
    }
    let issuer = access_token::token_issuer(&endpoint_issuer, app.issuer(), &resource);
    let token = access_token::mint(
        &app.keys,
        &TokenSubject {
            issuer: &issuer,
            subject: &user.id,
            client_id: &client.id,
            organization_id: Some(&organization.id),
            session_id: None,
            extra: None,
        },
        &resource,
        &decision.granted,
        now,
    )?;
    app.audit
        .record(AuditEvent::TokenIssued {
            grant: "jwt-bearer",
            client_id: client.id.clone(),
            subject: user.id.clone(),
            organization_id: Some(organization.id.clone()),
            resource_id: resource.id.clone(),
            scopes: decision.granted.clone(),
            jti: token.jti.clone(),
            issuer,
            xaa: Some(XaaDetail {
                idp: iss.to_string(),
                explanations: decision.explanations.clone(),
            }),
        })
        .await;
    Ok(TokenResponse {
        access_token: token.jwt,
        token_type: "Bearer",
        expires_in: token.expires_in,
        scope: decision.granted.join(" "),
        refresh_token: None,
        id_token: None,
    })
}

fn is_simulator(c: &Connection) -> bool {
    c.kind == ConnectionKind::IdpSimulator
}

/// The connection whose IdP is trusted for Cross-App Access as `iss`, and its keys.
async fn trusted_idp(app: &AppState, iss: &str) -> Result<(Connection, Value), OAuthError> {
    if iss.is_empty() {
        return Err(refused("iss", "it names no issuer"));
    }
    if let Some(conn) = simulator_idp::connection_id_of(app, iss) {
        let connection = app
            .store
            .find_connection(conn)
            .await?
            .filter(is_simulator)
            .ok_or_else(|| refused("iss", "no IdP trusted for Cross-App Access has this issuer"))?;
        let jwks = simulator_idp::jwks(app, &connection.id);
        return Ok((connection, jwks));
    }
    let iss = iss.trim_end_matches('/');
    let mut trusting: Vec<Connection> = app
        .store
        .list_connections()
        .await?
        .into_iter()
        .filter(|c| c.is_enabled && c.settings[XAA_ISSUER].as_str() == Some(iss))
        .collect();
    // One IdP, one organization: an issuer trusted on several connections is ambiguous (its
    // users would land in whichever came first), so it is trusted on none.
    if trusting.len() > 1 {
        return Err(refused(
            "iss",
            "this issuer is trusted on several connections; an admin must keep one",
        ));
    }
    let connection = trusting
        .pop()
        .ok_or_else(|| refused("iss", "no IdP trusted for Cross-App Access has this issuer"))?;
    let jwks = idp_jwks(app, &connection, false).await?;
    Ok((connection, jwks))
}

/// The trusted IdP's JWK Set: `xaa_jwks_uri`, or its discovery document's `jwks_uri`.
async fn idp_jwks(
    app: &AppState,
    connection: &Connection,
    after_unknown_kid: bool,
) -> Result<Value, OAuthError> {
    let unavailable = |e: String| {
        tracing::warn!(connection = %connection.id, error = %e, "XAA IdP keys unavailable");
        OAuthError::new(
            ErrorCode::ServerError,
            "the identity provider's keys are unavailable",
        )
    };
    let url = match connection.settings[XAA_JWKS_URI].as_str() {
        Some(u) => u.to_string(),
        None => {
            let issuer = connection.settings[XAA_ISSUER].as_str().unwrap_or_default();
            let discovery = format!("{issuer}/.well-known/openid-configuration");
            let doc = crate::caches::jwks::fetch_document(&app.jwks, &app.http, &discovery)
                .await
                .map_err(unavailable)?;
            // OIDC Discovery §4.3: the document is the issuer's own; its key set is served
            // over https or from the issuer's own origin.
            if doc["issuer"].as_str().map(|i| i.trim_end_matches('/')) != Some(issuer) {
                return Err(unavailable(format!("{discovery} names another issuer")));
            }
            let jwks_uri = doc["jwks_uri"]
                .as_str()
                .ok_or_else(|| unavailable(format!("{discovery} names no jwks_uri")))?;
            let same_origin = match (url::Url::parse(jwks_uri), url::Url::parse(issuer)) {
                (Ok(a), Ok(b)) => a.origin() == b.origin(),
                _ => false,
            };
            if !jwks_uri.starts_with("https://") && !same_origin {
                return Err(unavailable(format!(
                    "{discovery}: jwks_uri is neither https nor on the issuer's origin"
                )));
            }
            jwks_uri.to_string()
        }
    };
    crate::caches::jwks::fetch(&app.jwks, &app.http, &url, after_unknown_kid)
        .await
        .map_err(unavailable)
}

/// The user the assertion names at `connection` (made on first use, updated with what the
/// assertion says), enabled, in an enabled organization.
async fn person(
    app: &AppState,
    connection: &Connection,
    sub: &str,
    claims: &Value,
) -> Result<(User, crate::store::Organization), OAuthError> {
    if !connection.is_enabled {
        return Err(refused("connection", "the IdP's connection is disabled"));
    }
    let organization = app
        .store
        .find_organization(&connection.organization_id)
        .await?
        .filter(|o| o.is_enabled)
        .ok_or_else(|| refused("organization", "the organization is disabled"))?;
    let known = app.store.find_user_by_subject(&connection.id, sub).await?;
    let groups: Option<Vec<String>> = claims["groups"].as_array().map(|g| {
        g.iter()
            .filter_map(Value::as_str)
            .take(100)
            .map(str::to_string)
            .collect()
    });
    let email = claims["email"]
        .as_str()
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| e.contains('@') && e.len() <= 254);
    // How far the IdP vouches for the address: as its connection says for logins (an
    // explicit `email_verified: false` never verifies it); a stored address keeps its state.
    let email_trust = match (&email, claims["email_verified"].as_bool(), &known) {
        (Some(_), Some(false), _) => EmailTrust::Unverified,
        (Some(_), Some(true), _)
            if crate::store::EmailVerifiedTrust::from_settings(&connection.settings)
                == crate::store::EmailVerifiedTrust::AnyDomain =>
        {
            EmailTrust::Verified
        }
        (Some(_), _, _) => EmailTrust::OrganizationDomains,
        (None, _, Some(u)) if u.is_email_verified => EmailTrust::Verified,
        (None, _, _) => EmailTrust::Unverified,
    };
    let identity = VerifiedIdentity {
        subject: sub.to_string(),
        email: email
            .clone()
            .or_else(|| known.as_ref().and_then(|u| u.email.clone())),
        email_trust,
        name: known.as_ref().and_then(|u| u.name.clone()),
        groups: groups
            .or_else(|| known.as_ref().map(|u| u.groups.clone()))
            .unwrap_or_default(),
        attributes: known
            .as_ref()
            .map(|u| u.attributes.clone())
            .unwrap_or_default(),
    };
    let user = app
        .store
        .upsert_user(&User {
            id: String::new(),
            connection_id: connection.id.clone(),
            organization_id: organization.id.clone(),
            subject: identity.subject.clone(),
            email: identity.email.clone(),
            is_email_verified: crate::federation::is_email_verified(
                &identity,
                &organization.domains,
            ),
            name: identity.name.clone(),
            groups: identity.groups.clone(),
            attributes: identity.attributes.clone(),
            is_enabled: true,
            last_login_at: known.as_ref().map_or(app.clock.now(), |u| u.last_login_at),
        })
        .await?;
    if !user.is_enabled {
        return Err(refused("user", "the user is disabled"));
    }
    Ok((user, organization))
}
