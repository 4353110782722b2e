//! `executor.map(fn, items)` -> submit every item, read the results back in input order,
//! and stop at the first failure: `Result<Vec<T>, E>`. Or, the idiomatic Rust: rayon's
//! `par_iter().map(f).collect::<Result<Vec<_>, _>>()`.
//!
//! Python:
//!     with ThreadPoolExecutor(max_workers=os.cpu_count()) as executor:
//!         totals = list(executor.map(sum_chunk, chunks))   # input order; raises on the first failure
//!
//!     futures = [executor.submit(parse, s) for s in inputs]  # or: one future per item,
//!     for f in futures:                                      # each failure handled alone
//!         try: print(f.result())
//!         except ValueError as e: print("failed:", e)
//!
//! Where Rust differs: there is no GIL, so CPU-bound Python code that gains nothing from a
//! thread pool runs here on every core at once. Collecting an iterator of `Result`s into
//! `Result<Vec<_>, _>` is the twin of "map raises on the first failure": the first `Err` in
//! input order is returned. As in Python, the tasks already submitted still run to the end.
//! rayon also stops at a failure, but which one it reports when several fail is not fixed.
//! `os.cpu_count()` is `std::thread::available_parallelism()`, which also respects an
//! affinity mask (`taskset`) and a container's CPU quota.
//!
//! The executor below is submit.rs's, complete, plus a `map` method.
//!
//! Watch: the chunk totals come back in input order on both pools; the speedup over one
//! thread is close to the number of cores on an otherwise idle machine (anything else busy
//! on the cores lowers it); `map` reports the first bad input, `submit` per item reports
//! every one.
//!
//! Run only this: cargo run -p futures-demo -- map

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use anyhow::anyhow;
use crossbeam_channel::{Receiver, RecvError, Sender, bounded, unbounded};
use rayon::prelude::*;

// The executor of submit.rs, unchanged.
type Job = Box<dyn FnOnce() + Send>;

/// `ThreadPoolExecutor(max_workers)`: worker threads taking jobs from one channel.
pub struct ThreadPoolExecutor {
    jobs: Option<Sender<Job>>, // taken (closed) when the pool is dropped
    workers: Vec<JoinHandle<()>>,
}

/// What `submit` returns, Python's `Future`: `result()` blocks until the task is done.
#[must_use = "a dropped handle loses the task's result, and its panic with it"]
pub struct TaskHandle<T>(Receiver<thread::Result<T>>);

impl ThreadPoolExecutor {
    pub fn new(max_workers: usize) -> std::io::Result<Self> {
        let (jobs, queue) = unbounded::<Job>();
        let workers = (0..max_workers.max(1))
            .map(|i| {
                let queue = queue.clone();
                thread::Builder::new()
                    .name(format!("pool-{i}"))
                    // The loop ends when every sender is gone: that is the shutdown signal.
                    .spawn(move || queue.iter().for_each(|job| job()))
            })
            .collect::<std::io::Result<_>>()?;
        Ok(ThreadPoolExecutor {
            jobs: Some(jobs),
            workers,
        })
    }

    /// `executor.submit(fn)`: queue the task, return its handle at once.
    pub fn submit<T: Send + 'static>(
        &self,
        task: impl FnOnce() -> T + Send + 'static,
    ) -> TaskHandle<T> {
        let (tx, rx) = bounded(1);
        let job: Job = Box::new(move || {
            // A panic is caught here: it reaches result(), and this worker lives on.
            // The caller may have dropped its handle: then nobody wants the result.
            let _ = tx.send(catch_unwind(AssertUnwindSafe(task)));
        });
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(job);
        }
        TaskHandle(rx)
    }
}

impl<T> TaskHandle<T> {
    /// `future.result()`: the task's value, or an error if it panicked.
    pub fn result(self) -> anyhow::Result<T> {
        outcome(self.0.recv())
    }
}

/// What a handle's channel delivered, as `result()` reports it.
fn outcome<T>(received: Result<thread::Result<T>, RecvError>) -> anyhow::Result<T> {
    match received {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(panic)) => Err(anyhow!("the task panicked: {}", panic_message(&*panic))),
        // The job was dropped unrun, and its sender with it.
        Err(RecvError) => Err(anyhow!("the pool dropped the task before running it")),
    }
}

