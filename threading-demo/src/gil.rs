//! The GIL, made visible: one global lock every thread must hold to compute, released
//! around waits. CPU-bound threads take turns (about 1.0x); waits overlap (about Nx).
//!
//! Python:
//!     def crunch(n):
//!         return sum(i * i for i in range(n))   # holds the GIL (handed over every 5 ms)
//!     def fetch():
//!         time.sleep(0.02)                      # releases the GIL while it waits
//!     for target in (crunch, fetch):
//!         threads = [threading.Thread(target=target) for _ in range(4)]
//!         ...                                   # crunch: ~1.0x, fetch: ~4x
//!
//! CPython's interpreter has one lock, the GIL. A thread runs bytecode only while it
//! holds it; every 5 ms (`sys.getswitchinterval()`) a waiting thread asks for it and the
//! holder hands it over; a blocking call (`time.sleep`, a socket read, file I/O) releases
//! it for the whole wait (`Py_BEGIN_ALLOW_THREADS`). This file builds that with one global
//! `parking_lot::Mutex<()>`: a thread holds it for each 5 ms slice of work and hands it
//! over with `unlock_fair` (std's `Mutex` has no fair hand-over: the thread that just
//! unlocked usually takes it straight back); around a sleep it lets go.
//! The same threads without the lock are plain Rust threads: no GIL (`no-gil`). Python's
//! ways around the GIL: processes, an extension that releases it (numpy, `python-extension`),
//! or free-threaded CPython (`python3.13t`); PyPy runs the loop faster but keeps a GIL.
//!
//! Watch: on 2 threads, CPU work under the lock about 1.0x, waits under it about 2x, CPU
//! without it about 2x on 2 free cores. In the demo's timeline the GIL threads' compute bars
//! alternate, one lane at a time, and their wait bars overlap; the lock-free threads
//! compute side by side.
//!
//! Run only this: cargo run -p threading-demo -- gil
//! Copy it: cargo add anyhow@1 parking_lot@0.12 tracing@0.1

use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use parking_lot::{Mutex, MutexGuard};

/// The interpreter's one lock.
pub static GIL: Mutex<()> = Mutex::new(());

/// A CPU-bound thread body: `slices` pieces of `work`, each run while holding `gil`
/// (`None`: no global lock, a Rust thread). After each slice the holder hands the lock to
/// a waiting thread, as CPython does at its switch interval.
pub fn compute(gil: Option<&Mutex<()>>, slices: u32, work: impl Fn()) {
    for slice in 0..slices {
        let held = gil.map(Mutex::lock);
        tracing::info_span!("compute", slice).in_scope(&work);
        if let Some(held) = held {
            MutexGuard::unlock_fair(held); // the forced switch: a waiting thread goes next
        }
    }
}

/// An I/O-bound thread body: `calls` blocking calls of `io` (a sleep, a read). A little
/// bytecode runs under the lock before each call; the call itself runs without it.
pub fn blocking_io(gil: Option<&Mutex<()>>, calls: u32, io: impl Fn()) {
    for call in 0..calls {
        let held = gil.map(Mutex::lock); // preparing the call: bytecode
        drop(held); // Py_BEGIN_ALLOW_THREADS: release the GIL for the wait
        tracing::info_span!("wait", call).in_scope(&io);
    }
}

