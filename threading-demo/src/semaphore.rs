//! `threading.Semaphore(N)` ("limit DB connections") -> a small semaphore on `Mutex` +
//! `Condvar`, written here and model-checked with loom.
//!
//! Python:
//!     db_slots = threading.Semaphore(3)        # at most 3 connections at once
//!     def query(i):
//!         with db_slots:                       # acquire ... release
//!             run_query(i)
//!     threads = [threading.Thread(target=query, args=(i,)) for i in range(10)]
//!
//! Rust: std has no semaphore (tokio has an async one, for tasks). Twenty lines do it: a
//! counter of free permits under a `Mutex`, and a `Condvar` to sleep on while it is zero.
//! `acquire()` returns a `Permit` guard; its `Drop` gives the permit back, so the `with`
//! block is the guard's scope, and a panicking holder still returns its permit.
//! Hand-written primitives are where concurrency bugs hide, so this one is model-checked:
//! `cargo test -p threading-demo --release --features loom` swaps std's `Mutex`/`Condvar`
//! for loom's, which runs the tests under every possible interleaving of the threads.
//! In a copy, `cargo add loom@0.7 --optional` declares the `loom` feature those `cfg` lines
//! name (without it they warn; delete them if you do not model-check).
//!
//! Watch: ten queries of 60 ms with three permits take four rounds (about 240 ms); the
//! most ever inside at once is printed and is never above three (the demo reads it from the
//! `query` spans, and its timeline packs the queries into three lanes).
//!
//! Run only this: cargo run -p threading-demo -- semaphore
//! Copy it: cargo add anyhow@1 tracing@0.1

use std::sync::PoisonError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::anyhow;
#[cfg(feature = "loom")]
use loom::sync::{Condvar, Mutex};
#[cfg(not(feature = "loom"))]
use std::sync::{Condvar, Mutex};

/// At most `permits` holders at once.
#[derive(Debug)]
pub struct Semaphore {
    free: Mutex<usize>,
    freed: Condvar,
}

/// One permit; given back when dropped (the end of the `with` block).
#[must_use = "the permit is released as soon as it is dropped"]
#[derive(Debug)]
pub struct Permit<'a> {
    semaphore: &'a Semaphore,
}

impl Semaphore {
    pub fn new(permits: usize) -> Self {
        Semaphore {
            free: Mutex::new(permits),
            freed: Condvar::new(),
        }
    }

    /// Wait until a permit is free and take it.
    pub fn acquire(&self) -> Permit<'_> {
        // The count is never left half-updated, so a poisoned lock is still usable.
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        // A loop, not an `if`: condvars may wake spuriously, and another thread may have
        // taken the permit between the notify and our wake-up.
        while *free == 0 {
            free = self
                .freed
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        Permit { semaphore: self }
    }

    /// Take a permit if one is free now (`acquire(blocking=False)`).
    pub fn try_acquire(&self) -> Option<Permit<'_>> {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        if *free == 0 {
            return None;
        }
        *free -= 1;
        Some(Permit { semaphore: self })
    }

    /// Permits free right now.
    pub fn available(&self) -> usize {
        *self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self
            .semaphore
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner) += 1;
        self.semaphore.freed.notify_one();
    }
}

/// `queries` threads, each running `query(i)` while it holds a permit (`with db_slots:`).
/// Results in query order.
pub fn limited_queries<R: Send>(
    semaphore: &Semaphore,
    queries: usize,
    query: impl Fn(usize) -> R + Sync,
) -> anyhow::Result<Vec<R>> {
    thread::scope(|s| {
        let handles: Vec<_> = (0..queries)
            .map(|i| {
                let query = &query;
                s.spawn(move || {
                    let _permit = semaphore.acquire(); // `with db_slots:`
                    let _span = tracing::info_span!("query", i).entered();
                    query(i)
                }) // the span closes, then the permit is given back
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow!("a query thread panicked")))
            .collect()
    })
}

