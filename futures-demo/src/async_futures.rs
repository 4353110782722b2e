//! `concurrent.futures` for async code -> the `futures` crate: `join_all` (wait for all,
//! results in input order), `FuturesUnordered` (an async `as_completed`) and
//! `StreamExt::buffer_unordered(n)` (a bounded pool of futures: `max_workers` for tasks).
//!
//! Python:
//!     results = await asyncio.gather(*(fetch(i) for i in ids))        # input order
//!     for coro in asyncio.as_completed([fetch(i) for i in ids]):       # completion order
//!         print(await coro)
//!     sem = asyncio.Semaphore(3)                                       # at most 3 at once
//!     async def bounded(i):
//!         async with sem:
//!             return await fetch(i)
//!
//! Here the name `Future` finally means the same thing in both languages... almost: a Rust
//! future is lazy. `fetch(i)` builds a state machine that does nothing until polled, so
//! creating 9 of them starts no download; `join_all`, `FuturesUnordered` and
//! `buffer_unordered` are what poll them, all on this one thread, without spawning tasks.
//! `buffer_unordered(3)` creates the next future only when one of three finishes, which is
//! a pool without a semaphore. To run blocking code from async (`loop.run_in_executor`),
//! see hybrid-demo's run-in-executor section (`tokio::task::spawn_blocking`).
//!
//! Watch: join_all takes as long as the slowest download and keeps input order;
//! FuturesUnordered hands results over shortest first; buffer_unordered(3) never has
//! more than 3 downloads in flight, so 9 of them take three rounds.
//!
//! Run only this: cargo run -p futures-demo -- async-futures

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::cli::{SectionResult, figure, takeaway};
use common::timeline::Timeline;
use common::timing::{Secs, timed_async};
use common::workload::{download, verify_file};
use futures::future::join_all;
use futures::stream::{self, FuturesUnordered, StreamExt};

const SIZE: usize = 1024;

/// Counts the downloads in flight and remembers the most at once.
#[derive(Default)]
pub struct InFlight {
    now: AtomicUsize,
    max: AtomicUsize,
}

pub struct InFlightGuard<'a>(&'a InFlight);

impl InFlight {
    pub fn enter(&self) -> InFlightGuard<'_> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        InFlightGuard(self)
    }

    pub fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One download, drawn on the timeline while it waits.
async fn fetch(id: u64, latency: Duration, timeline: &Timeline) -> (u64, Vec<u8>) {
    let _span = timeline.span(format!("file {id}"), "download");
    (id, download(id, latency, SIZE).await)
}

/// `asyncio.gather`: poll them all together; results in input order.
pub async fn fetch_all(latencies: &[Duration], timeline: &Timeline) -> Vec<(u64, Vec<u8>)> {
    join_all(
        (0..)
            .zip(latencies)
            .map(|(id, &latency)| fetch(id, latency, timeline)),
    )
    .await
}

/// `as_completed`: a set of futures that yields each result as it finishes.
pub async fn fetch_as_completed(
    latencies: &[Duration],
    timeline: &Timeline,
) -> Vec<(u64, Vec<u8>)> {
    let mut pending: FuturesUnordered<_> = (0..)
        .zip(latencies)
        .map(|(id, &latency)| fetch(id, latency, timeline))
        .collect();
    let mut completed = Vec::new();
    while let Some(done) = pending.next().await {
        completed.push(done);
    }
    completed
}

/// A bounded pool of futures: at most `limit` downloads at once.
pub async fn fetch_bounded(
    ids: std::ops::Range<u64>,
    latency: Duration,
    limit: usize,
    in_flight: &InFlight,
    timeline: &Timeline,
) -> Vec<(u64, Vec<u8>)> {
    stream::iter(ids)
        .map(|id| async move {
            let _counted = in_flight.enter();
            fetch(id, latency, timeline).await
        })
        .buffer_unordered(limit)
        .collect()
        .await
}

fn check(results: &[(u64, Vec<u8>)]) -> anyhow::Result<()> {
    for (id, body) in results {
        anyhow::ensure!(verify_file(*id, SIZE, body), "file {id} came back wrong");
    }
    Ok(())
}

