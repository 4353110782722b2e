//! Downloading thousands of files with one `aiohttp.ClientSession` and at most 100 in
//! flight -> one shared `reqwest::Client` and `StreamExt::buffer_unordered(100)`; and, where
//! the client's own CPU is the limit, hyper's bare connections, one task each.
//!
//! Python:
//!     async def fetch(session, url):
//!         async with session.get(url) as response:
//!             size = 0
//!             async for chunk in response.content.iter_chunked(64 * 1024):
//!                 size += len(chunk)      # check or store each chunk as it comes
//!             return size
//!     async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:
//!         sizes = await asyncio.gather(*(fetch(session, u) for u in urls))
//!
//! Rust: a `reqwest::Client` is the session: it keeps a pool of open connections, and it is
//! cheap to clone (clones share the pool), so build one and pass it around. The limit is a
//! stream adaptor: `buffer_unordered(n)` keeps at most `n` of the futures running and yields
//! results as they finish; no task is spawned and nothing is queued beyond `n`. Each body is
//! read a chunk at a time with `Response::chunk()` (aiohttp's `iter_chunked`), not whole
//! with `.bytes()`: memory stays one chunk per request, and a body over `max_bytes` is
//! stopped there, so an endless answer is an error, not an out-of-memory abort. Like
//! aiohttp, the client runs on one thread (a current-thread runtime): the work is I/O.
//!
//! The second client is hyper, which reqwest is built on: `hyper::client::conn::http1` is
//! one connection and nothing more. 100 tasks each open one and take the next file until
//! none is left; the connections are the limit. It spends about half of reqwest's CPU a
//! request (no pool to lock, no URL to parse, no redirect or timeout layers), which counts
//! only where the client's CPU is the limit: a load generator, a proxy, a crawler of one
//! fast host. Everywhere else reqwest is the choice, as aiohttp is over raw asyncio streams:
//! TLS, redirects, proxies, timeouts, cookies, many hosts.
//!
//! Watch: every body is checked byte for byte, chunk by chunk. The local server waits 10
//! ms before each answer, like a network: one request at a time manages under 100 a second,
//! and 100 in flight (the most the `request` spans show open at once) multiply that until
//! Little's law or the CPU stops them: in flight = rate x latency, so 100 in flight of 10 ms
//! each make at most 10,000 a second, and one client thread at most 1 / (its CPU a request).
//! Against a fast server (`--url`: nginx on this machine answers in tens of microseconds)
//! the CPU a request decides, and there hyper's lower cost shows; `--ceiling` runs `wrk`
//! against the same URL for comparison. Every request in flight holds open files (sockets)
//! at both ends: where `ulimit -n` cannot be raised far enough, the run says so and uses
//! fewer in flight.
//!
//! Run only this: cargo run -p asyncio-demo -- download
//! Against another server: cargo run --release -p asyncio-demo -- download --url http://127.0.0.1:8080/16k.bin --requests 20000 --ceiling
//! Copy it: cargo add anyhow@1 axum@0.8 futures@0.3 http-body-util@0.1 tracing@0.1 && cargo add hyper@1 --features client,http1 && cargo add hyper-util@0.1 --features tokio && cargo add reqwest@0.13 --no-default-features && cargo add tokio@1 --features full

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt, stream};
use http_body_util::{BodyExt, Empty};
use hyper::body::{Body, Bytes};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use reqwest::Client;
use tracing::Instrument;

/// GET `url` and hand its body to `on_chunk(offset, chunk)` a chunk at a time as it
/// arrives, then once more with an empty chunk at the end (as Python's `read()` returns
/// `b""`); returns the body's length. Nothing holds the whole body. A body longer than
/// `max_bytes` is an error, found from its `Content-Length` before reading or, without
/// one, at the chunk that crosses the limit; dropping the response then closes the
/// connection, so the server stops sending.
pub async fn fetch<F>(
    client: &Client,
    url: &str,
    max_bytes: u64,
    mut on_chunk: F,
) -> anyhow::Result<u64>
where
    F: FnMut(u64, &[u8]) -> anyhow::Result<()>,
{
    let response = client.get(url).send().await;
    let mut response = response
        .with_context(|| format!("requesting {url}"))?
        .error_for_status()?;
    if let Some(len) = response.content_length() {
        anyhow::ensure!(
            len <= max_bytes,
            "{url}: a body of {len} bytes, over the limit of {max_bytes}"
        );
    }
    let mut received = 0u64;
    while let Some(chunk) = response
        .chunk()
        .await
        .with_context(|| format!("reading {url}"))?
    {
        anyhow::ensure!(
            received + chunk.len() as u64 <= max_bytes,
            "{url}: the body went past the limit of {max_bytes} bytes: stopped there"
        );
        on_chunk(received, &chunk)?;
        received += chunk.len() as u64;
    }
    on_chunk(received, &[])?;
    Ok(received)
}