/// The text of a panic (`panic!("...")` carries a `&str` or a `String`).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// Leaving the `with` block: stop taking work, let the queue drain, join every worker.
impl Drop for ThreadPoolExecutor {
    fn drop(&mut self) {
        drop(self.jobs.take());
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

impl ThreadPoolExecutor {
    /// `executor.map(f, items)`: every item is submitted at once; results are read back in
    /// input order, and the first failure (in input order) is returned.
    pub fn map<I, T, F>(&self, f: F, items: impl IntoIterator<Item = I>) -> anyhow::Result<Vec<T>>
    where
        I: Send + 'static,
        T: Send + 'static,
        F: Fn(I) -> anyhow::Result<T> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let handles: Vec<_> = items
            .into_iter()
            .map(|item| {
                let f = Arc::clone(&f);
                self.submit(move || f(item))
            })
            .collect();
        // A panic is an error from result(); the task's own error is the inner Result.
        handles
            .into_iter()
            .map(|handle| handle.result().and_then(|r| r))
            .collect()
    }
}

/// The same with rayon: an ordered parallel map on rayon's pool (one thread per core).
pub fn rayon_map<I, T, F>(items: &[I], f: F) -> anyhow::Result<Vec<T>>
where
    I: Sync,
    T: Send,
    F: Fn(&I) -> anyhow::Result<T> + Send + Sync,
{
    items.par_iter().map(f).collect()
}

// --- run and measure ---

use std::ops::Range;
use std::time::Duration;

use anyhow::Context;
use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway, takeaway_if};
use common::python::{Pair, Twin, chosen, flags};
use common::timeline::{Lanes, Recorded, Recording};
use common::timing::{Secs, efficiency, speedup, timed};
use common::workload::{split_range, sum_of_squares_expected, sum_of_squares_in};

pub const SECTION: Section = Section::new(
    "map",
    "executor.map(fn, items)",
    "ordered parallel map, first failure returned; vs submit per item",
    run,
)
.cpu_bound()
.twin(&TWIN);

/// `--python`: the same chunks through `ThreadPoolExecutor.map`, and the same bad inputs.
const TWIN: Twin = Twin::new(
    "map.py",
    include_str!("../python/map.py"),
    &[
        "sequential_s",
        "pool_s",
        "speedup",
        "failures",
        "first_failure",
    ],
);

/// One item of the "which inputs fail" part: parse a number, as `int(s)` would.
fn parse(s: &str) -> anyhow::Result<u64> {
    s.parse().with_context(|| format!("invalid literal {s:?}"))
}

/// `sum_chunk(range)`: one chunk of the sum, drawn on the timeline.
fn sum_chunk((k, range): (usize, Range<u64>)) -> anyhow::Result<u64> {
    let _span = tracing::info_span!("chunk", k).entered();
    Ok(sum_of_squares_in(range))
}

/// Sum of squares below 1.6 * 10^9, in 16 chunks: about 0.6 s of one idle core (dev profile).
const N: u64 = 1_600_000_000;
const CHUNKS: usize = 16;
/// Each variant runs this many times, every result is checked, and the fastest run
/// counts: the one least disturbed by other programs on the machine.
const RUNS: usize = 3;
/// The twin's size: about 0.7 s of one core in CPython 3.11 (`N` would take about a
/// minute). With `--python` Rust maps this size too, so two rows compare the same job.
const PY_N: u64 = 20_000_000;
/// The twin's runs (best of): enough to keep a hiccup out, few enough to stay quick.
const PY_RUNS: usize = 2;

