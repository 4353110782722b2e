//! `with ThreadPoolExecutor() as executor:` and `shutdown(wait=True)` -> `Drop`: leaving
//! the scope closes the queue and joins every worker. `shutdown(wait=False,
//! cancel_futures=True)` -> drain the queue (each dropped job is a cancelled future) and
//! return without joining.
//!
//! Python:
//!     with ThreadPoolExecutor(max_workers=2) as executor:   # __exit__ calls shutdown(wait=True)
//!         for i in range(4):
//!             executor.submit(work, i)
//!     # here every task has finished
//!
//!     executor.shutdown(wait=False, cancel_futures=True)   # queued ones cancelled, running ones go on
//!
//! Where Rust differs: `shutdown` takes the executor by value, so "submit after shutdown"
//! (a RuntimeError in Python) does not compile. `Drop` runs at the end of the scope on every
//! path, early returns and panics included, as `__exit__` does. With `wait=False` the
//! workers are detached: Python still joins them when the interpreter exits, while a Rust
//! program ends when `main` returns, detached threads or not.
//!
//! Watch: the `with` block lasts as long as its tasks (two rounds on two workers);
//! `shutdown(wait=False, cancel_futures=True)` returns at once, the two running tasks still
//! deliver their results, and the four queued ones report cancelled.
//!
//! Run only this: cargo run -p futures-demo -- shutdown

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use common::cli::{SectionResult, figure, takeaway};
use common::timeline::{Timeline, thread_lane};
use common::timing::{Secs, Stopwatch, timed};
use crossbeam_channel::bounded;

use crate::submit::ThreadPoolExecutor;

impl ThreadPoolExecutor {
    /// `executor.shutdown(wait, cancel_futures)`. Returns how many queued tasks it cancelled.
    pub fn shutdown(mut self, wait: bool, cancel_futures: bool) -> usize {
        drop(self.jobs.take()); // no more work: workers stop once the queue is empty
        let cancelled = if cancel_futures {
            // Each job dropped unrun drops its result sender: its handle reports cancelled.
            self.queue.try_iter().count()
        } else {
            0
        };
        if wait {
            for worker in self.workers.drain(..) {
                let _ = worker.join();
            }
        } else {
            self.workers.clear(); // a dropped JoinHandle detaches its thread
        }
        tracing::debug!(cancelled, wait, "executor shut down");
        cancelled
    }
}

const TASK: Duration = Duration::from_millis(150);

pub fn run() -> SectionResult {
    let timeline = Timeline::new();
    let work = |label: String| {
        let tl = timeline.clone();
        move || tl.record(thread_lane(), label, || std::thread::sleep(TASK))
    };

    // 1. The `with` block: Drop waits for every task.
    let finished = Arc::new(AtomicUsize::new(0));
    let ((), with_block) = timed(|| {
        let executor = ThreadPoolExecutor::new(2);
        for i in 0..4 {
            let (run, done) = (work(format!("with {i}")), finished.clone());
            executor.submit(move || {
                run();
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
    }); // <- executor dropped here: queue closed, workers joined
    let after_with = finished.load(Ordering::SeqCst);
    anyhow::ensure!(after_with == 4, "Drop returned with {after_with}/4 done");
    println!("  with-block: 4 tasks submitted, {after_with} finished when the block ended");
    figure("with-block lasted", Secs(with_block));

    // 2. shutdown(wait=False, cancel_futures=True) while two run and four wait.
    let executor = ThreadPoolExecutor::new(2);
    // Each task says it has started, then waits for the release (closed after shutdown),
    // so "two running, four queued" is certain when shutdown is called.
    let (started_tx, started) = bounded::<()>(6);
    let (release_tx, release) = bounded::<()>(0);
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let (run, tx, release) = (
                work(format!("task {i}")),
                started_tx.clone(),
                release.clone(),
            );
            executor.submit(move || {
                let _ = tx.send(());
                let _ = release.recv(); // returns once release_tx is dropped
                run();
                i
            })
        })
        .collect();
    for _ in 0..2 {
        started
            .recv_timeout(Duration::from_secs(10))
            .context("the first two tasks never started")?;
    }
    let sw = Stopwatch::start();
    let cancelled = executor.shutdown(false, true);
    let returned_in = sw.elapsed();
    drop(release_tx);
    let mut finished_ids = Vec::new();
    let mut cancelled_ids = Vec::new();
    for (i, handle) in handles.into_iter().enumerate() {
        match handle.result() {
            Ok(v) => finished_ids.push(v),
            Err(_) => cancelled_ids.push(i),
        }
    }
    println!("  shutdown(wait=False, cancel_futures=True) cancelled {cancelled} queued tasks");
    println!("  finished anyway: {finished_ids:?}   cancelled: {cancelled_ids:?}");
    anyhow::ensure!(
        finished_ids == [0, 1] && cancelled_ids == [2, 3, 4, 5] && cancelled == 4,
        "shutdown should let the two running tasks finish and cancel the four queued"
    );
    figure("shutdown(wait=False) returned in", Secs(returned_in));
    timeline.print();
    takeaway("Drop is the with-block: it joins every worker; shutdown(wait=false) detaches them");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_runs_every_queued_task_and_joins_every_worker() {
        let counter = Arc::new(AtomicUsize::new(0));
        {
            let executor = ThreadPoolExecutor::new(3);
            for _ in 0..20 {
                let c = counter.clone();
                executor.submit(move || c.fetch_add(1, Ordering::SeqCst));
            }
        }
        assert_eq!(counter.load(Ordering::SeqCst), 20);
        // Every job (and its clone of the Arc) is gone: nothing still runs.
        assert_eq!(Arc::strong_count(&counter), 1);
    }

    #[test]
    fn shutdown_wait_joins_every_worker() {
        let counter = Arc::new(AtomicUsize::new(0));
        let executor = ThreadPoolExecutor::new(2);
        for _ in 0..10 {
            let c = counter.clone();
            executor.submit(move || c.fetch_add(1, Ordering::SeqCst));
        }
        assert_eq!(executor.shutdown(true, false), 0);
        assert_eq!(counter.load(Ordering::SeqCst), 10);
        assert_eq!(Arc::strong_count(&counter), 1);
    }

    #[test]
    fn cancel_futures_drops_the_queued_and_lets_the_running_finish() {
        let executor = ThreadPoolExecutor::new(1);
        let (started_tx, started) = bounded::<()>(1);
        let (open, gate) = bounded::<()>(1);
        let running = executor.submit(move || {
            started_tx.send(()).unwrap();
            gate.recv().unwrap();
            "ran"
        });
        let queued: Vec<_> = (0..3).map(|i| executor.submit(move || i)).collect();
        started.recv().unwrap();
        assert_eq!(executor.shutdown(false, true), 3);
        for handle in queued {
            let err = handle.result().unwrap_err();
            assert!(err.to_string().contains("cancelled"), "{err:#}");
        }
        open.send(()).unwrap();
        assert_eq!(running.result().unwrap(), "ran");
    }
}
