//! `shared_counter += 1` from many threads -> does not compile; a lost update the compiler
//! cannot see (atomic `load` then `store`); the fixes `Mutex` (`with lock:`) and `fetch_add`.
//!
//! Python:
//!     shared_counter = 0
//!     def increment():
//!         global shared_counter
//!         for _ in range(100_000):
//!             shared_counter += 1          # read, add, write: three steps, not one
//!     # 4 threads -> often less than 400_000. The fix:
//!     lock = threading.Lock()
//!     with lock:
//!         shared_counter += 1
//!
//! Rust: (a) the Python version is rejected at compile time. Written with scoped threads:
//!
//! ```text
//! let mut shared_counter = 0u64;
//! std::thread::scope(|s| {
//!     for _ in 0..4 {
//!         s.spawn(|| for _ in 0..1_000 { shared_counter += 1; });
//!     }
//! });
//!
//! error[E0499]: cannot borrow `shared_counter` as mutable more than once at a time
//!  --> race.rs:5:21
//!   |
//! 5 |             s.spawn(|| {
//!   |                     ^^ `shared_counter` was mutably borrowed here in the previous
//!   |                        iteration of the loop
//! 7 |                     shared_counter += 1;
//!   |                     -------------- borrows occur due to use of `shared_counter` in closure
//! ```
//!
//! (a global `static mut` would need `unsafe`, which this workspace forbids). Rust's
//! promise is "no data races", not "no race conditions": (b) an atomic `load` followed by
//! a `store` is memory-safe and compiles, yet two threads can both read 41 and both write
//! 42. That is Python's bug exactly, and the demo counts the increments it loses.
//! (c) The fixes make read-add-write one indivisible step: a `Mutex` whose guard lives for
//! the statement (`with lock:`), or one atomic `fetch_add` instruction.
//!
//! Watch: the racy counter ends short (on a multi-core machine) and the number lost is
//! printed; both fixes lose nothing; in the demo, the atomic is cheaper than the lock.
//!
//! Run only this: cargo run -p threading-demo -- race-condition
//! Copy it: cargo add anyhow@1

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::thread;

use anyhow::anyhow;

/// Run `increment` `per_thread` times on each of `threads` threads, all released at once by
/// a barrier so they really overlap.
pub fn hammer(threads: u64, per_thread: u64, increment: impl Fn() + Sync) -> anyhow::Result<()> {
    let start = Barrier::new(threads as usize);
    thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    for _ in 0..per_thread {
                        increment();
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().map_err(|_| anyhow!("a counting thread panicked")))
    })
}

/// (b) The race the compiler cannot see: read, then write back. Returns the final count.
pub fn racy_load_store(threads: u64, per_thread: u64) -> anyhow::Result<u64> {
    let counter = AtomicU64::new(0);
    hammer(threads, per_thread, || {
        let seen = counter.load(Ordering::Relaxed);
        // Another thread may store between these two lines: its increment is overwritten.
        counter.store(seen + 1, Ordering::Relaxed);
    })?;
    Ok(counter.into_inner())
}

/// (c) The `with lock:` twin: the guard is a temporary, released at the end of the statement.
pub fn with_mutex(threads: u64, per_thread: u64) -> anyhow::Result<u64> {
    let counter = Mutex::new(0u64);
    hammer(threads, per_thread, || {
        // `unwrap`: the lock is poisoned only if a thread panicked while holding it.
        *counter.lock().unwrap() += 1;
    })?;
    Ok(counter.into_inner().unwrap())
}

/// (c) One indivisible read-modify-write instruction.
pub fn with_fetch_add(threads: u64, per_thread: u64) -> anyhow::Result<u64> {
    let counter = AtomicU64::new(0);
    hammer(threads, per_thread, || {
        counter.fetch_add(1, Ordering::Relaxed);
    })?;
    Ok(counter.into_inner())
}

/// Four threads, 500,000 increments each, three ways.
fn main() -> anyhow::Result<()> {
    let (threads, per_thread) = (4, 500_000);
    let expected = threads * per_thread;
    let racy = racy_load_store(threads, per_thread)?;
    println!(
        "load + store: {racy} of {expected}, lost {}",
        expected - racy
    );
    println!(
        "Mutex:        {} of {expected}",
        with_mutex(threads, per_thread)?
    );
    println!(
        "fetch_add:    {} of {expected}",
        with_fetch_add(threads, per_thread)?
    );
    Ok(())
}

// --- run and measure ---

use std::process::Termination;
use std::time::Duration;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timing::{Secs, timed};

pub const SECTION: Section = Section::new(
    "race-condition",
    "shared_counter += 1; with lock:",
    "`+= 1` refused; load + store loses updates; Mutex fixes it",
    run,
)
.main(|| main().report());

const THREADS: u64 = 4;
const INCREMENTS: u64 = 1_000_000;
/// On a busy machine the threads may happen to run one after another and lose nothing;
/// the racy version is then run again, at most this many times in all.
const ATTEMPTS: usize = 3;

fn run() -> SectionResult {
    let expected = THREADS * INCREMENTS;
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "  {THREADS} threads x {INCREMENTS} increments = {expected} expected ({cores} cores here)"
    );
    let mut attempts = 0;
    let (racy, racy_took) = loop {
        attempts += 1;
        let (count, took) = timed(|| racy_load_store(THREADS, INCREMENTS));
        let count = count?;
        if count < expected || attempts == ATTEMPTS {
            break (count, took);
        }
    };
    let (locked, lock_took) = timed(|| with_mutex(THREADS, INCREMENTS));
    let (atomic, atomic_took) = timed(|| with_fetch_add(THREADS, INCREMENTS));
    anyhow::ensure!(
        (locked?, atomic?) == (expected, expected),
        "a fixed counter lost updates"
    );
    let each = |took: Duration| Secs(took.div_f64(expected as f64));
    let lost = expected - racy;
    figure(
        "load + store (racy)",
        format!("{racy}, lost {lost}; {} an increment", each(racy_took)),
    );
    figure(
        "Mutex (with lock:)",
        format!("{expected}, lost 0; {} an increment", each(lock_took)),
    );
    figure(
        "fetch_add",
        format!("{expected}, lost 0; {} an increment", each(atomic_took)),
    );
    if attempts > 1 {
        println!("  (the racy count took {attempts} runs: the threads did not always overlap)");
    }
    takeaway_if(
        &Evidence::new(
            lost > 0,
            "the racy counter to lose updates (the threads interleaving)",
            format!("no update lost in {attempts} runs: the threads did not overlap"),
        )
        .cpu(2),
        "the compiler stops the data race; a read-then-write race still needs a Mutex or fetch_add",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixes_lose_nothing() {
        assert_eq!(with_mutex(4, 10_000).unwrap(), 40_000);
        assert_eq!(with_fetch_add(4, 10_000).unwrap(), 40_000);
    }

    #[test]
    fn the_racy_version_never_overcounts_and_is_exact_alone() {
        // How many updates it loses depends on scheduling; it can never gain any.
        assert!(racy_load_store(4, 10_000).unwrap() <= 40_000);
        assert_eq!(racy_load_store(1, 10_000).unwrap(), 10_000);
    }
}
