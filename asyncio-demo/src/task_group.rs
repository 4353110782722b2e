//! `async with asyncio.TaskGroup() as tg:` and its `ExceptionGroup` -> a `tokio::task::JoinSet`
//! that aborts the rest on the first error, and one that collects every error.
//!
//! Python:
//!     async def job(i):
//!         await asyncio.sleep(0.05 if i in (1, 3) else 1.0)
//!         if i in (1, 3):
//!             raise ValueError(f"job {i} failed")
//!         return i
//!     try:
//!         async with asyncio.TaskGroup() as tg:
//!             for i in range(5):
//!                 tg.create_task(job(i))
//!     except* ValueError as group:          # jobs 0, 2 and 4 were cancelled
//!         print(group.exceptions)           # both errors
//!
//! Rust: a `JoinSet` owns its tasks, and dropping it aborts every task still in it: `?` on
//! the first error is all the cancelling it takes (the set is dropped on the way out), and
//! nothing can leak past the group. `abort_all` does the same but keeps the set, to wait
//! until every aborted task has stopped and collect the errors that came in meanwhile: the
//! `ExceptionGroup`. An aborted task runs no more of its code (there is no `CancelledError`
//! to catch): its future is dropped at the `.await` it was parked on, and its locals' `Drop`
//! is its `finally:`. On the current-thread runtime (one thread, like asyncio's loop) two
//! jobs failing at the same instant both reach the group; on several threads a sibling may
//! be aborted before its own failure, as in Python when the timings differ.
//!
//! Watch: jobs 1 and 3 fail at 50 ms; the other three, which would run 1 s, stop within
//! about a millisecond of the failure (their `job` bars end together); the first way
//! returns one error after 50 ms, the second both errors, also after 50 ms.
//!
//! Run only this: cargo run -p asyncio-demo -- task-group
//! Copy it: cargo add tracing@0.1 && cargo add tokio@1 --features full

use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::{Instant, sleep};
use tracing::Instrument;

pub const JOBS: u64 = 5;
pub const FAILING: [u64; 2] = [1, 3];
pub const FAIL_AFTER: Duration = Duration::from_millis(50);
pub const WORK: Duration = Duration::from_secs(1);

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Failed(pub u64);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "job {} failed", self.0)
    }
}

impl std::error::Error for Failed {}

/// The coroutine: jobs in `FAILING` fail after `FAIL_AFTER`, the others finish after `WORK`.
pub async fn job(id: u64) -> Result<u64, Failed> {
    let fails = FAILING.contains(&id);
    sleep(if fails { FAIL_AFTER } else { WORK }).await;
    if fails { Err(Failed(id)) } else { Ok(id) }
}

/// `tg.create_task(job(i))` for each job; a `job` span each, which closes when the job ends
/// or is dropped.
fn spawn_all(jobs: u64) -> JoinSet<Result<u64, Failed>> {
    let mut set = JoinSet::new();
    for id in 0..jobs {
        set.spawn(job(id).instrument(tracing::info_span!("job", id)));
    }
    set
}

/// The group that stops at the first error: `?` returns it, and dropping `set` on the way
/// out aborts every job still running.
pub async fn first_error(jobs: u64) -> Result<Vec<u64>, Failed> {
    let mut set = spawn_all(jobs);
    let mut done = Vec::new();
    while let Some(joined) = set.join_next().await {
        done.push(joined.expect("a job panicked")?);
    }
    Ok(done)
}

/// The `ExceptionGroup` way: the first error aborts the rest (`abort_all`), then the set is
/// drained, so this returns only when every job has stopped, with every error that happened.
pub async fn every_error(jobs: u64) -> Result<Vec<u64>, Vec<Failed>> {
    let mut set = spawn_all(jobs);
    let (mut done, mut errors) = (Vec::new(), Vec::new());
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok(id)) => done.push(id),
            Ok(Err(failed)) => {
                errors.push(failed);
                set.abort_all(); // the others stop at the .await they are parked on
            }
            Err(aborted) if aborted.is_cancelled() => {} // a sibling we stopped
            Err(panicked) => std::panic::resume_unwind(panicked.into_panic()),
        }
    }
    if errors.is_empty() {
        Ok(done)
    } else {
        Err(errors)
    }
}

/// The twin of `if __name__ == "__main__":` both groups over the same five jobs, on one
/// thread like asyncio's loop.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let start = Instant::now();
    let first = first_error(JOBS).await;
    println!("first error:  {first:?} after {:.0?}", start.elapsed());
    let start = Instant::now();
    match every_error(JOBS).await {
        Ok(done) => println!("every error: none, jobs {done:?} finished"),
        Err(group) => println!(
            "every error:  {group:?} after {:.0?}; the other jobs were aborted, not run for {WORK:?}",
            start.elapsed()
        ),
    }
}

// --- run and measure ---

use std::process::ExitCode;

use anyhow::Context;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{Pair, Twin, flags};
use common::timeline::{Lanes, Recorded, Recording};
use common::timing::{Secs, timed_async};

