//! `/oidc/logout` (OpenID Connect RP-Initiated Logout 1.0): ends the browser session and
//! then, for a valid `id_token_hint` (signature, issuer, issued within [`MAX_HINT_AGE`]) of
//! a client that registered `post_logout_redirect_uri`, follows it (admin-created clients)
//! or shows it as a plain link naming its host (dynamic and metadata clients: anyone can
//! register those, so an automatic redirect would be an open redirect). A logout that would
//! end a session other than the one the hint names (or with no valid hint) asks first, with a
//! CSRF token bound to the session (§2: the OP SHOULD ask the End-User).

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::authorize_error::with_params;
use super::form::FormParams;
use crate::pages::PageCode;
use crate::pages::{self, PageError, PageForm};
use crate::session::{self, SESSION_TTL, SessionCookie};
use crate::state::AppState;
use crate::store::{Client, ClientKind, Session};

/// How old an `id_token_hint` may be: a session's lifetime. An older ID token names no
/// session that can still be ended, and a link built from it should not outlive that.
pub const MAX_HINT_AGE: i64 = SESSION_TTL;

#[derive(Template)]
#[template(path = "logout.html")]
struct SignedOut<'a> {
    /// A plain link to where the client asked to go, and its host.
    next: Option<(&'a str, &'a str)>,
}

#[derive(Template)]
#[template(path = "logout_confirm.html")]
struct ConfirmLogout<'a> {
    csrf: &'a str,
    id_token_hint: &'a str,
    post_logout_redirect_uri: &'a str,
    state: &'a str,
    client_id: &'a str,
}

/// The logout parameters (query of the GET, fields of the confirmation POST).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LogoutRequest {
    pub id_token_hint: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub client_id: Option<String>,
    pub csrf: Option<String>,
}

impl LogoutRequest {
    fn from_params(p: &FormParams) -> Self {
        let get = |n: &str| p.get(n).map(str::to_string);
        Self {
            id_token_hint: get("id_token_hint"),
            post_logout_redirect_uri: get("post_logout_redirect_uri"),
            state: get("state"),
            client_id: get("client_id"),
            csrf: None,
        }
    }

    /// Empty fields are omitted ones (RFC 6749 §3.1's rule, as for the query).
    fn without_empty(self) -> Self {
        let some = |v: Option<String>| v.filter(|v| !v.is_empty());
        Self {
            id_token_hint: some(self.id_token_hint),
            post_logout_redirect_uri: some(self.post_logout_redirect_uri),
            state: some(self.state),
            client_id: some(self.client_id),
            csrf: self.csrf,
        }
    }
}

/// What a verified, recent `id_token_hint` names.
#[derive(Debug, PartialEq, Eq)]
pub struct Hint {
    pub client_id: String,
    pub session_id: Option<String>,
}

/// Where the browser goes after the session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum After {
    Redirect(String),
    Link { href: String, host: String },
    Nothing,
}

