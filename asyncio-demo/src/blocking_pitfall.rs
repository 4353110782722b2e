//! The top pitfall: `time.sleep()` or CPU work inside `async def` blocks the event loop ->
//! `std::thread::sleep` / a CPU loop in a task, fixed with `tokio::time::sleep` /
//! `tokio::task::spawn_blocking`.
//!
//! Python:
//!     async def handler():
//!         time.sleep(0.2)                   # wrong: the whole loop stops for 0.2 s
//!         await asyncio.sleep(0.2)          # right: other tasks run meanwhile
//!         total = sum(i * i for i in range(10**7))               # wrong: CPU on the loop
//!         total = await loop.run_in_executor(None, crunch)       # right: off the loop
//!
//! Rust: exactly the same trap. An async task runs until its next `.await`; code between
//! awaits that takes long (a blocking call, a tight loop) holds the thread, and on a
//! current-thread runtime nothing else runs at all. On a multi-thread runtime it holds one
//! worker: tokio's work stealing lets the idle workers take the tasks queued behind it, but
//! the task in that worker's LIFO slot (the one it woke last) and the I/O and timer driver,
//! if that worker holds it, stay stuck until it returns. `spawn_blocking` is the tool for a
//! blocking call (a file read, a blocking client). It also takes CPU work off the loop, on
//! another core in parallel (no GIL), as below; but its pool is sized for threads that wait
//! (up to 512), so for sustained CPU work use rayon (hybrid-demo's `cpu-offload`).
//!
//! Watch: a ticker task wants to tick every 5 ms on the same one-thread loop. While
//! `std::thread::sleep` or the CPU loop holds the loop it gets in about none of its ticks;
//! with `tokio::time::sleep` and `spawn_blocking` about all of them.
//!
//! Run only this: cargo run -p asyncio-demo -- blocking-pitfall
//! Copy it: cargo add tokio@1 --features full

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinError;

/// The four handlers: what each one does while the heartbeat runs.
#[derive(Clone, Copy, Debug)]
pub enum Handler {
    ThreadSleep,
    TokioSleep,
    CpuInline,
    CpuSpawnBlocking,
}

impl Handler {
    /// Run the handler as a task, as a request handler would be: it waits for `wait` or
    /// computes `crunch()`.
    pub async fn handle(self, wait: Duration, crunch: fn() -> u64) -> Result<u64, JoinError> {
        let task = tokio::spawn(async move {
            match self {
                Handler::ThreadSleep => {
                    std::thread::sleep(wait); // blocks the loop's thread
                    Ok(0)
                }
                Handler::TokioSleep => {
                    tokio::time::sleep(wait).await; // yields to the loop
                    Ok(0)
                }
                Handler::CpuInline => Ok(crunch()), // holds the thread
                Handler::CpuSpawnBlocking => tokio::task::spawn_blocking(crunch).await,
            }
        });
        task.await?
    }
}

