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
//! Watch: a heartbeat task wants to tick every 5 ms. Its worst lateness is about the whole
//! blocking time for `std::thread::sleep` and the CPU loop, and about nothing with
//! `tokio::time::sleep` and `spawn_blocking`.
//!
//! Run only this: cargo run -p asyncio-demo -- blocking-pitfall

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

// --- run and measure ---

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timing::{Heartbeat, Secs, timed_async};
use common::workload::{sum_of_squares, sum_of_squares_expected};

pub const SECTION: Section = Section::new(
    "blocking-pitfall",
    "time.sleep() / CPU work inside async def",
    "a heartbeat measures how late the loop runs; fixed with sleep().await and spawn_blocking",
    run,
);

const TICK: Duration = Duration::from_millis(5);
const BLOCK: Duration = Duration::from_millis(200);
/// About 0.1 to 0.2 s of CPU work (the workload is optimised even in dev builds).
const CPU_N: u64 = 150_000_000;
/// The blocked cases must be at least this many times later than the fixed ones.
const MIN_RATIO: u32 = 5;

fn crunch() -> u64 {
    sum_of_squares(CPU_N)
}

fn label(handler: Handler) -> &'static str {
    match handler {
        Handler::ThreadSleep => "std::thread::sleep (time.sleep)",
        Handler::TokioSleep => "tokio::time::sleep",
        Handler::CpuInline => "CPU loop in the task",
        Handler::CpuSpawnBlocking => "CPU loop in spawn_blocking",
    }
}

/// Run `handler` with a heartbeat beside it: (worst lateness, ticks, time, result).
async fn measure(handler: Handler) -> anyhow::Result<(Duration, u64, Duration, u64)> {
    let heartbeat = Heartbeat::start(TICK);
    tokio::time::sleep(TICK * 2).await; // let it tick on an idle loop first
    let (result, took) = timed_async(handler.handle(BLOCK, crunch)).await;
    tokio::time::sleep(TICK * 2).await; // and let the late tick be recorded
    Ok((heartbeat.worst_lateness(), heartbeat.ticks(), took, result?))
}

// One thread runs the loop, as in asyncio.
#[tokio::main(flavor = "current_thread")]
async fn run() -> SectionResult {
    let mut late = Vec::new();
    for handler in [
        Handler::ThreadSleep,
        Handler::TokioSleep,
        Handler::CpuInline,
        Handler::CpuSpawnBlocking,
    ] {
        let (worst, ticks, took, result) = measure(handler).await?;
        if matches!(handler, Handler::CpuInline | Handler::CpuSpawnBlocking) {
            anyhow::ensure!(result == sum_of_squares_expected(CPU_N), "wrong sum");
        }
        figure(
            label(handler),
            format!(
                "worst tick {:>9} late ({ticks} ticks, handler took {})",
                Secs(worst).to_string(),
                Secs(took)
            ),
        );
        late.push(worst);
    }
    let blocked = late[0].min(late[2]);
    let fixed = late[1].max(late[3]).max(Duration::from_millis(1));
    takeaway_if(
        &Evidence::new(
            blocked >= fixed * MIN_RATIO,
            format!(
                "the blocking handlers' ticks at least {MIN_RATIO}x later than the fixed ones'"
            ),
            format!(
                "{} and {} late against {} and {}",
                Secs(late[0]),
                Secs(late[2]),
                Secs(late[1]),
                Secs(late[3])
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

    #[tokio::test]
    async fn spawn_blocking_returns_the_right_answer() {
        let sum = Handler::CpuSpawnBlocking
            .handle(BLOCK, || sum_of_squares(1_000_000))
            .await
            .unwrap();
        assert_eq!(sum, sum_of_squares_expected(1_000_000));
    }
}
