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
//! Both languages are lazy here: calling `fetch(i)` runs nothing, in Python (a coroutine)
//! as in Rust (a future, a state machine). The difference is who runs them. `gather` and
//! `as_completed` wrap each coroutine in a Task scheduled on the event loop, which starts
//! it on its own. `join_all`, `FuturesUnordered` and `buffer_unordered` spawn nothing:
//! they poll the futures in place, inside the one future you await, on this one thread;
//! drop that future and they all stop. (`tokio::spawn` is the Task twin: see asyncio-demo.)
//! `buffer_unordered(3)` creates the next future only when one of three finishes, which is
//! a pool without a semaphore. To run blocking code from async (`loop.run_in_executor`),
//! see hybrid-demo's run-in-executor section (`tokio::task::spawn_blocking`).
//!
//! Watch: join_all takes as long as the slowest download and keeps input order;
//! FuturesUnordered hands results over shortest first; buffer_unordered(3) never has
//! more than 3 downloads in flight (counted from the `download` spans), so 9 of them take
//! three rounds.
//!
//! Run only this: cargo run -p futures-demo -- async-futures
//! Copy it: cargo add futures@0.3 tracing@0.1 && cargo add tokio@1 --features full

use std::future::Future;
use std::time::Duration;

use futures::future::join_all;
use futures::stream::{self, FuturesUnordered, StreamExt};
use tracing::Instrument;

/// One download, keyed by its id, inside a `download` span from its first poll to its end.
async fn traced<T>(id: u64, download: impl Future<Output = T>) -> (u64, T) {
    let body = download
        .instrument(tracing::info_span!("download", id))
        .await;
    (id, body)
}

/// `asyncio.gather`: poll them all together; results in input order.
pub async fn fetch_all<T, F: Future<Output = T>>(
    ids: impl IntoIterator<Item = u64>,
    fetch: impl Fn(u64) -> F,
) -> Vec<(u64, T)> {
    join_all(ids.into_iter().map(|id| traced(id, fetch(id)))).await
}

/// `as_completed`: a set of futures that yields each result as it finishes.
pub async fn fetch_as_completed<T, F: Future<Output = T>>(
    ids: impl IntoIterator<Item = u64>,
    fetch: impl Fn(u64) -> F,
) -> Vec<(u64, T)> {
    let mut pending: FuturesUnordered<_> =
        ids.into_iter().map(|id| traced(id, fetch(id))).collect();
    let mut completed = Vec::new();
    while let Some(done) = pending.next().await {
        completed.push(done);
    }
    completed
}

/// A bounded pool of futures: at most `limit` downloads at once, in completion order.
pub async fn fetch_bounded<T, F: Future<Output = T>>(
    ids: impl IntoIterator<Item = u64>,
    fetch: impl Fn(u64) -> F,
    limit: usize,
) -> Vec<(u64, T)> {
    stream::iter(ids)
        .map(|id| traced(id, fetch(id)))
        .buffer_unordered(limit)
        .collect()
        .await
}

/// A simulated download: a sleep of `ms` stands in for the network; the "body" is its id.
pub async fn download(id: u64, ms: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    id
}

/// The latencies of downloads 0 to 5, in ms.
pub const LATENCIES_MS: [u64; 6] = [300, 100, 250, 50, 200, 150];

fn ids<T>(results: &[(u64, T)]) -> Vec<u64> {
    results.iter().map(|(id, _)| *id).collect()
}

/// Six downloads gathered, then as completed, then nine of 100 ms, three at a time.
#[tokio::main]
async fn main() {
    let fetch = |id: u64| download(id, LATENCIES_MS[id as usize]);
    let start = tokio::time::Instant::now();
    let all = fetch_all(0..6, fetch).await;
    println!(
        "join_all: {:?} in {:.0?} (latencies {LATENCIES_MS:?} ms)",
        ids(&all),
        start.elapsed()
    );
    let start = tokio::time::Instant::now();
    let completed = fetch_as_completed(0..6, fetch).await;
    println!(
        "FuturesUnordered: {:?} in {:.0?}",
        ids(&completed),
        start.elapsed()
    );
    let start = tokio::time::Instant::now();
    let bounded = fetch_bounded(0..9, |id| download(id, 100), 3).await;
    println!(
        "buffer_unordered(3), 9 x 100 ms: {:?} in {:.0?}",
        ids(&bounded),
        start.elapsed()
    );
}

// --- run and measure ---

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recording};
use common::timing::{Secs, timed_async};

pub const SECTION: Section = Section::new(
    "async-futures",
    "asyncio.gather / as_completed / Semaphore(n) on futures",
    "join_all, FuturesUnordered, buffer_unordered(n)",
    run,
)
.main(|| {
    main();
    std::process::ExitCode::SUCCESS
});

