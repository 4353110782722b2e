//! An async generator (`async def` with `yield`, read with `async for`) -> a `Stream`:
//! `futures::stream::unfold`, read with `while let Some(x) = stream.next().await`.
//!
//! Python:
//!     async def pages(session, base):
//!         page = 0
//!         while page is not None:
//!             async with session.get(f"{base}/pages/{page}") as r:
//!                 body = await r.json()
//!             yield body["items"]
//!             page = body["next"]             # None after the last page
//!     async for items in pages(session, base):
//!         await use(items)
//!
//! Rust has no `yield` in stable async code: `stream::unfold(state, step)` is the generator,
//! its state the local variables (here the next page to ask for) and each call of `step` one
//! turn of the loop, returning `Some((item, next_state))` or `None` to end. (The
//! `async-stream` crate's `stream!` macro gives back the `yield` syntax.) Like a generator,
//! and unlike a task, a stream does nothing until it is polled: the next page is fetched
//! only when the reader asks for it, so a slow reader holds the producer back
//! (backpressure) with no queue in between. A producer that runs ahead is a task feeding a
//! channel.
//!
//! Watch: six pages from a local server, each fetched in 10 ms and used in 30 ms: the
//! stream has at most 1 page fetched ahead of the reader, and its timeline alternates
//! fetch, read, fetch; the same stream driven by a task into a channel runs several pages
//! ahead, its fetches overlapping the reads.
//!
//! Run only this: cargo run -p asyncio-demo -- async-stream
//! Copy it: cargo add anyhow@1 axum@0.8 futures@0.3 serde_json@1 tracing@0.1 && cargo add reqwest@0.13 --no-default-features && cargo add tokio@1 --features full

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::{Json, Router, extract::Path, routing::get};
use futures::{Stream, StreamExt, stream};
use serde_json::{Value, json};
use tokio::time::{Instant, sleep};
use tracing::Instrument;

pub const PAGES: u64 = 6;
pub const PAGE_SIZE: u64 = 5;
pub const LATENCY: Duration = Duration::from_millis(10);
pub const WORK: Duration = Duration::from_millis(30);

/// A paginated API on 127.0.0.1 (a free port): `/pages/N` is `{"items": [...], "next": N+1}`
/// (`null` after the last), after `latency`. `served` counts the pages it has sent.
pub async fn serve_pages(
    pages: u64,
    latency: Duration,
    served: Arc<AtomicU64>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let page = move |Path(n): Path<u64>| async move {
        sleep(latency).await;
        served.fetch_add(1, Ordering::SeqCst);
        let items: Vec<u64> = (n * PAGE_SIZE..(n + 1) * PAGE_SIZE).collect();
        Json(json!({ "items": items, "next": (n + 1 < pages).then_some(n + 1) }))
    };
    let app = Router::new().route("/pages/{n}", get(page));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// One page and the number of the next one.
async fn fetch_page(
    client: &reqwest::Client,
    base: &str,
    page: u64,
) -> anyhow::Result<(Vec<u64>, Option<u64>)> {
    let url = format!("{base}/pages/{page}");
    let body: Value = client.get(url).send().await?.text().await?.parse()?;
    let items = body["items"].as_array().into_iter().flatten();
    Ok((
        items.filter_map(Value::as_u64).collect(),
        body["next"].as_u64(),
    ))
}

/// `async def pages(...)`: the generator. Its state is the next page to fetch (`None`: the
/// last one was yielded, the stream ends); an error is yielded once, then the stream ends.
pub fn pages(
    client: reqwest::Client,
    base: String,
) -> impl Stream<Item = anyhow::Result<Vec<u64>>> {
    stream::unfold(Some(0), move |next| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let page = next?;
            let fetched = fetch_page(&client, &base, page)
                .instrument(tracing::info_span!("fetch", page))
                .await;
            Some(match fetched {
                Ok((items, next)) => (Ok(items), next),
                Err(e) => (Err(e), None),
            })
        }
    })
}

/// Running ahead instead: a task drives the stream into an unbounded channel, fetching
/// while the reader is still busy (a bounded channel would cap how far).
pub fn prefetched<T: Send + 'static>(
    items: impl Stream<Item = T> + Send + 'static,
) -> impl Stream<Item = T> {
    let (tx, rx) = futures::channel::mpsc::unbounded();
    tokio::spawn(items.map(Ok).forward(tx)); // send each item on until the stream ends
    rx
}

/// `async for items in pages: await use(items)`, spending `work` on each page. Returns every
/// item, and the most pages the server had sent beyond those the reader had finished.
pub async fn read_all(
    pages: impl Stream<Item = anyhow::Result<Vec<u64>>>,
    work: Duration,
    served: &AtomicU64,
) -> anyhow::Result<(Vec<u64>, u64)> {
    let mut pages = std::pin::pin!(pages); // unfold's stream must stay put to be polled
    let (mut all, mut read, mut most_ahead) = (Vec::new(), 0, 0);
    while let Some(items) = pages.next().await {
        most_ahead = most_ahead.max(served.load(Ordering::SeqCst) - read);
        let items = items?;
        sleep(work) // using the page
            .instrument(tracing::info_span!("read", page = read))
            .await;
        all.extend(items);
        read += 1;
    }
    Ok((all, most_ahead))
}

