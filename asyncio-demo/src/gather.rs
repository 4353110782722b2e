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
//! the timeline (one `fetch` span per call) overlaps.
//!
//! Run only this: cargo run -p asyncio-demo -- gather
//! Copy it: cargo add futures@0.3 tracing@0.1 && cargo add tokio@1 --features full

use std::time::Duration;

use futures::future::join_all;
use tokio::task::JoinSet;
use tracing::Instrument;

/// The guide's coroutine: wait like a network call, return a record.
async fn fetch_data(id: u64, wait: Duration) -> u64 {
    tokio::time::sleep(wait)
        .instrument(tracing::info_span!("fetch", id))
        .await;
    id
}

/// `await asyncio.gather(...)`: all at once, results in input order.
pub async fn gather(ids: impl Iterator<Item = u64>, wait: Duration) -> Vec<u64> {
    join_all(ids.map(|id| fetch_data(id, wait))).await
}

/// The same with spawned tasks, collected in completion order.
pub async fn gather_tasks(
    ids: impl Iterator<Item = u64>,
    wait: Duration,
) -> Result<Vec<u64>, tokio::task::JoinError> {
    let mut set = JoinSet::new();
    for id in ids {
        set.spawn(fetch_data(id, wait));
    }
    let mut done = Vec::new();
    while let Some(result) = set.join_next().await {
        done.push(result?);
    }
    Ok(done)
}

/// `asyncio.run(main())`: ten waits of 0.5 s, both ways.
#[tokio::main]
async fn main() -> Result<(), tokio::task::JoinError> {
    let start = tokio::time::Instant::now();
    let results = gather(0..10, Duration::from_millis(500)).await;
    println!("gather: {results:?} in {:.2?}", start.elapsed());
    let start = tokio::time::Instant::now();
    let finished = gather_tasks(0..10, Duration::from_millis(500)).await?;
    println!(
        "JoinSet, in finishing order: {finished:?} in {:.2?}",
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
use common::timing::{Secs, speedup, timed_async};

pub const SECTION: Section = Section::new(
    "gather",
    "asyncio.gather(*coros)",
    "ten 0.5 s waits together take 0.5 s: join_all and JoinSet",
    run,
)
.main(|| main().report())
.twin(&TWIN);

/// `--python`: the same ten waits with asyncio.gather, then create_task + as_completed.
const TWIN: Twin = Twin::new(
    "gather.py",
    include_str!("../python/gather.py"),
    &["waited_s", "gather_s", "tasks_s", "speedup"],
);

const TASKS: u64 = 10;
const WAIT: Duration = Duration::from_millis(500);

#[tokio::main]
async fn run() -> SectionResult {
    let recording = Recording::start();
    let (results, together) = timed_async(gather(0..TASKS, WAIT)).await;
    let fetches = recording.finish().named(&["fetch"]);
    anyhow::ensure!(
        results == (0..TASKS).collect::<Vec<_>>(),
        "results out of order"
    );
    let waited = fetches.busy();

    let (from_set, with_set) = timed_async(gather_tasks(0..TASKS, WAIT)).await;
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
    let gain = speedup(waited, together);
    figure("speedup over one by one", format!("{gain:.1}x"));
    fetches.print(Lanes::Span);
    TWIN.compare(
        &flags(&[("--tasks", &TASKS), ("--wait", &WAIT.as_secs_f64())]),
        &[
            Pair::secs(
                "join_all / asyncio.gather",
                "gather_s",
                together.as_secs_f64(),
            ),
            Pair::secs(
                "JoinSet / tasks + as_completed",
                "tasks_s",
                with_set.as_secs_f64(),
            ),
            Pair::speedup("speedup over one by one", "speedup", gain),
        ],
    )?;
    let at_once = fetches.most_at_once();
    let near = |t: Duration| t < WAIT + WAIT / 5;
    takeaway_if(
        &Evidence::new(
            at_once == TASKS as usize && near(together) && near(with_set),
            format!(
                "all {TASKS} waits open at once, both ways done within {} of one wait ({})",
                Secs(WAIT / 5),
                Secs(WAIT)
            ),
            format!(
                "{at_once} at once, {} and {}",
                Secs(together),
                Secs(with_set)
            ),
        ),
        "awaiting together costs the longest wait, not the sum; join_all keeps input order",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn gather_waits_once_and_keeps_input_order() {
        let recording = Recording::local();
        let start = Instant::now();
        let results = gather([4, 2, 9].into_iter(), WAIT).await;
        assert_eq!(results, [4, 2, 9]);
        assert_eq!(start.elapsed(), WAIT, "the waits overlap: one WAIT in all");
        let fetches = recording.finish().named(&["fetch"]);
        assert_eq!(fetches.most_at_once(), 3, "all three open at once");
    }

    #[tokio::test(start_paused = true)]
    async fn joinset_returns_every_result() {
        let start = Instant::now();
        let mut results = gather_tasks(0..5, WAIT).await.unwrap();
        results.sort_unstable();
        assert_eq!(results, [0, 1, 2, 3, 4]);
        assert_eq!(start.elapsed(), WAIT);
    }

    #[test]
    fn the_python_twin_prints_its_fields() {
        if let Some(figures) = TWIN.run_for_test(&["--tasks", "3", "--wait", "0.01"]) {
            assert!(figures["gather_s"].as_f64().unwrap() >= 0.01);
        }
    }
}