fn ids(results: &[(u64, Vec<u8>)]) -> Vec<u64> {
    results.iter().map(|(id, _)| *id).collect()
}

const LATENCIES_MS: [u64; 6] = [300, 100, 250, 50, 200, 150];
const BOUNDED: u64 = 9;
const LIMIT: usize = 3;
const EACH: Duration = Duration::from_millis(100);

pub fn run() -> SectionResult {
    let latencies = LATENCIES_MS.map(Duration::from_millis);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let quiet = Timeline::new();
        let (all, t_all) = timed_async(fetch_all(&latencies, &quiet)).await;
        check(&all)?;
        println!("  latencies (ms)          {LATENCIES_MS:?}");
        println!("  join_all order          {:?}", ids(&all));
        figure("join_all of 6", Secs(t_all));

        let (completed, t_completed) = timed_async(fetch_as_completed(&latencies, &quiet)).await;
        check(&completed)?;
        // The order is whatever finished first on this run (the test pins it down on
        // tokio's paused clock); here only check that nothing went missing.
        let mut got = ids(&completed);
        println!("  FuturesUnordered order  {got:?}");
        got.sort();
        anyhow::ensure!(got == [0, 1, 2, 3, 4, 5], "a download went missing");
        figure("FuturesUnordered of 6", Secs(t_completed));

        let timeline = Timeline::new();
        let in_flight = InFlight::default();
        let (bounded, t_bounded) = timed_async(fetch_bounded(
            0..BOUNDED,
            EACH,
            LIMIT,
            &in_flight,
            &timeline,
        ))
        .await;
        check(&bounded)?;
        anyhow::ensure!(bounded.len() == BOUNDED as usize, "downloads went missing");
        anyhow::ensure!(in_flight.max() <= LIMIT, "the limit was broken");
        println!(
            "  buffer_unordered({LIMIT}) of {BOUNDED} x {}: at most {} in flight",
            Secs(EACH),
            in_flight.max()
        );
        figure(format!("buffer_unordered({LIMIT})"), Secs(t_bounded));
        timeline.print();
        anyhow::Ok(())
    })?;
    takeaway(
        "join_all = gather, FuturesUnordered = as_completed, buffer_unordered(n) = a pool of n, all on one thread",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    fn latencies() -> Vec<Duration> {
        LATENCIES_MS
            .iter()
            .map(|&ms| Duration::from_millis(ms))
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn join_all_keeps_input_order_and_waits_for_the_slowest() {
        let start = Instant::now();
        let all = fetch_all(&latencies(), &Timeline::new()).await;
        assert_eq!(ids(&all), [0, 1, 2, 3, 4, 5]);
        check(&all).unwrap();
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(300),
            "together, not 1050 ms"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn futures_unordered_yields_in_completion_order() {
        let completed = fetch_as_completed(&latencies(), &Timeline::new()).await;
        assert_eq!(ids(&completed), [3, 1, 5, 4, 2, 0]);
    }

    #[tokio::test(start_paused = true)]
    async fn buffer_unordered_keeps_to_its_limit() {
        let start = Instant::now();
        let in_flight = InFlight::default();
        let done = fetch_bounded(0..9, EACH, 3, &in_flight, &Timeline::new()).await;
        assert_eq!(in_flight.max(), 3);
        let mut got = ids(&done);
        got.sort();
        assert_eq!(got, (0..9).collect::<Vec<_>>());
        assert_eq!(start.elapsed(), EACH * 3, "three rounds of three");
    }

    #[tokio::test(start_paused = true)]
    async fn futures_are_lazy_until_polled() {
        let in_flight = InFlight::default();
        let timeline = Timeline::new();
        let fut = fetch_bounded(0..3, EACH, 3, &in_flight, &timeline);
        tokio::time::sleep(EACH).await;
        assert_eq!(in_flight.max(), 0, "nothing ran before the first poll");
        assert!(timeline.spans().is_empty());
        fut.await;
        assert_eq!(in_flight.max(), 3);
    }
}
