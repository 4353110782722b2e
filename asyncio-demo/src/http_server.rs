//! The server loop a deployment needs, for an axum `Router`: the file to copy beside the
//! `web-server` and `websocket` lessons (each includes it with
//! `#[path = "http_server.rs"] mod http_server;`).
//!
//! `axum::serve` has no settings: a client that sends half a header keeps its connection
//! forever, a thousand of them use up the open-files limit, and its graceful shutdown
//! waits for every one of them. This is axum's docs' answer, hyper with settings:
//! - a header timeout (also how long an idle keep-alive connection stays open);
//! - a semaphore on connections: past the limit, new ones wait in the listen backlog;
//! - a shutdown deadline: requests in flight get that long, then the rest are cut.
//!
//! uvicorn's `limit_concurrency`, `timeout_keep_alive` and `timeout_graceful_shutdown`.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::Service; // a Router is a tower Service: hyper calls it through `service_fn`

/// What one client may hold, and for how long.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A request's whole header must arrive within this (also how long an idle keep-alive
    /// connection stays open); past it, hyper closes the connection.
    pub header_timeout: Duration,
    /// Connections served at once (a WebSocket counts until it is upgraded); the next
    /// ones wait in the listen backlog.
    pub max_connections: usize,
    /// After the shutdown signal, requests in flight get this long; then the rest are cut.
    pub shutdown_deadline: Duration,
}

/// Limits for a server on one machine (over a network: a header timeout of 10-30 s, a
/// deadline of what your orchestrator allows).
pub const LIMITS: Limits = Limits {
    header_timeout: Duration::from_secs(2),
    max_connections: 256,
    shutdown_deadline: Duration::from_secs(1),
};

/// `uvicorn.run(app)`: serve until `shutdown` completes; then stop accepting, let the
/// requests in flight finish within the deadline, and cut what is left. Returns how many
/// connections were cut.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> usize {
    let free = Arc::new(Semaphore::new(limits.max_connections));
    let (draining, drain) = watch::channel(()); // dropped: every connection drains
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let accept = async {
            let permit = free.clone().acquire_owned().await;
            (permit, listener.accept().await)
        };
        let (permit, accepted) = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next() => continue, // one ended
            next = accept => next,
        };
        let (Ok(permit), Ok((socket, _))) = (permit, accepted) else {
            // Out of file descriptors (EMFILE) for now: try again in a moment.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        // Each answer leaves at once, not held back to go with the next one (Nagle's
        // algorithm, against delayed ACKs, would add 40 ms here and there).
        let _ = socket.set_nodelay(true);
        let app = app.clone();
        let service = service_fn(move |request| app.clone().call(request));
        let mut drain = drain.clone();
        connections.spawn(async move {
            let _permit = permit; // the slot is free again when this connection ends
            let mut http = http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let conn = http.serve_connection(TokioIo::new(socket), service);
            let mut conn = pin!(conn.with_upgrades()); // a WebSocket takes the socket over
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = drain.changed() => conn.as_mut().graceful_shutdown(),
            }
            let _ = conn.await; // the request in flight is answered, then it closes
        });
    }
    drop(listener); // new clients are refused from now on
    drop(draining);
    let drained = async { while connections.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(limits.shutdown_deadline, drained).await;
    let cut = connections.len();
    connections.shutdown().await; // the deadline: drop the rest
    cut
}