pub async fn get_logout(
    State(app): State<AppState>,
    cookie: SessionCookie,
    RawQuery(q): RawQuery,
) -> Response {
    let req = LogoutRequest::from_params(&FormParams::parse(q.unwrap_or_default().as_bytes()));
    logout(&app, &cookie, req, false)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// The confirmation form's POST.
pub async fn post_logout(
    State(app): State<AppState>,
    cookie: SessionCookie,
    PageForm(req): PageForm<LogoutRequest>,
) -> Response {
    logout(&app, &cookie, req.without_empty(), true)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn logout(
    app: &AppState,
    cookie: &SessionCookie,
    req: LogoutRequest,
    is_confirmation: bool,
) -> Result<Response, PageError> {
    let hint = req.id_token_hint.as_deref().and_then(|t| {
        let (header, claims) = app.keys.verify(t)?;
        check_hint(&header, &claims, app.issuer(), app.clock.now())
    });
    if let Some(s) = session::current(app, cookie).await? {
        let csrf = app.config.secret.mac("logout", &s.id);
        if is_confirmation {
            if !app.config.secret.verify_mac(
                "logout",
                &s.id,
                req.csrf.as_deref().unwrap_or_default(),
            ) {
                return Err(PageError::new(
                    StatusCode::BAD_REQUEST,
                    PageCode::InvalidCsrf,
                    "This sign-out cannot continue",
                    "The form expired or did not come from this page. Please try again.",
                ));
            }
        } else if !names_session(hint.as_ref(), &s) {
            return Ok(pages::render(
                StatusCode::OK,
                &ConfirmLogout {
                    csrf: &csrf,
                    id_token_hint: req.id_token_hint.as_deref().unwrap_or_default(),
                    post_logout_redirect_uri: req
                        .post_logout_redirect_uri
                        .as_deref()
                        .unwrap_or_default(),
                    state: req.state.as_deref().unwrap_or_default(),
                    client_id: req.client_id.as_deref().unwrap_or_default(),
                },
            ));
        }
        app.store.end_session(&s.id, app.clock.now()).await?;
    }
    let client = match &hint {
        Some(h) => app.store.find_client(&h.client_id).await?,
        None => None,
    };
    let after = match (&hint, &client, req.post_logout_redirect_uri.as_deref()) {
        (Some(h), Some(c), Some(uri))
            if req.client_id.as_deref().is_none_or(|id| id == h.client_id) =>
        {
            after_logout(c, uri, req.state.as_deref())
        }
        _ => After::Nothing,
    };
    let status_after_post = if is_confirmation {
        StatusCode::SEE_OTHER
    } else {
        StatusCode::FOUND
    };
    let mut response = match &after {
        After::Redirect(uri) => pages::redirect(uri, status_after_post),
        After::Link { href, host } => pages::render(
            StatusCode::OK,
            &SignedOut {
                next: Some((href, host)),
            },
        ),
        After::Nothing => pages::render(StatusCode::OK, &SignedOut { next: None }),
    };
    response
        .headers_mut()
        .append(header::SET_COOKIE, session::clear_cookie(app.issuer()));
    Ok(response)
}

/// Whether the hint names the browser's session (an ID token's `sid`).
fn names_session(hint: Option<&Hint>, session: &Session) -> bool {
    hint.and_then(|h| h.session_id.as_deref()) == Some(session.id.as_str())
}

/// An `id_token_hint` whose signature verified: one of our ID tokens (not an access token),
/// from our issuer or a resource's, issued at most [`MAX_HINT_AGE`] ago. `exp` is not
/// checked: RP-Initiated Logout §2 accepts expired ID tokens as hints.
pub fn check_hint(header: &Value, claims: &Value, issuer: &str, now: i64) -> Option<Hint> {
    if header["typ"] != "JWT" {
        return None;
    }
    let iss = claims["iss"].as_str()?;
    if iss != issuer && !iss.starts_with(&format!("{issuer}/resources/")) {
        return None;
    }
    let iat = claims["iat"].as_i64()?;
    if iat > now || now - iat > MAX_HINT_AGE {
        return None;
    }
    // `azp` names the client; older ID tokens carried it as a string `aud`.
    let client_id = claims["azp"]
        .as_str()
        .or_else(|| claims["aud"].as_str())
        .or_else(|| claims["aud"][0].as_str())?;
    Some(Hint {
        client_id: client_id.to_string(),
        session_id: claims["sid"].as_str().map(str::to_string),
    })
}

/// Where to send the browser: only a URI the client registered; automatically only for an
/// admin-created client.
pub fn after_logout(client: &Client, uri: &str, state: Option<&str>) -> After {
    // Matched as redirect URIs are: exactly, but a loopback `http` URI at any port.
    let registered = client.metadata["post_logout_redirect_uris"]
        .as_array()
        .is_some_and(|r| {
            r.iter()
                .filter_map(|r| r.as_str())
                .any(|r| super::redirect_uri::matches(r, uri))
        });
    if !registered {
        return After::Nothing;
    }
    let href = match state {
        Some(state) => with_params(uri, &[("state", state)]),
        None => uri.to_string(),
    };
    match client.kind {
        ClientKind::Static | ClientKind::Organization => After::Redirect(href),
        ClientKind::Dynamic | ClientKind::Metadata => {
            let host = url::Url::parse(uri)
                .ok()
                .and_then(|u| {
                    u.host_str()
                        .map(|h| u.port().map_or(h.to_string(), |p| format!("{h}:{p}")))
                })
                .unwrap_or_default();
            After::Link { href, host }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ISS: &str = "https://auth.example";

    fn claims(iat: i64) -> Value {
        json!({ "iss": ISS, "aud": "m2m_1", "sid": "ses_1", "iat": iat, "exp": iat + 300 })
    }

    #[test]
    fn hints_are_our_recent_id_tokens() {
        let id = json!({ "typ": "JWT" });
        let now = 1_000_000;
        let hint = check_hint(&id, &claims(now - 10), ISS, now).unwrap();
        assert_eq!(hint.client_id, "m2m_1");
        assert_eq!(hint.session_id.as_deref(), Some("ses_1"));
        // Expired but recent: still a hint.
        assert!(check_hint(&id, &claims(now - 3600), ISS, now).is_some());
        assert!(check_hint(&id, &claims(now - MAX_HINT_AGE - 1), ISS, now).is_none());
        assert!(check_hint(&id, &claims(now + 60), ISS, now).is_none());
        assert!(check_hint(&json!({ "typ": "at+jwt" }), &claims(now), ISS, now).is_none());
        let mut other = claims(now);
        other["iss"] = json!("https://auth.example.evil");
        assert!(check_hint(&id, &other, ISS, now).is_none());
        other["iss"] = json!(format!("{ISS}/resources/res_1"));
        assert!(check_hint(&id, &other, ISS, now).is_some());
        let mut shaped = claims(now);
        shaped["aud"] = json!(["m2m_2"]);
        assert_eq!(
            check_hint(&id, &shaped, ISS, now).unwrap().client_id,
            "m2m_2"
        );
        shaped["azp"] = json!("m2m_3");
        assert_eq!(
            check_hint(&id, &shaped, ISS, now).unwrap().client_id,
            "m2m_3"
        );
        let mut no_iat = claims(now);
        no_iat["iat"] = Value::Null;
        assert!(check_hint(&id, &no_iat, ISS, now).is_none());
    }
}
