//! `GET /sso/v1/saml/{conn}/start?request=…`: an AuthnRequest over HTTP-Redirect, its ID
//! and the pending request kept server-side under a fresh RelayState, bound to this
//! browser by a cookie sent only to the ACS (see [`super::binding`]).

use crate::pages::{PagePath, PageQuery};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use samael::service_provider::ServiceProvider;

use super::metadata::idp_metadata;
use super::{binding, settings};
use crate::crypto;
use crate::federation::StartQuery;
use crate::federation::oidc::UPSTREAM_TTL;
use crate::flow::{pending_and_connection, refuse};
use crate::pages::{self, PageError};
use crate::state::AppState;
use crate::store::{Connection, PendingAuthorization, UpstreamLogin};

pub async fn get_start(
    State(app): State<AppState>,
    PagePath(conn): PagePath<String>,
    PageQuery(q): PageQuery<StartQuery>,
) -> Response {
    let result = async {
        let (pending, connection) =
            pending_and_connection(&app, &conn, crate::store::ConnectionKind::Saml, &q.request)
                .await?;
        start(&app, &pending, &connection).await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn start(
    app: &AppState,
    pending: &PendingAuthorization,
    connection: &Connection,
) -> Result<Response, PageError> {
    let s = settings(app.issuer(), connection);
    let idp = match idp_metadata(app, &s).await {
        Ok(m) => m,
        Err(why) => {
            return Ok(refuse(
                app,
                pending,
                connection,
                crate::pages::PageCode::ServerError,
                why,
            )
            .await);
        }
    };
    let sp = ServiceProvider {
        entity_id: Some(s.sp_entity_id.clone()),
        acs_url: Some(s.acs_url.clone()),
        idp_metadata: idp.descriptor.clone(),
        authn_name_id_format: s.name_id_format.clone(),
        ..ServiceProvider::default()
    };
    let unavailable = |why: String| {
        tracing::warn!(connection = %connection.id, reason = %why, "SAML request failed");
        PageError::server_error()
    };
    let mut request = sp
        .make_authentication_request(&idp.sso_redirect_url)
        .map_err(|e| unavailable(e.to_string()))?;
    // samael's IDs carry 32 random bits; ours are unguessable (and start with a letter).
    request.id = format!("_{}", crypto::random_token());
    request.force_authn = Some(pending.request.prompt.iter().any(|p| p == "login"));
    let relay_state = crypto::random_token();
    let url = request
        .redirect(&relay_state)
        .map_err(|e| unavailable(e.to_string()))?
        .ok_or_else(|| unavailable("the AuthnRequest has no destination".into()))?;

    let browser = crypto::random_token();
    let now = app.clock.now();
    let state_hash = crypto::hash_secret(&relay_state);
    let secrets = serde_json::json!({ "request_id": request.id }).to_string();
    app.store
        .insert_upstream_login(&UpstreamLogin {
            secrets: app.config.secret.seal(secrets.as_bytes(), &state_hash),
            state_hash: state_hash.clone(),
            connection_id: connection.id.clone(),
            pending_id: pending.id.clone(),
            browser_hash: crypto::hash_secret(&browser),
            created_at: now,
            expires_at: now + UPSTREAM_TTL,
            used_at: None,
        })
        .await?;
    let mut response = pages::redirect(url.as_str(), StatusCode::SEE_OTHER);
    response.headers_mut().append(
        header::SET_COOKIE,
        binding::set_cookie(
            app.issuer(),
            &acs_path(&s.acs_url),
            &state_hash,
            &browser,
            UPSTREAM_TTL,
        ),
    );
    Ok(response)
}

/// The ACS URL's path, where the binding cookie is sent.
pub(super) fn acs_path(acs_url: &str) -> String {
    url::Url::parse(acs_url)
        .map(|u| u.path().to_string())
        .unwrap_or_else(|_| "/".into())
}
