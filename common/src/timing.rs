//! Stopwatch, speedup and parallel efficiency, and the formatting every demo prints with.
//!
//! Speedup is `baseline / faster` (2.0 means twice as fast); parallel efficiency is
//! `speedup / workers` (1.0 means every worker was fully used).

use std::fmt;
use std::time::{Duration, Instant};

/// A started clock. `Stopwatch::start()` ... `sw.elapsed()`.
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch(Instant);

impl Stopwatch {
    pub fn start() -> Self {
        Stopwatch(Instant::now())
    }

    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// Run `f` and return its result with the time it took.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let sw = Stopwatch::start();
    let value = f();
    (value, sw.elapsed())
}

/// Await `fut` and return its output with the time it took.
pub async fn timed_async<T>(fut: impl Future<Output = T>) -> (T, Duration) {
    let sw = Stopwatch::start();
    let value = fut.await;
    (value, sw.elapsed())
}

/// How many times faster `faster` is than `baseline`.
pub fn speedup(baseline: Duration, faster: Duration) -> f64 {
    baseline.as_secs_f64() / faster.as_secs_f64().max(f64::MIN_POSITIVE)
}

/// Speedup divided by the number of workers: 1.0 is perfect scaling.
pub fn efficiency(speedup: f64, workers: usize) -> f64 {
    speedup / workers.max(1) as f64
}

/// The median of repeated timings and their spread (the largest over the smallest, 1.0
/// for one timing): what a figure quotes, and how far apart two figures must be before one
/// is said to be ahead. `None` for no timings.
pub fn median_spread(samples: &[Duration]) -> Option<(Duration, f64)> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let (first, last) = (*sorted.first()?, *sorted.last()?);
    let mid = sorted.len() / 2;
    let median = if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2
    };
    let spread = last.as_secs_f64() / first.as_secs_f64().max(f64::MIN_POSITIVE);
    Some((median, spread.max(1.0)))
}

/// The fastest of repeated timings and their spread (the largest over the smallest):
/// for work that only runs slower when disturbed. `None` for no timings.
pub fn best_spread(samples: &[Duration]) -> Option<(Duration, f64)> {
    let best = *samples.iter().min()?;
    let worst = *samples.iter().max()?;
    Some((
        best,
        (worst.as_secs_f64() / best.as_secs_f64().max(f64::MIN_POSITIVE)).max(1.0),
    ))
}

/// How many events per second.
pub fn rate(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
}

/// A duration printed with a unit that suits its size: `1.003 s`, `12.4 ms`, `850 µs`, `75 ns`.
#[derive(Clone, Copy, Debug)]
pub struct Secs(pub Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.as_secs_f64();
        let text = if s >= 1.0 {
            format!("{s:.3} s")
        } else if s >= 1e-3 {
            format!("{:.1} ms", s * 1e3)
        } else if s >= 1e-6 {
            format!("{:.1} µs", s * 1e6)
        } else {
            format!("{} ns", self.0.as_nanos())
        };
        f.pad(&text)
    }
}

