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
//! How the pool is wired: it is given a `Command` that starts one worker (here this binary
//! re-run with a role, as `multiprocessing` re-runs the interpreter). For each worker the
//! parent opens an `IpcOneShotServer` and passes its name on the command line; the child
//! connects, sends back a sender for its job queue, then answers each `Compute` with
//! `Done`. One feeder thread per worker in the parent hands out the next job as soon as
//! its worker is free (as Python's pool does). A feeder is named after its worker
//! (`pid 4242`), so its `job` spans, one round trip each, draw in that worker's lane.
//!
//! The factorial is taken modulo a prime (1,000,000,007) so it fits in a `u64`, and the
//! output says so; Python's ints are unbounded, Rust's are not. It is a loop, not the guide's recursion: Rust does not
//! promise tail calls, and twenty million nested calls would overflow a thread's stack
//! (Python stops at its recursion limit instead).
//!
//! Copied alone, `main` is both sides: started plainly it is the parent and runs the pool;
//! started with `--role factorial-worker SERVER` it is a worker (`if __name__ ==
//! "__main__":` is the same switch in Python).
//!
//! Watch: the guide's four factorials come back from other pids; for large chunks the
//! thread pool is about as many times faster than one thread as there are cores, and the
//! process pool takes about as long as the thread pool; for many tiny jobs the per-message
//! cost of IPC (a round trip through the kernel per job) makes it several times slower.
//!
//! Run only this: cargo run -p futures-demo -- process-pool
//! Copy it: cargo add anyhow@1 crossbeam-channel@0.5 ipc-channel@0.23 tracing@0.1 && cargo add serde@1 --features derive

use std::io;
use std::process::{Child, Command};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use crossbeam_channel::{Receiver, bounded, unbounded};
use ipc_channel::TryRecvError;
use ipc_channel::ipc::{self, IpcOneShotServer, IpcReceiver, IpcSender};
use serde::{Deserialize, Serialize};

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
    Ready {
        pid: u32,
        jobs: IpcSender<ToWorker>,
    },
    Done {
        index: usize,
        value: u64,
    },
}

/// The child's side, started with the parent's server name as its one argument.
pub fn worker(args: &[String]) -> anyhow::Result<()> {
    let server = args
        .first()
        .context("a worker needs the parent's server name")?;
    let to_parent =
        IpcSender::<FromWorker>::connect(server.clone()).context("connecting to the parent")?;
    let (jobs_tx, jobs) = ipc::channel::<ToWorker>()?;
    let pid = std::process::id();
    to_parent.send(FromWorker::Ready { pid, jobs: jobs_tx })?;
    tracing::debug!(pid, "worker ready");
    let mut done = 0u64;
    // recv() fails once the parent is gone: a worker never outlives its pool.
    while let Ok(ToWorker::Compute { index, n }) = jobs.recv() {
        let value = compute_factorial(n);
        if to_parent.send(FromWorker::Done { index, value }).is_err() {
            break; // the parent is gone: nobody to answer, nothing to report
        }
        done += 1;
    }
    tracing::debug!(pid, done, "worker stops");
    Ok(())
}

/// Bounds on every wait for a child, so a broken worker never hangs the program.
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
        if !matches!(wait_or_kill(&mut self.child, STOP_LIMIT), Ok(true)) {
            tracing::debug!(pid = self.pid, "worker killed at shutdown");
        }
    }
}

/// Wait at most `limit` for `child` to exit (true), else kill it (false).
fn wait_or_kill(child: &mut Child, limit: Duration) -> io::Result<bool> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            return Ok(true);
        }
        thread::sleep(Duration::from_millis(2));
    }
    child.kill()?;
    child.wait()?;
    Ok(false)
}

/// `ProcessPoolExecutor(max_workers=N)`.
pub struct ProcessPoolExecutor {
    workers: Vec<WorkerProcess>,
}

