//! `async def` / `await`, `asyncio.create_task(coro)` -> `async fn`, `.await`,
//! `tokio::spawn(fut)` and its `JoinHandle`.
//!
//! Python:
//!     async def work(i):
//!         await asyncio.sleep(1)
//!         return i * 2
//!     coro = work(1)                        # nothing runs yet ("never awaited" warning)
//!     task = asyncio.create_task(work(2))   # scheduled: runs at the next await
//!     print(await coro, await task)
//!
//! Rust: calling an `async fn` builds a future and runs none of its body; it runs only when
//! polled (`.await`ed or spawned). Drop it unpolled and it never runs at all: the compiler
//! warns (`unused_must_use`) as Python does. `tokio::spawn` is `create_task`: the task starts
//! on the runtime right away, even if you never await its `JoinHandle`, and the handle's
//! `.await` gives `Result<T, JoinError>` (a panic or an abort comes back as the error).
//!
//! Watch: the body of the unpolled future has not run; the spawned one has. Then 100,000
//! tasks each sleep 1 s at the same time: about 1 s in all, and the memory they took. What
//! goes over 1 s is mostly spawning them, which a `--release` build does several times
//! faster (tokio is not optimised in the dev profile).
//!
//! Run only this: cargo run -p asyncio-demo -- tasks

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::cli::{SectionResult, figure, takeaway};
use common::memory::{current_rss, peak_rss, reset_peak};
use common::timing::{Bytes, Secs, timed_async};

/// How many lines of `work`'s body have run, so the demo can show when a body starts.
async fn work(i: u64, started: Arc<AtomicU64>) -> u64 {
    started.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(10)).await;
    i * 2
}

/// `n` tasks that all sleep `wait` at the same time; returns how many finished and how long
/// spawning them took.
pub async fn sleeping_tasks(n: u64, wait: Duration) -> anyhow::Result<(u64, Duration)> {
    let start = tokio::time::Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                i
            })
        })
        .collect();
    let spawning = start.elapsed();
    tracing::debug!(tasks = n, ?spawning, "all spawned");
    let mut sum = 0;
    for handle in handles {
        sum += handle.await?;
    }
    anyhow::ensure!(
        sum == n * (n.max(1) - 1) / 2,
        "a task's result went missing"
    );
    Ok((n, spawning))
}

pub const SLEEPERS: u64 = 100_000;
pub const SLEEP: Duration = Duration::from_secs(1);

#[tokio::main]
pub async fn run() -> SectionResult {
    let started = Arc::new(AtomicU64::new(0));

    let coro = work(1, started.clone()); // a future: a value, nothing has run
    tokio::task::yield_now().await;
    println!(
        "  after work(1) and a yield: {} body started",
        started.load(Ordering::SeqCst)
    );
    anyhow::ensure!(started.load(Ordering::SeqCst) == 0, "a future ran unpolled");

    let task = tokio::spawn(work(2, started.clone())); // create_task: scheduled now
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    println!(
        "  after tokio::spawn(work(2)) and a yield: {} body started",
        started.load(Ordering::SeqCst)
    );

    let (a, b) = (coro.await, task.await?);
    anyhow::ensure!((a, b) == (2, 4), "wrong results {a} {b}");
    println!("  await coro -> {a}, await task -> {b}");

    // 100,000 concurrent sleeping tasks, as the guide's 10,000-connections idea at scale.
    let before = current_rss().unwrap_or(0);
    let reset = reset_peak();
    let (done, took) = timed_async(sleeping_tasks(SLEEPERS, SLEEP)).await;
    let (done, spawning) = done?;
    figure(
        format!("{done} tasks sleeping {}", Secs(SLEEP)),
        format!(
            "all done in {} (spawning them: {})",
            Secs(took),
            Secs(spawning)
        ),
    );
    match (reset, peak_rss()) {
        (true, Some(peak)) => {
            figure("peak memory of the process", Bytes(peak));
            figure(
                "  of which the tasks (per task)",
                format!(
                    "{} ({} B)",
                    Bytes(peak.saturating_sub(before)),
                    peak.saturating_sub(before) / done
                ),
            );
        }
        (_, peak) => figure(
            "peak memory of the process",
            peak.map_or("n/a".to_owned(), |p| Bytes(p).to_string()),
        ),
    }
    takeaway(
        "a future is inert until polled; a spawned task runs by itself and costs a few hundred bytes",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_future_runs_only_when_polled_a_task_runs_when_spawned() {
        let started = Arc::new(AtomicU64::new(0));
        let coro = work(1, started.clone());
        tokio::task::yield_now().await;
        assert_eq!(started.load(Ordering::SeqCst), 0);
        let task = tokio::spawn(work(2, started.clone()));
        tokio::task::yield_now().await;
        assert_eq!(
            started.load(Ordering::SeqCst),
            1,
            "the task started on its own"
        );
        assert_eq!(coro.await, 2);
        assert_eq!(task.await.unwrap(), 4);
        assert_eq!(started.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn sleeping_tasks_wait_together() {
        let start = tokio::time::Instant::now();
        assert_eq!(sleeping_tasks(1000, SLEEP).await.unwrap().0, 1000);
        assert_eq!(start.elapsed(), SLEEP);
    }
}
