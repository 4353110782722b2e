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
//! Copy it: cargo add tracing@0.1 && cargo add tokio@1 --features full

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

/// A query that takes 300 ms, spawned, behind a timeout of `LIMIT`: `timeout` gives up on
/// the handle, the task runs on. Returns (gave up, finished after all).
pub async fn timeout_around_a_task() -> (bool, bool) {
    let finished = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn(query(
        Duration::from_millis(300),
        Arc::new(AtomicBool::new(false)),
        finished.clone(),
    ));
    let gave_up = timeout(LIMIT, task).await.is_err(); // drops the handle, not the task
    tokio::time::sleep(Duration::from_millis(150)).await;
    (gave_up, finished.load(Ordering::SeqCst))
}

/// The twin of `if __name__ == "__main__":` a fast query, a slow one, a spawned one.
#[tokio::main]
async fn main() {
    let (fast, _, _) = wait_for(Duration::from_millis(50)).await;
    println!("query of 50 ms, limit 200 ms: {fast:?}");
    let (slow, cleaned, finished) = wait_for(Duration::from_secs(5)).await;
    println!("query of 5 s, limit 200 ms: {slow:?}, cleanup ran: {cleaned}, finished: {finished}");
    let (gave_up, finished) = timeout_around_a_task().await;
    println!(
        "timeout around a spawned task: gave up: {gave_up}, the task finished anyway: {finished}"
    );
}

// --- run and measure ---

use std::process::ExitCode;

use common::cli::{Section, SectionResult};
use common::print::{figure, takeaway};
use common::timing::{Secs, timed_async};

pub const SECTION: Section = Section::new(
    "timeout",
    "asyncio.wait_for(coro, timeout=)",
    "tokio::time::timeout; the timed-out future is dropped (cancelled)",
    run,
)
.main(|| {
    main();
    ExitCode::SUCCESS
});

#[tokio::main]
async fn run() -> SectionResult {
    let ((fast, _, _), took) = timed_async(wait_for(Duration::from_millis(50))).await;
    anyhow::ensure!(fast == Ok(7), "the fast query should answer");
    figure(
        "query 50 ms, limit 200 ms",
        format!("Ok(7) in {}", Secs(took)),
    );
    let ((slow, cleaned, finished), took) = timed_async(wait_for(Duration::from_secs(5))).await;
    anyhow::ensure!(
        slow.is_err() && cleaned && !finished,
        "the slow query ran on"
    );
    figure(
        "query 5 s, limit 200 ms",
        format!("Err(Elapsed) in {}, cleanup ran", Secs(took)),
    );
    let (gave_up, finished) = timeout_around_a_task().await;
    anyhow::ensure!(
        gave_up && finished,
        "the spawned query should time out and run on"
    );
    figure(
        "timeout(spawned task)",
        "gave up at 200 ms, the task finished anyway",
    );
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
        let start = tokio::time::Instant::now();
        assert_eq!(
            timeout_around_a_task().await,
            (true, true),
            "the task ran on"
        );
        assert_eq!(start.elapsed(), LIMIT + Duration::from_millis(150));
    }
}
