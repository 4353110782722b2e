//! `future.cancel()` -> a state shared by the handle and the job (queued, running,
//! cancelled), switched with one atomic compare-and-swap: whoever moves it off "queued"
//! first wins. Cancel succeeds for a task still in the queue and fails for one running.
//!
//! Python:
//!     with ThreadPoolExecutor(max_workers=1) as executor:
//!         running = executor.submit(work, "A")     # the one worker takes it at once
//!         queued = executor.submit(work, "B")      # waits in the queue
//!         print(running.cancel())                  # False: already running
//!         print(queued.cancel())                   # True: it will never run
//!         queued.result()                          # raises CancelledError
//!
//! Python's worker does exactly this: before running a work item it calls
//! `set_running_or_notify_cancel()`, which fails if the future was cancelled. Rust cannot
//! stop a running thread either; a task that should stop midway must check a flag itself.
//!
//! The executor below is submit.rs's, complete, plus `submit_cancellable` and the
//! `CancellableFuture` it returns.
//!
//! Watch: cancel() returns false for A and true for B; the one worker runs A then C, and
//! B never gets a bar on the timeline.
//!
//! Run only this: cargo run -p futures-demo -- cancel
//! Copy it: cargo add anyhow@1 crossbeam-channel@0.5 tracing@0.1

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use anyhow::anyhow;
use crossbeam_channel::{Receiver, RecvError, Sender, bounded, unbounded};

// The executor of submit.rs, unchanged.
type Job = Box<dyn FnOnce() + Send>;

/// `ThreadPoolExecutor(max_workers)`: worker threads taking jobs from one channel.
pub struct ThreadPoolExecutor {
    jobs: Option<Sender<Job>>, // taken (closed) when the pool is dropped
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
        // The job was dropped unrun, and its sender with it.
        Err(RecvError) => Err(anyhow!("the pool dropped the task before running it")),
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

const QUEUED: u8 = 0;
const RUNNING: u8 = 1; // running or finished: too late to cancel
const CANCELLED: u8 = 2;

/// A handle that can also `cancel()` its task while it waits in the queue.
#[must_use = "a dropped handle loses the task's result, and its panic with it"]
pub struct CancellableFuture<T> {
    state: Arc<AtomicU8>,
    handle: TaskHandle<Option<T>>,
}

impl ThreadPoolExecutor {
    /// `executor.submit(fn)` returning a future that can be cancelled while queued.
    pub fn submit_cancellable<T: Send + 'static>(
        &self,
        task: impl FnOnce() -> T + Send + 'static,
    ) -> CancellableFuture<T> {
        let state = Arc::new(AtomicU8::new(QUEUED));
        let job_state = Arc::clone(&state);
        let handle = self.submit(move || {
            // set_running_or_notify_cancel(): run only if nobody cancelled us first.
            let go = job_state
                .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
            if !go {
                tracing::debug!("skipping a cancelled task");
            }
            go.then(task)
        });
        CancellableFuture { state, handle }
    }
}

impl<T> CancellableFuture<T> {
    /// `future.cancel()`: true if the task was still queued and now never runs (or was
    /// cancelled already), false once it has started.
    pub fn cancel(&self) -> bool {
        match self
            .state
            .compare_exchange(QUEUED, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(now) => now == CANCELLED,
        }
    }

    pub fn cancelled(&self) -> bool {
        self.state.load(Ordering::Acquire) == CANCELLED
    }

    /// `future.running()` (true also once it has finished).
    pub fn started(&self) -> bool {
        self.state.load(Ordering::Acquire) == RUNNING
    }

    /// `future.result()`: the value, or an error saying it was cancelled (CancelledError).
    pub fn result(self) -> anyhow::Result<T> {
        self.handle
            .result()?
            .ok_or_else(|| anyhow!("CancelledError: the task was cancelled before it ran"))
    }
}

