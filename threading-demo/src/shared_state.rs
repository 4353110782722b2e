//! `global shared_counter` + `threading.Thread(target=f)` -> `thread::spawn` with
//! `Arc<Mutex<u64>>`, `Arc<AtomicU64>`, or a `static AtomicU64` (the module-level global).
//!
//! Python:
//!     shared_counter = 0
//!     lock = threading.Lock()
//!     def increment(times):
//!         global shared_counter
//!         for _ in range(times):
//!             with lock:
//!                 shared_counter += 1
//!     threads = [threading.Thread(target=increment, args=(100_000,)) for _ in range(4)]
//!     for t in threads: t.start()
//!     for t in threads: t.join()
//!
//! Rust: a thread from `thread::spawn` may outlive the function that started it, so its
//! closure must own what it uses (`move`, `'static`): it cannot borrow a local counter
//! (scoped threads can: `scoped-threads`). Three ways to share one counter with it:
//! - `Arc<Mutex<u64>>`: `Arc` is a thread-safe reference count (each thread holds a
//!   clone; the last one dropped frees it), `Mutex` is Python's lock, but it owns the
//!   number, so there is no way to touch the counter without locking.
//! - `Arc<AtomicU64>`: a counter needs no lock, one `fetch_add` instruction adds.
//! - `static SHARED_COUNTER: AtomicU64`: the module-level global. A `static` lives for the
//!   whole program, so `&SHARED_COUNTER` is `'static` and needs no `Arc`. A
//!   `static mut u64` would need `unsafe`; an atomic (or a `static Mutex`) does not.
//!
//! Watch: each of the three counts 4 threads x increments to the exact total; in the demo,
//! how many threads were inside their counting loops at the same time (all 4, on 2 cores
//! too: a thread inside its loop may be waiting for a core or the lock, not running) and
//! the cost per increment of each.
//!
//! Run only this: cargo run -p threading-demo -- shared-state
//! Copy it: cargo add anyhow@1 tracing@0.1

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use anyhow::anyhow;

fn join_all(handles: Vec<JoinHandle<()>>) -> anyhow::Result<()> {
    for handle in handles {
        handle
            .join()
            .map_err(|_| anyhow!("a counting thread panicked"))?;
    }
    Ok(())
}

/// `Arc<Mutex<u64>>`: the counter and its lock in one value, shared by reference count.
pub fn with_arc_mutex(threads: usize, times: u64) -> anyhow::Result<u64> {
    let shared_counter = Arc::new(Mutex::new(0u64));
    let handles = (0..threads)
        .map(|i| {
            let shared_counter = Arc::clone(&shared_counter); // one owner per thread
            thread::spawn(move || {
                let _span = tracing::info_span!("count", with = "Arc<Mutex<u64>>", i).entered();
                for _ in 0..times {
                    *shared_counter.lock().unwrap() += 1; // `with lock: shared_counter += 1`
                }
            })
        })
        .collect();
    join_all(handles)?;
    let total = *shared_counter.lock().unwrap();
    Ok(total)
}

