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
//! back to the caller. The pages come from a local server on 127.0.0.1, port 0, with a
//! fixed latency per request (`local_server` below in a copy, an axum server in the demo),
//! so nothing touches the internet.
//!
//! Watch: six pages with 150 ms of server latency each take about 0.15 s on six threads: the
//! six waits overlap (the threads wait together, no core computes for them). In the demo:
//! about 0.9 s one after another, the server saw all six requests in flight at once, and
//! every byte is checked against the file it should be.
//!
//! Run only this: cargo run -p threading-demo -- web-download
//! Copy it: cargo add anyhow@1 tracing@0.1 && cargo add reqwest@0.13 --no-default-features --features blocking

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread;
use std::time::{Duration, Instant};

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

/// A stand-in for the web: an HTTP server on 127.0.0.1 (port 0: any free one) that answers
/// every request after `latency` with `size` bytes, a thread per connection.
pub fn local_server(latency: Duration, size: usize) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            thread::spawn(move || {
                let _ = stream.read(&mut [0u8; 4096]); // the request: any GET
                thread::sleep(latency);
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&vec![b'x'; size]);
            });
        }
    });
    Ok(addr)
}

/// Six pages of 64 KiB, 150 ms of latency each, a thread per page.
fn main() -> anyhow::Result<()> {
    let server = local_server(Duration::from_millis(150), 64 * 1024)?;
    let urls: Vec<String> = (0..6)
        .map(|page| format!("http://{server}/page/{page}"))
        .collect();
    let client = Client::new();
    let start = Instant::now();
    let pages = download_all_threaded(&client, &urls)?;
    for (url, body) in urls.iter().zip(&pages) {
        println!("Downloaded {url}: {} bytes", body.len());
    }
    println!(
        "{} pages in {:.0?}: the waits overlapped",
        pages.len(),
        start.elapsed()
    );
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::fixture::{ServerConfig, TestServer};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recording};
use common::timing::{Bytes, Secs, speedup, timed};
use common::workload::verify_file;

pub const SECTION: Section = Section::new(
    "web-download",
    "Thread + requests.get(url)",
    "a thread per page, reqwest's blocking client, checked",
    run,
)
.main(|| main().report());

const PAGES: u64 = 6;
const LATENCY: Duration = Duration::from_millis(150);
const PAGE_SIZE: usize = 64 * 1024;

/// Page `k` should be file `k`, byte for byte.
fn all_verified(pages: &[Vec<u8>], size: usize) -> bool {
    pages.len() == PAGES as usize
        && (0..)
            .zip(pages)
            .all(|(id, body)| verify_file(id, size, body))
}

fn run() -> SectionResult {
    let config = ServerConfig::default()
        .with_latency(LATENCY)
        .with_body_size(PAGE_SIZE);
    let server = TestServer::start(config).context("starting the local HTTP server")?;
    let client = Client::builder().timeout(Duration::from_secs(10)).build()?;
    let urls: Vec<String> = (0..PAGES).map(|id| server.file_url(id)).collect();
    let (sequential, one_by_one) = timed(|| {
        urls.iter()
            .map(|url| download(&client, url))
            .collect::<anyhow::Result<Vec<_>>>()
    });
    anyhow::ensure!(all_verified(&sequential?, PAGE_SIZE), "a page was corrupt");
    let recording = Recording::start();
    let (threaded, took) = timed(|| download_all_threaded(&client, &urls));
    let gets = recording.finish().named(&["GET"]);
    let threaded = threaded?;
    anyhow::ensure!(
        all_verified(&threaded, PAGE_SIZE),
        "a page was missing or corrupt"
    );
    for (url, body) in urls.iter().zip(&threaded) {
        println!("  Downloaded {url}: {} bytes", body.len());
    }
    let (s, at_server) = (speedup(one_by_one, took), server.max_in_flight());
    figure(
        "bytes, all verified",
        Bytes(threaded.iter().map(|b| b.len() as u64).sum()),
    );
    figure(format!("{PAGES} pages one by one"), Secs(one_by_one));
    figure(
        format!("on {PAGES} threads"),
        format!("{}: {s:.1}x", Secs(took)),
    );
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
        assert!((0..).zip(&pages).all(|(id, b)| verify_file(id, 1000, b)));
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
