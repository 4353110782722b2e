//! FastAPI / aiohttp's `web.Application` -> an axum `Router`: routes, a path parameter,
//! JSON, shared state, a slow handler, a timeout middleware, bounded blocking handlers, and
//! the server loop a deployment needs (a header timeout, a connection limit, a shutdown
//! deadline).
//!
//! Python:
//!     app = FastAPI()
//!     app.state.hits = 0
//!     @app.get("/items/{item_id}")
//!     async def item(item_id: int, request: Request):
//!         request.app.state.hits += 1      # no lock: async def, one loop, one process
//!         return {"id": item_id, "hits": request.app.state.hits}
//!     @app.get("/slow/{ms}")
//!     async def slow(ms: int):
//!         await asyncio.sleep(ms / 1000)   # a database call
//!         return {"waited_ms": ms}
//!     @app.get("/block-fixed/{ms}")
//!     def block(ms: Annotated[int, Path(le=1000)]):    # plain def: FastAPI's thread pool
//!         time.sleep(ms / 1000)
//!         return {"blocked_ms": ms}
//!     @app.middleware("http")
//!     async def timeout(request, call_next):
//!         try:
//!             return await asyncio.wait_for(call_next(request), 0.25)
//!         except asyncio.TimeoutError:
//!             return JSONResponse({"error": "timeout"}, status_code=503)
//!     uvicorn.run(app, host="127.0.0.1", port=8000, limit_concurrency=256,
//!                 timeout_keep_alive=2, timeout_graceful_shutdown=1)
//!
//! Rust: a handler is an `async fn` whose arguments are extractors (`Path<u64>` parses the
//! path parameter, or answers 400 itself; `State` hands over the shared state) and whose
//! `Json` return value is serialized. The state is shared by the worker threads in an
//! `Arc`, which hands out `&` only: `state.hits += 1` on a `u64` is refused (E0594, "cannot
//! assign to data in an `Arc`"); an `AtomicU64` counts through `&`. Python's `+= 1` needs no
//! lock only in `async def` endpoints of one worker process: a plain `def` runs on FastAPI's
//! thread pool, and `--workers 4` gives each process a count of its own.
//! axum has no pool for plain functions: every handler runs on the runtime's few workers,
//! and a blocking call (`/block`: the `blocking-pitfall` lesson on a server) holds one.
//! `/block-fixed` hands the call to `spawn_blocking` (`run_in_executor`), at most 8 at once.
//! Both cap `ms`: a blocking call cannot be cancelled (the middleware answers 503, the thread
//! sleeps on) and tokio waits for it when the runtime ends.
//! `axum::serve` has no settings: a client that sends half a header keeps its connection
//! forever, a thousand of them use up the open-files limit, and its graceful shutdown waits
//! for all of them. `serve` below is axum's docs' answer, hyper with settings: a header
//! timeout, a semaphore on connections, and a deadline after which the rest are cut.
//!
//! Watch: answers of each route; a request past the timeout answered 503, a blocking call
//! too long refused with 422; at the shutdown, the request in flight answered and a client
//! that sent half a header cut at the deadline. The measured run adds percentiles, how late
//! quick requests are while handlers block the two workers (and with `spawn_blocking`), and
//! the header timeout.
//!
//! Run only this: cargo run -p asyncio-demo -- web-server
//! Open it in a browser: cargo run -p asyncio-demo -- web-server --serve
//! Copy it: cargo add axum@0.8 serde_json@1 tower@0.5 tracing@0.1 && cargo add hyper@1 --features server,http1 && cargo add hyper-util@0.1 --features tokio && cargo add reqwest@0.13 --no-default-features && cargo add tokio@1 --features full
//! Copy beside it: http_server.rs

#[path = "http_server.rs"]
mod http_server;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::Instrument;

use http_server::{LIMITS, serve};

