//! `task.cancel()`, cooperative shutdown, `asyncio.wait(..., return_when=FIRST_COMPLETED)`
//! -> `JoinHandle::abort()`, tokio-util's `CancellationToken`, `tokio::select!`.
//!
//! Python:
//!     task = asyncio.create_task(ticker())
//!     await asyncio.sleep(0.175)
//!     task.cancel()                         # CancelledError raised at its next await
//!     try:
//!         await task
//!     except asyncio.CancelledError:
//!         print("cancelled")
//!     done, pending = await asyncio.wait([a, b], return_when=asyncio.FIRST_COMPLETED)
//!
//! Rust: `abort()` stops a task at its next `.await`; nothing is raised inside it, its
//! future is simply dropped (its locals' `Drop` is the `finally:`), and awaiting the handle
//! gives a `JoinError` with `is_cancelled()`. For a clean stop, where the task finishes its
//! own work and returns a value, hand it a `CancellationToken` and let it `select!` on
//! `token.cancelled()`. `select!` races futures: the first to finish wins and the others are
//! dropped, i.e. cancelled (with `asyncio.wait` the pending ones keep running).
//!
//! Watch: the aborted ticker ticked 3 times and its cleanup ran; the workers stopped by the
//! token return their counts; the faster mirror wins and the slower one is dropped.
//!
//! Run only this: cargo run -p asyncio-demo -- cancellation
//! Copy it: cargo add anyhow@1 tokio-util@0.7 tracing@0.1 && cargo add tokio@1 --features full

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

const TICK: Duration = Duration::from_millis(50);

/// Sets its flag when dropped, as a `finally:` block would run.
struct Finally(Arc<AtomicBool>);

impl Drop for Finally {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Ticks forever; only `abort()` stops it.
async fn ticker(ticks: Arc<AtomicU64>, cleaned: Arc<AtomicBool>) {
    let _finally = Finally(cleaned);
    loop {
        tokio::time::sleep(TICK).await;
        ticks.fetch_add(1, Ordering::SeqCst);
    }
}

/// `task.cancel()` after `after`: (ticks, cleanup ran, handle said cancelled).
pub async fn abort_after(after: Duration) -> (u64, bool, bool) {
    let (ticks, cleaned) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let task = tokio::spawn(ticker(ticks.clone(), cleaned.clone()));
    tokio::time::sleep(after).await;
    task.abort();
    let cancelled = task.await.is_err_and(|e| e.is_cancelled());
    (
        ticks.load(Ordering::SeqCst),
        cleaned.load(Ordering::SeqCst),
        cancelled,
    )
}

/// A worker that checks the token between jobs and returns how many it finished.
async fn worker(id: u64, token: CancellationToken) -> u64 {
    let mut done = 0;
    loop {
        tokio::select! {
            _ = token.cancelled() => break,
            _ = tokio::time::sleep(TICK) => done += 1,
        }
    }
    tracing::debug!(worker = id, done, "stopped cleanly");
    done
}

/// `workers` workers stopped by one token after `after`; their counts.
pub async fn shutdown_after(workers: u64, after: Duration) -> anyhow::Result<Vec<u64>> {
    let token = CancellationToken::new();
    let handles: Vec<_> = (0..workers)
        .map(|id| tokio::spawn(worker(id, token.child_token())))
        .collect();
    tokio::time::sleep(after).await;
    token.cancel();
    let mut counts = Vec::new();
    for handle in handles {
        counts.push(handle.await?); // Ok: each returned by itself
    }
    Ok(counts)
}

async fn mirror(name: &'static str, took: Duration, dropped: Arc<AtomicBool>) -> &'static str {
    let _finally = Finally(dropped);
    tokio::time::sleep(took).await;
    name
}

/// Race two mirrors: the winner's name and whether the loser was dropped.
pub async fn race() -> (&'static str, bool) {
    let (a_dropped, b_dropped) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let winner = tokio::select! {
        name = mirror("mirror A", Duration::from_millis(120), a_dropped.clone()) => name,
        name = mirror("mirror B", Duration::from_millis(80), b_dropped.clone()) => name,
    };
    let loser_dropped = if winner == "mirror B" {
        &a_dropped
    } else {
        &b_dropped
    };
    (winner, loser_dropped.load(Ordering::SeqCst))
}

/// The twin of `if __name__ == "__main__":`: the three ways to stop, each shown once.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (ticks, cleaned, cancelled) = abort_after(Duration::from_millis(175)).await;
    println!(
        "abort() after 175 ms: {ticks} ticks, cleanup ran: {cleaned}, is_cancelled: {cancelled}"
    );
    let counts = shutdown_after(3, Duration::from_millis(175)).await?;
    println!("token.cancel() after 175 ms: the 3 workers returned {counts:?}");
    let (winner, loser_dropped) = race().await;
    println!(
        "select! A (120 ms) against B (80 ms): {winner} won, the loser dropped: {loser_dropped}"
    );
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{figure, takeaway};
use common::timing::{Secs, timed_async};

pub const SECTION: Section = Section::new(
    "cancellation",
    "task.cancel() / asyncio.wait(FIRST_COMPLETED)",
    "abort(), CancellationToken, select! racing two futures",
    run,
)
.main(|| main().report());

const AFTER: Duration = Duration::from_millis(175);

#[tokio::main]
async fn run() -> SectionResult {
    let (ticks, cleaned, cancelled) = abort_after(AFTER).await;
    anyhow::ensure!(cancelled && cleaned, "abort should cancel and clean up");
    figure(
        "abort() after 175 ms",
        format!("{ticks} ticks, cleanup ran, is_cancelled: {cancelled}"),
    );
    let (counts, took) = timed_async(shutdown_after(3, AFTER)).await;
    let counts = counts?;
    anyhow::ensure!(counts.iter().all(|&c| c >= 1), "a worker never worked");
    figure(
        "token.cancel() after 175 ms",
        format!("3 workers returned {counts:?} in {}", Secs(took)),
    );
    let ((winner, loser_dropped), took) = timed_async(race()).await;
    anyhow::ensure!(
        winner == "mirror B" && loser_dropped,
        "B should win, A be dropped"
    );
    figure(
        "select! A 120 ms, B 80 ms",
        format!("{winner} in {}, the loser dropped", Secs(took)),
    );
    takeaway("cancelling is dropping: abort() a task, or ask it to stop with a CancellationToken");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn abort_stops_at_the_next_await_and_runs_drop() {
        assert_eq!(
            abort_after(Duration::from_millis(175)).await,
            (3, true, true)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_stops_every_worker_cleanly() {
        let start = tokio::time::Instant::now();
        let counts = shutdown_after(4, Duration::from_millis(175)).await.unwrap();
        assert_eq!(counts, [3, 3, 3, 3]);
        assert_eq!(start.elapsed(), Duration::from_millis(175));
    }

    #[tokio::test(start_paused = true)]
    async fn select_keeps_the_first_and_drops_the_rest() {
        let start = tokio::time::Instant::now();
        assert_eq!(race().await, ("mirror B", true));
        assert_eq!(start.elapsed(), Duration::from_millis(80));
    }
}