/// The twin of `if __name__ == "__main__":` the generator read slowly, then the same pages
/// prefetched by a task.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let served = Arc::new(AtomicU64::new(0));
    let base = format!(
        "http://{}",
        serve_pages(PAGES, LATENCY, served.clone()).await?
    );
    let client = reqwest::Client::new();
    for prefetch in [false, true] {
        served.store(0, Ordering::SeqCst);
        let start = Instant::now();
        let stream = pages(client.clone(), base.clone());
        let (items, ahead) = if prefetch {
            read_all(prefetched(stream), WORK, &served).await?
        } else {
            read_all(stream, WORK, &served).await?
        };
        let how = if prefetch { "task + channel" } else { "stream" };
        println!(
            "{how:<14} {} items from {PAGES} pages in {:.0?}, at most {ahead} page(s) fetched ahead of the reader",
            items.len(),
            start.elapsed()
        );
    }
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Recorded, Recording, Span, Timeline};
use common::timing::{Secs, timed_async};

pub const SECTION: Section = Section::new(
    "async-stream",
    "async def gen(): yield ... / async for",
    "a generator of pages as futures::stream::unfold: fetched only as fast as it is read",
    run,
)
.main(|| main().report());

/// The most pages whose fetch had started beyond the reads that had finished, at any fetch's
/// start: 1 when each fetch waits for the reader.
fn most_ahead(spans: &Recorded) -> usize {
    let fetches = spans.named(&["fetch"]);
    let reads = spans.named(&["read"]);
    let ahead = |t: u64| {
        let started = fetches.spans().iter().filter(|f| f.start_us <= t).count();
        started - reads.spans().iter().filter(|r| r.end_us <= t).count()
    };
    fetches
        .spans()
        .iter()
        .map(|f| ahead(f.start_us))
        .max()
        .unwrap_or(0)
}

#[tokio::main]
async fn run() -> SectionResult {
    let served = Arc::new(AtomicU64::new(0));
    let base = format!(
        "http://{}",
        serve_pages(PAGES, LATENCY, served.clone()).await?
    );
    let client = reqwest::Client::new();
    let expected: Vec<u64> = (0..PAGES * PAGE_SIZE).collect();
    let mut shown = Vec::new();
    for prefetch in [false, true] {
        let (recording, chart) = (Recording::start(), Timeline::new());
        let stream = pages(client.clone(), base.clone());
        let (read, took) = if prefetch {
            timed_async(read_all(prefetched(stream), WORK, &served)).await
        } else {
            timed_async(read_all(stream, WORK, &served)).await
        };
        served.store(0, Ordering::SeqCst);
        anyhow::ensure!(read?.0 == expected, "items lost or out of order");
        let spans = recording.finish().named(&["fetch", "read"]);
        let name = if prefetch {
            "task + channel"
        } else {
            "unfold stream"
        };
        figure(
            name,
            format!(
                "{PAGES} pages in {}, at most {} fetched ahead of the reader",
                Secs(took),
                most_ahead(&spans)
            ),
        );
        chart.extend(spans.spans().iter().map(|s| Span {
            lane: s.name.to_owned(), // one lane for the fetches, one for the reads
            label: format!("page {}", s.field("page").unwrap_or("?")),
            start_us: s.start_us,
            end_us: s.end_us,
        }));
        chart.print();
        shown.push(most_ahead(&spans));
    }
    takeaway_if(
        &Evidence::new(
            shown[0] == 1 && shown[1] > 1,
            "the stream at most 1 page ahead of its reader, the task more",
            format!("{} and {}", shown[0], shown[1]),
        ),
        "a stream is a generator: it fetches the next page only when the reader asks for it",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn server() -> (String, Arc<AtomicU64>) {
        let served = Arc::new(AtomicU64::new(0));
        let addr = serve_pages(4, Duration::from_millis(1), served.clone())
            .await
            .unwrap();
        (format!("http://{addr}"), served)
    }

    #[tokio::test]
    async fn the_stream_yields_every_page_in_order_and_never_runs_ahead() {
        let (base, served) = server().await;
        let recording = Recording::local();
        let stream = pages(reqwest::Client::new(), base);
        let (items, ahead) = read_all(stream, Duration::from_millis(5), &served)
            .await
            .unwrap();
        assert_eq!(items, (0..4 * PAGE_SIZE).collect::<Vec<_>>());
        assert_eq!(
            ahead, 1,
            "the server never served beyond the page being read"
        );
        let spans = recording.finish();
        assert_eq!(spans.named(&["fetch"]).len(), 4);
        assert_eq!(most_ahead(&spans), 1);
    }

    #[tokio::test]
    async fn a_stream_fetches_nothing_until_read_a_task_fetches_everything() {
        let (base, served) = server().await;
        let client = reqwest::Client::new();
        let idle = pages(client.clone(), base.clone());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            served.load(Ordering::SeqCst),
            0,
            "not polled: nothing fetched"
        );
        let mut ahead = std::pin::pin!(prefetched(pages(client, base)));
        while served.load(Ordering::SeqCst) < 4 {
            tokio::time::sleep(Duration::from_millis(1)).await; // nobody reads `ahead`
        }
        assert_eq!(
            ahead.next().await.unwrap().unwrap(),
            (0..PAGE_SIZE).collect::<Vec<_>>()
        );
        drop(idle);
    }

    #[tokio::test]
    async fn a_failed_fetch_is_yielded_once_then_the_stream_ends() {
        let mut stream = std::pin::pin!(pages(reqwest::Client::new(), "http://127.0.0.1:1".into()));
        assert!(stream.next().await.unwrap().is_err());
        assert!(stream.next().await.is_none());
    }
}
