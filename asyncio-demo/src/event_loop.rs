//! `asyncio.run(main())` -> `#[tokio::main]` or an explicit `tokio::runtime::Runtime`;
//! event loop internals: a `block_on` written by hand.
//!
//! Python:
//!     async def main():
//!         await asyncio.sleep(0.05)
//!         return 42
//!     print(asyncio.run(main()))            # = loop.run_until_complete(main())
//!
//! Rust: `#[tokio::main]` is a macro that builds a `Runtime` and calls `block_on` on the
//! body. The `current_thread` flavour is asyncio's twin: one thread runs every task. The
//! (default) `multi_thread` flavour has no Python twin: several worker threads run tasks
//! in parallel, which is fine because the compiler checks that what they share is
//! `Send`/`Sync` (there is no GIL to lean on).
//!
//! Inside, an event loop is small: poll the future; when it returns `Pending` it has handed
//! its `Waker` to whatever it waits for (a timer, a socket); sleep until someone calls
//! `wake()`, then poll again. [`block_on`] below is that loop in a few lines, with a
//! thread-backed `Timer` future playing the reactor.
//!
//! Watch: the current-thread runtime runs four CPU-bound tasks on one thread, one after the
//! other; the multi-thread runtime (one worker per usable core) spreads them over its
//! workers and, when the cores are free, finishes sooner (best of 3 runs each). The
//! hand-written executor drives two timers with three polls.
//!
//! A caveat: the CPU-bound tasks are here only to make the worker threads visible. In real
//! code a task that computes for long between two awaits holds its worker thread, and
//! whatever waits behind it there (see `blocking-pitfall`). Hand CPU work to rayon
//! (hybrid-demo's `cpu-offload`) or, for a blocking call, to `spawn_blocking`.
//!
//! Run only this: cargo run -p asyncio-demo -- event-loop
//! Copy it: cargo add tracing@0.1 && cargo add tokio@1 --features full

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread, ThreadId};
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::task::JoinError;

/// `asyncio.run(main())`: the attribute wraps the body in a new current-thread `Runtime`
/// and `block_on`, so this is a plain (blocking) function for its caller.
#[tokio::main(flavor = "current_thread")]
pub async fn asyncio_run_main() -> u64 {
    tokio::time::sleep(Duration::from_millis(50)).await;
    42
}

/// `tasks` tasks on `runtime`, each computing `work()`; returns which thread each ran on and
/// its result, in task order.
pub fn run_tasks<F>(
    runtime: &Runtime,
    tasks: usize,
    work: F,
) -> Result<Vec<(ThreadId, u64)>, JoinError>
where
    F: Fn() -> u64 + Clone + Send + 'static,
{
    runtime.block_on(async {
        let handles: Vec<_> = (0..tasks)
            .map(|i| {
                let work = work.clone();
                tokio::spawn(async move {
                    let _span = tracing::info_span!("task", i).entered();
                    let result = work(); // no await inside: it holds this worker until done
                    (thread::current().id(), result)
                })
            })
            .collect();
        let mut ran = Vec::new();
        for handle in handles {
            ran.push(handle.await?);
        }
        Ok(ran)
    })
}

// ---- event loop internals: a minimal executor ----

/// Wakes the executor's thread: `wake()` is `unpark()`.
struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// `loop.run_until_complete(fut)`: poll, park until woken, poll again. Returns the output and
/// how many times the future was polled.
pub fn block_on<F: Future>(fut: F) -> (F::Output, u32) {
    let mut fut = std::pin::pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut polls = 0;
    loop {
        polls += 1;
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(value) => return (value, polls),
            Poll::Pending => thread::park(), // sleep until a waker calls unpark()
        }
    }
}

/// A timer future. Its "reactor" is a thread that sleeps, marks it done and calls `wake()`.
pub struct Timer {
    after: Duration,
    state: Option<Arc<Mutex<(bool, Waker)>>>,
}

impl Timer {
    pub fn after(after: Duration) -> Timer {
        Timer { after, state: None }
    }
}

impl Future for Timer {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &self.state {
            None => {
                // First poll: register with the "reactor" and say "not yet".
                let state = Arc::new(Mutex::new((false, cx.waker().clone())));
                let (shared, after) = (state.clone(), self.after);
                thread::spawn(move || {
                    thread::sleep(after);
                    let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
                    s.0 = true;
                    s.1.wake_by_ref();
                });
                self.state = Some(state);
                Poll::Pending
            }
            Some(state) => {
                let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                if s.0 {
                    Poll::Ready(())
                } else {
                    s.1 = cx.waker().clone(); // the latest waker is the one to call
                    Poll::Pending
                }
            }
        }
    }
}

async fn two_timers() -> u64 {
    Timer::after(Duration::from_millis(30)).await;
    Timer::after(Duration::from_millis(30)).await;
    42
}

/// CPU work for the tasks: a sum of `n` squares, wrapping.
pub fn crunch(n: u64) -> u64 {
    (0..n).fold(0u64, |sum, i| sum.wrapping_add(i.wrapping_mul(i)))
}

