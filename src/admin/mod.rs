//! The admin JSON API under `/api/v1/admin/…`. Only admin credentials: a seeded admin's
//! username and password, or an admin-created client holding the `portcullis:admin`
//! scope, both with HTTP Basic.

pub mod audit;

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;

use crate::app::AppState;
use crate::crypto;
use crate::oauth::scope::ADMIN_SCOPE;
use crate::store::ClientKind;

/// Who is calling the admin API.
#[derive(Debug, Clone)]
pub enum AdminPrincipal {
    Admin(String),
    Client(String),
}

pub struct AdminAuth(pub AdminPrincipal);

pub struct AdminRejection(StatusCode, &'static str);

impl IntoResponse for AdminRejection {
    fn into_response(self) -> Response {
        let mut r = (self.0, Json(json!({ "error": self.1 }))).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"portcullis admin\""),
            );
        }
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = AdminRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized = AdminRejection(StatusCode::UNAUTHORIZED, "unauthorized");
        let (user, password) = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Basic ")
                    .or_else(|| v.strip_prefix("basic "))
            })
            .and_then(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
            })
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.split_once(':')
                    .map(|(u, p)| (u.to_string(), p.to_string()))
            })
            .ok_or(unauthorized)?;
        let fail = || AdminRejection(StatusCode::UNAUTHORIZED, "unauthorized");
        if let Some(admin) = app.store.find_admin(&user).await.map_err(|_| fail())? {
            return if crate::password::verify(password, admin.password_hash).await {
                Ok(AdminAuth(AdminPrincipal::Admin(user)))
            } else {
                Err(fail())
            };
        }
        let client = app
            .store
            .find_client(&user)
            .await
            .map_err(|_| fail())?
            .ok_or_else(fail)?;
        let secret_ok = client
            .secret_hash
            .as_deref()
            .is_some_and(|h| crypto::verify_secret(&password, h));
        if !secret_ok {
            return Err(fail());
        }
        if client.kind != ClientKind::Static || !client.scopes.iter().any(|s| s == ADMIN_SCOPE) {
            return Err(AdminRejection(StatusCode::FORBIDDEN, "forbidden"));
        }
        Ok(AdminAuth(AdminPrincipal::Client(client.id)))
    }
}
