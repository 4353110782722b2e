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
//! thread (the `spawn_rayon` bridge of `cpu-offload`, again here so this file stands alone);
//! results go through another bounded channel to a task that writes a line per page with
//! `tokio::fs`. What a page's CPU work is comes in as a closure. When a
//! channel is full, `send(...).await` waits, so a slow stage slows the one before it
//! instead of piling pages up in memory. The whole pipeline is three futures joined on
//! one event-loop thread, plus rayon's threads.
//!
//! Watch: the same job three ways. All-async (the CPU work inline on the loop) cannot
//! overlap computing with fetching nor use the second core; all-threads (8 threads doing
//! blocking fetch + compute) comes closer but costs a thread per concurrent request; the
//! pipeline is usually the fastest (the takeaway says whether it beat all-async in this run).
//! Fetching outruns computing here, yet the pipeline never holds more pages than its
//! channels and workers allow (read from the `fetch` and `write` spans, printed with that
//! bound). In the timeline, fetching, computing and writing overlap.
//!
//! Run only this: cargo run -p hybrid-demo -- pipeline
//! Copy it: cargo add anyhow@1 axum@0.8 futures@0.3 rayon@1 tracing@0.1 && cargo add reqwest@0.13 --no-default-features --features blocking && cargo add tokio@1 --features full

use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use futures::{StreamExt, TryStreamExt, stream};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

/// How the pipeline is sized: `pages` pages, `fetchers` requests in flight at once (and
/// threads, in the all-threads version), `channel` the capacity of each channel between stages.
#[derive(Clone, Copy, Debug)]
pub struct Job {
    pub pages: u64,
    pub fetchers: usize,
    pub channel: usize,
}

impl Job {
    /// The most pages the hybrid pipeline can hold at once, whatever the speeds: the
    /// fetches in flight, both channels, one page per rayon thread, and one page in hand
    /// at each of the three stages. Backpressure is what makes this a bound.
    pub fn max_held(&self, rayon_threads: usize) -> usize {
        self.fetchers + 2 * self.channel + rayon_threads + 3
    }
}

/// A fetched page.
pub struct Page {
    pub id: u64,
    pub body: Vec<u8>,
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

/// `cpu-offload`'s bridge: run `job` on rayon, await its answer; a panic comes back as an
/// error (inside `rayon::spawn` it would abort the process).
async fn on_rayon<T: Send + 'static>(
    job: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<T> {
    let (tx, rx) = oneshot::channel();
    rayon::spawn(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(job)));
    });
    rx.await?.map_err(|_| anyhow!("the CPU work panicked"))
}

/// The hybrid pipeline. `base` is the server's address (`http://127.0.0.1:PORT`), `work`
/// what the CPU stage makes of a page; each result is written to `out` as a line. Returns
/// the results in the order the write stage saw them.
pub async fn pipeline<T, W>(job: Job, base: &str, out: &Path, work: W) -> anyhow::Result<Vec<T>>
where
    W: Fn(Page) -> T + Send + Sync + 'static,
    T: Display + Send + 'static,
{
    let client = reqwest::Client::new();
    let work = Arc::new(work); // shared by the rayon jobs
    let (page_tx, mut page_rx) = mpsc::channel::<Page>(job.channel);
    let (done_tx, mut done_rx) = mpsc::channel::<(u64, T)>(job.channel);

    // Stage 1, async I/O: `job.fetchers` requests in flight; a full channel pauses it.
    let fetch_stage = async move {
        stream::iter(0..job.pages)
            .map(|id| fetch(&client, base, id).instrument(tracing::info_span!("fetch", page = id)))
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
                let work = Arc::clone(&work);
                on_rayon(move || {
                    let id = page.id;
                    let _span = tracing::info_span!("process", page = id).entered();
                    (id, work(page))
                })
            })
            .buffer_unordered(rayon::current_num_threads())
            .try_for_each(|done| {
                let done_tx = done_tx.clone();
                async move {
                    done_tx
                        .send(done)
                        .await
                        .map_err(|_| anyhow!("the write stage stopped"))
                }
            })
            .await
    };

    // Stage 3, async I/O: one line per page.
    let write_stage = async move {
        let file = tokio::fs::File::create(out)
            .await
            .with_context(|| format!("creating {}", out.display()))?;
        let mut file = tokio::io::BufWriter::new(file);
        let mut seen = Vec::new();
        while let Some((id, result)) = done_rx.recv().await {
            file.write_all(format!("{result}\n").as_bytes())
                .instrument(tracing::info_span!("write", page = id))
                .await?;
            seen.push(result);
        }
        file.flush().await?;
        anyhow::Ok(seen)
    };

    let ((), (), seen) = tokio::try_join!(fetch_stage, cpu_stage, write_stage)?;
    Ok(seen)
}

