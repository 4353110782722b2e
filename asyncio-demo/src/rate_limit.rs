//! The guides' "rate-limited requests" (`asyncio.Semaphore(5)`) -> a `Semaphore` caps how
//! many run at once; a real rate limit (so many per second) is `tokio::time::interval`.
//!
//! Python:
//!     sem = asyncio.Semaphore(5)           # the guides call this "rate limiting"
//!     async def fetch(i):
//!         async with sem:
//!             await asyncio.sleep(0.04)    # the server's latency
//!     await asyncio.gather(*(fetch(i) for i in range(30)))
//!
//! Rust: the semaphore above is a cap on concurrency: 5 in flight, so the requests per
//! second are 5 / latency, and a faster server gets more of them (5 / 0.004 s = 1,250 a
//! second). An API that allows 100 requests a second needs a rate: a shared
//! `tokio::time::interval` that hands out one tick per 10 ms, each request waiting for a
//! tick before it starts. `MissedTickBehavior::Delay` keeps at least one period between
//! ticks even after an idle spell; the default, `Burst`, would fire the missed ticks at
//! once to catch up, a burst above the rate. A rate does not cap concurrency: in flight
//! is latency x rate, so real clients often use both. (`governor` is a well-kept crate
//! with token buckets and bursts, when more is needed.)
//!
//! Watch: the semaphore keeps 5 in flight while its rate follows the latency; the interval
//! keeps 100 requests a second at either latency while its number in flight follows the
//! latency.
//!
//! Run only this: cargo run -p asyncio-demo -- rate-limit

use std::time::Duration;

use futures::future::join_all;
use tokio::sync::{AcquireError, Mutex, Semaphore};
use tokio::time::{Interval, MissedTickBehavior};

/// A cap on concurrency: at most `limit` calls inside at once, results in input order.
pub async fn capped<F, Fut, T>(calls: u64, limit: usize, call: F) -> Result<Vec<T>, AcquireError>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = T>,
{
    let sem = Semaphore::new(limit);
    let call = &call;
    let sem = &sem;
    join_all((0..calls).map(|i| async move {
        let _permit = sem.acquire().await?;
        Ok(call(i).await)
    }))
    .await
    .into_iter()
    .collect()
}

/// A rate limit shared by every caller: one start per period.
pub struct RateLimit {
    ticks: Mutex<Interval>,
}

impl RateLimit {
    pub fn per_second(n: u32) -> RateLimit {
        let mut ticks = tokio::time::interval(Duration::from_secs(1) / n.max(1));
        // After a stall, wait a full period again rather than catching up in a burst.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        RateLimit {
            ticks: Mutex::new(ticks),
        }
    }

    /// Wait for this caller's tick. tokio's `Mutex` is fair: callers get ticks in turn.
    pub async fn wait(&self) {
        self.ticks.lock().await.tick().await;
    }
}

/// At most `per_second` calls start each second, however long they take; results in
/// input order.
pub async fn paced<F, Fut, T>(calls: u64, per_second: u32, call: F) -> Vec<T>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = T>,
{
    let limit = RateLimit::per_second(per_second);
    let (limit, call) = (&limit, &call);
    join_all((0..calls).map(|i| async move {
        limit.wait().await;
        call(i).await
    }))
    .await
}

// --- run and measure ---

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recorded, Recording};
use common::timing::Secs;
use tracing::Instrument;

pub const SECTION: Section = Section::new(
    "rate-limit",
    "\"rate-limited\" requests: asyncio.Semaphore(5)",
    "a Semaphore caps in flight, an interval caps requests per second: both measured at two latencies",
    run,
);

const LIMIT: usize = 5;
const SEM_CALLS: u64 = 30;
const PER_SECOND: u32 = 100;
const PACED_CALLS: u64 = 20;
const SLOW: Duration = Duration::from_millis(40);
const FAST: Duration = Duration::from_millis(4);

/// The server: a request takes `latency`.
fn server(latency: Duration) -> impl Fn(u64) -> tokio::time::Sleep {
    move |_| tokio::time::sleep(latency)
}

/// Requests started per second: the starts' count less one over their spread.
fn starts_per_second(requests: &Recorded) -> f64 {
    let starts: Vec<u64> = requests.spans().iter().map(|s| s.start_us).collect();
    let (Some(first), Some(last)) = (starts.iter().min(), starts.iter().max()) else {
        return 0.0;
    };
    (starts.len().saturating_sub(1)) as f64 / ((last - first).max(1) as f64 / 1e6)
}

struct Measured {
    in_flight: usize,
    rate: f64,
    requests: Recorded,
}

async fn measure<Fut: Future<Output = anyhow::Result<usize>>>(
    run: impl FnOnce() -> Fut,
    calls: u64,
) -> anyhow::Result<Measured> {
    let recording = Recording::start();
    let done = run().await?;
    let requests = recording.finish().named(&["request"]);
    anyhow::ensure!(
        done == calls as usize,
        "{done} of {calls} requests came back"
    );
    anyhow::ensure!(requests.len() == done, "a request span went missing");
    Ok(Measured {
        in_flight: requests.most_at_once(),
        rate: starts_per_second(&requests),
        requests,
    })
}

/// The server with a `request` span around each call, for the counts and the timeline.
fn traced(
    latency: Duration,
) -> impl Fn(u64) -> tracing::instrument::Instrumented<tokio::time::Sleep> {
    let serve = server(latency);
    move |i| serve(i).instrument(tracing::info_span!("request", i))
}

