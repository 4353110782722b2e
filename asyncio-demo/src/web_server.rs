//! FastAPI / aiohttp's `web.Application` -> an axum `Router`: routes, a path parameter,
//! JSON, shared state, a slow handler, a timeout middleware, graceful shutdown.
//!
//! Python:
//!     app = FastAPI()
//!     app.state.hits = 0
//!     @app.get("/items/{item_id}")
//!     async def item(item_id: int, request: Request):
//!         request.app.state.hits += 1                  # one event loop: no lock
//!         return {"id": item_id, "hits": request.app.state.hits}
//!     @app.get("/slow/{ms}")
//!     async def slow(ms: int):
//!         await asyncio.sleep(ms / 1000)               # a database call
//!         return {"waited_ms": ms}
//!     @app.middleware("http")
//!     async def timeout(request, call_next):
//!         try:
//!             return await asyncio.wait_for(call_next(request), 0.25)
//!         except asyncio.TimeoutError:
//!             return JSONResponse({"error": "timeout"}, status_code=503)
//!     uvicorn.run(app, host="127.0.0.1", port=8000)    # Ctrl-C: finish requests, stop
//!
//! Rust: a handler is an `async fn` whose arguments are extractors (`Path<u64>` parses the
//! path parameter, or answers 400 itself; `State` hands over the shared state) and whose
//! return value becomes the response. The state is shared between worker threads, so it is
//! an `Arc` and its counter an atomic: the compiler refuses a plain `u64` there (`Sync`).
//! `middleware::from_fn` is `@app.middleware("http")`. `axum::serve(..)
//! .with_graceful_shutdown(signal)` stops accepting on the signal and lets the requests in
//! flight finish, as uvicorn does on Ctrl-C. axum's `Json` (its `json` feature) would
//! serialize the body; this workspace keeps axum's features lean, so `json()` below does it
//! with `serde_json` in two lines. The `/block/{ms}` handler is the `blocking-pitfall`
//! lesson on a server, and `/block-fixed/{ms}` its fix.
//!
//! Watch: percentiles and requests/s for a fast route and a slow one; the timeline, where
//! one slow request runs beside fast ones that come and go; how late a quick request is
//! answered while handlers block the server's two workers, against the same calls in
//! `spawn_blocking`; a request past the timeout answered 503; a request still in flight when
//! the shutdown starts, answered.
//!
//! Run only this: cargo run -p asyncio-demo -- web-server
//! Open it in a browser: cargo run -p asyncio-demo -- web-server --serve

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tracing::Instrument;

/// What every handler shares: `app.state`.
pub struct AppState {
    /// Requests `/items/{id}` has answered.
    pub hits: AtomicU64,
    /// The timeout middleware's limit.
    pub timeout: Duration,
}

