//! `gather(..., return_exceptions=True)`, a failing `gather`, `try`/`except` in a coroutine
//! -> `join_all` over `Result`s, `try_join!`, `JoinError`, `?` and `match`.
//!
//! Python:
//!     async def read(i):
//!         await asyncio.sleep(0.05 * i)
//!         if i == 2:
//!             raise ValueError(f"sensor {i} is broken")
//!         return i * 10
//!     results = await asyncio.gather(*(read(i) for i in range(4)), return_exceptions=True)
//!     try:
//!         await asyncio.gather(read(2), read(9))   # raises after 0.1 s
//!     except ValueError as e:
//!         print("failed:", e)
//!
//! Rust has no exceptions: a fallible future returns `Result`. `join_all` over them is
//! `return_exceptions=True` (every outcome, in order). `try_join!` is the plain `gather`: the
//! first `Err` returns at once and the other futures are dropped, i.e. cancelled (Python
//! lets them run on). `?` propagates an error like an uncaught exception; `match` is
//! `except`. A panic inside a spawned task does not kill the program: its `JoinHandle`
//! returns a `JoinError` with `is_panic()`. The message on stderr comes from Rust's panic
//! hook (std, not tokio), which prints a backtrace too when `RUST_BACKTRACE=1`;
//! `std::panic::set_hook` replaces it (the demo swaps in a one-line hook).
//!
//! Watch: the four outcomes in order, `try_join!` failing after 0.1 s rather than 0.45 s,
//! `match` giving its fallback 0, and the panicked task reported as an error while the
//! others finished.
//!
//! Run only this: cargo run -p asyncio-demo -- exceptions
//! Copy it: cargo add futures@0.3 tracing@0.1 && cargo add tokio@1 --features full

use std::time::Duration;

use futures::future::join_all;

const STEP: Duration = Duration::from_millis(50);

#[derive(Debug, PartialEq, Eq)]
pub struct Broken(u64);

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sensor {} is broken", self.0)
    }
}

impl std::error::Error for Broken {}

/// The coroutine that may "raise".
pub async fn read(i: u64) -> Result<u64, Broken> {
    tokio::time::sleep(STEP * i as u32).await;
    if i == 2 { Err(Broken(i)) } else { Ok(i * 10) }
}

/// `gather(..., return_exceptions=True)`: every outcome, in input order.
pub async fn gather_all(ids: impl IntoIterator<Item = u64>) -> Vec<Result<u64, Broken>> {
    join_all(ids.into_iter().map(read)).await
}

/// The plain `gather` inside `try`: the first error wins, the rest are cancelled.
pub async fn gather_or_fail(a: u64, b: u64) -> Result<(u64, u64), Broken> {
    tokio::try_join!(read(a), read(b))
}

/// `try: ... except ValueError:` as `match`; `?` would pass the error up instead.
pub async fn read_or_default(i: u64) -> u64 {
    match read(i).await {
        Ok(v) => v,
        Err(e) => {
            tracing::debug!(%e, "falling back to 0");
            0
        }
    }
}

/// Three spawned tasks, the middle one panics: the outcomes of their handles.
pub async fn tasks_with_a_panic() -> Vec<Result<u64, tokio::task::JoinError>> {
    let handles: Vec<_> = (0..3u64)
        .map(|i| {
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                if i == 1 {
                    panic!("task {i} hit a bug");
                }
                i
            })
        })
        .collect();
    join_all(handles).await
}

/// The twin of `if __name__ == "__main__":` each way of meeting the error once.
#[tokio::main]
async fn main() {
    for (i, outcome) in gather_all(0..4).await.iter().enumerate() {
        println!("read({i}) -> {outcome:?}");
    }
    println!(
        "try_join!(read(2), read(9)) -> {:?}",
        gather_or_fail(2, 9).await
    );
    println!(
        "match read(2) -> {} (the fallback)",
        read_or_default(2).await
    );
    println!("three tasks, task 1 panics (the panic's message goes to stderr):");
    for (i, outcome) in tasks_with_a_panic().await.iter().enumerate() {
        match outcome {
            Ok(v) => println!("task {i} -> Ok({v})"),
            Err(e) => println!("task {i} -> JoinError, is_panic: {}", e.is_panic()),
        }
    }
}

