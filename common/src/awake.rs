//! Bounded waits that a suspended terminal does not break (plumbing, not a lesson).
//!
//! A wait bounded by wall time fails falsely after Ctrl-Z and `fg`: every process of the job
//! was stopped, and on `fg` every timer has run out at once. An [`AwakeClock`] counts only
//! the time this process was running, so a bound on it still catches a stuck child or a
//! silent server, but not a paused run.

use std::time::{Duration, Instant};

/// A clock for polling loops that skips the time this process was stopped. Each reading
/// adds the time since the previous one, but at most `max_step`: a longer gap between two
/// readings of a loop that polls every [`AwakeClock::POLL`] means the process was not
/// running (Ctrl-Z then `fg`, a SIGSTOP, a suspended laptop). A child stopped on its own
/// still runs out its parent's clock, because the parent keeps running and reading.
#[derive(Debug)]
pub struct AwakeClock {
    awake: Duration,
    last: Instant,
    max_step: Duration,
}

impl AwakeClock {
    /// How often a loop that reads this clock should poll.
    pub const POLL: Duration = Duration::from_millis(100);

    /// A clock at zero now; one reading adds at most `max_step` (well above the loop's poll).
    pub fn start(max_step: Duration) -> AwakeClock {
        AwakeClock::start_at(max_step, Instant::now())
    }

    /// [`AwakeClock::start`] at a given instant (a test's, or tokio's paused clock's).
    pub fn start_at(max_step: Duration, now: Instant) -> AwakeClock {
        AwakeClock {
            awake: Duration::ZERO,
            last: now,
            max_step,
        }
    }

    /// The awake time so far, counting the time since the previous reading.
    pub fn read(&mut self) -> Duration {
        self.read_at(Instant::now())
    }

    /// [`AwakeClock::read`] at a given instant.
    pub fn read_at(&mut self, now: Instant) -> Duration {
        let gap = now.saturating_duration_since(self.last);
        self.last = now;
        self.awake += gap.min(self.max_step);
        self.awake
    }

    /// The awake time at the last reading, without reading again.
    pub fn awake(&self) -> Duration {
        self.awake
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_gap_counts_only_one_step_and_short_ones_add_up() {
        let start = Instant::now();
        let mut clock = AwakeClock::start_at(Duration::from_secs(1), start);
        let mut now = start;
        for _ in 0..10 {
            now += Duration::from_millis(100);
            clock.read_at(now);
        }
        assert_eq!(clock.awake(), Duration::from_secs(1));
        // Stopped for ten minutes, then read again: one step, not ten minutes.
        now += Duration::from_secs(600);
        assert_eq!(clock.read_at(now), Duration::from_secs(2));
        // A reading earlier than the last one adds nothing.
        assert_eq!(clock.read_at(start), Duration::from_secs(2));
    }
}
