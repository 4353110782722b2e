//! `multiprocessing.Queue` -> a typed `ipc_channel::ipc::channel::<T>()`, its `IpcSender`
//! cloned into every child process.
//!
//! Python:
//!     def worker(q, wid, inputs):
//!         for n in inputs:
//!             q.put((wid, os.getpid(), n, sum(i * i for i in range(n))))
//!     if __name__ == "__main__":
//!         q = Queue()
//!         ps = [Process(target=worker, args=(q, w, inputs[w::3])) for w in range(3)]
//!         for p in ps: p.start()
//!         results = [q.get() for _ in range(len(inputs))]
//!         for p in ps: p.join()
//!
//! Rust: the queue is typed (`IpcSender<Msg>` / `IpcReceiver<Msg>`), serde does the
//! pickling, and an `IpcSender` is itself serialisable: the parent hands a clone to each
//! child in its first message (a file descriptor travels with it). There is no
//! "how many to get" guesswork: when the parent drops its own sender and the last child
//! exits, `recv` returns `Disconnected`, like iterating a closed channel. One difference:
//! a Python `Queue` may have many readers; an `IpcReceiver` has one (it cannot be cloned),
//! so fan out from that reader, or give each consumer its own channel.
//!
//! Watch: results arrive in the order the children finish them, interleaved across pids;
//! the parent takes them as they come and checks every answer.
//!
//! Run only this: cargo run -p multiprocessing-demo -- queue
//! Copy it: cargo add anyhow@1 ipc-channel@0.23 tracing@0.1 && cargo add serde@1 --features derive
//! Copy beside it: handshake.rs

#[path = "handshake.rs"]
mod handshake;

use std::process::Child;

use anyhow::{Context, bail};
use ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use ipc_channel::{IpcError, TryRecvError};
use serde::{Deserialize, Serialize};

/// What the parent gives each child: the queue's sending end and its share of the inputs.
#[derive(Serialize, Deserialize)]
pub struct Job {
    worker: u32,
    inputs: Vec<u64>,
    queue: IpcSender<Msg>,
}

/// One item on the queue: `q.put((wid, pid, n, result))`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Msg {
    pub worker: u32,
    pub pid: u32,
    pub n: u64,
    pub result: u64,
}

/// The guides' `compute(n)`: `sum(i * i for i in range(n))` (a `u64` wraps past n = 3.8
/// million).
pub fn compute(n: u64) -> u64 {
    (0..n).fold(0u64, |sum, i| sum.wrapping_add(i.wrapping_mul(i)))
}

/// The child's side: take the job from `inbox`, put one message per input on the queue.
pub fn worker(inbox: IpcReceiver<Job>, compute: impl Fn(u64) -> u64) -> anyhow::Result<()> {
    let job = handshake::recv(&inbox).context("waiting for the job")?;
    for n in job.inputs {
        tracing::debug!(pid = std::process::id(), n, "putting a result");
        job.queue.send(Msg {
            worker: job.worker,
            pid: std::process::id(),
            n,
            result: compute(n),
        })?;
    }
    Ok(()) // the queue's sender is dropped here: one producer fewer
}

/// Start `workers` children with `start` (each call starts one and returns it with the
/// sending end of its inbox), deal the inputs round-robin, and drain the queue until every
/// producer has hung up. Returns the messages in arrival order.
pub fn run_queue(
    mut start: impl FnMut() -> anyhow::Result<(Child, IpcSender<Job>)>,
    workers: u32,
    inputs: &[u64],
) -> anyhow::Result<Vec<Msg>> {
    let (queue, results): (IpcSender<Msg>, IpcReceiver<Msg>) = ipc::channel()?;
    // start() them all first, then hand out the work, so they run side by side.
    let started = (0..workers)
        .map(|_| start())
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut children = Vec::new();
    for (w, (child, inbox)) in (0..workers).zip(started) {
        let share = inputs
            .iter()
            .copied()
            .skip(w as usize)
            .step_by(workers as usize)
            .collect();
        inbox.send(Job {
            worker: w,
            inputs: share,
            queue: queue.clone(),
        })?;
        children.push(child);
    }
    drop(queue); // only the children hold senders now

    let mut got = Vec::new();
    loop {
        match results.try_recv_timeout(handshake::PATIENCE) {
            Ok(msg) => got.push(msg),
            Err(TryRecvError::IpcError(IpcError::Disconnected)) => break, // all producers gone
            Err(TryRecvError::Empty) => {
                bail!("the queue stayed empty for {:?}", handshake::PATIENCE)
            }
            Err(TryRecvError::IpcError(e)) => return Err(e).context("reading the queue"),
        }
    }
    for mut c in children {
        let status = handshake::join(&mut c)?; // p.join(): each has hung up, so it is exiting
        anyhow::ensure!(status.success(), "a queue worker failed: {status}");
    }
    Ok(got)
}