fn run() -> SectionResult {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunks = split_range(N, CHUNKS);
    let expected = sum_of_squares_expected(N);
    let total = |parts: &[u64]| parts.iter().fold(0u64, |a, &b| a.wrapping_add(b));
    let executor = ThreadPoolExecutor::new(cores)?;

    // The three variants take turns, so a busy spell on the machine hits them alike.
    let (mut t_seq, mut t_pool, mut t_rayon) = (Duration::MAX, Duration::MAX, Duration::MAX);
    let mut timeline = Recorded::default();
    for _ in 0..RUNS {
        // Baseline: the same map on this one thread.
        let (sequential, t) = timed(|| {
            chunks
                .iter()
                .map(|r| sum_of_squares_in(r.clone()))
                .collect::<Vec<u64>>()
        });
        anyhow::ensure!(total(&sequential) == expected, "sequential sum is wrong");
        t_seq = t_seq.min(t);

        // executor.map on the hand-written pool, one worker per core.
        let recording = Recording::start();
        let (pooled, t) = timed(|| executor.map(sum_chunk, chunks.clone().into_iter().enumerate()));
        let recorded = recording.finish().named(&["chunk"]);
        anyhow::ensure!(pooled? == sequential, "executor.map: wrong totals or order");
        if t < t_pool {
            (t_pool, timeline) = (t, recorded);
        }

        // rayon: its global pool also has one thread per core.
        let (rayoned, t) = timed(|| rayon_map(&chunks, |r| Ok(sum_of_squares_in(r.clone()))));
        anyhow::ensure!(rayoned? == sequential, "rayon: wrong totals or order");
        t_rayon = t_rayon.min(t);
    }

    println!(
        "  sum(i*i for i in range({N})), split into {CHUNKS} chunks of {} numbers each",
        N / CHUNKS as u64
    );
    println!("  totals checked, in input order; each timing is the fastest of {RUNS} runs");
    figure("sequential (one thread)", Secs(t_seq));
    let (s_pool, s_rayon) = (speedup(t_seq, t_pool), speedup(t_seq, t_rayon));
    for (name, t, s) in [
        ("executor.map", t_pool, s_pool),
        ("rayon par_iter", t_rayon, s_rayon),
    ] {
        figure(
            format!(
                "{name} on {cores} core{}",
                if cores == 1 { "" } else { "s" }
            ),
            format!(
                "{}  speedup {s:.2}x  efficiency {:.0} %",
                Secs(t),
                100.0 * efficiency(s, cores)
            ),
        );
    }
    timeline.print(Lanes::Thread);
    if chosen().is_some() {
        python_side_by_side(&executor, cores, s_pool)?;
    }
    // The claim stands on the weaker of the two: the speedup farther from `cores`.
    let farther = |a: f64, b: f64| {
        if (a - cores as f64).abs() >= (b - cores as f64).abs() {
            a
        } else {
            b
        }
    };
    takeaway_if(
        &Evidence::scaling(farther(s_pool, s_rayon), cores),
        format!(
            "no GIL: CPU-bound tasks on a thread pool use all {cores} cores (executor.map {s_pool:.2}x, rayon {s_rayon:.2}x)"
        ),
    );

    // Failures: map stops at the first one, submit lets each be handled alone.
    let inputs = ["3", "1", "x", "4", "y"];
    let owned = inputs.map(str::to_owned);
    match executor.map(|s: String| parse(&s), owned) {
        Ok(v) => anyhow::bail!("map should have failed, got {v:?}"),
        Err(e) => println!("  map({inputs:?}) -> first failure: {e:#}"),
    }
    let handles: Vec<_> = inputs
        .iter()
        .map(|&s| executor.submit(move || parse(s)))
        .collect();
    let mut failures = 0;
    for (s, handle) in inputs.iter().zip(handles) {
        match handle.result()? {
            Ok(n) => println!("  submit({s:?}) -> {n}"),
            Err(e) => {
                failures += 1;
                println!("  submit({s:?}) -> failed: {e:#}");
            }
        }
    }
    anyhow::ensure!(failures == 2, "expected two failures, saw {failures}");
    takeaway(
        "map = ordered results and the first error (collect into Result<Vec<_>, _>); \
         submit = one outcome per item",
    );
    Ok(())
}

