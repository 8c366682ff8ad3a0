//! How each audit event is stored: its kind, the parties it touched, and its detail.

use serde_json::{Value, json};

use super::AuditEvent;
use crate::ids;
use crate::store::AuditRecord;

impl AuditEvent {
    pub(super) fn into_record(self, at: i64) -> AuditRecord {
        let mut r = AuditRecord {
            id: ids::generate("evt"),
            at,
            kind: String::new(),
            client_id: None,
            user_id: None,
            organization_id: None,
            resource_id: None,
            detail: Value::Null,
        };
        match self {
            Self::TokenIssued {
                grant,
                client_id,
                subject,
                organization_id,
                resource_id,
                scopes,
                jti,
                issuer,
                xaa,
            } => {
                r.kind = "token.issued".into();
                r.user_id = subject.starts_with("usr_").then(|| subject.clone());
                r.client_id = Some(client_id);
                r.organization_id = organization_id;
                r.resource_id = Some(resource_id);
                r.detail = json!({ "grant_type": grant, "sub": subject, "scopes": scopes, "jti": jti, "iss": issuer });
                if let Some(x) = xaa {
                    r.detail["idp"] = json!(x.idp);
                    r.detail["explanations"] = json!(x.explanations);
                }
            }
            Self::LoginSucceeded {
                user_id,
                organization_id,
                connection_id,
                connection_kind,
                session_id,
                is_simulated,
                claim_names,
                has_groups,
            } => {
                r.kind = "login.succeeded".into();
                r.user_id = Some(user_id);
                r.organization_id = Some(organization_id);
                r.detail = json!({ "connection_id": connection_id, "connection_kind": connection_kind,
                    "sid": session_id, "simulated": is_simulated, "claim_names": claim_names, "has_groups": has_groups });
            }
            Self::LoginFailed {
                connection_id,
                connection_kind,
                reason,
                is_simulated,
            } => {
                r.kind = "login.failed".into();
                r.detail = json!({ "connection_id": connection_id, "connection_kind": connection_kind,
                    "reason": reason, "simulated": is_simulated });
            }
            Self::LoginUserPosted {
                client_id,
                organization_id,
                connection_id,
                subject,
            } => {
                r.kind = "login.user_posted".into();
                r.client_id = Some(client_id);
                r.organization_id = Some(organization_id);
                r.detail = json!({ "connection_id": connection_id, "subject": subject });
            }
            Self::IdpInitiatedLoginForwarded {
                organization_id,
                connection_id,
                connection_kind,
                is_simulated,
            } => {
                r.kind = "login.idp_initiated_forwarded".into();
                r.organization_id = Some(organization_id);
                r.detail = json!({ "connection_id": connection_id, "connection_kind": connection_kind,
                    "simulated": is_simulated });
            }
            Self::ConsentGranted {
                consent_id,
                user_id,
                client_id,
                resource_id,
                scopes,
            } => {
                r.kind = "consent.granted".into();
                r.user_id = Some(user_id);
                r.client_id = Some(client_id);
                r.resource_id = Some(resource_id);
                r.detail = json!({ "consent_id": consent_id, "scopes": scopes });
            }
            Self::ConsentDenied {
                user_id,
                client_id,
                resource_id,
            } => {
                r.kind = "consent.denied".into();
                r.user_id = Some(user_id);
                r.client_id = Some(client_id);
                r.resource_id = Some(resource_id);
                r.detail = json!({});
            }
            Self::CodeIssued {
                client_id,
                user_id,
                organization_id,
                resource_id,
                scopes,
            } => {
                r.kind = "code.issued".into();
                r.user_id = Some(user_id);
                r.client_id = Some(client_id);
                r.organization_id = Some(organization_id);
                r.resource_id = Some(resource_id);
                r.detail = json!({ "scopes": scopes });
            }
            Self::CodeReplayDetected {
                client_id,
                user_id,
                revoked_jti,
                revoked_family,
            } => {
                r.kind = "code.replay_detected".into();
                r.user_id = Some(user_id);
                r.client_id = Some(client_id);
                r.detail = json!({ "revoked_jti": revoked_jti, "revoked_family": revoked_family });
            }
            Self::RefreshRotated {
                client_id,
                user_id,
                family_id,
                scopes,
            } => {
                r.kind = "refresh.rotated".into();
                r.user_id = Some(user_id);
                r.client_id = Some(client_id);
                r.detail = json!({ "family_id": family_id, "scopes": scopes });
            }
            Self::RefreshReuseDetected {
                client_id,
                user_id,
                family_id,
            } => {
                r.kind = "refresh.reuse_detected".into();
                r.user_id = Some(user_id);
                r.client_id = Some(client_id);
                r.detail = json!({ "family_id": family_id });
            }
            Self::TokenRevoked {
                client_id,
                token_kind,
                jti_or_family,
            } => {
                r.kind = "token.revoked".into();
                r.client_id = Some(client_id);
                r.detail = json!({ "token_kind": token_kind, "id": jti_or_family });
            }
            Self::TokenRefused {
                grant,
                client_id,
                error,
                reason,
            } => {
                r.kind = "token.refused".into();
                r.client_id = client_id;
                r.detail = json!({ "grant_type": grant, "error": error, "reason": reason });
            }
            Self::ClientRegistered {
                client_id,
                resource_id,
                is_public,
                client_name,
            } => {
                r.kind = "client.registered".into();
                r.client_id = Some(client_id);
                r.resource_id = resource_id;
                r.detail = json!({ "public": is_public, "client_name": client_name });
            }
            Self::ClientReaped { client_id } => {
                r.kind = "client.reaped".into();
                r.client_id = Some(client_id);
                r.detail = json!({});
            }
            Self::ClientDeleted { client_id } => {
                r.kind = "client.deleted".into();
                r.client_id = Some(client_id);
                r.detail = json!({});
            }
            Self::ClientMetadataFetched { client_id, error } => {
                r.kind = if error.is_some() {
                    "client_metadata.refused"
                } else {
                    "client_metadata.fetched"
                }
                .into();
                r.client_id = Some(client_id);
                r.detail = json!({ "error": error });
            }
            Self::ClientRegistrationRefused {
                resource_id,
                error,
                reason,
            } => {
                r.kind = "client.registration_refused".into();
                r.resource_id = resource_id;
                r.detail = json!({ "error": error, "reason": reason });
            }
            Self::SeedApplied { source, counts } => {
                r.kind = "seed.applied".into();
                r.detail = json!({ "source": source, "counts": counts });
            }
            Self::SigningKeyCreated {
                kid,
                alg,
                activate_at,
            } => {
                r.kind = "key.created".into();
                r.detail = json!({ "kid": kid, "alg": alg, "activate_at": activate_at });
            }
            Self::AdminChanged {
                kind,
                actor,
                target,
                client_id,
                user_id,
                organization_id,
                resource_id,
                changes,
            } => {
                r.kind = kind.into();
                r.client_id = client_id;
                r.user_id = user_id;
                r.organization_id = organization_id;
                r.resource_id = resource_id;
                r.detail = json!({ "actor": actor.principal, "address": actor.address,
                    "user_agent": actor.user_agent, "request_id": actor.request_id,
                    "target": target, "changes": changes });
            }
            Self::AdminLogin {
                username,
                address,
                user_agent,
                request_id,
                outcome,
            } => {
                r.kind = format!("admin.login.{outcome}");
                r.detail = json!({ "actor": format!("admin:{username}"), "address": address,
                    "user_agent": user_agent, "request_id": request_id });
            }
        }
        r
    }
}
