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
//! Watch: the same sum of squares, first on one thread, then split in one chunk per usable
//! core (`available_parallelism`, which respects an affinity mask or a CPU quota); the
//! results match; on free cores the speedup is close to the number of cores. In the demo:
//! the timeline shows the one long bar, then the per-core bars side by side, and the
//! parallel efficiency is printed; on one usable core, or cores busy with other programs,
//! the last line says the claim was not shown in this run, and why.
//!
//! Run only this: cargo run -p threading-demo -- no-gil
//! Copy it: cargo add anyhow@1 num_cpus@1 tracing@0.1

use std::hint::black_box;
use std::ops::Range;
use std::thread;
use std::time::Instant;

use anyhow::{Context, anyhow};

/// Python's `os.cpu_count()`, twice over. How many threads to run: std's
/// `available_parallelism`, which respects an affinity mask (`taskset`) and a cgroup CPU
/// quota (a container), so it is the number this process can really use. What std lacks:
/// how many *physical* cores those logical ones sit on (`num_cpus::get_physical`). Two
/// hyper-threads of one core share its execution units, so CPU-bound work may scale less
/// than the logical count suggests.
pub fn cores() -> (usize, usize) {
    let usable = thread::available_parallelism().map_or(1, |n| n.get());
    (usable, num_cpus::get_physical())
}

/// `0..n` in `parts` contiguous chunks of nearly equal length.
pub fn split(n: u64, parts: usize) -> Vec<Range<u64>> {
    let parts = parts.max(1) as u64;
    (0..parts)
        .map(|k| n * k / parts..n * (k + 1) / parts)
        .collect()
}