/// Fetch every URL, at most `concurrency` at once, each body streamed through
/// `check(index, offset, chunk)` (see [`fetch`]); returns the bytes received. The first
/// error (a refused connection, a bad status, a body over `max_bytes` or one that `check`
/// rejects) stops the rest.
pub async fn download_all<C>(
    client: &Client,
    urls: impl IntoIterator<Item = String>,
    concurrency: usize,
    max_bytes: u64,
    check: C,
) -> anyhow::Result<u64>
where
    C: Fn(u64, u64, &[u8]) -> anyhow::Result<()>,
{
    let check = &check;
    stream::iter(urls.into_iter().zip(0u64..))
        .map(|(url, id)| async move {
            let len = fetch(client, &url, max_bytes, |offset, chunk| {
                check(id, offset, chunk)
            })
            .instrument(tracing::info_span!("request", id))
            .await?;
            tracing::debug!(id, bytes = len, "downloaded");
            anyhow::Ok(len)
        })
        .buffer_unordered(concurrency) // at most `concurrency` in flight
        .try_fold(0, |total, len| async move { Ok(total + len) })
        .await
}

/// [`fetch`] on one hyper connection: GET `path` from `host` (`127.0.0.1:8080`), the body
/// a chunk (a data frame) at a time, with the same limit.
async fn fetch_on<F>(
    connection: &mut SendRequest<Empty<Bytes>>,
    host: &str,
    path: &str,
    max_bytes: u64,
    mut on_chunk: F,
) -> anyhow::Result<u64>
where
    F: FnMut(u64, &[u8]) -> anyhow::Result<()>,
{
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, host) // HTTP/1.1 requires it; hyper adds nothing
        .body(Empty::new())?;
    connection.ready().await?; // the previous response is done: the connection is free
    let mut response = connection
        .send_request(request)
        .await
        .with_context(|| format!("requesting {path}"))?;
    let status = response.status();
    anyhow::ensure!(status.is_success(), "{path}: {status}");
    if let Some(len) = response.body().size_hint().exact() {
        anyhow::ensure!(
            len <= max_bytes,
            "{path}: a body of {len} bytes, over the limit of {max_bytes}"
        );
    }
    let mut received = 0u64;
    while let Some(frame) = response.body_mut().frame().await {
        let frame = frame.with_context(|| format!("reading {path}"))?;
        let Some(chunk) = frame.data_ref() else {
            continue; // trailers
        };
        anyhow::ensure!(
            received + chunk.len() as u64 <= max_bytes,
            "{path}: the body went past the limit of {max_bytes} bytes: stopped there"
        );
        on_chunk(received, chunk)?;
        received += chunk.len() as u64;
    }
    on_chunk(received, &[])?;
    Ok(received)
}

/// What the connection tasks share: the paths to fetch and the index of the next one.
struct Work<C> {
    host: String,
    paths: Vec<String>,
    next: AtomicUsize,
    max_bytes: u64,
    check: C,
}

/// One connection, one task: fetch the next path until none is left.
async fn connection_task<C>(work: Arc<Work<C>>) -> anyhow::Result<u64>
where
    C: Fn(u64, u64, &[u8]) -> anyhow::Result<()>,
{
    let stream = tokio::net::TcpStream::connect(&work.host)
        .await
        .with_context(|| format!("connecting to {}", work.host))?;
    stream.set_nodelay(true)?; // send each request at once, as reqwest does
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    // The connection reads and writes the socket; it ends when `sender` is dropped.
    tokio::spawn(connection);
    let mut total = 0;
    loop {
        let index = work.next.fetch_add(1, Ordering::Relaxed);
        let Some(path) = work.paths.get(index) else {
            return Ok(total);
        };
        let id = index as u64;
        total += fetch_on(
            &mut sender,
            &work.host,
            path,
            work.max_bytes,
            |at, chunk| (work.check)(id, at, chunk),
        )
        .instrument(tracing::info_span!("request", id))
        .await?;
    }
}

/// [`download_all`] with hyper: `connections` connections to `host`, each in its own task,
/// share `paths` (`check` gets a path's index). The first error stops the rest (dropping
/// the `JoinSet` aborts its tasks).
pub async fn download_per_connection<C>(
    host: &str,
    paths: Vec<String>,
    connections: usize,
    max_bytes: u64,
    check: C,
) -> anyhow::Result<u64>
where
    C: Fn(u64, u64, &[u8]) -> anyhow::Result<()> + Send + Sync + 'static,
{
    let tasks = connections.min(paths.len());
    let work = Arc::new(Work {
        host: host.to_owned(),
        paths,
        next: AtomicUsize::new(0),
        max_bytes,
        check,
    });
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        set.spawn(connection_task(work.clone()));
    }
    let mut total = 0;
    while let Some(done) = set.join_next().await {
        total += done??;
    }
    Ok(total)
}