/// The same job all-async: fetch `job.fetchers` at a time and compute inline, on the event loop.
pub async fn all_async<T, W>(job: Job, base: &str, out: &Path, work: W) -> anyhow::Result<Vec<T>>
where
    W: Fn(Page) -> T,
    T: Display,
{
    let client = reqwest::Client::new();
    let seen: Vec<T> = stream::iter(0..job.pages)
        .map(|id| fetch(&client, base, id))
        .buffer_unordered(job.fetchers)
        .map_ok(&work) // blocks the loop while it computes
        .try_collect()
        .await?;
    let text: String = seen.iter().map(|r| format!("{r}\n")).collect();
    tokio::fs::write(out, text).await?;
    Ok(seen)
}

/// The same job all-threads: `job.fetchers` threads, each a blocking fetch, then the work.
pub fn all_threads<T, W>(job: Job, base: &str, out: &Path, work: W) -> anyhow::Result<Vec<T>>
where
    W: Fn(Page) -> T + Sync,
    T: Display + Send,
{
    // `Client::new()` and `s.spawn` panic when the OS refuses a thread (a process limit):
    // their `Builder`s return the error instead.
    let client = reqwest::blocking::Client::builder()
        .build()
        .context("starting the blocking HTTP client")?;
    let next = AtomicU64::new(0);
    let seen = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        let workers = (0..job.fetchers)
            .map(|_| {
                std::thread::Builder::new().spawn_scoped(s, || -> anyhow::Result<()> {
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
                        let result = work(Page {
                            id,
                            body: body.to_vec(),
                        });
                        seen.lock().unwrap().push(result);
                    }
                })
            })
            .collect::<std::io::Result<Vec<_>>>()
            .context("starting a fetch thread")?;
        workers
            .into_iter()
            .try_for_each(|w| w.join().map_err(|_| anyhow!("a worker panicked"))?)
    })?;
    let seen = seen.into_inner().unwrap(); // poisoned only if a worker panicked: reported above
    std::fs::write(
        out,
        seen.iter().map(|r| format!("{r}\n")).collect::<String>(),
    )?;
    Ok(seen)
}

/// A server for the pipeline to fetch from, on 127.0.0.1 (nothing leaves the machine):
/// `/files/{id}` answers `size` bytes after `latency`, as a slow site would.
pub async fn serve_files(latency: Duration, size: usize) -> std::io::Result<String> {
    use axum::extract::Path;
    let file = move |Path(id): Path<u64>| async move {
        tokio::time::sleep(latency).await;
        vec![id as u8; size]
    };
    let app = axum::Router::new().route("/files/{id}", axum::routing::get(file));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(base)
}

/// 24 pages of 16 KiB, 40 ms each, through the pipeline; the CPU stage adds up each page's
/// bytes (a stand-in for parsing it).
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let base = serve_files(Duration::from_millis(40), 16 * 1024).await?;
    let job = Job {
        pages: 24,
        fetchers: 8,
        channel: 4,
    };
    let out = std::env::temp_dir().join(format!("pipeline-{}.txt", std::process::id()));
    let start = Instant::now();
    let sums = pipeline(job, &base, &out, |page: Page| {
        page.body.iter().map(|&b| u64::from(b)).sum::<u64>()
    })
    .await?;
    let lines = std::fs::read_to_string(&out)?.lines().count();
    std::fs::remove_file(&out)?;
    println!(
        "{} pages from {base}, summed on rayon, {lines} lines written, in {:.0?}",
        sums.len(),
        start.elapsed()
    );
    Ok(())
}

// --- run and measure ---

use std::collections::{BTreeMap, BTreeSet};
use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::fixture::{ServerConfig, TestServer};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recorded, Recording, Span};
use common::timing::{Secs, speedup, timed, timed_async};
use common::workload::{sum_of_squares_expected, sum_of_squares_in, verify_file};

pub const SECTION: Section = Section::new(
    "pipeline",
    "asyncio.Queue(maxsize) stages + run_in_executor",
    "fetch -> CPU on rayon -> write, over bounded channels",
    run,
)
.main(|| main().report());

