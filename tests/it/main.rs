//! The one integration-test binary: HTTP tests over the real router, the CLI binary,
//! and independent peers (PyJWT).

mod cli;
mod compose;
mod keys;
mod metadata;
mod peers;
mod register;
mod support;
mod token;
