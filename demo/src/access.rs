//! Which scopes each tickets tool needs, decided in the verifier layer **before** rmcp.
//!
//! Why there: once rmcp has the request, a refusal can only be a JSON-RPC result inside a
//! 200 response, and MCP clients start step-up authorization only on an HTTP 403 with
//! `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"`. So the layer reads the
//! `tools/call` body and asks [`TicketsPolicy`], a tool → scope table, before forwarding.
//! The table needs no store lookup: `tickets.manage:<org of the ticket>` is always
//! `tickets.manage:<oid of the token>`, because a caller only ever sees tickets of its own
//! organization; another organization's ticket is then simply "not found" in the tool.
//! The tools ask [`decide`] again (defence in depth, in case the layer is left out).
//!
//! Scope hierarchy (MCP 2026-07-28): `tickets.manage:<org>` includes `tickets.read` for
//! that organization, so a client that replaces its scopes on step-up keeps its reads.

use serde_json::Value;

use crate::verifier::{Decision, Principal, ToolCall, ToolPolicy};

/// Reading tickets of the token's organization.
pub const READ: &str = "tickets.read";
/// The base manage scope; only its organization forms (`tickets.manage:<org>`) grant
/// anything.
pub const MANAGE: &str = "tickets.manage";

/// What a tool needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Read,
    Manage,
}

/// The need of each tickets tool; `None` for tools this server does not have.
pub fn tool_need(tool: &str) -> Option<Need> {
    match tool {
        "list_tickets" | "get_ticket" => Some(Need::Read),
        "create_ticket" | "update_ticket" | "close_ticket" => Some(Need::Manage),
        _ => None,
    }
}

/// `tickets.manage:<org>`.
pub fn manage_scope(organization_id: &str) -> String {
    format!("{MANAGE}:{organization_id}")
}

/// Whether `principal` may use a tool that needs `need`, within its own organization.
pub fn decide(need: Need, principal: &Principal) -> Decision {
    let org = principal.organization_id.as_deref();
    let manages = org.is_some_and(|o| principal.has_scope(&manage_scope(o)));
    match need {
        Need::Read if principal.has_scope(READ) || manages => Decision::Allow,
        Need::Read => Decision::Refuse {
            needed: vec![READ.into()],
            reason: format!("reading tickets needs {READ}"),
        },
        Need::Manage if manages => Decision::Allow,
        Need::Manage => match org {
            Some(o) => Decision::Refuse {
                needed: vec![manage_scope(o)],
                reason: format!("changing tickets of {o} needs {}", manage_scope(o)),
            },
            None => Decision::Refuse {
                needed: vec![MANAGE.into()],
                reason: "the token names no organization".into(),
            },
        },
    }
}

/// The tickets server's [`ToolPolicy`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TicketsPolicy;

impl ToolPolicy for TicketsPolicy {
    fn decide(&self, call: &ToolCall, principal: &Principal) -> Decision {
        match tool_need(&call.name) {
            Some(need) => decide(need, principal),
            None => Decision::Allow,
        }
    }

    fn audit_object(&self, call: &ToolCall) -> Option<String> {
        call.arguments
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(oid: Option<&str>, scopes: &[&str]) -> Principal {
        Principal {
            subject: "usr_1".into(),
            client_id: Some("m2m_1".into()),
            organization_id: oid.map(str::to_string),
            session_id: None,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn refused(d: Decision) -> Vec<String> {
        match d {
            Decision::Refuse { needed, .. } => needed,
            Decision::Allow => panic!("expected a refusal"),
        }
    }

    #[test]
    fn read_needs_tickets_read_or_own_manage() {
        assert_eq!(
            decide(Need::Read, &who(Some("org_test"), &[READ])),
            Decision::Allow
        );
        assert_eq!(
            decide(
                Need::Read,
                &who(Some("org_test"), &["tickets.manage:org_test"])
            ),
            Decision::Allow
        );
        assert_eq!(
            refused(decide(
                Need::Read,
                &who(Some("org_test"), &["tickets.manage:org_acme"])
            )),
            vec![READ]
        );
        assert_eq!(refused(decide(Need::Read, &who(None, &[]))), vec![READ]);
    }

    #[test]
    fn manage_needs_the_scope_of_the_own_organization() {
        assert_eq!(
            decide(
                Need::Manage,
                &who(Some("org_test"), &["tickets.manage:org_test"])
            ),
            Decision::Allow
        );
        // The bare scope and another organization's scope are not enough.
        for scopes in [&[READ, MANAGE][..], &["tickets.manage:org_acme"][..]] {
            assert_eq!(
                refused(decide(Need::Manage, &who(Some("org_test"), scopes))),
                vec!["tickets.manage:org_test"]
            );
        }
        assert_eq!(
            refused(decide(Need::Manage, &who(None, &[MANAGE]))),
            vec![MANAGE]
        );
    }

    #[test]
    fn policy_maps_tools_and_names_the_ticket() {
        let call = |name: &str| ToolCall {
            name: name.into(),
            arguments: serde_json::json!({"id": "TEST-2"}),
        };
        let reader = who(Some("org_test"), &[READ]);
        assert_eq!(
            TicketsPolicy.decide(&call("get_ticket"), &reader),
            Decision::Allow
        );
        assert!(matches!(
            TicketsPolicy.decide(&call("close_ticket"), &reader),
            Decision::Refuse { .. }
        ));
        assert_eq!(
            TicketsPolicy.decide(&call("nope"), &reader),
            Decision::Allow
        );
        assert_eq!(
            TicketsPolicy.audit_object(&call("close_ticket")).as_deref(),
            Some("TEST-2")
        );
    }
}
