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
//! The same threads without the lock are plain Rust threads: no GIL (`no-gil`).
//!
//! Watch: the timeline: the GIL threads' compute bars alternate, one lane at a time, and
//! their wait bars overlap; the lock-free threads compute side by side. The figures: CPU
//! work under the lock about 1.0x, waits under it about Nx, CPU without it about Nx on N
//! free cores.
//!
//! Run only this: cargo run -p threading-demo -- gil

use std::thread;

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

// --- run and measure ---

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{Pair, Twin, flags};
use common::timeline::{Lanes, Recording};
use common::timing::{Secs, Stopwatch, speedup, timed};
use common::workload::{sum_of_squares_expected, sum_of_squares_in};

pub const SECTION: Section = Section::new(
    "gil",
    "the GIL: threads take turns on CPU work, overlap on I/O",
    "one global lock held to compute, released to wait: CPU ~1.0x, waits ~Nx; without it, CPU ~Nx",
    run,
)
.cpu_bound()
.twin(&TWIN);

/// `--python`: the same slices and waits on CPython's real GIL.
const TWIN: Twin = Twin::new(
    "gil.py",
    include_str!("../python/gil.py"),
    &[
        "cpu_one_s",
        "cpu_threads_s",
        "cpu_speedup",
        "io_one_s",
        "io_threads_s",
        "io_speedup",
        "squares",
        "switch_s",
    ],
);

/// CPython's switch interval: a slice of work under the lock.
const SLICE: Duration = Duration::from_millis(5);
/// Slices of work in all, split over the threads (so the work is the same for 1 or N).
const SLICES: u32 = 32;
/// Blocking waits in all, split over the threads, and how long each one waits.
const WAITS: u32 = 8;
const WAIT: Duration = Duration::from_millis(20);

/// How many squares one slice sums: measured, so a slice takes about [`SLICE`] here.
fn calibrate() -> u64 {
    let mut n = 100_000u64;
    loop {
        let (_, took) = timed(|| sum_of_squares_in(0..n));
        if took >= Duration::from_millis(2) || n >= 1 << 34 {
            return (n as f64 * SLICE.as_secs_f64() / took.as_secs_f64().max(1e-9)) as u64;
        }
        n *= 4;
    }
}

/// The work of one slice, with its result added to `total`, checked afterwards.
fn slice_work(n: u64, total: &AtomicU64) -> impl Fn() + Sync + '_ {
    move || {
        total.fetch_add(sum_of_squares_in(0..n), Ordering::Relaxed);
    }
}

/// The [`SLICES`] split over `threads` threads named `name`, under `gil` or not: time
/// them, check the slices' sum, and return the time.
fn cpu_run(
    name: &str,
    threads: usize,
    gil: Option<&Mutex<()>>,
    n: u64,
) -> anyhow::Result<Duration> {
    let total = AtomicU64::new(0);
    let per_thread = SLICES / threads as u32;
    let work = slice_work(n, &total);
    let sw = Stopwatch::start();
    run_threads(name, threads, || compute(gil, per_thread, &work))?;
    let took = sw.elapsed();
    drop(work);
    let expected = sum_of_squares_expected(n).wrapping_mul(u64::from(per_thread) * threads as u64);
    let total = total.into_inner();
    anyhow::ensure!(
        total == expected,
        "{name}: sum {total}, expected {expected}"
    );
    Ok(took)
}

fn io_run(name: &str, threads: usize, gil: Option<&Mutex<()>>) -> anyhow::Result<Duration> {
    let per_thread = WAITS / threads as u32;
    let sw = Stopwatch::start();
    run_threads(name, threads, || {
        blocking_io(gil, per_thread, || thread::sleep(WAIT))
    })?;
    Ok(sw.elapsed())
}

