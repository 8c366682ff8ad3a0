//! Refusals of the protected resource, shaped as RFC 6750 §3 Bearer challenges with the
//! RFC 9728 §5.1 `resource_metadata` parameter, plus the 403 for a bad `Origin`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::token::TokenError;

/// Why the layer refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BearerError {
    /// No bearer token in the `Authorization` header (RFC 6750 §3.1: no error code).
    Missing,
    /// More than one `Authorization` header.
    InvalidRequest(&'static str),
    /// The token failed verification.
    InvalidToken(TokenError),
    /// The token is valid but lacks scopes for this call.
    InsufficientScope {
        /// Every scope the call needs.
        scopes: Vec<String>,
        description: String,
    },
    /// The `Origin` header names a site that may not call this server (MCP transport
    /// security: DNS rebinding).
    ForbiddenOrigin,
    /// The body could not be read within the size limit.
    PayloadTooLarge,
}

/// What goes into every challenge.
#[derive(Debug, Clone)]
pub struct ChallengeContext<'a> {
    /// The protected-resource metadata URL.
    pub resource_metadata: &'a str,
    /// Scopes named in 401 challenges (what a client should ask for first).
    pub default_scopes: &'a [String],
}

/// RFC 6749 §A.4 scope-token characters; anything else is dropped so a scope can never
/// break out of its quoted string.
fn scope_token(s: &str) -> String {
    s.chars()
        .filter(|c| matches!(*c as u32, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
        .collect()
}

fn quoted_scopes(scopes: &[String]) -> String {
    scopes
        .iter()
        .map(|s| scope_token(s))
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

impl BearerError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Missing => StatusCode::UNAUTHORIZED,
            Self::InvalidToken(TokenError::KeysUnavailable) => StatusCode::SERVICE_UNAVAILABLE,
            Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::InsufficientScope { .. } | Self::ForbiddenOrigin => StatusCode::FORBIDDEN,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    /// The RFC 6750 error code, if any.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Self::Missing | Self::ForbiddenOrigin | Self::PayloadTooLarge => None,
            Self::InvalidRequest(_) => Some("invalid_request"),
            Self::InvalidToken(_) => Some("invalid_token"),
            Self::InsufficientScope { .. } => Some("insufficient_scope"),
        }
    }

    fn description(&self) -> Option<String> {
        match self {
            Self::Missing => None,
            Self::InvalidRequest(d) => Some((*d).to_string()),
            Self::InvalidToken(e) => Some(e.to_string()),
            Self::InsufficientScope { description, .. } => Some(description.clone()),
            Self::ForbiddenOrigin => Some("this origin may not call the MCP server".into()),
            Self::PayloadTooLarge => Some("the request body is too large".into()),
        }
    }

    /// The `WWW-Authenticate` value, or `None` for refusals that are not Bearer challenges.
    pub fn www_authenticate(&self, ctx: &ChallengeContext<'_>) -> Option<String> {
        let scopes = match self {
            Self::ForbiddenOrigin | Self::PayloadTooLarge => return None,
            Self::InsufficientScope { scopes, .. } => quoted_scopes(scopes),
            _ => quoted_scopes(ctx.default_scopes),
        };
        let mut params = Vec::new();
        if let Some(code) = self.code() {
            params.push(format!("error=\"{code}\""));
        }
        if let Some(d) = self.description().filter(|_| self.code().is_some()) {
            // Descriptions are our own fixed texts; strip quotes anyway (RFC 6750 §3).
            params.push(format!(
                "error_description=\"{}\"",
                d.replace(['"', '\\'], "")
            ));
        }
        if !scopes.is_empty() {
            params.push(format!("scope=\"{scopes}\""));
        }
        // RFC 9728 §5.1: resource_metadata tells the client where to start discovery.
        params.push(format!("resource_metadata=\"{}\"", ctx.resource_metadata));
        Some(format!("Bearer {}", params.join(", ")))
    }

    /// The HTTP response: status, challenge header and a small JSON body.
    pub fn into_response_with(self, ctx: &ChallengeContext<'_>) -> Response {
        let mut body = json!({
            "error": self.code().unwrap_or(match self {
                Self::ForbiddenOrigin => "forbidden_origin",
                Self::PayloadTooLarge => "payload_too_large",
                _ => "unauthorized",
            }),
        });
        if let Some(d) = self.description() {
            body["error_description"] = d.into();
        }
        let mut resp = (self.status(), axum::Json(body)).into_response();
        if let Some(v) = self
            .www_authenticate(ctx)
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        if matches!(self, Self::InvalidToken(TokenError::KeysUnavailable)) {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> (String, Vec<String>) {
        (
            "http://127.0.0.1:8081/.well-known/oauth-protected-resource/mcp".into(),
            vec!["tickets.read".into()],
        )
    }

    #[test]
    fn missing_token_names_metadata_and_default_scopes_without_error() {
        let (md, scopes) = ctx();
        let c = ChallengeContext {
            resource_metadata: &md,
            default_scopes: &scopes,
        };
        let v = BearerError::Missing.www_authenticate(&c).unwrap();
        assert_eq!(
            v,
            "Bearer scope=\"tickets.read\", resource_metadata=\"http://127.0.0.1:8081/.well-known/oauth-protected-resource/mcp\""
        );
        assert_eq!(BearerError::Missing.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn bad_token_adds_invalid_token() {
        let (md, scopes) = ctx();
        let c = ChallengeContext {
            resource_metadata: &md,
            default_scopes: &scopes,
        };
        let v = BearerError::InvalidToken(TokenError::Expired)
            .www_authenticate(&c)
            .unwrap();
        assert!(v.starts_with("Bearer error=\"invalid_token\", error_description=\"the token has expired\", scope=\"tickets.read\", resource_metadata=\""), "{v}");
    }

    #[test]
    fn insufficient_scope_names_every_needed_scope_and_is_403() {
        let (md, scopes) = ctx();
        let c = ChallengeContext {
            resource_metadata: &md,
            default_scopes: &scopes,
        };
        let e = BearerError::InsufficientScope {
            scopes: vec!["tickets.read".into(), "tickets.manage:org_test\"x".into()],
            description: "needs more".into(),
        };
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        let v = e.www_authenticate(&c).unwrap();
        assert!(v.contains("error=\"insufficient_scope\""), "{v}");
        assert!(
            v.contains("scope=\"tickets.read tickets.manage:org_testx\""),
            "{v}"
        );
        assert!(v.contains("resource_metadata=\""), "{v}");
    }

    #[test]
    fn origin_refusal_is_403_without_challenge() {
        let (md, scopes) = ctx();
        let c = ChallengeContext {
            resource_metadata: &md,
            default_scopes: &scopes,
        };
        assert_eq!(BearerError::ForbiddenOrigin.status(), StatusCode::FORBIDDEN);
        assert!(BearerError::ForbiddenOrigin.www_authenticate(&c).is_none());
    }

    #[test]
    fn unavailable_keys_are_503_with_retry_after() {
        let (md, scopes) = ctx();
        let c = ChallengeContext {
            resource_metadata: &md,
            default_scopes: &scopes,
        };
        let resp = BearerError::InvalidToken(TokenError::KeysUnavailable).into_response_with(&c);
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(resp.headers().contains_key(header::RETRY_AFTER));
    }
}