const BOUNDED: u64 = 9;
const LIMIT: usize = 3;
const EACH_MS: u64 = 100;

fn fetch(id: u64) -> impl Future<Output = u64> {
    download(id, LATENCIES_MS[id as usize])
}

/// Every download came back with its own id.
fn check(results: &[(u64, u64)]) -> anyhow::Result<()> {
    anyhow::ensure!(
        results.iter().all(|(id, body)| id == body),
        "a download came back wrong"
    );
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn run() -> SectionResult {
    let six = 0..LATENCIES_MS.len() as u64;
    let slowest = Duration::from_millis(LATENCIES_MS.into_iter().max().unwrap_or(0));
    let added_up = Duration::from_millis(LATENCIES_MS.iter().sum());
    let (all, t_all) = timed_async(fetch_all(six.clone(), fetch)).await;
    check(&all)?;
    println!("  simulated downloads (a sleep each); latencies (ms) {LATENCIES_MS:?}");
    println!("  join_all order          {:?}", ids(&all));
    figure("join_all of 6", Secs(t_all));

    let (completed, t_completed) = timed_async(fetch_as_completed(six, fetch)).await;
    check(&completed)?;
    // The order is whatever finished first on this run (the test pins it down on tokio's
    // paused clock); here only check that nothing went missing.
    let mut got = ids(&completed);
    println!("  FuturesUnordered order  {got:?}");
    got.sort();
    anyhow::ensure!(got == [0, 1, 2, 3, 4, 5], "a download went missing");
    figure("FuturesUnordered of 6", Secs(t_completed));

    let recording = Recording::start();
    let (bounded, t_bounded) =
        timed_async(fetch_bounded(0..BOUNDED, |id| download(id, EACH_MS), LIMIT)).await;
    let downloads = recording.finish().named(&["download"]);
    check(&bounded)?;
    anyhow::ensure!(bounded.len() == BOUNDED as usize, "downloads went missing");
    let most = downloads.most_at_once();
    anyhow::ensure!(most <= LIMIT, "{most} in flight: the limit was broken");
    let each = Duration::from_millis(EACH_MS);
    println!(
        "  buffer_unordered({LIMIT}) of {BOUNDED} x {}: at most {most} in flight",
        Secs(each)
    );
    figure(format!("buffer_unordered({LIMIT})"), Secs(t_bounded));
    downloads.print(Lanes::Packed);
    let rounds = BOUNDED.div_ceil(LIMIT as u64) as u32;
    let near = |t: Duration, ideal: Duration| t >= ideal && t < ideal + each;
    takeaway_if(
        &Evidence::new(
            near(t_all, slowest) && most == LIMIT && near(t_bounded, each * rounds),
            format!(
                "join_all as long as the slowest ({}, not {} added up), {LIMIT} in flight and {rounds} rounds (about {})",
                Secs(slowest),
                Secs(added_up),
                Secs(each * rounds)
            ),
            format!(
                "join_all {}, {most} in flight, {}",
                Secs(t_all),
                Secs(t_bounded)
            ),
        ),
        "join_all = gather, FuturesUnordered = as_completed, buffer_unordered(n) = a pool of n, \
         all polled in place on one thread",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn join_all_keeps_input_order_and_waits_for_the_slowest() {
        let start = Instant::now();
        let all = fetch_all(0..6, fetch).await;
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
        let completed = fetch_as_completed(0..6, fetch).await;
        assert_eq!(ids(&completed), [3, 1, 5, 4, 2, 0]);
    }

    #[tokio::test(start_paused = true)]
    async fn buffer_unordered_keeps_to_its_limit() {
        let start = Instant::now();
        let recording = Recording::local();
        let done = fetch_bounded(0..9, |id| download(id, EACH_MS), 3).await;
        assert_eq!(recording.finish().named(&["download"]).most_at_once(), 3);
        let mut got = ids(&done);
        got.sort();
        assert_eq!(got, (0..9).collect::<Vec<_>>());
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(EACH_MS) * 3,
            "three rounds of three"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn futures_are_lazy_until_polled() {
        let recording = Recording::local();
        let fut = fetch_bounded(0..3, |id| download(id, EACH_MS), 3);
        tokio::time::sleep(Duration::from_millis(EACH_MS)).await;
        assert!(
            recording.finish().is_empty(),
            "nothing ran before the first poll"
        );
        let recording = Recording::local();
        fut.await;
        assert_eq!(recording.finish().named(&["download"]).most_at_once(), 3);
    }
}
