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
//! results match the known answer; the timeline shows the one long bar, then the per-core
//! bars side by side; on free cores the speedup is close to the number of cores (parallel
//! efficiency near 100%). The line below them recalls Python's result with threads. On
//! one usable core, or cores busy with other programs, the last line says the claim was
//! not shown in this run, and why.
//!
//! Run only this: cargo run -p threading-demo -- no-gil

use std::ops::Range;
use std::thread;

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

// --- run and measure ---

use std::time::Duration;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{Pair, Twin, chosen, flags};
use common::timeline::{Lanes, Recorded, Recording};
use common::timing::{Secs, efficiency, speedup, timed};
use common::workload::{sum_of_squares_expected, sum_of_squares_in};

pub const SECTION: Section = Section::new(
    "no-gil",
    "the GIL: no speedup for CPU-bound threads",
    "Rust threads do speed it up: one per core, measured speedup and efficiency",
    run,
)
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
/// minute). With `--python` Rust also sums this size, so two rows compare the same job.
const PY_N: u64 = 30_000_000;
/// The twin's rounds (best of): enough to keep a hiccup out, few enough to stay quick.
const PY_ROUNDS: usize = 2;
/// Each version runs this many times; the best time counts (like `timeit`), which keeps
/// a moment of noise from other programs out of the figure.
const ROUNDS: usize = 3;

fn run() -> SectionResult {
    // How many cores this process may use (an affinity mask or a CPU quota counts).
    let (cores, physical) = cores();
    let expected = sum_of_squares_expected(N);
    let (mut best_seq, mut best_par) = (Duration::MAX, Duration::MAX);
    let mut shown = Recorded::default();
    for _ in 0..ROUNDS {
        let recording = Recording::start();
        let (sum, took) = timed(|| {
            tracing::info_span!("sum", lane = "one thread").in_scope(|| sum_of_squares_in(0..N))
        });
        anyhow::ensure!(sum == expected, "sequential sum {sum}, expected {expected}");
        best_seq = best_seq.min(took);
        let (sum, took) = timed(|| parallel(N, cores, sum_of_squares_in));
        let spans = recording.finish().named(&["sum", "chunk"]);
        let sum = sum?;
        anyhow::ensure!(sum == expected, "parallel sum {sum}, expected {expected}");
        if took < best_par {
            best_par = took;
            shown = spans;
        }
    }
    let s = speedup(best_seq, best_par);
    figure(
        "sum of squares",
        format!("n = {N}, result checked (best of {ROUNDS})"),
    );
    figure(
        "cores",
        format!("{cores} usable (available_parallelism), {physical} physical (num_cpus)"),
    );
    figure("one thread", Secs(best_seq));
    figure(
        format!(
            "{cores} thread{} ({cores} usable core{})",
            if cores == 1 { "" } else { "s" },
            if cores == 1 { "" } else { "s" }
        ),
        Secs(best_par),
    );
    figure("speedup", format!("{s:.2}x"));
    figure(
        "parallel efficiency",
        format!("{:.0}%", efficiency(s, cores) * 100.0),
    );
    figure(
        "Python threads (the guides)",
        "about 1.0x: the GIL runs one thread at a time",
    );
    shown.print(Lanes::Thread);
    if chosen().is_some() {
        python_side_by_side(cores, s)?;
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
fn python_side_by_side(cores: usize, rust_speedup: f64) -> anyhow::Result<()> {
    let expected = sum_of_squares_expected(PY_N);
    let (mut seq, mut par) = (Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        let (sum, took) = timed(|| sum_of_squares_in(0..PY_N));
        anyhow::ensure!(sum == expected, "sum {sum}, expected {expected}");
        seq = seq.min(took);
        let (sum, took) = timed(|| parallel(PY_N, cores, sum_of_squares_in));
        anyhow::ensure!(sum? == expected, "parallel sum at n = {PY_N} is wrong");
        par = par.min(took);
    }
    TWIN.compare(
        &flags(&[
            ("--n", &PY_N),
            ("--threads", &cores),
            ("--rounds", &PY_ROUNDS),
        ]),
        &[
            Pair::secs(
                format!("one thread, n = {:e}", PY_N as f64),
                "one_thread_s",
                seq.as_secs_f64(),
            ),
            Pair::secs(
                format!("{cores} threads, n = {:e}", PY_N as f64),
                "threads_s",
                par.as_secs_f64(),
            ),
            Pair::speedup(
                format!(
                    "speedup, {cores} threads (Rust n = {:e}, Python {:e})",
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
