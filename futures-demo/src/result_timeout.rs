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
//! Watch: the first wait gives up after 200 ms with a TimeoutError; the worker's bar runs
//! on to 600 ms, and the second wait receives the finished report.
//!
//! Run only this: cargo run -p futures-demo -- result-timeout

use std::fmt;
use std::time::Duration;

use common::cli::{SectionResult, figure, takeaway};
use common::timeline::{Timeline, thread_lane};
use common::timing::{Secs, Stopwatch};
use common::workload::{sum_of_squares, sum_of_squares_expected};
use crossbeam_channel::{RecvError, RecvTimeoutError};

use crate::submit::{TaskHandle, ThreadPoolExecutor, outcome};

/// Python's `concurrent.futures.TimeoutError`: the result was not ready in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutError(pub Duration);

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TimeoutError: no result after {}", Secs(self.0))
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

const PATIENCE: Duration = Duration::from_millis(200);
const REPORT_TAKES: Duration = Duration::from_millis(600);
const N: u64 = 1_000_000;

/// `slow_report()`: takes a while, then returns a checkable number.
fn slow_report() -> u64 {
    std::thread::sleep(REPORT_TAKES);
    sum_of_squares(N)
}

pub fn run() -> SectionResult {
    let timeline = Timeline::new();
    let executor = ThreadPoolExecutor::new(1);
    let sw = Stopwatch::start();
    let tl = timeline.clone();
    let future = executor.submit(move || tl.record(thread_lane(), "slow_report", slow_report));

    let first = timeline.record("main", "result(timeout)", || {
        future.result_timeout(PATIENCE)
    });
    let gave_up_at = sw.elapsed();
    let err = match first {
        Ok(v) => anyhow::bail!("expected a timeout, got {v}"),
        Err(e) => e,
    };
    anyhow::ensure!(err.downcast_ref::<TimeoutError>().is_some(), "{err:#}");
    println!("  result(timeout=0.2) -> {err}");

    let report = timeline.record("main", "result()", || future.result())?;
    let got_it_at = sw.elapsed();
    anyhow::ensure!(report == sum_of_squares_expected(N), "wrong report");
    println!("  result() afterwards -> {report} (checked)");
    figure("gave up waiting at", Secs(gave_up_at));
    figure("report finished at", Secs(got_it_at));
    timeline.print();
    takeaway(
        "a timeout ends the wait, not the work: the task runs on and its result stays collectable",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::bounded;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn a_wait_times_out_while_the_task_is_held_and_the_work_goes_on() {
        let executor = ThreadPoolExecutor::new(1);
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
        let executor = ThreadPoolExecutor::new(1);
        let future = executor.submit(|| "ready");
        // Generous: the task needs no time; this only bounds a broken implementation.
        assert_eq!(
            future.result_timeout(Duration::from_secs(30)).unwrap(),
            "ready"
        );
    }

    #[test]
    fn a_panic_is_an_error_not_a_timeout() {
        let executor = ThreadPoolExecutor::new(1);
        let future = executor.submit(|| -> u8 { panic!("boom") });
        let err = future.result_timeout(Duration::from_secs(30)).unwrap_err();
        assert!(err.downcast_ref::<TimeoutError>().is_none());
        assert!(err.to_string().contains("boom"), "{err:#}");
    }
}
