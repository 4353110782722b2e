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
//! async code awaits. Which pool for what: `spawn_blocking` is for calls that *wait* (a
//! file, a legacy client, see `run-in-executor`); its pool grows to 512 threads, because
//! waiting threads cost no CPU. Computing threads do: more of them than cores only take
//! turns, so rayon keeps one thread per usable core. CPU work on `spawn_blocking` still
//! frees the loop, but a burst of jobs starts hundreds of threads that fight over the cores.
//! There is no GIL: the rayon job itself can split across every core (`par_iter`).
//! One trap: a panic inside `rayon::spawn` aborts the whole process, so catch it in the
//! job and send it back as an error.
//!
//! Watch: a heartbeat task ticks every 5 ms on the event loop. While the job runs inline
//! its worst lateness is about the whole job's duration (the loop is frozen); while the
//! same job runs on rayon it stays within a few milliseconds (on a busy machine the OS
//! may keep the loop's thread waiting for a core a little longer). On rayon the job's
//! chunks spread over one thread per core: with 2 free cores it takes about half the time.
//!
//! Run only this: cargo run -p hybrid-demo -- cpu-offload

use std::any::Any;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};

use anyhow::anyhow;
use rayon::prelude::*;

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
        tracing::debug!("rayon job starts");
        let outcome = catch_unwind(AssertUnwindSafe(job));
        // The receiver is gone if the caller stopped waiting (its future was dropped).
        let _ = tx.send(outcome);
    });
    match rx.await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(panic)) => Err(anyhow!(
            "the rayon job panicked: {}",
            panic_message(&*panic)
        )),
        Err(_) => Err(anyhow!("the rayon job ended without sending its result")),
    }
}

/// The message a panic carried (`panic!("...")` payloads are `&str` or `String`).
fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// The CPU job: `work` on every chunk, the answers added up. With `parallel`, `par_iter`
/// spreads the chunks over rayon's threads; without, they run in turn on this thread.
pub fn crunch<W>(chunks: Vec<Range<u64>>, work: W, parallel: bool) -> u64
where
    W: Fn(Range<u64>) -> u64 + Sync,
{
    let chunk = |range: Range<u64>| {
        let _span = tracing::info_span!("chunk", start = range.start).entered();
        work(range)
    };
    if parallel {
        chunks
            .into_par_iter()
            .map(chunk)
            .reduce(|| 0, u64::wrapping_add)
    } else {
        chunks.into_iter().map(chunk).fold(0, u64::wrapping_add)
    }
}

// --- run and measure ---

use std::time::Duration;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{Pair, Twin, flags};
use common::timeline::{Lanes, Recording};
use common::timing::{Heartbeat, Secs, speedup, timed_async};
use common::workload::{split_range, sum_of_squares_expected, sum_of_squares_in};

pub const SECTION: Section = Section::new(
    "cpu-offload",
    "await loop.run_in_executor(pool, crunch, n)",
    "CPU work on rayon, answer back on a oneshot: the loop's heartbeat stays on time",
    run,
)
.cpu_bound()
.twin(&TWIN);

/// `--python`: the same heartbeat and job in asyncio: inline, then each chunk through
/// `loop.run_in_executor` on a ThreadPoolExecutor and on a ProcessPoolExecutor.
const TWIN: Twin = Twin::new(
    "cpu_offload.py",
    include_str!("../python/cpu_offload.py"),
    &[
        "inline_s",
        "inline_late_s",
        "threads_s",
        "threads_late_s",
        "threads_speedup",
        "processes_s",
        "processes_late_s",
        "processes_speedup",
        "workers",
    ],
);

/// `sum(i * i for i in range(N))`: a few hundred milliseconds on one core.
const N: u64 = 400_000_000;
const CHUNKS: usize = 16;
/// The twin's size: about 0.4 s of one core in CPython 3.11 (`N` would take about 15 s).
const PY_N: u64 = 12_000_000;
const TICK: Duration = Duration::from_millis(5);
/// The most threads `spawn_blocking`'s pool starts by default.
const BLOCKING_POOL: usize = 512;

