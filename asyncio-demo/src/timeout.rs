//! `asyncio.wait_for(coro, timeout=...)` -> `tokio::time::timeout(duration, fut)`.
//!
//! Python:
//!     try:
//!         data = await asyncio.wait_for(slow_query(), timeout=0.2)
//!     except asyncio.TimeoutError:
//!         print("gave up")                  # slow_query was cancelled
//!
//! Rust: `timeout` returns `Err(Elapsed)` when the time is up, and drops the future it was
//! given. Dropping a future is cancelling it: it is never polled again, and its locals are
//! dropped (the twin of the `CancelledError` / `finally:` cleanup). One difference to know:
//! `timeout` around a `JoinHandle` drops only the handle: the spawned task keeps running.
//! Call `abort()` on it (next section) when you mean to stop it.
//!
//! Watch: the fast query answers; the slow one times out and its cleanup runs at 0.2 s; the
//! spawned task behind a timed-out handle still finishes afterwards.
//!
//! Run only this: cargo run -p asyncio-demo -- timeout

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::{error::Elapsed, timeout};

pub const LIMIT: Duration = Duration::from_millis(200);

/// Sets its flag when dropped: shows when a future's locals are cleaned up.
pub struct Cleanup(pub Arc<AtomicBool>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
        tracing::debug!("cleanup ran");
    }
}

/// A query that takes `took`; `finished` is set only if it runs to the end.
pub async fn query(took: Duration, cleaned: Arc<AtomicBool>, finished: Arc<AtomicBool>) -> u64 {
    let _cleanup = Cleanup(cleaned);
    tokio::time::sleep(took).await;
    finished.store(true, Ordering::SeqCst);
    7
}

/// `wait_for(query(took), timeout=LIMIT)`; returns the outcome and (cleaned, finished).
pub async fn wait_for(took: Duration) -> (Result<u64, Elapsed>, bool, bool) {
    let (cleaned, finished) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let outcome = timeout(LIMIT, query(took, cleaned.clone(), finished.clone())).await;
    (
        outcome,
        cleaned.load(Ordering::SeqCst),
        finished.load(Ordering::SeqCst),
    )
}

// --- run and measure ---

use common::cli::{Section, SectionResult};
use common::print::{figure, takeaway};
use common::timing::{Secs, timed_async};

pub const SECTION: Section = Section::new(
    "timeout",
    "asyncio.wait_for(coro, timeout=)",
    "tokio::time::timeout; the timed-out future is dropped (cancelled)",
    run,
);

#[tokio::main]
async fn run() -> SectionResult {
    let ((fast, _, _), took) = timed_async(wait_for(Duration::from_millis(50))).await;
    anyhow::ensure!(fast == Ok(7), "the fast query should answer");
    figure(
        "query of 50 ms, limit 200 ms",
        format!("Ok(7) in {}", Secs(took)),
    );

    let ((slow, cleaned, finished), took) = timed_async(wait_for(Duration::from_secs(5))).await;
    anyhow::ensure!(
        slow.is_err() && cleaned && !finished,
        "the slow query should be cancelled"
    );
    figure(
        "query of 5 s, limit 200 ms",
        format!("Err(Elapsed) in {}, cleanup ran: {cleaned}", Secs(took)),
    );

    // A timeout around a JoinHandle: the task is not cancelled.
    let finished = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn(query(
        Duration::from_millis(300),
        Arc::new(AtomicBool::new(false)),
        finished.clone(),
    ));
    let abort = task.abort_handle();
    let gave_up = timeout(LIMIT, task).await.is_err();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let still_ran = finished.load(Ordering::SeqCst);
    abort.abort(); // a no-op here: it had finished
    anyhow::ensure!(gave_up, "the spawned query should have timed out");
    figure(
        "timeout(spawned task)",
        format!("gave up at 200 ms, task finished anyway: {still_ran}"),
    );
    anyhow::ensure!(still_ran, "the spawned task should have run on");
    takeaway("timeout drops (cancels) the future it wraps; a spawned task needs abort() to stop");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_fast_future_answers() {
        assert_eq!(
            wait_for(Duration::from_millis(199)).await,
            (Ok(7), true, true)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_future_is_dropped_at_the_limit() {
        let start = tokio::time::Instant::now();
        let (outcome, cleaned, finished) = wait_for(Duration::from_secs(5)).await;
        assert!(outcome.is_err());
        assert!(cleaned, "its locals were dropped");
        assert!(!finished, "it never ran to the end");
        assert_eq!(start.elapsed(), LIMIT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_timed_out_join_handle_leaves_the_task_running() {
        let finished = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(query(
            Duration::from_millis(300),
            Arc::new(AtomicBool::new(false)),
            finished.clone(),
        ));
        assert!(timeout(LIMIT, task).await.is_err());
        assert!(!finished.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(finished.load(Ordering::SeqCst), "the task ran on");
    }
}