/// What every handler shares: `app.state`.
pub struct AppState {
    /// Requests `/items/{id}` has answered.
    pub hits: AtomicU64,
    /// The timeout middleware's limit.
    pub timeout: Duration,
    /// Blocking calls running at once on the blocking pool (`/block-fixed`).
    pub blocking: Arc<Semaphore>,
}

/// The longest blocking call a request may ask for (FastAPI's `Path(le=1000)`).
pub const MAX_BLOCK_MS: u64 = 1000;
/// Blocking calls at once: more are answered 503 at once instead of queueing threads.
pub const BLOCKING_AT_ONCE: usize = 8;

/// A handler's answer: JSON, or a status with a JSON error.
type Answer = Result<Json<Value>, (StatusCode, Json<Value>)>;

fn error(status: StatusCode, text: &str) -> (StatusCode, Json<Value>) {
    (status, Json(json!({ "error": text })))
}

/// `ms` as a duration, or 422 past [`MAX_BLOCK_MS`].
fn bounded(ms: u64) -> Result<Duration, (StatusCode, Json<Value>)> {
    if ms > MAX_BLOCK_MS {
        let text = format!("ms: at most {MAX_BLOCK_MS}");
        return Err(error(StatusCode::UNPROCESSABLE_ENTITY, &text));
    }
    Ok(Duration::from_millis(ms))
}

/// `GET /items/{id}`: a path parameter and the shared state.
async fn item(Path(id): Path<u64>, State(state): State<Arc<AppState>>) -> Json<Value> {
    let hits = state.hits.fetch_add(1, Ordering::Relaxed) + 1;
    Json(json!({ "id": id, "hits": hits }))
}

/// `GET /slow/{ms}`: awaits a slow call (a database, another service); the worker thread
/// serves other requests meanwhile.
async fn slow(Path(ms): Path<u64>) -> Json<Value> {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Json(json!({ "waited_ms": ms }))
}

/// `GET /block/{ms}`: the pitfall. `std::thread::sleep` (any blocking call: a blocking
/// client, a big file read, a CPU loop) holds its worker thread; no other request runs there.
async fn block(Path(ms): Path<u64>) -> Answer {
    std::thread::sleep(bounded(ms)?);
    Ok(Json(json!({ "blocked_ms": ms })))
}

/// `GET /block-fixed/{ms}`: the same call on tokio's blocking pool (`run_in_executor`). The
/// permit goes into the thread: it is freed when the call ends, not when a timeout stops
/// waiting for it.
async fn block_fixed(Path(ms): Path<u64>, State(state): State<Arc<AppState>>) -> Answer {
    let wait = bounded(ms)?;
    let Ok(permit) = state.blocking.clone().try_acquire_owned() else {
        return Err(error(StatusCode::SERVICE_UNAVAILABLE, "busy"));
    };
    let call = tokio::task::spawn_blocking(move || {
        std::thread::sleep(wait);
        drop(permit);
    });
    match call.await {
        Ok(()) => Ok(Json(json!({ "blocked_ms": ms }))),
        Err(_) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the call panicked",
        )),
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
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "timeout").into_response(),
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
<li><a href="/block-fixed/5000">/block-fixed/5000</a>: longer than allowed: 422
</ul>"#;

