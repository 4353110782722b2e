//! `await loop.run_in_executor(None, blocking_io)` -> `tokio::task::spawn_blocking`.
//!
//! Python:
//!     def blocking_io(i):
//!         time.sleep(0.2)                   # a legacy call with no async version
//!         return i
//!     async def main():
//!         loop = asyncio.get_running_loop()
//!         results = await asyncio.gather(
//!             *(loop.run_in_executor(None, blocking_io, i) for i in range(4)))
//!
//! Rust: `spawn_blocking` moves the closure to tokio's blocking thread pool (threads are
//! created on demand, up to 512 by default, set with `Builder::max_blocking_threads`) and
//! returns a `JoinHandle` to await. The event loop's own thread stays free. Python's
//! default executor is smaller (`min(32, cpu_count + 4)` threads); in both, calls beyond
//! the pool's size wait in a queue. The pool is sized for calls that *wait*; CPU-bound work
//! belongs on rayon, one thread per core (see `cpu-offload`), and a resource of fixed size
//! behind the calls wants its own small pool (a database, see `database`). Tokio names
//! blocking threads like its workers (`tokio-runtime-worker`) unless the runtime says
//! otherwise: `Builder::thread_name("tokio-blocking")` makes logs and timelines tell them
//! apart (a current-thread runtime spawns no workers, so only its blocking threads get it).
//!
//! Watch: the same four blocking calls, first made directly inside the async code (the loop
//! freezes: its heartbeat is late by whole calls), then through `spawn_blocking` (the
//! heartbeat stays on time and the four calls overlap on four `tokio-blocking` threads),
//! then on a runtime whose blocking pool has only two threads (two rounds: twice the time).
//! `RUST_LOG=debug` prints each call's start and end with the name of the thread that ran it.
//!
//! Run only this: cargo run -p hybrid-demo -- run-in-executor
//! Copy it: cargo add tracing@0.1 && cargo add tokio@1 --features full

use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinError;

/// The legacy blocking call: a wait with no async version.
pub fn blocking_io(i: u64, wait: Duration) -> u64 {
    let _span = tracing::info_span!("call", i).entered();
    tracing::debug!("blocking call starts"); // RUST_LOG=debug: with the thread's name
    std::thread::sleep(wait);
    tracing::debug!("blocking call done");
    i * 10
}

/// Wrong: blocking calls made straight from async code run one after another on the loop,
/// which can do nothing else meanwhile.
pub async fn inline(calls: u64, wait: Duration) -> Vec<u64> {
    let mut results = Vec::new();
    for i in 0..calls {
        results.push(blocking_io(i, wait));
        tokio::task::yield_now().await;
    }
    results
}

/// Right: hand each call to the blocking pool and await them together.
pub async fn offloaded(calls: u64, wait: Duration) -> Result<Vec<u64>, JoinError> {
    let handles: Vec<_> = (0..calls)
        .map(|i| tokio::task::spawn_blocking(move || blocking_io(i, wait)))
        .collect();
    let mut results = Vec::new();
    for handle in handles {
        results.push(handle.await?);
    }
    Ok(results)
}

/// An event loop like asyncio's: one thread runs the async code, and a blocking pool of at
/// most `max_blocking_threads` threads (tokio's default: 512) runs `spawn_blocking` calls.
pub fn event_loop(max_blocking_threads: usize) -> std::io::Result<Runtime> {
    Builder::new_current_thread()
        .max_blocking_threads(max_blocking_threads)
        .thread_name("tokio-blocking") // else they are called `tokio-runtime-worker`
        .enable_all()
        .build()
}

/// The guide's four 200 ms calls: inline (one after another, the loop frozen meanwhile),
/// then through `spawn_blocking` (together).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = event_loop(512)?;
    runtime.block_on(async {
        let start = Instant::now();
        let results = inline(4, Duration::from_millis(200)).await;
        println!("inline: {results:?} in {:.0?}", start.elapsed());
        let start = Instant::now();
        let results = offloaded(4, Duration::from_millis(200)).await?;
        println!("spawn_blocking: {results:?} in {:.0?}", start.elapsed());
        Ok(())
    })
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recorded, Recording};
use common::timing::{Heartbeat, Secs, timed_async};

pub const SECTION: Section = Section::new(
    "run-in-executor",
    "await loop.run_in_executor(None, blocking_io)",
    "blocking calls on the blocking pool; the loop ticks on",
    run,
)
.main(|| main().report());

const CALLS: u64 = 4;
const BLOCKING: Duration = Duration::from_millis(200);
const TICK: Duration = Duration::from_millis(5);
/// Tokio's default size of the blocking pool.
const DEFAULT_POOL: usize = 512;
const SMALL_POOL: usize = 2;

/// How one way of making the calls looked: how long, and how late the loop's heartbeat got.
struct Observed {
    took: Duration,
    late: Duration,
}

