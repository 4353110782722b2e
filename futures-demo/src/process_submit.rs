//! `ProcessPoolExecutor.submit(worker, i)` -> a future per call at once, results taken as
//! the worker processes finish them (`as_completed`), not only `map`.
//!
//! Python:
//!     def worker(n, nap):
//!         time.sleep(nap)
//!         return n, os.getpid()
//!
//!     if __name__ == "__main__":
//!         with ProcessPoolExecutor(max_workers=3) as executor:
//!             futures = {executor.submit(worker, i, nap): i for i, nap in enumerate(naps)}
//!             for future in as_completed(futures):
//!                 n, pid = future.result()
//!
//! Rust: the pool starts three processes (this binary, `--role sleep-worker SERVER`),
//! each connected back over an ipc-channel, and one feeder thread per process in the
//! parent. `submit` puts the call on a queue the feeders share and returns a `Future` at
//! once: the receiving end of a one-shot channel. A feeder that is free takes the next
//! call, sends it to its process, waits (bounded) for the answer and puts it in that
//! call's channel. `result()` waits on one future; `as_completed` selects over all of
//! them (`crossbeam_channel::Select`) and yields whichever finishes first. An error in a
//! worker reaches only its own future, as Python re-raises it from `result()`.
//!
//! A call crosses to another process, so what it sends must be serialisable: an enum of
//! jobs (here one, the guide's `worker`), not a closure. Python pickles the function by
//! name for the same reason.
//!
//! Watch: five submits take microseconds; the results come back in the order the naps
//! end, not the order of submission; three lanes (pids) on the timeline, never more than
//! three jobs at once; the whole takes about the longest chain of naps, not their sum.
//!
//! Copied alone, `main` is both sides: the parent, or with `--role sleep-worker SERVER` a
//! worker process (Python's `if __name__ == "__main__":` switch).
//!
//! Run only this: cargo run -p futures-demo -- process-submit
//! Copy it: cargo add anyhow@1 crossbeam-channel@0.5 ipc-channel@0.23 tracing@0.1 && cargo add serde@1 --features derive

use std::io;
use std::process::{Child, Command};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use crossbeam_channel::{Receiver, RecvError, Select, Sender, bounded, unbounded};
use ipc_channel::TryRecvError;
use ipc_channel::ipc::{self, IpcOneShotServer, IpcReceiver, IpcSender};
use serde::{Deserialize, Serialize};

/// What `worker` returns: which call, done by which process.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub n: u32,
    pub pid: u32,
}

/// A worker refuses naps longer than this (Python would raise `ValueError`).
pub const MAX_NAP: Duration = Duration::from_secs(5);

/// The guide's `worker(n)`, run in a worker process: sleep, then say who did it.
pub fn worker(n: u32, nap: Duration) -> Result<Answer, String> {
    if nap > MAX_NAP {
        return Err(format!("worker({n}): a nap of {nap:?} is over {MAX_NAP:?}"));
    }
    thread::sleep(nap);
    Ok(Answer {
        n,
        pid: std::process::id(),
    })
}

/// Parent -> worker process.
#[derive(Serialize, Deserialize, Debug)]
enum ToWorker {
    Work { n: u32, nap: Duration },
    Stop,
}

/// Worker process -> parent.
#[derive(Serialize, Deserialize, Debug)]
enum FromWorker {
    /// The first message: who I am and where to send my work.
    Ready {
        pid: u32,
        work: IpcSender<ToWorker>,
    },
    Done(Result<Answer, String>),
}

/// The child's side, started with the parent's server name as its one argument.
pub fn worker_process(args: &[String]) -> anyhow::Result<()> {
    let server = args
        .first()
        .context("a worker needs the parent's server name")?;
    let to_parent =
        IpcSender::<FromWorker>::connect(server.clone()).context("connecting to the parent")?;
    let (work_tx, work) = ipc::channel::<ToWorker>()?;
    let pid = std::process::id();
    to_parent.send(FromWorker::Ready { pid, work: work_tx })?;
    // recv() fails once the parent is gone: a worker never outlives its pool.
    while let Ok(ToWorker::Work { n, nap }) = work.recv() {
        if to_parent.send(FromWorker::Done(worker(n, nap))).is_err() {
            break;
        }
    }
    Ok(())
}

