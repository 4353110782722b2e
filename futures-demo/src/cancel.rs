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
//! Watch: cancel() returns false for A and true for B; the one worker runs A then C, and
//! B never gets a bar on the timeline.
//!
//! Run only this: cargo run -p futures-demo -- cancel

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow};
use common::cli::{SectionResult, figure, takeaway};
use common::timeline::{Timeline, thread_lane};
use common::timing::{Secs, Stopwatch};
use crossbeam_channel::bounded;

use crate::submit::{TaskHandle, ThreadPoolExecutor};

const QUEUED: u8 = 0;
const RUNNING: u8 = 1; // running or finished: too late to cancel
const CANCELLED: u8 = 2;

/// A handle that can also `cancel()` its task while it waits in the queue.
pub struct CancellableFuture<T> {
    state: Arc<AtomicU8>,
    handle: TaskHandle<Option<T>>,
}

/// `executor.submit(fn)` returning a cancellable future.
pub fn submit_cancellable<T: Send + 'static>(
    executor: &ThreadPoolExecutor,
    task: impl FnOnce() -> T + Send + 'static,
) -> CancellableFuture<T> {
    let state = Arc::new(AtomicU8::new(QUEUED));
    let job_state = state.clone();
    let handle = executor.submit(move || {
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

const WORK: Duration = Duration::from_millis(200);

pub fn run() -> SectionResult {
    let timeline = Timeline::new();
    let executor = ThreadPoolExecutor::new(1);
    let sw = Stopwatch::start();
    let work = |name: &'static str| {
        let tl = timeline.clone();
        move || {
            tl.record(thread_lane(), name, || std::thread::sleep(WORK));
            name
        }
    };

    // A tells us when it has started and then waits for the release, so "A running, B
    // and C queued" is a fact when we cancel, not a guess about timing.
    let (started_tx, started) = bounded::<()>(1);
    let (release_tx, release) = bounded::<()>(0);
    let run_a = work("A");
    let a = submit_cancellable(&executor, move || {
        let _ = started_tx.send(());
        let _ = release.recv(); // returns once release_tx is dropped
        run_a()
    });
    let b = submit_cancellable(&executor, work("B"));
    let c = submit_cancellable(&executor, work("C"));
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
    anyhow::ensure!(timeline.spans().len() == 2, "B must not run");
    timeline.print();
    takeaway("cancel() only wins against the queue: a running task cannot be cancelled");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn queued_task_cancels_running_task_does_not() {
        let executor = ThreadPoolExecutor::new(1);
        let (started_tx, started) = bounded::<()>(1);
        let (open, gate) = bounded::<()>(1);
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let running = submit_cancellable(&executor, move || {
            started_tx.send(()).unwrap();
            gate.recv().unwrap();
            r.fetch_add(1, Ordering::SeqCst);
            "A"
        });
        let r = ran.clone();
        let queued = submit_cancellable(&executor, move || {
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
        let executor = ThreadPoolExecutor::new(1);
        let done = submit_cancellable(&executor, || 5);
        // Wait until it has run: a second task on the single worker finishes after it.
        submit_cancellable(&executor, || ()).result().unwrap();
        assert!(!done.cancel());
        assert_eq!(done.result().unwrap(), 5);
    }
}
