//! `GET/POST /admin/login` and `POST /admin/logout`.

use askama::Template;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{AdminPost, protect};
use crate::admin::login::{self, Attempt, LoginError};
use crate::pages::{PageError, PageForm};
use crate::session::Cookie;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage<'a> {
    username: &'a str,
    message: &'a str,
}

fn render(status: StatusCode, username: &str, message: &str) -> Response {
    let mut r = crate::pages::render(status, &LoginPage { username, message });
    protect(r.headers_mut());
    r
}

pub async fn get_login() -> Response {
    render(StatusCode::OK, "", "")
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
}

/// The address, user agent and request id of the sign-in request.
pub struct RequestContext(String, String, String);

impl FromRequestParts<AppState> for RequestContext {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (a, u, r) = crate::admin::auth::request_context(parts, app).await;
        Ok(RequestContext(a, u, r))
    }
}

pub async fn post_login(
    State(app): State<AppState>,
    RequestContext(address, user_agent, request_id): RequestContext,
    headers: HeaderMap,
    PageForm(form): PageForm<LoginForm>,
) -> Result<Response, PageError> {
    let username = form.username.trim().to_string();
    let device = Cookie::AdminDevice.read(app.issuer(), &headers);
    let attempt = Attempt {
        username: &username,
        password: form.password,
        device: device.as_deref(),
        address: &address,
        user_agent: &user_agent,
        request_id: &request_id,
    };
    match login::login(&app, attempt).await {
        Ok((token, device)) => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            r.headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("/admin"));
            r.headers_mut().insert(
                header::SET_COOKIE,
                Cookie::Admin.set(app.issuer(), &token, login::ADMIN_SESSION_TTL),
            );
            r.headers_mut().append(
                header::SET_COOKIE,
                Cookie::AdminDevice.set(app.issuer(), &device, login::DEVICE_TTL),
            );
            protect(r.headers_mut());
            Ok(r)
        }
        Err(LoginError::Invalid) => Ok(render(
            StatusCode::UNAUTHORIZED,
            &username,
            "Wrong username or password.",
        )),
        Err(LoginError::RateLimited) => Ok(render(
            StatusCode::TOO_MANY_REQUESTS,
            &username,
            "Too many failed sign-ins for this account or from this address. Wait 15 minutes and try again.",
        )),
        Err(LoginError::Store(e)) => Err(e.into()),
    }
}

pub async fn post_logout(
    State(app): State<AppState>,
    post: AdminPost,
) -> Result<Response, PageError> {
    login::logout(&app, &post.page.token).await?;
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("/admin/login"));
    r.headers_mut()
        .insert(header::SET_COOKIE, Cookie::Admin.set(app.issuer(), "", 0));
    protect(r.headers_mut());
    Ok(r)
}
