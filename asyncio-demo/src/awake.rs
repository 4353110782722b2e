//! Bounded waits that a suspended terminal does not break (plumbing, not a lesson).
//!
//! A wait bounded by wall time fails falsely after Ctrl-Z and `fg`: every process of the
//! job was stopped, and on `fg` every timer has run out at once. These bounds count only
//! the time this process was running ([`AwakeClock`]), so they still catch a stuck child
//! or a silent server, but not a paused run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::bail;
use common::timing::Secs;
use tokio::time::Instant; // std's outside a runtime; the paused clock in tests

/// `common::awake::AwakeClock` read on tokio's clock (std's outside a runtime, the paused
/// clock in tests). A longer gap than [`AwakeClock::MAX_STEP`] between two readings was a
/// stop, not a wait.
pub struct AwakeClock(common::awake::AwakeClock);

impl AwakeClock {
    /// The most one reading adds; polling loops read every [`AwakeClock::POLL`] or so.
    pub const MAX_STEP: Duration = Duration::from_secs(2);
    pub const POLL: Duration = common::awake::AwakeClock::POLL;

    pub fn start() -> AwakeClock {
        AwakeClock(common::awake::AwakeClock::start_at(
            Self::MAX_STEP,
            Instant::now().into_std(),
        ))
    }

    /// The awake time so far.
    pub fn read(&mut self) -> Duration {
        self.0.read_at(Instant::now().into_std())
    }
}

/// `tokio::time::timeout(limit, work)`, with `limit` counted on an [`AwakeClock`].
pub async fn awake_timeout<F: Future>(limit: Duration, work: F) -> anyhow::Result<F::Output> {
    let deadline = async {
        let mut clock = AwakeClock::start();
        while clock.read() < limit {
            tokio::time::sleep(AwakeClock::POLL).await;
        }
    };
    tokio::select! {
        out = work => Ok(out),
        () = deadline => bail!("not done within {} (not counting time stopped)", Secs(limit)),
    }
}

/// Runs `work` for as long as it makes progress: fails once `progress` (a count the work
/// bumps, such as chunks received) has not moved for `limit` of [`AwakeClock`] time. A long
/// job is not cut short; a stalled one is.
pub async fn until_stalled<F: Future>(
    limit: Duration,
    progress: &AtomicU64,
    work: F,
) -> anyhow::Result<F::Output> {
    let stalled = async {
        let mut seen = progress.load(Ordering::Relaxed);
        let mut clock = AwakeClock::start();
        loop {
            tokio::time::sleep(AwakeClock::POLL).await;
            let now = progress.load(Ordering::Relaxed);
            if now != seen {
                seen = now;
                clock = AwakeClock::start();
            } else if clock.read() >= limit {
                return;
            }
        }
    };
    tokio::select! {
        out = work => Ok(out),
        () = stalled => bail!("no progress for {} (not counting time stopped)", Secs(limit)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn awake_timeout_gives_up_and_lets_quick_work_through() {
        assert_eq!(
            awake_timeout(Duration::from_secs(30), async { 7 })
                .await
                .unwrap(),
            7
        );
        let never = std::future::pending::<()>();
        let error = awake_timeout(Duration::from_secs(1), never)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("within 1.000 s"), "{error}");
    }

    #[tokio::test(start_paused = true)]
    async fn until_stalled_lets_steady_progress_run_past_the_limit() {
        let progress = AtomicU64::new(0);
        let limit = Duration::from_secs(1);
        // 5 s of work, a step every 0.5 s: longer than the limit, never stalled for it.
        let steady = async {
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_millis(500)).await;
                progress.fetch_add(1, Ordering::Relaxed);
            }
            "done"
        };
        assert_eq!(
            until_stalled(limit, &progress, steady).await.unwrap(),
            "done"
        );
        let stuck = std::future::pending::<()>();
        let error = until_stalled(limit, &progress, stuck).await.unwrap_err();
        assert!(
            error.to_string().contains("no progress for 1.000 s"),
            "{error}"
        );
    }
}