const JOB: Job = Job {
    pages: 40,
    fetchers: 8,
    channel: 4,
};
/// Page `i`'s CPU work: the sum of squares of `i * SPAN .. (i + 1) * SPAN` (a stand-in
/// for parsing). The total is known in advance.
const SPAN: u64 = 8_000_000;
const LATENCY: Duration = Duration::from_millis(40);
const PAGE_SIZE: usize = 16 * 1024;

/// What the CPU stage makes of a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Processed {
    pub id: u64,
    pub squares: u64,
    pub body_ok: bool,
}

impl Display for Processed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "page {} sum of squares {}", self.id, self.squares)
    }
}

/// The CPU work on one page: check its bytes, sum its squares.
fn processor(span: u64) -> impl Fn(Page) -> Processed + Send + Sync + Clone + 'static {
    move |page| {
        let from = page.id * span;
        Processed {
            id: page.id,
            squares: sum_of_squares_in(from..from + span),
            body_ok: verify_file(page.id, PAGE_SIZE, &page.body),
        }
    }
}

/// Every page exactly once, every body intact, the known total, one line per page
/// in the written file.
pub fn check(job: Job, span: u64, seen: &[Processed], out: &Path) -> anyhow::Result<()> {
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
    let expected = sum_of_squares_expected(job.pages * span);
    anyhow::ensure!(
        total == expected,
        "sum of squares {total}, expected {expected}"
    );
    let written = std::fs::read_to_string(out)?.lines().count() as u64;
    anyhow::ensure!(written == job.pages, "{written} lines written");
    Ok(())
}

/// Pages held at once, at most: a page is held from the start of its fetch to the end of
/// its write (read from the `fetch` and `write` spans).
fn most_held(spans: &Recorded) -> usize {
    let mut life: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for s in spans.spans() {
        let Some(page) = s.field("page") else {
            continue;
        };
        let entry = life.entry(page.to_owned()).or_insert((u64::MAX, 0));
        match s.name {
            "fetch" => entry.0 = entry.0.min(s.start_us),
            "write" => entry.1 = entry.1.max(s.end_us),
            _ => {}
        }
    }
    let mut edges: Vec<(u64, i64)> = life
        .values()
        .flat_map(|&(start, end)| [(start, 1), (end.max(start), -1)])
        .collect();
    edges.sort(); // at equal times the end (-1) comes first
    let (mut now, mut most) = (0i64, 0i64);
    for (_, step) in edges {
        now += step;
        most = most.max(now);
    }
    most as usize
}

/// Whether some page was being computed while another was being fetched.
fn stages_overlap(spans: &Recorded) -> bool {
    let fetches = spans.named(&["fetch"]);
    spans.named(&["process"]).spans().iter().any(|p| {
        fetches
            .spans()
            .iter()
            .any(|f| f.start_us < p.end_us && p.start_us < f.end_us)
    })
}

/// The pipeline's timeline: fetching, each rayon thread, writing.
fn print_stages(spans: &Recorded) {
    let chart = spans.named(&["process"]).timeline(Lanes::Thread);
    chart.extend(
        spans
            .named(&["fetch", "write"])
            .spans()
            .iter()
            .map(|s| Span {
                lane: format!("{} (async)", s.name),
                label: s.name.to_owned(),
                start_us: s.start_us,
                end_us: s.end_us,
            }),
    );
    chart.print();
}

/// Make sure `n` more threads can run at once, or say so in one line. The all-threads run
/// starts `JOB.fetchers` at once, beside the blocking HTTP client's and tokio's file
/// threads; under a process limit (`ulimit -u`) tokio's `spawn_blocking` panics when the
/// OS refuses a thread, so the threads are asked for (and given back) first.
fn ensure_threads(n: usize) -> anyhow::Result<()> {
    let gate = std::sync::RwLock::new(());
    let closed = gate.write().unwrap_or_else(|e| e.into_inner());
    std::thread::scope(|s| {
        let wait = || drop(gate.read());
        let threads: Result<Vec<_>, _> = (0..n)
            .map(|_| std::thread::Builder::new().spawn_scoped(s, wait))
            .collect();
        drop(closed); // every thread started ends now
        let error = |e| {
            anyhow!(
                "this section needs {n} more threads at once: {e} (a process limit? see ulimit -u)"
            )
        };
        threads.map(drop).map_err(error)
    })
}

/// What the section measured: each shape's time, and the pipeline's spans.
struct Figures {
    t_async: Duration,
    t_threads: Duration,
    t_hybrid: Duration,
    spans: Recorded,
    served: u64,
}

