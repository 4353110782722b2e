//! `future.result(timeout=...)` raising `TimeoutError` -> a receive with a deadline on the
//! handle's channel (`recv_timeout`). The task is not stopped: it goes on, and a later
//! `result()` still gets its value.
//!
//! Python:
//!     future = executor.submit(slow_report)
//!     try:
//!         report = future.result(timeout=0.2)
//!     except TimeoutError:
//!         print("not yet; still running:", future.running())
//!         report = future.result()          # wait for the rest
//!
//! Rust: the same, because a thread cannot be killed from outside in either language. To
//! really stop the work, the task must check a flag or a channel (see `cancel`). Here
//! `result_timeout` borrows the handle, so a timed-out handle can be waited on again.
//!
//! The executor below is submit.rs's, complete, plus `TaskHandle::result_timeout` and
//! the `TimeoutError` it returns.
//!
//! Watch: the first wait gives up after 200 ms with a TimeoutError; the worker's bar runs
//! on to 600 ms, and the second wait receives the finished report.
//!
//! Run only this: cargo run -p futures-demo -- result-timeout
//! Copy it: cargo add anyhow@1 crossbeam-channel@0.5 tracing@0.1

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use crossbeam_channel::{Receiver, RecvError, RecvTimeoutError, Sender, bounded, unbounded};

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

/// Python's `concurrent.futures.TimeoutError`: the result was not ready in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutError(pub Duration);

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TimeoutError: no result after {:?}", self.0)
    }
}

impl std::error::Error for TimeoutError {}

impl<T> TaskHandle<T> {
    /// `future.result(timeout=...)`: the value if it comes within `timeout`, else a
    /// [`TimeoutError`] (find it with `err.downcast_ref::<TimeoutError>()`).
    pub fn result_timeout(&self, timeout: Duration) -> anyhow::Result<T> {
        match self.0.recv_timeout(timeout) {
            Ok(received) => outcome(Ok(received)),
            Err(RecvTimeoutError::Timeout) => Err(TimeoutError(timeout).into()),
            Err(RecvTimeoutError::Disconnected) => outcome(Err(RecvError)),
        }
    }
}

/// How long `slow_report` takes.
pub const REPORT_TAKES: Duration = Duration::from_millis(600);

/// `slow_report()`: a while of work (a sleep stands in for it), then its figure.
pub fn slow_report() -> u64 {
    let _span = tracing::info_span!("slow_report").entered();
    thread::sleep(REPORT_TAKES);
    42
}

/// The guide's `try: future.result(timeout=0.2) except TimeoutError: ...`, then the rest.
fn main() -> anyhow::Result<()> {
    let executor = ThreadPoolExecutor::new(1)?;
    let start = Instant::now();
    let future = executor.submit(slow_report);
    match future.result_timeout(Duration::from_millis(200)) {
        Ok(report) => println!("report {report}, at once"),
        Err(e) => println!("{e}: not yet, at {:.0?}", start.elapsed()),
    }
    let report = future.result()?; // wait for the rest: the task kept running
    println!("report {report}, at {:.0?}", start.elapsed());
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use anyhow::Context;
use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recording};
use common::timing::Secs;

pub const SECTION: Section = Section::new(
    "result-timeout",
    "future.result(timeout=...) -> TimeoutError",
    "a receive with a deadline; the work goes on after it",
    run,
)
.main(|| main().report());

const PATIENCE: Duration = Duration::from_millis(200);

fn run() -> SectionResult {
    let executor = ThreadPoolExecutor::new(1)?;
    let recording = Recording::start();
    let start = Instant::now();
    let future = executor.submit(slow_report);
    let first = tracing::info_span!("result(timeout)", lane = "main")
        .in_scope(|| future.result_timeout(PATIENCE));
    let gave_up_at = start.elapsed();
    let err = first.err().context("expected a timeout, got the report")?;
    anyhow::ensure!(err.downcast_ref::<TimeoutError>().is_some(), "{err:#}");
    println!("  result(timeout=0.2) -> {err}");
    let report = tracing::info_span!("result()", lane = "main").in_scope(|| future.result())?;
    let got_it_at = start.elapsed();
    let recorded = recording
        .finish()
        .named(&["slow_report", "result(timeout)", "result()"]);
    anyhow::ensure!(report == 42, "wrong report {report}");
    println!("  result() afterwards -> {report}");
    figure("gave up waiting at", Secs(gave_up_at));
    figure("report finished at", Secs(got_it_at));
    recorded.print(Lanes::Thread);
    takeaway_if(
        &Evidence::new(
            gave_up_at < REPORT_TAKES && got_it_at >= REPORT_TAKES,
            format!(
                "the wait ends before the {} task, the result comes after it",
                Secs(REPORT_TAKES)
            ),
            format!(
                "gave up at {}, result at {}",
                Secs(gave_up_at),
                Secs(got_it_at)
            ),
        ),
        "a timeout ends the wait, not the work: the task runs on and its result stays collectable",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn a_wait_times_out_while_the_task_is_held_and_the_work_goes_on() {
        let executor = ThreadPoolExecutor::new(1).unwrap();
        let (open, gate) = bounded::<()>(1);
        let finished = Arc::new(AtomicBool::new(false));
        let flag = finished.clone();
        let future = executor.submit(move || {
            gate.recv().unwrap();
            flag.store(true, Ordering::SeqCst);
            42
        });
        // The gate is shut: no result can exist, whatever the clock says.
        let err = future.result_timeout(Duration::from_millis(1)).unwrap_err();
        assert_eq!(
            err.downcast_ref::<TimeoutError>(),
            Some(&TimeoutError(Duration::from_millis(1)))
        );
        assert!(!finished.load(Ordering::SeqCst));
        open.send(()).unwrap();
        assert_eq!(future.result().unwrap(), 42);
        assert!(finished.load(Ordering::SeqCst), "the task ran to the end");
    }

    #[test]
    fn a_ready_result_comes_back_within_the_timeout() {
        let executor = ThreadPoolExecutor::new(1).unwrap();
        let future = executor.submit(|| "ready");
        // Generous: the task needs no time; this only bounds a broken implementation.
        assert_eq!(
            future.result_timeout(Duration::from_secs(30)).unwrap(),
            "ready"
        );
    }

    #[test]
    fn a_panic_is_an_error_not_a_timeout() {
        let executor = ThreadPoolExecutor::new(1).unwrap();
        let future = executor.submit(|| -> u8 { panic!("boom") });
        let err = future.result_timeout(Duration::from_secs(30)).unwrap_err();
        assert!(err.downcast_ref::<TimeoutError>().is_none());
        assert!(err.to_string().contains("boom"), "{err:#}");
    }
}
