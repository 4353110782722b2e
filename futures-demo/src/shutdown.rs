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
//! The executor below is submit.rs's, complete, plus `shutdown`: to cancel what is still
//! queued it keeps the queue's receiving end (`queue`), and a dropped job's handle reports
//! "cancelled".
//!
//! Watch: the `with` block lasts as long as its tasks (two rounds on two workers);
//! `shutdown(wait=False, cancel_futures=True)` returns at once, the two running tasks still
//! deliver their results, and the four queued ones report cancelled.
//!
//! Run only this: cargo run -p futures-demo -- shutdown
//! Copy it: cargo add anyhow@1 crossbeam-channel@0.5 tracing@0.1

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use crossbeam_channel::{Receiver, RecvError, Sender, bounded, unbounded};

// The executor of submit.rs, with the queue kept for `shutdown`.
type Job = Box<dyn FnOnce() + Send>;

/// `ThreadPoolExecutor(max_workers)`: worker threads taking jobs from one channel.
pub struct ThreadPoolExecutor {
    jobs: Option<Sender<Job>>, // taken (closed) at shutdown
    /// The queue's receiving end, kept to drain it on `shutdown(cancel_futures=True)`.
    queue: Receiver<Job>,
    workers: Vec<JoinHandle<()>>,
}

/// What `submit` returns, Python's `Future`: `result()` blocks until the task is done.
#[must_use = "a dropped handle loses the task's result, and its panic with it"]
pub struct TaskHandle<T>(Receiver<thread::Result<T>>);

impl ThreadPoolExecutor {
    pub fn new(max_workers: usize) -> std::io::Result<Self> {
        let (jobs, queue) = unbounded::<Job>();
        let workers = (0..max_workers.max(1))
            .map(|i| {
                let queue = queue.clone();
                thread::Builder::new()
                    .name(format!("pool-{i}"))
                    // The loop ends when every sender is gone: that is the shutdown signal.
                    .spawn(move || queue.iter().for_each(|job| job()))
            })
            .collect::<std::io::Result<_>>()?;
        Ok(ThreadPoolExecutor {
            jobs: Some(jobs),
            queue,
            workers,
        })
    }

    /// `executor.submit(fn)`: queue the task, return its handle at once.
    pub fn submit<T: Send + 'static>(
        &self,
        task: impl FnOnce() -> T + Send + 'static,
    ) -> TaskHandle<T> {
        let (tx, rx) = bounded(1);
        let job: Job = Box::new(move || {
            // A panic is caught here: it reaches result(), and this worker lives on.
            // The caller may have dropped its handle: then nobody wants the result.
            let _ = tx.send(catch_unwind(AssertUnwindSafe(task)));
        });
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(job);
        }
        TaskHandle(rx)
    }
}

impl<T> TaskHandle<T> {
    /// `future.result()`: the task's value, or an error if it panicked.
    pub fn result(self) -> anyhow::Result<T> {
        outcome(self.0.recv())
    }
}

/// What a handle's channel delivered, as `result()` reports it.
fn outcome<T>(received: Result<thread::Result<T>, RecvError>) -> anyhow::Result<T> {
    match received {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(panic)) => Err(anyhow!("the task panicked: {}", panic_message(&*panic))),
        // The job was dropped unrun, and its sender with it: Python's CancelledError.
        Err(RecvError) => Err(anyhow!(
            "cancelled: the pool shut down before running the task"
        )),
    }
}

