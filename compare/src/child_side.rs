//! The child side of compare's processes (cells and the pool's worker processes): how a
//! child answers its parent, ends quietly once the parent is gone, and never outlives a
//! time limit that counts only the time it was running. Plumbing, not a lesson.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use anyhow::Context;
use common::awake::AwakeClock;

/// How long the parent waits for a cell to answer and exit before it kills it. A cell at
/// full size in a release build takes well under a second.
pub const CELL_LIMIT: Duration = Duration::from_secs(60);

/// How much longer than [`CELL_LIMIT`] a child process waits before it ends itself: the
/// parent's limit is the one that normally acts.
const GRACE: Duration = Duration::from_secs(10);

/// A child process's line to its parent. If the parent has gone (a broken pipe), nobody is
/// listening: end quietly, with no panic and no message on the terminal.
pub fn say(line: &str) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(1),
        Err(e) => Err(e).context("writing to the parent"),
    }
}

/// A time limit that counts only the time this process was running (an [`AwakeClock`]).
/// It is checked in steps of at most [`Limit::STEP`]; a step that took longer than two
/// (this process was stopped by Ctrl-Z, or the machine slept) counts as two. So a stuck
/// child uses up its parent's limit while the parent waits, but a suspended terminal does
/// not use up anyone's.
#[derive(Debug)]
pub struct Limit {
    limit: Duration,
    clock: AwakeClock,
}

impl Limit {
    pub const STEP: Duration = Duration::from_millis(100);

    pub fn new(limit: Duration) -> Self {
        Self::starting_at(limit, Instant::now())
    }

    fn starting_at(limit: Duration, now: Instant) -> Self {
        Limit {
            limit,
            clock: AwakeClock::start_at(2 * Self::STEP, now),
        }
    }

    /// What is left of the limit, as of the last check.
    fn left(&self) -> Duration {
        self.limit.saturating_sub(self.clock.awake())
    }

    /// How long to wait before the next check.
    pub fn step(&self) -> Duration {
        self.left().clamp(Duration::from_millis(1), Self::STEP)
    }

    /// Count the time since the last check. True once the limit is used up.
    pub fn is_up(&mut self) -> bool {
        self.is_up_at(Instant::now())
    }

    fn is_up_at(&mut self, now: Instant) -> bool {
        self.clock.read_at(now) >= self.limit
    }
}

/// The parent this child process started with (set by [`watchdog`]).
static PARENT: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// This child's parent has exited, or is exiting (its sockets, the file server among them,
/// close before its children are handed to another parent).
fn orphaned() -> bool {
    let Some(&parent) = PARENT.get() else {
        return false;
    };
    if std::os::unix::process::parent_id() != parent {
        return true;
    }
    // `/proc/PID/stat`: after the name in parentheses come the state, then six fields on,
    // the flags; PF_EXITING is 0x4.
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{parent}/stat")) else {
        return false;
    };
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let exiting = fields
        .get(6)
        .and_then(|f| f.parse::<u64>().ok())
        .is_some_and(|flags| flags & 0x4 != 0);
    exiting || matches!(fields.first(), Some(&"Z" | &"X"))
}

/// A child's failure, unless its parent has gone: then nobody would read it, and the
/// terminal is the user's again. End quietly.
pub fn quiet_if_orphaned(result: anyhow::Result<()>) -> anyhow::Result<()> {
    if result.is_err() && orphaned() {
        std::process::exit(1);
    }
    result
}

/// A child process's watchdog (cells and worker processes): end this process quietly as
/// soon as its parent is gone (no one would read its answer), and with one line after
/// [`CELL_LIMIT`] and a grace period, if the parent has not already killed it.
pub fn watchdog() -> anyhow::Result<()> {
    let parent = *PARENT.get_or_init(std::os::unix::process::parent_id);
    std::thread::Builder::new()
        .name("watchdog".to_owned())
        .spawn(move || {
            let mut limit = Limit::new(CELL_LIMIT + GRACE);
            loop {
                std::thread::sleep(limit.step());
                if std::os::unix::process::parent_id() != parent {
                    std::process::exit(1);
                }
                if limit.is_up() {
                    let _ = writeln!(
                        io::stderr(),
                        "compare: a child process gave up after {} s",
                        (CELL_LIMIT + GRACE).as_secs()
                    );
                    std::process::exit(124);
                }
            }
        })
        .context("starting the watchdog thread")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_counts_time_awake_not_time_stopped() {
        let start = Instant::now();
        let mut limit = Limit::starting_at(Duration::from_secs(1), start);
        let step = Limit::STEP;
        assert_eq!(limit.step(), step);
        // Ten steps of waiting: the whole second.
        let mut now = start;
        for k in 1..=10 {
            now += step;
            assert_eq!(limit.is_up_at(now), k == 10, "step {k}");
        }
        // A ten-minute gap (Ctrl-Z, then fg) counts as two steps.
        let mut limit = Limit::starting_at(Duration::from_secs(1), start);
        assert!(!limit.is_up_at(start + Duration::from_secs(600)));
        assert_eq!(limit.left(), Duration::from_secs(1) - 2 * step);
        assert!(limit.step() <= step);
    }
}