/// A JSON response from any `serde_json::Value` (what axum's `Json` does).
fn json(value: serde_json::Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// `GET /items/{id}`: a path parameter and the shared state.
async fn item(Path(id): Path<u64>, State(state): State<Arc<AppState>>) -> Response {
    let hits = state.hits.fetch_add(1, Ordering::Relaxed) + 1;
    json(serde_json::json!({ "id": id, "hits": hits }))
}

/// `GET /slow/{ms}`: awaits a slow call (a database, another service); the worker thread
/// serves other requests meanwhile.
async fn slow(Path(ms): Path<u64>) -> Response {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    json(serde_json::json!({ "waited_ms": ms }))
}

/// `GET /block/{ms}`: the pitfall. `std::thread::sleep` (any blocking call: a blocking
/// client, a big file read, a CPU loop) holds its worker thread; no other request runs there.
async fn block(Path(ms): Path<u64>) -> Response {
    std::thread::sleep(Duration::from_millis(ms));
    json(serde_json::json!({ "blocked_ms": ms }))
}

/// `GET /block-fixed/{ms}`: the same call on tokio's blocking pool (`run_in_executor`).
async fn block_fixed(Path(ms): Path<u64>) -> Response {
    let call = tokio::task::spawn_blocking(move || std::thread::sleep(Duration::from_millis(ms)));
    match call.await {
        Ok(()) => json(serde_json::json!({ "blocked_ms": ms })),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// `@app.middleware("http")`: every request inside a `request` span, stopped at the timeout.
/// A timeout can only stop a handler at an `.await`: a blocking call runs to its end.
async fn timeout(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let span = tracing::info_span!("request", path = %request.uri().path());
    match tokio::time::timeout(state.timeout, next.run(request))
        .instrument(span)
        .await
    {
        Ok(response) => response,
        Err(_) => {
            let body = json(serde_json::json!({ "error": "timeout" }));
            (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
        }
    }
}

/// The index page `--serve` shows: the routes, as links.
const INDEX: &str = r#"<!doctype html><meta charset="utf-8"><title>asyncio-demo web-server</title>
<h1>axum, the FastAPI twin</h1><ul>
<li><a href="/items/7">/items/7</a>: a path parameter and shared state (reload: hits grows)
<li><a href="/slow/100">/slow/100</a>: awaits 100 ms
<li><a href="/slow/1000">/slow/1000</a>: past the timeout: 503
<li><a href="/block/200">/block/200</a>: blocks a worker thread for 200 ms (the pitfall)
<li><a href="/block-fixed/200">/block-fixed/200</a>: the same in spawn_blocking
</ul>"#;

/// The application: `app = FastAPI()` and its routes.
pub fn app(timeout_after: Duration) -> Router {
    let state = Arc::new(AppState {
        hits: AtomicU64::new(0),
        timeout: timeout_after,
    });
    Router::new()
        .route("/", get(|| async { Html(INDEX) }))
        .route("/items/{id}", get(item))
        .route("/slow/{ms}", get(slow))
        .route("/block/{ms}", get(block))
        .route("/block-fixed/{ms}", get(block_fixed))
        .layer(middleware::from_fn_with_state(state.clone(), timeout))
        .with_state(state)
}

/// `uvicorn.run(app)`: serve until `shutdown` completes, then let the requests in flight
/// finish (graceful shutdown) and return.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

// --- run and measure ---

use anyhow::Context;
use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recording};
use common::timing::{Secs, Stopwatch, rate};
use futures::{StreamExt, TryStreamExt, stream};
use reqwest::Client;
use tokio::sync::oneshot;

pub const SECTION: Section<crate::download::Options> = Section::with_options(
    "web-server",
    "FastAPI / aiohttp web.Application",
    "an axum app (JSON, a path parameter, shared state, a timeout, graceful shutdown) under load; a blocking handler measured; --serve",
    run,
)
.owns_options(&["serve"]);

/// Say `print!` output now (a browser test reads the address from a pipe).
pub fn flush_stdout() {
    let _ = std::io::Write::flush(&mut std::io::stdout());
}

/// The server's worker threads. Two, not one per core: a blocking handler holds a whole
/// worker, so it takes as many blocking handlers at once as there are workers to stop the
/// server. With two the effect shows with four requests on any machine (and this is a
/// small deployment's size); with the default, one per core, a 64-core server needs 64.
pub const WORKERS: usize = 2;
/// The timeout middleware's limit.
const TIMEOUT: Duration = Duration::from_millis(250);
/// The slow route's "database call".
const SLOW_MS: u64 = 20;
/// Requests in the load of each route, and how many in flight.
const FAST_REQUESTS: usize = 1000;
const SLOW_REQUESTS: usize = 200;
const IN_FLIGHT: usize = 50;
/// How long each blocking call takes, and how many are sent at once.
const BLOCK_MS: u64 = 100;
const BLOCKERS: usize = 2 * WORKERS;
/// The blocked probes must be at least this many times later than the fixed ones.
const MIN_RATIO: u32 = 5;

/// The server's runtime: multi-thread, [`WORKERS`] workers, threads named `server`.
pub fn server_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .thread_name("server")
        .enable_all()
        .build()
        .context("building the server's runtime")
}

/// The `q` quantile (0.5: the median) of `samples`, sorting them first.
pub fn percentile(samples: &mut [Duration], q: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let rank = (q * (samples.len() - 1) as f64).round() as usize;
    samples[rank.min(samples.len() - 1)]
}

/// GET `url`, check the status, return the body.
async fn get_ok(client: &Client, url: String) -> anyhow::Result<String> {
    let response = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body = response.text().await?;
    anyhow::ensure!(status.is_success(), "GET {url}: {status} {body}");
    Ok(body)
}

/// Each URL once, at most `in_flight` at a time; every answer checked by `check`; the
/// latency of each request, and the time for all.
async fn load(
    client: &Client,
    urls: Vec<String>,
    in_flight: usize,
    check: impl Fn(&str, &str) -> anyhow::Result<()>,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let check = &check;
    let sw = Stopwatch::start();
    let latencies = stream::iter(urls)
        .map(|url| async move {
            let sw = Stopwatch::start();
            let body = get_ok(client, url.clone()).await?;
            let took = sw.elapsed();
            check(&url, &body)?;
            anyhow::Ok(took)
        })
        .buffer_unordered(in_flight)
        .try_collect()
        .await?;
    Ok((latencies, sw.elapsed()))
}

/// Quick requests one after another while `blockers` requests to `path` run at once: the
/// latency of each quick one.
async fn probe_while(client: &Client, base: &str, path: &str) -> anyhow::Result<Vec<Duration>> {
    let blocking = futures::future::try_join_all(
        (0..BLOCKERS).map(|_| get_ok(client, format!("{base}{path}"))),
    );
    let (done_tx, mut done) = oneshot::channel::<()>();
    let probes = async {
        let mut latencies = Vec::new();
        while done.try_recv().is_err() {
            let sw = Stopwatch::start();
            get_ok(client, format!("{base}/items/0")).await?;
            latencies.push(sw.elapsed());
        }
        anyhow::Ok(latencies)
    };
    let blocked = async {
        tokio::time::sleep(Duration::from_millis(5)).await; // the probes start first
        let out = blocking.await;
        let _ = done_tx.send(());
        out
    };
    let (latencies, blocked) = tokio::join!(probes, blocked);
    blocked?;
    latencies
}

fn run(options: &crate::download::Options) -> SectionResult {
    if options.web.serve {
        return serve_until_ctrl_c();
    }
    let server_rt = server_runtime()?;
    let listener = server_rt.block_on(TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = server_rt.spawn(serve(listener, app(TIMEOUT), async {
        let _ = stop_rx.await;
    }));
    // The clients: one thread of their own (a current-thread runtime).
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = Client::builder()
        .pool_max_idle_per_host(IN_FLIGHT)
        .build()?;
    client_rt.block_on(async {
        // The fast route and the slow one under load; meanwhile one request past the timeout.
        let fast_urls = (0..FAST_REQUESTS)
            .map(|i| format!("{base}/items/{i}"))
            .collect();
        let check_item = |url: &str, body: &str| {
            let id = url.rsplit('/').next().unwrap_or_default();
            anyhow::ensure!(
                body.starts_with("{\"hits\":") && body.ends_with(&format!(",\"id\":{id}}}")),
                "{url}: {body}"
            );
            Ok(())
        };
        let past_timeout = async {
            let sw = Stopwatch::start();
            let response = client
                .get(format!("{base}/slow/{}", TIMEOUT.as_millis() as u64 * 4))
                .send()
                .await?;
            anyhow::Ok((response.status(), response.text().await?, sw.elapsed()))
        };
        let (fast, timed_out) = tokio::join!(
            load(&client, fast_urls, IN_FLIGHT, check_item),
            past_timeout
        );
        let (mut fast, fast_took) = fast?;
        let (status, body, waited) = timed_out?;
        anyhow::ensure!(
            status == StatusCode::SERVICE_UNAVAILABLE && body.contains("timeout"),
            "past the timeout: {status} {body}"
        );
        let slow_urls = (0..SLOW_REQUESTS)
            .map(|_| format!("{base}/slow/{SLOW_MS}"))
            .collect();
        let check_slow = |url: &str, body: &str| {
            anyhow::ensure!(body == format!("{{\"waited_ms\":{SLOW_MS}}}"), "{url}: {body}");
            Ok(())
        };
        let (mut slow, slow_took) = load(&client, slow_urls, IN_FLIGHT, check_slow).await?;
        let hits = get_ok(&client, format!("{base}/items/1")).await?;
        anyhow::ensure!(
            hits.contains(&format!("\"hits\":{}", FAST_REQUESTS + 1)),
            "the shared counter says {hits}, expected {} hits",
            FAST_REQUESTS + 1
        );
        for (name, latencies, took, n) in [
            ("fast route /items/{id}", &mut fast, fast_took, FAST_REQUESTS),
            ("slow route /slow/20", &mut slow, slow_took, SLOW_REQUESTS),
        ] {
            figure(
                name,
                format!(
                    "p50 {:>8}, p99 {:>8}, {:>6.0} requests/s ({n} requests, {IN_FLIGHT} in flight)",
                    Secs(percentile(latencies, 0.5)).to_string(),
                    Secs(percentile(latencies, 0.99)).to_string(),
                    rate(n as u64, took)
                ),
            );
        }
        figure(
            "timeout middleware",
            format!(
                "/slow/{} answered {} after {}",
                TIMEOUT.as_millis() * 4,
                status.as_u16(),
                Secs(waited)
            ),
        );

        // The timeline: one slow request, quick ones one after another beside it.
        let recording = Recording::start();
        let slow_one = get_ok(&client, format!("{base}/slow/60"));
        let quick_ones = async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            for i in 1..=5 {
                get_ok(&client, format!("{base}/items/{i}")).await?;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            anyhow::Ok(())
        };
        let (slow_one, quick_ones) = tokio::join!(slow_one, quick_ones);
        slow_one?;
        quick_ones?;
        let recorded = recording.finish().named(&["request"]);
        recorded.print(Lanes::Span);
        let spans = recorded.spans();
        let slow_span = spans
            .iter()
            .find(|s| s.field("path") == Some("/slow/60"))
            .context("no span of the slow request")?;
        let inside = spans
            .iter()
            .filter(|s| s.field("path") != Some("/slow/60"))
            .filter(|s| s.start_us >= slow_span.start_us && s.end_us <= slow_span.end_us)
            .count();

        // Blocking handlers against the same calls in spawn_blocking.
        let mut blocked = probe_while(&client, &base, &format!("/block/{BLOCK_MS}")).await?;
        let mut fixed = probe_while(&client, &base, &format!("/block-fixed/{BLOCK_MS}")).await?;
        let (worst_blocked, worst_fixed) = (
            percentile(&mut blocked, 1.0),
            percentile(&mut fixed, 1.0),
        );
        for (name, latencies, worst) in [
            ("quick requests, blocked", &blocked, worst_blocked),
            ("quick requests, spawn_blocking", &fixed, worst_fixed),
        ] {
            figure(
                name,
                format!(
                    "worst {:>8} ({} answered while {BLOCKERS} x {BLOCK_MS} ms calls ran on {WORKERS} workers)",
                    Secs(worst).to_string(),
                    latencies.len()
                ),
            );
        }

        // Graceful shutdown: a request in flight when it starts is still answered.
        let last = get_ok(&client, format!("{base}/slow/50"));
        let stop = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let _ = stop_tx.send(());
        };
        let (last, ()) = tokio::join!(last, stop);
        last.context("the request in flight during the shutdown")?;
        figure("graceful shutdown", "the request in flight was answered, then the server stopped");

        takeaway_if(
            &Evidence::new(
                inside >= 5,
                "the 5 quick requests answered while the slow one waited",
                format!("{inside} of 5 inside the slow one's bar"),
            ),
            "a handler that awaits holds nothing: quick requests come and go while the slow one waits",
        );
        takeaway_if(
            &Evidence::new(
                worst_blocked >= worst_fixed.max(Duration::from_millis(1)) * MIN_RATIO,
                format!("quick requests at least {MIN_RATIO}x later beside blocking handlers"),
                format!("{} against {}", Secs(worst_blocked), Secs(worst_fixed)),
            ),
            format!(
                "a blocking call in a handler stops its worker thread: {BLOCKERS} of them on {WORKERS} workers held quick requests up by as much as {}; in spawn_blocking, {} (blocking-pitfall, on a server)",
                Secs(worst_blocked),
                Secs(worst_fixed)
            ),
        );
        anyhow::Ok(())
    })?;
    server_rt
        .block_on(server)
        .context("the server task")?
        .context("the server")?;
    Ok(())
}

/// `--serve`: the app on 127.0.0.1 until Ctrl-C (or SIGTERM), then a graceful shutdown.
fn serve_until_ctrl_c() -> SectionResult {
    let server_rt = server_runtime()?;
    server_rt.block_on(async {
        let stop = stop_signal()?; // listening before anyone can know the address
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        println!("  serving http://{addr}/ (Ctrl-C stops it)");
        flush_stdout();
        serve(listener, app(TIMEOUT), stop).await?;
        println!("  stopped: every request in flight was answered");
        anyhow::Ok(())
    })
}

/// Ctrl-C or SIGTERM, listened for from now on: a future that completes on the first.
pub fn stop_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).context("listening for Ctrl-C")?;
    let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn start(
        timeout_after: Duration,
    ) -> (
        String,
        oneshot::Sender<()>,
        tokio::task::JoinHandle<std::io::Result<()>>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, app(timeout_after), async {
            let _ = stop_rx.await;
        }));
        (base, stop, server)
    }

    #[tokio::test]
    async fn routes_answer_json_and_share_the_counter() {
        let (base, stop, server) = start(Duration::from_secs(30)).await;
        let client = Client::new();
        let urls = (0..40).map(|i| format!("{base}/items/{i}")).collect();
        let (latencies, _) = load(&client, urls, 8, |url, body| {
            let id = url.rsplit('/').next().unwrap();
            anyhow::ensure!(body.ends_with(&format!(",\"id\":{id}}}")), "{body}");
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(latencies.len(), 40);
        let body = get_ok(&client, format!("{base}/items/5")).await.unwrap();
        assert_eq!(body, r#"{"hits":41,"id":5}"#);
        assert_eq!(
            get_ok(&client, format!("{base}/slow/1")).await.unwrap(),
            r#"{"waited_ms":1}"#
        );
        let bad = client
            .get(format!("{base}/items/seven"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            bad.status(),
            StatusCode::BAD_REQUEST,
            "Path<u64> rejects it"
        );
        let html = get_ok(&client, format!("{base}/")).await.unwrap();
        assert!(html.contains("/block-fixed/200"));
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_handler_past_the_timeout_gets_503() {
        let (base, stop, server) = start(Duration::from_millis(20)).await;
        let response = reqwest::get(format!("{base}/slow/60000")).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.text().await.unwrap(), r#"{"error":"timeout"}"#);
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn shutdown_lets_the_request_in_flight_finish() {
        // A handler that says when it has the request, then waits to be let go.
        let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel();
        let release = Arc::new(tokio::sync::Semaphore::new(0));
        let gate = release.clone();
        let app = Router::new().route(
            "/wait",
            get(move || async move {
                let _ = arrived_tx.send(());
                let _permit = gate.acquire().await;
                "done"
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/wait", listener.local_addr().unwrap());
        let (stop, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, app, async {
            let _ = stop_rx.await;
        }));
        let in_flight = tokio::spawn(async move { reqwest::get(url).await?.text().await });
        arrived.recv().await.unwrap(); // the server holds the request
        stop.send(()).unwrap();
        tokio::task::yield_now().await;
        assert!(!server.is_finished(), "the shutdown waits for the request");
        release.add_permits(1);
        server.await.unwrap().unwrap();
        assert_eq!(in_flight.await.unwrap().unwrap(), "done");
    }

    #[test]
    fn percentiles_pick_the_ranked_sample() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        assert_eq!(percentile(&mut samples, 0.5), Duration::from_millis(51));
        assert_eq!(percentile(&mut samples, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&mut samples, 1.0), Duration::from_millis(100));
        assert_eq!(percentile(&mut [], 0.5), Duration::ZERO);
    }
}
