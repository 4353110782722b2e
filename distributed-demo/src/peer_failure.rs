//! A worker that never comes or dies mid-job (Dask reschedules its tasks, Ray retries them)
//! -> timely stops with an error; recovery is running the job again.
//!
//! Python (Ray, Dask):
//!     @ray.remote(max_retries=3)                 # a task on a dead node is re-run
//!     def compute(n): ...
//!     client.map(compute, tasks, retries=2)      # Dask: the scheduler reassigns lost work
//!
//! Timely has no scheduler to reassign work and keeps no copy of a lost worker's state: a
//! cluster is a fixed set of peers for the whole job. So:
//! - a peer that never starts: the others wait for it, and timely would wait forever
//!   (it retries the connection once a second); this demo gives each process a deadline,
//!   after which it exits 1 with an error naming the host file's addresses;
//! - a peer killed mid-job: its TCP connections close, timely's network thread in every
//!   other process panics ("timely communication error: ... socket closed"); the peer
//!   catches that and exits 1 within moments instead of printing a backtrace.
//!
//! Recovery is the caller's: run the whole job again (it is a function of its inputs, so a
//! re-run gives the same answer). Systems built on timely (Materialize, for one) restart
//! the dataflow from durable inputs; the engine itself does not.
//!
//! Watch: both failures end with a clear one-line error and a non-zero exit, in bounded time.
//!
//! Run only this: cargo run -p distributed-demo -- peer-failure

use std::time::Duration;

use anyhow::{Context, ensure};
use common::cli::{SectionResult, figure, takeaway};
use common::timing::{Secs, Stopwatch};

use crate::cluster_map::Job;
use crate::local_cluster::{DEADLINE, PeerExit, last_line, launch, loopback_hosts, spawn_peer};

/// How long a lonely peer waits in this demo before giving up.
pub const MISSING_DEADLINE: Duration = Duration::from_secs(2);
/// The parent's backstop beyond a peer's own deadline.
const MARGIN: Duration = Duration::from_secs(5);

/// A job long enough to be killed in the middle: many short tasks.
pub const LONG_JOB: Job = Job {
    n: 20_000_000,
    tasks: 200,
    rounds: 1,
};

/// How long into the job process 1 is killed.
pub const KILL_AFTER: Duration = Duration::from_millis(200);

/// The job run again after a failure (small: the point is that it completes).
pub const RERUN_JOB: Job = Job {
    n: 1_000_000,
    tasks: 16,
    rounds: 1,
};

/// Start only process 0 of a two-process host file; it gives up after `deadline`.
pub fn missing_peer(deadline: Duration) -> anyhow::Result<(PeerExit, Duration)> {
    let hosts = loopback_hosts(2)?;
    let sw = Stopwatch::start();
    let lonely = spawn_peer(&hosts.path, 0, 1, LONG_JOB, deadline)?;
    let exit = lonely.finish(deadline + MARGIN)?;
    Ok((exit, sw.elapsed()))
}

/// Start two processes, kill process 1 once it is computing; return how process 0 ended
/// and how long after the kill.
pub fn killed_peer(job: Job) -> anyhow::Result<(PeerExit, Duration)> {
    let hosts = loopback_hosts(2)?;
    let mut survivor = spawn_peer(&hosts.path, 0, 1, job, DEADLINE)?;
    let mut victim = spawn_peer(&hosts.path, 1, 1, job, DEADLINE)?;
    // Process 0 prints CONNECTED when every peer is connected: the job starts then.
    ensure!(
        survivor.wait_for_line("CONNECTED", DEADLINE)
            && victim.wait_for_line("CONNECTED", DEADLINE),
        "the cluster never formed"
    );
    std::thread::sleep(KILL_AFTER); // a few tasks in
    victim.kill().context("killing process 1")?;
    let sw = Stopwatch::start();
    let exit = survivor.finish(DEADLINE + MARGIN)?;
    let noticed = sw.elapsed();
    victim.finish(MARGIN)?;
    Ok((exit, noticed))
}

fn describe(exit: &PeerExit) -> String {
    match exit.status {
        Some(s) => match s.code() {
            Some(code) => format!("exit code {code}"),
            None => s.to_string(),
        },
        None => "still running: killed by the parent".into(),
    }
}

pub fn run() -> SectionResult {
    println!(
        "  1) process 1 never starts; process 0 waits at most {}",
        Secs(MISSING_DEADLINE)
    );
    let (exit, took) = missing_peer(MISSING_DEADLINE)?;
    ensure!(
        exit.status.is_some_and(|s| !s.success()) && exit.stderr.contains("no cluster after"),
        "a lonely peer should fail on its own: {exit:?}"
    );
    figure(
        "process 0 ended",
        format!("{} after {}", describe(&exit), Secs(took)),
    );
    if let Some(line) = exit.timely_lines().last() {
        println!("    timely says: {line}");
    }
    println!("    error: {}", last_line(&exit.stderr));

    println!("  2) process 1 is killed {} into the job", Secs(KILL_AFTER));
    let (exit, noticed) = killed_peer(LONG_JOB)?;
    ensure!(
        exit.status.is_some_and(|s| !s.success()) && exit.stderr.contains("lost the cluster"),
        "the survivor should fail on its own: {exit:?}"
    );
    figure(
        "process 0 ended",
        format!("{} after {}", describe(&exit), Secs(noticed)),
    );
    println!("    error: {}", last_line(&exit.stderr));
    println!("  what timely does not do: retry a task, move it to another worker, restart a peer.");
    println!(
        "  (Ray re-runs a lost task, max_retries; Dask's scheduler gives it to a live worker.)"
    );

    println!("  3) recovery: run the whole job again, every peer up");
    let again = launch(2, 1, RERUN_JOB, DEADLINE)?;
    RERUN_JOB.check(&again.answers)?;
    figure(
        "re-run",
        format!(
            "{} tasks, answers checked, {} start to end",
            RERUN_JOB.tasks,
            Secs(again.started_took)
        ),
    );
    takeaway(
        "a timely job fails as a whole, with an error, in bounded time: recovery is re-running the job",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_peer_is_an_error_and_a_nonzero_exit_within_the_deadline() {
        let (exit, _) = missing_peer(Duration::from_millis(300)).unwrap();
        // `Some` status: it exited by itself; the parent did not have to kill it.
        let status = exit.status.expect("the lonely peer ended on its own");
        assert_eq!(status.code(), Some(1));
        assert!(exit.stderr.contains("no cluster after"), "{}", exit.stderr);
        assert_eq!(
            exit.stderr.trim().lines().count(),
            1,
            "one line: {}",
            exit.stderr
        );
        assert!(exit.report().is_err(), "no answer from a broken cluster");
    }

    #[test]
    fn a_killed_peer_makes_the_survivor_fail_instead_of_hang() {
        let (exit, _) = killed_peer(LONG_JOB).unwrap();
        let status = exit.status.expect("the survivor ended on its own");
        assert_eq!(status.code(), Some(1));
        assert!(exit.stderr.contains("lost the cluster"), "{}", exit.stderr);
    }
}
