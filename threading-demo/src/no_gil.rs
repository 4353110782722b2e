//! "Threads do not help CPU-bound work" (the GIL) -> in Rust they do: one thread per core.
//!
//! Python:
//!     def work(lo, hi):
//!         return sum(i * i for i in range(lo, hi))
//!     threads = [threading.Thread(target=work, args=chunk) for chunk in chunks]
//!     # on 4 cores: about 1.0x. Only the thread holding the GIL runs bytecode,
//!     # so the guides send CPU-bound work to processes instead.
//!
//! Rust has no GIL: threads of one process run on every core at once, sharing memory, so
//! CPU-bound work splits across threads with no processes, no pickling and no copies.
//! What limits the speedup is the number of cores (and whether they are free: other
//! programs share them), not the language.
//!
//! Watch: the same sum of squares, first on one thread, then split in one chunk per core;
//! the results match the known answer; the timeline shows the one long bar, then the
//! per-core bars side by side; the speedup is close to the number of cores (parallel
//! efficiency near 100%). The line below them recalls Python's result with threads.
//!
//! Run only this: cargo run -p threading-demo -- no-gil

use std::thread;
use std::time::Duration;

use anyhow::{Context, anyhow};
use common::cli::{SectionResult, figure, takeaway};
use common::timeline::Timeline;
use common::timing::{Secs, efficiency, speedup, timed};
use common::workload::{split_range, sum_of_squares_expected, sum_of_squares_in};

/// Sized for about 0.5 s on one core of the development machine.
const N: u64 = 1_000_000_000;
/// Each version runs this many times; the best time counts (like `timeit`), which keeps
/// a moment of noise from other programs out of the figure.
const ROUNDS: usize = 3;

/// The whole sum on the calling thread.
fn sequential(n: u64, timeline: &Timeline) -> u64 {
    timeline.record("one thread", "sum", || sum_of_squares_in(0..n))
}

/// One chunk per thread, `threads` threads, partial sums added up.
fn parallel(n: u64, threads: usize, timeline: &Timeline) -> anyhow::Result<u64> {
    thread::scope(|s| {
        let handles = split_range(n, threads)
            .into_iter()
            .enumerate()
            .map(|(k, range)| {
                thread::Builder::new()
                    .name(format!("core-{k}"))
                    .spawn_scoped(s, move || {
                        tracing::debug!(?range, "summing a chunk");
                        timeline.record(format!("core-{k}"), "chunk", || sum_of_squares_in(range))
                    })
                    .context("spawning a thread")
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        handles.into_iter().try_fold(0u64, |acc, h| {
            let part = h.join().map_err(|_| anyhow!("a worker thread panicked"))?;
            Ok(acc.wrapping_add(part))
        })
    })
}

pub fn run() -> SectionResult {
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let expected = sum_of_squares_expected(N);
    let (mut best_seq, mut best_par) = (Duration::MAX, Duration::MAX);
    let mut shown = Timeline::new();
    for _ in 0..ROUNDS {
        let timeline = Timeline::new();
        let (sum, took) = timed(|| sequential(N, &timeline));
        anyhow::ensure!(sum == expected, "sequential sum {sum}, expected {expected}");
        best_seq = best_seq.min(took);
        let (sum, took) = timed(|| parallel(N, cores, &timeline));
        let sum = sum?;
        anyhow::ensure!(sum == expected, "parallel sum {sum}, expected {expected}");
        if took < best_par {
            best_par = took;
            shown = timeline;
        }
    }
    let s = speedup(best_seq, best_par);
    figure(
        "sum of squares",
        format!("n = {N}, result checked (best of {ROUNDS})"),
    );
    figure("one thread", Secs(best_seq));
    figure(format!("{cores} threads ({cores} cores)"), Secs(best_par));
    figure("speedup", format!("{s:.2}x"));
    figure(
        "parallel efficiency",
        format!("{:.0}%", efficiency(s, cores) * 100.0),
    );
    figure(
        "Python threads (the guides)",
        "about 1.0x: the GIL runs one thread at a time",
    );
    shown.print();
    takeaway(
        "no GIL: CPU-bound Rust threads use every core; the core count is the limit, not the language",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_split_gives_the_known_answer() {
        let n = 100_003;
        let timeline = Timeline::new();
        assert_eq!(sequential(n, &timeline), sum_of_squares_expected(n));
        for threads in [1, 2, 3, 8] {
            assert_eq!(
                parallel(n, threads, &timeline).unwrap(),
                sum_of_squares_expected(n)
            );
        }
        let lanes = timeline
            .spans()
            .iter()
            .filter(|s| s.label == "chunk")
            .count();
        assert_eq!(lanes, 1 + 2 + 3 + 8, "one span per thread");
    }
}
