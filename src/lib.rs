//! portcullis: a self-hostable OAuth 2.1 authorization server for MCP servers.
#![forbid(unsafe_code)]

pub mod app;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod ids;
pub mod keys;
pub mod oauth;
pub mod ops;
pub mod password;
pub mod policy;
pub mod seed;
pub mod store;
pub mod telemetry;
