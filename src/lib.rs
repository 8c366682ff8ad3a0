//! portcullis: a self-hostable OAuth 2.1 authorization server for MCP servers.
#![forbid(unsafe_code)]

pub mod admin;
pub mod audit;
pub mod caches;
pub mod cli;
pub mod client_ip;
pub mod clock;
pub mod config;
pub mod consent;
pub mod crypto;
pub mod federation;
pub mod flow;
pub mod ids;
pub mod keys;
pub mod listener;
pub mod oauth;
pub mod ops;
pub mod outbound;
pub mod page_code;
pub mod pages;
pub mod password;
pub mod policy;
pub mod routes;
pub mod seed;
pub mod server;
pub mod session;
pub mod state;
pub mod store;
pub mod telemetry;

#[cfg(test)]
mod fuzz;
