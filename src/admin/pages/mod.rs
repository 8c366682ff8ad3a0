//! The admin pages: the session extractor (no session → the login page), the form
//! extractor that checks the session's CSRF token, flash messages carried across
//! Post/Redirect/Get in a short-lived cookie, and the headers every admin page sends.

pub mod clients;
pub mod connections;
pub mod dashboard;
pub mod keys;
pub mod login;
pub mod org_clients;
pub mod organizations;
pub mod resources;
pub mod rules;
pub mod users;

use askama::Template;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::{Actor, AdminError, AdminPrincipal, login as session};
use crate::pages::PageCode;
use crate::pages::PageError;
use crate::state::AppState;

const FLASH_COOKIE: &str = "portcullis_admin_flash";

/// The headers of every admin response: no caching, no referrer, no framing, and a
/// policy that allows only our own styles and forms.
pub fn protect(headers: &mut HeaderMap) {
    crate::pages::protect(headers);
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
}

/// A signed-in admin on a page.
pub struct AdminPage {
    pub actor: Actor,
    pub username: String,
    pub csrf: String,
    pub flash: Option<String>,
    issuer: String,
    /// The session token (logout ends its session).
    pub(crate) token: String,
}

/// Why a page was refused: no session (→ login page), or an error page.
pub enum Refused {
    Login,
    Page(PageError),
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Self::Login => {
                let mut r = StatusCode::SEE_OTHER.into_response();
                r.headers_mut()
                    .insert(header::LOCATION, HeaderValue::from_static("/admin/login"));
                protect(r.headers_mut());
                r
            }
            Self::Page(e) => {
                let mut r = e.into_response();
                protect(r.headers_mut());
                r
            }
        }
    }
}

impl From<PageError> for Refused {
    fn from(e: PageError) -> Self {
        Self::Page(e)
    }
}

impl FromRequestParts<AppState> for AdminPage {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Refused> {
        let token = crate::session::Cookie::Admin
            .read(app.issuer(), &parts.headers)
            .ok_or(Refused::Login)?;
        let admin = session::current(app, &token)
            .await
            .map_err(|e| Refused::Page(e.into()))?
            .ok_or(Refused::Login)?;
        let (address, user_agent, request_id) = super::auth::request_context(parts, app).await;
        let flash = read_flash(&parts.headers);
        Ok(AdminPage {
            actor: Actor {
                principal: AdminPrincipal::Admin(admin.username.clone()),
                address,
                user_agent,
                request_id,
            },
            username: admin.username,
            csrf: session::csrf_token(&token),
            flash,
            issuer: app.issuer().to_string(),
            token,
        })
    }
}

impl AdminPage {
    /// Renders a page (status 200 unless told), clearing a shown flash message.
    pub fn render(&self, status: StatusCode, page: &impl Template) -> Response {
        let mut r = match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "template rendering failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
            }
        };
        if self.flash.is_some() {
            r.headers_mut()
                .append(header::SET_COOKIE, flash_cookie(&self.issuer, "", 0));
        }
        protect(r.headers_mut());
        r
    }

    /// Post/Redirect/Get: 303 to `location` with a flash message for the next page.
    pub fn done(&self, location: &str, message: &str) -> Response {
        let mut r = StatusCode::SEE_OTHER.into_response();
        if let Ok(v) = HeaderValue::from_str(location) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        let encoded: String = form_urlencoded::byte_serialize(message.as_bytes()).collect();
        r.headers_mut()
            .append(header::SET_COOKIE, flash_cookie(&self.issuer, &encoded, 60));
        protect(r.headers_mut());
        r
    }
}