fn run() -> SectionResult {
    // 2 threads (the GIL needs someone to turn away), 4 on 4 or more usable cores: a power
    // of two, so the slices and waits split evenly, and no more than the cores, so the
    // threads without the lock can all run at once.
    let usable = thread::available_parallelism().map_or(1, |n| n.get());
    let threads = if usable >= 4 { 4 } else { 2 };
    let n = calibrate();
    println!(
        "  {SLICES} slices of CPU work (about {} each, sum of squares of {n}) and {WAITS} waits of {}, split over 1 or {threads} threads ({usable} usable cores)",
        Secs(SLICE),
        Secs(WAIT)
    );

    let cpu_one = cpu_run("one", 1, Some(&GIL), n)?;
    let io_one = io_run("one", 1, Some(&GIL))?;

    let recording = Recording::start();
    let cpu_gil = cpu_run("gil", threads, Some(&GIL), n)?;
    let io_gil = io_run("gil", threads, Some(&GIL))?;
    let cpu_free = cpu_run("free", threads, None, n)?;
    let spans = recording.finish().named(&["compute", "wait"]);

    let (s_cpu_gil, s_io_gil, s_cpu_free) = (
        speedup(cpu_one, cpu_gil),
        speedup(io_one, io_gil),
        speedup(cpu_one, cpu_free),
    );
    let computing_at_once = spans
        .filter(|s| s.name == "compute" && s.thread.starts_with("gil-"))
        .most_at_once();
    let waiting_at_once = spans
        .filter(|s| s.name == "wait" && s.thread.starts_with("gil-"))
        .most_at_once();
    figure("CPU, 1 thread", format!("{} (sums checked)", Secs(cpu_one)));
    figure(
        format!("CPU, {threads} threads, GIL"),
        format!(
            "{}: {s_cpu_gil:.2}x; at most {computing_at_once} computing at once",
            Secs(cpu_gil)
        ),
    );
    figure("waits, 1 thread", Secs(io_one));
    figure(
        format!("waits, {threads} threads, GIL"),
        format!(
            "{}: {s_io_gil:.2}x; {waiting_at_once} waiting at once",
            Secs(io_gil)
        ),
    );
    figure(
        format!("CPU, {threads} threads, no lock"),
        format!("{}: {s_cpu_free:.2}x", Secs(cpu_free)),
    );
    spans.print(Lanes::Thread);
    // The twin calibrates its own slice to the same duration: its loop is much slower.
    TWIN.compare(
        &flags(&[
            ("--slices", &SLICES),
            ("--slice", &SLICE.as_secs_f64()),
            ("--waits", &WAITS),
            ("--wait", &WAIT.as_secs_f64()),
            ("--threads", &threads),
        ]),
        &[
            Pair::secs(
                format!("CPU, 1 thread ({SLICES} slices of {})", Secs(SLICE)),
                "cpu_one_s",
                cpu_one.as_secs_f64(),
            ),
            Pair::speedup(
                format!("CPU, {threads} threads, GIL (Rust: the lock above)"),
                "cpu_speedup",
                s_cpu_gil,
            ),
            Pair::secs(
                format!("waits, 1 thread ({WAITS} of {})", Secs(WAIT)),
                "io_one_s",
                io_one.as_secs_f64(),
            ),
            Pair::speedup(
                format!("waits, {threads} threads, GIL"),
                "io_speedup",
                s_io_gil,
            ),
            Pair::speedup(
                format!("CPU, {threads} threads (Rust: no lock; Python: its GIL)"),
                "cpu_speedup",
                s_cpu_free,
            ),
        ],
    )?;

    let turns = Evidence::new(
        computing_at_once == 1 && (0.8..=1.25).contains(&s_cpu_gil),
        "CPU threads under the lock to compute one at a time, about 1.0x",
        format!("{s_cpu_gil:.2}x, at most {computing_at_once} computing at once"),
    );
    let overlap = Evidence::new(
        waiting_at_once == threads && s_io_gil >= 0.7 * threads as f64,
        format!("waits under the lock to overlap, about {threads}x"),
        format!("{s_io_gil:.2}x, {waiting_at_once} waiting at once"),
    );
    takeaway_if(
        &turns.and(overlap),
        format!(
            "the GIL picture: under one lock CPU threads take turns ({s_cpu_gil:.2}x) while waits overlap ({s_io_gil:.2}x with {threads} threads)"
        ),
    );
    takeaway_if(
        &Evidence::scaling(s_cpu_free, threads).cpu(threads),
        format!(
            "without the lock the same {threads} threads computed at once ({s_cpu_free:.2}x): Rust has no GIL"
        ),
    );
    Ok(())
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
