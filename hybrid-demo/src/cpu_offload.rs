//! CPU-bound work from async code -> rayon, with the answer coming back on a
//! `tokio::sync::oneshot` channel.
//!
//! Python ("what happens if a CPU-bound task runs in the event loop?"):
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
//! Copy it: cargo add anyhow@1 rayon@1 tracing@0.1 && cargo add tokio@1 --features full

use std::any::Any;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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

/// `crunch`'s work on one chunk: the sum of `i * i` (wrapping: only the last 64 bits are kept).
pub fn squares(range: Range<u64>) -> u64 {
    range.fold(0, |acc, i| acc.wrapping_add(i.wrapping_mul(i)))
}

/// The job (the squares below 20 million, in 16 chunks) inline, then on rayon, while a task
/// on the one-thread loop ticks every 5 ms: how many ticks got through says if it was free.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let n: u64 = 20_000_000;
    let chunks = move || {
        (0..16)
            .map(|k| k * n / 16..(k + 1) * n / 16)
            .collect::<Vec<_>>()
    };
    let ticks = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&ticks);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(5)).await;
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    tokio::time::sleep(Duration::from_millis(20)).await; // the ticker is running

    let (start, before) = (Instant::now(), ticks.load(Ordering::Relaxed));
    let total = crunch(chunks(), squares, false); // blocks the loop
    let ticked = ticks.load(Ordering::Relaxed) - before;
    println!(
        "inline:   {total} in {:.0?}, the loop ticked {ticked} times",
        start.elapsed()
    );

    let (start, before) = (Instant::now(), ticks.load(Ordering::Relaxed));
    let total = spawn_rayon(move || crunch(chunks(), squares, true)).await?;
    let ticked = ticks.load(Ordering::Relaxed) - before;
    println!(
        "on rayon: {total} in {:.0?}, the loop ticked {ticked} times",
        start.elapsed()
    );
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{Pair, Twin, chosen, flags};
use common::timeline::{Lanes, Recorded, Recording};
use common::timing::{Heartbeat, Secs, speedup, timed_async};
use common::workload::{split_range, sum_of_squares_expected, sum_of_squares_in};

pub const SECTION: Section = Section::new(
    "cpu-offload",
    "await loop.run_in_executor(pool, crunch, n)",
    "CPU work on rayon, answer back on a oneshot",
    run,
)
.main(|| main().report())
.cpu_bound()
.twin(&TWIN);

