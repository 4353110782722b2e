//! `ProcessPoolExecutor` -> worker processes that are this binary re-run with a role
//! (`futures-demo --role factorial-worker SERVER`), fed over `ipc-channel`; and the
//! measurement that shows why Rust rarely needs them: threads already use every core.
//!
//! Python:
//!     def compute_factorial(n):
//!         return 1 if n == 0 else n * compute_factorial(n - 1)
//!
//!     if __name__ == "__main__":
//!         with ProcessPoolExecutor(max_workers=4) as executor:
//!             results = executor.map(compute_factorial, [5, 6, 7, 8])
//!
//! Python needs processes for CPU-bound work because the GIL lets one thread run Python
//! code at a time. Rust has no GIL: the thread pool of the earlier sections already runs
//! on every core, shares memory, and starts in microseconds. A process pool pays for
//! process start-up and for serialising every argument and result; it earns that back
//! only as crash isolation (a segfault or abort kills one worker, not the program) or to
//! spread over machines.
//!
//! How the pool is wired: for each worker the parent opens an `IpcOneShotServer` and
//! passes its name on the command line; the child connects, sends back a sender for its
//! job queue, then answers each `Compute` with `Done`. One feeder thread per worker in the
//! parent hands out the next job as soon as its worker is free (as Python's pool does).
//! The factorial is taken modulo a prime so it fits in a `u64`; Python's ints are
//! unbounded, Rust's are not.
//!
//! Watch: the guide's four factorials come back from other pids; for large chunks the
//! process pool takes about as long as the thread pool; for many tiny jobs the
//! per-message cost of IPC (a round trip through the kernel per job) makes it several times
//! slower.
//!
//! Run only this: cargo run -p futures-demo -- process-pool

use std::process::Child;
use std::thread;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use common::cli::{SectionResult, figure, role_command, takeaway, wait_or_kill};
use common::timeline::{Span, Timeline, now_us, thread_lane};
use common::timing::{Secs, speedup, timed};
use crossbeam_channel::{bounded, unbounded};
use ipc_channel::ipc::{self, IpcOneShotServer, IpcReceiver, IpcSender};
use serde::{Deserialize, Serialize};

use crate::map::executor_map;
use crate::submit::ThreadPoolExecutor;

/// The role name the child is started with.
pub const ROLE: &str = "factorial-worker";

/// A prime: results stay below it, so a product of two fits in a `u64`.
const P: u64 = 1_000_000_007;

/// `compute_factorial(n)`: n! modulo P.
pub fn compute_factorial(n: u64) -> u64 {
    (1..=n).fold(1, |acc, k| acc * (k % P) % P)
}

/// Parent -> worker.
#[derive(Serialize, Deserialize, Debug)]
enum ToWorker {
    Compute { index: usize, n: u64 },
    Stop,
}

/// Worker -> parent.
#[derive(Serialize, Deserialize, Debug)]
enum FromWorker {
    /// The first message: who I am and where to send my jobs.
    Ready { pid: u32, jobs: IpcSender<ToWorker> },
    Done {
        index: usize,
        value: u64,
        start_us: u64,
        end_us: u64,
    },
}

/// The child's side: `futures-demo --role factorial-worker SERVER_NAME`.
pub fn worker(args: &[String]) -> anyhow::Result<()> {
    let server = args
        .first()
        .context("factorial-worker needs the parent's server name")?;
    let to_parent =
        IpcSender::<FromWorker>::connect(server.clone()).context("connecting to the parent")?;
    let (jobs_tx, jobs) = ipc::channel::<ToWorker>()?;
    let pid = std::process::id();
    to_parent.send(FromWorker::Ready { pid, jobs: jobs_tx })?;
    tracing::debug!(pid, "worker ready");
    let mut done = 0u64;
    // recv() fails once the parent is gone: a worker never outlives its pool.
    while let Ok(ToWorker::Compute { index, n }) = jobs.recv() {
        let start_us = now_us();
        let value = compute_factorial(n);
        to_parent.send(FromWorker::Done {
            index,
            value,
            start_us,
            end_us: now_us(),
        })?;
        done += 1;
    }
    tracing::debug!(pid, done, "worker stops");
    Ok(())
}

/// Bounds on every wait for a child, so a broken worker never hangs the demo.
const START_LIMIT: Duration = Duration::from_secs(20);
const JOB_LIMIT: Duration = Duration::from_secs(60);
const STOP_LIMIT: Duration = Duration::from_secs(5);

/// One worker process as the parent sees it.
struct WorkerProcess {
    pid: u32,
    child: Child,
    jobs: IpcSender<ToWorker>,
    results: IpcReceiver<FromWorker>,
}