/// The text of a panic (`panic!("...")` carries a `&str` or a `String`).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// Leaving the `with` block: stop taking work, let the queue drain, join every worker.
impl Drop for ThreadPoolExecutor {
    fn drop(&mut self) {
        drop(self.jobs.take());
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

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

/// `work(i)`: 150 ms of work (a sleep stands in for it).
pub fn work(i: usize) -> usize {
    let _span = tracing::info_span!("work", i).entered();
    thread::sleep(Duration::from_millis(150));
    i
}

/// The `with` block (4 tasks on 2 workers), then `shutdown(wait=False, cancel_futures=True)`
/// with two tasks running and four queued.
fn main() -> anyhow::Result<()> {
    let start = Instant::now();
    let finished = Arc::new(AtomicUsize::new(0));
    {
        let executor = ThreadPoolExecutor::new(2)?;
        for i in 0..4 {
            let finished = Arc::clone(&finished);
            // Fire and forget, as the Python does: the handle is dropped on purpose.
            let _ = executor.submit(move || {
                work(i);
                finished.fetch_add(1, Ordering::SeqCst)
            });
        }
    } // the with-block ends: Drop closes the queue and joins both workers
    let finished = finished.load(Ordering::SeqCst);
    println!(
        "with-block: ended after {:.0?}, {finished} of 4 tasks finished",
        start.elapsed()
    );

    let executor = ThreadPoolExecutor::new(2)?;
    let (started_tx, started) = bounded(6);
    let futures: Vec<_> = (0..6)
        .map(|i| {
            let started_tx = started_tx.clone();
            executor.submit(move || {
                let _ = started_tx.send(());
                work(i)
            })
        })
        .collect();
    started.recv()?; // two tasks running, four queued
    started.recv()?;
    let start = Instant::now();
    let cancelled = executor.shutdown(false, true);
    println!(
        "shutdown(wait=False, cancel_futures=True): {cancelled} cancelled, returned in {:.0?}",
        start.elapsed()
    );
    for (i, future) in futures.into_iter().enumerate() {
        match future.result() {
            Ok(v) => println!("task {i} -> {v}"),
            Err(e) => println!("task {i} -> {e}"),
        }
    }
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use anyhow::Context;
use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recording};
use common::timing::{Secs, timed};

pub const SECTION: Section = Section::new(
    "shutdown",
    "with executor: / shutdown(wait=False, cancel_futures=True)",
    "Drop joins every worker; shutdown(wait=false) detaches",
    run,
)
.main(|| main().report());

const TASK: Duration = Duration::from_millis(150);

fn run() -> SectionResult {
    let recording = Recording::start();

    // 1. The `with` block: Drop waits for every task.
    let finished = Arc::new(AtomicUsize::new(0));
    let (made, with_block) = timed(|| -> std::io::Result<()> {
        let executor = ThreadPoolExecutor::new(2)?;
        for i in 0..4 {
            let done = Arc::clone(&finished);
            let _ = executor.submit(move || {
                work(i);
                done.fetch_add(1, Ordering::SeqCst)
            });
        }
        Ok(())
    }); // <- executor dropped here: queue closed, workers joined
    made?;
    let after_with = finished.load(Ordering::SeqCst);
    anyhow::ensure!(after_with == 4, "Drop returned with {after_with}/4 done");
    println!("  with-block: 4 tasks submitted, {after_with} finished when the block ended");
    figure("with-block lasted", Secs(with_block));

    // 2. shutdown(wait=False, cancel_futures=True) while two run and four wait. Each task
    // says it has started, then waits for the release (closed after shutdown), so "two
    // running, four queued" is certain when shutdown is called.
    let executor = ThreadPoolExecutor::new(2)?;
    let (started_tx, started) = bounded::<()>(6);
    let (release_tx, release) = bounded::<()>(0);
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let (tx, release) = (started_tx.clone(), release.clone());
            executor.submit(move || {
                let _ = tx.send(());
                let _ = release.recv(); // returns once release_tx is dropped
                work(i)
            })
        })
        .collect();
    for _ in 0..2 {
        started
            .recv_timeout(Duration::from_secs(10))
            .context("the first two tasks never started")?;
    }
    let (cancelled, returned_in) = timed(|| executor.shutdown(false, true));
    drop(release_tx);
    let (mut finished_ids, mut cancelled_ids) = (Vec::new(), Vec::new());
    for (i, handle) in handles.into_iter().enumerate() {
        match handle.result() {
            Ok(v) => finished_ids.push(v),
            Err(_) => cancelled_ids.push(i),
        }
    }
    let recorded = recording.finish().named(&["work"]);
    println!("  shutdown(wait=False, cancel_futures=True) cancelled {cancelled} queued tasks");
    println!("  finished anyway: {finished_ids:?}   cancelled: {cancelled_ids:?}");
    anyhow::ensure!(
        finished_ids == [0, 1] && cancelled_ids == [2, 3, 4, 5] && cancelled == 4,
        "shutdown should let the two running tasks finish and cancel the four queued"
    );
    figure("shutdown(wait=False) took", Secs(returned_in));
    recorded.print(Lanes::Thread);
    takeaway_if(
        &Evidence::new(
            with_block >= TASK * 2 && returned_in < TASK,
            format!(
                "the with-block lasting two rounds (at least {}), shutdown(wait=False) returning before one task ({})",
                Secs(TASK * 2),
                Secs(TASK)
            ),
            format!("{} and {}", Secs(with_block), Secs(returned_in)),
        ),
        "Drop is the with-block: it joins every worker; shutdown(wait=false) detaches them",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_runs_every_queued_task_and_joins_every_worker() {
        let counter = Arc::new(AtomicUsize::new(0));
        {
            let executor = ThreadPoolExecutor::new(3).unwrap();
            for _ in 0..20 {
                let c = counter.clone();
                let _ = executor.submit(move || c.fetch_add(1, Ordering::SeqCst));
            }
        }
        assert_eq!(counter.load(Ordering::SeqCst), 20);
        // Every job (and its clone of the Arc) is gone: nothing still runs.
        assert_eq!(Arc::strong_count(&counter), 1);
    }

    #[test]
    fn shutdown_wait_joins_every_worker() {
        let counter = Arc::new(AtomicUsize::new(0));
        let executor = ThreadPoolExecutor::new(2).unwrap();
        for _ in 0..10 {
            let c = counter.clone();
            let _ = executor.submit(move || c.fetch_add(1, Ordering::SeqCst));
        }
        assert_eq!(executor.shutdown(true, false), 0);
        assert_eq!(counter.load(Ordering::SeqCst), 10);
        assert_eq!(Arc::strong_count(&counter), 1);
    }

    #[test]
    fn cancel_futures_drops_the_queued_and_lets_the_running_finish() {
        let executor = ThreadPoolExecutor::new(1).unwrap();
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