fn flash_cookie(issuer: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if issuer.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{FLASH_COOKIE}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn read_flash(headers: &HeaderMap) -> Option<String> {
    let raw = crate::session::cookie_value(headers, FLASH_COOKIE)?;
    let text: String = form_urlencoded::parse(format!("f={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.chars().take(300).collect())?;
    (!text.is_empty()).then_some(text)
}

/// The fields of a posted admin form.
#[derive(Debug, Default, Clone)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of a field, trimmed ("" when absent).
    pub fn get(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    }
    /// Every value of a repeated field (multi-selects, checkbox groups), non-empty.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }
    /// A checkbox: present and not "0"/"off".
    pub fn is_checked(&self, name: &str) -> bool {
        self.0
            .iter()
            .any(|(k, v)| k == name && !matches!(v.as_str(), "" | "0" | "off" | "false"))
    }
    /// A whole number, or an error naming the field.
    pub fn number(&self, name: &str, default: i64) -> Result<i64, AdminError> {
        match self.get(name).as_str() {
            "" => Ok(default),
            t => t
                .parse()
                .map_err(|_| AdminError::invalid(name, "must be a whole number")),
        }
    }
}

/// A POSTed admin form whose `csrf` field matched the session's token.
pub struct AdminPost {
    pub page: AdminPage,
    pub fields: Fields,
}

impl FromRequest<AppState> for AdminPost {
    type Rejection = Refused;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, Refused> {
        let (mut parts, body) = req.into_parts();
        let page = AdminPage::from_request_parts(&mut parts, app).await?;
        let bytes = axum::body::Bytes::from_request(Request::from_parts(parts, body), app)
            .await
            .map_err(|_| {
                Refused::Page(PageError::new(
                    StatusCode::BAD_REQUEST,
                    PageCode::InvalidRequest,
                    "That did not work",
                    "The form is too large or malformed.",
                ))
            })?;
        let fields = Fields(
            form_urlencoded::parse(&bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        );
        if !session::csrf_matches(&page.token, &fields.get("csrf")) {
            return Err(Refused::Page(PageError::new(
                StatusCode::FORBIDDEN,
                PageCode::Csrf,
                "This form has expired",
                "The form did not carry this session's security token. Reload the page and try again.",
            )));
        }
        Ok(AdminPost { page, fields })
    }
}

/// A form's field errors: the field a message belongs beside, or the whole form ("").
#[derive(Debug, Default, Clone)]
pub struct Errors(Option<(String, String)>);

impl Errors {
    pub fn none() -> Self {
        Self(None)
    }
    /// The message beside `field` ("" when it has none).
    pub fn get(&self, field: &str) -> &str {
        match &self.0 {
            Some((f, m)) if f == field => m,
            _ => "",
        }
    }
    /// Whether any error is shown.
    pub fn any(&self) -> bool {
        self.0.is_some()
    }
    /// The message, whatever its field (shown at the top of the form too).
    pub fn message(&self) -> &str {
        self.0.as_ref().map(|(_, m)| m.as_str()).unwrap_or("")
    }
}

/// What an admin error does to a page: a form error is re-rendered beside its field by the
/// caller; everything else is an error page.
pub fn form_error(e: AdminError) -> Result<Errors, Refused> {
    match e {
        AdminError::Invalid { field, message } => Ok(Errors(Some((field, message)))),
        AdminError::NotFound(what) => Err(Refused::Page(PageError::new(
            StatusCode::NOT_FOUND,
            PageCode::NotFound,
            "Not found",
            format!("There is no such {what}."),
        ))),
        AdminError::InUse(message) => Err(Refused::Page(PageError::new(
            StatusCode::CONFLICT,
            PageCode::InUse,
            "Still in use",
            message,
        ))),
        AdminError::Store(e) => Err(Refused::Page(e.into())),
    }
}

/// An admin error where no form is re-rendered.
pub fn page_error(e: AdminError) -> Refused {
    match form_error(e) {
        Ok(errors) => Refused::Page(PageError::new(
            StatusCode::BAD_REQUEST,
            PageCode::InvalidRequest,
            "That did not work",
            errors.message().to_string(),
        )),
        Err(r) => r,
    }
}
