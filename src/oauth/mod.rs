//! The OAuth surface: metadata, token, registration. Routes live in `app.rs`.

pub mod access_token;
pub mod client_auth;
pub mod client_metadata;
pub mod endpoint;
pub mod error;
pub mod form;
pub mod metadata;
pub mod redirect_uri;
pub mod register;
pub mod scope;
pub mod token;