/// The application: `app = FastAPI()` and its routes.
pub fn app(timeout_after: Duration) -> Router {
    let state = Arc::new(AppState {
        hits: AtomicU64::new(0),
        timeout: timeout_after,
        blocking: Arc::new(Semaphore::new(BLOCKING_AT_ONCE)),
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

/// The twin of `if __name__ == "__main__":` the server, a client trying each route, a
/// client that sends half a header, and the shutdown.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    use tokio::io::AsyncWriteExt;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let stopped = async {
        let _ = stopped.await;
    };
    let server = tokio::spawn(serve(
        listener,
        app(Duration::from_millis(250)),
        LIMITS,
        stopped,
    ));
    let client = reqwest::Client::new();
    for path in [
        "/items/7",
        "/items/8",
        "/slow/100",
        "/slow/1000",
        "/block-fixed/100",
        "/block/5000",
    ] {
        let started = tokio::time::Instant::now();
        let response = client.get(format!("http://{addr}{path}")).send().await?;
        let status = response.status().as_u16();
        let took = started.elapsed();
        println!(
            "GET {path:17} {status} {} in {took:.0?}",
            response.text().await?
        );
    }
    let mut half = tokio::net::TcpStream::connect(addr).await?;
    half.write_all(b"GET /items/1 HTTP/1.1\r\nHost: x\r\n")
        .await?; // and no more
    let in_flight = tokio::spawn(client.get(format!("http://{addr}/slow/200")).send());
    tokio::time::sleep(Duration::from_millis(50)).await; // both reach the server
    let started = tokio::time::Instant::now();
    let _ = stop.send(());
    let cut = server.await?;
    let answered = in_flight.await??.status().as_u16();
    println!(
        "shutdown in {:.2?}: the request in flight answered {answered}, {cut} connection cut at the deadline",
        started.elapsed()
    );
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use anyhow::Context;
use common::cli::{Section, SectionResult, UsageError};
use common::print::{Evidence, figure, takeaway_if};
use common::timing::{Secs, Stopwatch, rate};
use futures::{StreamExt, TryStreamExt, stream};
use reqwest::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const SECTION: Section<crate::options::Options> = Section::with_options(
    "web-server",
    "FastAPI / aiohttp web.Application",
    "an axum app (JSON, a path parameter, shared state, a timeout, bounded blocking calls) under load, served with a header timeout, a connection limit and a shutdown deadline; --serve",
    run,
)
.owns_options(&["serve"])
.usage_check(|options| serve_alone(options.web.serve))
.main(|| main().report());

/// `--serve` keeps a server up for a browser and measures nothing: `--python` is refused.
pub fn serve_alone(serve: bool) -> Result<(), UsageError> {
    if serve && common::python::chosen().is_some() {
        let text = "--serve runs a server for a browser, with nothing to compare: drop --python";
        return Err(UsageError(text.into()));
    }
    Ok(())
}

/// The server's worker threads: two, a small deployment's, so that four blocking handlers
/// stop it on any machine (with one per core, a 64-core server takes 64).
pub const WORKERS: usize = 2;
const TIMEOUT: Duration = Duration::from_millis(250);
/// Requests to the fast route, and how many in flight (fewer if the open-files limit says so).
const FAST_REQUESTS: usize = 1000;
const IN_FLIGHT: usize = 50;
/// How long each blocking call takes, and how many are sent at once.
const BLOCK_MS: u64 = 100;
const BLOCKERS: usize = 2 * WORKERS;
/// The blocked probes must be at least this many times later than the fixed ones.
const MIN_RATIO: u32 = 5;

/// The server's runtime: multi-thread, [`WORKERS`] workers, threads named `server`.
pub fn server_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime
        .worker_threads(WORKERS)
        .thread_name("server")
        .enable_all();
    runtime.build().context("building the server's runtime")
}

/// Open files this process may still open (its limit raised as far as it goes), less 24
/// for the runtimes, stdio and a trace file.
pub fn free_fds() -> anyhow::Result<u64> {
    let limit = crate::many_connections::raise_fd_limit()?;
    let open = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
    Ok(limit.saturating_sub(open + 24))
}

/// The `q` quantile (0.5: the median) of `samples`, sorting them first.
pub fn percentile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort_unstable();
    let rank = (q * samples.len().saturating_sub(1) as f64).round() as usize;
    samples.get(rank).copied().unwrap_or_default()
}

/// GET `base` + `path`: the status and the body, and how long it took.
async fn fetch(client: &Client, base: &str, path: &str) -> anyhow::Result<(u16, String, Duration)> {
    let sw = Stopwatch::start();
    let response = client.get(format!("{base}{path}")).send().await;
    let response = response.with_context(|| format!("GET {path}"))?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?, sw.elapsed()))
}

