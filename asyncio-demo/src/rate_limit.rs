//! The guides' "rate-limited requests" (`asyncio.Semaphore(10)`) -> a `Semaphore` caps how
//! many run at once; a real rate limit (so many per second) is `tokio::time::interval`.
//!
//! Python:
//!     sem = asyncio.Semaphore(10)          # the guides call this "rate limiting"
//!     async def fetch(i):
//!         async with sem:
//!             await asyncio.sleep(0.04)    # the server's latency
//!     await asyncio.gather(*(fetch(i) for i in range(50)))
//!
//! Rust: the semaphore above is a cap on concurrency: 10 in flight, so it allows at most
//! 10 / latency requests a second, and a faster server gets more of them (250 a second at
//! 40 ms, 2,500 at 4 ms). An API that allows 100 requests a second needs a rate: Python's
//! `aiolimiter.AsyncLimiter(100, 1)` (a leaky bucket), and here a shared
//! `tokio::time::interval` that hands out one tick per 10 ms, each request waiting for a
//! tick before it starts. `MissedTickBehavior::Delay` keeps at least one period between
//! ticks even after an idle spell; the default, `Burst`, would fire the missed ticks at
//! once to catch up, a burst above the rate. A rate does not cap concurrency: in flight
//! is latency x rate, so real clients often use both. (`governor` is a well-kept crate
//! with token buckets and bursts, as `aiolimiter` is for Python, when more is needed.)
//!
//! Watch: the semaphore keeps 10 in flight while its requests a second follow the latency,
//! up to its bound of 10 / latency; the interval keeps 100 starts a second at either
//! latency while its number in flight follows the latency.
//!
//! Run only this: cargo run -p asyncio-demo -- rate-limit
//! Copy it: cargo add futures@0.3 && cargo add tokio@1 --features full

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

/// The server: a request takes `latency`.
pub fn server(latency: Duration) -> impl Fn(u64) -> tokio::time::Sleep {
    move |_| tokio::time::sleep(latency)
}

/// The twin of `if __name__ == "__main__":` both limits at both latencies.
#[tokio::main]
async fn main() -> Result<(), AcquireError> {
    for latency in [Duration::from_millis(40), Duration::from_millis(4)] {
        let start = tokio::time::Instant::now();
        let done = capped(50, 10, server(latency)).await?.len();
        let took = start.elapsed();
        let rate = done as f64 / took.as_secs_f64();
        println!(
            "latency {latency:?}, Semaphore(10): {done} requests in {took:.0?}, {rate:.0} a second"
        );
        let start = tokio::time::Instant::now();
        let done = paced(20, 100, server(latency)).await.len();
        println!(
            "latency {latency:?}, 100 a second: {done} requests in {:.0?}",
            start.elapsed()
        );
    }
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recorded, Recording};
use common::timing::Secs;
use tracing::Instrument;

pub const SECTION: Section = Section::new(
    "rate-limit",
    "\"rate-limited\" requests: asyncio.Semaphore(10)",
    "a Semaphore caps in flight, an interval caps requests per second: both measured at two latencies",
    run,
)
.main(|| main().report());

const LIMIT: usize = 10;
const SEM_CALLS: u64 = 50;
const PER_SECOND: u32 = 100;
const PACED_CALLS: u64 = 20;
const SLOW: Duration = Duration::from_millis(40);
const FAST: Duration = Duration::from_millis(4);

/// [`server`] with a `request` span around each call, for the counts and the timeline.
fn server_in_spans(
    latency: Duration,
) -> impl Fn(u64) -> tracing::instrument::Instrumented<tokio::time::Sleep> {
    let serve = server(latency);
    move |i| serve(i).instrument(tracing::info_span!("request", i))
}

/// One run's `request` spans: the most in flight, requests done a second (count over the
/// first start to the last end), and starts a second (starts less one over their spread).
struct Measured {
    in_flight: usize,
    done_per_s: f64,
    starts_per_s: f64,
    requests: Recorded,
}

