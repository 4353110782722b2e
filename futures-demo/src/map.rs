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
//! Copy it: cargo add anyhow@1 crossbeam-channel@0.5 rayon@1 tracing@0.1

use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use anyhow::{Context, anyhow};
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

/// `sum_chunk(range)`: the sum of `i * i` over one chunk of the numbers.
pub fn sum_chunk(range: Range<u64>) -> anyhow::Result<u64> {
    let _span = tracing::info_span!("chunk", start = range.start).entered();
    Ok(range.map(|i| i * i).sum())
}

/// `int(s)`: one item of the "which inputs fail" part.
pub fn parse(s: &str) -> anyhow::Result<u64> {
    s.parse().with_context(|| format!("invalid literal {s:?}"))
}

/// `sum(i * i for i in range(2_000_000))` in 8 chunks, on one worker per core, then five
/// inputs of which two fail: `map` stops at the first, `submit` reports each.
fn main() -> anyhow::Result<()> {
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let executor = ThreadPoolExecutor::new(cores)?;
    let n: u64 = 2_000_000;
    let chunks: Vec<Range<u64>> = (0..8).map(|k| k * n / 8..(k + 1) * n / 8).collect();
    let totals = executor.map(sum_chunk, chunks.clone())?;
    let by_rayon = rayon_map(&chunks, |r| sum_chunk(r.clone()))?;
    anyhow::ensure!(totals == by_rayon, "rayon and the executor disagree");
    let expected = (n - 1) * n / 2 * (2 * n - 1) / 3;
    let total: u64 = totals.iter().sum();
    println!(
        "{} chunk totals in input order on {cores} workers; sum {total} (expected {expected})",
        totals.len()
    );

    let inputs = ["3", "1", "x", "4", "y"];
    match executor.map(parse, inputs) {
        Ok(v) => println!("map({inputs:?}) -> {v:?}"),
        Err(e) => println!("map({inputs:?}) -> first failure: {e:#}"),
    }
    let futures: Vec<_> = inputs.map(|s| executor.submit(move || parse(s))).into();
    for (s, future) in inputs.iter().zip(futures) {
        match future.result()? {
            Ok(n) => println!("submit({s:?}) -> {n}"),
            Err(e) => println!("submit({s:?}) -> failed: {e:#}"),
        }
    }
    Ok(())
}

// --- run and measure ---

use std::process::Termination;
use std::time::Duration;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway, takeaway_if};
use common::python::{Pair, Twin, chosen, flags};
use common::timeline::{Lanes, Recorded, Recording};
use common::timing::{Secs, efficiency, speedup, timed};
use common::workload::{split_range, sum_of_squares_expected, sum_of_squares_in};

pub const SECTION: Section = Section::new(
    "map",
    "executor.map(fn, items)",
    "ordered parallel map, first failure returned",
    run,
)
.main(|| main().report())
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

/// Sum of squares below 1.6 * 10^9, in 16 chunks: about 0.6 s of one idle core (dev profile).
const N: u64 = 1_600_000_000;
const CHUNKS: usize = 16;
/// Each variant runs this many times, every result is checked, and the fastest run
/// counts: the one least disturbed by other programs on the machine.
const RUNS: usize = 3;
/// The twin's size: about 0.7 s of one core in CPython 3.11 (`N` would take about a
/// minute). With `--python` Rust maps this size too, so the rows compare the same job.
const PY_N: u64 = 20_000_000;
/// The twin's runs (best of): enough to keep a hiccup out, few enough to stay quick.
const PY_RUNS: usize = 2;

/// `sum_chunk` at speed (the workspace's loop, optimised in a dev build too), one span each.
fn fast_chunk((k, range): (usize, Range<u64>)) -> anyhow::Result<u64> {
    let _span = tracing::info_span!("chunk", k).entered();
    Ok(sum_of_squares_in(range))
}

/// The fastest of some runs, and their spread (slowest / fastest).
pub fn best(runs: &[Duration]) -> (Duration, f64) {
    let (min, max) = (runs.iter().min(), runs.iter().max());
    let (min, max) = (
        min.copied().unwrap_or_default(),
        max.copied().unwrap_or_default(),
    );
    (min, max.as_secs_f64() / min.as_secs_f64().max(1e-9))
}

/// One thread, `executor.map` and rayon over the same chunks: the fastest run and spread of each.
struct Race {
    seq: (Duration, f64),
    pool: (Duration, f64),
    rayon: (Duration, f64),
    /// The `chunk` spans of the fastest `executor.map` run.
    timeline: Recorded,
}