/// GET, expecting `200 OK`: how long it took.
async fn get_ok(client: &Client, base: &str, path: &str) -> anyhow::Result<Duration> {
    let (status, body, took) = fetch(client, base, path).await?;
    anyhow::ensure!(status == 200, "GET {path}: {status} {body}");
    Ok(took)
}

/// [`FAST_REQUESTS`] requests to `/items/{i}`, `in_flight` at a time, each answer checked,
/// then the shared counter: each request's latency, and the requests per second.
async fn load(
    client: &Client,
    base: &str,
    in_flight: usize,
) -> anyhow::Result<(Vec<Duration>, f64)> {
    let sw = Stopwatch::start();
    let latencies = stream::iter(0..FAST_REQUESTS).map(|i| async move {
        let (_, body, took) = fetch(client, base, &format!("/items/{i}")).await?;
        let reply: Value = serde_json::from_str(&body).with_context(|| body.clone())?;
        anyhow::ensure!(reply["id"] == i && reply["hits"].is_u64(), "{i}: {body}");
        anyhow::Ok(took)
    });
    let latencies = latencies.buffer_unordered(in_flight).try_collect().await?;
    let per_s = rate(FAST_REQUESTS as u64, sw.elapsed());
    let (_, hits, _) = fetch(client, base, "/items/0").await?;
    let counted = hits.contains(&format!("\"hits\":{},", FAST_REQUESTS + 1));
    anyhow::ensure!(counted, "the shared counter missed some: {hits}");
    Ok((latencies, per_s))
}

const HALF_A_HEADER: &[u8] = b"GET /items/1 HTTP/1.1\r\nHost: x\r\n";

/// A client that sends half a request header, then waits.
async fn send_half_header(base: &str) -> anyhow::Result<TcpStream> {
    let mut socket = TcpStream::connect(base.trim_start_matches("http://")).await?;
    socket.write_all(HALF_A_HEADER).await?;
    Ok(socket)
}

/// How long the server keeps a half-sent header before it closes the connection.
async fn half_header_closed_after(base: &str) -> anyhow::Result<Duration> {
    let sw = Stopwatch::start();
    let mut socket = send_half_header(base).await?;
    match socket.read(&mut [0; 256]).await {
        Ok(0) | Err(_) => Ok(sw.elapsed()),
        Ok(_) => anyhow::bail!("the server answered half a header"),
    }
}

