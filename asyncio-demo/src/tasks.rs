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
//! tasks each sleep 1 s at the same time: about 1 s in all, and the memory they took (a few
//! hundred bytes each). What goes over 1 s is mostly spawning them (the `spawn_all` span):
//! the dev profile builds tokio and this crate's code at opt-level 0, so a `--release`
//! build spawns them faster.
//!
//! Run only this: cargo run -p asyncio-demo -- tasks
//! Copy it: cargo add tracing@0.1 && cargo add tokio@1 --features full

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinError;

/// The guide's `work`. Its first line counts itself in `started`, so you can see when a
/// body starts to run.
pub async fn work(i: u64, started: Arc<AtomicU64>) -> u64 {
    started.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(10)).await;
    i * 2
}

/// `n` tasks that all sleep `wait` at the same time; returns the sum of their results.
pub async fn sleeping_tasks(n: u64, wait: Duration) -> Result<u64, JoinError> {
    let spawning = tracing::info_span!("spawn_all", tasks = n).entered();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                i
            })
        })
        .collect();
    drop(spawning);
    let mut sum = 0;
    for handle in handles {
        sum += handle.await?;
    }
    Ok(sum)
}

/// The twin of `if __name__ == "__main__":` a future left unpolled, a spawned task, then
/// 100,000 tasks sleeping 1 s at the same time.
#[tokio::main]
async fn main() -> Result<(), JoinError> {
    let started = Arc::new(AtomicU64::new(0));
    let coro = work(1, started.clone()); // a future: a value, nothing has run
    tokio::task::yield_now().await;
    println!(
        "work(1), not awaited: {} body started",
        started.load(Ordering::SeqCst)
    );
    let task = tokio::spawn(work(2, started.clone())); // create_task: scheduled now
    tokio::time::sleep(Duration::from_millis(1)).await;
    println!(
        "tokio::spawn(work(2)): {} body started",
        started.load(Ordering::SeqCst)
    );
    println!(
        "await coro -> {}, await task -> {}",
        coro.await,
        task.await?
    );
    let start = tokio::time::Instant::now();
    sleeping_tasks(100_000, Duration::from_secs(1)).await?;
    println!(
        "100,000 tasks each slept 1 s: all done in {:.2?}",
        start.elapsed()
    );
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::memory::{current_rss, peak_rss, reset_peak};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{Pair, Twin, flags};
use common::timeline::Recording;
use common::timing::{Bytes, Secs, timed_async};

pub const SECTION: Section = Section::new(
    "tasks",
    "async def / await / asyncio.create_task",
    "futures do nothing until polled; tokio::spawn; 100,000 sleeping tasks",
    run,
)
.main(|| main().report())
.twin(&TWIN);

/// `--python`: the same 100,000 sleeping tasks with asyncio.
const TWIN: Twin = Twin::new(
    "tasks.py",
    include_str!("../python/tasks.py"),
    &["elapsed_s", "peak_bytes", "per_task_bytes"],
);

pub const SLEEPERS: u64 = 100_000;
pub const SLEEP: Duration = Duration::from_secs(1);
/// "A few hundred bytes a task": the claim holds below this.
const TASK_BYTES: u64 = 1024;

#[tokio::main]
async fn run() -> SectionResult {
    let started = Arc::new(AtomicU64::new(0));
    let coro = work(1, started.clone());
    tokio::task::yield_now().await;
    let unpolled = started.load(Ordering::SeqCst);
    let task = tokio::spawn(work(2, started.clone()));
    tokio::time::sleep(Duration::from_millis(1)).await;
    let spawned = started.load(Ordering::SeqCst) - unpolled;
    let (a, b) = (coro.await, task.await?);
    anyhow::ensure!(
        (unpolled, a, b) == (0, 2, 4),
        "a future ran unpolled, or {a} {b}"
    );
    figure("work(1), not awaited", format!("{unpolled} body started"));
    figure(
        "tokio::spawn(work(2))",
        format!("{spawned} body started; then {a} and {b}"),
    );

    // 100,000 concurrent sleeping tasks, as the guide's 10,000-connections idea at scale.
    let before = current_rss();
    let reset = reset_peak();
    let recording = Recording::start();
    let (sum, took) = timed_async(sleeping_tasks(SLEEPERS, SLEEP)).await;
    let spawning = recording.finish().named(&["spawn_all"]).busy();
    anyhow::ensure!(
        sum? == SLEEPERS * (SLEEPERS - 1) / 2,
        "a task's result went missing"
    );
    let peak = peak_rss();
    let per_task = match (before, peak, reset) {
        (Some(before), Some(peak), true) => Some(peak.saturating_sub(before) / SLEEPERS),
        _ => None,
    };
    let shown = |b: Option<u64>| b.map_or("n/a".to_owned(), |b| Bytes(b).to_string());
    figure(
        format!("{SLEEPERS} sleeping tasks"),
        format!(
            "{} each, all done in {} (spawning them: {})",
            Secs(SLEEP),
            Secs(took),
            Secs(spawning)
        ),
    );
    figure("peak memory of the process", shown(peak));
    figure("  of which, per task", shown(per_task));
    let mut pairs = vec![
        Pair::secs(
            format!("{SLEEPERS} tasks sleeping {}", Secs(SLEEP)),
            "elapsed_s",
            took.as_secs_f64(),
        )
        .cpu(),
    ];
    if let (Some(peak), Some(per_task)) = (peak, per_task) {
        pairs.push(Pair::bytes("peak memory", "peak_bytes", peak as f64));
        pairs.push(Pair::bytes(
            "memory per task",
            "per_task_bytes",
            per_task as f64,
        ));
    }
    TWIN.compare(
        &flags(&[("--tasks", &SLEEPERS), ("--sleep", &SLEEP.as_secs_f64())]),
        &pairs,
    )?;
    takeaway_if(
        &Evidence::new(
            per_task.is_some_and(|b| b < TASK_BYTES),
            format!("under {TASK_BYTES} B of memory per sleeping task"),
            shown(per_task),
        ),
        format!(
            "a future is inert until polled; a spawned task runs by itself and costs a few hundred bytes ({} here)",
            shown(per_task)
        ),
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

    #[test]
    fn the_python_twin_prints_its_fields() {
        if let Some(figures) = TWIN.run_for_test(&["--tasks", "200", "--sleep", "0.01"]) {
            assert!(figures["elapsed_s"].as_f64().unwrap() >= 0.01);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn sleeping_tasks_wait_together() {
        let start = tokio::time::Instant::now();
        let recording = Recording::local();
        assert_eq!(sleeping_tasks(1000, SLEEP).await.unwrap(), 999 * 1000 / 2);
        assert_eq!(start.elapsed(), SLEEP);
        let spawning = recording.finish().named(&["spawn_all"]);
        assert_eq!(spawning.len(), 1, "one span around the spawning");
    }
}
