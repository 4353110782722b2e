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
//!   (it retries the connection once a second); this demo's peers connect by themselves
//!   (`cluster::connect_peers`) with a deadline, after which each exits 1 with one line
//!   naming the missing processes;
//! - a peer killed mid-job: its TCP connections close, timely's network thread in every
//!   other process panics ("timely communication error: ... socket closed"); the peer
//!   catches that and exits 1 within moments instead of printing a backtrace.
//!
//! Recovery is the caller's: run the whole job again (it is a function of its inputs, so a
//! re-run gives the same answer); `with_retries` below is `max_retries` for a whole job.
//! Systems built on timely (Materialize, for one) restart the dataflow from durable
//! inputs; the engine itself does not.
//!
//! Watch: both failures end with a clear one-line error and a non-zero exit, in bounded
//! time; the second attempt, every peer up, gives the checked answer.
//!
//! Copied, `main` runs a stand-in job through `with_retries`: its first attempt fails as a
//! lost peer would (simulated, and marked so; the demo kills a real process).
//!
//! Run only this: cargo run -p distributed-demo -- peer-failure
//! Copy it: cargo add tracing@0.1

/// Ray's `max_retries`, for a whole job: timely cannot re-run one lost task, so run the
/// whole job again (it is a function of its inputs: a re-run gives the same answer), up to
/// `retries` more times. `job` gets the attempt number (0, 1, ...). The result comes back
/// with the errors of the attempts that failed before it; if every attempt failed, all
/// their errors.
pub fn with_retries<T, E>(
    retries: u32,
    mut job: impl FnMut(u32) -> Result<T, E>,
) -> Result<(T, Vec<E>), Vec<E>>
where
    E: std::fmt::Display,
{
    let mut failures = Vec::new();
    for attempt in 0..=retries {
        let _span = tracing::info_span!("attempt", attempt).entered();
        match job(attempt) {
            Ok(value) => return Ok((value, failures)),
            Err(e) => {
                tracing::warn!(attempt, "the job failed: {e}");
                failures.push(e);
            }
        }
    }
    Err(failures)
}

/// The twin of `if __name__ == "__main__":`: one retry, and a job whose first attempt
/// loses a peer.
fn main() -> Result<(), Vec<String>> {
    let (answer, failed) = with_retries(1, |attempt| {
        if attempt == 0 {
            return Err("lost the cluster: process 1 hung up (simulated)".to_owned());
        }
        Ok((0..16u64).map(|task| task * task).sum::<u64>())
    })?;
    for (attempt, why) in failed.iter().enumerate() {
        println!("attempt {attempt} failed: {why}");
    }
    println!(
        "attempt {} gave the answer: {answer} (the sum of 16 squares)",
        failed.len()
    );
    Ok(())
}

// --- run and measure ---

use std::process::Termination;
use std::time::Duration;

use anyhow::{Context, anyhow, bail, ensure};
use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timing::{Secs, Stopwatch};

use crate::cluster::{self, DEADLINE, MARGIN, PeerExit, last_line, loopback_hosts, spawn_peer};
use crate::dataflow::Job;

pub const SECTION: Section = Section::new(
    "peer-failure",
    "Ray max_retries / Dask rescheduling a lost worker",
    "a missing or killed peer: a clear error in bounded time; recovery is a re-run",
    run,
)
.main(|| main().report());

/// How long a lonely peer waits in this demo before giving up.
pub const MISSING_DEADLINE: Duration = Duration::from_secs(2);

/// A job long enough to be killed in the middle: many short tasks.
pub const LONG_JOB: Job = Job {
    n: 20_000_000,
    tasks: 200,
};

/// How long into the job process 1 is killed.
pub const KILL_AFTER: Duration = Duration::from_millis(200);

/// A survivor that notices the lost peer within this counts as "within moments".
const NOTICED_WITHIN: Duration = Duration::from_secs(1);

/// Start only process 0 of a two-process host file; it gives up after `deadline`.
pub fn missing_peer(deadline: Duration) -> anyhow::Result<(PeerExit, Duration)> {
    let hosts = loopback_hosts(2)?;
    let sw = Stopwatch::start();
    let lonely = spawn_peer(&hosts.path, 0, 1, LONG_JOB, 1, deadline)?;
    let exit = lonely.finish(deadline + MARGIN)?;
    Ok((exit, sw.elapsed()))
}