/// The twin of `if __name__ == "__main__":` `asyncio.run`, both runtime flavours, and the
/// hand-made executor.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("asyncio_run_main() -> {}", asyncio_run_main());
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let multi = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    for (flavour, runtime) in [("current_thread", &current), ("multi_thread", &multi)] {
        let start = std::time::Instant::now();
        let ran = run_tasks(runtime, 4, || crunch(5_000_000))?;
        let threads: HashSet<ThreadId> = ran.iter().map(|(thread, _)| *thread).collect();
        println!(
            "{flavour}: 4 tasks ran on {} thread(s) in {:.0?}",
            threads.len(),
            start.elapsed()
        );
    }
    let (answer, polls) = block_on(two_timers());
    println!("hand-made block_on: {answer} after {polls} polls");
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use anyhow::Context as _;
use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recorded, Recording};
use common::timing::{Secs, speedup, timed};
use common::workload::{sum_of_squares, sum_of_squares_expected};
use tokio::runtime::Builder;

pub const SECTION: Section = Section::new(
    "event-loop",
    "asyncio.run(main()) / loop.run_until_complete",
    "#[tokio::main] and Runtime flavours; a hand-written block_on with a Waker",
    run,
)
.main(|| main().report())
.cpu_bound();

const TASKS: usize = 4;
const WORK: u64 = 50_000_000;
const RUNS: usize = 3;

/// The best of `RUNS` runs of the tasks on `runtime`: (time, threads used, its spans).
fn best_of(runtime: &Runtime) -> anyhow::Result<(Duration, usize, Recorded)> {
    let mut best: Option<(Duration, usize, Recorded)> = None;
    for _ in 0..RUNS {
        let recording = Recording::start();
        let (ran, took) = timed(|| run_tasks(runtime, TASKS, || sum_of_squares(WORK)));
        let spans = recording.finish().named(&["task"]);
        let ran = ran?;
        anyhow::ensure!(
            ran.len() == TASKS && ran.iter().all(|(_, s)| *s == sum_of_squares_expected(WORK)),
            "wrong sum"
        );
        let threads = ran.iter().map(|(t, _)| *t).collect::<HashSet<_>>().len();
        if best.as_ref().is_none_or(|(b, _, _)| took < *b) {
            best = Some((took, threads, spans));
        }
    }
    best.context("no run")
}

fn run() -> SectionResult {
    let (answer, took) = timed(asyncio_run_main);
    anyhow::ensure!(answer == 42, "asyncio_run_main returned {answer}");
    figure(
        "#[tokio::main] fn",
        format!("{answer} in {} (asyncio.run)", Secs(took)),
    );
    // asyncio's twin: one thread runs the loop and every task.
    let single = Builder::new_current_thread().enable_all().build()?;
    let (took_single, threads, spans) = best_of(&single)?;
    anyhow::ensure!(threads == 1, "a current-thread runtime used {threads}");
    println!("  current_thread runtime: {TASKS} tasks on {threads} thread (best of {RUNS})");
    spans.print(Lanes::ThreadId);
    // No Python twin: worker threads run tasks in parallel, one per usable core.
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(TASKS);
    let multi = Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    let (took_multi, threads_multi, spans) = best_of(&multi)?;
    println!(
        "  multi_thread runtime, {workers} workers: {TASKS} tasks on {threads_multi} thread(s) (best of {RUNS})"
    );
    spans.print(Lanes::ThreadId);
    figure("current_thread", Secs(took_single));
    figure(format!("multi_thread, {workers} workers"), Secs(took_multi));
    let ((answer, polls), took) = timed(|| block_on(two_timers()));
    anyhow::ensure!(answer == 42, "the hand-made executor got {answer}");
    figure(
        "hand-made block_on",
        format!("{answer} after {polls} polls, {}", Secs(took)),
    );
    takeaway_if(
        &Evidence::scaling(speedup(took_single, took_multi), workers).and(Evidence::new(
            threads_multi == workers,
            format!("the tasks spread over all {workers} workers"),
            format!("{threads_multi} thread(s) used"),
        )),
        "a runtime is a loop that polls futures and sleeps until a Waker fires; tokio's multi-thread flavour runs tasks in parallel (long CPU work still belongs in rayon or spawn_blocking)",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns `Pending` `n` times, waking itself each time, then `Ready`.
    struct YieldN(u32);

    impl Future for YieldN {
        type Output = &'static str;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<&'static str> {
            if self.0 == 0 {
                return Poll::Ready("done");
            }
            self.0 -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[test]
    fn a_tokio_main_function_is_a_blocking_call() {
        assert_eq!(asyncio_run_main(), 42);
    }

    #[test]
    fn block_on_polls_until_ready() {
        assert_eq!(block_on(async { 7 }), (7, 1));
        assert_eq!(block_on(YieldN(3)), ("done", 4));
    }

    #[test]
    fn block_on_sleeps_until_the_timer_wakes_it() {
        let (answer, polls) = block_on(two_timers());
        assert_eq!(answer, 42);
        assert!(polls >= 3, "one poll to start and one per timer: {polls}");
    }

    #[test]
    fn a_current_thread_runtime_uses_one_thread() {
        let rt = Builder::new_current_thread().enable_all().build().unwrap();
        let recording = Recording::local();
        let ran = run_tasks(&rt, 3, || 7).unwrap();
        let threads: HashSet<ThreadId> = ran.iter().map(|(t, _)| *t).collect();
        assert_eq!(threads.len(), 1);
        assert!(ran.iter().all(|(_, r)| *r == 7));
        assert_eq!(recording.finish().named(&["task"]).len(), 3);
    }
}