/// `Arc<AtomicU64>`: no lock, one indivisible add.
pub fn with_arc_atomic(threads: usize, times: u64) -> anyhow::Result<u64> {
    let shared_counter = Arc::new(AtomicU64::new(0));
    let handles = (0..threads)
        .map(|i| {
            let shared_counter = Arc::clone(&shared_counter);
            thread::spawn(move || {
                let _span = tracing::info_span!("count", with = "Arc<AtomicU64>", i).entered();
                for _ in 0..times {
                    shared_counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    join_all(handles)?;
    Ok(shared_counter.load(Ordering::Relaxed))
}

/// The module-level global: `shared_counter = 0` at the top of a Python module.
pub static SHARED_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Count into a counter that lives for the whole program, such as [`SHARED_COUNTER`]: a
/// `&'static` reference may go to `thread::spawn` as it is, no `Arc`. Returns how much the
/// threads added (the global may already hold something, like Python's).
pub fn with_static(counter: &'static AtomicU64, threads: usize, times: u64) -> anyhow::Result<u64> {
    let before = counter.load(Ordering::Relaxed);
    let handles = (0..threads)
        .map(|i| {
            thread::spawn(move || {
                let _span = tracing::info_span!("count", with = "static AtomicU64", i).entered();
                for _ in 0..times {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    join_all(handles)?;
    Ok(counter.load(Ordering::Relaxed) - before)
}

/// Four threads, 100,000 increments each, into each of the three counters.
fn main() -> anyhow::Result<()> {
    let (threads, times) = (4, 100_000);
    println!("Arc<Mutex<u64>>:  {}", with_arc_mutex(threads, times)?);
    println!("Arc<AtomicU64>:   {}", with_arc_atomic(threads, times)?);
    println!(
        "static AtomicU64: {}",
        with_static(&SHARED_COUNTER, threads, times)?
    );
    println!("expected:         {}", threads as u64 * times);
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::Recording;
use common::timing::{Secs, timed};

pub const SECTION: Section = Section::new(
    "shared-state",
    "global counter, Thread(target=f)",
    "Arc<Mutex>, Arc<AtomicU64>, a static: one counter, exact",
    run,
)
.main(|| main().report());

const THREADS: usize = 4;
/// Enough that each thread counts for a few milliseconds even with an atomic, longer than
/// a scheduler time slice, so the threads' loops overlap in time.
const TIMES: u64 = 500_000;

fn run() -> SectionResult {
    let expected = THREADS as u64 * TIMES;
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    println!("  {THREADS} threads x {TIMES} increments = {expected} expected ({cores} cores here)");
    let ways: [(&str, &dyn Fn() -> anyhow::Result<u64>); 3] = [
        ("Arc<Mutex<u64>>", &|| with_arc_mutex(THREADS, TIMES)),
        ("Arc<AtomicU64>", &|| with_arc_atomic(THREADS, TIMES)),
        ("static AtomicU64", &|| {
            with_static(&SHARED_COUNTER, THREADS, TIMES)
        }),
    ];
    let mut least_overlap = THREADS;
    for (name, count) in ways {
        let recording = Recording::start();
        let (total, took) = timed(count);
        let spans = recording.finish().named(&["count"]);
        let total = total?;
        anyhow::ensure!(total == expected, "{name} counted {total}");
        // Threads inside their loops, not threads running: those wait for a core too.
        let inside = spans
            .filter(|s| s.field("with") == Some(name))
            .most_at_once();
        least_overlap = least_overlap.min(inside);
        let each = Secs(took.div_f64(expected as f64));
        figure(name, format!("{total}, exact; {each} an increment"));
        figure(
            "  in their loops at once",
            format!("{inside} of {THREADS} threads"),
        );
    }
    takeaway_if(
        &Evidence::new(
            least_overlap >= 2,
            "the threads' counting loops to overlap in time (contention) in each of the three",
            format!("at most {least_overlap} inside their loops at once in one of them"),
        ),
        "shared with spawned threads, their loops overlapping, all three counted exactly: Arc for shared ownership, Mutex or an atomic for the update, a static for a true global",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_way_counts_exactly() {
        assert_eq!(with_arc_mutex(4, 10_000).unwrap(), 40_000);
        assert_eq!(with_arc_atomic(4, 10_000).unwrap(), 40_000);
    }

    #[test]
    fn a_static_counter_keeps_its_value_between_calls() {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        assert_eq!(with_static(&COUNTER, 3, 1_000).unwrap(), 3_000);
        assert_eq!(with_static(&COUNTER, 2, 500).unwrap(), 1_000);
        assert_eq!(
            COUNTER.load(Ordering::Relaxed),
            4_000,
            "like a module global"
        );
    }

    #[test]
    fn no_threads_count_nothing() {
        assert_eq!(with_arc_mutex(0, 10).unwrap(), 0);
        assert_eq!(with_arc_atomic(3, 0).unwrap(), 0);
    }
}
