//! CPU-bound work from async code -> rayon, with the answer coming back on a
//! `tokio::sync::oneshot` channel.
//!
//! Python (interview Q4: "what happens if a CPU-bound task runs in the event loop?"):
//!     async def handler():
//!         total = crunch(n)                                   # blocks the loop: nobody else runs
//!     async def handler_fixed():
//!         loop = asyncio.get_running_loop()
//!         total = await loop.run_in_executor(pool, crunch, n)  # loop stays free
//!
//! Rust: tokio's own documentation recommends rayon for CPU-bound work: `rayon::spawn` the
//! job and send the result back on a `oneshot` channel, whose receiver is a future the
//! async code awaits. `spawn_blocking` would also work, but its pool is sized for threads
//! that *wait* (up to 512); rayon keeps one thread per core, the right size for computing.
//! There is no GIL: the rayon job itself can split across every core (`par_iter`).
//! One trap: a panic inside `rayon::spawn` aborts the whole process, so catch it in the
//! job and send it back as an error.
//!
//! Watch: a heartbeat task ticks every 5 ms on the event loop. While the job runs inline
//! its worst lateness is about the whole job's duration (the loop is frozen); while the
//! same job runs on rayon it stays within a few milliseconds (on a busy machine the OS
//! may keep the loop's thread waiting for a core a little longer).
//!
//! Run only this: cargo run -p hybrid-demo -- cpu-offload

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use anyhow::anyhow;
use common::cli::{SectionResult, figure, takeaway};
use common::timeline::{Timeline, thread_id_lane};
use common::timing::{Heartbeat, Secs, timed_async};
use common::workload::{split_range, sum_of_squares_expected, sum_of_squares_in};
use rayon::prelude::*;

/// `sum(i * i for i in range(N))`: a few hundred milliseconds on one core.
const N: u64 = 200_000_000;
const CHUNKS: usize = 16;
const TICK: Duration = Duration::from_millis(5);

/// Run `job` on rayon's thread pool and await its result from async code.
///
/// The async caller's thread is free while it waits: the `oneshot` receiver is just
/// another future. A panic in the job comes back as an error instead of aborting.
pub async fn spawn_rayon<T, F>(job: F) -> anyhow::Result<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        tracing::debug!(thread = %thread_id_lane(), "rayon job starts");
        let outcome = catch_unwind(AssertUnwindSafe(job));
        // The receiver is gone if the caller stopped waiting (its future was dropped).
        let _ = tx.send(outcome);
    });
    match rx.await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(panic)) => Err(anyhow!("the rayon job panicked: {}", panic_text(&*panic))),
        Err(_) => Err(anyhow!("the rayon job ended without sending its result")),
    }
}

/// The message a panic carried (`panic!("...")` payloads are `&str` or `String`).
pub fn panic_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// The CPU job: the sum of squares in chunks, each chunk one bar on the timeline.
/// `par_iter` spreads the chunks over rayon's threads; on the loop it runs them in turn.
fn crunch(n: u64, parallel: bool, timeline: &Timeline) -> u64 {
    let chunk = |range: std::ops::Range<u64>| {
        timeline.record(thread_id_lane(), "chunk", || sum_of_squares_in(range))
    };
    let ranges = split_range(n, CHUNKS);
    if parallel {
        ranges
            .into_par_iter()
            .map(chunk)
            .reduce(|| 0, u64::wrapping_add)
    } else {
        ranges.into_iter().map(chunk).fold(0, u64::wrapping_add)
    }
}

/// What one way of running the job looked like from the event loop.
struct Observed {
    took: Duration,
    worst_lateness: Duration,
    ticks: u64,
}

/// Start a heartbeat, let it tick once, run `job`, and read how late the heartbeat got.
async fn observe(job: impl Future<Output = anyhow::Result<u64>>) -> anyhow::Result<Observed> {
    let heartbeat = Heartbeat::start(TICK);
    tokio::time::sleep(2 * TICK).await; // the heartbeat is running before the job starts
    let ticks_before = heartbeat.ticks();
    let (total, took) = timed_async(job).await;
    // A tick that came due while the loop was blocked fires (late) as soon as it can.
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    let (worst_lateness, ticks) = (heartbeat.worst_lateness(), heartbeat.ticks() - ticks_before);
    anyhow::ensure!(total? == sum_of_squares_expected(N), "wrong sum of squares");
    Ok(Observed {
        took,
        worst_lateness,
        ticks,
    })
}

// One event-loop thread, as in asyncio; rayon brings its own threads, one per core.
#[tokio::main(flavor = "current_thread")]
pub async fn run() -> SectionResult {
    let inline = observe(async { Ok(crunch(N, false, &Timeline::new())) }).await?;

    let timeline = Timeline::new();
    let on_rayon = {
        let timeline = timeline.clone();
        observe(spawn_rayon(move || crunch(N, true, &timeline))).await?
    };

    figure("job inline on the loop", Secs(inline.took));
    figure("  heartbeat worst lateness", Secs(inline.worst_lateness));
    figure("  heartbeat ticks meanwhile", inline.ticks);
    figure("job on rayon (oneshot back)", Secs(on_rayon.took));
    figure("  heartbeat worst lateness", Secs(on_rayon.worst_lateness));
    figure("  heartbeat ticks meanwhile", on_rayon.ticks);
    println!("  the job's chunks on rayon (one lane per thread):");
    timeline.print();
    takeaway(format!(
        "inline, the loop froze for {}; on rayon it never ran more than {} late",
        Secs(inline.worst_lateness),
        Secs(on_rayon.worst_lateness)
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn the_answer_comes_back_from_a_rayon_thread() {
        let (sum, on_pool) = spawn_rayon(|| {
            (
                sum_of_squares_in(0..1_000),
                rayon::current_thread_index().is_some(),
            )
        })
        .await
        .unwrap();
        assert_eq!(sum, sum_of_squares_expected(1_000));
        assert!(on_pool, "the job ran on a rayon worker");
        assert_eq!(
            crunch(10_000, true, &Timeline::new()),
            sum_of_squares_expected(10_000)
        );
        assert_eq!(
            crunch(10_000, false, &Timeline::new()),
            sum_of_squares_expected(10_000)
        );
    }

    /// The job waits for a message that only a task on the (single-threaded) loop can send:
    /// if awaiting the job blocked the loop, this would never finish.
    #[tokio::test(flavor = "current_thread")]
    async fn the_loop_keeps_running_while_rayon_works() {
        let (tx, rx) = std::sync::mpsc::channel();
        let job = spawn_rayon(move || rx.recv_timeout(Duration::from_secs(30)));
        let loop_task = tokio::spawn(async move { tx.send(7).unwrap() });
        assert_eq!(job.await.unwrap(), Ok(7));
        loop_task.await.unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_panicking_job_is_an_error_not_an_abort() {
        let err = spawn_rayon(|| -> u64 { panic!("bad input") })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("bad input"), "{err}");
    }
}
