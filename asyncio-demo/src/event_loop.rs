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
//! other; the multi-thread runtime spreads them over its workers and finishes sooner. The
//! hand-written executor drives two timers with three polls.
//!
//! Run only this: cargo run -p asyncio-demo -- event-loop

use std::collections::BTreeSet;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

use anyhow::Context as _;
use common::cli::{SectionResult, figure, takeaway};
use common::timeline::{Timeline, thread_id_lane};
use common::timing::{Secs, timed};
use common::workload::{sum_of_squares, sum_of_squares_expected};
use tokio::runtime::{Builder, Runtime};

/// `asyncio.run(main())`: the attribute wraps the body in a new current-thread `Runtime`
/// and `block_on`, so this is a plain (blocking) function for its caller.
#[tokio::main(flavor = "current_thread")]
pub async fn asyncio_run_main() -> u64 {
    tokio::time::sleep(Duration::from_millis(50)).await;
    42
}

const TASKS: usize = 4;
const WORK: u64 = 50_000_000;

/// Four CPU-bound tasks on `runtime`; returns the names of the threads they ran on.
fn run_tasks(runtime: &Runtime, timeline: &Timeline) -> anyhow::Result<BTreeSet<String>> {
    runtime.block_on(async {
        let handles: Vec<_> = (0..TASKS)
            .map(|i| {
                let timeline = timeline.clone();
                tokio::spawn(async move {
                    let lane = thread_id_lane();
                    let sum =
                        timeline.record(lane.clone(), format!("task {i}"), || sum_of_squares(WORK));
                    tracing::debug!(task = i, thread = %lane, "summed");
                    (lane, sum)
                })
            })
            .collect();
        let mut threads = BTreeSet::new();
        for handle in handles {
            let (lane, sum) = handle.await?;
            anyhow::ensure!(sum == sum_of_squares_expected(WORK), "wrong sum");
            threads.insert(lane);
        }
        Ok(threads)
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

pub fn run() -> SectionResult {
    let (answer, took) = timed(asyncio_run_main);
    anyhow::ensure!(answer == 42, "asyncio_run_main returned {answer}");
    figure(
        "#[tokio::main] fn (asyncio.run)",
        format!("{answer} in {}", Secs(took)),
    );

    // asyncio's twin: one thread runs the loop and every task.
    let single = Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building a current-thread runtime")?;
    let timeline = Timeline::new();
    let (threads, took_single) = timed(|| run_tasks(&single, &timeline));
    let threads = threads?;
    println!("  current_thread runtime: {TASKS} tasks ran on {threads:?}");
    timeline.print();

    // No Python twin: worker threads run tasks in parallel.
    let multi = Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("building a multi-thread runtime")?;
    let timeline = Timeline::new();
    let (threads_multi, took_multi) = timed(|| run_tasks(&multi, &timeline));
    let threads_multi = threads_multi?;
    println!(
        "  multi_thread runtime (2 workers): {TASKS} tasks ran on {} thread(s)",
        threads_multi.len()
    );
    timeline.print();
    anyhow::ensure!(threads.len() == 1, "a current-thread runtime used several");
    figure("current_thread", Secs(took_single));
    figure("multi_thread, 2 workers", Secs(took_multi));

    let ((answer, polls), took) = timed(|| block_on(two_timers()));
    anyhow::ensure!(answer == 42, "the hand-made executor got {answer}");
    figure(
        "hand-made block_on",
        format!("{answer} after {polls} polls, {}", Secs(took)),
    );
    takeaway(
        "a runtime is a loop that polls futures and sleeps until a Waker fires; tokio can run it on one thread or many",
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
        let threads = run_tasks(&rt, &Timeline::new()).unwrap();
        assert_eq!(threads.len(), 1);
    }
}
