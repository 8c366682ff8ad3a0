//! The audit log for admins: filter by user, client, organization, resource, event type
//! and time range; newest first, paged; exported as JSON lines.

use serde::Deserialize;

use super::AdminError;
use crate::state::AppState;
use crate::store::{AuditRecord, AuditSearch};

/// A page of events holds this many by default.
pub const PAGE_SIZE: i64 = 50;

/// The audit query of the pages and the API; empty strings mean "any".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AuditQuery {
    pub kind: String,
    pub client_id: String,
    pub user_id: String,
    pub organization_id: String,
    pub resource_id: String,
    /// Unix seconds or `YYYY-MM-DD[THH:MM]` (UTC), inclusive.
    pub since: String,
    pub until: String,
    /// 1-based.
    pub page: Option<i64>,
    pub limit: Option<i64>,
}

impl AuditQuery {
    pub fn page(&self) -> i64 {
        // Clamped so that the offset cannot overflow (10,000 pages of up to 1,000 events).
        self.page.unwrap_or(1).clamp(1, 10_000)
    }

    fn filter(&self, limit: i64) -> Result<AuditSearch, AdminError> {
        let text = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        let time = |field: &str, s: &str| match s.trim() {
            "" => Ok(None),
            t => super::time::parse(t).map(Some).ok_or_else(|| {
                AdminError::invalid(field, "use YYYY-MM-DD, YYYY-MM-DDTHH:MM or unix seconds")
            }),
        };
        Ok(AuditSearch {
            kind: text(&self.kind),
            client_id: text(&self.client_id),
            user_id: text(&self.user_id),
            organization_id: text(&self.organization_id),
            resource_id: text(&self.resource_id),
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
            limit,
            offset: (self.page() - 1) * limit,
        })
    }
}

/// One page of matching events, newest first; `has_more` when another page follows.
pub async fn list(app: &AppState, q: &AuditQuery) -> Result<(Vec<AuditRecord>, bool), AdminError> {
    app.audit.flush().await;
    let limit = q.limit.unwrap_or(PAGE_SIZE).clamp(1, 1000);
    let mut filter = q.filter(limit + 1)?;
    filter.offset = (q.page() - 1) * limit;
    let mut events = app.store.search_audit_events(&filter).await?;
    let has_more = events.len() as i64 > limit;
    events.truncate(limit as usize);
    Ok((events, has_more))
}

/// Every matching event (up to 100,000), newest first, one JSON object per line.
pub async fn export(app: &AppState, q: &AuditQuery) -> Result<String, AdminError> {
    app.audit.flush().await;
    let mut out = String::new();
    let mut page = 1;
    loop {
        let mut filter = q.filter(1000)?;
        filter.offset = (page - 1) * 1000;
        let events = app.store.search_audit_events(&filter).await?;
        for e in &events {
            out.push_str(&serde_json::to_string(e).unwrap_or_default());
            out.push('\n');
        }
        if events.len() < 1000 || page >= 100 {
            return Ok(out);
        }
        page += 1;
    }
}
