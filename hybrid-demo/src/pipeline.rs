//! A fetch -> process -> write pipeline: async I/O at both ends, CPU work on rayon in the
//! middle, bounded channels between the stages.
//!
//! Python:
//!     pages = asyncio.Queue(maxsize=4)                 # backpressure between stages
//!     async def fetcher(session, ids):
//!         for i in ids:
//!             async with session.get(f"{base}/files/{i}") as r:
//!                 await pages.put((i, await r.read()))  # waits while the queue is full
//!     async def processor(pool):                     # one per pool thread
//!         while True:
//!             i, body = await pages.get()
//!             result = await loop.run_in_executor(pool, crunch, i, body)
//!             await results.put(result)
//!     # ... a writer task drains `results` into a file with aiofiles
//!
//! Rust: reqwest (async) fetches 8 pages at a time; each page goes through a bounded
//! `tokio::sync::mpsc` channel to the CPU stage, which runs at most one page per rayon
//! thread (the `spawn_rayon` bridge of `cpu-offload`); results go through another bounded
//! channel to a task that aggregates them and writes a file with `tokio::fs`. When a
//! channel is full, `send(...).await` waits, so a slow stage slows the one before it
//! instead of piling pages up in memory. The whole pipeline is three futures joined on
//! one event-loop thread, plus rayon's threads.
//!
//! Watch: the same job three ways. All-async (the CPU work inline on the loop) cannot
//! overlap computing with fetching nor use the second core; all-threads (8 threads doing
//! blocking fetch + compute) comes closer but costs a thread per concurrent request; the
//! pipeline is usually the fastest. Fetching outruns computing here, yet the pipeline
//! never holds more pages than its channels and workers allow (printed with that bound).
//! In the timeline, fetching, computing and writing overlap.
//!
//! Run only this: cargo run -p hybrid-demo -- pipeline

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow};
use common::cli::{SectionResult, figure, takeaway};
use common::fixture::{ServerConfig, TestServer};
use common::timeline::{Timeline, thread_id_lane};
use common::timing::{Secs, speedup, timed, timed_async};
use common::workload::{sum_of_squares_expected, sum_of_squares_in, verify_file};
use futures::{StreamExt, TryStreamExt, stream};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::cpu_offload::spawn_rayon;

/// The job: fetch `pages` pages, and for page `i` check its bytes and sum the squares of
/// `i * span .. (i + 1) * span` (a stand-in for parsing). The total is known in advance.
#[derive(Clone, Copy, Debug)]
pub struct Job {
    pub pages: u64,
    pub span: u64,
    /// Fetches in flight at once (and threads, in the all-threads version).
    pub fetchers: usize,
    /// Capacity of each channel between stages.
    pub channel: usize,
}

const JOB: Job = Job {
    pages: 40,
    span: 8_000_000,
    fetchers: 8,
    channel: 4,
};
const LATENCY: Duration = Duration::from_millis(40);
const PAGE_SIZE: usize = 16 * 1024;

impl Job {
    /// The most pages the hybrid pipeline can hold at once, whatever the speeds: the
    /// fetches in flight, both channels, one page per rayon thread, and one page in hand
    /// at each of the three stages. Backpressure is what makes this a bound.
    pub fn max_held(&self, rayon_threads: usize) -> usize {
        self.fetchers + 2 * self.channel + rayon_threads + 3
    }
}

/// Counts pages that are fetched but not yet written, and the most there ever were.
#[derive(Debug, Default)]
pub struct Held {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Held {
    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
    }

    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }

    pub fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

/// A fetched page.
pub struct Page {
    id: u64,
    body: Vec<u8>,
}

/// What the CPU stage makes of a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Processed {
    pub id: u64,
    pub squares: u64,
    pub body_ok: bool,
}

/// The CPU stage's work on one page.
fn process(page: &Page, span: u64) -> Processed {
    let from = page.id * span;
    Processed {
        id: page.id,
        squares: sum_of_squares_in(from..from + span),
        body_ok: verify_file(page.id, PAGE_SIZE, &page.body),
    }
}

fn line(p: &Processed) -> String {
    format!("page {} sum of squares {}\n", p.id, p.squares)
}

