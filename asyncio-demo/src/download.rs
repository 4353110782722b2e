//! Downloading thousands of files with one `aiohttp.ClientSession` and at most 100 in
//! flight -> one shared `reqwest::Client` and `StreamExt::buffer_unordered(100)`.
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
//! results as they finish; no task is spawned and nothing is queued beyond `n`. A semaphore
//! (see `semaphore`) does the same for spawned tasks. Like aiohttp, the client runs on one
//! thread (a current-thread runtime): the work is I/O, and one thread avoids handing
//! wake-ups between threads (the local server has its own two). Each body is read a chunk
//! at a time with `Response::chunk()` (aiohttp's `iter_chunked`), not whole with `.bytes()`
//! (`await response.read()`): memory stays one chunk per request whatever the server sends,
//! and a body over `max_bytes` is stopped there, so an endless answer is an error, not an
//! out-of-memory abort.
//!
//! Watch: every body is checked byte for byte, chunk by chunk. The local server waits 10
//! ms before each answer, like a network: one request at a time (the baseline) manages
//! under 100 a second, while 100 in flight (the most the `request` spans show open at once,
//! and the most the server holds) multiply that many times over, until the client's CPU is
//! the limit. The default run is long (5000 requests) so that the rate is not mostly
//! warm-up. The progress bar shows only when stderr is a terminal. Every request in flight
//! holds open files (sockets) at both ends: where `ulimit -n` cannot be raised far enough,
//! the run says so and uses fewer in flight.
//!
//! Run only this: cargo run -p asyncio-demo -- download
//! Against another server: cargo run -p asyncio-demo -- download --url http://127.0.0.1:8000/ --requests 5000 --concurrency 50 --max-bytes 10M

use anyhow::Context;
use futures::{StreamExt, TryStreamExt, stream};
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

// --- run and measure ---

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::awake::until_stalled;
use common::cli::{Section, SectionResult};
use common::fixture::{ServerConfig, TestServer};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{Pair, Twin};
use common::timeline::Recording;
use common::timing::{Bytes, Secs, rate, timed_async};
use common::workload::{file_source, file_window};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Url;

pub const SECTION: Section<Options> = Section::with_options(
    "download",
    "aiohttp.ClientSession + gather, 100 in flight",
    "5000 files from a local HTTP server, 100 at a time, every byte checked, against one at a time; --url, --requests, --concurrency, --max-bytes",
    run,
)
.owns_options(&["url", "requests", "concurrency", "max-bytes"])
.twin(&TWIN);

/// `--python`: the same requests to the same server, `ThreadPoolExecutor` + `urllib`.
const TWIN: Twin = Twin::new(
    "download.py",
    include_str!("../python/download.py"),
    &[
        "one_at_a_time_per_s",
        "per_s",
        "elapsed_s",
        "gain",
        "max_in_flight",
    ],
);

/// The demo-wide options (`--url`, `--requests`, `--concurrency`, `--max-bytes`, and
/// `web-server`'s and `websocket`'s).
#[derive(clap::Args, Clone, Debug)]
pub struct Options {
    /// `download`: fetch this http:// URL instead of the local test server's files
    #[arg(long, value_name = "URL", value_parser = parse_http_url)]
    pub url: Option<Url>,
    /// `download`: how many requests to make
    #[arg(long, value_name = "N", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub requests: u64,
    /// `download`: the most requests in flight at once
    #[arg(long, value_name = "C", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub concurrency: u64,
    /// `download`: stop any response body longer than this (bytes, or with K, M or G)
    #[arg(long, value_name = "BYTES", default_value = "64M", value_parser = parse_bytes)]
    pub max_bytes: u64,
    /// `web-server`'s and `websocket`'s options (`--serve`, `--clients`).
    #[command(flatten)]
    pub web: ServeOptions,
}