/// `work(name)`: 200 ms of work (a sleep stands in for it).
pub fn work(name: &'static str) -> &'static str {
    let _span = tracing::info_span!("work", name).entered();
    thread::sleep(Duration::from_millis(200));
    name
}

/// The guide's two submits on one worker: A runs, B waits in the queue; cancel both.
fn main() -> anyhow::Result<()> {
    let executor = ThreadPoolExecutor::new(1)?;
    let (started_tx, started) = bounded(1);
    let running = executor.submit_cancellable(move || {
        let _ = started_tx.send(()); // A has the only worker now
        work("A")
    });
    let queued = executor.submit_cancellable(|| work("B"));
    started.recv()?;
    println!("A.cancel() -> {}", running.cancel()); // false: already running
    println!("B.cancel() -> {}", queued.cancel()); // true: it will never run
    println!("A.result() -> {:?}", running.result()?);
    match queued.result() {
        Ok(v) => println!("B.result() -> {v:?}"),
        Err(e) => println!("B.result() -> {e}"),
    }
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use anyhow::Context;
use common::cli::{Section, SectionResult};
use common::print::{figure, takeaway};
use common::timeline::{Lanes, Recording};
use common::timing::{Secs, Stopwatch};

pub const SECTION: Section = Section::new(
    "cancel",
    "future.cancel()",
    "cancel wins for a queued task, loses for a running one",
    run,
)
.main(|| main().report());

fn run() -> SectionResult {
    let executor = ThreadPoolExecutor::new(1)?;
    let recording = Recording::start();
    let sw = Stopwatch::start();

    // A tells us when it has started and then waits for the release, so "A running, B
    // and C queued" is a fact when we cancel, not a guess about timing.
    let (started_tx, started) = bounded::<()>(1);
    let (release_tx, release) = bounded::<()>(0);
    let a = executor.submit_cancellable(move || {
        let _ = started_tx.send(());
        let _ = release.recv(); // returns once release_tx is dropped
        work("A")
    });
    let b = executor.submit_cancellable(|| work("B"));
    let c = executor.submit_cancellable(|| work("C"));
    started
        .recv_timeout(Duration::from_secs(10))
        .context("task A never started")?;

    let cancel_a = a.cancel();
    let cancel_b = b.cancel();
    println!("  A.cancel() -> {cancel_a:<5}  (running: {})", a.started());
    println!(
        "  B.cancel() -> {cancel_b:<5}  (cancelled: {})",
        b.cancelled()
    );
    anyhow::ensure!(!cancel_a && cancel_b, "cancel semantics broken");
    drop(release_tx);

    let ra = a.result()?;
    let rb = b.result();
    let rc = c.result()?;
    println!("  A.result() -> {ra:?}");
    match &rb {
        Ok(v) => anyhow::bail!("B was cancelled but returned {v:?}"),
        Err(e) => println!("  B.result() -> {e}"),
    }
    println!("  C.result() -> {rc:?}");
    figure("3 submitted, 1 cancelled", Secs(sw.elapsed()));
    let ran = recording.finish().named(&["work"]);
    let names: Vec<&str> = ran.spans().iter().filter_map(|s| s.field("name")).collect();
    anyhow::ensure!(names == ["A", "C"], "only A and C may run, ran {names:?}");
    ran.print(Lanes::Thread);
    takeaway("cancel() only wins against the queue: a running task cannot be cancelled");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn queued_task_cancels_running_task_does_not() {
        let executor = ThreadPoolExecutor::new(1).unwrap();
        let (started_tx, started) = bounded::<()>(1);
        let (open, gate) = bounded::<()>(1);
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let running = executor.submit_cancellable(move || {
            started_tx.send(()).unwrap();
            gate.recv().unwrap();
            r.fetch_add(1, Ordering::SeqCst);
            "A"
        });
        let r = ran.clone();
        let queued = executor.submit_cancellable(move || {
            r.fetch_add(10, Ordering::SeqCst);
            "B"
        });
        started.recv().unwrap(); // A holds the only worker; B is in the queue

        assert!(!running.cancel(), "a running task cannot be cancelled");
        assert!(queued.cancel(), "a queued task can");
        assert!(
            queued.cancel(),
            "cancelling again still says true, as in Python"
        );
        assert!(queued.cancelled());
        open.send(()).unwrap();

        assert_eq!(running.result().unwrap(), "A");
        let err = queued.result().unwrap_err();
        assert!(err.to_string().contains("CancelledError"), "{err:#}");
        drop(executor); // joins the worker: B's job has been dequeued and skipped
        assert_eq!(ran.load(Ordering::SeqCst), 1, "B never ran");
    }

    #[test]
    fn a_finished_task_cannot_be_cancelled() {
        let executor = ThreadPoolExecutor::new(1).unwrap();
        let done = executor.submit_cancellable(|| 5);
        // Wait until it has run: a second task on the single worker finishes after it.
        executor.submit(|| ()).result().unwrap();
        assert!(!done.cancel());
        assert_eq!(done.result().unwrap(), 5);
    }
}
