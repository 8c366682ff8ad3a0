//! Per-tool authorization: which `tools/call` requests a JSON-RPC body carries, and the
//! [`ToolPolicy`] a server supplies to say which scopes each call needs. The layer asks the
//! policy before the MCP server sees the request, so a refusal can still be an HTTP 403
//! with an `insufficient_scope` challenge (MCP authorization spec, "Scope Challenge").

use std::collections::HashMap;

use serde_json::Value;

use super::principal::Principal;

/// One `tools/call` request found in a JSON-RPC body.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub name: String,
    pub arguments: Value,
}

/// The policy's answer for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Refused: `needed` lists every scope the call needs (named in the challenge).
    Refuse {
        needed: Vec<String>,
        reason: String,
    },
}

/// Which scopes a tool call needs, given who calls.
pub trait ToolPolicy: Send + Sync + 'static {
    /// Decides one call. Tools the policy does not know should be allowed: the MCP server
    /// answers them with its own "unknown tool" error.
    fn decide(&self, call: &ToolCall, principal: &Principal) -> Decision;

    /// The object a call acts on (e.g. a ticket id), for the audit log.
    fn audit_object(&self, _call: &ToolCall) -> Option<String> {
        None
    }
}

/// The `tools/call` requests in a JSON-RPC body: one message or a batch. A body that is not
/// JSON yields none (the MCP server rejects it itself).
pub fn tool_calls(body: &[u8]) -> Vec<ToolCall> {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let messages = match value {
        Value::Array(list) => list,
        single => vec![single],
    };
    messages
        .iter()
        .filter(|m| m.get("method").and_then(Value::as_str) == Some("tools/call"))
        .map(|m| {
            let params = m.get("params");
            ToolCall {
                name: params
                    .and_then(|p| p.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                arguments: params
                    .and_then(|p| p.get("arguments"))
                    .cloned()
                    .unwrap_or(Value::Null),
            }
        })
        .collect()
}

/// A fixed table: each tool needs all of its listed scopes. Unlisted tools are allowed.
#[derive(Debug, Clone, Default)]
pub struct ScopeTable {
    tools: HashMap<String, Vec<String>>,
}

impl ScopeTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// `tool` needs every scope in `scopes`.
    pub fn tool(mut self, tool: &str, scopes: &[&str]) -> Self {
        self.tools.insert(
            tool.to_string(),
            scopes.iter().map(|s| s.to_string()).collect(),
        );
        self
    }
}

impl ToolPolicy for ScopeTable {
    fn decide(&self, call: &ToolCall, principal: &Principal) -> Decision {
        let Some(needed) = self.tools.get(&call.name) else {
            return Decision::Allow;
        };
        if needed.iter().all(|s| principal.has_scope(s)) {
            Decision::Allow
        } else {
            Decision::Refuse {
                needed: needed.clone(),
                reason: format!("`{}` needs scope {}", call.name, needed.join(" ")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(scopes: &[&str]) -> Principal {
        Principal {
            subject: "usr_1".into(),
            client_id: None,
            organization_id: None,
            session_id: None,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn finds_tool_calls_in_single_messages_and_batches() {
        let single = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_ticket","arguments":{"id":"TEST-1"}}}"#;
        assert_eq!(
            tool_calls(single),
            vec![ToolCall {
                name: "get_ticket".into(),
                arguments: serde_json::json!({"id": "TEST-1"})
            }]
        );
        let batch = br#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"a"}}]"#;
        let calls = tool_calls(batch);
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].name, "a");
        assert_eq!(calls[0].arguments, Value::Null);
        assert!(tool_calls(b"not json").is_empty());
        assert!(tool_calls(br#"{"jsonrpc":"2.0","id":1,"method":"initialize"}"#).is_empty());
    }

    #[test]
    fn scope_table_needs_all_listed_scopes() {
        let table = ScopeTable::new().tool("write", &["a", "b"]);
        let call = ToolCall {
            name: "write".into(),
            arguments: Value::Null,
        };
        assert_eq!(
            table.decide(&call, &principal(&["a", "b"])),
            Decision::Allow
        );
        let Decision::Refuse { needed, .. } = table.decide(&call, &principal(&["a"])) else {
            panic!("expected a refusal");
        };
        assert_eq!(needed, vec!["a", "b"]);
        let other = ToolCall {
            name: "other".into(),
            arguments: Value::Null,
        };
        assert_eq!(table.decide(&other, &principal(&[])), Decision::Allow);
    }
}
