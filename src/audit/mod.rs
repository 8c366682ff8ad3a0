//! Audit events: what was decided, by whom, for whom. Written by the domain function
//! that made the decision, separate from logs. Events go through a bounded queue to a
//! background writer that stores them in batches: flushed within 100 ms and at shutdown,
//! and a full queue makes senders wait (back-pressure) rather than dropping events.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;
use crate::store::{AuditRecord, Store};

mod limits;
mod record;

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