/// Bounds on every wait for a child, so a broken worker never hangs the program.
const START_LIMIT: Duration = Duration::from_secs(20);
const CALL_LIMIT: Duration = Duration::from_secs(30);
const STOP_LIMIT: Duration = Duration::from_secs(5);

/// A submitted call, waiting in the queue: its arguments and where its answer goes.
struct Call {
    n: u32,
    nap: Duration,
    reply: Sender<Result<Answer, String>>,
}

/// What `submit` returns, Python's `Future`: `result()` blocks until the call is done.
#[must_use = "a dropped future loses the call's result"]
pub struct Future(Receiver<Result<Answer, String>>);

impl Future {
    /// `future.result()`: the answer, or the worker's error.
    pub fn result(self) -> anyhow::Result<Answer> {
        outcome(self.0.recv())
    }
}

fn outcome(received: Result<Result<Answer, String>, RecvError>) -> anyhow::Result<Answer> {
    match received {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(e)) => Err(anyhow!(e)), // raised in the worker, re-raised here
        Err(RecvError) => Err(anyhow!("the pool lost this call: its worker process died")),
    }
}

/// `ProcessPoolExecutor(max_workers=N)`.
pub struct ProcessPoolExecutor {
    calls: Option<Sender<Call>>, // taken (closed) when the pool is dropped
    feeders: Vec<JoinHandle<()>>,
    pids: Vec<u32>,
}

impl ProcessPoolExecutor {
    /// Start `max_workers` processes, each from `worker_command()` plus the name of the
    /// server it connects back to, and a feeder thread for each.
    pub fn new(
        max_workers: usize,
        worker_command: impl Fn() -> io::Result<Command>,
    ) -> anyhow::Result<Self> {
        let (calls, queue) = unbounded::<Call>();
        // Built up step by step: if a worker fails to start, dropping `pool` stops the
        // ones already running.
        let mut pool = ProcessPoolExecutor {
            calls: Some(calls),
            feeders: Vec::new(),
            pids: Vec::new(),
        };
        for _ in 0..max_workers.max(1) {
            let (server, name) = IpcOneShotServer::<FromWorker>::new()?;
            let mut child = worker_command()?
                .arg(name)
                .spawn()
                .context("starting a worker process")?;
            let (results, work, pid) = match accept_within(server, START_LIMIT) {
                Ok((results, FromWorker::Ready { pid, work })) => (results, work, pid),
                first => {
                    let _ = child.kill();
                    let _ = child.wait();
                    match first {
                        Ok((_, other)) => bail!("a worker said {other:?} first"),
                        Err(e) => return Err(e),
                    }
                }
            };
            let queue = queue.clone();
            let feeder = thread::Builder::new()
                .name(format!("pid {pid}"))
                .spawn(move || feed(child, work, results, queue))?;
            pool.feeders.push(feeder);
            pool.pids.push(pid);
        }
        Ok(pool)
    }

    pub fn pids(&self) -> &[u32] {
        &self.pids
    }

    /// `executor.submit(worker, n, nap)`: queue the call, return its future at once.
    pub fn submit(&self, n: u32, nap: Duration) -> Future {
        let (reply, future) = bounded(1);
        if let Some(calls) = &self.calls {
            // Fails only when every feeder is gone: the call is dropped, its future says so.
            let _ = calls.send(Call { n, nap, reply });
        }
        Future(future)
    }
}