/// `work` over `0..n`, one chunk per thread on `threads` threads, partial results added
/// up (wrapping, like the work itself). `work` is any CPU-bound function of a range.
pub fn parallel(
    n: u64,
    threads: usize,
    work: impl Fn(Range<u64>) -> u64 + Sync,
) -> anyhow::Result<u64> {
    let work = &work;
    thread::scope(|s| {
        let handles = split(n, threads)
            .into_iter()
            .enumerate()
            .map(|(k, range)| {
                thread::Builder::new()
                    .name(format!("core-{k}"))
                    .spawn_scoped(s, move || {
                        tracing::debug!(?range, "summing a chunk");
                        tracing::info_span!("chunk", k).in_scope(|| work(range))
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

/// `sum(i * i for i in range(lo, hi))`, wrapping (`black_box` keeps the compiler from
/// replacing the loop by its formula: the point is to burn CPU, as the Python loop does).
pub fn sum_of_squares(range: Range<u64>) -> u64 {
    let mut sum = 0u64;
    for i in range {
        sum = sum.wrapping_add(black_box(i).wrapping_mul(i));
    }
    sum
}

/// The squares below 40 million summed on one thread, then on one thread per usable core.
fn main() -> anyhow::Result<()> {
    let n = 40_000_000;
    let (usable, physical) = cores();
    println!("{usable} usable cores ({physical} physical)");
    let start = Instant::now();
    let one = sum_of_squares(0..n);
    let one_took = start.elapsed();
    let start = Instant::now();
    let split = parallel(n, usable, sum_of_squares)?;
    let split_took = start.elapsed();
    assert_eq!(one, split, "the same sum both ways");
    let speedup = one_took.as_secs_f64() / split_took.as_secs_f64();
    println!("one thread {one_took:.1?}; {usable} threads {split_took:.1?}: {speedup:.2}x");
    Ok(())
}

// --- run and measure ---

use std::process::Termination;
use std::time::Duration;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{Pair, Twin, chosen, flags};
use common::timeline::{Lanes, Recorded, Recording};
use common::timing::{Secs, efficiency, speedup, timed};
use common::workload::{sum_of_squares_expected, sum_of_squares_in};

pub const SECTION: Section = Section::new(
    "no-gil",
    "threads do not speed up CPU work",
    "Rust threads do: one per core, speedup measured",
    run,
)
.main(|| main().report())
.cpu_bound()
.twin(&TWIN);

/// `--python`: the same sum with `threading.Thread`, one chunk per thread.
const TWIN: Twin = Twin::new(
    "no_gil.py",
    include_str!("../python/no_gil.py"),
    &["one_thread_s", "threads_s", "speedup", "threads"],
);

/// Sized for about 0.5 s on one core of the development machine.
const N: u64 = 1_000_000_000;
/// The twin's size: about 1 s of one core in CPython 3.11 (`N` would take about half a
/// minute). With `--python` Rust also sums this size, so the rows compare the same job.
const PY_N: u64 = 30_000_000;
/// The twin's rounds (best of): enough to keep a hiccup out, few enough to stay quick.
const PY_ROUNDS: usize = 2;
/// Each version runs this many times; the best time counts (like `timeit`), which keeps
/// a moment of noise from other programs out of the figure.
const ROUNDS: usize = 3;

/// `n` summed on one thread, then on `cores`, [`ROUNDS`] times, each sum checked: every
/// round's two times, and the spans of the round with the fastest split.
fn rounds(n: u64, cores: usize) -> anyhow::Result<(Vec<(Duration, Duration)>, Recorded)> {
    let expected = sum_of_squares_expected(n);
    let (mut times, mut shown) = (Vec::new(), Recorded::default());
    for _ in 0..ROUNDS {
        let recording = Recording::start();
        let sum =
            || tracing::info_span!("sum", lane = "one thread").in_scope(|| sum_of_squares_in(0..n));
        let (one, one_took) = timed(sum);
        let (split, split_took) = timed(|| parallel(n, cores, sum_of_squares_in));
        let spans = recording.finish().named(&["sum", "chunk"]);
        anyhow::ensure!(
            (one, split?) == (expected, expected),
            "a sum of n = {n} is wrong"
        );
        if times.iter().all(|&(_, t)| split_took < t) {
            shown = spans;
        }
        times.push((one_took, split_took));
    }
    Ok((times, shown))
}

/// The best (least) of `xs` and their spread (largest / smallest).
fn best_spread(xs: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let best = xs.clone().fold(f64::INFINITY, f64::min);
    (best, xs.fold(0.0, f64::max) / best.max(f64::MIN_POSITIVE))
}

fn run() -> SectionResult {
    let (cores, physical) = cores();
    let (times, shown) = rounds(N, cores)?;
    let (seq, _) = best_spread(times.iter().map(|t| t.0.as_secs_f64()));
    let (par, _) = best_spread(times.iter().map(|t| t.1.as_secs_f64()));
    let s = seq / par;
    figure(
        "sum of squares",
        format!("n = {N}, result checked (best of {ROUNDS})"),
    );
    figure(
        "cores",
        format!("{cores} usable (available_parallelism), {physical} physical (num_cpus)"),
    );
    figure("one thread", Secs(Duration::from_secs_f64(seq)));
    figure(
        format!("{cores} threads"),
        Secs(Duration::from_secs_f64(par)),
    );
    figure(
        "speedup",
        format!(
            "{s:.2}x; parallel efficiency {:.0}%",
            efficiency(s, cores) * 100.0
        ),
    );
    figure(
        "Python threads (the guides)",
        "about 1.0x: the GIL runs one thread at a time",
    );
    shown.print(Lanes::Thread);
    if chosen().is_some() {
        python_side_by_side(cores)?;
    }
    takeaway_if(
        &Evidence::scaling(s, cores),
        format!(
            "no GIL: {cores} CPU-bound Rust threads ran on {cores} cores at once ({s:.2}x); the cores, and what else runs on them, are the limit, not the language"
        ),
    );
    Ok(())
}

/// `--python`: Rust on the twin's size too (one thread, then `cores`), then the twin.
fn python_side_by_side(cores: usize) -> anyhow::Result<()> {
    let (times, _) = rounds(PY_N, cores)?;
    let (seq, seq_spread) = best_spread(times.iter().map(|t| t.0.as_secs_f64()));
    let (par, par_spread) = best_spread(times.iter().map(|t| t.1.as_secs_f64()));
    let speedups = times.iter().map(|&(one, split)| speedup(one, split));
    let s_spread = best_spread(speedups).1;
    let n = format!("n = {:e}", PY_N as f64);
    TWIN.compare(
        &flags(&[
            ("--n", &PY_N),
            ("--threads", &cores),
            ("--rounds", &PY_ROUNDS),
        ]),
        &[
            Pair::secs(format!("one thread, {n}"), "one_thread_s", seq)
                .cpu()
                .spread(seq_spread),
            Pair::secs(format!("{cores} threads, {n}"), "threads_s", par)
                .cpu()
                .spread(par_spread),
            Pair::speedup(
                format!("speedup, {cores} threads, {n}"),
                "speedup",
                seq / par,
            )
            .cpu()
            .spread(s_spread),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_split_gives_the_known_answer() {
        let n = 100_003;
        for threads in [1, 2, 3, 8] {
            let calls = AtomicUsize::new(0);
            let sum = parallel(n, threads, |range| {
                calls.fetch_add(1, Ordering::SeqCst);
                sum_of_squares_in(range)
            })
            .unwrap();
            assert_eq!(sum, sum_of_squares_expected(n));
            assert_eq!(calls.into_inner(), threads, "one chunk per thread");
        }
    }

    #[test]
    fn chunks_cover_the_range_once() {
        for (n, parts) in [(10, 3), (3, 8), (0, 2), (100, 1)] {
            let chunks = split(n, parts);
            assert_eq!(chunks.len(), parts);
            assert_eq!(chunks.first().map(|r| r.start), Some(0));
            assert_eq!(chunks.last().map(|r| r.end), Some(n));
            assert!(chunks.windows(2).all(|w| w[0].end == w[1].start));
        }
    }

    #[test]
    fn the_python_twin_checks_its_sum_and_prints_its_fields() {
        let figures = TWIN.run_for_test(&["--n", "10001", "--threads", "3", "--rounds", "1"]);
        if let Some(figures) = figures {
            assert_eq!(figures["threads"], 3);
            assert!(figures["speedup"].as_f64().unwrap() > 0.0);
        }
    }
}