/// Name rayon's threads `rayon-0`, `rayon-1`...: the timeline's lanes. Only possible before
/// the global pool first runs (an earlier section may have started it: then they stay unnamed).
fn name_rayon_threads() {
    let _ = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("rayon-{i}"))
        .build_global();
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
async fn run() -> SectionResult {
    name_rayon_threads();
    let inline =
        observe(async { Ok(crunch(split_range(N, CHUNKS), sum_of_squares_in, false)) }).await?;

    let recording = Recording::start();
    let on_rayon = observe(spawn_rayon(|| {
        crunch(split_range(N, CHUNKS), sum_of_squares_in, true)
    }))
    .await?;
    let chunks = recording.finish().named(&["chunk"]);
    anyhow::ensure!(chunks.len() == CHUNKS, "{} chunks ran", chunks.len());
    // rayon sizes its pool from `std::thread::available_parallelism()` (an affinity mask
    // or a CPU quota counts): the threads that could work at once.
    let workers = rayon::current_num_threads();
    let threads_used = chunks.lane_count(Lanes::ThreadId);
    let speedup = speedup(inline.took, on_rayon.took);

    figure("job inline on the loop", Secs(inline.took));
    figure("  heartbeat worst lateness", Secs(inline.worst_lateness));
    figure("  heartbeat ticks meanwhile", inline.ticks);
    figure("job on rayon (oneshot back)", Secs(on_rayon.took));
    figure("  heartbeat worst lateness", Secs(on_rayon.worst_lateness));
    figure("  heartbeat ticks meanwhile", on_rayon.ticks);
    figure(
        "  speedup over inline",
        format!(
            "{speedup:.2}x, {threads_used} of rayon's {workers} threads ran chunks (efficiency {:.0}%)",
            100.0 * speedup / workers as f64
        ),
    );
    figure(
        "pool sizes",
        format!(
            "rayon {workers} (one per usable core), spawn_blocking up to {BLOCKING_POOL} (for waiting)"
        ),
    );
    println!("  the job's chunks on rayon (one lane per thread):");
    chunks.print(Lanes::Thread);
    let rust = |d: Duration| d.as_secs_f64();
    TWIN.compare(
        &flags(&[
            ("--n", &PY_N),
            ("--chunks", &CHUNKS),
            ("--workers", &workers),
            ("--tick", &TICK.as_secs_f64()),
        ]),
        &[
            Pair::secs(
                format!(
                    "job inline (Rust n = {:e}, Python {:e})",
                    N as f64, PY_N as f64
                ),
                "inline_s",
                rust(inline.took),
            )
            .different_jobs(),
            Pair::secs(
                "  heartbeat worst lateness",
                "inline_late_s",
                rust(inline.worst_lateness),
            )
            .different_jobs(),
            Pair::secs(
                "rayon / ThreadPoolExecutor: lateness",
                "threads_late_s",
                rust(on_rayon.worst_lateness),
            ),
            Pair::speedup("  speedup over inline", "threads_speedup", speedup),
            Pair::secs(
                "rayon / ProcessPoolExecutor: lateness",
                "processes_late_s",
                rust(on_rayon.worst_lateness),
            ),
            Pair::speedup("  speedup over inline", "processes_speedup", speedup),
        ],
    )?;
    let loop_free = Evidence::new(
        inline.worst_lateness >= inline.took * 8 / 10
            && on_rayon.worst_lateness * 4 <= inline.worst_lateness,
        "the loop frozen for about the whole job inline, on rayon late by a quarter of that at most",
        format!(
            "{} late inline for a {} job, {} on rayon",
            Secs(inline.worst_lateness),
            Secs(inline.took),
            Secs(on_rayon.worst_lateness)
        ),
    )
    .cpu(2);
    takeaway_if(
        &loop_free,
        format!(
            "inline, the loop froze for {}; on rayon it never ran more than {} late",
            Secs(inline.worst_lateness),
            Secs(on_rayon.worst_lateness)
        ),
    );
    takeaway_if(
        &Evidence::scaling(speedup, workers),
        format!(
            "no GIL: par_iter spread the job over all {workers} cores, {speedup:.2}x faster than on the loop's thread"
        ),
    );
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
    }

    #[test]
    fn crunch_adds_up_every_chunk_in_parallel_or_in_turn() {
        for parallel in [true, false] {
            assert_eq!(
                crunch(split_range(10_000, 7), sum_of_squares_in, parallel),
                sum_of_squares_expected(10_000)
            );
        }
        // In turn: every chunk is a span on this thread.
        let recording = Recording::local();
        crunch(split_range(10_000, 7), sum_of_squares_in, false);
        assert_eq!(recording.finish().named(&["chunk"]).len(), 7);
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

    #[test]
    fn the_python_twin_checks_its_sums_and_prints_its_fields() {
        let figures = TWIN.run_for_test(&[
            "--n",
            "20000",
            "--chunks",
            "4",
            "--workers",
            "2",
            "--tick",
            "0.001",
        ]);
        if let Some(figures) = figures {
            assert_eq!(figures["workers"], 2);
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_panicking_job_is_an_error_not_an_abort() {
        let err = spawn_rayon(|| -> u64 { panic!("bad input") })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("bad input"), "{err}");
    }
}
