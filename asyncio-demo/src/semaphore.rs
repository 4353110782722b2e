//! `asyncio.Semaphore(10)` -> `tokio::sync::Semaphore`.
//!
//! Python:
//!     sem = asyncio.Semaphore(10)
//!     async def fetch(i):
//!         async with sem:                   # at most 10 inside at once
//!             await asyncio.sleep(0.1)
//!             return i
//!     await asyncio.gather(*(fetch(i) for i in range(50)))
//!
//! Rust: `sem.acquire().await` returns a permit; the permit is given back when it is
//! dropped (the end of `async with` is the end of the permit's scope). Futures polled in
//! place by `join_all` just borrow the semaphore. Spawned tasks must own what they use
//! (`'static`), so they share it through an `Arc` and take an owned permit with
//! `acquire_owned`. Tokio's semaphore is fair: waiters get permits in the order they asked.
//! A semaphore caps how many run *at once*; a rate limit (so many per second) is a
//! different tool: `tokio::time::interval`, or a token bucket.
//!
//! Watch: the largest number in flight, read from the `call` spans, is 10; fifty 0.1 s
//! calls take five waves, about 0.5 s, both with `join_all` and with spawned tasks.
//!
//! Run only this: cargo run -p asyncio-demo -- semaphore
//! Copy it: cargo add anyhow@1 futures@0.3 tracing@0.1 && cargo add tokio@1 --features full

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use tokio::sync::{AcquireError, Semaphore};
use tokio::task::JoinSet;
use tracing::Instrument;

/// One call inside `async with sem:`.
async fn fetch(i: u64, sem: &Semaphore, wait: Duration) -> Result<u64, AcquireError> {
    let _permit = sem.acquire().await?; // `async with sem:`
    tokio::time::sleep(wait)
        .instrument(tracing::info_span!("call", i))
        .await;
    Ok(i)
} // the permit is dropped here: the next waiter goes in

/// `calls` fetches gathered under a semaphore of `limit`, results in input order.
pub async fn limited(calls: u64, limit: usize, wait: Duration) -> Result<Vec<u64>, AcquireError> {
    let sem = Semaphore::new(limit);
    join_all((0..calls).map(|i| fetch(i, &sem, wait)))
        .await
        .into_iter()
        .collect()
}

/// The same with spawned tasks: each task owns an `Arc` of the semaphore and an owned permit.
pub async fn limited_spawned(calls: u64, limit: usize, wait: Duration) -> anyhow::Result<Vec<u64>> {
    let sem = Arc::new(Semaphore::new(limit));
    let mut tasks = JoinSet::new();
    for i in 0..calls {
        let sem = Arc::clone(&sem);
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await?;
            tokio::time::sleep(wait)
                .instrument(tracing::info_span!("call", i))
                .await;
            Ok::<u64, AcquireError>(i)
        });
    }
    let mut done = Vec::new();
    while let Some(result) = tasks.join_next().await {
        done.push(result??);
    }
    done.sort_unstable();
    Ok(done)
}

/// The twin of `if __name__ == "__main__":` fifty 0.1 s calls, 10 at a time, both ways.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let wait = Duration::from_millis(100);
    let start = tokio::time::Instant::now();
    let results = limited(50, 10, wait).await?;
    println!(
        "join_all: {} calls in {:.2?} (5 waves of 0.1 s)",
        results.len(),
        start.elapsed()
    );
    let start = tokio::time::Instant::now();
    let results = limited_spawned(50, 10, wait).await?;
    println!(
        "spawned: {} calls in {:.2?}",
        results.len(),
        start.elapsed()
    );
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{Pair, Twin, flags};
use common::timeline::{Lanes, Recording};
use common::timing::{Secs, timed_async};

pub const SECTION: Section = Section::new(
    "semaphore",
    "asyncio.Semaphore(10)",
    "tokio::sync::Semaphore: the largest number in flight is measured",
    run,
)
.main(|| main().report())
.twin(&TWIN);