/// Quick requests one after another while [`BLOCKERS`] requests to `path` run at once: the
/// latency of each quick one.
async fn probe_while(client: &Client, base: &str, path: &str) -> anyhow::Result<Vec<Duration>> {
    let blocking = futures::future::try_join_all((0..BLOCKERS).map(|_| get_ok(client, base, path)));
    let (done_tx, mut done) = oneshot::channel::<()>();
    let probes = async {
        let mut latencies = Vec::new();
        while done.try_recv().is_err() {
            latencies.push(get_ok(client, base, "/items/0").await?);
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

/// The shutdown while a request is in flight and a client is stuck halfway through its
/// header: how long from the signal to `serve`'s return, and how many connections it cut.
async fn shutdown(
    client: &Client,
    base: &str,
    stop: oneshot::Sender<()>,
    server: JoinHandle<usize>,
) -> anyhow::Result<(Duration, usize)> {
    let _stuck = send_half_header(base).await?;
    let stopping = async {
        tokio::time::sleep(Duration::from_millis(10)).await; // the request is in flight
        let sw = Stopwatch::start();
        let _ = stop.send(());
        let cut = server.await.context("the server task")?;
        anyhow::Ok((sw.elapsed(), cut))
    };
    let (last, stopped) = tokio::join!(get_ok(client, base, "/slow/50"), stopping);
    last.context("the request in flight during the shutdown")?;
    stopped
}

/// What one run measured.
struct Figures {
    in_flight: usize,
    fast: [Duration; 2],
    per_s: f64,
    timed_out: (u16, Duration),
    worst: [(Duration, usize); 2],
    header_closed_after: Duration,
    shutdown: Duration,
    cut: usize,
}

fn run(options: &crate::options::Options) -> SectionResult {
    if options.web.serve {
        return serve_until_ctrl_c();
    }
    // A request in flight holds two open files (a socket at each end); and three beside.
    let fit = (free_fds()? / 2).saturating_sub(3) as usize;
    let more = 2 * (BLOCKERS + 4).saturating_sub(fit);
    anyhow::ensure!(fit > BLOCKERS, "needs {more} more open files (ulimit -n)");
    let f = measure(fit.min(IN_FLIGHT))?;
    report(&f);
    claims(&f);
    Ok(())
}

fn measure(in_flight: usize) -> anyhow::Result<Figures> {
    let server_rt = server_runtime()?;
    let listener = server_rt.block_on(TcpListener::bind("127.0.0.1:0"))?;
    let base = &format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = oneshot::channel::<()>();
    let stopped = async { stopped.await.unwrap_or_default() };
    let server = server_rt.spawn(serve(listener, app(TIMEOUT), LIMITS, stopped));
    // The clients: one thread of their own (a current-thread runtime).
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = &Client::new();
    client_rt.block_on(async {
        let past_timeout = format!("/slow/{}", TIMEOUT.as_millis() * 4);
        let ((mut fast, per_s), (status, _, waited), header_closed_after) = tokio::try_join!(
            load(client, base, in_flight),
            fetch(client, base, &past_timeout),
            half_header_closed_after(base),
        )?;
        let mut worst = [(Duration::ZERO, 0); 2];
        for (path, worst) in ["/block", "/block-fixed"].iter().zip(&mut worst) {
            let probes = probe_while(client, base, &format!("{path}/{BLOCK_MS}")).await?;
            *worst = (percentile(&mut probes.clone(), 1.0), probes.len());
        }
        let (shutdown, cut) = shutdown(client, base, stop, server).await?;
        Ok(Figures {
            in_flight,
            fast: [percentile(&mut fast, 0.5), percentile(&mut fast, 0.99)],
            per_s,
            timed_out: (status, waited),
            worst,
            header_closed_after,
            shutdown,
            cut,
        })
    })
}

fn report(f: &Figures) {
    let ([p50, p99], per_s, in_flight) = (f.fast.map(Secs), f.per_s, f.in_flight);
    let fast = format!("p50 {p50}, p99 {p99}, {per_s:.0} requests/s ({FAST_REQUESTS} requests,");
    let fast = format!("{fast} {in_flight} in flight)");
    figure("fast route /items/{id}", fast);
    let (status, waited, ms) = (f.timed_out.0, Secs(f.timed_out.1), TIMEOUT.as_millis() * 4);
    let slow = format!("/slow/{ms} answered {status} after {waited}");
    figure("timeout middleware", slow);
    let beside = format!("while {BLOCKERS} x {BLOCK_MS} ms calls ran on {WORKERS} workers");
    for (name, (worst, answered)) in ["blocked", "spawn_blocking"].iter().zip(f.worst) {
        let worst = Secs(worst).to_string();
        let worst = format!("worst {worst:>8} ({answered} answered {beside})");
        figure(format!("quick requests, {name}"), worst);
    }
    let (limit, closed) = (Secs(LIMITS.header_timeout), Secs(f.header_closed_after));
    let header = format!("half a header sent: closed after {closed} (limit {limit})");
    figure("header timeout", header);
    let (took, cut, deadline) = (Secs(f.shutdown), f.cut, Secs(LIMITS.shutdown_deadline));
    let stuck = format!("{cut} stuck connection cut at the {deadline} deadline");
    let stopped = format!("{took}: the request in flight answered, {stuck}");
    figure("shutdown", stopped);
}

fn claims(f: &Figures) {
    let [(blocked, _), (fixed, _)] = f.worst.map(|(worst, n)| (Secs(worst), n));
    let expected = format!("quick requests at least {MIN_RATIO}x later beside blocking handlers");
    let held = blocked.0 >= fixed.0.max(Duration::from_millis(1)) * MIN_RATIO;
    takeaway_if(
        &Evidence::new(held, expected, format!("{blocked} against {fixed}")),
        format!(
            "a blocking call in a handler stops its worker thread: {BLOCKERS} of them on {WORKERS} workers held quick requests up by as much as {blocked}; in spawn_blocking, {fixed} (blocking-pitfall, on a server)"
        ),
    );
    let slack = Duration::from_millis(500);
    let (header, closed) = (LIMITS.header_timeout, f.header_closed_after);
    let cut_in_time = f.cut == 1 && f.shutdown < LIMITS.shutdown_deadline + slack;
    let held = closed >= header && closed < header + slack && cut_in_time;
    let expected = format!("half a header closed, a stuck client cut, {slack:?} from the limits");
    let (closed, took) = (Secs(closed), Secs(f.shutdown));
    let measured = format!("closed after {closed}, {} cut, shutdown {took}", f.cut);
    takeaway_if(
        &Evidence::new(held, expected, measured),
        "no client holds the server: half a header is closed at the header timeout, and a stuck client cannot hold the shutdown past its deadline (what axum::serve alone does not do)",
    );
}

/// `--serve`: the app on 127.0.0.1 until Ctrl-C (or SIGTERM), then the shutdown, within
/// its deadline; as many connections as the open-files limit allows.
fn serve_until_ctrl_c() -> SectionResult {
    let fit = (free_fds()? as usize).min(LIMITS.max_connections);
    anyhow::ensure!(fit > 0, "--serve needs a few more open files (ulimit -n)");
    let mut limits = LIMITS;
    limits.max_connections = fit;
    let server_rt = server_runtime()?;
    server_rt.block_on(async {
        let stop = stop_signal()?; // listening before anyone can know the address
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        println!("  serving http://{addr}/ (Ctrl-C stops it; at most {fit} connections)");
        flush_stdout();
        let cut = serve(listener, app(TIMEOUT), limits, stop).await;
        let deadline = Secs(limits.shutdown_deadline);
        let cut = format!("{cut} cut at the {deadline} deadline");
        println!("  stopped: the requests in flight answered, {cut}");
        anyhow::Ok(())
    })?;
    // A blocking call still running (at most MAX_BLOCK_MS) is not waited for past this.
    server_rt.shutdown_timeout(LIMITS.shutdown_deadline);
    Ok(())
}

/// Say `print!` output now (a browser test reads the address from a pipe).
pub fn flush_stdout() {
    let _ = std::io::Write::flush(&mut std::io::stdout());
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
    use http_server::Limits;

    /// The app served with `limits` until the sender is dropped or used.
    async fn start(
        timeout_after: Duration,
        limits: Limits,
    ) -> (String, oneshot::Sender<()>, JoinHandle<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = async {
            let _ = stopped.await;
        };
        let server = tokio::spawn(serve(listener, app(timeout_after), limits, stopped));
        (base, stop, server)
    }

    const GENEROUS: Limits = Limits {
        header_timeout: Duration::from_secs(30),
        max_connections: 64,
        shutdown_deadline: Duration::from_secs(30),
    };

    async fn status(base: &str, path: &str) -> (StatusCode, String) {
        let response = reqwest::get(format!("{base}{path}")).await.unwrap();
        (response.status(), response.text().await.unwrap())
    }

    #[tokio::test]
    async fn routes_answer_json_and_share_the_counter() {
        let (base, stop, server) = start(Duration::from_secs(30), GENEROUS).await;
        let client = Client::new();
        let (latencies, _) = load(&client, &base, 8).await.unwrap();
        assert_eq!(latencies.len(), FAST_REQUESTS);
        let body = status(&base, "/items/5").await.1;
        assert_eq!(body, format!(r#"{{"hits":{},"id":5}}"#, FAST_REQUESTS + 2));
        assert_eq!(status(&base, "/slow/1").await.1, r#"{"waited_ms":1}"#);
        let bad = status(&base, "/items/seven").await.0;
        assert_eq!(bad, StatusCode::BAD_REQUEST, "Path<u64> rejects it");
        assert!(status(&base, "/").await.1.contains("/block-fixed/200"));
        stop.send(()).unwrap();
        assert_eq!(server.await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_handler_past_the_timeout_gets_503() {
        let (base, stop, server) = start(Duration::from_millis(20), GENEROUS).await;
        let (code, body) = status(&base, "/slow/60000").await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, r#"{"error":"timeout"}"#);
        stop.send(()).unwrap();
        server.await.unwrap();
    }

    #[tokio::test]
    async fn blocking_calls_are_bounded_in_length_and_in_number() {
        let (base, stop, server) = start(Duration::from_secs(30), GENEROUS).await;
        for path in ["/block/100000000", "/block-fixed/100000000"] {
            let (code, body) = status(&base, path).await;
            assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
            assert_eq!(body, r#"{"error":"ms: at most 1000"}"#);
        }
        // One more than the pool takes, each holding its thread for the longest allowed.
        let path = format!("/block-fixed/{MAX_BLOCK_MS}");
        let calls = (0..=BLOCKING_AT_ONCE).map(|_| status(&base, &path));
        let codes: Vec<_> = futures::future::join_all(calls).await;
        let busy = codes
            .iter()
            .filter(|(c, _)| *c == StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.count(), 1, "{codes:?}");
        stop.send(()).unwrap();
        server.await.unwrap();
    }

    #[tokio::test]
    async fn shutdown_lets_the_request_in_flight_finish() {
        // A handler that says when it has the request, then waits to be let go.
        let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel();
        let release = Arc::new(Semaphore::new(0));
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
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, app, GENEROUS, async {
            let _ = stopped.await;
        }));
        let in_flight = tokio::spawn(async move { reqwest::get(url).await?.text().await });
        arrived.recv().await.unwrap(); // the server holds the request
        stop.send(()).unwrap();
        tokio::task::yield_now().await;
        assert!(!server.is_finished(), "the shutdown waits for the request");
        release.add_permits(1);
        assert_eq!(server.await.unwrap(), 0, "nothing cut");
        assert_eq!(in_flight.await.unwrap().unwrap(), "done");
    }

    #[tokio::test]
    async fn half_a_header_is_closed_and_cannot_hold_the_shutdown() {
        let short = Limits {
            header_timeout: Duration::from_millis(100),
            ..GENEROUS
        };
        let (base, stop, server) = start(Duration::from_secs(30), short).await;
        half_header_closed_after(&base).await.unwrap(); // closed, not answered
        // Timed out once more at the shutdown: its deadline is 30 s, the timeout 0.1 s.
        let _stuck = send_half_header(&base).await.unwrap();
        stop.send(()).unwrap();
        assert_eq!(
            server.await.unwrap(),
            0,
            "the header timeout closed it first"
        );
        let stuck_forever = Limits {
            shutdown_deadline: Duration::from_millis(100),
            ..GENEROUS
        };
        let (base, stop, server) = start(Duration::from_secs(30), stuck_forever).await;
        let _stuck = send_half_header(&base).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await; // accepted
        stop.send(()).unwrap();
        assert_eq!(server.await.unwrap(), 1, "cut at the deadline");
    }

    #[tokio::test]
    async fn the_connection_limit_makes_the_next_client_wait_for_a_slot() {
        let one = Limits {
            header_timeout: Duration::from_millis(200),
            max_connections: 1,
            ..GENEROUS
        };
        let (base, stop, server) = start(Duration::from_secs(30), one).await;
        let _first = send_half_header(&base).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await; // it holds the only slot
        let sw = Stopwatch::start();
        assert_eq!(status(&base, "/items/1").await.0, StatusCode::OK);
        // Answered only once the first was timed out (a lower bound: slowness only adds).
        assert!(
            sw.elapsed() >= Duration::from_millis(150),
            "{:?}",
            sw.elapsed()
        );
        stop.send(()).unwrap();
        server.await.unwrap();
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
