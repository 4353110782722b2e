//! A real local HTTP server for the download demos: axum on `127.0.0.1`, port 0 (the
//! system picks a free one), so everything runs offline.
//!
//! `GET /files/{id}` answers, after the configured latency, with file `id`: `body_size`
//! deterministic bytes that [`crate::workload::verify_file`] checks. The query parameters
//! `?latency_ms=N&size=N` override both for one request.
//!
//! Start it from sync code with [`TestServer::start`] (it gets its own thread and runtime)
//! or from async code with [`TestServer::start_async`] (it runs on the caller's runtime).
//! Dropping the server stops it: it takes no new connection and lets requests in flight
//! finish.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use serde::Deserialize;
use tokio::sync::watch;

use crate::gauge::Gauge;

/// How long [`TestServer::start`] waits for its server to listen.
const START_LIMIT: Duration = Duration::from_secs(20);
use crate::workload::{file_bytes, file_source, file_window};

/// How the server answers `/files/{id}`.
#[derive(Clone, Copy, Debug)]
pub struct ServerConfig {
    /// How long each request waits before it is answered (the "network").
    pub latency: Duration,
    /// How many bytes each file has.
    pub body_size: usize,
}

impl Default for ServerConfig {
    /// No latency, 16 KiB files.
    fn default() -> Self {
        ServerConfig {
            latency: Duration::ZERO,
            body_size: 16 * 1024,
        }
    }
}

impl ServerConfig {
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    pub fn with_body_size(mut self, body_size: usize) -> Self {
        self.body_size = body_size;
        self
    }
}

/// What the server has seen: requests answered and the most ever in flight at once.
#[derive(Debug, Default)]
struct Stats {
    served: AtomicU64,
    in_flight: Gauge,
}

struct AppState {
    config: ServerConfig,
    /// Every default-sized file is a zero-copy slice of this buffer.
    source: Bytes,
    stats: Arc<Stats>,
}

#[derive(Deserialize)]
struct FileQuery {
    latency_ms: Option<u64>,
    size: Option<usize>,
}

async fn file(
    State(state): State<Arc<AppState>>,
    Path(id): Path<u64>,
    Query(query): Query<FileQuery>,
) -> Bytes {
    // Counted while it lives, also if the client goes away mid-request.
    let _in_flight = state.stats.in_flight.enter();
    let latency = query
        .latency_ms
        .map_or(state.config.latency, Duration::from_millis);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let body = match query.size {
        Some(size) if size != state.config.body_size => Bytes::from(file_bytes(id, size)),
        _ => state.source.slice(file_window(id, state.config.body_size)),
    };
    state.stats.served.fetch_add(1, Ordering::SeqCst);
    body
}

fn app(config: ServerConfig, stats: Arc<Stats>) -> Router {
    let state = AppState {
        config,
        source: Bytes::from(file_source(config.body_size)),
        stats,
    };
    Router::new()
        .route("/files/{id}", get(file))
        .with_state(Arc::new(state))
}

/// A running server; dropping it stops it.
pub struct TestServer {
    addr: SocketAddr,
    config: ServerConfig,
    stats: Arc<Stats>,
    stop: watch::Sender<bool>,
    /// Present when the server owns a thread (started from sync code).
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How long a stopping server waits for requests in flight before it drops them.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

async fn serve(listener: tokio::net::TcpListener, router: Router, stop: watch::Receiver<bool>) {
    let mut graceful = stop.clone();
    let mut deadline = stop;
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        let _ = graceful.wait_for(|stopped| *stopped).await;
    });
    tokio::select! {
        _ = server => {}
        _ = async {
            let _ = deadline.wait_for(|stopped| *stopped).await;
            tokio::time::sleep(DRAIN_LIMIT).await;
        } => {}
    }
}