/// A server to download from, on 127.0.0.1 (a free port): file `id` is 16 KiB of the byte
/// `id % 251`, sent after 10 ms, like a network.
async fn serve_files() -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let file = |axum::extract::Path(id): axum::extract::Path<u64>| async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        vec![(id % 251) as u8; 16 * 1024]
    };
    let app = axum::Router::new().route("/files/{id}", axum::routing::get(file));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// `asyncio.run(main())`: 1,000 files, 100 at a time, with each client; then 20 one at a time.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let server = serve_files().await?;
    let paths: Vec<String> = (0..1000).map(|id| format!("/files/{id}")).collect();
    let urls = || paths.iter().map(|path| format!("http://{server}{path}"));
    let check = |id: u64, _offset: u64, chunk: &[u8]| {
        let right = chunk.iter().all(|&byte| u64::from(byte) == id % 251);
        anyhow::ensure!(right, "file {id} arrived corrupted");
        Ok(())
    };
    let client = Client::new();
    let start = Instant::now();
    let bytes = download_all(&client, urls(), 100, 1 << 20, check).await?;
    println!(
        "reqwest, buffer_unordered(100): {} files checked, {bytes} bytes, in {:.0?}",
        paths.len(),
        start.elapsed()
    );
    let start = Instant::now();
    let host = server.to_string();
    let bytes = download_per_connection(&host, paths.clone(), 100, 1 << 20, check).await?;
    println!(
        "hyper, 100 connections: {} files checked, {bytes} bytes, in {:.0?}",
        paths.len(),
        start.elapsed()
    );
    let start = Instant::now();
    download_all(&client, urls().take(20), 1, 1 << 20, check).await?;
    println!("one at a time: 20 files in {:.0?}", start.elapsed());
    Ok(())
}

// --- run and measure ---

use std::ops::Range;
use std::process::Termination;
use std::sync::atomic::AtomicU64;

use crate::awake::until_stalled;
use crate::options::Options;
use common::cli::{Section, SectionResult};
use common::fixture::{ServerConfig, TestServer};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{Pair, Twin, flags};
use common::timing::{Bytes as Size, Secs, rate, timed_async};
use common::workload::{file_source, file_window};
use reqwest::Url;

pub const SECTION: Section<Options> = Section::with_options(
    "download",
    "aiohttp.ClientSession + gather, 100 in flight",
    "3000 files from a local HTTP server, 100 at a time, every byte checked, with reqwest and with hyper, against one at a time; --url, --requests, --concurrency, --max-bytes, --ceiling",
    run,
)
.owns_options(&["url", "requests", "concurrency", "max-bytes", "ceiling"])
.main(|| main().report())
.twin(&TWIN);

/// `--python`: the same requests to the same server, with aiohttp when it is installed.
const TWIN: Twin = Twin::new("download.py", include_str!("../python/download.py"), FIELDS);
const FIELDS: &[&str] = &[
    "one_at_a_time_per_s",
    "per_s",
    "elapsed_s",
    "gain",
    "max_in_flight",
];

/// How long the local server waits before each answer: the "network".
const LATENCY: Duration = Duration::from_millis(10);
/// A download that receives nothing for this long (not counting time the process was
/// stopped) is stopped: a server that went silent.
const STALL: Duration = Duration::from_secs(30);
/// One at a time: a probe of 10 requests, then enough for 100 ms, at most 1,000.
const PROBE: u64 = 10;
const BASELINE: (Duration, u64) = (Duration::from_millis(100), 1000);
/// Open files kept free for the runtimes, stdio, the server's listener and a trace file.
const SPARE_FDS: u64 = 64;
const CLIENTS: [&str; 2] = ["reqwest", "hyper"];
/// A clock tick of `/proc`'s CPU times (USER_HZ = 100).
const TICK: Duration = Duration::from_millis(10);

/// Where request `id` goes, and how to check its answer.
#[derive(Clone)]
struct Target {
    /// `HOST:PORT`: every URL is `http://HOST:PORT` and a path.
    host: String,
    /// `--url`'s path and query, the same every time (only the status checked). None: the
    /// local server's `/files/{id}`, `size` bytes each, a window of `source` (a `memcmp`).
    fixed: Option<String>,
    size: usize,
    source: Arc<[u8]>,
}

impl Target {
    /// A server's `/files/{id}` of `size` bytes each (the local test server's).
    fn files(host: String, size: usize) -> Target {
        let source = file_source(size).into();
        let fixed = None;
        Target {
            host,
            fixed,
            size,
            source,
        }
    }

    /// `--url`: the same address every time.
    fn fixed(url: &Url) -> Target {
        let port = url.port_or_known_default().unwrap_or(80);
        let host = format!("{}:{port}", url.host_str().unwrap_or_default());
        let query = url.query().map_or(String::new(), |q| format!("?{q}"));
        let fixed = Some(format!("{}{query}", url.path()));
        Target {
            host,
            fixed,
            size: 0,
            source: Arc::new([]),
        }
    }

    fn path(&self, id: u64) -> String {
        self.fixed.clone().unwrap_or_else(|| format!("/files/{id}"))
    }

    fn url(&self, id: u64) -> String {
        format!("http://{}{}", self.host, self.path(id))
    }

    /// One chunk of file `id`'s body at `offset` (see [`fetch`]): it must match the file
    /// there, and the empty chunk at the end must come exactly at the file's size.
    fn check(&self, id: u64, offset: u64, chunk: &[u8]) -> anyhow::Result<()> {
        if self.fixed.is_some() {
            return Ok(());
        }
        let (file, size) = (&self.source[file_window(id, self.size)], self.size);
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        if chunk.is_empty() {
            anyhow::ensure!(start == size, "file {id}: {start} bytes, expected {size}");
        } else {
            let end = start.checked_add(chunk.len());
            let expected = end.and_then(|end| file.get(start..end));
            anyhow::ensure!(expected == Some(chunk), "file {id} arrived corrupted");
        }
        Ok(())
    }
}