/// Start two processes, kill process 1 once it is computing; return how process 0 ended
/// and how long after the kill.
pub fn killed_peer(job: Job) -> anyhow::Result<(PeerExit, Duration)> {
    let hosts = loopback_hosts(2)?;
    let mut survivor = spawn_peer(&hosts.path, 0, 1, job, 1, DEADLINE)?;
    let mut victim = spawn_peer(&hosts.path, 1, 1, job, 1, DEADLINE)?;
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

fn run() -> SectionResult {
    let ended = |label: &str, exit: &PeerExit, when: String| {
        let status = exit
            .status
            .map_or("killed by the parent".into(), |s| s.to_string());
        figure(label, format!("{status}, {when}"));
        println!("    error: {}", last_line(&exit.stderr));
    };
    let deadline = Secs(MISSING_DEADLINE);
    println!("  1) process 1 never starts; process 0 waits at most {deadline}");
    let (exit, waited) = missing_peer(MISSING_DEADLINE)?;
    ensure!(
        exit.status.is_some_and(|s| !s.success()) && exit.stderr.contains("no cluster after"),
        "a lonely peer should fail on its own: {exit:?}"
    );
    ended("process 0 ended", &exit, format!("after {}", Secs(waited)));
    if let Some(line) = exit.timely_lines().last() {
        println!("    timely says: {line}");
    }

    let after = Secs(KILL_AFTER);
    println!("  2) process 1 is killed {after} into the job; with_retries(1, job) runs it again");
    let mut killed = None;
    let outcome = with_retries(1, |attempt| {
        if attempt == 0 {
            let (exit, noticed) = killed_peer(LONG_JOB)?;
            let why = last_line(&exit.stderr).to_owned();
            killed = Some((exit, noticed));
            bail!("{why}");
        }
        cluster::launch(2, 1, LONG_JOB, 1, DEADLINE)
    });
    let (exit, noticed) = killed.context("the first attempt never got as far as the kill")?;
    ensure!(
        exit.status.is_some_and(|s| !s.success()) && exit.stderr.contains("lost the cluster"),
        "the survivor should fail on its own: {exit:?}"
    );
    let when = format!("{} after the kill", Secs(noticed));
    ended("attempt 1: process 0 ended", &exit, when);
    let (again, failures) = outcome.map_err(|e| anyhow!("every attempt failed: {e:?}"))?;
    ensure!(failures.len() == 1, "one failed attempt: {failures:?}");
    LONG_JOB.check(&again.answers, 1)?;
    let (tasks, took) = (LONG_JOB.tasks, Secs(again.started_took));
    figure(
        "attempt 2: every peer up",
        format!("{tasks} tasks, answers checked, {took} start to end"),
    );
    println!("  what timely does not do: retry a task, move it to another worker, restart a peer");
    println!(
        "  (Ray re-runs a lost task, max_retries; Dask's scheduler gives it to a live worker)"
    );
    let within = Secs(NOTICED_WITHIN);
    takeaway_if(
        &Evidence::new(
            waited < MISSING_DEADLINE + Duration::from_secs(1) && noticed <= NOTICED_WITHIN,
            format!(
                "the lonely peer gone within its deadline of {deadline} (+1 s), the survivor within {within} of the kill"
            ),
            format!("{} and {}", Secs(waited), Secs(noticed)),
        ),
        "a timely job fails as a whole, with an error, in bounded time: recovery is re-running the job",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_is_run_again_until_it_succeeds_or_the_retries_run_out() {
        let mut calls = Vec::new();
        let ok = with_retries(2, |attempt| {
            calls.push(attempt);
            if attempt < 2 {
                Err(format!("lost peer {attempt}"))
            } else {
                Ok(42)
            }
        });
        assert_eq!(
            ok,
            Ok((42, vec!["lost peer 0".to_owned(), "lost peer 1".to_owned()]))
        );
        assert_eq!(calls, [0, 1, 2]);

        let never = with_retries(1, Err::<(), u32>);
        assert_eq!(
            never,
            Err(vec![0, 1]),
            "1 retry: 2 attempts, both errors kept"
        );
        assert_eq!(with_retries(0, |_| Ok::<_, String>(7)), Ok((7, vec![])));
    }

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
