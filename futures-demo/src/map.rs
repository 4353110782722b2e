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
//!
//! Watch: the chunk totals come back in input order on both pools; the parallel efficiency
//! (speedup / cores) is close to 100 % on an otherwise idle machine (anything else busy on
//! the cores lowers it); `map` reports the first bad input, `submit` per item reports
//! every one.
//!
//! Run only this: cargo run -p futures-demo -- map

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use common::cli::{SectionResult, figure, takeaway};
use common::timeline::{Timeline, thread_lane};
use common::timing::{Secs, efficiency, speedup, timed};
use common::workload::{split_range, sum_of_squares_expected, sum_of_squares_in};
use rayon::prelude::*;

use crate::submit::ThreadPoolExecutor;

/// `executor.map(f, items)`: every item is submitted at once; results are read back in
/// input order, and the first failure (in input order) is returned.
pub fn executor_map<I, T, F>(
    executor: &ThreadPoolExecutor,
    f: F,
    items: impl IntoIterator<Item = I>,
) -> anyhow::Result<Vec<T>>
where
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(I) -> anyhow::Result<T> + Send + Sync + 'static,
{
    let f = Arc::new(f);
    let handles: Vec<_> = items
        .into_iter()
        .map(|item| {
            let f = f.clone();
            executor.submit(move || f(item))
        })
        .collect();
    // A panic is an error from result(); the task's own error is the inner Result.
    handles
        .into_iter()
        .map(|handle| handle.result().and_then(|r| r))
        .collect()
}

/// The same with rayon: an ordered parallel map on rayon's pool.
pub fn rayon_map<I, T, F>(items: &[I], f: F) -> anyhow::Result<Vec<T>>
where
    I: Sync,
    T: Send,
    F: Fn(&I) -> anyhow::Result<T> + Send + Sync,
{
    items.par_iter().map(f).collect()
}

/// One item of the "which inputs fail" part: parse a number, as `int(s)` would.
fn parse(s: &str) -> anyhow::Result<u64> {
    s.parse().with_context(|| format!("invalid literal {s:?}"))
}

/// Sum of squares up to 1.6 * 10^9 in 16 chunks: about 0.6 s of one idle core (dev profile).
const N: u64 = 1_600_000_000;
const CHUNKS: usize = 16;
/// Each variant runs this many times, every result is checked, and the fastest run
/// counts: the one least disturbed by other programs on the machine.
const RUNS: usize = 3;

pub fn run() -> SectionResult {
    let cores = num_cpus::get();
    let chunks = split_range(N, CHUNKS);
    let expected = sum_of_squares_expected(N);
    let total = |parts: &[u64]| parts.iter().fold(0u64, |a, &b| a.wrapping_add(b));
    let executor = ThreadPoolExecutor::new(cores);

    // The three variants take turns, so a busy spell on the machine hits them alike.
    let (mut t_seq, mut t_pool, mut t_rayon) = (Duration::MAX, Duration::MAX, Duration::MAX);
    let mut timeline = Timeline::new();
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
        let tl = Timeline::new();
        let recorder = tl.clone();
        let sum_chunk = move |(k, range): (usize, Range<u64>)| {
            Ok(recorder.record(thread_lane(), format!("chunk {k}"), || {
                sum_of_squares_in(range)
            }))
        };
        let (pooled, t) =
            timed(|| executor_map(&executor, sum_chunk, chunks.clone().into_iter().enumerate()));
        anyhow::ensure!(pooled? == sequential, "executor_map: wrong totals or order");
        if t < t_pool {
            (t_pool, timeline) = (t, tl);
        }

        // rayon: its global pool also has one thread per core.
        let (rayoned, t) = timed(|| rayon_map(&chunks, |r| Ok(sum_of_squares_in(r.clone()))));
        anyhow::ensure!(rayoned? == sequential, "rayon: wrong totals or order");
        t_rayon = t_rayon.min(t);
    }

    println!("  {CHUNKS} chunks of sum(i*i for i in range({N})), checked, in input order");
    println!("  (each timing is the fastest of {RUNS} runs)");
    figure("sequential", Secs(t_seq));
    for (name, t) in [("executor_map", t_pool), ("rayon par_iter", t_rayon)] {
        let s = speedup(t_seq, t);
        figure(
            format!("{name} on {cores} cores"),
            format!(
                "{}  speedup {s:.2}x  efficiency {:.0} %",
                Secs(t),
                100.0 * efficiency(s, cores)
            ),
        );
    }
    timeline.print();

    // Failures: map stops at the first one, submit lets each be handled alone.
    let inputs = ["3", "1", "x", "4", "y"];
    let owned = inputs.map(str::to_owned);
    match executor_map(&executor, |s: String| parse(&s), owned) {
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
        "map = ordered results and the first error (collect into Result<Vec<_>, _>); submit = one outcome per item",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::bounded;

    #[test]
    fn results_come_back_in_input_order_even_when_finishing_out_of_order() {
        // The first item waits until the last one has finished: completion order is
        // reversed, yet map returns input order.
        let executor = ThreadPoolExecutor::new(3);
        let (last_done, wait_for_last) = bounded::<()>(1);
        let results = executor_map(
            &executor,
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
        let executor = ThreadPoolExecutor::new(2);
        let inputs = ["1", "a", "2", "b"].map(str::to_owned);
        let err = executor_map(&executor, |s: String| parse(&s), inputs).unwrap_err();
        assert!(err.to_string().contains("\"a\""), "{err:#}");
    }

    #[test]
    fn a_panic_in_map_is_an_error_too() {
        let executor = ThreadPoolExecutor::new(2);
        let err = executor_map(
            &executor,
            |i: u32| {
                assert!(i != 1, "one is bad");
                Ok(i)
            },
            0..3,
        )
        .unwrap_err();
        assert!(err.to_string().contains("one is bad"), "{err:#}");
        // The pool is still there for the next map.
        assert_eq!(executor_map(&executor, Ok, 0..3u32).unwrap(), [0, 1, 2]);
    }

    #[test]
    fn rayon_map_is_ordered_and_fails_on_a_bad_item() {
        let ok = rayon_map(&[1u64, 2, 3], |&x| Ok(x * x)).unwrap();
        assert_eq!(ok, [1, 4, 9]);
        assert!(rayon_map(&["1", "x"], |s| parse(s)).is_err());
    }

    #[test]
    fn chunks_give_the_known_sum() {
        let executor = ThreadPoolExecutor::new(2);
        let n = 100_000;
        let parts = executor_map(
            &executor,
            |r: Range<u64>| Ok(sum_of_squares_in(r)),
            split_range(n, 7),
        )
        .unwrap();
        let total = parts.into_iter().fold(0u64, u64::wrapping_add);
        assert_eq!(total, sum_of_squares_expected(n));
    }
}