/// What one client did.
struct Measured {
    name: &'static str,
    /// One at a time: requests and their time; so the latency of one.
    one: (u64, Duration),
    latency: Duration,
    /// `--requests`, `concurrency` at a time: the time, the rate, its gain over one at a
    /// time, the CPU a request (the client's thread, the process), the most in flight.
    took: Duration,
    rate: f64,
    gain: f64,
    cpu: Option<[Duration; 2]>,
    most_in_flight: usize,
    /// The cores this process may use.
    cores: usize,
}

impl Measured {
    /// Its column of the report.
    fn cells(&self, c: usize) -> [String; 7] {
        let one = self.one.0 as f64 / self.one.1.as_secs_f64();
        let cpu = self
            .cpu
            .map_or("too short to measure".into(), |[client, all]| {
                format!("{}, {} in all", Secs(client), Secs(all))
            });
        [
            self.name.to_owned(),
            format!("{one:.0}/s ({} each)", Secs(self.latency)),
            format!("{:.0}/s ({})", self.rate, Secs(self.took)),
            cpu,
            format!("{:.1}x", self.gain),
            format!("{:.1}x", self.allowed(c)),
            format!("{} (limit {c})", self.most_in_flight),
        ]
    }

    /// Little's law (in flight = rate x latency): `in_flight` requests of one latency each
    /// make at most `in_flight` times the rate of one at a time. The CPU caps the rate too:
    /// the client's one thread at 1 / (its CPU a request), the machine's cores at cores /
    /// (the whole process's CPU a request, the local server's included): as a gain, the
    /// latency over that CPU.
    fn allowed(&self, in_flight: usize) -> f64 {
        let per = |cpu: Duration| self.latency.as_secs_f64() / cpu.as_secs_f64().max(1e-7);
        let by_cpu = |[client, all]: [Duration; 2]| per(client).min(self.cores as f64 * per(all));
        self.cpu.map_or(f64::INFINITY, by_cpu).min(in_flight as f64)
    }
}

/// CPU time so far (user + system): this thread's (it runs the client's current-thread
/// runtime) and the whole process's, from `/proc` in clock ticks ([`TICK`]).
fn cpu_time() -> Option<[Duration; 2]> {
    let read = |path| {
        let ticks = common::procs::parse_stat(&std::fs::read_to_string(path).ok()?)?.cpu;
        Some(TICK * ticks as u32)
    };
    Some([read("/proc/thread-self/stat")?, read("/proc/self/stat")?])
}

/// Counts the `request` spans open at once. Set as this thread's subscriber while a
/// client runs (its current-thread runtime runs here, tasks included): it costs a few
/// atomics a request, where the timeline's recording would cost a tenth of the client's CPU.
#[derive(Default)]
struct InFlight {
    next_id: AtomicU64,
    now: AtomicUsize,
    most: AtomicUsize,
}

