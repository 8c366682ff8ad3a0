//! Request extractors for the OAuth JSON surface: an `application/x-www-form-urlencoded`
//! body parsed strictly (RFC 6749 §3.2: no repeated parameters; §3.1: empty means
//! omitted), and the HTTP Basic client credentials of RFC 6749 §2.3.1. Malformed input
//! becomes `invalid_request`, never axum's plain-text rejection.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use base64::Engine;

use super::error::OAuthError;

/// Largest form body accepted at the token, revocation and introspection endpoints.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// Parsed form parameters; each name at most once (repeats are kept to be refused).
#[derive(Debug, Default)]
pub struct FormParams {
    values: HashMap<String, String>,
    repeated: Vec<String>,
}

impl FormParams {
    pub fn parse(body: &[u8]) -> Self {
        let mut params = FormParams::default();
        for (k, v) in form_urlencoded::parse(body) {
            if v.is_empty() {
                continue;
            }
            if params.values.insert(k.to_string(), v.to_string()).is_some() {
                params.repeated.push(k.to_string());
            }
        }
        params
    }

    /// Parameter names sent more than once.
    pub fn repeated(&self) -> &[String] {
        &self.repeated
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
}

/// The form-body extractor.
pub struct OAuthForm(pub FormParams);

impl<S: Send + Sync> FromRequest<S> for OAuthForm {
    type Rejection = OAuthError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let body = Bytes::from_request(req, state).await.map_err(|_| {
            OAuthError::invalid_request("the request body is too large or unreadable")
                .with_status(StatusCode::PAYLOAD_TOO_LARGE)
        })?;
        let params = FormParams::parse(&body);
        if let Some(name) = params.repeated().first() {
            // RFC 6749 §3.2: parameters MUST NOT be included more than once.
            return Err(OAuthError::invalid_request(format!(
                "parameter `{name}` is repeated"
            )));
        }
        Ok(OAuthForm(params))
    }
}

/// Path parameters on the OAuth JSON surface; one that cannot be read (not UTF-8) is
/// `invalid_request`, never axum's plain-text rejection.
pub struct OAuthPath<T>(pub T);

impl<S, T> FromRequestParts<S> for OAuthPath<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = OAuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| OAuthPath(p.0))
            .map_err(|_| {
                OAuthError::invalid_request("the path is malformed")
                    .with_status(StatusCode::NOT_FOUND)
            })
    }
}

/// Client id and secret from `Authorization: Basic`, if that header was used.
#[derive(Debug, Default)]
pub struct BasicAuth(pub Option<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for BasicAuth {
    type Rejection = OAuthError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        BasicAuth::from_headers(&parts.headers, OtherSchemes::Refuse)
    }
}

/// What an `Authorization` header of another scheme than Basic means for client
/// authentication.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OtherSchemes {
    /// An error: revocation and introspection authenticate clients with Basic only.
    Refuse,
    /// No client credential: the token endpoint, where Scalekit's SDKs send their own
    /// management token as `Bearer` on every call, token requests included.
    Ignore,
}

impl BasicAuth {
    fn from_headers(headers: &header::HeaderMap, other: OtherSchemes) -> Result<Self, OAuthError> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Ok(BasicAuth(None));
        };
        let malformed =
            || OAuthError::invalid_client("malformed Basic credentials").with_basic_challenge(true);
        let text = value.to_str().map_err(|_| malformed())?;
        let Some((scheme, encoded)) = text.split_once(' ') else {
            return Err(malformed());
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return match other {
                OtherSchemes::Ignore => Ok(BasicAuth(None)),
                OtherSchemes::Refuse => Err(OAuthError::invalid_request(
                    "only the Basic scheme authenticates clients here",
                )),
            };
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(malformed)?;
        let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
        // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
        let id = url_decode(id).ok_or_else(malformed)?;
        let secret = url_decode(secret).ok_or_else(malformed)?;
        if id.is_empty() {
            return Err(malformed());
        }
        Ok(BasicAuth(Some((id, secret))))
    }
}

/// Client authentication at the token endpoint: HTTP Basic as [`BasicAuth`], but an
/// `Authorization` header of another scheme is not a client credential there and is ignored
/// (the client authenticates in the body or not at all).
pub struct TokenClientAuth(pub BasicAuth);

impl<S: Send + Sync> FromRequestParts<S> for TokenClientAuth {
    type Rejection = OAuthError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        BasicAuth::from_headers(&parts.headers, OtherSchemes::Ignore).map(TokenClientAuth)
    }
}

pub(crate) fn url_decode(s: &str) -> Option<String> {
    let plus_as_space = s.replace('+', " ");
    let mut out = Vec::with_capacity(plus_as_space.len());
    let bytes = plus_as_space.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_empty_parameters() {
        let p = FormParams::parse(b"a=1&b=&a=2&c=x%20y");
        assert_eq!(p.repeated(), ["a"]);
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y"));
    }

    #[test]
    fn basic_parts_are_form_decoded() {
        assert_eq!(url_decode("a%3Ab+c").as_deref(), Some("a:b c"));
        assert_eq!(url_decode("%zz"), None);
        assert_eq!(url_decode("%4"), None);
    }
}
