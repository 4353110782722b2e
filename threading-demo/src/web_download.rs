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
//! it is a cheap `Clone` around a connection pool, like a `requests.Session`). Each
//! thread returns its page through its `JoinHandle` instead of printing into the void, and
//! errors (`?` on `send`, `error_for_status`, `bytes`) come back to the caller. The server
//! is `common::fixture::TestServer`: axum on 127.0.0.1, port 0, a fixed latency per
//! request, so nothing touches the internet and every byte can be verified.
//!
//! Watch: six pages with 150 ms of server latency each take about 0.9 s one after another
//! and about 0.15 s on six threads; the server saw all six requests in flight at once;
//! every byte is checked against the file it should be.
//!
//! Run only this: cargo run -p threading-demo -- web-download

use std::thread;
use std::time::Duration;

use anyhow::{Context, anyhow};
use common::cli::{SectionResult, figure, takeaway};
use common::fixture::{ServerConfig, TestServer};
use common::timeline::Timeline;
use common::timing::{Bytes, Secs, speedup, timed};
use common::workload::verify_file;
use reqwest::blocking::Client;

const PAGES: u64 = 6;
const LATENCY: Duration = Duration::from_millis(150);
const PAGE_SIZE: usize = 64 * 1024;

/// `requests.get(url).content`, with its errors.
fn download(client: &Client, url: &str) -> anyhow::Result<Vec<u8>> {
    let body = client
        .get(url)
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.bytes())
        .with_context(|| format!("GET {url}"))?;
    Ok(body.to_vec())
}

/// One thread per `(id, url)`; each returns its page. Pages come back in URL order.
fn download_all_threaded(
    client: &Client,
    urls: &[(u64, String)],
    timeline: &Timeline,
) -> anyhow::Result<Vec<(u64, Vec<u8>)>> {
    thread::scope(|s| {
        let handles: Vec<_> = urls
            .iter()
            .map(|(id, url)| {
                s.spawn(move || {
                    let lane = format!("thread {id}");
                    let body = timeline.record(lane, "GET", || download(client, url))?;
                    tracing::debug!(url, bytes = body.len(), "downloaded");
                    anyhow::Ok((*id, body))
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

fn all_verified(pages: &[(u64, Vec<u8>)], size: usize) -> bool {
    pages.iter().all(|(id, body)| verify_file(*id, size, body))
}

pub fn run() -> SectionResult {
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
    let urls: Vec<(u64, String)> = (0..PAGES).map(|id| (id, server.file_url(id))).collect();

    let (sequential, one_by_one) = timed(|| {
        urls.iter()
            .map(|(id, url)| Ok((*id, download(&client, url)?)))
            .collect::<anyhow::Result<Vec<_>>>()
    });
    let sequential = sequential?;
    anyhow::ensure!(all_verified(&sequential, PAGE_SIZE), "a page was corrupt");

    let timeline = Timeline::new();
    let (threaded, threaded_took) = timed(|| download_all_threaded(&client, &urls, &timeline));
    let threaded = threaded?;
    anyhow::ensure!(
        threaded.len() == urls.len() && all_verified(&threaded, PAGE_SIZE),
        "a page was missing or corrupt"
    );
    for (id, body) in &threaded {
        println!(
            "  Downloaded {}: {} bytes",
            urls[*id as usize].1,
            body.len()
        );
    }
    let total: usize = threaded.iter().map(|(_, b)| b.len()).sum();
    figure("bytes, all verified", Bytes(total as u64));
    figure(format!("{PAGES} pages one by one"), Secs(one_by_one));
    figure(
        format!("{PAGES} pages on {PAGES} threads"),
        Secs(threaded_took),
    );
    figure(
        "speedup",
        format!("{:.1}x", speedup(one_by_one, threaded_took)),
    );
    figure("server: most at once", server.max_in_flight());
    timeline.print();
    takeaway(
        "threads + a blocking reqwest Client download in parallel; each thread hands its page back through join()",
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
        let urls: Vec<(u64, String)> = (0..4).map(|id| (id, server.file_url(id))).collect();
        let timeline = Timeline::new();
        let pages = download_all_threaded(&client, &urls, &timeline).unwrap();
        assert_eq!(
            pages.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        assert!(all_verified(&pages, 1000));
        assert_eq!(server.requests_served(), 4);
    }

    #[test]
    fn an_http_error_comes_back_as_an_error() {
        let server = TestServer::start(ServerConfig::default()).unwrap();
        let client = Client::new();
        let urls = [(0, server.url("/nothing-here"))];
        let err = download_all_threaded(&client, &urls, &Timeline::new()).unwrap_err();
        assert!(format!("{err:#}").contains("404"), "{err:#}");
    }
}