/// Options of `web-server` and `websocket` (part of the demo-wide options).
#[derive(clap::Args, Clone, Debug)]
pub struct ServeOptions {
    /// `web-server`, `websocket`: keep the server running on 127.0.0.1 for a browser, until Ctrl-C
    #[arg(long)]
    pub serve: bool,
    /// `websocket`: how many clients join the room
    #[arg(long, value_name = "N", default_value_t = CLIENTS,
          value_parser = clap::value_parser!(u64).range(2..=20_000))]
    pub clients: u64,
}

/// `--clients` by default: quick in a dev build.
pub const CLIENTS: u64 = 50;

/// The largest `--max-bytes`: 1 TiB.
const MAX_BYTES_LIMIT: u64 = 1 << 40;

/// `N`, `NK`, `NM` or `NG` (1024-based), from 1 byte to 1024G.
fn parse_bytes(text: &str) -> Result<u64, String> {
    let (digits, shift) = match text.as_bytes().last() {
        Some(b'K' | b'k') => (&text[..text.len() - 1], 10),
        Some(b'M' | b'm') => (&text[..text.len() - 1], 20),
        Some(b'G' | b'g') => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    digits
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| digits.parse::<u64>().ok())
        .flatten()
        .filter(|n| (1..=MAX_BYTES_LIMIT >> shift).contains(n))
        .map(|n| n << shift)
        .ok_or_else(|| {
            "expected a size from 1 to 1024G: bytes, or a number with K, M or G (1024-based)"
                .to_owned()
        })
}

fn parse_http_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("{e} (expected http://HOST[:PORT]/PATH)"))?;
    if url.scheme() != "http" {
        return Err("only http:// URLs (this build has no TLS)".to_owned());
    }
    Ok(url)
}

/// How long the local server waits before each answer: the "network".
const LATENCY: Duration = Duration::from_millis(10);
/// A download that receives nothing for this long (not counting time the process was
/// stopped) is stopped: a server that went silent.
const STALL: Duration = Duration::from_secs(30);
/// Requests in the one-at-a-time baseline (at most `--requests`).
const BASELINE: u64 = 20;

/// Where request `id` goes, and how to check its answer.
#[derive(Clone)]
enum Target {
    /// The local test server: `/files/{id}`, `size` bytes each, checked byte for byte
    /// against `source` (every file is a window of it: a `memcmp`, no per-byte arithmetic).
    Files {
        base: String,
        size: usize,
        source: Arc<[u8]>,
    },
    /// Any URL: the same address every time, only the status is checked.
    Url(Url),
}

impl Target {
    /// The files of a local test server (or any server of `/files/{id}` with `size` bytes).
    fn files(base: String, size: usize) -> Target {
        Target::Files {
            base,
            size,
            source: file_source(size).into(),
        }
    }

    fn url(&self, id: u64) -> String {
        match self {
            Target::Files { base, .. } => format!("{base}/files/{id}"),
            Target::Url(url) => url.to_string(),
        }
    }

    fn urls(&self, ids: std::ops::Range<u64>) -> impl Iterator<Item = String> + '_ {
        ids.map(|id| self.url(id))
    }

    /// One chunk of file `id`'s body at `offset` (see [`fetch`]): it must match the file
    /// there, and the empty chunk at the end must come exactly at the file's size.
    fn check(&self, id: u64, offset: u64, chunk: &[u8]) -> anyhow::Result<()> {
        if let Target::Files { size, source, .. } = self {
            let file = &source[file_window(id, *size)];
            let start = usize::try_from(offset).unwrap_or(usize::MAX);
            if chunk.is_empty() {
                anyhow::ensure!(
                    start == *size,
                    "file {id} arrived with {start} bytes, expected {size}"
                );
            } else {
                let expected = start
                    .checked_add(chunk.len())
                    .and_then(|end| file.get(start..end));
                anyhow::ensure!(expected == Some(chunk), "file {id} arrived corrupted");
            }
        }
        Ok(())
    }
}

/// Open files kept free for the runtimes, stdio, the server's listener and a trace file.
const SPARE_FDS: u64 = 64;