/// The three take turns `RUNS` times at size `n`, so a busy spell hits them alike; every
/// total is checked against the formula.
fn race(executor: &ThreadPoolExecutor, n: u64) -> anyhow::Result<Race> {
    let chunks = split_range(n, CHUNKS);
    let expected = sum_of_squares_expected(n);
    let (mut seq, mut pool, mut rayon) = (Vec::new(), Vec::new(), Vec::new());
    let mut timeline = Recorded::default();
    for _ in 0..RUNS {
        let (parts, t) = timed(|| {
            chunks
                .iter()
                .map(|r| sum_of_squares_in(r.clone()))
                .collect::<Vec<u64>>()
        });
        let total = parts.iter().fold(0u64, |a, &b| a.wrapping_add(b));
        anyhow::ensure!(total == expected, "one thread: wrong sum at n = {n}");
        seq.push(t);
        let recording = Recording::start();
        let (pooled, t) =
            timed(|| executor.map(fast_chunk, chunks.clone().into_iter().enumerate()));
        let recorded = recording.finish().named(&["chunk"]);
        anyhow::ensure!(pooled? == parts, "executor.map: wrong totals or order");
        if pool.iter().all(|&p| t < p) {
            timeline = recorded;
        }
        pool.push(t);
        let (rayoned, t) = timed(|| rayon_map(&chunks, |r| Ok(sum_of_squares_in(r.clone()))));
        anyhow::ensure!(rayoned? == parts, "rayon: wrong totals or order");
        rayon.push(t);
    }
    Ok(Race {
        seq: best(&seq),
        pool: best(&pool),
        rayon: best(&rayon),
        timeline,
    })
}

fn run() -> SectionResult {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let executor = ThreadPoolExecutor::new(cores)?;
    let race = race(&executor, N)?;
    let (t_seq, t_pool, t_rayon) = (race.seq.0, race.pool.0, race.rayon.0);
    println!(
        "  sum(i*i for i in range({N})) in {CHUNKS} chunks; totals checked, in input order; fastest of {RUNS} runs"
    );
    figure("sequential (one thread)", Secs(t_seq));
    let (s_pool, s_rayon) = (speedup(t_seq, t_pool), speedup(t_seq, t_rayon));
    for (name, t, s) in [
        ("executor.map", t_pool, s_pool),
        ("rayon par_iter", t_rayon, s_rayon),
    ] {
        let eff = 100.0 * efficiency(s, cores);
        figure(
            format!("{name} on {cores} cores"),
            format!("{}  speedup {s:.2}x  efficiency {eff:.0} %", Secs(t)),
        );
    }
    race.timeline.print(Lanes::Thread);
    if chosen().is_some() {
        python_side_by_side(&executor, cores)?;
    }
    // The claim stands on the weaker of the two: the speedup farther from `cores`.
    let off = |s: f64| (s - cores as f64).abs();
    takeaway_if(
        &Evidence::scaling(
            if off(s_pool) >= off(s_rayon) {
                s_pool
            } else {
                s_rayon
            },
            cores,
        ),
        format!(
            "no GIL: CPU-bound tasks on a thread pool use all {cores} cores (executor.map {s_pool:.2}x, rayon {s_rayon:.2}x)"
        ),
    );
    failures(&executor)
}

/// Map stops at the first failure; submit lets each be handled alone.
fn failures(executor: &ThreadPoolExecutor) -> SectionResult {
    let inputs = ["3", "1", "x", "4", "y"];
    let first = executor
        .map(parse, inputs)
        .err()
        .context("map should have failed")?;
    println!("  map({inputs:?}) -> first failure: {first:#}");
    let handles: Vec<_> = inputs.map(|s| executor.submit(move || parse(s))).into();
    let mut failed = 0;
    for (s, handle) in inputs.iter().zip(handles) {
        match handle.result()? {
            Ok(n) => println!("  submit({s:?}) -> {n}"),
            Err(e) => {
                failed += 1;
                println!("  submit({s:?}) -> failed: {e:#}");
            }
        }
    }
    anyhow::ensure!(failed == 2, "expected two failures, saw {failed}");
    takeaway(
        "map = ordered results and the first error (collect into Result<Vec<_>, _>); submit = one outcome per item",
    );
    Ok(())
}

/// `--python`: Rust at the twin's size too (one thread, then `executor.map`), then the twin.
fn python_side_by_side(executor: &ThreadPoolExecutor, cores: usize) -> anyhow::Result<()> {
    let race = race(executor, PY_N)?;
    let ((seq, seq_spread), (pool, pool_spread)) = (race.seq, race.pool);
    let size = format!("n = {:e}", PY_N as f64);
    TWIN.compare(
        &flags(&[
            ("--n", &PY_N),
            ("--chunks", &CHUNKS),
            ("--workers", &cores),
            ("--rounds", &PY_RUNS),
        ]),
        &[
            Pair::secs(
                format!("one thread, {size}"),
                "sequential_s",
                seq.as_secs_f64(),
            )
            .cpu()
            .spread(seq_spread),
            Pair::secs(
                format!("executor.map on {cores} workers"),
                "pool_s",
                pool.as_secs_f64(),
            )
            .cpu()
            .spread(pool_spread),
            Pair::speedup("executor.map speedup", "speedup", speedup(seq, pool))
                .cpu()
                .spread(seq_spread * pool_spread),
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
            .map(fast_chunk, split_range(n, 7).into_iter().enumerate())
            .unwrap();
        // Other tests may record at the same time: count this test's own spans by name
        // and k, which only sum_chunk creates.
        let chunks = recording.finish().named(&["chunk"]);
        assert!(chunks.len() >= 7);
        let total = parts.into_iter().fold(0u64, u64::wrapping_add);
        assert_eq!(total, sum_of_squares_expected(n));
    }
}
