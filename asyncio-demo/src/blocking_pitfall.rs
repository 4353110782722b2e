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
//! current-thread runtime nothing else runs at all. On a multi-thread runtime it stalls one
//! worker and every task queued on it. Unlike Python, `spawn_blocking` puts CPU work on
//! another core in parallel (no GIL).
//!
//! Watch: a heartbeat task wants to tick every 5 ms. Its worst lateness is about the whole
//! blocking time for `std::thread::sleep` and the CPU loop, and about nothing with
//! `tokio::time::sleep` and `spawn_blocking`.
//!
//! Run only this: cargo run -p asyncio-demo -- blocking-pitfall

use std::time::Duration;

use common::cli::{SectionResult, figure, takeaway};
use common::timing::{Heartbeat, Secs, timed_async};
use common::workload::{sum_of_squares, sum_of_squares_expected};

const TICK: Duration = Duration::from_millis(5);
const BLOCK: Duration = Duration::from_millis(200);
/// About 0.1 to 0.2 s of CPU work (the workload is optimised even in dev builds).
const CPU_N: u64 = 150_000_000;

/// The four handlers: what each one does while the heartbeat runs.
#[derive(Clone, Copy, Debug)]
pub enum Handler {
    ThreadSleep,
    TokioSleep,
    CpuInline,
    CpuSpawnBlocking,
}

impl Handler {
    fn label(self) -> &'static str {
        match self {
            Handler::ThreadSleep => "std::thread::sleep (time.sleep)",
            Handler::TokioSleep => "tokio::time::sleep",
            Handler::CpuInline => "CPU loop in the task",
            Handler::CpuSpawnBlocking => "CPU loop in spawn_blocking",
        }
    }

    /// Run the handler as a task, as a request handler would be.
    pub async fn handle(self, cpu_n: u64) -> anyhow::Result<u64> {
        let task = tokio::spawn(async move {
            match self {
                Handler::ThreadSleep => {
                    std::thread::sleep(BLOCK); // blocks the loop's thread
                    Ok(0)
                }
                Handler::TokioSleep => {
                    tokio::time::sleep(BLOCK).await; // yields to the loop
                    Ok(0)
                }
                Handler::CpuInline => Ok(sum_of_squares(cpu_n)), // holds the thread
                Handler::CpuSpawnBlocking => {
                    Ok(tokio::task::spawn_blocking(move || sum_of_squares(cpu_n)).await?)
                }
            }
        });
        task.await?
    }
}

/// Run `handler` with a heartbeat beside it: (worst lateness, ticks, time, result).
async fn measure(handler: Handler) -> anyhow::Result<(Duration, u64, Duration, u64)> {
    let heartbeat = Heartbeat::start(TICK);
    tokio::time::sleep(TICK * 2).await; // let it tick on an idle loop first
    let (result, took) = timed_async(handler.handle(CPU_N)).await;
    tokio::time::sleep(TICK * 2).await; // and let the late tick be recorded
    Ok((heartbeat.worst_lateness(), heartbeat.ticks(), took, result?))
}

// One thread runs the loop, as in asyncio.
#[tokio::main(flavor = "current_thread")]
pub async fn run() -> SectionResult {
    for handler in [
        Handler::ThreadSleep,
        Handler::TokioSleep,
        Handler::CpuInline,
        Handler::CpuSpawnBlocking,
    ] {
        let (late, ticks, took, result) = measure(handler).await?;
        if matches!(handler, Handler::CpuInline | Handler::CpuSpawnBlocking) {
            anyhow::ensure!(result == sum_of_squares_expected(CPU_N), "wrong sum");
        }
        figure(
            handler.label(),
            format!(
                "worst tick {:>9} late ({ticks} ticks, handler took {})",
                Secs(late).to_string(),
                Secs(took)
            ),
        );
    }
    takeaway(
        "never block between awaits: use tokio::time::sleep for waiting and spawn_blocking for CPU or blocking calls",
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
        Handler::TokioSleep.handle(0).await.unwrap();
        assert!(
            ticks.load(Ordering::SeqCst) >= before + 150,
            "ticks during a 200 ms await"
        );
        task.abort();
    }

    #[tokio::test]
    async fn spawn_blocking_returns_the_right_answer() {
        let n = 1_000_000;
        let sum = Handler::CpuSpawnBlocking.handle(n).await.unwrap();
        assert_eq!(sum, sum_of_squares_expected(n));
    }
}