/// `--python`: Rust on the twin's size too (one thread, then `executor.map`), then the twin.
fn python_side_by_side(
    executor: &ThreadPoolExecutor,
    cores: usize,
    rust_speedup: f64,
) -> anyhow::Result<()> {
    let chunks = split_range(PY_N, CHUNKS);
    let expected = sum_of_squares_expected(PY_N);
    let total = |parts: &[u64]| parts.iter().fold(0u64, |a, &b| a.wrapping_add(b));
    let (mut seq, mut pool) = (Duration::MAX, Duration::MAX);
    for _ in 0..RUNS {
        let (parts, t) = timed(|| {
            chunks
                .iter()
                .map(|r| sum_of_squares_in(r.clone()))
                .collect::<Vec<u64>>()
        });
        anyhow::ensure!(
            total(&parts) == expected,
            "sequential sum at n = {PY_N} is wrong"
        );
        seq = seq.min(t);
        let (parts, t) = timed(|| executor.map(sum_chunk, chunks.clone().into_iter().enumerate()));
        anyhow::ensure!(
            total(&parts?) == expected,
            "executor.map at n = {PY_N} is wrong"
        );
        pool = pool.min(t);
    }
    TWIN.compare(
        &flags(&[
            ("--n", &PY_N),
            ("--chunks", &CHUNKS),
            ("--workers", &cores),
            ("--rounds", &PY_RUNS),
        ]),
        &[
            Pair::secs(
                format!("sequential, n = {:e}", PY_N as f64),
                "sequential_s",
                seq.as_secs_f64(),
            ),
            Pair::secs(
                format!("executor.map on {cores} workers, n = {:e}", PY_N as f64),
                "pool_s",
                pool.as_secs_f64(),
            ),
            Pair::speedup(
                format!(
                    "executor.map speedup (Rust n = {:e}, Python {:e})",
                    N as f64, PY_N as f64
                ),
                "speedup",
                rust_speedup,
            ),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_input_order_even_when_finishing_out_of_order() {
        // The first item waits until the last one has finished: completion order is
        // reversed, yet map returns input order.
        let executor = ThreadPoolExecutor::new(3).unwrap();
        let (last_done, wait_for_last) = bounded::<()>(1);
        let results = executor
            .map(
                move |i: u32| {
                    match i {
                        0 => wait_for_last.recv()?,
                        2 => last_done.send(())?,
                        _ => {}
                    }
                    Ok(i * 10)
                },
                0..3,
            )
            .unwrap();
        assert_eq!(results, [0, 10, 20]);
    }

    #[test]
    fn map_returns_the_first_failure_in_input_order() {
        let executor = ThreadPoolExecutor::new(2).unwrap();
        let inputs = ["1", "a", "2", "b"].map(str::to_owned);
        let err = executor.map(|s: String| parse(&s), inputs).unwrap_err();
        assert!(err.to_string().contains("\"a\""), "{err:#}");
    }

    #[test]
    fn a_panic_in_map_is_an_error_too() {
        let executor = ThreadPoolExecutor::new(2).unwrap();
        let err = executor
            .map(
                |i: u32| {
                    assert!(i != 1, "one is bad");
                    Ok(i)
                },
                0..3,
            )
            .unwrap_err();
        assert!(err.to_string().contains("one is bad"), "{err:#}");
        // The pool is still there for the next map.
        assert_eq!(executor.map(Ok, 0..3u32).unwrap(), [0, 1, 2]);
    }

    #[test]
    fn the_python_twin_checks_its_answers_and_prints_its_fields() {
        let figures = TWIN.run_for_test(&[
            "--n",
            "10007",
            "--chunks",
            "5",
            "--workers",
            "2",
            "--rounds",
            "1",
        ]);
        if let Some(figures) = figures {
            assert_eq!(figures["failures"], 2);
            assert_eq!(figures["first_failure"], 2);
        }
    }

    #[test]
    fn rayon_map_is_ordered_and_fails_on_a_bad_item() {
        let ok = rayon_map(&[1u64, 2, 3], |&x| Ok(x * x)).unwrap();
        assert_eq!(ok, [1, 4, 9]);
        assert!(rayon_map(&["1", "x"], |s| parse(s)).is_err());
    }

    #[test]
    fn chunks_give_the_known_sum_one_span_each() {
        let executor = ThreadPoolExecutor::new(2).unwrap();
        let n = 100_000;
        let recording = Recording::start();
        let parts = executor
            .map(sum_chunk, split_range(n, 7).into_iter().enumerate())
            .unwrap();
        // Other tests may record at the same time: count this test's own spans by name
        // and k, which only sum_chunk creates.
        let chunks = recording.finish().named(&["chunk"]);
        assert!(chunks.len() >= 7);
        let total = parts.into_iter().fold(0u64, u64::wrapping_add);
        assert_eq!(total, sum_of_squares_expected(n));
    }
}