#[tokio::main]
async fn run() -> SectionResult {
    let mut rows = Vec::new();
    for latency in [SLOW, FAST] {
        let sem = measure(
            || async { Ok(capped(SEM_CALLS, LIMIT, traced(latency)).await?.len()) },
            SEM_CALLS,
        )
        .await?;
        let rate = measure(
            || async { Ok(paced(PACED_CALLS, PER_SECOND, traced(latency)).await.len()) },
            PACED_CALLS,
        )
        .await?;
        rows.push((latency, sem, rate));
    }

    figure(
        "Semaphore",
        format!("{LIMIT} at once, {SEM_CALLS} requests"),
    );
    figure(
        "interval",
        format!("{PER_SECOND} a second (MissedTickBehavior::Delay), {PACED_CALLS} requests"),
    );
    for (latency, sem, rate) in &rows {
        figure(
            format!("latency {}", Secs(*latency)),
            format!(
                "Semaphore: {} in flight, {:.0}/s; interval: {} in flight, {:.0}/s",
                sem.in_flight, sem.rate, rate.in_flight, rate.rate
            ),
        );
    }
    println!(
        "  Semaphore({LIMIT}), latency {}: waves of {LIMIT}",
        Secs(SLOW)
    );
    rows[0].1.requests.print(Lanes::Packed);
    println!(
        "  interval, {PER_SECOND}/s, latency {}: one start per {}",
        Secs(SLOW),
        Secs(Duration::from_secs(1) / PER_SECOND)
    );
    rows[0].2.requests.print(Lanes::Packed);

    let target = f64::from(PER_SECOND);
    let capped_held = rows.iter().all(|(_, s, _)| s.in_flight == LIMIT);
    let rate_held = rows
        .iter()
        .all(|(_, _, r)| r.rate <= target * 1.05 && r.rate >= target * 0.8);
    let (sem_slow, sem_fast) = (rows[0].1.rate, rows[1].1.rate);
    takeaway_if(
        &Evidence::new(
            capped_held && sem_fast > 2.0 * sem_slow,
            format!("{LIMIT} in flight at both latencies, the rate rising as the latency falls"),
            format!(
                "{} and {} in flight, {sem_slow:.0}/s then {sem_fast:.0}/s",
                rows[0].1.in_flight, rows[1].1.in_flight
            ),
        ),
        "a Semaphore caps how many are in flight, not how many per second: a faster server gets more",
    );
    let (in_slow, in_fast) = (rows[0].2.in_flight, rows[1].2.in_flight);
    takeaway_if(
        &Evidence::new(
            rate_held && in_slow > in_fast,
            format!(
                "{PER_SECOND}/s (80-105%) at both latencies, fewer in flight when the server is faster"
            ),
            format!(
                "{:.0}/s and {:.0}/s, {in_slow} then {in_fast} in flight",
                rows[0].2.rate, rows[1].2.rate
            ),
        ),
        "an interval caps requests per second at any latency; what is in flight then follows the latency",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tokio::time::Instant;

    /// A server that records when each request started (paused clock: exact instants).
    fn logged(
        latency: Duration,
    ) -> (
        Arc<std::sync::Mutex<Vec<Duration>>>,
        impl Fn(u64) -> tokio::time::Sleep,
    ) {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let start = Instant::now();
        let seen = Arc::clone(&log);
        (log, move |_| {
            seen.lock().unwrap().push(start.elapsed());
            tokio::time::sleep(latency)
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_semaphore_caps_in_flight_and_its_rate_follows_the_latency() {
        for latency in [SLOW, FAST] {
            let recording = Recording::local();
            let start = Instant::now();
            let results = capped(SEM_CALLS, LIMIT, traced(latency)).await.unwrap();
            assert_eq!(results.len(), SEM_CALLS as usize);
            assert_eq!(
                start.elapsed(),
                latency * 6,
                "30 calls, 5 at a time: 6 waves"
            );
            let requests = recording.finish().named(&["request"]);
            assert_eq!(requests.most_at_once(), LIMIT);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_interval_starts_one_request_per_period_at_any_latency() {
        let period = Duration::from_secs(1) / PER_SECOND;
        for latency in [SLOW, FAST] {
            let (log, serve) = logged(latency);
            paced(PACED_CALLS, PER_SECOND, serve).await;
            let starts = log.lock().unwrap().clone();
            let expected: Vec<Duration> = (0..PACED_CALLS as u32).map(|k| period * k).collect();
            assert_eq!(starts, expected, "one start per 10 ms, the first at once");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn after_an_idle_spell_the_limit_does_not_burst() {
        let period = Duration::from_secs(1) / PER_SECOND;
        let limit = RateLimit::per_second(PER_SECOND);
        limit.wait().await; // the first tick is immediate
        tokio::time::sleep(period * 5).await; // five ticks missed
        let start = Instant::now();
        let mut starts = Vec::new();
        for _ in 0..4 {
            limit.wait().await;
            starts.push(start.elapsed());
        }
        // Delay: one late tick at once, then a full period apart (Burst would give 0, 0, 0, 0).
        assert_eq!(starts, [Duration::ZERO, period, period * 2, period * 3]);
    }

    #[tokio::test(start_paused = true)]
    async fn results_come_back_in_input_order() {
        let double = |i: u64| async move {
            tokio::time::sleep(Duration::from_millis(10 * (5 - i))).await;
            i * 2
        };
        assert_eq!(capped(5, 2, double).await.unwrap(), [0, 2, 4, 6, 8]);
        assert_eq!(paced(5, 1000, double).await, [0, 2, 4, 6, 8]);
    }
}