impl ProcessPoolExecutor {
    /// Start `max_workers` processes, each from `worker_command()` plus the name of the
    /// server it connects back to.
    pub fn new(
        max_workers: usize,
        worker_command: impl Fn() -> io::Result<Command>,
    ) -> anyhow::Result<Self> {
        // Start every child first, so they boot in parallel; then shake hands with each.
        let mut starting = Vec::new();
        for _ in 0..max_workers.max(1) {
            let (server, name) = IpcOneShotServer::<FromWorker>::new()?;
            let child = worker_command()?
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

    /// `executor.map(compute_factorial, ns)`: results in input order.
    pub fn map(&mut self, ns: &[u64]) -> anyhow::Result<Vec<u64>> {
        let (queue_tx, queue) = unbounded();
        for (index, &n) in ns.iter().enumerate() {
            queue_tx.send((index, n))?;
        }
        drop(queue_tx);
        let mut results = vec![None; ns.len()];
        thread::scope(|s| -> anyhow::Result<()> {
            let mut feeders = Vec::new();
            for w in &mut self.workers {
                let queue = queue.clone();
                let feeder = thread::Builder::new()
                    .name(format!("pid {}", w.pid))
                    .spawn_scoped(s, move || feed(w, &queue))?;
                feeders.push(feeder);
            }
            for feeder in feeders {
                let done = feeder
                    .join()
                    .map_err(|_| anyhow!("a feeder thread panicked"))??;
                for (index, value) in done {
                    results[index] = Some(value);
                }
            }
            Ok(())
        })?;
        results
            .into_iter()
            .enumerate()
            .map(|(i, r)| r.with_context(|| format!("job {i} got no result")))
            .collect()
    }
}

/// One feeder per worker: take the next job, send it, wait (bounded) for the answer.
fn feed(
    w: &mut WorkerProcess,
    queue: &Receiver<(usize, u64)>,
) -> anyhow::Result<Vec<(usize, u64)>> {
    let mut done = Vec::new();
    for (index, n) in queue.iter() {
        let _round_trip = tracing::info_span!("job", index).entered();
        if w.jobs.send(ToWorker::Compute { index, n }).is_err() {
            return Err(w.died(index));
        }
        match w.results.try_recv_timeout(JOB_LIMIT) {
            Ok(FromWorker::Done { index, value }) => done.push((index, value)),
            Ok(other) => bail!("worker pid {} sent {other:?}", w.pid),
            Err(TryRecvError::Empty) => {
                bail!(
                    "worker pid {} did not answer job {index} within {JOB_LIMIT:?}",
                    w.pid
                )
            }
            Err(_) => return Err(w.died(index)),
        }
    }
    Ok(done)
}

impl WorkerProcess {
    /// The worker's end of a channel closed: it died (a crash, a kill). Say how, in one
    /// line; its pipe closes a moment before its exit status can be collected.
    fn died(&mut self, index: usize) -> anyhow::Error {
        let status = wait_or_kill(&mut self.child, STOP_LIMIT)
            .ok()
            .and_then(|exited| exited.then(|| self.child.try_wait().ok().flatten()))
            .flatten();
        match status {
            Some(status) => anyhow!("worker pid {} died: {status} (job {index} lost)", self.pid),
            None => anyhow!("worker pid {} hung up on job {index}", self.pid),
        }
    }
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
        .map_err(|_| anyhow!("a worker process did not connect within {limit:?}"))?
        .context("handshake with a worker process")
}

/// The role a worker process is started with: `THIS_PROGRAM --role factorial-worker SERVER`.
pub const ROLE: &str = "factorial-worker";

/// This program, re-run as a worker (as `multiprocessing` re-runs the interpreter).
fn this_program_as_worker() -> io::Result<Command> {
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["--role", ROLE]);
    Ok(command)
}

/// `if __name__ == "__main__":` a worker process serves jobs; the parent runs the guide's map.
fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, role, rest @ ..] = args.as_slice()
        && flag == "--role"
        && role == ROLE
    {
        return worker(rest);
    }
    let mut executor = ProcessPoolExecutor::new(4, this_program_as_worker)?;
    let results = executor.map(&[5, 6, 7, 8])?;
    println!("executor.map(compute_factorial, [5, 6, 7, 8]) -> {results:?}");
    println!(
        "computed in worker processes {:?}; this one is {}",
        executor.pids(),
        std::process::id()
    );
    Ok(())
} // the with-block ends: `executor` is dropped, each worker told to stop and reaped

