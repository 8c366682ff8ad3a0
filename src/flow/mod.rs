//! The pending authorization's life, in one place (RFC 6749 §4.1, OAuth 2.1 §4.1): the
//! authorize → upstream → consent loop reads top to bottom here.
//!
//! 1. [`open`]: a parsed authorization request is kept server-side ([`open::open`]); a
//!    signed-in session that may serve it goes straight on, `prompt=none` without one is
//!    refused, anyone else goes to home-realm discovery ([`open::proceed`]).
//! 2. [`connection`]: the connection that signs the person in is fitted to the request
//!    (hints, organization, email domain) and the browser sent upstream.
//! 3. Upstream login (`federation`) ends with a fresh session attached to the request.
//! 4. [`refuse`]: a failure goes back as a page, or as an error redirect once the client's
//!    redirect URI may be trusted.
//! 5. [`decide`]: for a signed-in session, the grant still allowed, the rules give the
//!    scopes, then a remembered consent or the consent page (`consent`).
//! 6. [`code`]: approve or deny, the single-use code and the redirect with `code`, `state`
//!    and `iss`.
//!
//! Handlers (`oauth::authorize`, `federation`, `consent`) extract and call in here.

pub mod code;
pub mod connection;
pub mod decide;
pub mod open;
pub mod refuse;

pub use code::{CODE_TTL, approve, deny, issue_code, success_redirect};
pub use connection::{check_connection_fits, pending_and_connection, upstream_start_url};
pub use decide::{Granted, decide, evaluate, rule_decision};
pub use open::{MAX_PENDING_PER_ADDRESS, PENDING_TTL, find_open, open, proceed};
pub use refuse::{record_login_failed, refuse};
