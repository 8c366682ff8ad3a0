//! The accept loop: HTTP/1.1 and HTTP/2 (hyper-util's auto builder) with the limits a
//! server anyone can reach needs. Request headers must arrive within
//! [`HEADER_READ_TIMEOUT`] (hyper starts that clock whenever a connection waits for a
//! request, so it also ends idle keep-alive connections); bodies within the router's body
//! timeout. At most `max_connections` are served; [`HEALTH_HEADROOM`] more answer only the
//! health checks (503 otherwise), and past that a new connection is closed at once. A
//! shutdown stops accepting, lets requests in flight finish for a bounded time, then
//! returns (what is left is dropped with the runtime).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::http::{Request, Response, StatusCode, header};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

/// A client must send a request's headers within this time.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections beyond `max_connections` that are still served, for health checks only.
pub const HEALTH_HEADROOM: usize = 64;

/// How many connections at once, and how long a shutdown waits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub shutdown_timeout: Duration,
}

/// Whether a connection over the cap may still be served this path.
pub fn is_health_check(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz")
}

/// Serves `router` on `listener` until `shutdown` completes, then drains.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let regular = Arc::new(Semaphore::new(limits.max_connections));
    let headroom = Arc::new(Semaphore::new(HEALTH_HEADROOM));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(HEADER_READ_TIMEOUT);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: breathe, then go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (permit, is_full) = match regular.clone().try_acquire_owned() {
            Ok(p) => (p, false),
            Err(_) => match headroom.clone().try_acquire_owned() {
                Ok(p) => (p, true),
                // Over the cap and the headroom: close at once.
                Err(_) => continue,
            },
        };
        let router = router.clone();
        let service = tower::service_fn(move |mut req: Request<hyper::body::Incoming>| {
            let router = router.clone();
            async move {
                if is_full && !is_health_check(req.uri().path()) {
                    return Ok::<_, Infallible>(busy());
                }
                req.extensions_mut().insert(ConnectInfo(addr));
                router.oneshot(req.map(Body::new)).await
            }
        });
        let builder = builder.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let conn = builder.serve_connection_with_upgrades(
                TokioIo::new(stream),
                TowerToHyperService::new(service),
            );
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = stopped(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let all = (limits.max_connections + HEALTH_HEADROOM) as u32;
    let drained = tokio::time::timeout(limits.shutdown_timeout, async {
        let _ = regular.acquire_many(limits.max_connections as u32).await;
        let _ = headroom.acquire_many(HEALTH_HEADROOM as u32).await;
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            waited = ?limits.shutdown_timeout,
            connections = all as usize - regular.available_permits() - headroom.available_permits(),
            "shutdown: connections still open after the drain; closing them"
        );
    }
}

/// Resolves once the shutdown is signalled (or the sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            return;
        }
    }
}

fn busy() -> Response<Body> {
    let mut r = Response::new(Body::from("the server is at its connection limit\n"));
    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    r.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_health_checks_pass_over_the_cap() {
        assert!(is_health_check("/healthz"));
        assert!(is_health_check("/readyz"));
        assert!(!is_health_check("/oauth/token"));
        assert!(!is_health_check("/healthz/x"));
    }
}