// --- run and measure ---

use std::process::Termination;

use common::child::role_command;
use common::cli::{Section, SectionResult};
use common::ipc_temp::{check_temp_dir, without_ipc_panic};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{Pair, Twin, chosen, flags};
use common::timeline::{Lanes, Recorded, Recording};
use common::timing::{Secs, efficiency, speedup, timed};

// map.rs's thread pool (submit.rs's plus `map`), and its fastest-of-runs helper.
use crate::map::{ThreadPoolExecutor, best};

pub const SECTION: Section = Section::new(
    "process-pool",
    "ProcessPoolExecutor().map(compute_factorial, ns)",
    "worker processes over ipc-channel, against threads",
    run,
)
.main(|| main().report())
.cpu_bound()
.twin(&TWIN);

/// `--python`: the same pools in Python, on the same jobs (Rust runs the twin's large size
/// too, `PY_BIG_N`).
const TWIN: Twin = Twin::new(
    "process_pool.py",
    include_str!("../python/process_pool.py"),
    &[
        "one_thread_s",
        "threads_speedup",
        "processes_speedup",
        "tiny_processes_job_s",
    ],
);
/// Python's large job: about 0.1 s on one core.
const PY_BIG_N: u64 = 3_000_000;

/// This binary, re-run as a worker (under `cargo test` too, where `current_exe` is the
/// test harness).
fn worker_command() -> io::Result<Command> {
    role_command(env!("CARGO_PKG_NAME"), ROLE)
}

/// Large chunks: a few jobs of millions of multiplications each.
const BIG_N: u64 = 20_000_000;
/// Tiny jobs: many round trips, each worth little work.
const TINY_JOBS: usize = 4_000;
const TINY_N: u64 = 10;
/// Turns each variant takes; the fastest counts.
const RUNS: usize = 3;

/// One turn-taking race: the fastest of RUNS runs of each, with the spread of the runs.
struct Raced {
    /// One job on this thread (measured only for the large chunks).
    one: (Duration, f64),
    threads: (Duration, f64),
    processes: (Duration, f64),
    /// The last turn's `job` spans (only for the large chunks).
    timeline: Recorded,
}

/// What the section measured.
struct Figures {
    cores: usize,
    started_in: Duration,
    large: Raced,
    tiny: Raced,
    /// The large race at the twin's size (with `--python`).
    py_large: Option<Raced>,
}

fn run() -> SectionResult {
    let figures = measure()?;
    report(&figures);
    compare(&figures)?;
    let (f, cores) = (&figures, figures.cores);
    let s_threads = speedup(f.large.one.0 * (2 * cores) as u32, f.large.threads.0);
    let ipc = speedup(f.tiny.processes.0, f.tiny.threads.0);
    takeaway_if(
        &Evidence::scaling(s_threads, cores).and(Evidence::faster(
            "the thread pool",
            f.tiny.threads.0,
            "the process pool",
            f.tiny.processes.0,
            2.0,
        )),
        format!(
            "no GIL: a thread pool already uses all {cores} cores ({s_threads:.2}x); processes add \
             start-up ({}) and IPC ({ipc:.1}x slower on tiny jobs)",
            Secs(f.started_in)
        ),
    );
    Ok(())
}

