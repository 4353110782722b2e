//! Downloading 1000 files with one `aiohttp.ClientSession` and at most 100 in flight ->
//! one shared `reqwest::Client` and `StreamExt::buffer_unordered(100)`.
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
//! Watch: every body is checked byte for byte; the client never has more than 100
//! requests in flight (the server, answering at once, sees fewer); the request rate (a release build reaches tens of thousands per second on
//! loopback). The progress bar shows only when stderr is a terminal.
//!
//! Run only this: cargo run -p asyncio-demo -- download
//! Against another server: cargo run -p asyncio-demo -- download --url http://127.0.0.1:8000/ --requests 5000 --concurrency 50

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use common::cli::{SectionResult, figure, takeaway};
use common::fixture::{ServerConfig, TestServer};
use common::timing::{Bytes, Secs, rate, timed_async};
use common::workload::{file_source, file_window};
use futures::{StreamExt, TryStreamExt, stream};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::{Client, Url};

/// The demo-wide options (`--url`, `--requests`, `--concurrency`).
#[derive(clap::Args, Clone, Debug)]
pub struct Options {
    /// `download`: fetch this http:// URL instead of the local test server's files
    #[arg(long, value_name = "URL", value_parser = parse_http_url)]
    pub url: Option<Url>,
    /// `download`: how many requests to make
    #[arg(long, value_name = "N", default_value_t = 1000,
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

/// Where request `id` goes, and how to check its answer.
#[derive(Clone)]
pub enum Target {
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
    pub fn files(base: String, size: usize) -> Target {
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

    fn check(&self, id: u64, body: &[u8]) -> anyhow::Result<()> {
        if let Target::Files { size, source, .. } = self {
            let expected = &source[file_window(id, *size)];
            anyhow::ensure!(body == expected, "file {id} arrived corrupted");
        }
        Ok(())
    }
}

/// Fetch `requests` files, at most `concurrency` at once; returns the bytes received and
/// the most requests the client had in flight at once.
pub async fn download_all(
    client: &Client,
    target: &Target,
    requests: u64,
    concurrency: usize,
    progress: &ProgressBar,
) -> anyhow::Result<(u64, usize)> {
    let (now, max) = (&AtomicUsize::new(0), &AtomicUsize::new(0));
    let bytes = stream::iter(0..requests)
        .map(|id| async move {
            max.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
            let body = client
                .get(target.url(id))
                .send()
                .await
                .with_context(|| format!("requesting {}", target.url(id)))?
                .error_for_status()?
                .bytes()
                .await?;
            now.fetch_sub(1, Ordering::SeqCst);
            tracing::debug!(id, bytes = body.len(), "downloaded");
            target.check(id, &body)?;
            progress.inc(1);
            anyhow::Ok(body.len() as u64)
        })
        .buffer_unordered(concurrency) // at most `concurrency` in flight
        .try_fold(0, |total, len| async move { Ok(total + len) })
        .await?;
    Ok((bytes, max.load(Ordering::SeqCst)))
}

fn progress_bar(len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len); // draws on stderr, and only if it is a terminal
    if let Ok(style) = ProgressStyle::with_template("  {bar:40} {pos}/{len} {per_sec}") {
        bar.set_style(style);
    }
    bar
}

#[tokio::main(flavor = "current_thread")]
pub async fn run(options: &Options) -> SectionResult {
    let concurrency = options.concurrency as usize;
    // The local test server, unless --url points elsewhere.
    let local = match &options.url {
        Some(_) => None,
        None => Some(TestServer::start(ServerConfig::default()).context("starting the server")?),
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

    let progress = progress_bar(options.requests);
    let (bytes, took) = timed_async(download_all(
        &client,
        &target,
        options.requests,
        concurrency,
        &progress,
    ))
    .await;
    progress.finish_and_clear();
    let (bytes, client_max) = bytes?;
    anyhow::ensure!(
        client_max <= concurrency,
        "{client_max} in flight, limit {concurrency}"
    );

    match (&target, &local) {
        (Target::Files { size, .. }, Some(server)) => {
            let (served, max_in_flight) = (server.requests_served(), server.max_in_flight());
            anyhow::ensure!(served == options.requests, "the server answered {served}");
            anyhow::ensure!(
                max_in_flight <= options.concurrency,
                "{max_in_flight} in flight with a limit of {concurrency}"
            );
            figure(
                "files downloaded",
                format!(
                    "{} x {}, every byte checked",
                    options.requests,
                    Bytes(*size as u64)
                ),
            );
            figure(
                "most at the server at once",
                format!("{max_in_flight} (it answers at once)"),
            );
        }
        _ => figure(
            "downloaded",
            format!("{} x {}, status checked", options.requests, target.url(0)),
        ),
    }
    figure(
        "most in flight (client)",
        format!("{client_max} (limit {concurrency})"),
    );
    figure("took", Secs(took));
    figure(
        "requests per second",
        format!("{:.0}", rate(options.requests, took)),
    );
    figure(
        "throughput",
        format!("{}/s", Bytes(rate(bytes, took) as u64)),
    );
    takeaway(
        "one shared Client (the session) and buffer_unordered(n) (the limit): a thousand downloads, n at a time",
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
        let (bytes, max) = download_all(&Client::new(), &target, 60, 4, &ProgressBar::hidden())
            .await
            .unwrap();
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
        let outcome = download_all(&Client::new(), &target, 3, 2, &ProgressBar::hidden()).await;
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
