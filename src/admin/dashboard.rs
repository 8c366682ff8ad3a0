//! The dashboard: how many of each thing there are, and the latest audit events.

use serde::Serialize;

use super::AdminError;
use crate::state::AppState;
use crate::store::{AuditFilter, AuditRecord, ClientKind};

#[derive(Debug, Clone, Serialize)]
pub struct Counts {
    pub organizations: usize,
    pub connections: usize,
    pub resources: usize,
    pub rules: usize,
    pub static_clients: usize,
    pub dynamic_clients: usize,
    pub metadata_clients: usize,
    pub users: usize,
}

pub async fn overview(app: &AppState) -> Result<(Counts, Vec<AuditRecord>), AdminError> {
    app.audit.flush().await;
    let clients = app.store.count_clients_by_kind().await?;
    let of = |k: ClientKind| {
        clients
            .iter()
            .find(|(kind, _)| *kind == k)
            .map_or(0, |(_, n)| usize::try_from(*n).unwrap_or(0))
    };
    let counts = Counts {
        organizations: app.store.list_organizations().await?.len(),
        connections: app.store.list_connections().await?.len(),
        resources: app.store.list_resources().await?.len(),
        rules: super::rules::list(app).await?.len(),
        static_clients: of(ClientKind::Static),
        dynamic_clients: of(ClientKind::Dynamic),
        metadata_clients: of(ClientKind::Metadata),
        users: app.store.list_users(1000).await?.len(),
    };
    let events = app
        .store
        .list_audit_events(&AuditFilter {
            limit: 10,
            ..Default::default()
        })
        .await?;
    Ok((counts, events))
}
