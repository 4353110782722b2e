//! The child side of compare's processes (cells and the pool's worker processes): how a
//! child answers its parent, ends quietly once its parent (or a compare process above it)
//! is gone, and never outlives a time limit that counts only the time it was running.
//! Plumbing, not a lesson.

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

/// The environment variable that names the compare processes above a child (`PID:START`
/// pairs, `START` being the process's start time in `/proc/PID/stat`): its parent, and
/// theirs up to the run (which the runner stops when its supervisor is gone). A child
/// stops when any of them is gone.
pub const WATCH_ENV: &str = "COMPARE_WATCH";

/// `compare --role ROLE` for a child of this process: it watches this process and those
/// this process watches.
pub fn role(role: &str) -> io::Result<std::process::Command> {
    let mut watched: Vec<String> = watched_from_env()
        .iter()
        .map(|(p, s)| format!("{p}:{s}"))
        .collect();
    if let Some(start) = started(std::process::id()) {
        watched.push(format!("{}:{start}", std::process::id()));
    }
    let mut cmd = common::child::role_command(env!("CARGO_PKG_NAME"), role)?;
    cmd.env(WATCH_ENV, watched.join(" "));
    Ok(cmd)
}

/// The processes this one watches, from [`WATCH_ENV`].
fn watched_from_env() -> Vec<(u32, u64)> {
    std::env::var(WATCH_ENV)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|w| w.split_once(':'))
        .filter_map(|(p, s)| Some((p.parse().ok()?, s.parse().ok()?)))
        .collect()
}

/// A process's state letter, flags and start time (`/proc/PID/stat` fields 3, 9 and 22).
fn stat(pid: u32) -> Option<(String, u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some((
        (*fields.first()?).to_owned(),
        fields.get(6)?.parse().ok()?,
        fields.get(19)?.parse().ok()?,
    ))
}

fn started(pid: u32) -> Option<u64> {
    stat(pid).map(|s| s.2)
}

/// Process `pid`, started at `start`, is gone: no longer there, another process with its
/// number, a zombie, or exiting (PF_EXITING: its sockets, the file server among them,
/// close before its children are handed to another parent).
fn gone(pid: u32, start: Option<u64>) -> bool {
    match stat(pid) {
        None => true,
        Some((state, flags, started)) => {
            start.is_some_and(|s| s != started) || flags & 0x4 != 0 || state == "Z" || state == "X"
        }
    }
}

/// What a child watches (set by [`watchdog`]): its parent as it started, and the processes
/// named in [`WATCH_ENV`].
static WATCHED: std::sync::OnceLock<(u32, Vec<(u32, u64)>)> = std::sync::OnceLock::new();

/// This child's parent, or a compare process above it (the cell above a worker, the run,
/// its supervisor), has exited or is exiting.
fn orphaned() -> bool {
    let Some((parent, above)) = WATCHED.get() else {
        return false;
    };
    std::os::unix::process::parent_id() != *parent
        || gone(*parent, None)
        || above.iter().any(|&(pid, start)| gone(pid, Some(start)))
}

/// A child's failure, unless its parent or a process above it has gone: then nobody would
/// read it (a worker's download fails because the run, and its file server, was stopped),
/// and the terminal is the user's again. End quietly.
pub fn quiet_if_orphaned(result: anyhow::Result<()>) -> anyhow::Result<()> {
    if result.is_err() && orphaned() {
        std::process::exit(1);
    }
    result
}

/// A child process's watchdog (cells and worker processes): end this process quietly as
/// soon as its parent or a process above it is gone (no one would read its answer), and
/// with one line after [`CELL_LIMIT`] and a grace period, if the parent has not already
/// killed it.
pub fn watchdog() -> anyhow::Result<()> {
    WATCHED.get_or_init(|| (std::os::unix::process::parent_id(), watched_from_env()));
    std::thread::Builder::new()
        .name("watchdog".to_owned())
        .spawn(move || {
            let mut limit = Limit::new(CELL_LIMIT + GRACE);
            loop {
                std::thread::sleep(limit.step());
                if orphaned() {
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