/// `--python`: the same fifty calls gathered under asyncio.Semaphore(10).
const TWIN: Twin = Twin::new(
    "semaphore.py",
    include_str!("../python/semaphore.py"),
    &["elapsed_s", "max_in_flight"],
);

const LIMIT: usize = 10;
const CALLS: u64 = 50;
const WAIT: Duration = Duration::from_millis(100);

#[tokio::main]
async fn run() -> SectionResult {
    let expected: Vec<u64> = (0..CALLS).collect();
    let recording = Recording::start();
    let (results, took) = timed_async(limited(CALLS, LIMIT, WAIT)).await;
    let calls = recording.finish().named(&["call"]);
    anyhow::ensure!(results? == expected, "a call went missing");
    let recording = Recording::start();
    let (spawned, took_spawned) = timed_async(limited_spawned(CALLS, LIMIT, WAIT)).await;
    let max_spawned = recording.finish().named(&["call"]).most_at_once();
    anyhow::ensure!(spawned? == expected, "a spawned call went missing");
    let max = calls.most_at_once();
    anyhow::ensure!(
        max.max(max_spawned) <= LIMIT,
        "{max} and {max_spawned} in flight, limit {LIMIT}"
    );

    let waves = CALLS.div_ceil(LIMIT as u64) as u32;
    figure("calls", format!("{CALLS} x {}", Secs(WAIT)));
    figure("largest number in flight", format!("{max} (limit {LIMIT})"));
    figure(
        "took (join_all)",
        format!("{} ({waves} waves of {})", Secs(took), Secs(WAIT)),
    );
    figure(
        "took (spawned tasks)",
        format!("{} (Arc + owned permits)", Secs(took_spawned)),
    );
    calls.print(Lanes::Packed);
    TWIN.compare(
        &flags(&[
            ("--calls", &CALLS),
            ("--limit", &LIMIT),
            ("--wait", &WAIT.as_secs_f64()),
        ]),
        &[
            Pair::count("largest number in flight", "max_in_flight", max as f64),
            Pair::secs(
                format!("{CALLS} calls, {LIMIT} at a time"),
                "elapsed_s",
                took.as_secs_f64(),
            ),
        ],
    )?;
    let ideal = WAIT * waves;
    let near = |t: Duration| t >= ideal && t < ideal + WAIT;
    takeaway_if(
        &Evidence::new(
            max == LIMIT && near(took) && near(took_spawned),
            format!(
                "{LIMIT} in flight at most and {waves} waves (about {})",
                Secs(ideal)
            ),
            format!("{max} at most, {} and {}", Secs(took), Secs(took_spawned)),
        ),
        "a Semaphore caps how many are inside at once; the permit is released when dropped",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn never_more_than_the_limit_and_waves_of_it() {
        let recording = Recording::local();
        let start = tokio::time::Instant::now();
        let results = limited(25, 5, WAIT).await.unwrap();
        assert_eq!(start.elapsed(), WAIT * 5, "25 calls, 5 at a time: 5 waves");
        assert_eq!(results, (0..25).collect::<Vec<_>>());
        assert_eq!(recording.finish().named(&["call"]).most_at_once(), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn spawned_tasks_share_the_semaphore_through_an_arc() {
        let start = tokio::time::Instant::now();
        let results = limited_spawned(12, 4, WAIT).await.unwrap();
        assert_eq!(results, (0..12).collect::<Vec<_>>());
        assert_eq!(start.elapsed(), WAIT * 3, "12 tasks, 4 at a time: 3 waves");
    }

    #[tokio::test(start_paused = true)]
    async fn a_permit_is_released_when_dropped() {
        let sem = Semaphore::new(1);
        {
            let _p = sem.acquire().await.unwrap();
            assert!(sem.try_acquire().is_err());
        }
        assert!(sem.try_acquire().is_ok());
    }

    #[test]
    fn the_python_twin_prints_its_fields() {
        let args = ["--calls", "6", "--limit", "2", "--wait", "0.01"];
        if let Some(figures) = TWIN.run_for_test(&args) {
            assert_eq!(figures["max_in_flight"], 2);
        }
    }
}
