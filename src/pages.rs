//! HTML pages: rendering with askama, the headers every page of the flow sends
//! (`Cache-Control: no-store`, `Referrer-Policy: no-referrer`, no framing), and
//! [`PageError`], the error page with status and request id.

use askama::Template;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

pub use crate::page_code::PageCode;
use crate::store::StoreError;

/// Adds the security headers of the login and consent pages.
pub fn protect(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'"),
    );
}

/// Renders a template as a protected page with a status.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => {
            let mut r = (status, Html(html)).into_response();
            protect(r.headers_mut());
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// A redirect (303 after a POST, 302 otherwise) with the protective headers.
pub fn redirect(location: &str, status: StatusCode) -> Response {
    let mut r = status.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    protect(r.headers_mut());
    r
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    code: &'a str,
}

/// An error shown to the person in the browser, never a redirect.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
    /// A stable machine-readable code (tests and support read it).
    pub code: PageCode,
}

impl PageError {
    pub fn new(
        status: StatusCode,
        code: PageCode,
        title: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            title,
            message: message.into(),
        }
    }
    pub fn bad_request(code: PageCode, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            code,
            "This sign-in request cannot continue",
            message,
        )
    }
    pub fn server_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            PageCode::ServerError,
            "Something went wrong",
            "Please try again later.",
        )
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        render(
            self.status,
            &ErrorPage {
                title: self.title,
                message: &self.message,
                code: self.code.as_str(),
            },
        )
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        Self::server_error()
    }
}

/// A form body for the pages; malformed input is a page, not axum's plain-text 4xx.
pub struct PageForm<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for PageForm<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = PageError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::Form::<T>::from_request(req, state)
            .await
            .map(|f| PageForm(f.0))
            .map_err(|_| {
                PageError::bad_request(
                    PageCode::InvalidRequest,
                    "The form is incomplete or malformed.",
                )
            })
    }
}

/// A query string for the pages; missing or malformed parameters are a page, not axum's
/// plain-text 400.
pub struct PageQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for PageQuery<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| PageQuery(q.0))
            .map_err(|_| {
                PageError::bad_request(
                    PageCode::InvalidRequest,
                    "The link is incomplete or malformed. Start again from the application.",
                )
            })
    }
}

/// Path parameters for the pages; one that cannot be read (not UTF-8) is a 404 page.
pub struct PagePath<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for PagePath<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| PagePath(p.0))
            .map_err(|_| not_found())
    }
}

/// The 404 page.
pub fn not_found() -> PageError {
    PageError::new(
        StatusCode::NOT_FOUND,
        PageCode::NotFound,
        "Not found",
        "There is nothing at this address.",
    )
}