/// One feeder per worker process: take the next call, send it, wait (bounded) for the
/// answer, hand it to the call's future. When the queue closes, stop the process.
fn feed(
    mut child: Child,
    work: IpcSender<ToWorker>,
    results: IpcReceiver<FromWorker>,
    queue: Receiver<Call>,
) {
    for call in queue.iter() {
        let answered = {
            let _span = tracing::info_span!("job", n = call.n).entered();
            let sent = work.send(ToWorker::Work {
                n: call.n,
                nap: call.nap,
            });
            sent.ok().map(|()| results.try_recv_timeout(CALL_LIMIT))
        }; // the span ends here, before the caller can see the answer
        match answered {
            Some(Ok(FromWorker::Done(answer))) => {
                let _ = call.reply.send(answer); // the caller may have dropped its future
            }
            Some(Err(TryRecvError::Empty)) => {
                let _ = call.reply.send(Err(format!(
                    "no answer within {CALL_LIMIT:?}: worker killed"
                )));
                break;
            }
            // The process is gone (or said something else): dropping `call` tells its future.
            _ => break,
        }
    }
    let _ = work.send(ToWorker::Stop);
    let _ = wait_or_kill(&mut child, STOP_LIMIT);
}

/// Leaving the `with` block: close the queue (the feeders finish what is queued, then
/// stop their processes), join every feeder.
impl Drop for ProcessPoolExecutor {
    fn drop(&mut self) {
        drop(self.calls.take());
        for feeder in self.feeders.drain(..) {
            let _ = feeder.join();
        }
    }
}

/// `as_completed(futures)`: yield `(key, result)` for each future, in the order they finish.
pub fn as_completed<K>(
    mut pending: Vec<(K, Future)>,
) -> impl Iterator<Item = (K, anyhow::Result<Answer>)> {
    std::iter::from_fn(move || {
        if pending.is_empty() {
            return None;
        }
        let mut select = Select::new();
        for (_, future) in &pending {
            select.recv(&future.0);
        }
        let ready = select.select(); // blocks until one of them has finished
        let index = ready.index();
        let received = ready.recv(&pending[index].1.0);
        let (key, _) = pending.swap_remove(index);
        Some((key, outcome(received)))
    })
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

/// The role a worker process is started with: `THIS_PROGRAM --role sleep-worker SERVER`.
pub const ROLE: &str = "sleep-worker";

/// This program, re-run as a worker (as `multiprocessing` re-runs the interpreter).
fn this_program_as_worker() -> io::Result<Command> {
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["--role", ROLE]);
    Ok(command)
}

/// Each call's nap, in submission order (the guide sleeps 2 s each; these differ so the
/// completion order shows).
pub const NAPS_MS: [u64; 5] = [240, 80, 160, 40, 100];

/// `if __name__ == "__main__":` a worker process serves calls; the parent submits five.
fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, role, rest @ ..] = args.as_slice()
        && flag == "--role"
        && role == ROLE
    {
        return worker_process(rest);
    }
    let executor = ProcessPoolExecutor::new(3, this_program_as_worker)?;
    let start = Instant::now();
    let futures: Vec<_> = (0u32..)
        .zip(NAPS_MS)
        .map(|(n, ms)| (n, executor.submit(n, Duration::from_millis(ms))))
        .collect();
    for (n, result) in as_completed(futures) {
        let answer = result?;
        let nap = NAPS_MS[n as usize];
        println!(
            "worker({n}), a {nap} ms nap, from pid {} at {:.0?}",
            answer.pid,
            start.elapsed()
        );
    }
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::child::role_command;
use common::cli::{Section, SectionResult};
use common::ipc_temp::{check_temp_dir, without_ipc_panic};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recorded, Recording};
use common::timing::{Secs, timed};

pub const SECTION: Section = Section::new(
    "process-submit",
    "ProcessPoolExecutor(3).submit(worker, i) + as_completed",
    "a future per call; results as the processes finish",
    run,
)
.main(|| main().report());

