//! `tickets-mcp`: a Jira-like tickets MCP server that trusts portcullis only through its
//! metadata and JWKS, and the reusable token verifier ([`verifier`]) it is built on.

#![forbid(unsafe_code)]

pub mod access;
pub mod app;
pub mod store;
pub mod tickets;
pub mod verifier;