/// The twin of `if __name__ == "__main__":`: a child (`--role queue-worker SERVER`) works
/// its share; the parent starts three and takes nine results off the queue.
fn main() -> anyhow::Result<()> {
    if let Some((_, server)) = handshake::role() {
        return worker(handshake::connect(&server)?, compute); // the only role here
    }
    let inputs: Vec<u64> = (0..9).map(|k| 100_000 + k * 10_000).collect();
    let start = || handshake::start(handshake::this_program("queue-worker")?);
    for m in run_queue(start, 3, &inputs)? {
        println!(
            "worker {} (pid {}): compute({}) = {}",
            m.worker, m.pid, m.n, m.result
        );
        anyhow::ensure!(m.result == compute(m.n), "a wrong result");
    }
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{figure, takeaway};
use common::timing::{Secs, timed};
use common::workload::sum_of_squares_expected;

use crate::child;

pub const SECTION: Section = Section::new(
    "queue",
    "multiprocessing.Queue: q.put() in children, q.get() in the parent",
    "a typed IPC channel whose sender is cloned into three children",
    run,
)
.main(|| main().report());

/// `--role queue-worker SERVER`: `main`'s child branch.
pub fn worker_role(args: &[String]) -> anyhow::Result<()> {
    child::serve(args, |server| worker(handshake::connect(server)?, compute))
}

fn queue_workers() -> impl FnMut() -> anyhow::Result<(Child, IpcSender<Job>)> {
    || handshake::start(child::command("queue-worker")?)
}

fn run() -> SectionResult {
    let inputs: Vec<u64> = (0..9).map(|k| 3_000_000 + k * 10_000).collect();
    let (got, took) = timed(|| run_queue(queue_workers(), 3, &inputs));
    let got = got?;
    for m in &got {
        println!(
            "  got from worker {} (pid {}): compute({:>9}) = {}",
            m.worker, m.pid, m.n, m.result
        );
    }
    let mut ns: Vec<u64> = got.iter().map(|m| m.n).collect();
    ns.sort_unstable();
    anyhow::ensure!(ns == inputs, "not every input came back once: {ns:?}");
    anyhow::ensure!(
        got.iter().all(|m| m.result == sum_of_squares_expected(m.n)),
        "a wrong result came through the queue"
    );
    figure("3 children, 9 results", Secs(took));
    takeaway(
        "an IpcSender is the queue's put(): clone it into every child; recv() says Disconnected when the last one is gone",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_child_result_arrives_once_and_the_queue_closes() {
        let inputs = [10, 20, 30, 40, 50];
        let mut got = run_queue(queue_workers(), 2, &inputs).unwrap();
        got.sort_by_key(|m| m.n);
        let ns: Vec<u64> = got.iter().map(|m| m.n).collect();
        assert_eq!(ns, inputs);
        assert!(got.iter().all(|m| m.result == sum_of_squares_expected(m.n)));
        // Round-robin: worker 0 had 10, 30, 50; worker 1 had 20, 40.
        assert!(got.iter().all(|m| m.worker == ((m.n / 10 - 1) % 2) as u32));
        let pids: std::collections::HashSet<u32> = got.iter().map(|m| m.pid).collect();
        assert_eq!(pids.len(), 2, "two distinct child processes");
        assert!(!pids.contains(&std::process::id()));
    }
}