impl Measured {
    fn of(requests: Recorded, calls: u64) -> anyhow::Result<Measured> {
        anyhow::ensure!(
            requests.len() == calls as usize,
            "{} of {calls} requests ran",
            requests.len()
        );
        let starts: Vec<u64> = requests.spans().iter().map(|s| s.start_us).collect();
        let first = starts.iter().min().copied().unwrap_or(0);
        let spread = (starts.iter().max().copied().unwrap_or(0) - first).max(1) as f64 / 1e6;
        Ok(Measured {
            in_flight: requests.most_at_once(),
            done_per_s: calls as f64 / requests.extent().as_secs_f64().max(1e-9),
            starts_per_s: (calls - 1) as f64 / spread,
            requests,
        })
    }
}

#[tokio::main]
async fn run() -> SectionResult {
    let mut rows = Vec::new();
    for latency in [SLOW, FAST] {
        let recording = Recording::start();
        capped(SEM_CALLS, LIMIT, server_in_spans(latency)).await?;
        let sem = Measured::of(recording.finish().named(&["request"]), SEM_CALLS)?;
        let recording = Recording::start();
        paced(PACED_CALLS, PER_SECOND, server_in_spans(latency)).await;
        let rate = Measured::of(recording.finish().named(&["request"]), PACED_CALLS)?;
        let bound = LIMIT as f64 / latency.as_secs_f64();
        figure(
            format!("latency {}", Secs(latency)),
            format!(
                "Semaphore: {} in flight, {:.0} done/s (bound {bound:.0}/s); interval: {} in flight, {:.0} starts/s",
                sem.in_flight, sem.done_per_s, rate.in_flight, rate.starts_per_s
            ),
        );
        rows.push((bound, sem, rate));
    }
    println!(
        "  Semaphore({LIMIT}), {SEM_CALLS} requests, latency {}: waves of {LIMIT}",
        Secs(SLOW)
    );
    rows[0].1.requests.print(Lanes::Packed);
    println!(
        "  interval, {PER_SECOND}/s, {PACED_CALLS} requests, latency {}: a start every {}",
        Secs(SLOW),
        Secs(Duration::from_secs(1) / PER_SECOND)
    );
    rows[0].2.requests.print(Lanes::Packed);
    claims(&rows);
    Ok(())
}

fn claims(rows: &[(f64, Measured, Measured)]) {
    let [(_, sem_slow, rate_slow), (_, sem_fast, rate_fast)] = rows else {
        return;
    };
    let under_bound = rows
        .iter()
        .all(|(bound, s, _)| s.in_flight == LIMIT && s.done_per_s <= bound * 1.05);
    takeaway_if(
        &Evidence::new(
            under_bound && sem_fast.done_per_s > 2.0 * sem_slow.done_per_s,
            format!(
                "{LIMIT} in flight at both latencies, within 10 / latency a second, more when the server is faster"
            ),
            format!(
                "{} and {} in flight, {:.0}/s then {:.0}/s",
                sem_slow.in_flight, sem_fast.in_flight, sem_slow.done_per_s, sem_fast.done_per_s
            ),
        ),
        "a Semaphore caps how many are in flight, not how many a second: a faster server gets more",
    );
    let target = f64::from(PER_SECOND);
    let paced = |r: &Measured| (target * 0.8..=target * 1.05).contains(&r.starts_per_s);
    takeaway_if(
        &Evidence::new(
            paced(rate_slow) && paced(rate_fast) && rate_slow.in_flight > rate_fast.in_flight,
            format!(
                "{PER_SECOND} starts/s (80-105%) at both latencies, fewer in flight when the server is faster"
            ),
            format!(
                "{:.0}/s and {:.0}/s, {} then {} in flight",
                rate_slow.starts_per_s,
                rate_fast.starts_per_s,
                rate_slow.in_flight,
                rate_fast.in_flight
            ),
        ),
        "an interval caps requests a second at any latency; what is in flight then follows the latency",
    );
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
            let results = capped(SEM_CALLS, LIMIT, server_in_spans(latency))
                .await
                .unwrap();
            assert_eq!(results.len(), SEM_CALLS as usize);
            assert_eq!(
                start.elapsed(),
                latency * 5,
                "50 calls, 10 at a time: 5 waves"
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
