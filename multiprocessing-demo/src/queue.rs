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

use std::process::Child;
use std::time::Duration;

use anyhow::{Context, bail};
use ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use ipc_channel::{IpcError, TryRecvError};
use serde::{Deserialize, Serialize};

/// The longest the parent waits for the next message before it calls the children stuck.
pub const PATIENCE: Duration = Duration::from_secs(10);

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

/// The child's side: take the job from `inbox`, put one message per input on the queue.
pub fn worker(inbox: IpcReceiver<Job>, compute: impl Fn(u64) -> u64) -> anyhow::Result<()> {
    let job = inbox
        .try_recv_timeout(PATIENCE)
        .context("waiting for the job")?;
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
        match results.try_recv_timeout(PATIENCE) {
            Ok(msg) => got.push(msg),
            Err(TryRecvError::IpcError(IpcError::Disconnected)) => break, // all producers gone
            Err(TryRecvError::Empty) => bail!("the queue stayed empty for {PATIENCE:?}"),
            Err(TryRecvError::IpcError(e)) => return Err(e).context("reading the queue"),
        }
    }
    for mut c in children {
        let status = c.wait()?; // p.join(): each has hung up, so it is exiting
        anyhow::ensure!(status.success(), "a queue worker failed: {status}");
    }
    Ok(got)
}

// --- run and measure ---

use common::cli::{Section, SectionResult};
use common::print::{figure, takeaway};
use common::timing::{Secs, timed};
use common::workload::{sum_of_squares, sum_of_squares_expected};

use crate::child;

pub const SECTION: Section = Section::new(
    "queue",
    "multiprocessing.Queue: q.put() in children, q.get() in the parent",
    "a typed IPC channel whose sender is cloned into three children",
    run,
);

/// `--role queue-worker SERVER`.
pub fn worker_role(args: &[String]) -> anyhow::Result<()> {
    child::serve(args, |inbox| worker(inbox, sum_of_squares))
}

fn queue_workers() -> impl FnMut() -> anyhow::Result<(Child, IpcSender<Job>)> {
    child::starter("queue-worker", Vec::new())
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
    anyhow::ensure!(
        got.len() == inputs.len(),
        "{} of {} results",
        got.len(),
        inputs.len()
    );
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
