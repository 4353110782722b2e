//! `asyncio.gather(*coros)` -> `futures::future::join_all` and `tokio::task::JoinSet`.
//!
//! Python:
//!     async def fetch_data(i):
//!         await asyncio.sleep(0.5)          # the "network"
//!         return {"id": i}
//!     results = await asyncio.gather(*(fetch_data(i) for i in range(10)))
//!
//! Rust: `join_all` polls all the futures together on the current task, like `gather`, and
//! returns the results in input order. `JoinSet` spawns each one as its own task (they may
//! run on other threads) and hands results back as they finish.
//!
//! Watch: ten 0.5 s waits finish in about 0.5 s, not the 5 s they add up to; every bar of
//! the timeline overlaps.
//!
//! Run only this: cargo run -p asyncio-demo -- gather

use std::time::Duration;

use common::cli::{SectionResult, figure, takeaway};
use common::timeline::Timeline;
use common::timing::{Secs, speedup, timed_async};
use futures::future::join_all;
use tokio::task::JoinSet;

const TASKS: u64 = 10;
const WAIT: Duration = Duration::from_millis(500);

/// The guide's coroutine: wait like a network call, return a record.
async fn fetch_data(id: u64, timeline: Timeline) -> u64 {
    let _span = timeline.span(format!("fetch {id}"), "wait");
    tokio::time::sleep(WAIT).await;
    id
}

/// `await asyncio.gather(...)`: all at once, results in input order.
async fn gather(ids: impl Iterator<Item = u64>, timeline: &Timeline) -> Vec<u64> {
    join_all(ids.map(|id| fetch_data(id, timeline.clone()))).await
}

/// The same with spawned tasks, collected in completion order.
async fn gather_tasks(
    ids: impl Iterator<Item = u64>,
    timeline: &Timeline,
) -> anyhow::Result<Vec<u64>> {
    let mut set = JoinSet::new();
    for id in ids {
        set.spawn(fetch_data(id, timeline.clone()));
    }
    let mut done = Vec::new();
    while let Some(result) = set.join_next().await {
        done.push(result?);
    }
    Ok(done)
}

#[tokio::main]
pub async fn run() -> SectionResult {
    let timeline = Timeline::new();
    let (results, together) = timed_async(gather(0..TASKS, &timeline)).await;
    anyhow::ensure!(
        results == (0..TASKS).collect::<Vec<_>>(),
        "results out of order"
    );
    let waited: Duration = timeline.spans().iter().map(|s| s.duration()).sum();

    let (from_set, with_set) = timed_async(gather_tasks(0..TASKS, &Timeline::new())).await;
    let mut from_set = from_set?;
    from_set.sort_unstable();
    anyhow::ensure!(from_set == results, "JoinSet lost a result");

    println!("  results (input order): {results:?}");
    figure(format!("{TASKS} waits added up"), Secs(waited));
    figure(
        "join_all (gather)",
        format!(
            "{} ({:+.1}% from the ideal {})",
            Secs(together),
            (together.as_secs_f64() / WAIT.as_secs_f64() - 1.0) * 100.0,
            Secs(WAIT)
        ),
    );
    figure("JoinSet (spawned tasks)", Secs(with_set));
    figure(
        "speedup over one by one",
        format!("{:.1}x", speedup(waited, together)),
    );
    timeline.print();
    takeaway("awaiting together costs the longest wait, not the sum; join_all keeps input order");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn gather_waits_once_and_keeps_input_order() {
        let start = Instant::now();
        let results = gather([4, 2, 9].into_iter(), &Timeline::new()).await;
        assert_eq!(results, [4, 2, 9]);
        assert_eq!(start.elapsed(), WAIT, "the waits overlap: one WAIT in all");
    }

    #[tokio::test(start_paused = true)]
    async fn joinset_returns_every_result() {
        let start = Instant::now();
        let mut results = gather_tasks(0..5, &Timeline::new()).await.unwrap();
        results.sort_unstable();
        assert_eq!(results, [0, 1, 2, 3, 4]);
        assert_eq!(start.elapsed(), WAIT);
    }
}
