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

// --- run and measure ---

use std::time::Duration;

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
);

const N: u64 = 10_000;

/// A name and a way to run [`pipeline`] to completion.
type Executor<'a> = (&'static str, &'a dyn Fn() -> u64);

fn expected(n: u64) -> u64 {
    (0..n).map(|i| i * i).sum()
}

fn run() -> SectionResult {
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("building a tokio runtime")?;
    let on_tokio = || tokio_rt.block_on(pipeline(N));
    let on_futures = || futures::executor::block_on(pipeline(N));
    let on_ours = || block_on(pipeline(N)).0;
    let runs: [Executor; 3] = [
        ("tokio Runtime::block_on", &on_tokio),
        ("futures::executor::block_on", &on_futures),
        ("event_loop::block_on (ours)", &on_ours),
    ];
    for (name, run) in &runs {
        let (sum, took) = timed(run);
        anyhow::ensure!(sum == expected(N), "{name} got {sum}");
        figure(
            name,
            format!("sum of squares below {N} = {sum}, {}", Secs(took)),
        );
    }

    // Outside any tokio runtime: no reactor for tokio's timers and sockets.
    let outside = tokio_here();
    anyhow::ensure!(outside.is_err(), "this thread should be outside tokio");
    figure(
        "outside any tokio runtime",
        outside.err().unwrap_or_default(),
    );

    // Inside a tokio runtime's context: another executor can wait on tokio's timer.
    let wait = Duration::from_millis(50);
    let ((), took) = {
        let _context = tokio_rt.enter(); // tokio's reactor and timer are reachable from here
        timed(|| futures::executor::block_on(tokio::time::sleep(wait)))
    };
    anyhow::ensure!(took >= wait, "the timer fired early");
    figure(
        "same, after runtime.enter()",
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
        let want = expected(500);
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
        let _context = rt.enter();
        assert!(tokio_here().is_ok());
        futures::executor::block_on(tokio::time::sleep(Duration::from_millis(1)));
    }
}
