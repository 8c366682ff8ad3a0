//! The machine-readable codes of the HTML error pages and of the authorization
//! endpoint's error redirects: RFC 6749 §4.1.2.1, RFC 8707 §2 (`invalid_target`) and
//! OpenID Connect Core §3.1.2.6 for the redirects, our own stable names for the pages.

/// An error code as the page shows it or the redirect carries it (`as_str`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PageCode {
    // RFC 6749 §4.1.2.1: what an error redirect may carry.
    InvalidRequest,
    UnauthorizedClient,
    AccessDenied,
    UnsupportedResponseType,
    InvalidScope,
    ServerError,
    TemporarilyUnavailable,
    /// RFC 8707 §2.
    InvalidTarget,
    // OpenID Connect Core §3.1.2.6.
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    // Pages only: the person sees them, the client never does.
    InvalidClient,
    InvalidRedirectUri,
    RequestExpired,
    TooManyRequests,
    InvalidCsrf,
    Csrf,
    NotFound,
    InUse,
    UpstreamUnavailable,
    UpstreamRefused,
    UnknownConnection,
    InvalidState,
    StateReplayed,
    ConfirmationInvalid,
    UnknownOrganization,
    OrganizationDisabled,
    NoConnection,
    ConnectionDisabled,
    UnknownDomain,
    ConnectionUnsupported,
    UnknownRequest,
    ConnectionMismatch,
    UserDisabled,
    SessionMismatch,
    BrowserMismatch,
    SimulatorDisabled,
    InvalidEmail,
}

impl PageCode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidTarget => "invalid_target",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::InvalidClient => "invalid_client",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::RequestExpired => "request_expired",
            Self::TooManyRequests => "too_many_requests",
            Self::InvalidCsrf => "invalid_csrf",
            Self::Csrf => "csrf",
            Self::NotFound => "not_found",
            Self::InUse => "in_use",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::UpstreamRefused => "upstream_refused",
            Self::UnknownConnection => "unknown_connection",
            Self::InvalidState => "invalid_state",
            Self::StateReplayed => "state_replayed",
            Self::ConfirmationInvalid => "confirmation_invalid",
            Self::UnknownOrganization => "unknown_organization",
            Self::OrganizationDisabled => "organization_disabled",
            Self::NoConnection => "no_connection",
            Self::ConnectionDisabled => "connection_disabled",
            Self::UnknownDomain => "unknown_domain",
            Self::ConnectionUnsupported => "connection_unsupported",
            Self::UnknownRequest => "unknown_request",
            Self::ConnectionMismatch => "connection_mismatch",
            Self::UserDisabled => "user_disabled",
            Self::SessionMismatch => "session_mismatch",
            Self::BrowserMismatch => "browser_mismatch",
            Self::SimulatorDisabled => "simulator_disabled",
            Self::InvalidEmail => "invalid_email",
        }
    }
}

impl std::fmt::Display for PageCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_the_rfc_names() {
        for (code, name) in [
            (PageCode::InvalidRequest, "invalid_request"),
            (PageCode::UnauthorizedClient, "unauthorized_client"),
            (PageCode::AccessDenied, "access_denied"),
            (
                PageCode::UnsupportedResponseType,
                "unsupported_response_type",
            ),
            (PageCode::InvalidScope, "invalid_scope"),
            (PageCode::ServerError, "server_error"),
            (PageCode::TemporarilyUnavailable, "temporarily_unavailable"),
            (PageCode::InvalidTarget, "invalid_target"),
            (PageCode::LoginRequired, "login_required"),
            (PageCode::ConsentRequired, "consent_required"),
            (PageCode::InteractionRequired, "interaction_required"),
            (PageCode::TooManyRequests, "too_many_requests"),
        ] {
            assert_eq!(code.as_str(), name);
            assert_eq!(code.to_string(), name);
        }
    }
}
