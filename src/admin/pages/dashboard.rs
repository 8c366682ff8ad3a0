//! `GET /admin`: counts and the latest audit events; and the audit log pages
//! (`GET /admin/audit`, `GET /admin/audit/export`) that share the event table.

use crate::pages::PageQuery;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{AdminPage, Errors, Refused, form_error, page_error, protect};
use crate::admin::audit::{self, AuditQuery};
use crate::admin::dashboard::{self, Counts};
use crate::state::AppState;
use crate::store::AuditRecord;

/// An audit event as the tables show it.
pub struct EventRow {
    pub when: String,
    pub kind: String,
    pub user_id: String,
    pub client_id: String,
    pub organization_id: String,
    pub resource_id: String,
    pub detail: String,
}

impl From<AuditRecord> for EventRow {
    fn from(e: AuditRecord) -> Self {
        Self {
            when: crate::admin::time::format(e.at),
            kind: e.kind,
            user_id: e.user_id.unwrap_or_default(),
            client_id: e.client_id.unwrap_or_default(),
            organization_id: e.organization_id.unwrap_or_default(),
            resource_id: e.resource_id.unwrap_or_default(),
            detail: e.detail.to_string(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage<'a> {
    page: &'a AdminPage,
    counts: Counts,
    events: Vec<EventRow>,
}

pub async fn get_dashboard(
    State(app): State<AppState>,
    page: AdminPage,
) -> Result<Response, Refused> {
    let (counts, events) = dashboard::overview(&app).await.map_err(page_error)?;
    let events = events.into_iter().map(EventRow::from).collect();
    Ok(page.render(
        StatusCode::OK,
        &DashboardPage {
            page: &page,
            counts,
            events,
        },
    ))
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage<'a> {
    page: &'a AdminPage,
    q: &'a AuditQuery,
    events: Vec<EventRow>,
    errors: Errors,
    /// Query strings of the previous and next pages, when there are such pages.
    prev: Option<String>,
    next: Option<String>,
    export: String,
}

fn query_string(q: &AuditQuery, page: Option<i64>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("kind", &q.kind),
        ("user_id", &q.user_id),
        ("client_id", &q.client_id),
        ("organization_id", &q.organization_id),
        ("resource_id", &q.resource_id),
        ("since", &q.since),
        ("until", &q.until),
    ] {
        if !v.trim().is_empty() {
            s.append_pair(k, v.trim());
        }
    }
    if let Some(p) = page {
        s.append_pair("page", &p.to_string());
    }
    s.finish()
}

pub async fn get_audit(
    State(app): State<AppState>,
    page: AdminPage,
    PageQuery(q): PageQuery<AuditQuery>,
) -> Result<Response, Refused> {
    let (events, has_more, errors) = match audit::list(&app, &q).await {
        Ok((events, has_more)) => (events, has_more, Errors::none()),
        Err(e) => (Vec::new(), false, form_error(e)?),
    };
    let n = q.page();
    let status = if errors.any() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(page.render(
        status,
        &AuditPage {
            page: &page,
            q: &q,
            events: events.into_iter().map(EventRow::from).collect(),
            errors,
            prev: (n > 1).then(|| query_string(&q, Some(n - 1))),
            next: has_more.then(|| query_string(&q, Some(n + 1))),
            export: query_string(&q, None),
        },
    ))
}

pub async fn get_audit_export(
    State(app): State<AppState>,
    _page: AdminPage,
    PageQuery(q): PageQuery<AuditQuery>,
) -> Result<Response, Refused> {
    let lines = audit::export(&app, &q).await.map_err(page_error)?;
    let mut r = lines.into_response();
    protect(r.headers_mut());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    r.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"portcullis-audit.jsonl\""),
    );
    Ok(r)
}