/// The guide's call, then the races; the pool is dropped at the end (the with-block's end:
/// each worker is told to stop and reaped).
fn measure() -> anyhow::Result<Figures> {
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    // ipc-channel panics on an unusable TMPDIR: check it, and catch what slips through.
    check_temp_dir()?;
    let (pool, started_in) =
        timed(|| without_ipc_panic(|| ProcessPoolExecutor::new(cores, worker_command)));
    let mut pool = pool??;
    let threads = ThreadPoolExecutor::new(cores)?;
    let guide = pool.map(&[5, 6, 7, 8])?;
    anyhow::ensure!(
        guide == [120, 720, 5040, 40320],
        "wrong factorials {guide:?}"
    );
    println!(
        "  executor.map(compute_factorial, [5, 6, 7, 8]) -> {guide:?}, computed in pids {:?} (parent {})",
        pool.pids(),
        std::process::id()
    );
    let big = |n| vec![n; 2 * cores];
    Ok(Figures {
        cores,
        started_in,
        large: race(&threads, &mut pool, &big(BIG_N), true)?,
        tiny: race(&threads, &mut pool, &vec![TINY_N; TINY_JOBS], false)?,
        py_large: match chosen() {
            Some(_) => Some(race(&threads, &mut pool, &big(PY_BIG_N), true)?),
            None => None,
        },
    })
}

fn report(f: &Figures) {
    let cores = f.cores;
    figure(
        format!(
            "start {cores} worker process{}",
            if cores == 1 { "" } else { "es" }
        ),
        Secs(f.started_in),
    );
    let (jobs, one) = (2 * cores as u32, f.large.one.0);
    let t_one = one * jobs;
    println!(
        "  large chunks: {jobs} x compute_factorial({BIG_N}), n! modulo 1,000,000,007; results equal"
    );
    figure(
        "  one thread",
        format!("{}  ({} per job x {jobs})", Secs(t_one), Secs(one)),
    );
    for (name, (t, _)) in [
        ("thread pool", f.large.threads),
        ("process pool", f.large.processes),
    ] {
        let s = speedup(t_one, t);
        figure(
            format!("  {name}"),
            format!(
                "{}  speedup {s:.2}x  efficiency {:.0} %",
                Secs(t),
                100.0 * efficiency(s, cores)
            ),
        );
    }
    f.large.timeline.print(Lanes::Thread);
    println!("  tiny jobs: {TINY_JOBS} x compute_factorial({TINY_N}), results equal");
    for (name, (t, _)) in [
        ("thread pool", f.tiny.threads),
        ("process pool", f.tiny.processes),
    ] {
        figure(
            format!("  {name}"),
            format!("{}  ({} per job)", Secs(t), Secs(t / TINY_JOBS as u32)),
        );
    }
}

/// `--python`: the twin beside Rust's figures at the same sizes (CPU rows: held in a dev build).
fn compare(f: &Figures) -> anyhow::Result<()> {
    let Some(py) = &f.py_large else {
        return Ok(());
    };
    let jobs = 2 * f.cores as u32;
    let ((one, one_spread), (thr, thr_spread), (prc, prc_spread)) =
        (py.one, py.threads, py.processes);
    let per_job = |(t, spread): (Duration, f64)| ((t / TINY_JOBS as u32).as_secs_f64(), spread);
    let ((tiny_thr, tiny_thr_spread), (tiny_prc, tiny_prc_spread)) =
        (per_job(f.tiny.threads), per_job(f.tiny.processes));
    TWIN.compare(
        &flags(&[
            ("--workers", &f.cores),
            ("--n", &PY_BIG_N),
            ("--tiny-jobs", &TINY_JOBS),
            ("--tiny-n", &TINY_N),
        ]),
        &[
            Pair::secs(
                format!("one job of n = {PY_BIG_N}, one thread"),
                "one_thread_s",
                one.as_secs_f64(),
            )
            .cpu()
            .spread(one_spread),
            Pair::speedup(
                "thread pool speedup",
                "threads_speedup",
                speedup(one * jobs, thr),
            )
            .cpu()
            .spread(one_spread * thr_spread),
            Pair::speedup(
                "process pool speedup",
                "processes_speedup",
                speedup(one * jobs, prc),
            )
            .cpu()
            .spread(one_spread * prc_spread),
            Pair::secs("thread pool, per tiny job", "tiny_threads_job_s", tiny_thr)
                .cpu()
                .spread(tiny_thr_spread),
            Pair::secs(
                "process pool, per tiny job",
                "tiny_processes_job_s",
                tiny_prc,
            )
            .cpu()
            .spread(tiny_prc_spread),
        ],
    )
}

