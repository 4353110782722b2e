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
//!
//! Watch: ten queries of 60 ms with three permits take four rounds (about 240 ms); the
//! largest number ever inside is printed and is never above three; the timeline shows at
//! most three bars in any column.
//!
//! Run only this: cargo run -p threading-demo -- semaphore

// Under `--features loom` only the model checks use these types.
#![cfg_attr(feature = "loom", allow(dead_code))]

use std::sync::PoisonError;

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

#[cfg(not(feature = "loom"))]
mod demo {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread;
    use std::time::Duration;

    use anyhow::anyhow;
    use common::cli::{SectionResult, figure, takeaway};
    use common::timeline::Timeline;
    use common::timing::{Secs, timed};

    use super::Semaphore;

    pub const QUERIES: usize = 10;
    pub const CONNECTIONS: usize = 3;
    const QUERY_TIME: Duration = Duration::from_millis(60);

    /// `queries` threads, each holding a permit for `hold`. Returns the largest number
    /// that were ever inside at once.
    pub fn limited_queries(
        semaphore: &Semaphore,
        queries: usize,
        hold: Duration,
        timeline: &Timeline,
    ) -> anyhow::Result<usize> {
        let inside = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        thread::scope(|s| {
            let handles: Vec<_> = (0..queries)
                .map(|i| {
                    let (inside, most) = (&inside, &most);
                    s.spawn(move || {
                        let _permit = semaphore.acquire(); // `with db_slots:`
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        tracing::debug!(query = i, inside = now, "got a connection");
                        timeline.record(format!("query-{i}"), "query", || thread::sleep(hold));
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }) // the permit is dropped here, after `inside` went down
                })
                .collect();
            handles
                .into_iter()
                .try_for_each(|h| h.join().map_err(|_| anyhow!("a query thread panicked")))
        })?;
        Ok(most.into_inner())
    }

    pub fn run() -> SectionResult {
        let semaphore = Semaphore::new(CONNECTIONS);
        let timeline = Timeline::new();
        let (most, took) = timed(|| limited_queries(&semaphore, QUERIES, QUERY_TIME, &timeline));
        let most = most?;
        anyhow::ensure!(
            most <= CONNECTIONS,
            "{most} threads were inside a {CONNECTIONS}-permit semaphore"
        );
        anyhow::ensure!(
            semaphore.available() == CONNECTIONS,
            "permits were not all given back"
        );
        figure(
            format!("{QUERIES} queries of {}", Secs(QUERY_TIME)),
            format!("{CONNECTIONS} permits"),
        );
        figure(
            "most inside at once",
            format!("{most} (limit {CONNECTIONS})"),
        );
        let held: Vec<_> = (0..CONNECTIONS).map(|_| semaphore.acquire()).collect();
        let refused = semaphore.try_acquire().is_none();
        drop(held);
        anyhow::ensure!(refused, "try_acquire got a permit that was not free");
        figure("try_acquire(), all taken", "None (would block)");
        figure(
            "took",
            format!("{} ({} rounds)", Secs(took), QUERIES.div_ceil(CONNECTIONS)),
        );
        timeline.print();
        takeaway("a Mutex<usize> + Condvar is a semaphore; the permit's Drop is the end of `with`");
        Ok(())
    }
}

#[cfg(not(feature = "loom"))]
pub use demo::run;

/// Built with `--features loom`, the primitives only work inside `loom::model`.
#[cfg(feature = "loom")]
pub fn run() -> common::cli::SectionResult {
    anyhow::bail!(
        "this build model-checks the primitives with loom; run the demo without --features loom"
    )
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::demo::limited_queries;
    use super::*;
    use common::timeline::Timeline;
    use std::time::Duration;

    #[test]
    fn never_more_than_n_inside_and_every_permit_comes_back() {
        let semaphore = Semaphore::new(2);
        let timeline = Timeline::new();
        let most = limited_queries(&semaphore, 8, Duration::from_millis(1), &timeline).unwrap();
        assert!((1..=2).contains(&most), "{most}");
        assert_eq!(semaphore.available(), 2);
        assert_eq!(timeline.spans().len(), 8, "every query ran");
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
#[cfg(all(test, feature = "loom"))]
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