/// Ten queries of 60 ms through three permits, counting how many are inside at once.
fn main() -> anyhow::Result<()> {
    let db_slots = Semaphore::new(3);
    let (inside, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let start = Instant::now();
    let done = limited_queries(&db_slots, 10, |i| {
        most.fetch_max(inside.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
        thread::sleep(Duration::from_millis(60)); // run_query(i)
        inside.fetch_sub(1, Ordering::SeqCst);
        i
    })?;
    let most = most.into_inner();
    println!(
        "{} queries in {:.0?}, at most {most} inside at once",
        done.len(),
        start.elapsed()
    );
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recording};
use common::timing::{Secs, timed};

pub const SECTION: Section = Section::new(
    "semaphore",
    "threading.Semaphore(N)",
    "at most N threads inside: Mutex + Condvar, loom-checked",
    run,
)
.main(|| main().report());

const QUERIES: usize = 10;
const CONNECTIONS: usize = 3;
const QUERY_TIME: Duration = Duration::from_millis(60);

/// Built with `--features loom`, `main.rs` lists a stand-in instead of this `run`: the
/// primitives then work only inside `loom::model`.
fn run() -> SectionResult {
    let semaphore = Semaphore::new(CONNECTIONS);
    let recording = Recording::start();
    let (done, took) =
        timed(|| limited_queries(&semaphore, QUERIES, |_| thread::sleep(QUERY_TIME)));
    let queries = recording.finish().named(&["query"]);
    anyhow::ensure!(done?.len() == QUERIES, "a query went missing");
    let most = queries.most_at_once();
    anyhow::ensure!(
        most <= CONNECTIONS,
        "{most} inside a {CONNECTIONS}-permit semaphore"
    );
    anyhow::ensure!(
        semaphore.available() == CONNECTIONS,
        "a permit was not given back"
    );
    let held: Vec<_> = (0..CONNECTIONS).map(|_| semaphore.acquire()).collect();
    anyhow::ensure!(
        semaphore.try_acquire().is_none(),
        "try_acquire got a taken permit"
    );
    drop(held);
    let rounds = QUERIES.div_ceil(CONNECTIONS) as u32;
    figure(
        format!("{QUERIES} queries of {}", Secs(QUERY_TIME)),
        format!("{CONNECTIONS} permits, {} ({rounds} rounds)", Secs(took)),
    );
    figure(
        "most inside at once",
        format!("{most} (limit {CONNECTIONS})"),
    );
    figure("try_acquire(), all taken", "None (would block)");
    queries.print(Lanes::Packed);
    let ideal = QUERY_TIME * rounds;
    takeaway_if(
        &Evidence::new(
            most == CONNECTIONS && took >= ideal && took < ideal + QUERY_TIME,
            format!(
                "{CONNECTIONS} inside at most, {rounds} rounds (about {})",
                Secs(ideal)
            ),
            format!("{most} at most, {}", Secs(took)),
        ),
        "a Mutex<usize> + Condvar is a semaphore; the permit's Drop is the end of `with`",
    );
    Ok(())
}

#[cfg(test)]
#[cfg(not(feature = "loom"))]
mod tests {
    use super::*;
    use common::gauge::Gauge;

    #[test]
    fn never_more_than_n_inside_and_every_permit_comes_back() {
        let semaphore = Semaphore::new(2);
        let gauge = Gauge::new();
        let done = limited_queries(&semaphore, 8, |i| {
            let _inside = gauge.enter();
            thread::sleep(Duration::from_millis(1));
            i
        })
        .unwrap();
        assert_eq!(done, (0..8).collect::<Vec<_>>(), "every query ran");
        assert!((1..=2).contains(&gauge.max()), "{}", gauge.max());
        assert_eq!(semaphore.available(), 2);
    }

    #[test]
    fn the_limit_is_reached_when_enough_threads_wait() {
        // Two holders meet at a barrier: both must be inside at once, so 2 permits let 2 in.
        let semaphore = Semaphore::new(2);
        let gauge = Gauge::new();
        let both = std::sync::Barrier::new(2);
        limited_queries(&semaphore, 2, |_| {
            let _inside = gauge.enter();
            both.wait();
        })
        .unwrap();
        assert_eq!(gauge.max(), 2);
    }

    #[test]
    fn try_acquire_fails_when_all_permits_are_out() {
        let semaphore = Semaphore::new(1);
        let permit = semaphore.acquire();
        assert!(semaphore.try_acquire().is_none());
        drop(permit);
        assert!(semaphore.try_acquire().is_some());
    }

    #[test]
    fn a_panicking_holder_gives_its_permit_back() {
        let semaphore = Semaphore::new(1);
        let result = std::thread::scope(|s| {
            s.spawn(|| {
                let _permit = semaphore.acquire();
                panic!("holder fails");
            })
            .join()
        });
        assert!(result.is_err());
        assert_eq!(semaphore.available(), 1);
    }
}

/// Model checks: every interleaving of the threads, under loom.
#[cfg(test)]
#[cfg(feature = "loom")]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::thread;

    /// `threads` threads (plus the main one) each take a permit of `permits` once.
    /// `preemptions` bounds how many times loom may switch threads against their will in
    /// one interleaving (loom's advice for three threads or more: the full search takes
    /// many minutes, and known bugs need only two or three preemptions to show).
    fn check(permits: usize, threads: usize, preemptions: Option<usize>) {
        let mut model = loom::model::Builder::new();
        model.preemption_bound = preemptions;
        model.check(move || {
            let semaphore = Arc::new(Semaphore::new(permits));
            let inside = Arc::new(AtomicUsize::new(0));
            let enter = {
                let (semaphore, inside) = (semaphore.clone(), inside.clone());
                move || {
                    let _permit = semaphore.acquire();
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    assert!(now <= permits, "{now} inside, limit {permits}");
                    inside.fetch_sub(1, Ordering::SeqCst);
                }
            };
            let handles: Vec<_> = (0..threads).map(|_| thread::spawn(enter.clone())).collect();
            enter();
            for h in handles {
                h.join().unwrap();
            }
            assert_eq!(semaphore.available(), permits, "every permit came back");
        });
    }

    #[test]
    fn one_permit_is_mutual_exclusion_in_every_interleaving() {
        check(1, 2, None); // every interleaving
    }

    #[test]
    fn two_permits_three_threads_up_to_three_preemptions() {
        check(2, 2, Some(3));
    }
}