/// The same jobs on one thread (one job, for the large chunks), the thread pool and the
/// process pool, taking turns RUNS times so a busy spell on the machine hits them alike;
/// each result is checked and the fastest run of each counts (the one least disturbed by
/// other programs).
fn race(
    threads: &ThreadPoolExecutor,
    pool: &mut ProcessPoolExecutor,
    ns: &[u64],
    large: bool,
) -> anyhow::Result<Raced> {
    let (mut one, mut in_threads, mut in_processes) = (Vec::new(), Vec::new(), Vec::new());
    let mut timeline = Recorded::default();
    for _ in 0..RUNS {
        let mut alone = None;
        if large {
            let (value, t) = timed(|| compute_factorial(ns[0]));
            alone = Some(value);
            one.push(t);
        }
        // Only the large chunks are drawn: recording 4,000 tiny spans would cost more
        // than the jobs themselves.
        let recording = large.then(Recording::start);
        let job = move |n| {
            let _span = large.then(|| tracing::info_span!("job").entered());
            Ok(compute_factorial(n))
        };
        let (by_threads, t_t) = timed(|| threads.map(job, ns.to_vec()));
        let (by_processes, t_p) = timed(|| pool.map(ns));
        let (by_threads, by_processes) = (by_threads?, by_processes?);
        anyhow::ensure!(by_threads == by_processes, "processes and threads disagree");
        anyhow::ensure!(
            alone.is_none_or(|v| by_threads.first() == Some(&v)),
            "one thread and the pools disagree"
        );
        in_threads.push(t_t);
        in_processes.push(t_p);
        if let Some(recording) = recording {
            timeline = recording.finish().named(&["job"]);
        }
    }
    Ok(Raced {
        one: best(&one),
        threads: best(&in_threads),
        processes: best(&in_processes),
        timeline,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_python_twin_prints_its_fields() {
        let args = [
            "--workers",
            "2",
            "--n",
            "2000",
            "--tiny-jobs",
            "20",
            "--tiny-n",
            "10",
        ];
        if let Some(figures) = TWIN.run_for_test(&args) {
            assert!(figures["one_thread_s"].as_f64().unwrap() > 0.0);
        }
    }

    #[test]
    fn factorials_are_right() {
        assert_eq!(compute_factorial(0), 1);
        assert_eq!(compute_factorial(8), 40_320);
        assert_eq!(compute_factorial(20), 2_432_902_008_176_640_000 % P);
        assert_eq!(compute_factorial(21), compute_factorial(20) * 21 % P);
    }

    #[test]
    fn worker_processes_compute_what_this_process_computes() {
        let mut pool = ProcessPoolExecutor::new(2, worker_command).unwrap();
        let ns = [5, 6, 7, 8, 20, 1000, 0];
        let recording = Recording::start();
        let results = pool.map(&ns).unwrap();
        assert_eq!(results, ns.map(compute_factorial));
        let pids = pool.pids();
        assert_eq!(pids.len(), 2);
        assert!(!pids.contains(&std::process::id()));
        // Each job's round trip ran on the feeder named after a worker's pid.
        let lanes: Vec<String> = pids.iter().map(|p| format!("pid {p}")).collect();
        let jobs = recording
            .finish()
            .filter(|s| s.name == "job" && lanes.contains(&s.thread));
        assert_eq!(jobs.len(), ns.len());
        // A second map on the same pool works too.
        assert_eq!(pool.map(&[3]).unwrap(), [6]);
    }

    #[test]
    fn a_worker_without_a_parent_server_fails_cleanly() {
        assert!(worker(&[]).is_err());
    }
}
