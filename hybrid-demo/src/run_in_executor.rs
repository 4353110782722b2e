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
//! the pool's size wait in a queue. A dedicated pool (rayon, or your own threads) is
//! better for CPU-bound work (one thread per core, see `cpu-offload`) or when the resource
//! behind the calls has a fixed size (a database, see `database`).
//!
//! Watch: the same four blocking calls, first made directly inside the async code (the loop
//! freezes: its heartbeat is late by whole calls), then through `spawn_blocking` (the
//! heartbeat stays on time and the four calls overlap on four blocking threads), then on a
//! runtime whose blocking pool has only two threads (two rounds: twice the time).
//!
//! Run only this: cargo run -p hybrid-demo -- run-in-executor

use std::time::Duration;

use anyhow::Context;
use common::cli::{SectionResult, figure, takeaway};
use common::timeline::{Timeline, thread_id_lane};
use common::timing::{Heartbeat, Secs, timed_async};

const CALLS: u64 = 4;
const BLOCKING: Duration = Duration::from_millis(200);
const TICK: Duration = Duration::from_millis(5);

/// The legacy blocking call.
fn blocking_io(i: u64, timeline: &Timeline) -> u64 {
    timeline.record(thread_id_lane(), format!("call {i}"), || {
        std::thread::sleep(BLOCKING)
    });
    i * 10
}

/// Wrong: blocking calls made straight from async code run one after another on the loop.
async fn inline(timeline: &Timeline) -> Vec<u64> {
    let mut results = Vec::new();
    for i in 0..CALLS {
        results.push(blocking_io(i, timeline));
        tokio::task::yield_now().await;
    }
    results
}

/// Right: hand each call to the blocking pool and await them together.
async fn offloaded(timeline: &Timeline) -> anyhow::Result<Vec<u64>> {
    let handles: Vec<_> = (0..CALLS)
        .map(|i| {
            let timeline = timeline.clone();
            tokio::task::spawn_blocking(move || blocking_io(i, &timeline))
        })
        .collect();
    let mut results = Vec::new();
    for handle in handles {
        results.push(handle.await?);
    }
    Ok(results)
}

/// The same calls on a runtime whose blocking pool holds at most `threads` threads.
/// Returns the results, the time, and how many distinct threads ran the calls.
fn with_blocking_pool_of(threads: usize) -> anyhow::Result<(Vec<u64>, Duration, usize)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(threads)
        .enable_all()
        .build()?;
    let timeline = Timeline::new();
    let (results, took) = runtime.block_on(timed_async(offloaded(&timeline)));
    let mut lanes: Vec<String> = timeline.spans().into_iter().map(|s| s.lane).collect();
    lanes.sort();
    lanes.dedup();
    Ok((results?, took, lanes.len()))
}

// One event-loop thread, as in asyncio: the blocking pool's threads are extra.
#[tokio::main(flavor = "current_thread")]
pub async fn run() -> SectionResult {
    let expected: Vec<u64> = (0..CALLS).map(|i| i * 10).collect();

    let heartbeat = Heartbeat::start(TICK);
    tokio::time::sleep(2 * TICK).await; // the heartbeat is ticking before the calls start
    let (results, took_inline) = timed_async(inline(&Timeline::new())).await;
    tokio::time::sleep(Duration::from_millis(1)).await; // let the last late tick fire
    let late_inline = heartbeat.worst_lateness();
    drop(heartbeat);
    anyhow::ensure!(results == expected, "wrong results inline");

    let heartbeat = Heartbeat::start(TICK);
    tokio::time::sleep(2 * TICK).await;
    let timeline = Timeline::new();
    let (results, took_offloaded) = timed_async(offloaded(&timeline)).await;
    let late_offloaded = heartbeat.worst_lateness();
    anyhow::ensure!(results? == expected, "wrong results from spawn_blocking");

    // A second runtime must be built and dropped outside async code: on a blocking thread.
    let (results, took_small, threads_used) =
        tokio::task::spawn_blocking(|| with_blocking_pool_of(2))
            .await?
            .context("runtime with a 2-thread blocking pool")?;
    anyhow::ensure!(results == expected, "wrong results from the small pool");

    figure(format!("{CALLS} calls inline"), Secs(took_inline));
    figure("  heartbeat worst lateness", Secs(late_inline));
    figure(
        format!("{CALLS} calls via spawn_blocking"),
        Secs(took_offloaded),
    );
    figure("  heartbeat worst lateness", Secs(late_offloaded));
    timeline.print();
    figure(
        format!("{CALLS} calls, blocking pool of 2"),
        format!("{} on {threads_used} threads", Secs(took_small)),
    );
    takeaway(
        "spawn_blocking is run_in_executor: blocking work leaves the loop, which keeps ticking",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn offloaded_calls_return_in_order_on_other_threads() {
        let timeline = Timeline::new();
        let results = offloaded(&timeline).await.unwrap();
        assert_eq!(results, [0, 10, 20, 30]);
        let loop_thread = thread_id_lane();
        let spans = timeline.spans();
        assert_eq!(spans.len(), CALLS as usize);
        assert!(
            spans.iter().all(|s| s.lane != loop_thread),
            "no call ran on the loop's thread"
        );
    }

    #[test]
    fn a_smaller_blocking_pool_uses_fewer_threads() {
        let (results, _, threads) = with_blocking_pool_of(2).unwrap();
        assert_eq!(results, [0, 10, 20, 30]);
        assert!(threads <= 2, "{threads} threads for a pool of 2");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn inline_calls_run_on_the_loop_thread() {
        let timeline = Timeline::new();
        assert_eq!(inline(&timeline).await, [0, 10, 20, 30]);
        let loop_thread = thread_id_lane();
        assert!(timeline.spans().iter().all(|s| s.lane == loop_thread));
    }
}