/// The same job three ways against one local server (40 ms a page), each result checked.
fn measure() -> anyhow::Result<Figures> {
    // rayon's threads named `rayon-0`, `rayon-1`...: the timeline's lanes (only possible
    // before the global pool first runs: an earlier section may have started it).
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("rayon-{i}"))
        .build_global()
    {
        // Already started is fine; no threads to be had (a process limit) is not: left
        // alone, rayon's first use would panic with it.
        anyhow::ensure!(
            e.to_string().contains("already been initialized"),
            "starting rayon's threads: {e}"
        );
    }
    let server = TestServer::start(
        ServerConfig::default()
            .with_latency(LATENCY)
            .with_body_size(PAGE_SIZE),
    )?;
    let base = server.url("");
    ensure_threads(JOB.fetchers + 4)?;
    let dir = tempfile::tempdir()?;
    // One event-loop thread, as in asyncio; rayon adds one thread per core.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    let out = dir.path().join("async.txt");
    let (seen, t_async) =
        runtime.block_on(timed_async(all_async(JOB, &base, &out, processor(SPAN))));
    check(JOB, SPAN, &seen?, &out).context("all-async")?;
    let out = dir.path().join("threads.txt");
    let (seen, t_threads) = timed(|| all_threads(JOB, &base, &out, processor(SPAN)));
    check(JOB, SPAN, &seen?, &out).context("all-threads")?;
    rayon::broadcast(|_| ()); // start rayon's threads now, not inside the measurement
    let out = dir.path().join("hybrid.txt");
    let recording = Recording::start();
    let (seen, t_hybrid) =
        runtime.block_on(timed_async(pipeline(JOB, &base, &out, processor(SPAN))));
    let spans = recording.finish().named(&["fetch", "process", "write"]);
    check(JOB, SPAN, &seen?, &out).context("hybrid pipeline")?;
    let served = server.requests_served();
    anyhow::ensure!(
        served == 3 * JOB.pages,
        "the server answered {served} requests"
    );
    Ok(Figures {
        t_async,
        t_threads,
        t_hybrid,
        spans,
        served,
    })
}