/// `threading.Thread(target=body)` `threads` times, named `{name}-1`, `{name}-2`, ...;
/// returns when all have finished.
pub fn run_threads(name: &str, threads: usize, body: impl Fn() + Sync) -> anyhow::Result<()> {
    let body = &body;
    thread::scope(|s| {
        let handles = (1..=threads)
            .map(|k| {
                thread::Builder::new()
                    .name(format!("{name}-{k}"))
                    .spawn_scoped(s, body)
                    .context("spawning a thread")
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        handles
            .into_iter()
            .try_for_each(|h| h.join().map_err(|_| anyhow!("a thread panicked")))
    })
}

/// `sum(i * i for i in range(n))`, wrapping (`black_box` keeps the compiler from replacing
/// the loop by its formula: the point is to burn CPU, as the Python loop does).
pub fn crunch(n: u64) -> u64 {
    let mut sum = 0u64;
    for i in 0..n {
        sum = sum.wrapping_add(black_box(i).wrapping_mul(i));
    }
    sum
}

/// How long `threads` threads running `body` take.
fn time_threads(name: &str, threads: usize, body: impl Fn() + Sync) -> anyhow::Result<Duration> {
    let start = Instant::now();
    run_threads(name, threads, body)?;
    Ok(start.elapsed())
}

/// 32 slices of CPU work and 8 waits of 20 ms, on 1 thread, then split over 2 under the
/// GIL; then the CPU work on 2 threads without it.
fn main() -> anyhow::Result<()> {
    let slice = || {
        black_box(crunch(300_000)); // a millisecond or so of bytecode
    };
    let wait = || thread::sleep(Duration::from_millis(20)); // time.sleep(0.02)
    let cpu_one = time_threads("one", 1, || compute(Some(&GIL), 32, slice))?;
    let cpu_gil = time_threads("gil", 2, || compute(Some(&GIL), 16, slice))?;
    let cpu_free = time_threads("free", 2, || compute(None, 16, slice))?;
    let io_one = time_threads("one", 1, || blocking_io(Some(&GIL), 8, wait))?;
    let io_gil = time_threads("gil", 2, || blocking_io(Some(&GIL), 4, wait))?;
    let x = |one: Duration, two: Duration| one.as_secs_f64() / two.as_secs_f64();
    println!(
        "CPU, 1 thread {cpu_one:.1?}; 2 threads under the GIL {cpu_gil:.1?}: {:.2}x",
        x(cpu_one, cpu_gil)
    );
    println!(
        "waits, 1 thread {io_one:.1?}; 2 threads under the GIL {io_gil:.1?}: {:.2}x",
        x(io_one, io_gil)
    );
    println!(
        "CPU, 2 threads without the GIL {cpu_free:.1?}: {:.2}x",
        x(cpu_one, cpu_free)
    );
    Ok(())
}

// --- run and measure ---

use std::process::Termination;
use std::sync::atomic::{AtomicU64, Ordering};

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{Pair, Twin, flags};
use common::timeline::{Lanes, Recorded, Recording};
use common::timing::{Secs, timed};
use common::workload::{sum_of_squares_expected, sum_of_squares_in};

pub const SECTION: Section = Section::new(
    "gil",
    "the GIL: CPU turns, I/O overlaps",
    "one lock held to compute, let go to wait: CPU ~1x, I/O ~Nx",
    run,
)
.main(|| main().report())
.cpu_bound()
.twin(&TWIN);

/// `--python`: the same slices and waits on CPython's real GIL.
const TWIN: Twin = Twin::new(
    "gil.py",
    include_str!("../python/gil.py"),
    &[
        "cpu_one_s",
        "cpu_speedup",
        "cpu_per_million_s",
        "io_one_s",
        "io_speedup",
        "squares",
    ],
);

/// CPython's switch interval: a slice of work under the lock.
const SLICE: Duration = Duration::from_millis(5);
/// Slices of work in all, split over the threads (so the work is the same for 1 or N).
const SLICES: u32 = 32;
/// Blocking waits in all, split over the threads, and how long each one waits.
const WAITS: u32 = 8;
const WAIT: Duration = Duration::from_millis(20);
/// The CPU runs are repeated: their median is shown, their spread can hold a verdict.
const ROUNDS: usize = 3;

/// The median of `xs` and their spread (largest / smallest).
fn median_spread(mut xs: Vec<f64>) -> (f64, f64) {
    xs.sort_by(f64::total_cmp);
    (
        xs[xs.len() / 2],
        xs[xs.len() - 1] / xs[0].max(f64::MIN_POSITIVE),
    )
}

/// How many squares one slice sums, so a slice takes about [`SLICE`] here: the median of
/// five timings of a size that takes at least 2 ms.
fn calibrate() -> u64 {
    let time = |n: u64| timed(|| sum_of_squares_in(0..n)).1.as_secs_f64();
    let mut n = 100_000u64;
    while time(n) < 0.002 && n < 1 << 34 {
        n *= 4;
    }
    let (median, _) = median_spread((0..5).map(|_| time(n)).collect());
    (n as f64 * SLICE.as_secs_f64() / median.max(1e-9)) as u64
}

/// The [`SLICES`] split over `threads` threads named `name`, under the lock or not: time
/// them, check the slices' sum, and return the time in seconds.
fn cpu_run(name: &str, threads: usize, gil: bool, n: u64) -> anyhow::Result<f64> {
    let total = AtomicU64::new(0);
    let work = || {
        total.fetch_add(sum_of_squares_in(0..n), Ordering::Relaxed);
    };
    let per_thread = SLICES / threads as u32;
    let took = time_threads(name, threads, || {
        compute(gil.then_some(&GIL), per_thread, work)
    })?;
    let expected = sum_of_squares_expected(n).wrapping_mul(u64::from(SLICES));
    anyhow::ensure!(
        total.into_inner() == expected,
        "{name}: a slice summed wrong"
    );
    Ok(took.as_secs_f64())
}

fn io_run(name: &str, threads: usize) -> anyhow::Result<f64> {
    let per_thread = WAITS / threads as u32;
    let waits = || blocking_io(Some(&GIL), per_thread, || thread::sleep(WAIT));
    Ok(time_threads(name, threads, waits)?.as_secs_f64())
}

/// What one run measured: (median, spread) over [`ROUNDS`] of the time of 1 thread
/// computing under the lock, the speedups of N threads under it and without it, the time of
/// the waits on 1 thread and their speedup on N.
struct Figures {
    threads: usize,
    usable: usize,
    squares: u64,
    one: (f64, f64),
    gil: (f64, f64),
    free: (f64, f64),
    io_one: (f64, f64),
    io: (f64, f64),
    /// The first round's spans, and the most GIL threads computing and waiting at once.
    spans: Recorded,
    at_once: [usize; 2],
}

fn measure() -> anyhow::Result<Figures> {
    // 2 threads (the GIL needs someone to turn away), 4 on 4 or more usable cores: a power
    // of two, so the slices and waits split evenly, and no more than the cores, so the
    // threads without the lock can all run at once.
    let usable = thread::available_parallelism().map_or(1, |n| n.get());
    let threads = if usable >= 4 { 4 } else { 2 };
    let squares = calibrate();
    let (mut rounds, mut spans) = (Vec::new(), Recorded::default());
    for round in 0..ROUNDS {
        let recording = (round == 0).then(Recording::start);
        let io_gil = io_run("gil", threads)?;
        let gil = cpu_run("gil", threads, true, squares)?;
        let free = cpu_run("free", threads, false, squares)?;
        if let Some(first) = recording {
            spans = first.finish().named(&["compute", "wait"]);
        }
        let one = cpu_run("one", 1, true, squares)?;
        rounds.push([one, gil, free, io_run("one", 1)?, io_gil]);
    }
    let over = |f: fn(&[f64; 5]) -> f64| median_spread(rounds.iter().map(f).collect());
    let at_once = |name| {
        spans
            .filter(|s| s.name == name && s.thread.starts_with("gil-"))
            .most_at_once()
    };
    Ok(Figures {
        threads,
        usable,
        squares,
        one: over(|r| r[0]),
        gil: over(|r| r[0] / r[1]),
        free: over(|r| r[0] / r[2]),
        io_one: over(|r| r[3]),
        io: over(|r| r[3] / r[4]),
        at_once: [at_once("compute"), at_once("wait")],
        spans,
    })
}

fn run() -> SectionResult {
    let f = measure()?;
    let (n, [computing, waiting]) = (f.threads, f.at_once);
    let secs = |x: f64| Secs(Duration::from_secs_f64(x));
    println!(
        "  {SLICES} slices of CPU work (about {} each: {} squares) and {WAITS} waits of {}, on 1 or {n} threads ({} usable cores); medians of {ROUNDS} runs",
        Secs(SLICE),
        f.squares,
        Secs(WAIT),
        f.usable
    );
    figure("CPU, 1 thread", format!("{} (sums checked)", secs(f.one.0)));
    figure(
        format!("CPU, {n} threads, GIL"),
        format!("{:.2}x; at most {computing} computing at once", f.gil.0),
    );
    figure("waits, 1 thread", secs(f.io_one.0));
    figure(
        format!("waits, {n} threads, GIL"),
        format!("{:.2}x; {waiting} waiting at once", f.io.0),
    );
    figure(
        format!("CPU, {n} threads, no lock"),
        format!("{:.2}x", f.free.0),
    );
    f.spans.print(Lanes::Thread);
    compare(&f)?;
    let (s_gil, s_io, s_free) = (f.gil.0, f.io.0, f.free.0);
    let turns = Evidence::new(
        computing == 1 && (0.8..=1.25).contains(&s_gil),
        "CPU threads under the lock to compute one at a time, about 1.0x",
        format!("{s_gil:.2}x, at most {computing} computing at once"),
    );
    let overlap = Evidence::new(
        waiting == n && s_io >= 0.7 * n as f64,
        format!("waits under the lock to overlap, about {n}x"),
        format!("{s_io:.2}x, {waiting} waiting at once"),
    );
    takeaway_if(
        &turns.and(overlap),
        format!(
            "the GIL picture: under one lock CPU threads take turns ({s_gil:.2}x) while waits overlap ({s_io:.2}x with {n} threads)"
        ),
    );
    takeaway_if(
        &Evidence::scaling(s_free, n).cpu(n),
        format!(
            "without the lock the same {n} threads computed at once ({s_free:.2}x): Rust has no GIL"
        ),
    );
    Ok(())
}

/// `--python`: the same plan on CPython's GIL. Each side calibrates its own slice to about
/// [`SLICE`], so the slices differ in size: the loop's speed is compared per million squares.
/// The waits are the same sleeps on both sides (which side sleeps faster is the scheduler's
/// wake-up latency on a busy machine, not the language): only their speedup is compared.
fn compare(f: &Figures) -> anyhow::Result<()> {
    let n = f.threads;
    let million = f.one.0 / (f.squares as f64 * f64::from(SLICES) / 1e6);
    TWIN.compare(
        &flags(&[
            ("--slices", &SLICES),
            ("--slice", &SLICE.as_secs_f64()),
            ("--waits", &WAITS),
            ("--wait", &WAIT.as_secs_f64()),
            ("--threads", &n),
            ("--rounds", &ROUNDS),
        ]),
        &[
            Pair::secs("CPU: a million squares", "cpu_per_million_s", million)
                .cpu()
                .spread(f.one.1),
            Pair::count("squares a slice (~5 ms)", "squares", f.squares as f64).different_jobs(),
            Pair::speedup(format!("CPU, {n} threads, a GIL"), "cpu_speedup", f.gil.0)
                .cpu()
                .spread(f.gil.1),
            Pair::speedup(
                format!("{WAITS} waits, {n} threads, a GIL"),
                "io_speedup",
                f.io.0,
            )
            .timer()
            .spread(f.io.1),
            Pair::speedup(
                format!("CPU, {n} threads, no lock / GIL"),
                "cpu_speedup",
                f.free.0,
            )
            .cpu()
            .spread(f.free.1),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    #[test]
    fn under_the_lock_no_two_threads_compute_at_once() {
        let gil = Mutex::new(());
        let (inside, most) = (AtomicU64::new(0), AtomicU64::new(0));
        let work = || {
            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::hint::black_box(sum_of_squares_in(0..1_000));
            inside.fetch_sub(1, Ordering::SeqCst);
        };
        run_threads("t-gil", 4, || compute(Some(&gil), 50, work)).unwrap();
        assert_eq!(most.into_inner(), 1);
    }

    #[test]
    fn without_the_lock_threads_compute_together() {
        // Two threads meet inside `work`: impossible under the lock, certain without it.
        let meet = Barrier::new(2);
        let calls = AtomicU64::new(0);
        run_threads("t-free", 2, || {
            compute(None, 1, || {
                meet.wait();
                calls.fetch_add(1, Ordering::SeqCst);
            })
        })
        .unwrap();
        assert_eq!(calls.into_inner(), 2);
    }

    #[test]
    fn waits_do_not_hold_the_lock() {
        // Both threads meet inside their blocking calls: a deadlock if the lock were held
        // across the call.
        let gil = Mutex::new(());
        let meet = Barrier::new(2);
        let calls = AtomicU64::new(0);
        run_threads("t-io", 2, || {
            blocking_io(Some(&gil), 3, || {
                meet.wait();
                calls.fetch_add(1, Ordering::SeqCst);
            })
        })
        .unwrap();
        assert_eq!(calls.into_inner(), 6);
        // Alone, the thread's blocking call finds the lock free.
        run_threads("t-io-1", 1, || {
            blocking_io(Some(&gil), 2, || assert!(!gil.is_locked()))
        })
        .unwrap();
    }

    #[test]
    fn the_python_twin_prints_its_fields() {
        let figures = TWIN.run_for_test(&[
            "--slices",
            "4",
            "--slice",
            "0.001",
            "--waits",
            "2",
            "--wait",
            "0.001",
            "--threads",
            "2",
            "--rounds",
            "2",
        ]);
        if let Some(figures) = figures {
            assert!(figures["squares"].as_f64().unwrap() >= 1.0);
            assert!(figures["io_one_s"].as_f64().unwrap() >= 0.002);
        }
    }

    #[test]
    fn every_thread_runs_its_body_once() {
        let calls = AtomicU64::new(0);
        run_threads("t-body", 3, || {
            calls.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        assert_eq!(calls.into_inner(), 3);
    }
}