/// `--python`: the same heartbeat and job in asyncio: inline, then each chunk through
/// `loop.run_in_executor` on a ThreadPoolExecutor and on a ProcessPoolExecutor.
const TWIN: Twin = Twin::new(
    "cpu_offload.py",
    include_str!("../python/cpu_offload.py"),
    &[
        "inline_s",
        "threads_speedup",
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

/// What one way of running the job looked like from the event loop.
struct Observed {
    took: Duration,
    worst_lateness: Duration,
    ticks: u64,
}

/// What the section measured.
struct Figures {
    inline: Observed,
    on_rayon: Observed,
    /// The job's chunks on rayon.
    chunks: Recorded,
    /// rayon's threads: one per usable core (an affinity mask or a CPU quota counts).
    workers: usize,
    /// With `--python`: inline and on rayon again at the twin's size, `PY_N`.
    py: Option<(Observed, Observed)>,
}

/// Start a heartbeat, let it tick once, run `job` (the squares below `n`), and read how late
/// the heartbeat got.
async fn observe(
    n: u64,
    job: impl Future<Output = anyhow::Result<u64>>,
) -> anyhow::Result<Observed> {
    let heartbeat = Heartbeat::start(TICK);
    tokio::time::sleep(2 * TICK).await; // the heartbeat is running before the job starts
    let ticks_before = heartbeat.ticks();
    let (total, took) = timed_async(job).await;
    // A tick that came due while the loop was blocked fires (late) as soon as it can.
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    let (worst_lateness, ticks) = (heartbeat.worst_lateness(), heartbeat.ticks() - ticks_before);
    anyhow::ensure!(
        total? == sum_of_squares_expected(n),
        "wrong sum of squares below {n}"
    );
    Ok(Observed {
        took,
        worst_lateness,
        ticks,
    })
}

// One event-loop thread, as in asyncio; rayon brings its own threads, one per core.
#[tokio::main(flavor = "current_thread")]
async fn measure() -> anyhow::Result<Figures> {
    // rayon's threads named `rayon-0`, ...: the timeline's lanes (only before the global
    // pool first runs: an earlier section may have started it, then they stay unnamed).
    let _ = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("rayon-{i}"))
        .build_global();
    let crunch_n = |n, parallel| crunch(split_range(n, CHUNKS), sum_of_squares_in, parallel);
    let inline = |n| observe(n, async move { Ok(crunch_n(n, false)) });
    let on_rayon = |n| observe(n, spawn_rayon(move || crunch_n(n, true)));
    let (inline_n, recording) = (inline(N).await?, Recording::start());
    let on_rayon_n = on_rayon(N).await?;
    let chunks = recording.finish().named(&["chunk"]);
    anyhow::ensure!(chunks.len() == CHUNKS, "{} chunks ran", chunks.len());
    let py = match chosen() {
        Some(_) => Some((inline(PY_N).await?, on_rayon(PY_N).await?)),
        None => None,
    };
    Ok(Figures {
        inline: inline_n,
        on_rayon: on_rayon_n,
        chunks,
        workers: rayon::current_num_threads(),
        py,
    })
}

fn run() -> SectionResult {
    let f = measure()?;
    let (inline, on_rayon, workers) = (&f.inline, &f.on_rayon, f.workers);
    let speedup = speedup(inline.took, on_rayon.took);
    for (name, o) in [
        ("job inline on the loop", inline),
        ("job on rayon, oneshot back", on_rayon),
    ] {
        figure(name, Secs(o.took));
        figure("  heartbeat worst lateness", Secs(o.worst_lateness));
        figure("  heartbeat ticks", o.ticks);
    }
    let (used, efficiency) = (
        f.chunks.lane_count(Lanes::ThreadId),
        100.0 * speedup / workers as f64,
    );
    let spread =
        format!("{used} of rayon's {workers} threads ran chunks (efficiency {efficiency:.0}%)");
    figure("  speedup over inline", format!("{speedup:.2}x, {spread}"));
    let pools =
        format!("rayon {workers} (one per usable core), spawn_blocking up to {BLOCKING_POOL}");
    figure("pool sizes", format!("{pools} (for waiting)"));
    println!("  the job's chunks on rayon (one lane per thread):");
    f.chunks.print(Lanes::Thread);
    compare(&f)?;
    let (froze, late) = (Secs(inline.worst_lateness), Secs(on_rayon.worst_lateness));
    let loop_free = Evidence::new(
        inline.worst_lateness >= inline.took * 8 / 10
            && on_rayon.worst_lateness * 4 <= inline.worst_lateness,
        "the loop frozen for about the whole job inline, on rayon late by a quarter of that at most",
        format!(
            "{froze} late inline for a {} job, {late} on rayon",
            Secs(inline.took)
        ),
    );
    takeaway_if(
        &loop_free.cpu(2),
        format!("inline, the loop froze for {froze}; on rayon it never ran more than {late} late"),
    );
    let text = format!(
        "no GIL: par_iter spread the job over all {workers} cores, {speedup:.2}x faster than on the loop's thread"
    );
    takeaway_if(&Evidence::scaling(speedup, workers), text);
    Ok(())
}

/// `--python`: the twin beside Rust's figures at the twin's size.
fn compare(f: &Figures) -> anyhow::Result<()> {
    let Some((inline, on_rayon)) = &f.py else {
        return Ok(());
    };
    // Every row is held in a dev build or on a busy machine: the job is CPU work, and the
    // loop's lateness depends on a core being free for it beside rayon's threads.
    let late = |label, field| Pair::secs(label, field, on_rayon.worst_lateness.as_secs_f64()).cpu();
    let speedup = |field| {
        Pair::speedup(
            "  speedup over inline",
            field,
            speedup(inline.took, on_rayon.took),
        )
        .cpu()
    };
    let (n, tick) = (format!("{:e}", PY_N as f64), TICK.as_secs_f64());
    TWIN.compare(
        &flags(&[
            ("--n", &PY_N),
            ("--chunks", &CHUNKS),
            ("--workers", &f.workers),
            ("--tick", &tick),
        ]),
        &[
            Pair::secs(
                format!("job inline, n = {n}"),
                "inline_s",
                inline.took.as_secs_f64(),
            )
            .cpu(),
            Pair::secs(
                "  heartbeat worst lateness",
                "inline_late_s",
                inline.worst_lateness.as_secs_f64(),
            )
            .cpu(),
            late("rayon / ThreadPool: lateness", "threads_late_s"),
            speedup("threads_speedup"),
            late("rayon / ProcessPool: lateness", "processes_late_s"),
            speedup("processes_speedup"),
        ],
    )
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