fn run() -> SectionResult {
    let (pages, latency, fetchers, channel) = (JOB.pages, Secs(LATENCY), JOB.fetchers, JOB.channel);
    println!("  {pages} pages from a local server, {latency} each, {fetchers} fetches in flight,");
    println!("  channels of {channel}; CPU: the squares of {SPAN} numbers a page");
    let f = measure()?;
    let held = most_held(&f.spans);
    let bound = JOB.max_held(rayon::current_num_threads());
    let within = (1..=bound).contains(&held);
    anyhow::ensure!(within, "{held} pages held at once, bound {bound}");
    let speedup = speedup(f.t_async, f.t_hybrid);
    figure("all-async, CPU on the loop", Secs(f.t_async));
    figure(
        format!("all-threads ({fetchers} threads)"),
        Secs(f.t_threads),
    );
    figure("the hybrid pipeline", Secs(f.t_hybrid));
    figure("  speedup over all-async", format!("{speedup:.2}x"));
    let held_of = format!("{held} of {pages}, fetch to write (bound: {bound})");
    figure("  most pages held at once", held_of);
    figure(
        "requests served",
        format!("{} (3 runs x {pages})", f.served),
    );
    println!("  the pipeline's stages (lanes: fetching, rayon threads, writing):");
    print_stages(&f.spans);
    takeaway_if(
        &Evidence::faster("the pipeline", f.t_hybrid, "all-async", f.t_async, 1.2)
            .and(Evidence::new(
                stages_overlap(&f.spans),
                "computing while fetching",
                "no process span overlapped a fetch span",
            ))
            .cpu(2),
        format!(
            "async for waiting, rayon for computing, bounded channels between: the stages overlap, {speedup:.2}x all-async's speed, at most {held} pages held"
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Job = Job {
        pages: 10,
        fetchers: 3,
        channel: 1,
    };
    const SMALL_SPAN: u64 = 1_000;

    /// The spans this test's thread made (its fetches and writes): other tests running at
    /// the same time make spans of the same names on their own threads.
    fn mine(recorded: &Recorded) -> Recorded {
        let me = std::thread::current().name().map(str::to_owned);
        recorded.filter(|s| Some(&s.thread) == me.as_ref())
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_pipeline_processes_every_page_exactly_once() {
        let server = TestServer::start_async(ServerConfig::default().with_body_size(PAGE_SIZE))
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.txt");
        let recording = Recording::start(); // global: rayon's threads too
        let seen = pipeline(SMALL, &server.url(""), &out, processor(SMALL_SPAN))
            .await
            .unwrap();
        let spans = mine(&recording.finish());
        check(SMALL, SMALL_SPAN, &seen, &out).unwrap();
        assert_eq!(
            server.requests_served(),
            SMALL.pages,
            "each page fetched once"
        );
        assert!(server.max_in_flight() <= SMALL.fetchers as u64);
        assert_eq!(spans.named(&["fetch"]).len(), SMALL.pages as usize);
        assert_eq!(spans.named(&["write"]).len(), SMALL.pages as usize);
        assert!(
            spans.named(&["process"]).is_empty(),
            "no CPU work on the loop's thread"
        );
        let held = most_held(&spans);
        assert!((1..=SMALL.max_held(rayon::current_num_threads())).contains(&held));
    }

    /// Fetching outruns computing (each page's work takes a while): one page per rayon
    /// thread is computed at a time, and the pages held stay within the bound.
    #[tokio::test(flavor = "current_thread")]
    async fn backpressure_bounds_the_pages_held() {
        let server = TestServer::start_async(ServerConfig::default().with_body_size(PAGE_SIZE))
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.txt");
        let job = Job { pages: 30, ..SMALL };
        let computing = std::sync::Arc::new(common::gauge::Gauge::new());
        let gauge = computing.clone();
        let recording = Recording::start();
        let seen = pipeline(job, &server.url(""), &out, move |page: Page| {
            let _inside = gauge.enter();
            std::thread::sleep(Duration::from_millis(2)); // slower than the fetches
            page.id
        })
        .await
        .unwrap();
        let spans = mine(&recording.finish());
        assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 30);
        assert!(computing.max() <= rayon::current_num_threads());
        let held = most_held(&spans);
        assert!(
            held <= job.max_held(rayon::current_num_threads()),
            "{held} pages held"
        );
        assert!(server.max_in_flight() <= job.fetchers as u64);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_other_two_shapes_give_the_same_answer() {
        let server = TestServer::start_async(ServerConfig::default().with_body_size(PAGE_SIZE))
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("async.txt");
        let seen = all_async(SMALL, &server.url(""), &out, processor(SMALL_SPAN))
            .await
            .unwrap();
        check(SMALL, SMALL_SPAN, &seen, &out).unwrap();
        drop(server);

        // Blocking reqwest must not run on the loop's thread: give it its own server.
        let result = tokio::task::spawn_blocking(move || {
            let server = TestServer::start(ServerConfig::default().with_body_size(PAGE_SIZE))?;
            let out = dir.path().join("threads.txt");
            let seen = all_threads(SMALL, &server.url(""), &out, processor(SMALL_SPAN))?;
            check(SMALL, SMALL_SPAN, &seen, &out)?;
            anyhow::Ok(server.requests_served())
        })
        .await
        .unwrap();
        assert_eq!(result.unwrap(), SMALL.pages);
    }

    #[test]
    fn most_held_counts_pages_from_fetch_to_write() {
        let recording = Recording::local();
        // Page 0 fetched and written, then pages 1 and 2 overlap: at most 2 held.
        for pages in [&[0u64][..], &[1, 2]] {
            let fetches: Vec<_> = pages
                .iter()
                .map(|&p| tracing::info_span!("fetch", page = p))
                .collect();
            let writes: Vec<_> = pages
                .iter()
                .map(|&p| tracing::info_span!("write", page = p))
                .collect();
            drop(fetches);
            drop(writes);
        }
        assert_eq!(most_held(&recording.finish()), 2);
    }

    #[test]
    fn check_rejects_a_missing_or_doubled_page() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.txt");
        let job = Job { pages: 2, ..SMALL };
        let page = |id, squares| Processed {
            id,
            squares,
            body_ok: true,
        };
        // 0..5 and 5..10: 0+1+4+9+16 = 30 and 25+36+49+64+81 = 255.
        let good = [page(0, 30), page(1, 255)];
        std::fs::write(
            &out,
            good.iter().map(|p| format!("{p}\n")).collect::<String>(),
        )
        .unwrap();
        check(job, 5, &good, &out).unwrap();
        assert!(check(job, 5, &[page(0, 30), page(0, 30)], &out).is_err());
        assert!(check(job, 5, &[page(0, 30), page(1, 254)], &out).is_err());
        assert!(check(job, 5, &[page(0, 285)], &out).is_err());
    }
}
