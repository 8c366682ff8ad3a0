//! The issuer rule ("the endpoint decides", docs/authorization.md): a request at an environment
//! endpoint carries the environment issuer; one at `/resources/{res}/oauth/…` is for that
//! resource and carries `{issuer}/resources/{res}`.

use super::error::OAuthError;
use crate::state::AppState;
use crate::store::Resource;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Environment,
    Resource(String),
}

impl Endpoint {
    pub fn issuer(&self, environment_issuer: &str) -> String {
        match self {
            Self::Environment => environment_issuer.to_string(),
            Self::Resource(id) => resource_issuer(environment_issuer, id),
        }
    }

    pub fn resource_id(&self) -> Option<&str> {
        match self {
            Self::Environment => None,
            Self::Resource(id) => Some(id),
        }
    }
}

pub fn resource_issuer(environment_issuer: &str, resource_id: &str) -> String {
    format!("{environment_issuer}/resources/{resource_id}")
}

/// Finds a resource by its id (`res_…`) or its server URL.
pub async fn find_resource(app: &AppState, key: &str) -> Result<Option<Resource>, OAuthError> {
    Ok(match app.store.find_resource(key).await? {
        Some(r) => Some(r),
        None => app.store.find_resource_by_url(key).await?,
    })
}

/// RFC 8707 at an endpoint: at a per-resource endpoint the resource is implied and any
/// other value is `invalid_target`; at an environment endpoint it is what was asked.
pub async fn resolve_resource(
    app: &AppState,
    endpoint: &Endpoint,
    requested: Option<&str>,
) -> Result<Option<Resource>, OAuthError> {
    match endpoint {
        Endpoint::Resource(id) => {
            let resource =
                app.store.find_resource(id).await?.ok_or_else(|| {
                    OAuthError::invalid_target(format!("unknown resource `{id}`"))
                })?;
            match requested {
                Some(r) if r != resource.id && r != resource.server_url => Err(
                    OAuthError::invalid_target("this endpoint serves only its own resource"),
                ),
                _ => Ok(Some(resource)),
            }
        }
        Endpoint::Environment => match requested {
            None => Ok(None),
            Some(r) => find_resource(app, r)
                .await?
                .map(Some)
                .ok_or_else(|| OAuthError::invalid_target("unknown resource")),
        },
    }
}

/// Clients and resources (docs/registration.md): may this client obtain tokens for this resource?
pub fn client_may_use(client: &crate::store::Client, resource: &Resource) -> bool {
    use crate::store::ClientKind;
    match client.kind {
        ClientKind::Static => client.resources.contains(&resource.id),
        ClientKind::Dynamic => match &client.bound_resource_id {
            Some(bound) => *bound == resource.id,
            None => resource.is_dcr_enabled,
        },
        // An organization client gets tokens for its own audience, never a resource's.
        ClientKind::Organization => false,
        ClientKind::Metadata => {
            resource.is_cimd_enabled
                && super::cimd::allowlist_admits(&resource.cimd_allowlist, &client.id)
        }
    }
}

/// The resource a request means when it names none: the client's only one, if any.
pub fn default_resource_id(client: &crate::store::Client) -> Option<&str> {
    match (&client.bound_resource_id, client.resources.as_slice()) {
        (Some(bound), _) => Some(bound),
        (None, [only]) => Some(only),
        _ => None,
    }
}
