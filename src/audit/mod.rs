//! Audit events: what was decided, by whom, for whom. Written by the domain function
//! that made the decision, separate from logs. Events go through a bounded queue to a
//! background writer that stores them in batches: flushed within 100 ms and at shutdown,
//! and a full queue makes senders wait (back-pressure) rather than dropping events.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;
use crate::ids;
use crate::store::{AuditRecord, Store};

mod limits;

use limits::{Budget, bounded};
pub use limits::{MAX_DETAIL_BYTES, MAX_ID_CHARS, OUTSIDER_EVENTS_PER_MINUTE, capped};

const QUEUE: usize = 4096;
const BATCH: usize = 512;
const FLUSH_WITHIN: Duration = Duration::from_millis(100);

/// What a Cross-App Access token was granted on.
#[derive(Debug, Clone)]
pub struct XaaDetail {
    pub idp: String,
    pub explanations: Vec<crate::policy::Explanation>,
}

/// A decision worth recording. Past tense; never carries secrets, codes or tokens.
#[derive(Debug, Clone)]
pub enum AuditEvent {
    TokenIssued {
        grant: &'static str,
        client_id: String,
        subject: String,
        organization_id: Option<String>,
        resource_id: String,
        scopes: Vec<String>,
        jti: String,
        issuer: String,
        /// Cross-App Access: the IdP whose identity assertion the token was granted on, and
        /// which rule decided each scope (as the rule simulator explains it).
        xaa: Option<XaaDetail>,
    },
    LoginSucceeded {
        user_id: String,
        organization_id: String,
        connection_id: String,
        connection_kind: crate::store::ConnectionKind,
        session_id: String,
        is_simulated: bool,
        /// Names (never values) of the claims the upstream sent.
        claim_names: Vec<String>,
        has_groups: bool,
    },
    LoginFailed {
        connection_id: String,
        connection_kind: crate::store::ConnectionKind,
        reason: String,
        is_simulated: bool,
    },
    /// An application posted who signed in through its own login (bring-your-own-auth).
    LoginUserPosted {
        client_id: String,
        organization_id: String,
        connection_id: String,
        /// The application's subject for the person.
        subject: String,
    },
    /// An IdP-initiated login sent to the application's login URL (no session opened).
    IdpInitiatedLoginForwarded {
        organization_id: String,
        connection_id: String,
        connection_kind: crate::store::ConnectionKind,
        is_simulated: bool,
    },
    ConsentGranted {
        consent_id: String,
        user_id: String,
        client_id: String,
        resource_id: String,
        scopes: Vec<String>,
    },
    ConsentDenied {
        user_id: String,
        client_id: String,
        resource_id: String,
    },
    CodeIssued {
        client_id: String,
        user_id: String,
        organization_id: String,
        resource_id: String,
        scopes: Vec<String>,
    },
    CodeReplayDetected {
        client_id: String,
        user_id: String,
        revoked_jti: Option<String>,
        revoked_family: Option<String>,
    },
    RefreshRotated {
        client_id: String,
        user_id: String,
        family_id: String,
        scopes: Vec<String>,
    },
    RefreshReuseDetected {
        client_id: String,
        user_id: String,
        family_id: String,
    },
    TokenRevoked {
        client_id: String,
        token_kind: &'static str,
        jti_or_family: String,
    },
    TokenRefused {
        grant: Option<String>,
        client_id: Option<String>,
        error: &'static str,
        reason: String,
    },
    ClientRegistered {
        client_id: String,
        resource_id: Option<String>,
        is_public: bool,
        client_name: String,
    },
    ClientReaped {
        client_id: String,
    },
    ClientDeleted {
        client_id: String,
    },
    ClientMetadataFetched {
        client_id: String,
        error: Option<String>,
    },
    ClientRegistrationRefused {
        resource_id: Option<String>,
        error: &'static str,
        reason: String,
    },
    SeedApplied {
        source: String,
        counts: Value,
    },
    SigningKeyCreated {
        kid: String,
        alg: String,
        activate_at: i64,
    },
    /// A change made by an admin (pages or API): `kind` such as `admin.rule.updated`.
    AdminChanged {
        kind: &'static str,
        actor: AdminActor,
        target: String,
        client_id: Option<String>,
        user_id: Option<String>,
        organization_id: Option<String>,
        resource_id: Option<String>,
        /// What changed (never secrets).
        changes: Value,
    },
    /// An admin login attempt, successful or not.
    AdminLogin {
        username: String,
        address: String,
        user_agent: String,
        request_id: String,
        outcome: &'static str,
    },
}

/// Who made an admin change, from where.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AdminActor {
    /// `admin:<username>` or `client:<client id>`.
    pub principal: String,
    pub address: String,
    pub user_agent: String,
    pub request_id: String,
}

impl AuditEvent {
    fn into_record(self, at: i64) -> AuditRecord {
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

enum Message {
    Event(Box<AuditRecord>),
    Flush(oneshot::Sender<()>),
}

/// The sending side, cheap to clone into every handler.
#[derive(Clone, Debug)]
pub struct AuditLog {
    tx: mpsc::Sender<Message>,
    clock: Arc<dyn Clock>,
    budget: Arc<std::sync::Mutex<Budget>>,
}

impl AuditLog {
    /// Starts the writer. The returned handle finishes once every sender is gone and the
    /// queue is drained; `serve` awaits it at shutdown.
    pub fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (
            Self {
                tx,
                clock,
                budget: Arc::default(),
            },
            tokio::spawn(writer(store, rx)),
        )
    }

    /// Queues an event; waits when the queue is full.
    pub async fn record(&self, event: AuditEvent) {
        let record = bounded(event.into_record(self.clock.now()));
        let (is_kept, summary) = self
            .budget
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .admit(&record.kind, record.at);
        for r in summary.into_iter().chain(is_kept.then_some(record)) {
            if self.tx.send(Message::Event(Box::new(r))).await.is_err() {
                tracing::error!("audit writer is gone; event lost");
            }
        }
    }

    /// Waits until everything queued so far is stored.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn writer(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Message>) {
    let mut batch: Vec<AuditRecord> = Vec::with_capacity(BATCH);
    let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = rx.recv().await {
        let deadline = tokio::time::Instant::now() + FLUSH_WITHIN;
        let mut msg = Some(first);
        loop {
            match msg.take() {
                Some(Message::Event(r)) => batch.push(*r),
                Some(Message::Flush(w)) => {
                    waiters.push(w);
                    break;
                }
                None => {}
            }
            if batch.len() >= BATCH {
                break;
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(m)) => msg = Some(m),
                Ok(None) | Err(_) => break,
            }
        }
        if !batch.is_empty() {
            if let Err(e) = store.insert_audit_events(&batch).await {
                tracing::error!(error = %e, count = batch.len(), "writing audit events failed");
            }
            batch.clear();
        }
        for w in waiters.drain(..) {
            let _ = w.send(());
        }
    }
}