/// Run `calls` on the loop while a heartbeat ticks every TICK; check its results.
async fn observe(
    calls: impl Future<Output = anyhow::Result<Vec<u64>>>,
) -> anyhow::Result<Observed> {
    let heartbeat = Heartbeat::start(TICK);
    tokio::time::sleep(2 * TICK).await; // the heartbeat is ticking before the calls start
    let (results, took) = timed_async(calls).await;
    tokio::time::sleep(Duration::from_millis(1)).await; // let the last late tick fire
    let expected: Vec<u64> = (0..CALLS).map(|i| i * 10).collect();
    anyhow::ensure!(results? == expected, "wrong results");
    let late = heartbeat.worst_lateness();
    Ok(Observed { took, late })
}

/// The calls inline, then offloaded (their spans recorded), on a loop with tokio's default pool.
fn on_default_pool() -> anyhow::Result<(Observed, Observed, Recorded)> {
    event_loop(DEFAULT_POOL)?.block_on(async {
        let on_loop = observe(async { Ok(inline(CALLS, BLOCKING).await) }).await?;
        let recording = Recording::start();
        let on_pool = observe(async { Ok(offloaded(CALLS, BLOCKING).await?) }).await?;
        Ok((on_loop, on_pool, recording.finish().named(&["call"])))
    })
}

pub fn run() -> SectionResult {
    let (on_loop, on_pool, calls) = on_default_pool()?;
    let recording = Recording::start();
    let (results, small) =
        event_loop(SMALL_POOL)?.block_on(timed_async(offloaded(CALLS, BLOCKING)));
    let threads = recording
        .finish()
        .named(&["call"])
        .lane_count(Lanes::ThreadId);
    let all_there = results?.len() == CALLS as usize;
    anyhow::ensure!(
        all_there && threads <= SMALL_POOL,
        "small pool: {threads} threads"
    );
    for (how, o) in [("inline", &on_loop), ("via spawn_blocking", &on_pool)] {
        figure(format!("{CALLS} calls {how}"), Secs(o.took));
        figure("  heartbeat worst lateness", Secs(o.late));
    }
    println!("  the calls on the blocking pool (one lane per thread):");
    calls.print(Lanes::ThreadId);
    figure(
        format!("{CALLS} calls, a pool of {SMALL_POOL}"),
        format!("{} on {threads} threads", Secs(small)),
    );
    let rounds = CALLS.div_ceil(SMALL_POOL as u64) as u32;
    let evidence = Evidence::new(
        on_loop.late >= BLOCKING * 9 / 10,
        format!("inline, the heartbeat late by a whole call ({})", Secs(BLOCKING)),
        format!("{} late", Secs(on_loop.late)),
    )
    .and(Evidence::new(
        on_pool.late < BLOCKING / 4,
        format!("with spawn_blocking, the heartbeat within {}", Secs(BLOCKING / 4)),
        format!("{} late", Secs(on_pool.late)),
    ))
    .and(Evidence::new(
        on_pool.took < BLOCKING * 2 && small >= BLOCKING * rounds,
        format!(
            "the {CALLS} calls overlapping (under {}), {rounds} rounds on {SMALL_POOL} threads (at least {})",
            Secs(BLOCKING * 2),
            Secs(BLOCKING * rounds)
        ),
        format!("{} and {}", Secs(on_pool.took), Secs(small)),
    ))
    .cpu(1);
    takeaway_if(
        &evidence,
        "spawn_blocking is run_in_executor: blocking work leaves the loop, which keeps ticking",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::{Mutex, PoisonError};

    use super::*;

    const WAIT: Duration = Duration::from_millis(5);

    /// The tests that record `call` spans from every thread take turns.
    static CALL_SPANS: Mutex<()> = Mutex::new(());

    #[test]
    fn offloaded_calls_return_in_order_on_named_blocking_threads() {
        let _turn = CALL_SPANS.lock().unwrap_or_else(PoisonError::into_inner);
        let recording = Recording::start();
        let results = event_loop(DEFAULT_POOL)
            .unwrap()
            .block_on(offloaded(CALLS, WAIT))
            .unwrap();
        let calls = recording.finish().named(&["call"]);
        assert_eq!(results, [0, 10, 20, 30]);
        assert_eq!(calls.len(), CALLS as usize);
        // Not on the loop's thread (this test's own), on the blocking pool, named as such.
        assert!(
            calls.spans().iter().all(|s| s.thread == "tokio-blocking"),
            "every call ran on a blocking thread: {:?}",
            calls.spans()
        );
    }

    #[test]
    fn a_smaller_blocking_pool_uses_fewer_threads() {
        let _turn = CALL_SPANS.lock().unwrap_or_else(PoisonError::into_inner);
        let recording = Recording::start();
        let results = event_loop(2)
            .unwrap()
            .block_on(offloaded(CALLS, WAIT))
            .unwrap();
        let threads = recording
            .finish()
            .named(&["call"])
            .lane_count(Lanes::ThreadId);
        assert_eq!(results, [0, 10, 20, 30]);
        assert!(
            (1..=2).contains(&threads),
            "{threads} threads for a pool of 2"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn inline_calls_run_on_the_loop_thread() {
        let recording = Recording::local();
        assert_eq!(inline(CALLS, WAIT).await, [0, 10, 20, 30]);
        let calls = recording.finish().named(&["call"]);
        assert_eq!(
            calls.len(),
            CALLS as usize,
            "the loop's thread saw every call"
        );
    }
}