/// `with ProcessPoolExecutor(...)` ends in `Drop`: ask each worker to stop, wait, kill if
/// it does not.
impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.jobs.send(ToWorker::Stop);
        if !matches!(wait_or_kill(&mut self.child, STOP_LIMIT), Ok(Some(_))) {
            tracing::debug!(pid = self.pid, "worker killed at shutdown");
        }
    }
}

/// `ProcessPoolExecutor(max_workers=N)`.
pub struct ProcessPoolExecutor {
    workers: Vec<WorkerProcess>,
}

impl ProcessPoolExecutor {
    pub fn new(max_workers: usize) -> anyhow::Result<Self> {
        // Start every child first, so they boot in parallel; then shake hands with each.
        let mut starting = Vec::new();
        for _ in 0..max_workers.max(1) {
            let (server, name) = IpcOneShotServer::<FromWorker>::new()?;
            let child = role_command(env!("CARGO_PKG_NAME"), ROLE)?
                .arg(name)
                .spawn()
                .context("starting a worker process")?;
            starting.push((server, child));
        }
        let mut workers = Vec::new();
        let mut failure = None;
        for (server, mut child) in starting {
            if failure.is_none() {
                match accept_within(server, START_LIMIT) {
                    Ok((results, FromWorker::Ready { pid, jobs })) => {
                        workers.push(WorkerProcess {
                            pid,
                            child,
                            jobs,
                            results,
                        });
                        continue;
                    }
                    Ok((_, other)) => failure = Some(anyhow!("worker said {other:?} first")),
                    Err(e) => failure = Some(e),
                }
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        match failure {
            Some(e) => Err(e), // `workers` are dropped: each is stopped
            None => Ok(ProcessPoolExecutor { workers }),
        }
    }

    pub fn pids(&self) -> Vec<u32> {
        self.workers.iter().map(|w| w.pid).collect()
    }

    /// `executor.map(compute_factorial, ns)`: results in input order, plus who ran what.
    pub fn map(&mut self, ns: &[u64]) -> anyhow::Result<(Vec<u64>, Vec<Span>)> {
        let (queue_tx, queue) = unbounded();
        for (index, &n) in ns.iter().enumerate() {
            queue_tx.send((index, n))?;
        }
        drop(queue_tx);
        let mut results = vec![None; ns.len()];
        let mut spans = Vec::new();
        thread::scope(|s| -> anyhow::Result<()> {
            let feeders: Vec<_> = self
                .workers
                .iter_mut()
                .map(|w| {
                    let queue = queue.clone();
                    s.spawn(move || feed(w, &queue))
                })
                .collect();
            for feeder in feeders {
                let done = feeder
                    .join()
                    .map_err(|_| anyhow!("a feeder thread panicked"))??;
                for (index, value, span) in done {
                    results[index] = Some(value);
                    spans.push(span);
                }
            }
            Ok(())
        })?;
        let results = results
            .into_iter()
            .enumerate()
            .map(|(i, r)| r.with_context(|| format!("job {i} got no result")))
            .collect::<anyhow::Result<_>>()?;
        Ok((results, spans))
    }
}

/// One feeder per worker: take the next job, send it, wait (bounded) for the answer.
fn feed(
    w: &mut WorkerProcess,
    queue: &crossbeam_channel::Receiver<(usize, u64)>,
) -> anyhow::Result<Vec<(usize, u64, Span)>> {
    let mut done = Vec::new();
    for (index, n) in queue.iter() {
        w.jobs.send(ToWorker::Compute { index, n })?;
        match w.results.try_recv_timeout(JOB_LIMIT) {
            Ok(FromWorker::Done {
                index,
                value,
                start_us,
                end_us,
            }) => done.push((
                index,
                value,
                Span {
                    lane: format!("pid {}", w.pid),
                    label: format!("job {index}"),
                    start_us,
                    end_us,
                },
            )),
            Ok(other) => bail!("worker pid {} sent {other:?}", w.pid),
            Err(e) => bail!("worker pid {} did not answer job {index}: {e}", w.pid),
        }
    }
    Ok(done)
}

/// `server.accept()`, but giving up after `limit` (a child that died never connects).
fn accept_within(
    server: IpcOneShotServer<FromWorker>,
    limit: Duration,
) -> anyhow::Result<(IpcReceiver<FromWorker>, FromWorker)> {
    let (tx, rx) = bounded(1);
    thread::spawn(move || {
        let _ = tx.send(server.accept());
    });
    rx.recv_timeout(limit)
        .map_err(|_| anyhow!("a worker process did not connect within {}", Secs(limit)))?
        .context("handshake with a worker process")
}

/// Large chunks: a few jobs of millions of multiplications each.
const BIG_N: u64 = 20_000_000;
/// Tiny jobs: many round trips, each worth little work.
const TINY_JOBS: usize = 4_000;
const TINY_N: u64 = 10;
/// Turns each pool takes; the fastest counts.
const RUNS: usize = 2;

pub fn run() -> SectionResult {
    let cores = num_cpus::get();
    let (pool, started_in) = timed(|| ProcessPoolExecutor::new(cores));
    let mut pool = pool?;
    let threads = ThreadPoolExecutor::new(cores);

    // The guide's call.
    let (guide, _) = pool.map(&[5, 6, 7, 8])?;
    anyhow::ensure!(
        guide == [120, 720, 5040, 40320],
        "wrong factorials {guide:?}"
    );
    println!(
        "  executor.map(compute_factorial, [5, 6, 7, 8]) -> {guide:?}, computed in pids {:?} (parent {})",
        pool.pids(),
        std::process::id()
    );
    figure(format!("start {cores} worker processes"), Secs(started_in));

    for (what, ns) in [
        ("large chunks", vec![BIG_N; 2 * cores]),
        ("tiny jobs", vec![TINY_N; TINY_JOBS]),
    ] {
        // Threads and processes take turns, RUNS times; each result is checked and the
        // fastest run of each counts (the one least disturbed by other programs).
        let (mut t_threads, mut t_processes) = (Duration::MAX, Duration::MAX);
        let mut timeline = Timeline::new();
        for _ in 0..RUNS {
            let tl = Timeline::new();
            let recorder = tl.clone();
            // Only the large chunks are drawn: recording 4,000 tiny spans would cost more
            // than the jobs themselves.
            let draw = what == "large chunks";
            let job = move |n| {
                Ok(if draw {
                    recorder.record(thread_lane(), "job", || compute_factorial(n))
                } else {
                    compute_factorial(n)
                })
            };
            let (in_threads, t_t) = timed(|| executor_map(&threads, job, ns.clone()));
            let (in_processes, t_p) = timed(|| pool.map(&ns));
            let (in_processes, spans) = in_processes?;
            anyhow::ensure!(
                in_threads? == in_processes,
                "{what}: processes and threads disagree"
            );
            t_threads = t_threads.min(t_t);
            t_processes = t_processes.min(t_p);
            tl.extend(spans);
            timeline = tl;
        }
        let jobs = ns.len() as u32;
        println!(
            "  {what}: {jobs} x compute_factorial({}), results equal",
            ns[0]
        );
        figure(
            "  thread pool",
            format!("{}  ({} per job)", Secs(t_threads), Secs(t_threads / jobs)),
        );
        figure(
            "  process pool",
            format!(
                "{}  ({} per job, {:.2}x the thread pool's time)",
                Secs(t_processes),
                Secs(t_processes / jobs),
                speedup(t_processes, t_threads)
            ),
        );
        if what == "large chunks" {
            timeline.print(); // the last turn
        }
    }
    drop(pool); // the with-block's end: each worker is told to stop and reaped
    takeaway(
        "no GIL: a thread pool already uses every core; processes only add start-up and IPC costs",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factorials_are_right() {
        assert_eq!(compute_factorial(0), 1);
        assert_eq!(compute_factorial(8), 40_320);
        assert_eq!(compute_factorial(20), 2_432_902_008_176_640_000 % P);
        assert_eq!(compute_factorial(21), compute_factorial(20) * 21 % P);
    }

    #[test]
    fn worker_processes_compute_what_this_process_computes() {
        let mut pool = ProcessPoolExecutor::new(2).unwrap();
        let ns = [5, 6, 7, 8, 20, 1000, 0];
        let (results, spans) = pool.map(&ns).unwrap();
        assert_eq!(results, ns.map(compute_factorial));
        assert_eq!(spans.len(), ns.len());
        let me = format!("pid {}", std::process::id());
        assert!(
            spans.iter().all(|s| s.lane != me),
            "work ran in the children"
        );
        let pids = pool.pids();
        assert_eq!(pids.len(), 2);
        assert!(!pids.contains(&std::process::id()));
        // A second map on the same pool works too.
        assert_eq!(pool.map(&[3]).unwrap().0, [6]);
    }

    #[test]
    fn a_worker_without_a_parent_server_fails_cleanly() {
        assert!(worker(&[]).is_err());
    }
}
