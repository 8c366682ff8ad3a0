//! Errors at the authorization endpoint (RFC 6749 §4.1.2.1, RFC 9207): a redirect to the
//! client with `error`, `error_description`, `state` and `iss` once the client and its
//! redirect URI are trusted (and, for dynamic clients, the user has authenticated);
//! otherwise an HTML page, never a redirect.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::pages::{self, PageCode, PageError};
use crate::store::{AuthorizationRequest, StoreError};

#[derive(Debug)]
pub enum AuthorizeError {
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        issuer: String,
        error: PageCode,
        description: String,
    },
    Page(PageError),
}

impl AuthorizeError {
    pub fn page(code: PageCode, message: impl Into<String>) -> Self {
        Self::Page(PageError::bad_request(code, message))
    }

    /// An error redirect to the client of a validated (pending) request.
    pub fn to_client(
        request: &AuthorizationRequest,
        error: PageCode,
        description: impl Into<String>,
    ) -> Self {
        Self::Redirect {
            redirect_uri: request.redirect_uri.clone(),
            state: request.state.clone(),
            issuer: request.issuer.clone(),
            error,
            description: description.into(),
        }
    }
}

/// Appends parameters to a redirect URI, keeping its own query.
pub fn with_params(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            url.to_string()
        }
        Err(_) => redirect_uri.to_string(),
    }
}

impl IntoResponse for AuthorizeError {
    fn into_response(self) -> Response {
        match self {
            Self::Redirect {
                redirect_uri,
                state,
                issuer,
                error,
                description,
            } => {
                let mut params = vec![
                    ("error", error.as_str()),
                    ("error_description", description.as_str()),
                ];
                if let Some(s) = &state {
                    params.push(("state", s));
                }
                // RFC 9207: iss in every authorization response, errors included.
                params.push(("iss", &issuer));
                pages::redirect(&with_params(&redirect_uri, &params), StatusCode::FOUND)
            }
            Self::Page(p) => p.into_response(),
        }
    }
}

impl From<PageError> for AuthorizeError {
    fn from(p: PageError) -> Self {
        Self::Page(p)
    }
}

impl From<StoreError> for AuthorizeError {
    fn from(e: StoreError) -> Self {
        Self::Page(e.into())
    }
}