pub const SECTION: Section = Section::new(
    "task-group",
    "async with asyncio.TaskGroup() / ExceptionGroup",
    "a JoinSet aborts the rest on the first error (drop or abort_all); collecting every error",
    run,
)
.main(|| {
    main();
    ExitCode::SUCCESS
})
.twin(&TWIN);

/// `--python`: the same jobs in an asyncio.TaskGroup, the stop measured in `except
/// CancelledError`.
const TWIN: Twin = Twin::new(
    "task_group.py",
    include_str!("../python/task_group.py"),
    &["errors", "stop_lag_s", "total_s"],
);

/// One group: its result and time, its `job` spans, and how long after the first failure
/// the last job stopped (a span closes when its job's future is dropped).
async fn timed_group<T>(group: impl Future<Output = T>) -> (T, Duration, Recorded, Duration) {
    let recording = Recording::start();
    let (out, took) = timed_async(group).await;
    sleep(Duration::from_millis(5)).await; // a dropped set's jobs are dropped meanwhile
    let spans = recording.finish().named(&["job"]);
    let ends = spans.spans().iter().map(|s| s.end_us); // the first to end is a failure
    let lag = ends.clone().max().unwrap_or(0) - ends.min().unwrap_or(0);
    (out, took, spans, Duration::from_micros(lag))
}

#[tokio::main(flavor = "current_thread")]
async fn run() -> SectionResult {
    let (first, first_took, first_spans, first_lag) = timed_group(first_error(JOBS)).await;
    let (every, took, spans, lag) = timed_group(every_error(JOBS)).await;
    let first = first.err().context("a job should have failed")?;
    let mut errors = every.err().context("two jobs should have failed")?;
    errors.sort();
    anyhow::ensure!(
        errors == [Failed(1), Failed(3)],
        "the group carried {errors:?}"
    );
    let later = |took: Duration, lag: Duration| {
        format!(
            "after {}; the others stopped {} later",
            Secs(took),
            Secs(lag)
        )
    };
    figure(
        "? + dropping the set",
        format!("{first} {}", later(first_took, first_lag)),
    );
    figure(
        "abort_all + drain",
        format!("{errors:?} {}", later(took, lag)),
    );
    spans.print(Lanes::Span);
    let secs = |label, field, d: Duration| Pair::secs(label, field, d.as_secs_f64()).timer();
    TWIN.compare(
        &flags(&[
            ("--jobs", &JOBS),
            ("--fail-after", &FAIL_AFTER.as_secs_f64()),
            ("--work", &WORK.as_secs_f64()),
        ]),
        &[
            Pair::count("errors in the group", "errors", errors.len() as f64),
            secs("the others stopped after the failure", "stop_lag_s", lag),
            secs("the group, start to end", "total_s", took),
        ],
    )?;
    let (stopped, quick) = (
        first_spans.len().min(spans.len()),
        Duration::from_millis(10),
    );
    takeaway_if(
        &Evidence::new(
            stopped == JOBS as usize && first_lag.max(lag) < quick,
            format!(
                "all {JOBS} jobs stopped, the others within {} of the failure, both ways",
                Secs(quick)
            ),
            format!(
                "{stopped} of {JOBS} stopped, {} and {} after it",
                Secs(first_lag),
                Secs(lag)
            ),
        ),
        "a JoinSet is a task group: the first error aborts the rest, and abort_all + draining collects every error",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_first_error_returns_at_once_and_the_dropped_set_aborts_the_rest() {
        let recording = Recording::local();
        let start = Instant::now();
        let first = first_error(JOBS).await;
        assert!(matches!(first, Err(Failed(1 | 3))), "{first:?}");
        assert_eq!(start.elapsed(), FAIL_AFTER);
        sleep(Duration::from_millis(1)).await; // not the 1 s the siblings would need
        let jobs = recording.finish().named(&["job"]);
        assert_eq!(
            jobs.len(),
            JOBS as usize,
            "every job's span closed: all stopped"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn every_error_carries_both_failures_once_every_job_has_stopped() {
        let recording = Recording::local();
        let start = Instant::now();
        let mut errors = every_error(JOBS).await.unwrap_err();
        errors.sort();
        assert_eq!(errors, [Failed(1), Failed(3)]);
        assert_eq!(start.elapsed(), FAIL_AFTER);
        assert_eq!(recording.finish().named(&["job"]).len(), JOBS as usize);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_failure_both_return_every_result() {
        assert_eq!(first_error(1).await, Ok(vec![0]));
        assert_eq!(every_error(1).await, Ok(vec![0]));
    }

    #[test]
    fn the_python_twin_prints_its_fields() {
        let args = ["--jobs", "5", "--fail-after", "0.01", "--work", "0.5"];
        if let Some(figures) = TWIN.run_for_test(&args) {
            assert_eq!(figures["errors"].as_f64(), Some(2.0));
            assert!(
                figures["total_s"].as_f64().unwrap() < 0.5,
                "the siblings were cancelled"
            );
        }
    }
}
