//! `GET /keys` and `GET /.well-known/jwks.json` (RFC 7517 JWK Set): the key ring's
//! published keys ([`crate::keys::KeyRing::jwks`]), cacheable for five minutes.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::state::AppState;

pub async fn get_jwks(State(app): State<AppState>) -> impl IntoResponse {
    // Shorter than the rotation delay, so caches see a next key before it signs.
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(app.keys.jwks()),
    )
}