/// A byte count printed in KiB / MiB / GiB.
#[derive(Clone, Copy, Debug)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0 as f64;
        let text = if b >= (1u64 << 30) as f64 {
            format!("{:.2} GiB", b / (1u64 << 30) as f64)
        } else if b >= (1u64 << 20) as f64 {
            format!("{:.1} MiB", b / (1u64 << 20) as f64)
        } else if b >= 1024.0 {
            format!("{:.1} KiB", b / 1024.0)
        } else {
            format!("{} B", self.0)
        };
        f.pad(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread_of_repeats() {
        let ms = Duration::from_millis;
        assert_eq!(
            median_spread(&[ms(30), ms(10), ms(20)]),
            Some((ms(20), 3.0))
        );
        assert_eq!(median_spread(&[ms(10), ms(20)]), Some((ms(15), 2.0)));
        assert_eq!(median_spread(&[ms(7)]), Some((ms(7), 1.0)));
        assert_eq!(median_spread(&[]), None);
        assert_eq!(best_spread(&[ms(30), ms(10), ms(20)]), Some((ms(10), 3.0)));
    }

    #[test]
    fn speedup_and_efficiency() {
        let s = speedup(Duration::from_secs(4), Duration::from_secs(1));
        assert!((s - 4.0).abs() < 1e-12);
        assert!((efficiency(s, 4) - 1.0).abs() < 1e-12);
        assert!((efficiency(s, 8) - 0.5).abs() < 1e-12);
        assert!(
            (efficiency(2.0, 0) - 2.0).abs() < 1e-12,
            "0 workers counts as 1"
        );
        assert!(speedup(Duration::from_secs(1), Duration::ZERO).is_finite());
        assert!((rate(500, Duration::from_millis(250)) - 2000.0).abs() < 1e-9);
    }

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(Secs(Duration::from_millis(1003)).to_string(), "1.003 s");
        assert_eq!(Secs(Duration::from_micros(12_400)).to_string(), "12.4 ms");
        assert_eq!(Secs(Duration::from_nanos(850_000)).to_string(), "850.0 µs");
        assert_eq!(Secs(Duration::from_nanos(75)).to_string(), "75 ns");
        assert_eq!(format!("{:>8}", Secs(Duration::from_secs(2))), " 2.000 s");
    }

    #[test]
    fn bytes_pick_a_readable_unit() {
        assert_eq!(Bytes(512).to_string(), "512 B");
        assert_eq!(Bytes(16 * 1024).to_string(), "16.0 KiB");
        assert_eq!(Bytes(47 * 1024 * 1024 + 300 * 1024).to_string(), "47.3 MiB");
        assert_eq!(Bytes(3 << 30).to_string(), "3.00 GiB");
    }

    #[test]
    fn timed_returns_the_value() {
        let (v, _) = timed(|| 6 * 7);
        assert_eq!(v, 42);
    }
}

/// A task that ticks every `period` on the current tokio runtime and records how late each
/// tick fires: the event loop's pulse. Late ticks mean something blocked the loop.
/// Stops when dropped.
pub struct Heartbeat {
    worst_us: std::sync::Arc<std::sync::atomic::AtomicU64>,
    ticks: std::sync::Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Heartbeat {
    /// Start ticking (call from inside a tokio runtime).
    pub fn start(period: Duration) -> Heartbeat {
        use std::sync::atomic::Ordering::Relaxed;
        let worst_us = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let ticks = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (w, t) = (worst_us.clone(), ticks.clone());
        let task = tokio::spawn(async move {
            let mut due = tokio::time::Instant::now() + period;
            loop {
                tokio::time::sleep_until(due).await;
                let now = tokio::time::Instant::now();
                w.fetch_max((now - due).as_micros() as u64, Relaxed);
                t.fetch_add(1, Relaxed);
                due = (due + period).max(now);
            }
        });
        Heartbeat {
            worst_us,
            ticks,
            task,
        }
    }

    /// The latest any tick has fired so far.
    pub fn worst_lateness(&self) -> Duration {
        Duration::from_micros(self.worst_us.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// How many ticks have fired.
    pub fn ticks(&self) -> u64 {
        self.ticks.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod heartbeat_tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_idle_loop_ticks_on_time() {
        let hb = Heartbeat::start(Duration::from_millis(10));
        tokio::time::sleep(Duration::from_millis(105)).await;
        assert_eq!(hb.ticks(), 10);
        assert_eq!(hb.worst_lateness(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_blocked_loop_makes_ticks_late() {
        let hb = Heartbeat::start(Duration::from_millis(10));
        tokio::time::sleep(Duration::from_millis(15)).await; // one tick, on time
        // Block the only thread: the paused clock jumps 50 ms while nobody can tick.
        tokio::time::advance(Duration::from_millis(50)).await;
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(
            hb.worst_lateness() >= Duration::from_millis(40),
            "{:?}",
            hb.worst_lateness()
        );
    }
}
