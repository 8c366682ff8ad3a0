//! The tower layer in front of an MCP endpoint: `Origin` check, bearer token from the
//! `Authorization` header only (RFC 6750 §2.1; query-string tokens are ignored, MCP
//! authorization spec "Token Requirements"), token verification, and the per-tool scope
//! check on `tools/call` bodies, then the [`Principal`] in the request extensions. Every
//! tool-call decision is written to the `audit` log target; the token never is.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use super::challenge::BearerError;
use super::origin;
use super::policy::{Decision, ToolCall, ToolPolicy, tool_calls};
use super::principal::Principal;
use super::{TokenError, Verifier};

/// Guards an MCP service; see [`Verifier::layer`].
pub struct BearerLayer<P> {
    verifier: Arc<Verifier>,
    policy: Arc<P>,
}

impl<P> Clone for BearerLayer<P> {
    fn clone(&self) -> Self {
        Self {
            verifier: self.verifier.clone(),
            policy: self.policy.clone(),
        }
    }
}

impl<P: ToolPolicy> BearerLayer<P> {
    pub fn new(verifier: Arc<Verifier>, policy: Arc<P>) -> Self {
        Self { verifier, policy }
    }
}

impl<S, P> Layer<S> for BearerLayer<P> {
    type Service = BearerService<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerService {
            inner,
            verifier: self.verifier.clone(),
            policy: self.policy.clone(),
        }
    }
}

/// The service [`BearerLayer`] produces.
pub struct BearerService<S, P> {
    inner: S,
    verifier: Arc<Verifier>,
    policy: Arc<P>,
}

impl<S: Clone, P> Clone for BearerService<S, P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            verifier: self.verifier.clone(),
            policy: self.policy.clone(),
        }
    }
}

impl<S, P, B> Service<Request<Body>> for BearerService<S, P>
where
    S: Service<Request<Body>, Response = axum::http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: axum::body::HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
    P: ToolPolicy,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // The clone that was polled ready serves this request (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        let policy = self.policy.clone();
        Box::pin(async move {
            let origin = req.headers().get(header::ORIGIN).cloned();
            let req = match admit(&verifier, policy.as_ref(), req).await {
                Ok(req) => req,
                Err((refusal, body)) => {
                    return Ok(refuse(&verifier, refusal, body, origin.as_ref()).await);
                }
            };
            let mut resp = inner.call(req).await?.map(Body::new);
            add_cors_if_allowed(&verifier, resp.headers_mut(), origin.as_ref());
            Ok(resp)
        })
    }
}

enum Refusal {
    Preflight,
    Error(BearerError),
}

impl From<BearerError> for Refusal {
    fn from(e: BearerError) -> Self {
        Self::Error(e)
    }
}

/// What became of the body of a refused request.
enum Rest {
    /// Not read yet: the refusal came from the headers alone.
    Unread(Body),
    /// Read to its end.
    Read,
    /// Read in part (larger than the limit, or broken off).
    Abandoned,
}

/// The response to a refused request, after the rest of its body is read. hyper closes a
/// connection after answering a request whose body was not read to its end, but it decides so
/// only after the answer went out without `Connection: close`; a client that then sends its
/// next request on that connection (clients send the body after the headers, and a refusal
/// needs only the headers) meets "Server disconnected without sending a response". So the body
/// is read first (within the body limit), and the answer to one that could not be read whole
/// says `Connection: close`.
async fn refuse(
    verifier: &Verifier,
    refusal: Refusal,
    rest: Rest,
    origin: Option<&HeaderValue>,
) -> Response {
    let is_read = match rest {
        Rest::Unread(body) => axum::body::to_bytes(body, verifier.config.max_body_bytes)
            .await
            .is_ok(),
        Rest::Read => true,
        Rest::Abandoned => false,
    };
    let mut resp = match refusal {
        Refusal::Preflight => {
            let mut resp = StatusCode::NO_CONTENT.into_response();
            if let Some(o) = origin {
                origin::add_preflight(resp.headers_mut(), o);
            }
            resp
        }
        Refusal::Error(e) => {
            let mut resp = e.into_response_with(&verifier.challenge_context());
            add_cors_if_allowed(verifier, resp.headers_mut(), origin);
            resp
        }
    };
    if !is_read {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

fn origin_ok(verifier: &Verifier, origin: &HeaderValue) -> bool {
    origin.to_str().is_ok_and(|o| {
        origin::is_allowed(
            o,
            &verifier.resource_origin,
            &verifier.config.allowed_origins,
        )
    })
}

fn add_cors_if_allowed(verifier: &Verifier, headers: &mut HeaderMap, origin: Option<&HeaderValue>) {
    if let Some(o) = origin.filter(|o| origin_ok(verifier, o)) {
        origin::add_cors(headers, o);
    }
}

/// The bearer token of the `Authorization` header. Only the header counts: a token in the
/// query string or a form body is never looked at.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, BearerError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(BearerError::Missing);
    };
    if values.next().is_some() {
        return Err(BearerError::InvalidRequest(
            "more than one Authorization header",
        ));
    }
    let value = value.to_str().map_err(|_| BearerError::Missing)?;
    let Some((scheme, token)) = value.split_once(' ') else {
        return Err(BearerError::Missing);
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(BearerError::Missing);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(BearerError::InvalidToken(TokenError::Malformed));
    }
    Ok(token)
}

