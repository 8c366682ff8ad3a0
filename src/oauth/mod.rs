//! The OAuth surface: metadata, token, registration. Routes live in `routes.rs`.

pub mod access_token;
pub mod authorize;
pub mod authorize_error;
pub mod cimd;
pub mod client_auth;
pub mod client_config;
pub mod client_metadata;
pub mod client_text;
pub mod endpoint;
pub mod error;
pub mod form;
pub mod id_token;
pub mod introspect;
pub mod jwks;
pub mod jwt_assertion;
pub mod logout;
pub mod metadata;
pub mod pkce;
pub mod redirect_uri;
pub mod register;
pub mod revoke;
pub mod scope;
pub mod still_allowed;
pub mod token;
pub mod userinfo;