// --- run and measure ---

use std::process::ExitCode;

use anyhow::Context;
use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timing::{Secs, timed_async};

pub const SECTION: Section = Section::new(
    "exceptions",
    "gather(return_exceptions=True) / try-except",
    "Results collected, try_join! failing fast, a panicking task as JoinError",
    run,
)
.main(|| {
    main();
    ExitCode::SUCCESS
});

fn run() -> SectionResult {
    // One line per intended panic, even with RUST_BACKTRACE=1 (no 27-frame backtrace).
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload_as_str().unwrap_or("(not text)");
        eprintln!("  [panic hook] a task panicked: {payload}");
    }));
    let outcome = show();
    std::panic::set_hook(default_hook);
    outcome
}

#[tokio::main]
async fn show() -> SectionResult {
    let outcomes = gather_all(0..4).await;
    for (i, outcome) in outcomes.iter().enumerate() {
        println!("  read({i}) -> {outcome:?}");
    }
    anyhow::ensure!(
        outcomes == [Ok(0), Ok(10), Err(Broken(2)), Ok(30)],
        "unexpected outcomes {outcomes:?}"
    );
    let (failed, failed_after) = timed_async(gather_or_fail(2, 9)).await;
    let err = failed.err().context("try_join! should have failed")?;
    figure(
        "try_join!(read 2, read 9)",
        format!("Err({err}) after {}", Secs(failed_after)),
    );
    anyhow::ensure!(
        read_or_default(2).await == 0,
        "match should have caught the error"
    );
    figure(
        "match read(2) (except)",
        "0, the fallback value: read(2) failed",
    );
    println!("  spawning 3 tasks; task 1 panics (the panic hook's line goes to stderr):");
    let results = tasks_with_a_panic().await;
    for (i, r) in results.iter().enumerate() {
        match r {
            Ok(v) => println!("  task {i} -> Ok({v})"),
            Err(e) => println!("  task {i} -> JoinError, is_panic: {}", e.is_panic()),
        }
    }
    anyhow::ensure!(
        results.iter().filter(|r| r.is_ok()).count() == 2
            && results[1].as_ref().is_err_and(|e| e.is_panic()),
        "the panic should stay inside task 1"
    );
    takeaway_if(
        &Evidence::faster(
            "the failing try_join!",
            failed_after,
            "read(9)",
            STEP * 9,
            2.0,
        ),
        "errors are values: collect Results for return_exceptions, try_join! to fail fast; a panicking task is a JoinError",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn return_exceptions_keeps_every_outcome_in_order() {
        assert_eq!(gather_all([3, 2, 0]).await, [Ok(30), Err(Broken(2)), Ok(0)]);
    }

    #[tokio::test(start_paused = true)]
    async fn try_join_fails_fast() {
        let start = Instant::now();
        assert_eq!(gather_or_fail(2, 9).await, Err(Broken(2)));
        assert_eq!(start.elapsed(), STEP * 2, "did not wait for read(9)");
        assert_eq!(gather_or_fail(1, 3).await, Ok((10, 30)));
    }

    #[tokio::test(start_paused = true)]
    async fn match_catches_and_question_mark_propagates() {
        assert_eq!(read_or_default(2).await, 0);
        assert_eq!(read_or_default(3).await, 30);
        async fn sum() -> Result<u64, Broken> {
            Ok(read(1).await? + read(2).await?)
        }
        assert_eq!(sum().await, Err(Broken(2)));
    }

    #[tokio::test]
    async fn a_panicking_task_is_a_join_error() {
        let results = tasks_with_a_panic().await;
        assert_eq!(*results[0].as_ref().unwrap(), 0);
        assert!(results[1].as_ref().unwrap_err().is_panic());
        assert_eq!(*results[2].as_ref().unwrap(), 2);
    }
}
