//! The harness of the integration tests, one file per concept. Test modules use these and
//! never each other.
//!
//! - [`app`]: the real router over a fresh [`db`], in process (`oneshot`) or served on
//!   127.0.0.1:0 (`spawn`), the test seed and its secrets;
//! - [`server_process`]: the real `portcullis` binary;
//! - [`browser`]: a scripted browser for the authorization code flow; [`authorize`]: the
//!   authorization requests of the negative tests and their error assertions;
//! - [`tokens`]: a user's tokens, redeem, refresh, introspect; [`admin`]: the admin pages
//!   and API; [`jwt`]: reading, tampering with and independently verifying JWTs;
//! - upstream identity providers: [`oidc_mock`] (in process), [`oidc_idp`] (npm
//!   oidc-provider), [`saml_idp`] (npm saml-idp), [`saml_fixtures`] (responses signed with
//!   xmlsec1), [`saml`] (the SAML flow);
//! - [`cimd_server`]: the https server of Client ID Metadata Documents and its test CA;
//! - [`peers`]: child processes handed a listening socket, and the pinned Python; [`demo`]:
//!   the demo tickets MCP server.

pub mod admin;
pub mod app;
pub mod authorize;
pub mod browser;
pub mod cimd_server;
pub mod db;
pub mod demo;
pub mod jwt;
pub mod oidc_idp;
pub mod oidc_mock;
pub mod peers;
pub mod saml;
pub mod saml_fixtures;
pub mod saml_idp;
pub mod scalekit;
pub mod server_process;
pub mod tokens;

pub use app::*;
pub use db::TestDb;
pub use jwt::{decode_jwt, tamper_payload, verify_with_pyjwt};
pub use peers::peer_python;
pub use server_process::{ServerProcess, TEST_SECRET_KEY_B64};