async fn admit<P: ToolPolicy>(
    verifier: &Verifier,
    policy: &P,
    req: Request<Body>,
) -> Result<Request<Body>, (Refusal, Rest)> {
    let (mut parts, body) = req.into_parts();
    let principal = match authenticate(verifier, &parts).await {
        Ok(principal) => principal,
        Err(refusal) => return Err((refusal, Rest::Unread(body))),
    };
    let body = if parts.method == Method::POST {
        let bytes = axum::body::to_bytes(body, verifier.config.max_body_bytes)
            .await
            .map_err(|_| (BearerError::PayloadTooLarge.into(), Rest::Abandoned))?;
        check_tool_calls(policy, &principal, &tool_calls(&bytes))
            .map_err(|e| (e.into(), Rest::Read))?;
        Body::from(bytes)
    } else {
        body
    };
    parts.extensions.insert(principal);
    Ok(Request::from_parts(parts, body))
}

/// The origin check, a CORS preflight, and the bearer token: what the headers alone decide.
async fn authenticate(verifier: &Verifier, parts: &Parts) -> Result<Principal, Refusal> {
    if let Some(o) = parts.headers.get(header::ORIGIN) {
        if !origin_ok(verifier, o) {
            tracing::warn!(target: "audit", origin = ?o, "refused a request from a foreign origin");
            return Err(BearerError::ForbiddenOrigin.into());
        }
        if parts.method == Method::OPTIONS
            && parts
                .headers
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return Err(Refusal::Preflight);
        }
    }
    match bearer_token(&parts.headers) {
        Ok(token) => verifier.verify(token).await.map_err(|e| {
            tracing::info!(target: "audit", reason = %e, "refused an invalid token");
            BearerError::InvalidToken(e).into()
        }),
        Err(e) => {
            tracing::info!(target: "audit", reason = "no bearer token", "refused a request without a token");
            Err(e.into())
        }
    }
}

/// Decides every call of a body; refuses the whole request if any call is refused, naming
/// the union of the scopes the refused calls need.
fn check_tool_calls<P: ToolPolicy>(
    policy: &P,
    principal: &Principal,
    calls: &[ToolCall],
) -> Result<(), BearerError> {
    let mut needed: Vec<String> = Vec::new();
    let mut reasons: Vec<String> = Vec::new();
    for call in calls {
        let decision = policy.decide(call, principal);
        let object = policy.audit_object(call);
        let object = object.as_deref().unwrap_or("-");
        match decision {
            Decision::Allow => tracing::info!(
                target: "audit",
                sub = %principal.subject,
                client_id = %principal.client_label(),
                oid = %principal.organization_label(),
                tool = %call.name,
                object,
                decision = "allowed",
                "tool call"
            ),
            Decision::Refuse {
                needed: scopes,
                reason,
            } => {
                tracing::info!(
                    target: "audit",
                    sub = %principal.subject,
                    client_id = %principal.client_label(),
                    oid = %principal.organization_label(),
                    tool = %call.name,
                    object,
                    decision = "refused",
                    needed = %scopes.join(" "),
                    "tool call"
                );
                for s in scopes {
                    if !needed.contains(&s) {
                        needed.push(s);
                    }
                }
                reasons.push(reason);
            }
        }
    }
    if needed.is_empty() && reasons.is_empty() {
        return Ok(());
    }
    Err(BearerError::InsufficientScope {
        scopes: needed,
        description: reasons.join("; "),
    })
}
