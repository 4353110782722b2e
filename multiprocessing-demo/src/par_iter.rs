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
//! results are plain values in the same memory. rayon starts one thread per core this
//! process may use (`std::thread::available_parallelism()`).
//!
//! When processes still win: isolation (a crash, an abort or a C library's segfault kills
//! one child, not the program: see `crash-isolation`), untrusted or leaky code, separate
//! memory limits per worker (`setrlimit`), and work spread over several machines.
//!
//! The total is added up in `u128`: each `compute(n)` fits a `u64` (n stays below 3.8
//! million), their sum would not, and Python's integers never overflow.
//!
//! Watch: speedup close to the number of cores and efficiency of 90% or more on a quiet
//! machine; both ways give the sequential answer.
//!
//! Run only this: cargo run -p multiprocessing-demo -- par-iter
//! Copy it: cargo add rayon@1 tracing@0.1

use std::time::Instant;

/// The guides' `compute(n)`: `sum(i * i for i in range(n))` (a `u64` wraps past n = 3.8
/// million).
pub fn compute(n: u64) -> u64 {
    (0..n).fold(0u64, |sum, i| sum.wrapping_add(i.wrapping_mul(i)))
}

/// `sum(compute(n) for n in inputs)`, one input after another.
pub fn sequential(inputs: &[u64], compute: impl Fn(u64) -> u64) -> u128 {
    inputs.iter().map(|&n| u128::from(compute(n))).sum()
}

/// `pool.map(compute, inputs)` with threads: `iter()` becomes `par_iter()`.
pub fn with_par_iter(inputs: &[u64], compute: impl Fn(u64) -> u64 + Sync) -> u128 {
    use rayon::prelude::*;
    inputs
        .par_iter()
        .map(|&n| {
            let _span = tracing::info_span!("compute", n).entered();
            u128::from(compute(n))
        })
        .sum()
}

/// Divide and conquer: each half may run on another thread if one is idle.
pub fn with_join(inputs: &[u64], compute: &(impl Fn(u64) -> u64 + Sync)) -> u128 {
    if inputs.len() <= 1 {
        return sequential(inputs, compute);
    }
    let (left, right) = inputs.split_at(inputs.len() / 2);
    let (a, b) = rayon::join(|| with_join(left, compute), || with_join(right, compute));
    a + b
}

/// The twin of `if __name__ == "__main__":`: the same 64 inputs one by one, with
/// `par_iter` and with `join`.
fn main() {
    let inputs = vec![300_000; 64];
    let start = Instant::now();
    let total = sequential(&inputs, compute);
    println!("sequential: {total} in {:.2?}", start.elapsed());
    let threads = rayon::current_num_threads();
    let start = Instant::now();
    let total = with_par_iter(&inputs, compute);
    println!(
        "par_iter on {threads} threads: {total} in {:.2?}",
        start.elapsed()
    );
    let start = Instant::now();
    let total = with_join(&inputs, &compute);
    println!(
        "join on {threads} threads: {total} in {:.2?}",
        start.elapsed()
    );
}

// --- run and measure ---

use std::time::Duration;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recorded, Recording};
use common::timing::{Secs, efficiency, speedup, timed};
use common::workload::{sum_of_squares, sum_of_squares_expected};

pub const SECTION: Section = Section::new(
    "par-iter",
    "Pool(cpu_count()).map(compute, inputs) for CPU work",
    "no GIL: par_iter and join on all cores in one process, speedup and efficiency",
    run,
)
.main(|| {
    main();
    std::process::ExitCode::SUCCESS
})
.cpu_bound();

/// One item's work, below the `u64` overflow of the sum of squares (3.8 million).
const ITEM: u64 = 3_000_000;
/// Enough items that each timed run lasts a few hundred milliseconds, so the figures are
/// not at the mercy of a scheduler hiccup.
const INPUTS: usize = 512;

fn expected(inputs: &[u64]) -> u128 {
    inputs
        .iter()
        .map(|&n| u128::from(sum_of_squares_expected(n)))
        .sum()
}

fn run() -> SectionResult {
    let threads = rayon::current_num_threads();
    let inputs = vec![ITEM; INPUTS];
    let want = expected(&inputs);

    // Three rounds, the three ways taken in turn so that a burst of load from other
    // programs hits them alike; each keeps its best round.
    let (mut t_seq, mut t_par, mut t_join) = (Duration::MAX, Duration::MAX, Duration::MAX);
    let mut spans = Recorded::default();
    for _ in 0..3 {
        let (seq, t) = timed(|| sequential(&inputs, sum_of_squares));
        anyhow::ensure!(seq == want, "sequential result is wrong");
        t_seq = t_seq.min(t);

        let recording = Recording::start();
        let (par, t) = timed(|| with_par_iter(&inputs, sum_of_squares));
        let this_round = recording.finish().named(&["compute"]);
        anyhow::ensure!(par == want, "par_iter's result is wrong");
        if t < t_par {
            (t_par, spans) = (t, this_round); // keep the chart of the run that counts
        }

        let (joined, t) = timed(|| with_join(&inputs, &sum_of_squares));
        anyhow::ensure!(joined == want, "join's result is wrong");
        t_join = t_join.min(t);
    }

    println!(
        "  compute({ITEM}) x {}, {threads} rayon thread{}, best of 3; the exact total checked",
        inputs.len(),
        if threads == 1 { "" } else { "s" }
    );
    spans.print(Lanes::ThreadId);
    figure("sequential", Secs(t_seq));
    let (s_par, s_join) = (speedup(t_seq, t_par), speedup(t_seq, t_join));
    for (name, t, s) in [("par_iter", t_par, s_par), ("join", t_join, s_join)] {
        figure(
            name,
            format!(
                "{}   speedup {s:.2}x, efficiency {:.0}%",
                Secs(t),
                100.0 * efficiency(s, threads)
            ),
        );
    }
    takeaway_if(
        // Both ways use every core: the smaller of the two speedups scales.
        &Evidence::scaling(s_par.min(s_join), threads),
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
        let want = sequential(&inputs, sum_of_squares);
        assert_eq!(want, expected(&inputs));
        assert_eq!(
            sequential(&inputs, compute),
            want,
            "the lesson's compute agrees"
        );
        let recording = Recording::start();
        assert_eq!(with_par_iter(&inputs, sum_of_squares), want);
        let computes = recording.finish().named(&["compute"]);
        assert_eq!(computes.len(), inputs.len(), "one span per input");
        assert_eq!(with_join(&inputs, &sum_of_squares), want);
        assert_eq!(with_join(&[], &sum_of_squares), 0);
    }

    #[test]
    fn the_total_is_exact_beyond_u64() {
        let inputs = vec![ITEM; 4];
        let total = sequential(&inputs, sum_of_squares);
        assert!(total > u128::from(u64::MAX), "four of them overflow a u64");
        assert_eq!(total, expected(&inputs));
    }

    #[test]
    fn join_runs_both_halves_at_once() {
        // Two jobs that each wait for the other: only possible if they run at the same time.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let barrier = std::sync::Barrier::new(2);
        pool.install(|| {
            rayon::join(|| barrier.wait(), || barrier.wait());
        });
    }
}