/// This binary, re-run as a worker (under `cargo test` too).
fn worker_command() -> io::Result<Command> {
    role_command(env!("CARGO_PKG_NAME"), ROLE)
}

/// The guide's `max_workers=3`.
const MAX_WORKERS: usize = 3;

/// When each call ends with three workers taking the next call as they come free.
fn schedule(naps: &[u64], workers: usize) -> Vec<u64> {
    let mut free_at = vec![0u64; workers.max(1)];
    naps.iter()
        .map(|&nap| {
            let first_free = (0..free_at.len()).min_by_key(|&w| free_at[w]).unwrap_or(0);
            free_at[first_free] += nap;
            free_at[first_free]
        })
        .collect()
}

/// What the section measured.
struct Figures {
    started: Duration,
    submitting: Duration,
    took: Duration,
    /// Each answer, and when it came, in the order they came.
    completed: Vec<(Answer, Duration)>,
    jobs: Recorded,
    /// What `result()` said for a call the worker refused.
    refused: anyhow::Error,
}

/// Start the pool, submit the five naps, take them as completed; then one call the worker
/// refuses. The pool is dropped at the end: the with-block's end.
fn measure() -> anyhow::Result<Figures> {
    check_temp_dir()?;
    let (pool, started) =
        timed(|| without_ipc_panic(|| ProcessPoolExecutor::new(MAX_WORKERS, worker_command)));
    let pool = pool??;
    let recording = Recording::start();
    let start = Instant::now();
    let (futures, submitting) = timed(|| {
        (0u32..)
            .zip(NAPS_MS)
            .map(|(n, ms)| (n, pool.submit(n, Duration::from_millis(ms))))
            .collect::<Vec<_>>()
    });
    let mut completed = Vec::new();
    for (n, result) in as_completed(futures) {
        let answer = result?;
        anyhow::ensure!(
            answer.n == n,
            "future {n} got the answer of call {}",
            answer.n
        );
        anyhow::ensure!(
            pool.pids().contains(&answer.pid),
            "call {n} answered by pid {}, not a worker",
            answer.pid
        );
        completed.push((answer, start.elapsed()));
    }
    let took = start.elapsed();
    let jobs = recording.finish().named(&["job"]);
    let refused = pool
        .submit(99, MAX_NAP * 2)
        .result()
        .err()
        .context("an over-long nap was accepted")?;
    Ok(Figures {
        started,
        submitting,
        took,
        completed,
        jobs,
        refused,
    })
}

