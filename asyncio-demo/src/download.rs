//! Downloading thousands of files with one `aiohttp.ClientSession` and at most 100 in
//! flight -> one shared `reqwest::Client` and `StreamExt::buffer_unordered(100)`.
//!
//! Python:
//!     async def fetch(session, url):
//!         async with session.get(url) as response:
//!             return await response.read()
//!     async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:
//!         bodies = await asyncio.gather(*(fetch(session, u) for u in urls))
//!
//! Rust: a `reqwest::Client` is the session: it keeps a pool of open connections, and it is
//! cheap to clone (clones share the pool), so build one and pass it around. The limit is a
//! stream adaptor: `buffer_unordered(n)` keeps at most `n` of the futures running and yields
//! results as they finish; no task is spawned and nothing is queued beyond `n`. A semaphore
//! (see `semaphore`) does the same for spawned tasks. Like aiohttp, the client runs on one
//! thread (a current-thread runtime): the work is I/O, and one thread avoids handing
//! wake-ups between threads (the local server has its own two).
//!
//! Watch: every body is checked byte for byte. The local server waits 10 ms before each
//! answer, like a network: one request at a time (the baseline) manages under 100 a second,
//! while 100 in flight (the most the `request` spans show open at once, and the most the
//! server holds) multiply that many times over, until the client's CPU is the limit. The
//! default run is long (5000 requests) so that the rate is not mostly warm-up. The progress
//! bar shows only when stderr is a terminal.
//!
//! Run only this: cargo run -p asyncio-demo -- download
//! Against another server: cargo run -p asyncio-demo -- download --url http://127.0.0.1:8000/ --requests 5000 --concurrency 50

use anyhow::Context;
use futures::{StreamExt, TryStreamExt, stream};
use reqwest::Client;
use tracing::Instrument;

/// Fetch every URL, at most `concurrency` at once, and hand each body to `check` with its
/// index; returns the bytes received. The first error (a refused connection, a bad status,
/// a body that `check` rejects) stops the rest.
pub async fn download_all<C>(
    client: &Client,
    urls: impl IntoIterator<Item = String>,
    concurrency: usize,
    check: C,
) -> anyhow::Result<u64>
where
    C: Fn(u64, &[u8]) -> anyhow::Result<()>,
{
    let check = &check;
    stream::iter(urls.into_iter().zip(0u64..))
        .map(|(url, id)| async move {
            let body = async {
                let response = client.get(&url).send().await;
                let response = response.with_context(|| format!("requesting {url}"))?;
                anyhow::Ok(response.error_for_status()?.bytes().await?)
            }
            .instrument(tracing::info_span!("request", id))
            .await?;
            tracing::debug!(id, bytes = body.len(), "downloaded");
            check(id, &body)?;
            anyhow::Ok(body.len() as u64)
        })
        .buffer_unordered(concurrency) // at most `concurrency` in flight
        .try_fold(0, |total, len| async move { Ok(total + len) })
        .await
}

// --- run and measure ---

use std::sync::Arc;
use std::time::Duration;

use common::cli::{Section, SectionResult};
use common::fixture::{ServerConfig, TestServer};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::Recording;
use common::timing::{Bytes, Secs, rate, timed_async};
use common::workload::{file_source, file_window};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Url;

pub const SECTION: Section<Options> = Section::with_options(
    "download",
    "aiohttp.ClientSession + gather, 100 in flight",
    "5000 files from a local HTTP server, 100 at a time, every byte checked, against one at a time; --url, --requests, --concurrency",
    run,
);

/// The demo-wide options (`--url`, `--requests`, `--concurrency`).
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

    fn check(&self, id: u64, body: &[u8]) -> anyhow::Result<()> {
        if let Target::Files { size, source, .. } = self {
            let expected = &source[file_window(id, *size)];
            anyhow::ensure!(body == expected, "file {id} arrived corrupted");
        }
        Ok(())
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
    let (requests, concurrency) = (options.requests, options.concurrency as usize);
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
    let client = Client::builder()
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")?;

    // The baseline: a few requests one at a time (offset ids: different files).
    let baseline = requests.min(BASELINE);
    let ids = requests..requests + baseline;
    let (one_by_one, took_one) =
        timed_async(download_all(&client, target.urls(ids), 1, |id, b| {
            target.check(requests + id, b)
        }))
        .await;
    one_by_one?;
    let served_before = local.as_ref().map_or(0, |s| s.requests_served());

    let progress = progress_bar(requests);
    let recording = Recording::start();
    let (bytes, took) = timed_async(download_all(
        &client,
        target.urls(0..requests),
        concurrency,
        |id, body| {
            target.check(id, body)?;
            progress.inc(1);
            Ok(())
        },
    ))
    .await;
    let client_max = recording.finish().named(&["request"]).most_at_once();
    progress.finish_and_clear();
    let bytes = bytes?;
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
                max_in_flight <= options.concurrency,
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
            format!("{requests} x {}, status checked", target.url(0)),
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

    #[tokio::test]
    async fn every_file_checked_and_the_limit_respected() {
        let server = TestServer::start_async(ServerConfig::default().with_body_size(1000))
            .await
            .unwrap();
        let target = Target::files(server.url(""), 1000);
        let recording = Recording::local();
        let bytes = download_all(&Client::new(), target.urls(0..60), 4, |id, body| {
            target.check(id, body)
        })
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
        let target = Target::files(server.url(""), 999); // a size the server does not send
        let outcome = download_all(&Client::new(), target.urls(0..3), 2, |id, body| {
            target.check(id, body)
        })
        .await;
        assert!(outcome.is_err());
    }

    #[test]
    fn check_accepts_exactly_the_right_file() {
        let target = Target::files(String::new(), 1000);
        let seven = common::workload::file_bytes(7, 1000);
        assert!(target.check(7, &seven).is_ok());
        assert!(target.check(8, &seven).is_err());
        assert!(target.check(7, &seven[..999]).is_err());
    }

    #[test]
    fn only_http_urls_are_accepted() {
        assert!(parse_http_url("http://127.0.0.1:8000/x").is_ok());
        assert!(parse_http_url("https://example.com/").is_err());
        assert!(parse_http_url("not a url").is_err());
    }
}
