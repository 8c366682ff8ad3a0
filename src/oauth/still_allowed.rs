//! One answer to "is this grant still allowed?", asked at every step that hands something
//! out for it: when the rules are evaluated at authorization (and on the consent page), at
//! the code exchange and at every refresh. Everything authorize checks about the client
//! (still allowed for this resource: the resource's DCR and CIMD switches, the CIMD
//! allowlist, a static client's resource list), the resource itself, the user, the
//! organization and the connection; after consent, the consent too. Revocations and
//! cut-offs are read from the token family by the grants themselves.

use super::endpoint::client_may_use;
use crate::state::AppState;
use crate::store::{Client, Grant, GrantTarget, Organization, Resource, StoreError, User};

/// Who and what a grant is for.
pub struct GrantParties<'a> {
    pub client: &'a Client,
    pub user_id: &'a str,
    pub organization_id: &'a str,
    pub connection_id: &'a str,
    pub resource_id: &'a str,
    pub target: GrantTarget,
    pub redirect_uri: &'a str,
}

impl<'a> GrantParties<'a> {
    /// The parties of an issued grant (a code or a refresh token's) for `client`.
    pub fn of(client: &'a Client, grant: &'a Grant) -> Self {
        Self {
            client,
            user_id: &grant.user_id,
            organization_id: &grant.organization_id,
            connection_id: &grant.connection_id,
            resource_id: &grant.resource_id,
            target: grant.target,
            redirect_uri: &grant.redirect_uri,
        }
    }
}

/// Whether the user's consent must still stand (after the consent step, not before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentCheck {
    BeforeConsent,
    AfterConsent,
}

/// What the caller may go on with.
#[derive(Debug)]
pub struct Allowed {
    pub user: User,
    pub organization: Organization,
    pub resource: Resource,
}

/// Why a grant is no longer allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    ResourceGone,
    ClientNotAllowed,
    UserDisabled,
    OrganizationDisabled,
    ConnectionDisabled,
    ConsentRevoked,
}

impl Refusal {
    pub fn description(self) -> &'static str {
        match self {
            Self::ResourceGone => "the resource no longer exists",
            Self::ClientNotAllowed => "this client may no longer get tokens for that resource",
            Self::UserDisabled => "the user is disabled",
            Self::OrganizationDisabled => "the organization is disabled",
            Self::ConnectionDisabled => "the sign-in connection is disabled",
            Self::ConsentRevoked => "the user's consent was revoked",
        }
    }

    /// Whether the refusal ends the grant for good (its token family is revoked), rather
    /// than a policy an admin may switch back.
    pub fn ends_family(self) -> bool {
        !matches!(self, Self::ClientNotAllowed)
    }
}

/// Checks everything the grant depends on, in the order authorize checks it.
pub async fn check(
    app: &AppState,
    parties: &GrantParties<'_>,
    consent: ConsentCheck,
) -> Result<Result<Allowed, Refusal>, StoreError> {
    let store = &app.store;
    let resource = match parties.target {
        GrantTarget::Resource => {
            let Some(resource) = store.find_resource(parties.resource_id).await? else {
                return Ok(Err(Refusal::ResourceGone));
            };
            if !client_may_use(parties.client, &resource) {
                return Ok(Err(Refusal::ClientNotAllowed));
            }
            resource
        }
        // A login grant is for the client itself, while it is a login app.
        GrantTarget::Login => {
            if !parties.client.is_login_app() || parties.resource_id != parties.client.id {
                return Ok(Err(Refusal::ClientNotAllowed));
            }
            Resource::login_app(parties.client)
        }
    };
    let Some(user) = store
        .find_user(parties.user_id)
        .await?
        .filter(|u| u.is_enabled)
    else {
        return Ok(Err(Refusal::UserDisabled));
    };
    let Some(organization) = store
        .find_organization(parties.organization_id)
        .await?
        .filter(|o| o.is_enabled)
    else {
        return Ok(Err(Refusal::OrganizationDisabled));
    };
    let connection_ok = store
        .find_connection(parties.connection_id)
        .await?
        .is_some_and(|c| c.is_enabled);
    if !connection_ok {
        return Ok(Err(Refusal::ConnectionDisabled));
    }
    if consent == ConsentCheck::AfterConsent {
        let standing = store
            .find_consent(
                &user.id,
                &parties.client.id,
                parties.redirect_uri,
                &resource.id,
            )
            .await?
            .is_some_and(|c| c.revoked_at.is_none());
        if !standing {
            return Ok(Err(Refusal::ConsentRevoked));
        }
    }
    Ok(Ok(Allowed {
        user,
        organization,
        resource,
    }))
}
