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

use std::time::Duration;

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

// --- run and measure ---

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recording};
use common::timing::{Heartbeat, Secs, timed_async};

pub const SECTION: Section = Section::new(
    "run-in-executor",
    "await loop.run_in_executor(None, blocking_io)",
    "blocking calls on tokio's blocking pool while the loop keeps ticking",
    run,
);

const CALLS: u64 = 4;
const BLOCKING: Duration = Duration::from_millis(200);
const TICK: Duration = Duration::from_millis(5);
/// Tokio's default size of the blocking pool.
const DEFAULT_POOL: usize = 512;
const SMALL_POOL: usize = 2;

pub fn run() -> SectionResult {
    let expected: Vec<u64> = (0..CALLS).map(|i| i * 10).collect();
    let runtime = event_loop(DEFAULT_POOL)?;
    let (late_inline, took_inline, late_offloaded, took_offloaded, calls) =
        runtime.block_on(async {
            let heartbeat = Heartbeat::start(TICK);
            tokio::time::sleep(2 * TICK).await; // the heartbeat is ticking before the calls start
            let (results, took_inline) = timed_async(inline(CALLS, BLOCKING)).await;
            tokio::time::sleep(Duration::from_millis(1)).await; // let the last late tick fire
            let late_inline = heartbeat.worst_lateness();
            drop(heartbeat);
            anyhow::ensure!(results == expected, "wrong results inline");

            let heartbeat = Heartbeat::start(TICK);
            tokio::time::sleep(2 * TICK).await;
            let recording = Recording::start();
            let (results, took_offloaded) = timed_async(offloaded(CALLS, BLOCKING)).await;
            let calls = recording.finish().named(&["call"]);
            let late_offloaded = heartbeat.worst_lateness();
            anyhow::ensure!(results? == expected, "wrong results from spawn_blocking");
            anyhow::Ok((
                late_inline,
                took_inline,
                late_offloaded,
                took_offloaded,
                calls,
            ))
        })?;
    drop(runtime);

    let small = event_loop(SMALL_POOL)?;
    let recording = Recording::start();
    let (results, took_small) = small.block_on(timed_async(offloaded(CALLS, BLOCKING)));
    let threads_used = recording
        .finish()
        .named(&["call"])
        .lane_count(Lanes::ThreadId);
    anyhow::ensure!(results? == expected, "wrong results from the small pool");
    anyhow::ensure!(
        threads_used <= SMALL_POOL,
        "{threads_used} threads ran the calls in a pool of {SMALL_POOL}"
    );

    figure(format!("{CALLS} calls inline"), Secs(took_inline));
    figure("  heartbeat worst lateness", Secs(late_inline));
    figure(
        format!("{CALLS} calls via spawn_blocking"),
        Secs(took_offloaded),
    );
    figure("  heartbeat worst lateness", Secs(late_offloaded));
    println!("  the calls on the blocking pool (one lane per thread):");
    calls.print(Lanes::ThreadId);
    figure(
        format!("{CALLS} calls, blocking pool of {SMALL_POOL}"),
        format!("{} on {threads_used} threads", Secs(took_small)),
    );
    let rounds = CALLS.div_ceil(SMALL_POOL as u64) as u32;
    let evidence = Evidence::new(
        late_inline >= BLOCKING * 9 / 10,
        format!(
            "inline, the heartbeat late by a whole call ({})",
            Secs(BLOCKING)
        ),
        format!("{} late", Secs(late_inline)),
    )
    .and(Evidence::new(
        late_offloaded < BLOCKING / 4,
        format!(
            "with spawn_blocking, the heartbeat within {}",
            Secs(BLOCKING / 4)
        ),
        format!("{} late", Secs(late_offloaded)),
    ))
    .and(Evidence::new(
        took_offloaded < BLOCKING * 2 && took_small >= BLOCKING * rounds,
        format!(
            "the {CALLS} calls overlapping (under {}), {rounds} rounds on {SMALL_POOL} threads (at least {})",
            Secs(BLOCKING * 2),
            Secs(BLOCKING * rounds)
        ),
        format!("{} and {}", Secs(took_offloaded), Secs(took_small)),
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