fn run() -> SectionResult {
    let f = measure()?;
    println!(
        "  {MAX_WORKERS} worker processes (parent pid {}); naps submitted in this order (ms): {NAPS_MS:?}",
        std::process::id()
    );
    for (answer, at) in &f.completed {
        let nap = NAPS_MS[answer.n as usize];
        println!(
            "  as_completed: worker({}) ({nap} ms) from pid {} at {}",
            answer.n,
            answer.pid,
            Secs(*at)
        );
    }
    f.jobs.print(Lanes::Thread);
    println!("  a refused call's result(): {}", f.refused);
    let ends = schedule(&NAPS_MS, MAX_WORKERS);
    let expected = Duration::from_millis(ends.iter().copied().max().unwrap_or(0));
    let sum = Duration::from_millis(NAPS_MS.iter().sum());
    figure(format!("start {MAX_WORKERS} workers"), Secs(f.started));
    figure(format!("{} submits", NAPS_MS.len()), Secs(f.submitting));
    figure("all results, measured", Secs(f.took));
    figure(
        "  expected (not measured)",
        format!(
            "{}: the naps scheduled on {MAX_WORKERS} workers ({} one after another)",
            Secs(expected),
            Secs(sum)
        ),
    );
    let order: Vec<u32> = f.completed.iter().map(|(a, _)| a.n).collect();
    let mut by_end: Vec<u32> = (0..NAPS_MS.len() as u32).collect();
    by_end.sort_by_key(|&n| ends[n as usize]);
    let at_once = f.jobs.most_at_once();
    anyhow::ensure!(at_once <= MAX_WORKERS, "{at_once} calls ran at once");
    takeaway_if(
        &Evidence::new(
            order == by_end && f.took < expected + expected / 2,
            format!(
                "completion order {by_end:?} and all done within 1.5 x {}",
                Secs(expected)
            ),
            format!("{order:?} in {}", Secs(f.took)),
        ),
        format!(
            "submit hands back a future at once ({} for {}); as_completed takes each answer when its process finishes: {order:?}",
            Secs(f.submitting),
            NAPS_MS.len()
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_future_gets_its_own_calls_answer_from_a_worker_process() {
        let pool = ProcessPoolExecutor::new(2, worker_command).unwrap();
        let recording = Recording::start();
        let futures: Vec<_> = (0..6)
            .map(|n| (n, pool.submit(n, Duration::ZERO)))
            .collect();
        let mut seen = Vec::new();
        for (n, result) in as_completed(futures) {
            let answer = result.unwrap();
            assert_eq!(answer.n, n);
            assert!(pool.pids().contains(&answer.pid));
            assert_ne!(answer.pid, std::process::id());
            seen.push(n);
        }
        seen.sort();
        assert_eq!(seen, [0, 1, 2, 3, 4, 5], "each future once");
        // Spans from this pool's feeders only (tests run side by side).
        let lanes: Vec<String> = pool.pids().iter().map(|p| format!("pid {p}")).collect();
        let jobs = recording
            .finish()
            .filter(|s| s.name == "job" && lanes.contains(&s.thread));
        assert_eq!(jobs.len(), 6);
        assert!(
            jobs.most_at_once() <= 2,
            "two workers, two calls at once at most"
        );
        // result() on a single future works too.
        assert_eq!(pool.submit(7, Duration::ZERO).result().unwrap().n, 7);
    }

    #[test]
    fn a_workers_error_reaches_only_its_own_future() {
        let pool = ProcessPoolExecutor::new(1, worker_command).unwrap();
        let bad = pool.submit(1, MAX_NAP * 2);
        let good = pool.submit(2, Duration::ZERO);
        let err = bad.result().unwrap_err().to_string();
        assert!(err.contains("worker(1)") && err.contains("over"), "{err}");
        assert_eq!(good.result().unwrap().n, 2, "the worker lives on");
    }

    #[test]
    fn as_completed_yields_in_the_order_the_results_arrive() {
        // Hand-made futures: the test decides which finishes first.
        let (senders, futures): (Vec<_>, Vec<_>) = (0..3)
            .map(|_| {
                let (tx, rx) = bounded(1);
                (tx, Future(rx))
            })
            .unzip();
        let keyed: Vec<_> = ["a", "b", "c"].into_iter().zip(futures).collect();
        let mut completed = as_completed(keyed);
        senders[2].send(Ok(Answer { n: 2, pid: 1 })).unwrap();
        assert_eq!(completed.next().unwrap().0, "c");
        senders[0].send(Err("boom".to_owned())).unwrap();
        let (key, result) = completed.next().unwrap();
        assert_eq!(
            (key, result.unwrap_err().to_string()),
            ("a", "boom".to_owned())
        );
        drop(senders); // "b" never answers: its worker died
        let (key, result) = completed.next().unwrap();
        assert_eq!(key, "b");
        assert!(result.unwrap_err().to_string().contains("died"));
        assert!(completed.next().is_none());
    }

    #[test]
    fn the_schedule_of_five_naps_on_three_workers() {
        assert_eq!(schedule(&NAPS_MS, 3), [240, 80, 160, 120, 220]);
        assert_eq!(schedule(&[5, 5], 1), [5, 10]);
    }

    #[test]
    fn a_worker_without_a_parent_server_fails_cleanly() {
        assert!(worker_process(&[]).is_err());
    }
}
