//! trio and curio, other event loops for the same `async`/`await` -> the same future on
//! other executors (`futures::executor::block_on`, the hand-made one from `event-loop`), and
//! what only works inside tokio (its timers and sockets).
//!
//! Python:
//!     async def pipeline(n): ...            # only awaits asyncio things
//!     asyncio.run(pipeline(10))
//!     trio.run(pipeline, 10)                # fails: asyncio.Queue/sleep need asyncio's loop
//!
//! Rust: `async fn` and `Future` are in the language and std; the executor is a library.
//! A future built only from runtime-neutral parts (`futures::channel`, `futures::join!`,
//! plain computation) runs on any executor: tokio, `futures::executor::block_on`, smol, or
//! the twenty-line `block_on` in `event_loop.rs`. Timers and sockets are different: they
//! need a reactor (the part that asks the OS what is ready), and `tokio::time::sleep` and
//! `tokio::net` need tokio's. Outside a tokio runtime there is none (it would panic), but a
//! running multi-thread tokio runtime can lend its reactor to another executor: enter its
//! context with `runtime.enter()`.
//!
//! Watch: the same pipeline gives the same answer on three executors; outside tokio there
//! is "no reactor running"; inside its context `futures::executor::block_on` can wait on a
//! tokio timer.
//!
//! Run only this: cargo run -p asyncio-demo -- other-runtimes
//! Copy it: cargo add futures@0.3 && cargo add tokio@1 --features full

use std::time::Duration;

use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};

/// A producer and a consumer joined by a channel, written only with runtime-neutral parts.
pub async fn pipeline(n: u64) -> u64 {
    let (mut tx, rx) = mpsc::channel::<u64>(16);
    let produce = async move {
        for i in 0..n {
            if tx.send(i).await.is_err() {
                break;
            }
        } // tx dropped: the stream ends
    };
    let consume = rx.fold(0u64, |acc, i| async move { acc + i * i });
    let ((), sum) = futures::join!(produce, consume);
    sum
}

/// Is a tokio runtime (and so its reactor) available here? The error says why not.
pub fn tokio_here() -> Result<(), String> {
    tokio::runtime::Handle::try_current()
        .map(drop)
        .map_err(|e| e.to_string())
}

/// `futures::executor::block_on` waiting on a tokio timer: only inside the context of a
/// running tokio runtime (`runtime.enter()`), whose reactor fires the timer.
pub fn tokio_timer_elsewhere(runtime: &tokio::runtime::Runtime, wait: Duration) {
    let _context = runtime.enter(); // tokio's reactor and timer are reachable from here
    futures::executor::block_on(tokio::time::sleep(wait));
}

/// The twin of `if __name__ == "__main__":` the same future on two executors, then a
/// tokio timer outside and inside tokio's context.
fn main() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    println!("on tokio: {}", runtime.block_on(pipeline(10_000)));
    println!(
        "on futures::executor::block_on: {}",
        futures::executor::block_on(pipeline(10_000))
    );
    println!("tokio outside a runtime: {:?}", tokio_here());
    let start = std::time::Instant::now();
    tokio_timer_elsewhere(&runtime, Duration::from_millis(50));
    println!(
        "futures' block_on slept {:.0?} on tokio's timer, after runtime.enter()",
        start.elapsed()
    );
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use crate::event_loop::block_on;
use anyhow::Context;
use common::cli::{Section, SectionResult};
use common::print::{figure, takeaway};
use common::timing::{Secs, timed};

pub const SECTION: Section = Section::new(
    "other-runtimes",
    "trio.run / curio.run",
    "the same future on tokio, futures' block_on and our own; tokio's timers need tokio's reactor",
    run,
)
.main(|| main().report());

const N: u64 = 10_000;

fn run() -> SectionResult {
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("building a tokio runtime")?;
    let expected: u64 = (0..N).map(|i| i * i).sum();
    let runs: [(&str, &dyn Fn() -> u64); 3] = [
        ("tokio Runtime::block_on", &|| {
            tokio_rt.block_on(pipeline(N))
        }),
        ("futures' block_on", &|| {
            futures::executor::block_on(pipeline(N))
        }),
        ("our own block_on", &|| block_on(pipeline(N)).0),
    ];
    for (name, run) in runs {
        let (sum, took) = timed(run);
        anyhow::ensure!(sum == expected, "{name} got {sum}");
        figure(
            name,
            format!("sum of squares below {N} = {sum}, {}", Secs(took)),
        );
    }
    let outside = tokio_here()
        .err()
        .context("this thread should be outside tokio")?;
    figure("outside any tokio runtime", outside);
    let wait = Duration::from_millis(50);
    let ((), took) = timed(|| tokio_timer_elsewhere(&tokio_rt, wait));
    anyhow::ensure!(took >= wait, "the timer fired early");
    figure(
        "after runtime.enter()",
        format!("futures' block_on slept {} on tokio's timer", Secs(took)),
    );
    takeaway(
        "futures are executor-neutral; timers and sockets belong to the runtime whose reactor drives them",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_future_runs_on_every_executor() {
        let want: u64 = (0..500).map(|i| i * i).sum();
        assert_eq!(futures::executor::block_on(pipeline(500)), want);
        assert_eq!(crate::event_loop::block_on(pipeline(500)).0, want);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(rt.block_on(pipeline(500)), want);
    }

    #[test]
    fn tokio_timers_need_a_tokio_context() {
        assert!(tokio_here().is_err());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        tokio_timer_elsewhere(&rt, Duration::from_millis(1));
        let _context = rt.enter();
        assert!(tokio_here().is_ok());
    }
}
