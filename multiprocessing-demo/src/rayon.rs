//! Why Rust seldom needs processes for CPU-bound work: `rayon`'s `par_iter` and `join`.
//!
//! Python:
//!     with Pool(os.cpu_count()) as pool:          # processes, because of the GIL
//!         results = pool.map(compute, inputs)
//!
//! Rust has no GIL: threads run Rust code on every core at once, and the compiler's
//! `Send`/`Sync` checks rule out data races. rayon turns a sequential iterator into a
//! parallel one (`iter()` -> `par_iter()`), or splits work in two with `rayon::join(a, b)`,
//! and balances it by work stealing. Nothing is pickled, no process is started, the
//! results are plain values in the same memory.
//!
//! When processes still win: isolation (a crash, an abort or a C library's segfault kills
//! one child, not the program: see `crash-isolation`), untrusted or leaky code, separate
//! memory limits per worker (`setrlimit`), and work spread over several machines.
//!
//! Watch: speedup close to the number of cores and efficiency of 90% or more on a quiet
//! machine; both ways give the sequential answer.
//!
//! Run only this: cargo run -p multiprocessing-demo -- rayon

use std::time::Duration;

use ::rayon::prelude::*;
use common::cli::{SectionResult, figure, takeaway};
use common::timeline::{Timeline, thread_id_lane};
use common::timing::{Secs, efficiency, speedup, timed};
use common::workload::{sum_of_squares, sum_of_squares_expected};

/// The guides' `compute(n)`, summed over all inputs (wrapping, like the workload).
fn total(results: impl Iterator<Item = u64>) -> u64 {
    results.fold(0, u64::wrapping_add)
}

pub fn sequential(inputs: &[u64]) -> u64 {
    total(inputs.iter().map(|&n| sum_of_squares(n)))
}

/// `pool.map(compute, inputs)` with threads: `iter()` becomes `par_iter()`.
pub fn with_par_iter(inputs: &[u64], timeline: &Timeline) -> u64 {
    inputs
        .par_iter()
        .map(|&n| timeline.record(thread_id_lane(), "compute", || sum_of_squares(n)))
        .reduce(|| 0, u64::wrapping_add)
}

/// Divide and conquer: each half may run on another thread if one is idle.
pub fn with_join(inputs: &[u64]) -> u64 {
    if inputs.len() <= 1 {
        return total(inputs.iter().map(|&n| sum_of_squares(n)));
    }
    let (left, right) = inputs.split_at(inputs.len() / 2);
    let (a, b) = ::rayon::join(|| with_join(left), || with_join(right));
    a.wrapping_add(b)
}

/// One item's work: long enough that each timed run lasts a few hundred milliseconds, so
/// the figures are not at the mercy of a scheduler hiccup.
const ITEM: u64 = 16_000_000;

pub fn run() -> SectionResult {
    let threads = ::rayon::current_num_threads();
    let inputs = vec![ITEM; 64];
    let want = total(inputs.iter().map(|&n| sum_of_squares_expected(n)));

    // Three rounds, the three ways taken in turn so that a burst of load from other
    // programs hits them alike; each keeps its best round.
    let (mut t_seq, mut t_par, mut t_join) = (Duration::MAX, Duration::MAX, Duration::MAX);
    let mut timeline = Timeline::new();
    for _ in 0..3 {
        let (seq, t) = timed(|| sequential(&inputs));
        anyhow::ensure!(seq == want, "sequential result is wrong");
        t_seq = t_seq.min(t);

        let this_round = Timeline::new();
        let (par, t) = timed(|| with_par_iter(&inputs, &this_round));
        anyhow::ensure!(par == want, "par_iter's result is wrong");
        if t < t_par {
            (t_par, timeline) = (t, this_round); // keep the chart of the run that counts
        }

        let (joined, t) = timed(|| with_join(&inputs));
        anyhow::ensure!(joined == want, "join's result is wrong");
        t_join = t_join.min(t);
    }

    println!(
        "  compute({ITEM}) x {}, {threads} rayon threads, best of 3; results checked",
        inputs.len()
    );
    timeline.print();
    figure("sequential", Secs(t_seq));
    for (name, t) in [("par_iter", t_par), ("join", t_join)] {
        let s = speedup(t_seq, t);
        figure(
            name,
            format!(
                "{}   speedup {s:.2}x, efficiency {:.0}%",
                Secs(t),
                100.0 * efficiency(s, threads)
            ),
        );
    }
    takeaway(
        "no GIL: rayon uses every core from one process; reach for processes for isolation, not for speed",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ways_give_the_sequential_answer() {
        let inputs: Vec<u64> = (0..37).map(|k| k * 1_000).collect();
        let want = sequential(&inputs);
        assert_eq!(
            want,
            total(inputs.iter().map(|&n| sum_of_squares_expected(n)))
        );
        let timeline = Timeline::new();
        assert_eq!(with_par_iter(&inputs, &timeline), want);
        assert_eq!(timeline.spans().len(), inputs.len(), "one span per input");
        assert_eq!(with_join(&inputs), want);
        assert_eq!(with_join(&[]), 0);
    }

    #[test]
    fn join_runs_both_halves_at_once() {
        // Two jobs that each wait for the other: only possible if they run at the same time.
        let pool = ::rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let barrier = std::sync::Barrier::new(2);
        pool.install(|| {
            ::rayon::join(|| barrier.wait(), || barrier.wait());
        });
    }
}
