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
//! dropped (the end of `async with` is the end of the permit's scope). Share the semaphore
//! between spawned tasks with an `Arc`; `acquire_owned` gives a permit that can move into a
//! task. Tokio's semaphore is fair: waiters get permits in the order they asked.
//!
//! Watch: the largest number in flight, counted inside the guarded block, is 10; fifty
//! 0.1 s calls take five waves, about 0.5 s.
//!
//! Run only this: cargo run -p asyncio-demo -- semaphore

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::cli::{SectionResult, figure, takeaway};
use common::timeline::Timeline;
use common::timing::{Secs, timed_async};
use futures::future::join_all;
use tokio::sync::Semaphore;

pub const LIMIT: usize = 10;
const CALLS: u64 = 50;
const WAIT: Duration = Duration::from_millis(100);

/// Counts how many are inside the guarded block now and at most.
#[derive(Default)]
pub struct InFlight {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl InFlight {
    pub fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

async fn fetch(
    i: u64,
    sem: &Semaphore,
    in_flight: &InFlight,
    timeline: &Timeline,
) -> anyhow::Result<u64> {
    let _permit = sem.acquire().await?; // `async with sem:`
    let now = in_flight.now.fetch_add(1, Ordering::SeqCst) + 1;
    in_flight.max.fetch_max(now, Ordering::SeqCst);
    tracing::debug!(call = i, in_flight = now, "got a permit");
    {
        let _span = timeline.span(format!("slot {}", i % LIMIT as u64), format!("call {i}"));
        tokio::time::sleep(WAIT).await;
    }
    in_flight.now.fetch_sub(1, Ordering::SeqCst);
    Ok(i)
} // the permit is dropped here: the next waiter goes in

/// `calls` fetches gathered under a semaphore of `limit`.
pub async fn limited(
    calls: u64,
    limit: usize,
    timeline: &Timeline,
) -> anyhow::Result<(Vec<u64>, usize)> {
    let sem = Arc::new(Semaphore::new(limit));
    let in_flight = InFlight::default();
    let results = join_all((0..calls).map(|i| fetch(i, &sem, &in_flight, timeline)))
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<u64>>>()?;
    Ok((results, in_flight.max()))
}

#[tokio::main]
pub async fn run() -> SectionResult {
    let timeline = Timeline::new();
    let (outcome, took) = timed_async(limited(CALLS, LIMIT, &timeline)).await;
    let (results, max) = outcome?;
    anyhow::ensure!(
        results == (0..CALLS).collect::<Vec<_>>(),
        "a call went missing"
    );
    anyhow::ensure!(max <= LIMIT, "{max} in flight with a limit of {LIMIT}");
    figure("calls", format!("{CALLS} x {}", Secs(WAIT)));
    figure("largest number in flight", format!("{max} (limit {LIMIT})"));
    figure("took", Secs(took));
    timeline.print();
    takeaway("a Semaphore caps how many are inside at once; the permit is released when dropped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn never_more_than_the_limit_and_waves_of_it() {
        let start = tokio::time::Instant::now();
        let (results, max) = limited(25, 5, &Timeline::new()).await.unwrap();
        assert_eq!(results, (0..25).collect::<Vec<_>>());
        assert_eq!(max, 5);
        assert_eq!(start.elapsed(), WAIT * 5, "25 calls, 5 at a time: 5 waves");
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
}