impl tracing::Subscriber for InFlight {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.is_span() && metadata.name() == "request"
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let now = self.now.fetch_add(1, Ordering::Relaxed) + 1;
        self.most.fetch_max(now, Ordering::Relaxed);
        tracing::span::Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn try_close(&self, _: tracing::span::Id) -> bool {
        self.now.fetch_sub(1, Ordering::Relaxed);
        true
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Downloads with one of the two clients, every chunk checked and counted (for the stall
/// watch), every finished body counted.
struct Job<'a> {
    target: &'a Target,
    client: Client,
    max_bytes: u64,
    chunks: Arc<AtomicU64>,
    done: Arc<AtomicU64>,
}

impl Job<'_> {
    /// Files `ids`, `concurrency` at a time, with reqwest or (`hyper`) hyper.
    async fn run(
        &self,
        hyper: bool,
        ids: Range<u64>,
        concurrency: usize,
    ) -> anyhow::Result<Duration> {
        let (target, chunks, done) = (self.target.clone(), self.chunks.clone(), self.done.clone());
        let first = ids.start;
        let check = move |i: u64, offset: u64, chunk: &[u8]| {
            chunks.fetch_add(1, Ordering::Relaxed);
            target.check(first + i, offset, chunk)?;
            done.fetch_add(chunk.is_empty().into(), Ordering::Relaxed);
            Ok(())
        };
        let (t, max) = (self.target, self.max_bytes);
        let work = async {
            if hyper {
                let paths = ids.map(|id| t.path(id)).collect();
                download_per_connection(&t.host, paths, concurrency, max, check).await
            } else {
                let urls = ids.map(|id| t.url(id));
                download_all(&self.client, urls, concurrency, max, check).await
            }
        };
        let (outcome, took) = timed_async(until_stalled(STALL, &self.chunks, work)).await;
        outcome.map_err(|e| e.context("the server went silent"))??;
        Ok(took)
    }

    /// One at a time from file `n` on (a probe, then enough for [`BASELINE`]'s time or
    /// count), then files `0..n`, `concurrency` at a time.
    async fn measure(&self, hyper: bool, n: u64, concurrency: usize) -> anyhow::Result<Measured> {
        let probe = self.run(hyper, n..n + PROBE, 1).await?;
        let enough = (BASELINE.0.as_secs_f64() / probe.as_secs_f64() * PROBE as f64) as u64;
        let one = match enough.clamp(PROBE, BASELINE.1) {
            _ if probe >= BASELINE.0 => (PROBE, probe),
            k => (k, self.run(hyper, n + PROBE..n + PROBE + k, 1).await?),
        };
        let in_flight = Arc::new(InFlight::default());
        let counting = tracing::subscriber::set_default(in_flight.clone());
        let before = cpu_time();
        let took = self.run(hyper, 0..n, concurrency).await?;
        // Only 10 clock ticks or more: fewer do not measure a CPU time.
        let spent = cpu_time()
            .zip(before)
            .map(|(now, was)| [0, 1].map(|i| now[i].saturating_sub(was[i])));
        let cpu = spent
            .filter(|[_, all]| *all >= TICK * 10)
            .map(|t| t.map(|t| t / n as u32));
        drop(counting);
        let most_in_flight = in_flight.most.load(Ordering::Relaxed);
        let bad = most_in_flight > concurrency;
        anyhow::ensure!(!bad, "{most_in_flight} in flight, limit {concurrency}");
        let (latency, rate) = (one.1 / one.0 as u32, rate(n, took));
        let gain = rate * latency.as_secs_f64();
        Ok(Measured {
            name: CLIENTS[usize::from(hyper)],
            one,
            latency,
            took,
            rate,
            gain,
            cpu,
            most_in_flight,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        })
    }
}

/// Both clients against `target`, reqwest first; and how many bodies they finished.
#[tokio::main(flavor = "current_thread")]
async fn measure(target: &Target, o: &Options, c: usize) -> anyhow::Result<([Measured; 2], u64)> {
    // No reqwest timeout (its clock runs on while a Ctrl-Z stops the run): the downloads
    // are bounded by `until_stalled`, which counts chunks and skips stopped time.
    let client = Client::builder().pool_max_idle_per_host(c).build()?;
    let (chunks, done, max_bytes) = (Arc::default(), Arc::default(), o.max_bytes);
    let job = Job {
        target,
        client,
        max_bytes,
        chunks,
        done,
    };
    let reqwest = job.measure(false, o.requests, c).await?;
    let hyper = job.measure(true, o.requests, c).await?;
    Ok(([reqwest, hyper], job.done.load(Ordering::Relaxed)))
}

/// Open files one request in flight can hold. Against the local server (in this process):
/// its connection's socket at the client and at the server, and at each end one more,
/// because a finished response's connection goes back to reqwest's pool from another task
/// and the next request may open a new connection meanwhile (416 open at 100 in flight,
/// measured). Against `--url`, only the client's two.
fn fds_per_request(local_server: bool) -> u64 {
    if local_server { 4 } else { 2 }
}

/// The most requests in flight that `fds` open files allow, at `per_request` each.
fn concurrency_that_fits(fds: u64, per_request: u64) -> u64 {
    fds.saturating_sub(SPARE_FDS) / per_request
}

/// The soft open-files limit raised to the hard one (as `ulimit -n` would) while this lives;
/// the limit before is put back on drop, so later sections and their children see the
/// user's own.
struct RaisedFdLimit {
    before: Option<(u64, u64)>,
    now: u64,
}

impl RaisedFdLimit {
    fn raise() -> anyhow::Result<RaisedFdLimit> {
        let before = rlimit::getrlimit(rlimit::Resource::NOFILE).ok();
        let now = rlimit::increase_nofile_limit(u64::MAX).context("raising RLIMIT_NOFILE")?;
        Ok(RaisedFdLimit { before, now })
    }