async fn fetch(client: &reqwest::Client, base: &str, id: u64) -> anyhow::Result<Page> {
    let url = format!("{base}/files/{id}");
    let body = client
        .get(&url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .with_context(|| format!("GET {url}"))?
        .bytes()
        .await?;
    Ok(Page {
        id,
        body: body.to_vec(),
    })
}

/// The hybrid pipeline. `base` is the server's address (`http://127.0.0.1:PORT`).
/// Returns what the write stage saw, in the order it saw it; `held` counts the pages
/// between fetched and written.
pub async fn pipeline(
    job: Job,
    base: &str,
    out: &Path,
    timeline: &Timeline,
    held: &Held,
) -> anyhow::Result<Vec<Processed>> {
    let client = reqwest::Client::new();
    let (page_tx, mut page_rx) = mpsc::channel::<Page>(job.channel);
    let (done_tx, mut done_rx) = mpsc::channel::<Processed>(job.channel);

    // Stage 1, async I/O: `job.fetchers` requests in flight; a full channel pauses it.
    let fetch_stage = async move {
        stream::iter(0..job.pages)
            .map(|id| {
                let client = &client;
                async move {
                    let _span = timeline.span("fetch (async)", format!("page {id}"));
                    let page = fetch(client, base, id).await?;
                    held.enter();
                    anyhow::Ok(page)
                }
            })
            .buffer_unordered(job.fetchers)
            .try_for_each(|page| {
                let page_tx = page_tx.clone();
                async move {
                    page_tx
                        .send(page)
                        .await
                        .map_err(|_| anyhow!("the CPU stage stopped"))
                }
            })
            .await
        // page_tx is dropped here: the CPU stage sees the end of the stream.
    };

    // Stage 2, CPU: one page per rayon thread at a time, results onward.
    let cpu_stage = async move {
        let pages = stream::poll_fn(|cx| page_rx.poll_recv(cx));
        pages
            .map(|page| {
                let timeline = timeline.clone();
                spawn_rayon(move || {
                    let _span = timeline.span(thread_id_lane(), format!("page {}", page.id));
                    tracing::debug!(page = page.id, thread = %thread_id_lane(), "processing");
                    process(&page, job.span)
                })
            })
            .buffer_unordered(rayon::current_num_threads())
            .try_for_each(|processed| {
                let done_tx = done_tx.clone();
                async move {
                    done_tx
                        .send(processed)
                        .await
                        .map_err(|_| anyhow!("the write stage stopped"))
                }
            })
            .await
    };

    // Stage 3, async I/O: aggregate and write one line per page.
    let write_stage = async move {
        let file = tokio::fs::File::create(out)
            .await
            .with_context(|| format!("creating {}", out.display()))?;
        let mut file = tokio::io::BufWriter::new(file);
        let mut seen = Vec::new();
        while let Some(processed) = done_rx.recv().await {
            let _span = timeline.span("write (async)", format!("page {}", processed.id));
            file.write_all(line(&processed).as_bytes()).await?;
            seen.push(processed);
            held.leave();
        }
        file.flush().await?;
        anyhow::Ok(seen)
    };

    let ((), (), seen) = tokio::try_join!(fetch_stage, cpu_stage, write_stage)?;
    Ok(seen)
}

/// The same job all-async: fetch 8 at a time and compute inline, on the event loop.
pub async fn all_async(job: Job, base: &str, out: &Path) -> anyhow::Result<Vec<Processed>> {
    let client = reqwest::Client::new();
    let seen: Vec<Processed> = stream::iter(0..job.pages)
        .map(|id| fetch(&client, base, id))
        .buffer_unordered(job.fetchers)
        .map_ok(|page| process(&page, job.span)) // blocks the loop while it computes
        .try_collect()
        .await?;
    let text: String = seen.iter().map(line).collect();
    tokio::fs::write(out, text).await?;
    Ok(seen)
}

/// The same job all-threads: `job.fetchers` threads, each blocking fetch + compute.
pub fn all_threads(job: Job, base: &str, out: &Path) -> anyhow::Result<Vec<Processed>> {
    let client = reqwest::blocking::Client::new();
    let next = AtomicU64::new(0);
    let seen = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..job.fetchers)
            .map(|_| {
                s.spawn(|| -> anyhow::Result<()> {
                    loop {
                        let id = next.fetch_add(1, Ordering::Relaxed);
                        if id >= job.pages {
                            return Ok(());
                        }
                        let url = format!("{base}/files/{id}");
                        let body = client
                            .get(&url)
                            .send()
                            .and_then(|r| r.error_for_status())
                            .and_then(|r| r.bytes())
                            .with_context(|| format!("GET {url}"))?;
                        let page = Page {
                            id,
                            body: body.to_vec(),
                        };
                        let processed = process(&page, job.span);
                        seen.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(processed);
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().map_err(|_| anyhow!("a worker panicked"))?)
    })?;
    let seen = seen.into_inner().unwrap_or_else(|e| e.into_inner());
    std::fs::write(out, seen.iter().map(line).collect::<String>())?;
    Ok(seen)
}

/// Every page exactly once, every body intact, the known total, one line per page
/// in the written file.
pub fn check(job: Job, seen: &[Processed], out: &Path) -> anyhow::Result<()> {
    let ids: BTreeSet<u64> = seen.iter().map(|p| p.id).collect();
    anyhow::ensure!(
        seen.len() as u64 == job.pages && ids == (0..job.pages).collect(),
        "{} results for {} distinct pages, {} expected",
        seen.len(),
        ids.len(),
        job.pages
    );
    anyhow::ensure!(seen.iter().all(|p| p.body_ok), "a page arrived damaged");
    let total = seen.iter().map(|p| p.squares).fold(0, u64::wrapping_add);
    let expected = sum_of_squares_expected(job.pages * job.span);
    anyhow::ensure!(
        total == expected,
        "sum of squares {total}, expected {expected}"
    );
    let written = std::fs::read_to_string(out)?;
    anyhow::ensure!(
        written.lines().count() as u64 == job.pages,
        "{} lines written",
        written.lines().count()
    );
    Ok(())
}

pub fn run() -> SectionResult {
    let server = TestServer::start(
        ServerConfig::default()
            .with_latency(LATENCY)
            .with_body_size(PAGE_SIZE),
    )?;
    let base = server.url("");
    let dir = tempfile::tempdir()?;
    // One event-loop thread, as in asyncio; rayon adds one thread per core.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!(
        "  {} pages, {} latency each, {} fetches in flight, channels of {}; CPU: squares of {} numbers per page",
        JOB.pages,
        Secs(LATENCY),
        JOB.fetchers,
        JOB.channel,
        JOB.span
    );

    let out = dir.path().join("async.txt");
    let (seen, t_async) = runtime.block_on(timed_async(all_async(JOB, &base, &out)));
    check(JOB, &seen?, &out).context("all-async")?;

    let out = dir.path().join("threads.txt");
    let (seen, t_threads) = timed(|| all_threads(JOB, &base, &out));
    check(JOB, &seen?, &out).context("all-threads")?;

    rayon::broadcast(|_| ()); // start rayon's threads now, not inside the measurement
    let out = dir.path().join("hybrid.txt");
    let timeline = Timeline::new();
    let held = Held::default();
    let (seen, t_hybrid) =
        runtime.block_on(timed_async(pipeline(JOB, &base, &out, &timeline, &held)));
    check(JOB, &seen?, &out).context("hybrid pipeline")?;

    figure("all-async (CPU on the loop)", Secs(t_async));
    figure(
        format!("all-threads ({} threads)", JOB.fetchers),
        Secs(t_threads),
    );
    figure("pipeline: async+rayon+async", Secs(t_hybrid));
    figure(
        "  speedup over all-async",
        format!("{:.2}x", speedup(t_async, t_hybrid)),
    );
    let served = server.requests_served();
    anyhow::ensure!(
        served == 3 * JOB.pages,
        "the server answered {served} requests"
    );
    figure(
        "  most pages held at once",
        format!(
            "{} of {} (bound: {})",
            held.max(),
            JOB.pages,
            JOB.max_held(rayon::current_num_threads())
        ),
    );
    figure(
        "requests the server answered",
        format!("{served} (3 runs x {})", JOB.pages),
    );
    println!("  the pipeline's stages (lanes: fetching, rayon threads, writing):");
    timeline.print();
    takeaway(
        "async for waiting, rayon for computing, bounded channels between: the stages overlap and memory stays bounded",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Job = Job {
        pages: 10,
        span: 1_000,
        fetchers: 3,
        channel: 1,
    };

    #[tokio::test(flavor = "current_thread")]
    async fn the_pipeline_processes_every_page_exactly_once() {
        let server = TestServer::start_async(ServerConfig::default().with_body_size(PAGE_SIZE))
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.txt");
        let timeline = Timeline::new();
        let held = Held::default();
        let seen = pipeline(SMALL, &server.url(""), &out, &timeline, &held)
            .await
            .unwrap();
        check(SMALL, &seen, &out).unwrap();
        assert!(held.max() >= 1);
        assert!(held.max() <= SMALL.max_held(rayon::current_num_threads()));
        assert_eq!(
            server.requests_served(),
            SMALL.pages,
            "each page fetched once"
        );
        assert!(server.max_in_flight() <= SMALL.fetchers as u64);
        let lanes: BTreeSet<String> = timeline.spans().into_iter().map(|s| s.lane).collect();
        assert!(lanes.contains("fetch (async)") && lanes.contains("write (async)"));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_other_two_shapes_give_the_same_answer() {
        let server = TestServer::start_async(ServerConfig::default().with_body_size(PAGE_SIZE))
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("async.txt");
        let seen = all_async(SMALL, &server.url(""), &out).await.unwrap();
        check(SMALL, &seen, &out).unwrap();
        drop(server);

        // Blocking reqwest must not run on the loop's thread: give it its own server.
        let result = tokio::task::spawn_blocking(move || {
            let server = TestServer::start(ServerConfig::default().with_body_size(PAGE_SIZE))?;
            let out = dir.path().join("threads.txt");
            let seen = all_threads(SMALL, &server.url(""), &out)?;
            check(SMALL, &seen, &out)?;
            anyhow::Ok(server.requests_served())
        })
        .await
        .unwrap();
        assert_eq!(result.unwrap(), SMALL.pages);
    }

    #[test]
    fn check_rejects_a_missing_or_doubled_page() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.txt");
        let job = Job {
            pages: 2,
            span: 5,
            ..SMALL
        };
        let page = |id, squares| Processed {
            id,
            squares,
            body_ok: true,
        };
        // 0..5 and 5..10: 0+1+4+9+16 = 30 and 25+36+49+64+81 = 255.
        let good = [page(0, 30), page(1, 255)];
        std::fs::write(&out, good.iter().map(line).collect::<String>()).unwrap();
        check(job, &good, &out).unwrap();
        assert!(check(job, &[page(0, 30), page(0, 30)], &out).is_err());
        assert!(check(job, &[page(0, 30), page(1, 254)], &out).is_err());
        assert!(check(job, &[page(0, 285)], &out).is_err());
    }
}
