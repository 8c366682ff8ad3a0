//! The one integration-test binary: HTTP tests over the real router, the CLI binary, and
//! independent peers (PyJWT, npm oidc-provider and saml-idp, the MCP SDK clients, the MCP
//! conformance suite, headless Chromium). The harness is in `support/`; test modules use it
//! and never each other.

// Helpers in an integration-test crate are test code too.
#![allow(clippy::unwrap_used)]

mod support;

/// The tests whose subject is what the store keeps and how it changes under them: codes,
/// refresh token families and their races (in one process and across two on one database),
/// revocation and introspection, registration and its caps, admin writes and deletes, the
/// user cut-off, signing keys. tests/run.sh runs these on PostgreSQL as well as on SQLite
/// (`PORTCULLIS_TEST_BACKEND=postgres cargo test --test it -- storage::`), beside the store
/// contract tests (src/store/tests.rs). The other modules run on SQLite only: flows, pages,
/// federation, browser and peer interop, whose storage goes through the same store functions
/// these tests (and the contract tests) cover on both backends.
mod storage {
    mod admin_api;
    mod admin_deletes;
    mod admin_pages;
    mod byoa;
    mod dcr_policy;
    mod hardening_bounds;
    mod hardening_tokens;
    mod keys;
    mod org_clients;
    mod private_key_jwt;
    mod register;
    mod token;
    mod tokens;
    mod user_cutoff;
    mod xaa;
}

mod admin_browser;
mod admin_cli;
mod cimd;
mod cli;
mod compose;
mod conformance;
mod docs;
mod flow;
mod flow_negative;
mod hardening_input;
mod hardening_saml;
mod hardening_surfaces;
mod login_apps;
mod logout;
mod mcp_e2e;
mod metadata;
mod oidc;
mod oidc_mock;
mod pyjwt;
mod refresh_policy;
mod saml;
mod saml_attacks;
mod scalekit_sdk;
mod session_negative;
mod token_client_auth;
mod xaa_sdk;