    /// `--concurrency`, or fewer (said) when the open files do not allow it.
    fn fit(&self, options: &Options) -> anyhow::Result<usize> {
        let per_request = fds_per_request(options.url.is_none());
        let (fit, now) = (concurrency_that_fits(self.now, per_request), self.now);
        let needs = SPARE_FDS + per_request;
        let why = "open files allowed (ulimit -n)";
        anyhow::ensure!(
            fit >= 1,
            "only {now} {why}: one request in flight needs {needs}"
        );
        let wanted = options.concurrency.min(options.requests);
        if wanted > fit {
            println!(
                "  only {now} open files allowed (the hard limit): using {fit} in flight, not {wanted} (up to {per_request} open files each)"
            );
        }
        Ok(wanted.min(fit) as usize)
    }
}

impl Drop for RaisedFdLimit {
    fn drop(&mut self) {
        if let Some((soft, hard)) = self.before {
            let _ = rlimit::setrlimit(rlimit::Resource::NOFILE, soft, hard);
        }
    }
}

struct Figures {
    requests: u64,
    concurrency: usize,
    clients: [Measured; 2],
    /// The local server's most requests at once.
    server_max: Option<u64>,
}

fn run(options: &Options) -> SectionResult {
    let fd_limit = RaisedFdLimit::raise()?;
    let concurrency = fd_limit.fit(options)?;
    // The local test server, unless --url points elsewhere.
    let (target, local) = match &options.url {
        Some(url) => (Target::fixed(url), None),
        None => {
            let server = TestServer::start(ServerConfig::default().with_latency(LATENCY))?;
            let size = server.config().body_size;
            (Target::files(server.addr().to_string(), size), Some(server))
        }
    };
    let (clients, done) = measure(&target, options, concurrency)?;
    let server_max = local.as_ref().map(TestServer::max_in_flight);
    if let Some(served) = local.as_ref().map(TestServer::requests_served) {
        anyhow::ensure!(served == done, "the server answered {served} of {done}");
    }
    let most = server_max.unwrap_or(0);
    anyhow::ensure!(most <= concurrency as u64, "{most} at the server at once");
    let requests = options.requests;
    let figures = Figures {
        requests,
        concurrency,
        clients,
        server_max,
    };
    report(&figures, &target, options.max_bytes);
    if options.ceiling {
        ceiling(&figures, &target);
    }
    compare_twin(&figures, &target, options.max_bytes)?; // the local server is still up
    claims(&figures);
    Ok(())
}

fn report(f: &Figures, target: &Target, max_bytes: u64) {
    let (n, c, size) = (f.requests, f.concurrency, Size(target.size as u64));
    let what = match target.fixed {
        None => format!(
            "{n} x {size} files, every byte checked, {} of latency",
            Secs(LATENCY)
        ),
        Some(_) => format!("{n} x {}, bodies counted", target.url(0)),
    };
    figure(
        "downloaded",
        format!("{what}, at most {} each", Size(max_bytes)),
    );
    let names = [
        "client",
        "one at a time",
        &format!("{c} at a time"),
        "CPU a request",
        "gained by the limit",
        "Little's law allows",
        "most in flight (client)",
    ];
    let [a, b] = f.clients.each_ref().map(|m| m.cells(c));
    for ((name, a), b) in names.iter().zip(a).zip(b) {
        figure(name, format!("{a:<28} {b}"));
    }
    if let Some(most) = f.server_max {
        figure("most at the server at once", most);
    }
}

/// `--ceiling`: `wrk -t1` with as many connections against the same URL, for as long as the
/// longer client took (in whole seconds, wrk's unit); each client's share of its rate.
fn ceiling(f: &Figures, target: &Target) {
    let longest = f.clients.iter().map(|m| m.took).max().unwrap_or_default();
    let secs = longest.as_secs_f64().ceil().max(1.0);
    let args = [
        "-t1".into(),
        format!("-c{}", f.concurrency),
        format!("-d{secs}s"),
        target.url(0),
    ];
    let name = format!("ceiling: wrk {}", args[..3].join(" "));
    match wrk(&args) {
        Ok(wrk) => {
            let [r, h] = f.clients.each_ref().map(|m| 100.0 * m.rate / wrk);
            figure(
                name,
                format!("{wrk:.0}/s: reqwest {r:.0} %, hyper {h:.0} % of it"),
            );
        }
        Err(why) => figure(name, why),
    }
}

/// `wrk ARGS`' requests a second, or why there is none.
fn wrk(args: &[String]) -> Result<f64, String> {
    let out = match std::process::Command::new("wrk").args(args).output() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(
                "wrk is not on PATH: install it (apt-get install wrk, brew install wrk)".into(),
            );
        }
        out => out.map_err(|e| format!("wrk did not run: {e}"))?,
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rate = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:")?.trim().parse().ok());
    rate.ok_or_else(|| {
        format!(
            "wrk printed no rate: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// `--python`: the twin fetches the same files (or URL) from the same server, one at a time
/// as often as reqwest did; its figures beside reqwest's (aiohttp's counterpart).
fn compare_twin(f: &Figures, target: &Target, max_bytes: u64) -> anyhow::Result<()> {
    let (m, n, c) = (&f.clients[0], f.requests, f.concurrency);
    let base = format!("http://{}", target.host);
    let mut args = match &target.fixed {
        None => flags(&[("--base", &base), ("--size", &target.size)]),
        Some(_) => flags(&[("--url", &target.url(0))]),
    };
    let one = m.one.0 as f64 / m.one.1.as_secs_f64();
    let job: [(&str, &dyn std::fmt::Display); 4] = [
        ("--requests", &n),
        ("--concurrency", &c),
        ("--baseline", &m.one.0),
        ("--max-bytes", &max_bytes),
    ];
    args.extend(flags(&job));
    let (took, most) = (m.took.as_secs_f64(), m.most_in_flight as f64);
    // Where the client's CPU, not the latency, is the limit, the rates are CPU work.
    let cpu = |pair: Pair| match m.allowed(c) < c as f64 {
        true => pair.cpu(),
        false => pair,
    };
    let pairs = [
        Pair::per_sec("one at a time (baseline)", "one_at_a_time_per_s", one),
        Pair::per_sec(format!("{c} at a time"), "per_s", m.rate),
        Pair::secs(format!("{n} requests, {c} at a time"), "elapsed_s", took),
        Pair::speedup("gained by the limit", "gain", m.gain),
    ];
    let mut pairs = pairs.map(cpu).to_vec();
    pairs.push(Pair::count(
        "most in flight (client)",
        "max_in_flight",
        most,
    ));
    TWIN.compare(&args, &pairs)
}

/// Each client's gain follows Little's law with every request in flight; hyper's bare
/// connections cost less CPU a request than reqwest's session.
fn claims(f: &Figures) {
    let (c, full) = (f.concurrency, f.concurrency.min(f.requests as usize));
    let server = f
        .server_max
        .map_or(String::new(), |s| format!(", {s} at the server"));
    let mut near = Evidence::new(true, "", "");
    for m in &f.clients {
        let (name, allowed, latency) = (m.name, m.allowed(c), Secs(m.latency));
        let expected = format!("{name} at least half the {allowed:.1}x Little's law allows");
        let measured = format!("{:.1}x ({latency} a request)", m.gain);
        near = near.and(Evidence::new(m.gain >= allowed / 2.0, expected, measured));
        let all_in =
            m.most_in_flight == full && f.server_max.is_none_or(|s| s * 10 >= full as u64 * 9);
        let measured = format!("{} with {name}{server}", m.most_in_flight);
        near = near.and(Evidence::new(
            all_in,
            format!("{full} in flight at once"),
            measured,
        ));
    }
    let [r, h] = &f.clients;
    let (ra, ha) = (r.allowed(c), h.allowed(c));
    takeaway_if(
        &near.cpu(1),
        format!(
            "one shared Client and buffer_unordered({c}), or {c} connections with a task each: {:.1}x and {:.1}x the rate of one at a time, of the {ra:.1}x and {ha:.1}x Little's law allows (in flight = rate x latency, and no faster than the client's CPU a request)",
            r.gain, h.gain
        ),
    );
    if let (Some([rc, _]), Some([hc, _])) = (r.cpu, h.cpu) {
        let (rc, hc) = (Secs(rc), Secs(hc));
        let measured = format!("{hc} against {rc}");
        takeaway_if(
            &Evidence::new(
                hc.0 * 5 <= rc.0 * 4,
                "hyper's at most 80% of reqwest's",
                measured,
            ),
            format!(
                "hyper's bare connections: {hc} of client CPU a request, reqwest {rc}: worth it where the client's CPU is the limit (a fast server), reqwest everywhere else (TLS, redirects, timeouts, many hosts)"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const MIB: u64 = 1 << 20;

    /// Files `ids` of `target`, `concurrency` at a time, with reqwest or hyper.
    async fn download(
        hyper: bool,
        target: &Target,
        ids: Range<u64>,
        concurrency: usize,
        max_bytes: u64,
    ) -> anyhow::Result<u64> {
        let t = target.clone();
        let check = move |id, at, chunk: &[u8]| t.check(id, at, chunk);
        if hyper {
            let paths = ids.map(|id| target.path(id)).collect();
            download_per_connection(&target.host, paths, concurrency, max_bytes, check).await
        } else {
            let urls = ids.map(|id| target.url(id));
            download_all(&Client::new(), urls, concurrency, max_bytes, check).await
        }
    }

    async fn server(size: usize) -> (TestServer, Target) {
        let config = ServerConfig::default().with_body_size(size);
        let server = TestServer::start_async(config).await.unwrap();
        let target = Target::files(server.addr().to_string(), size);
        (server, target)
    }

    #[tokio::test]
    async fn every_file_checked_and_the_limit_respected_by_both_clients() {
        for hyper in [false, true] {
            let (server, target) = server(1000).await;
            let in_flight = Arc::new(InFlight::default());
            let counting = tracing::subscriber::set_default(in_flight.clone());
            let bytes = download(hyper, &target, 0..60, 4, MIB).await.unwrap();
            drop(counting);
            let max = in_flight.most.load(Ordering::Relaxed);
            assert_eq!(bytes, 60 * 1000);
            assert!((1..=4).contains(&max), "{max}");
            assert_eq!(server.requests_served(), 60);
            assert!(server.max_in_flight() <= 4, "{}", server.max_in_flight());
        }
    }

    #[tokio::test]
    async fn a_wrong_body_is_an_error() {
        let (_server, _) = server(1000).await;
        for hyper in [false, true] {
            for size in [999, 1001] {
                // sizes the server does not send: too long, then too short
                let target = Target::files(_server.addr().to_string(), size);
                let outcome = download(hyper, &target, 0..3, 2, MIB).await;
                assert!(outcome.is_err(), "{size}");
            }
        }
    }

    #[test]
    fn check_accepts_exactly_the_right_file_in_any_chunks() {
        let target = Target::files(String::new(), 1000);
        let seven = common::workload::file_bytes(7, 1000);
        let whole = |id, body: &[u8]| {
            target.check(id, 0, body)?;
            target.check(id, body.len() as u64, &[])
        };
        assert!(whole(7, &seven).is_ok());
        assert!(whole(8, &seven).is_err());
        assert!(whole(7, &seven[..999]).is_err(), "a short file");
        assert!(target.check(7, 600, &seven[600..]).is_ok());
        assert!(target.check(7, 601, &seven[600..]).is_err(), "past the end");
        assert!(target.check(7, u64::MAX, &seven[..1]).is_err());
    }

    #[test]
    fn a_url_keeps_its_path_and_query() {
        let target = Target::fixed(&Url::parse("http://example.com/a/b?c=1&d").unwrap());
        assert_eq!(target.host, "example.com:80");
        assert_eq!(target.path(5), "/a/b?c=1&d");
        assert_eq!(target.url(9), "http://example.com:80/a/b?c=1&d");
        assert!(target.check(3, 0, b"anything").is_ok(), "only the status");
    }

    /// A server that answers one request with a chunked body that never ends, until the
    /// client hangs up; returns how much it sent.
    async fn endless() -> (Target, tokio::task::JoinHandle<anyhow::Result<u64>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await?;
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut buf = [0u8; 1024];
                let n = socket.read(&mut buf).await?;
                anyhow::ensure!(n > 0, "the client left before its request");
                head.extend_from_slice(&buf[..n]);
            }
            socket
                .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                .await?;
            let mut chunk = b"10000\r\n".to_vec(); // 64 KiB chunks
            chunk.extend(std::iter::repeat_n(b'x', 1 << 16));
            chunk.extend_from_slice(b"\r\n");
            let mut sent = 0u64;
            while socket.write_all(&chunk).await.is_ok() {
                sent += 1 << 16;
            }
            anyhow::Ok(sent) // the client closed the connection
        });
        (Target::fixed(&Url::parse(&url).unwrap()), server)
    }

    #[tokio::test]
    async fn an_endless_body_is_stopped_at_the_limit() {
        for hyper in [false, true] {
            let (target, server) = endless().await;
            let error = download(hyper, &target, 0..1, 1, 3 * MIB)
                .await
                .unwrap_err();
            assert!(error.to_string().contains("past the limit"), "{error:#}");
            let sent = server.await.unwrap().unwrap();
            assert!(
                sent > 3 * MIB,
                "the server ended by itself after {sent} bytes"
            );
        }
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_and_one_at_it_accepted() {
        let (_server, target) = server(1000).await;
        for hyper in [false, true] {
            let over = download(hyper, &target, 0..1, 1, 999).await;
            assert!(over.unwrap_err().to_string().contains("over the limit"));
            let at = download(hyper, &target, 0..1, 1, 1000).await;
            assert_eq!(at.unwrap(), 1000);
        }
    }

    #[test]
    fn concurrency_fits_the_open_files_limit() {
        // The review's cases: 256 (macOS's default) and 1024 (Linux's).
        assert_eq!(concurrency_that_fits(256, fds_per_request(true)), 48);
        assert_eq!(concurrency_that_fits(1024, fds_per_request(true)), 240);
        assert_eq!(concurrency_that_fits(1024, fds_per_request(false)), 480);
        assert_eq!(concurrency_that_fits(64, 4), 0);
        assert_eq!(concurrency_that_fits(0, 4), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn in_flight_counts_the_request_spans_open_at_once() {
        let in_flight = Arc::new(InFlight::default());
        let _counting = tracing::subscriber::set_default(in_flight.clone());
        let wait = |ms, id: u64| {
            let sleep = tokio::time::sleep(Duration::from_millis(ms));
            sleep.instrument(tracing::info_span!("request", id))
        };
        let other = tokio::time::sleep(Duration::from_millis(5));
        let _ = tokio::join!(
            wait(10, 0),
            wait(20, 1),
            wait(30, 2),
            other.instrument(tracing::info_span!("other"))
        );
        wait(10, 3).await;
        assert_eq!(in_flight.most.load(Ordering::Relaxed), 3);
        assert_eq!(in_flight.now.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn littles_law_caps_the_gain_by_latency_and_by_cpu() {
        let (ms, us) = (Duration::from_millis, Duration::from_micros);
        let m = |latency, cpu: Option<[Duration; 2]>, cores| Measured {
            name: "x",
            one: (10, latency * 10),
            latency,
            took: ms(1),
            rate: 0.0,
            gain: 0.0,
            cpu,
            most_in_flight: 100,
            cores,
        };
        // 10 ms of latency, 100 µs of CPU: the 100 in flight are the limit.
        assert_eq!(m(ms(10), Some([us(100), us(100)]), 2).allowed(100), 100.0);
        // 50 µs of latency, 10 µs of the client's one thread: 5x.
        assert_eq!(m(us(50), Some([us(10), us(10)]), 2).allowed(100), 5.0);
        // A server in the process too: 2 cores for 40 µs a request, 2.5x; 1 core, 1.25x.
        assert_eq!(m(us(50), Some([us(10), us(40)]), 2).allowed(100), 2.5);
        assert_eq!(m(us(50), Some([us(10), us(40)]), 1).allowed(100), 1.25);
        // Without /proc, latency alone.
        assert_eq!(m(us(50), None, 2).allowed(100), 100.0);
    }

    #[tokio::test]
    async fn the_python_twin_checks_the_same_files() {
        let (server, _) = server(1000).await;
        let base = server.url("");
        let figures = tokio::task::spawn_blocking(move || {
            TWIN.run_for_test(&[
                "--base",
                &base,
                "--size",
                "1000",
                "--requests",
                "30",
                "--concurrency",
                "4",
                "--baseline",
                "3",
            ])
        })
        .await
        .unwrap();
        if let Some(figures) = figures {
            let most = figures["max_in_flight"].as_u64().unwrap();
            assert!((1..=4).contains(&most), "{most}");
            assert_eq!(server.requests_served(), 33);
            let model = figures["model"].as_str().unwrap();
            assert!(
                model.contains("aiohttp") || model.contains("urllib"),
                "{model}"
            );
        }
    }

    #[tokio::test]
    async fn the_python_twin_refuses_a_wrong_file() {
        // The same server, but the twin told the files are one byte longer: it must fail.
        let (server, _) = server(1000).await;
        let args = flags(&[
            ("--base", &server.url("")),
            ("--size", &1001),
            ("--requests", &2),
        ]);
        let Some(python) = common::python::for_tests() else {
            return;
        };
        let outcome = tokio::task::spawn_blocking(move || TWIN.run(&python, &args))
            .await
            .unwrap();
        assert!(outcome.is_err());
    }
}
