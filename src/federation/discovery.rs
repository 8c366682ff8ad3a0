//! Home-realm discovery's page: when the request's hints name no connection, a form asks
//! for a work email and its domain picks the organization. The choosing itself is
//! [`crate::flow::connection`]'s.

use askama::Template;

use crate::pages::PageCode;
use crate::pages::PageQuery;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::flow::connection::{connection_for_domain, domain_of, go};
use crate::flow::find_open;
use crate::pages::{self, PageError, PageForm};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "login/email.html")]
struct EmailPage<'a> {
    request: &'a str,
    csrf: &'a str,
    error: Option<&'a str>,
    email: &'a str,
}

#[derive(Deserialize)]
pub struct RequestQuery {
    request: String,
}

#[derive(Deserialize)]
pub struct EmailForm {
    request: String,
    csrf: String,
    email: String,
}

/// `GET /sso/v1/login?request=…`: the work-email form.
pub async fn get_login(
    State(app): State<AppState>,
    PageQuery(q): PageQuery<RequestQuery>,
) -> Response {
    match find_open(&app, &q.request).await {
        Ok(p) => {
            let csrf = app.config.secret.mac("login", &p.id);
            pages::render(
                StatusCode::OK,
                &EmailPage {
                    request: &p.id,
                    csrf: &csrf,
                    error: None,
                    email: "",
                },
            )
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /sso/v1/login`: route by the email's domain.
pub async fn post_login(State(app): State<AppState>, PageForm(f): PageForm<EmailForm>) -> Response {
    let result = async {
        let pending = find_open(&app, &f.request).await?;
        if !app.config.secret.verify_mac("login", &pending.id, &f.csrf) {
            return Err(PageError::bad_request(
                PageCode::InvalidCsrf,
                "The form expired. Start again from your application.",
            ));
        }
        let Some(domain) = domain_of(&f.email) else {
            let csrf = app.config.secret.mac("login", &pending.id);
            let page = EmailPage {
                request: &pending.id,
                csrf: &csrf,
                error: Some("Enter your work email address."),
                email: &f.email,
            };
            return Ok(pages::render(StatusCode::BAD_REQUEST, &page));
        };
        go(&pending, &connection_for_domain(&app, &domain).await?)
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}