/// Runs `handler` beside a task that wants to tick every `tick` on the same runtime: how
/// many ticks got in while the handler ran, and its result.
pub async fn ticks_during(
    handler: Handler,
    tick: Duration,
    wait: Duration,
    crunch: fn() -> u64,
) -> Result<(u64, u64), JoinError> {
    let ticks = Arc::new(AtomicU64::new(0));
    let counter = ticks.clone();
    let ticker = tokio::spawn(async move {
        loop {
            tokio::time::sleep(tick).await;
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    tokio::time::sleep(tick * 2).await; // the ticker is running
    let before = ticks.load(Ordering::Relaxed);
    let result = handler.handle(wait, crunch).await?;
    ticker.abort();
    Ok((ticks.load(Ordering::Relaxed) - before, result))
}

/// The guide's CPU work: a sum of squares (about 0.1 s unoptimised).
fn crunch() -> u64 {
    (0..20_000_000u64).fold(0, |sum, i| sum.wrapping_add(i.wrapping_mul(i)))
}

/// The twin of `if __name__ == "__main__":` each handler on one loop thread, as in asyncio.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), JoinError> {
    for handler in [
        Handler::ThreadSleep,
        Handler::TokioSleep,
        Handler::CpuInline,
        Handler::CpuSpawnBlocking,
    ] {
        let start = tokio::time::Instant::now();
        let (ticks, _) = ticks_during(
            handler,
            Duration::from_millis(5),
            Duration::from_millis(200),
            crunch,
        )
        .await?;
        println!(
            "{handler:?}: the 5 ms ticker got in {ticks} times in {:.0?}",
            start.elapsed()
        );
    }
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timing::{Secs, timed_async};
use common::workload::{sum_of_squares, sum_of_squares_expected};

pub const SECTION: Section = Section::new(
    "blocking-pitfall",
    "time.sleep() / CPU work inside async def",
    "a ticker on the same loop counts what gets through; fixed with sleep().await and spawn_blocking",
    run,
)
.main(|| main().report());

const TICK: Duration = Duration::from_millis(5);
const BLOCK: Duration = Duration::from_millis(200);
/// About 0.1 to 0.2 s of CPU work (the workload is optimised even in dev builds).
const CPU_N: u64 = 150_000_000;
/// The fixed cases must get in at least this many times the ticks of the blocked ones.
const MIN_RATIO: u64 = 5;

// One thread runs the loop, as in asyncio.
#[tokio::main(flavor = "current_thread")]
async fn run() -> SectionResult {
    let mut ticks = Vec::new();
    for (handler, label) in [
        (Handler::ThreadSleep, "std::thread::sleep"),
        (Handler::TokioSleep, "tokio::time::sleep"),
        (Handler::CpuInline, "CPU loop in the task"),
        (Handler::CpuSpawnBlocking, "CPU loop in spawn_blocking"),
    ] {
        let (outcome, took) =
            timed_async(ticks_during(handler, TICK, BLOCK, || sum_of_squares(CPU_N))).await;
        let (got, result) = outcome?;
        if matches!(handler, Handler::CpuInline | Handler::CpuSpawnBlocking) {
            anyhow::ensure!(result == sum_of_squares_expected(CPU_N), "wrong sum");
        }
        figure(
            label,
            format!(
                "the {} ticker got in {got:>2} times, in {}",
                Secs(TICK),
                Secs(took)
            ),
        );
        ticks.push(got);
    }
    let blocked = ticks[0].max(ticks[2]).max(1);
    let fixed = ticks[1].min(ticks[3]);
    takeaway_if(
        &Evidence::new(
            fixed >= blocked * MIN_RATIO,
            format!(
                "at least {MIN_RATIO}x the ticks with the fixed handlers than with the blocking ones"
            ),
            format!(
                "{} and {} ticks against {} and {}",
                ticks[0], ticks[2], ticks[1], ticks[3]
            ),
        ),
        "never block between awaits: tokio::time::sleep to wait, spawn_blocking for blocking calls; CPU work in bulk goes to rayon (hybrid-demo cpu-offload)",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Counts ticks of a 1 ms ticker task on the same (current-thread) runtime.
    fn ticker() -> (Arc<AtomicU64>, tokio::task::JoinHandle<()>) {
        let ticks = Arc::new(AtomicU64::new(0));
        let t = ticks.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
                t.fetch_add(1, Ordering::SeqCst);
            }
        });
        (ticks, task)
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_else_runs_while_a_task_blocks() {
        let (ticks, task) = ticker();
        tokio::time::sleep(Duration::from_millis(3)).await;
        let before = ticks.load(Ordering::SeqCst);
        // A blocking call inside async code: the ticker cannot run during it.
        let during = {
            std::thread::sleep(Duration::from_millis(5));
            sum_of_squares(1_000_000);
            ticks.load(Ordering::SeqCst)
        };
        assert_eq!(during, before);
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_runs_other_tasks_during_an_await() {
        let (ticks, task) = ticker();
        let before = ticks.load(Ordering::SeqCst);
        Handler::TokioSleep.handle(BLOCK, || 0).await.unwrap();
        assert!(
            ticks.load(Ordering::SeqCst) >= before + 150,
            "ticks during a 200 ms await"
        );
        task.abort();
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_blocked_loop_lets_no_tick_in_an_awaiting_one_all() {
        let (blocked, _) = ticks_during(Handler::ThreadSleep, TICK, BLOCK, || 0)
            .await
            .unwrap();
        assert!(blocked <= 1, "at most the one late tick: {blocked}");
        let (free, _) = ticks_during(Handler::TokioSleep, TICK, BLOCK, || 0)
            .await
            .unwrap();
        assert!(free >= 39, "about 200 ms / 5 ms: {free}");
    }

    #[tokio::test]
    async fn spawn_blocking_returns_the_right_answer() {
        let sum = Handler::CpuSpawnBlocking
            .handle(BLOCK, || sum_of_squares(1_000_000))
            .await
            .unwrap();
        assert_eq!(sum, sum_of_squares_expected(1_000_000));
    }
}
