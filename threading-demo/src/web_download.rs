//! Downloading web pages with `threading.Thread` + `requests.get` -> one thread per URL +
//! reqwest's blocking client, against a real HTTP server on 127.0.0.1.
//!
//! Python (the guide's scenario):
//!     def download(url):
//!         resp = requests.get(url)
//!         print(f"Downloaded {url}: {len(resp.content)} bytes")
//!     threads = [threading.Thread(target=download, args=(url,)) for url in urls]
//!     for t in threads: t.start()
//!     for t in threads: t.join()
//!
//! Rust: `reqwest::blocking::Client` is the `requests` twin (build it once and share it:
//! it is a cheap `Clone` around a connection pool, like a `requests.Session`). Behind its
//! blocking calls it runs a tokio runtime on a hidden thread of its own, so it belongs in
//! plain threads: inside async code (a tokio task, `#[tokio::main]`) it panics, because
//! tokio refuses to block on or drop a runtime there; in async code use the async
//! `reqwest::Client`. Each thread returns its page through its `JoinHandle` instead of
//! printing into the void, and errors (`?` on `send`, `error_for_status`, `bytes`) come
//! back to the caller. The run part serves the pages from a local axum server on
//! 127.0.0.1, port 0, with a fixed latency per request, so nothing touches the internet
//! and every byte can be verified.
//!
//! Watch: six pages with 150 ms of server latency each take about 0.9 s one after another
//! and about 0.15 s on six threads: the six waits overlap (concurrency: the threads wait
//! together, no core computes for them); the server saw all six requests in flight at
//! once; every byte is checked against the file it should be.
//!
//! Run only this: cargo run -p threading-demo -- web-download

use std::thread;

use anyhow::{Context, anyhow};
use reqwest::blocking::Client;

/// `requests.get(url).content`, with its errors.
pub fn download(client: &Client, url: &str) -> anyhow::Result<Vec<u8>> {
    let body = client
        .get(url)
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.bytes())
        .with_context(|| format!("GET {url}"))?;
    Ok(body.to_vec())
}

/// One thread per URL; each returns its page. Pages come back in URL order.
pub fn download_all_threaded(client: &Client, urls: &[String]) -> anyhow::Result<Vec<Vec<u8>>> {
    thread::scope(|s| {
        let handles: Vec<_> = urls
            .iter()
            .enumerate()
            .map(|(page, url)| {
                let span = tracing::info_span!("GET", page);
                s.spawn(move || {
                    let _in = span.entered();
                    let body = download(client, url)?;
                    tracing::debug!(url, bytes = body.len(), "downloaded");
                    anyhow::Ok(body)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow!("a download thread panicked"))?
            })
            .collect()
    })
}

// --- run and measure ---

use std::time::Duration;

use common::cli::{Section, SectionResult};
use common::fixture::{ServerConfig, TestServer};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recording};
use common::timing::{Bytes, Secs, speedup, timed};
use common::workload::verify_file;

pub const SECTION: Section = Section::new(
    "web-download",
    "threading.Thread + requests.get(url)",
    "a thread per page, reqwest's blocking client, a local server, bytes checked",
    run,
);

const PAGES: u64 = 6;
const LATENCY: Duration = Duration::from_millis(150);
const PAGE_SIZE: usize = 64 * 1024;

/// Page `k` should be file `k`, byte for byte.
fn all_verified(pages: &[Vec<u8>], size: usize) -> bool {
    (0..)
        .zip(pages)
        .all(|(id, body)| verify_file(id, size, body))
}

fn run() -> SectionResult {
    let server = TestServer::start(
        ServerConfig::default()
            .with_latency(LATENCY)
            .with_body_size(PAGE_SIZE),
    )
    .context("starting the local HTTP server")?;
    let client = Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("building the HTTP client")?;
    let urls: Vec<String> = (0..PAGES).map(|id| server.file_url(id)).collect();

    let (sequential, one_by_one) = timed(|| {
        urls.iter()
            .map(|url| download(&client, url))
            .collect::<anyhow::Result<Vec<_>>>()
    });
    let sequential = sequential?;
    anyhow::ensure!(all_verified(&sequential, PAGE_SIZE), "a page was corrupt");

    let recording = Recording::start();
    let (threaded, threaded_took) = timed(|| download_all_threaded(&client, &urls));
    let gets = recording.finish().named(&["GET"]);
    let threaded = threaded?;
    anyhow::ensure!(
        threaded.len() == urls.len() && all_verified(&threaded, PAGE_SIZE),
        "a page was missing or corrupt"
    );
    for (url, body) in urls.iter().zip(&threaded) {
        println!("  Downloaded {url}: {} bytes", body.len());
    }
    let total: usize = threaded.iter().map(Vec::len).sum();
    figure("bytes, all verified", Bytes(total as u64));
    figure(format!("{PAGES} pages one by one"), Secs(one_by_one));
    figure(
        format!("{PAGES} pages on {PAGES} threads"),
        Secs(threaded_took),
    );
    let s = speedup(one_by_one, threaded_took);
    figure("speedup", format!("{s:.1}x"));
    let at_server = server.max_in_flight();
    figure("server: most at once", at_server);
    gets.print(Lanes::Span);
    takeaway_if(
        &Evidence::new(
            at_server == PAGES && s >= PAGES as f64 / 2.0,
            format!("all {PAGES} requests waiting at the server at once, several times faster"),
            format!("{at_server} at once, {s:.1}x"),
        ),
        "threads + a blocking reqwest Client overlap their waits; each thread hands its page back through join()",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_arrives_intact_in_url_order() {
        let server = TestServer::start(ServerConfig::default().with_body_size(1000)).unwrap();
        let client = Client::new();
        let urls: Vec<String> = (0..4).map(|id| server.file_url(id)).collect();
        let pages = download_all_threaded(&client, &urls).unwrap();
        assert_eq!(pages.len(), 4);
        assert!(all_verified(&pages, 1000), "page k is file k");
        assert_eq!(server.requests_served(), 4);
    }

    #[test]
    fn an_http_error_comes_back_as_an_error() {
        let server = TestServer::start(ServerConfig::default()).unwrap();
        let client = Client::new();
        let urls = [server.url("/nothing-here")];
        let err = download_all_threaded(&client, &urls).unwrap_err();
        assert!(format!("{err:#}").contains("404"), "{err:#}");
    }
}
