//! The tickets MCP server (rmcp tools): `list_tickets` and `get_ticket` read the tickets of
//! the caller's organization; `create_ticket`, `update_ticket` and `close_ticket` change
//! them. The caller is the [`Principal`] the verifier layer put into the HTTP request's
//! extensions; scopes were checked there already (see `access.rs`) and are checked again here.

use std::sync::Arc;

use axum::http::request::Parts;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ErrorData, ServerHandler, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::json;

use crate::access::{self, Need};
use crate::store::{Status, StoreError, TicketChanges, TicketStore};
use crate::verifier::{Decision, Principal};

/// Unix seconds now; injected so tests can fix time.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ListTicketsRequest {
    /// Only tickets with this status.
    pub status: Option<Status>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct TicketIdRequest {
    /// The ticket id, e.g. `TEST-1`.
    pub id: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct CreateTicketRequest {
    pub title: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct UpdateTicketRequest {
    /// The ticket id, e.g. `TEST-1`.
    pub id: String,
    pub title: Option<String>,
    pub description: Option<String>,
    /// `open`, `in_progress` or `done` (use `close_ticket` to close).
    pub status: Option<Status>,
    /// A user id; an empty string unassigns.
    pub assignee: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct CloseTicketRequest {
    /// The ticket id, e.g. `TEST-1`.
    pub id: String,
    /// Why it is closed (default `done`).
    pub resolution: Option<String>,
}

/// One MCP session's handler; all share the store.
#[derive(Clone)]
pub struct TicketsServer {
    store: Arc<TicketStore>,
    clock: Clock,
    tool_router: ToolRouter<Self>,
}

/// The verified caller, or a protocol error when the layer did not run.
fn caller(parts: &Parts) -> Result<Principal, ErrorData> {
    parts
        .extensions
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| ErrorData::invalid_request("the request carries no verified token", None))
}

/// The caller if it may use a tool that needs `need`, else the tool error to return.
fn authorize(
    parts: &Parts,
    tool: &str,
    need: Need,
) -> Result<Result<Principal, CallToolResult>, ErrorData> {
    let who = caller(parts)?;
    Ok(match access::decide(need, &who) {
        Decision::Allow => Ok(who),
        Decision::Refuse { reason, .. } => {
            audit(&who, tool, "-", "refused");
            Err(CallToolResult::error(vec![ContentBlock::text(reason)]))
        }
    })
}

fn audit(who: &Principal, tool: &str, ticket: &str, outcome: &str) {
    tracing::info!(
        target: "audit",
        sub = %who.subject,
        client_id = %who.client_label(),
        oid = %who.organization_label(),
        tool,
        ticket,
        outcome,
        "tool result"
    );
}

fn ticket_result(
    who: &Principal,
    tool: &str,
    id: &str,
    result: Result<crate::store::Ticket, StoreError>,
) -> CallToolResult {
    match result {
        Ok(t) => {
            audit(who, tool, &t.id, "done");
            CallToolResult::structured(json!(t))
        }
        Err(e) => {
            audit(who, tool, id, "failed");
            CallToolResult::error(vec![ContentBlock::text(e.to_string())])
        }
    }
}

macro_rules! authorized {
    ($parts:expr, $tool:expr, $need:expr) => {
        match authorize(&$parts, $tool, $need)? {
            Ok(who) => who,
            Err(refusal) => return Ok(refusal),
        }
    };
}

#[tool_router]
impl TicketsServer {
    pub fn new(store: Arc<TicketStore>, clock: Clock) -> Self {
        Self {
            store,
            clock,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        description = "List the tickets of your organization. Needs tickets.read.",
        annotations(read_only_hint = true)
    )]
    async fn list_tickets(
        &self,
        Parameters(req): Parameters<ListTicketsRequest>,
        Extension(parts): Extension<Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let who = authorized!(parts, "list_tickets", Need::Read);
        let tickets = match &who.organization_id {
            Some(org) => self.store.list(org, req.status),
            None => Vec::new(),
        };
        audit(&who, "list_tickets", "-", "done");
        Ok(CallToolResult::structured(json!({ "tickets": tickets })))
    }

    #[tool(
        description = "Get one ticket of your organization by id (e.g. TEST-1). Needs tickets.read.",
        annotations(read_only_hint = true)
    )]
    async fn get_ticket(
        &self,
        Parameters(req): Parameters<TicketIdRequest>,
        Extension(parts): Extension<Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let who = authorized!(parts, "get_ticket", Need::Read);
        let org = who.organization_id.clone().unwrap_or_default();
        let result = self.store.get(&org, &req.id);
        Ok(ticket_result(&who, "get_ticket", &req.id, result))
    }

    #[tool(
        description = "Create a ticket in your organization. Needs tickets.manage:<your organization>.",
        annotations(read_only_hint = false, destructive_hint = false)
    )]
    async fn create_ticket(
        &self,
        Parameters(req): Parameters<CreateTicketRequest>,
        Extension(parts): Extension<Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let who = authorized!(parts, "create_ticket", Need::Manage);
        let org = who.organization_id.clone().unwrap_or_default();
        let ticket = self.store.create(
            &org,
            &who.subject,
            &req.title,
            &req.description,
            (self.clock)(),
        );
        Ok(ticket_result(&who, "create_ticket", "-", Ok(ticket)))
    }

    #[tool(
        description = "Change a ticket's title, description, status or assignee. Needs tickets.manage:<your organization>.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true
        )
    )]
    async fn update_ticket(
        &self,
        Parameters(req): Parameters<UpdateTicketRequest>,
        Extension(parts): Extension<Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let who = authorized!(parts, "update_ticket", Need::Manage);
        if req.status == Some(Status::Closed) {
            return Ok(CallToolResult::error(vec![ContentBlock::text(
                "use close_ticket to close a ticket",
            )]));
        }
        let org = who.organization_id.clone().unwrap_or_default();
        let changes = TicketChanges {
            title: req.title,
            description: req.description,
            status: req.status,
            assignee: req.assignee,
        };
        let result = self.store.update(&org, &req.id, changes, (self.clock)());
        Ok(ticket_result(&who, "update_ticket", &req.id, result))
    }

    #[tool(
        description = "Close a ticket. Needs tickets.manage:<your organization>.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false
        )
    )]
    async fn close_ticket(
        &self,
        Parameters(req): Parameters<CloseTicketRequest>,
        Extension(parts): Extension<Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let who = authorized!(parts, "close_ticket", Need::Manage);
        let org = who.organization_id.clone().unwrap_or_default();
        let result = self
            .store
            .close(&org, &req.id, req.resolution, (self.clock)());
        Ok(ticket_result(&who, "close_ticket", &req.id, result))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for TicketsServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "tickets-mcp",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "A Jira-like tickets server. You see the tickets of your organization only.",
            )
    }
}