/// Open files one request in flight can hold. Against the local server (in this process):
/// its connection's socket at the client and at the server, and at each end one more,
/// because a finished response's connection goes back to the pool from another task and
/// the next request may open a new connection meanwhile (416 open at 100 in flight,
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
        let now = rlimit::increase_nofile_limit(u64::MAX)
            .context("raising the open-files limit (RLIMIT_NOFILE)")?;
        Ok(RaisedFdLimit { before, now })
    }
}

impl Drop for RaisedFdLimit {
    fn drop(&mut self) {
        if let Some((soft, hard)) = self.before {
            let _ = rlimit::setrlimit(rlimit::Resource::NOFILE, soft, hard);
        }
    }
}

fn progress_bar(len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len); // draws on stderr, and only if it is a terminal
    if let Ok(style) = ProgressStyle::with_template("  {bar:40} {pos}/{len} {per_sec}") {
        bar.set_style(style);
    }
    bar
}

#[tokio::main(flavor = "current_thread")]
async fn run(options: &Options) -> SectionResult {
    let (requests, max_bytes) = (options.requests, options.max_bytes);
    // Every request in flight holds sockets: raise the soft limit, and fit under the hard one.
    let fd_limit = RaisedFdLimit::raise()?;
    let per_request = fds_per_request(options.url.is_none());
    let fit = concurrency_that_fits(fd_limit.now, per_request);
    anyhow::ensure!(
        fit >= 1,
        "only {} open files allowed (ulimit -n): one request in flight needs {}",
        fd_limit.now,
        SPARE_FDS + per_request
    );
    let wanted = options.concurrency.min(requests);
    let concurrency = if wanted > fit {
        println!(
            "  only {} open files allowed (the hard limit): using {fit} in flight, not {wanted} (up to {per_request} open files each)",
            fd_limit.now
        );
        fit as usize
    } else {
        options.concurrency as usize
    };
    // The local test server, unless --url points elsewhere.
    let local = match &options.url {
        Some(_) => None,
        None => Some(
            TestServer::start(ServerConfig::default().with_latency(LATENCY))
                .context("starting the server")?,
        ),
    };
    let target = match (&options.url, &local) {
        (Some(url), _) => Target::Url(url.clone()),
        (None, Some(server)) => Target::files(server.url(""), server.config().body_size),
        (None, None) => anyhow::bail!("no URL and no local server"),
    };
    // No reqwest timeout (its clock runs on while a Ctrl-Z stops the run): the downloads
    // below are bounded by `until_stalled`, which counts chunks and skips stopped time.
    let client = Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .context("building the HTTP client")?;
    let chunks = AtomicU64::new(0);
    let stalled = |e: anyhow::Error| e.context("the server went silent");

    // The baseline: a few requests one at a time (offset ids: different files).
    let baseline = requests.min(BASELINE);
    let ids = requests..requests + baseline;
    let (one_by_one, took_one) = timed_async(until_stalled(
        STALL,
        &chunks,
        download_all(
            &client,
            target.urls(ids),
            1,
            max_bytes,
            |id, offset, chunk| {
                chunks.fetch_add(1, Ordering::Relaxed);
                target.check(requests + id, offset, chunk)
            },
        ),
    ))
    .await;
    one_by_one.map_err(stalled)??;
    let served_before = local.as_ref().map_or(0, |s| s.requests_served());

    let progress = progress_bar(requests);
    let recording = Recording::start();
    let (bytes, took) = timed_async(until_stalled(
        STALL,
        &chunks,
        download_all(
            &client,
            target.urls(0..requests),
            concurrency,
            max_bytes,
            |id, offset, chunk| {
                chunks.fetch_add(1, Ordering::Relaxed);
                target.check(id, offset, chunk)?;
                if chunk.is_empty() {
                    progress.inc(1); // the end of a body
                }
                Ok(())
            },
        ),
    ))
    .await;
    let client_max = recording.finish().named(&["request"]).most_at_once();
    progress.finish_and_clear();
    let bytes = bytes.map_err(stalled)??;
    anyhow::ensure!(
        client_max <= concurrency,
        "{client_max} in flight, limit {concurrency}"
    );

    let mut server_max = None;
    match (&target, &local) {
        (Target::Files { size, .. }, Some(server)) => {
            let served = server.requests_served() - served_before;
            let max_in_flight = server.max_in_flight();
            anyhow::ensure!(served == requests, "the server answered {served}");
            anyhow::ensure!(
                max_in_flight <= concurrency as u64,
                "{max_in_flight} in flight with a limit of {concurrency}"
            );
            server_max = Some(max_in_flight as usize);
            figure(
                "files downloaded",
                format!(
                    "{requests} x {}, every byte checked, {} of latency each",
                    Bytes(*size as u64),
                    Secs(LATENCY)
                ),
            );
            figure("most at the server at once", max_in_flight);
        }
        _ => figure(
            "downloaded",
            format!(
                "{requests} x {}, status checked, bodies counted (at most {} each)",
                target.url(0),
                Bytes(max_bytes)
            ),
        ),
    }
    figure(
        "most in flight (client)",
        format!("{client_max} (limit {concurrency})"),
    );
    let (rate_one, rate_many) = (rate(baseline, took_one), rate(requests, took));
    figure(
        "one at a time (baseline)",
        format!(
            "{baseline} requests in {}: {rate_one:.0} requests/s",
            Secs(took_one)
        ),
    );
    figure(
        format!("{concurrency} at a time"),
        format!(
            "{requests} requests in {}: {rate_many:.0} requests/s",
            Secs(took)
        ),
    );
    figure(
        "throughput",
        format!("{}/s", Bytes(rate(bytes, took) as u64)),
    );
    let gain = rate_many / rate_one.max(f64::MIN_POSITIVE);
    figure("gained by the limit", format!("{gain:.1}x"));
    // The twin fetches from the same server (still up: `local` lives to the end of `run`).
    let mut twin_args = match &target {
        Target::Files { base, size, .. } => {
            vec![
                "--base".to_owned(),
                base.clone(),
                "--size".to_owned(),
                size.to_string(),
            ]
        }
        Target::Url(url) => vec!["--url".to_owned(), url.to_string()],
    };
    for (name, value) in [
        ("--requests", requests),
        ("--concurrency", concurrency as u64),
        ("--baseline", baseline),
        ("--max-bytes", max_bytes),
    ] {
        twin_args.extend([name.to_owned(), value.to_string()]);
    }
    TWIN.compare(
        &twin_args,
        &[
            Pair::per_sec("one at a time (baseline)", "one_at_a_time_per_s", rate_one),
            Pair::per_sec(format!("{concurrency} at a time"), "per_s", rate_many),
            Pair::secs(
                format!("{requests} requests, {concurrency} at a time"),
                "elapsed_s",
                took.as_secs_f64(),
            ),
            Pair::speedup("gained by the limit", "gain", gain),
            Pair::count(
                "most in flight (client)",
                "max_in_flight",
                client_max as f64,
            ),
        ],
    )?;
    // n in flight should be many times faster than one, up to n (or the CPU) allows.
    let want = (concurrency as f64).min(10.0) / 2.0;
    let per_request = |t: Duration, n: u64| t / n.max(1) as u32;
    let faster = Evidence::faster(
        format!("{concurrency} at a time"),
        per_request(took, requests),
        "one at a time",
        per_request(took_one, baseline),
        want,
    );
    let full = Evidence::new(
        client_max == concurrency.min(requests as usize)
            && server_max.is_none_or(|m| m * 10 >= client_max * 9),
        format!("{} in flight at once", concurrency.min(requests as usize)),
        format!(
            "{client_max} at the client{}",
            server_max.map_or(String::new(), |m| format!(", {m} at the server"))
        ),
    );
    takeaway_if(
        &faster.and(full),
        format!(
            "one shared Client (the session) and buffer_unordered({concurrency}) (the limit): {requests} downloads, {concurrency} at a time, {gain:.0}x the rate of one at a time"
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const MIB: u64 = 1 << 20;

    #[tokio::test]
    async fn every_file_checked_and_the_limit_respected() {
        let server = TestServer::start_async(ServerConfig::default().with_body_size(1000))
            .await
            .unwrap();
        let target = Target::files(server.url(""), 1000);
        let recording = Recording::local();
        let bytes = download_all(
            &Client::new(),
            target.urls(0..60),
            4,
            MIB,
            |id, at, chunk| target.check(id, at, chunk),
        )
        .await
        .unwrap();
        let max = recording.finish().named(&["request"]).most_at_once();
        assert_eq!(bytes, 60 * 1000);
        assert!((1..=4).contains(&max), "{max}");
        assert_eq!(server.requests_served(), 60);
        assert!(server.max_in_flight() <= 4, "{}", server.max_in_flight());
    }

    #[tokio::test]
    async fn a_wrong_body_is_an_error() {
        let server = TestServer::start_async(ServerConfig::default().with_body_size(1000))
            .await
            .unwrap();
        for size in [999, 1001] {
            // sizes the server does not send: too long, then too short
            let target = Target::files(server.url(""), size);
            let outcome = download_all(&Client::new(), target.urls(0..3), 2, MIB, |id, at, c| {
                target.check(id, at, c)
            })
            .await;
            assert!(outcome.is_err(), "{size}");
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

    #[tokio::test]
    async fn an_endless_body_is_stopped_at_the_limit() {
        // A server that answers with a chunked body that never ends, until the client hangs up.
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
        let seen = std::cell::Cell::new(0);
        let error = download_all(&Client::new(), [url], 1, 3 * MIB, |_, at, chunk| {
            seen.set(at + chunk.len() as u64);
            Ok(())
        })
        .await
        .unwrap_err();
        assert!(error.to_string().contains("past the limit"), "{error:#}");
        assert!(seen.get() <= 3 * MIB, "{}", seen.get());
        let sent = server.await.unwrap().unwrap();
        assert!(
            sent > 3 * MIB,
            "the server ended by itself after {sent} bytes"
        );
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_and_one_at_it_accepted() {
        let server = TestServer::start_async(ServerConfig::default().with_body_size(1000))
            .await
            .unwrap();
        let client = Client::new();
        let url = server.url("/files/0");
        let ok = |_, _, _: &[u8]| Ok(());
        let over = download_all(&client, [url.clone()], 1, 999, ok).await;
        assert!(over.unwrap_err().to_string().contains("over the limit"));
        assert_eq!(
            download_all(&client, [url], 1, 1000, ok).await.unwrap(),
            1000
        );
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

    #[test]
    fn sizes_take_k_m_g_and_nothing_else() {
        assert_eq!(parse_bytes("1"), Ok(1));
        assert_eq!(parse_bytes("64M"), Ok(64 << 20));
        assert_eq!(parse_bytes("3k"), Ok(3 << 10));
        assert_eq!(parse_bytes("1024G"), Ok(1 << 40));
        for bad in [
            "",
            "0",
            "0M",
            "+5",
            "-5",
            "1.5M",
            "M",
            "5T",
            "1025G",
            "99999999999999999999",
        ] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn the_python_twin_checks_the_same_files() {
        let server = TestServer::start_async(ServerConfig::default().with_body_size(1000))
            .await
            .unwrap();
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
        }
    }

    #[tokio::test]
    async fn the_python_twin_refuses_a_wrong_file() {
        // The same server, but the twin told the files are one byte longer: it must fail.
        let server = TestServer::start_async(ServerConfig::default().with_body_size(1000))
            .await
            .unwrap();
        let args = vec![
            "--base".to_owned(),
            server.url(""),
            "--size".to_owned(),
            "1001".to_owned(),
            "--requests".to_owned(),
            "2".to_owned(),
        ];
        let Some(python) = common::python::for_tests() else {
            return;
        };
        let outcome = tokio::task::spawn_blocking(move || TWIN.run(&python, &args))
            .await
            .unwrap();
        assert!(outcome.is_err());
    }

    #[test]
    fn only_http_urls_are_accepted() {
        assert!(parse_http_url("http://127.0.0.1:8000/x").is_ok());
        assert!(parse_http_url("https://example.com/").is_err());
        assert!(parse_http_url("not a url").is_err());
    }
}