impl TestServer {
    /// Start on a thread of its own with its own tokio runtime: usable from plain `fn main`,
    /// from threads, and (as it only blocks while binding) from async code.
    pub fn start(config: ServerConfig) -> io::Result<TestServer> {
        let stats = Arc::new(Stats::default());
        let (stop, stop_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let router = app(config, stats.clone());
        let thread = std::thread::Builder::new()
            .name("test-server".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("test-server")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match tokio::net::TcpListener::bind(("127.0.0.1", 0)).await {
                        Ok(listener) => {
                            let _ = ready_tx.send(listener.local_addr());
                            serve(listener, router, stop_rx).await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
            })?;
        // Bounded: a runtime whose worker threads the OS refuses (a low thread limit) can
        // panic on a thread of its own and leave this one waiting forever.
        let addr = match ready_rx.recv_timeout(START_LIMIT) {
            Ok(addr) => addr?,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                return Err(io::Error::other(format!(
                    "the local HTTP server did not start within {START_LIMIT:?} (too few threads allowed?)"
                )));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(io::Error::other(
                    "the local HTTP server's thread ended before it was ready (too few threads allowed?)",
                ));
            }
        };
        Ok(TestServer {
            addr,
            config,
            stats,
            stop,
            thread: Some(thread),
        })
    }

    /// Start as a task on the current tokio runtime.
    pub async fn start_async(config: ServerConfig) -> io::Result<TestServer> {
        let stats = Arc::new(Stats::default());
        let (stop, stop_rx) = watch::channel(false);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        tokio::spawn(serve(listener, app(config, stats.clone()), stop_rx));
        Ok(TestServer {
            addr,
            config,
            stats,
            stop,
            thread: None,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn config(&self) -> ServerConfig {
        self.config
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The address of file `id`.
    pub fn file_url(&self, id: u64) -> String {
        self.url(&format!("/files/{id}"))
    }

    /// How many files the server has answered.
    pub fn requests_served(&self) -> u64 {
        self.stats.served.load(Ordering::SeqCst)
    }

    /// The largest number of requests the server ever held at once: what a client's
    /// concurrency limit looked like from the other side.
    pub fn max_in_flight(&self) -> u64 {
        self.stats.in_flight.max() as u64
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::verify_file;
    use std::time::Instant;

    #[test]
    fn serves_the_right_bytes_after_the_latency_from_sync_code() {
        let config = ServerConfig::default()
            .with_latency(Duration::from_millis(50))
            .with_body_size(1000);
        let server = TestServer::start(config).unwrap();
        assert!(server.addr().ip().is_loopback());
        let client = reqwest::blocking::Client::new();
        let start = Instant::now();
        let body = client
            .get(server.file_url(7))
            .send()
            .unwrap()
            .bytes()
            .unwrap();
        // A lower bound only: the answer cannot come before the configured latency.
        assert!(start.elapsed() >= Duration::from_millis(50));
        assert!(verify_file(7, 1000, &body));
        assert_eq!(server.requests_served(), 1);
    }

    #[test]
    fn query_parameters_override_size_and_latency() {
        let server = TestServer::start(ServerConfig::default()).unwrap();
        let client = reqwest::blocking::Client::new();
        let body = client
            .get(server.url("/files/3?size=77&latency_ms=0"))
            .send()
            .unwrap()
            .bytes()
            .unwrap();
        assert!(verify_file(3, 77, &body));
        let bad = client
            .get(server.url("/files/not-a-number"))
            .send()
            .unwrap();
        assert_eq!(bad.status(), 400);
        let missing = client.get(server.url("/nothing")).send().unwrap();
        assert_eq!(missing.status(), 404);
    }

    #[tokio::test]
    async fn works_from_async_code() {
        let config = ServerConfig::default().with_body_size(256);
        let server = TestServer::start_async(config).await.unwrap();
        let client = reqwest::Client::new();
        let tasks: Vec<_> = (0..5)
            .map(|id| {
                let (client, url) = (client.clone(), server.file_url(id));
                tokio::spawn(async move {
                    let body = client.get(url).send().await.unwrap().bytes().await;
                    (id, body)
                })
            })
            .collect();
        for task in tasks {
            let (id, body) = task.await.unwrap();
            assert!(verify_file(id, 256, &body.unwrap()));
        }
        assert_eq!(server.requests_served(), 5);
    }

    #[test]
    fn one_request_at_a_time_is_one_in_flight() {
        let server = TestServer::start(ServerConfig::default()).unwrap();
        let client = reqwest::blocking::Client::new();
        for id in 0..3 {
            client
                .get(server.file_url(id))
                .send()
                .unwrap()
                .bytes()
                .unwrap();
        }
        assert_eq!(server.requests_served(), 3);
        assert_eq!(server.max_in_flight(), 1);
    }

    #[test]
    fn dropping_the_server_closes_its_port() {
        let server = TestServer::start(ServerConfig::default()).unwrap();
        let addr = server.addr();
        assert!(std::net::TcpStream::connect(addr).is_ok());
        drop(server);
        // A child that another test forks at this moment holds a copy of the listening socket
        // until its `exec` closes it, so the port may accept a little longer: it must refuse
        // within a bound, not at once.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "{addr} still accepts 20 s after the server was dropped"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
