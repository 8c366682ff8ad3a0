//! The one integration-test binary: HTTP tests over the real router, the CLI binary,
//! and independent peers (PyJWT).

// Helpers in an integration-test crate are test code too.
#![allow(clippy::unwrap_used)]

mod admin_api;
mod admin_browser;
mod admin_cli;
mod admin_deletes;
mod admin_pages;
mod admin_support;
mod browser;
mod cimd;
mod cli;
mod compose;
mod conformance;
mod dcr_policy;
mod docs;
mod flow;
mod flow_negative;
mod hardening_bounds;
mod hardening_input;
mod hardening_saml;
mod hardening_surfaces;
mod hardening_tokens;
mod keys;
mod logout;
mod mcp_e2e;
mod metadata;
mod negative_support;
mod oidc;
mod oidc_idp;
mod oidc_mock;
mod peer_start;
mod peers;
mod register;
mod saml;
mod saml_attacks;
mod saml_fixtures;
mod saml_idp;
mod session_negative;
mod support;
mod token;
mod tokens;
mod user_cutoff;
