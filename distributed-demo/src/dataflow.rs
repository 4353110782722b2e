//! The job every section of this demo runs: `pool.map(compute, [n] * tasks)` as a timely
//! dataflow. Not a section of its own: `cluster-map` runs it on threads and on processes,
//! `local-cluster`, `many-machines` and `peer-failure` on processes they start. This file
//! is the thing to copy: alone, its `main` runs the job on two worker threads; beside
//! `cluster_map.rs`, the same `pool_map` runs on processes.
//!
//! Python:
//!     def compute(n):
//!         return sum(i * i for i in range(n))
//!     with Pool(2) as pool:
//!         results = pool.map(compute, [N] * 16)
//!
//! Rust: timely runs one closure on every worker, wherever the workers are (threads of one
//! process, processes on one or many machines). Worker 0 feeds the task list in;
//! `exchange(|task| task.id)` scatters the tasks over all workers (task k goes to worker
//! k % workers) like `pool.map` hands them out; each worker computes its tasks; a second
//! `exchange(|_| 0)` gathers the answers back at worker 0. No pickling of functions: every
//! worker already has the code (`compute` is a closure on each), only the records travel,
//! and they are plain data (`Serialize`).
//!
//! Watch: 16 answers gathered at worker 0, in task order, each the closed form's.
//!
//! Copy it: cargo add timely@0.32 tracing@0.1 && cargo add serde@1 --features derive

use std::cell::RefCell;
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use timely::dataflow::operators::vec::{Map, ToStream};
use timely::dataflow::operators::{Exchange, Inspect};
use timely::worker::Worker;

/// The job: `pool.map(compute, [n] * tasks)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub n: u64,
    pub tasks: u64,
}

/// One task travelling through the dataflow: which one, and its input or its answer.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Task {
    pub id: u64,
    pub value: u64,
}

/// The closure every worker runs, whatever the cluster looks like: one `pool.map` round.
/// Worker 0 returns the answers in task order; the other workers return `None`.
pub fn pool_map<F>(worker: &mut Worker, job: Job, compute: F) -> Option<Vec<u64>>
where
    F: Fn(u64) -> u64 + 'static,
{
    let index = worker.index();
    let gathered = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&gathered);
    worker.dataflow::<u64, _, _>(move |scope| {
        // Worker 0 holds the task list, like the Python parent process.
        let tasks = if index == 0 { 0..job.tasks } else { 0..0 };
        tasks
            .map(move |id| Task { id, value: job.n })
            .to_stream(scope)
            .exchange(|task: &Task| task.id) // scatter: task k to worker k % workers
            .map(move |task| {
                let _span = tracing::info_span!("task", id = task.id, worker = index).entered();
                tracing::debug!(task = task.id, worker = index, "computing");
                Task {
                    id: task.id,
                    value: compute(task.value),
                }
            })
            .exchange(|_| 0) // gather: every answer to worker 0
            .inspect(move |task: &Task| sink.borrow_mut().push(*task));
    });
    // Run this worker's share until the dataflow is complete everywhere.
    while worker.step_or_park(None) {}
    let mut answers = gathered.take();
    answers.sort_by_key(|t| t.id);
    (index == 0).then(|| answers.into_iter().map(|t| t.value).collect())
}

/// The twin of `if __name__ == "__main__":`, `Pool(2)`: the job on two worker threads,
/// each answer checked against the closed form (n - 1) n (2n - 1) / 6.
fn main() -> Result<(), String> {
    let job = Job {
        n: 1_000_000,
        tasks: 16,
    };
    let compute = |n: u64| (0..n).map(|i| i * i).sum::<u64>();
    let workers = timely::execute(timely::Config::process(2), move |worker| {
        pool_map(worker, job, compute)
    })?;
    let mut results = workers.join().into_iter().collect::<Result<Vec<_>, _>>()?;
    let answers = results[0].take().ok_or("worker 0 gathered nothing")?;
    let expected = (job.n - 1) * job.n * (2 * job.n - 1) / 6;
    if answers != vec![expected; job.tasks as usize] {
        return Err(format!("wrong answers: {answers:?}"));
    }
    println!(
        "pool.map(compute, [{}] * {}) on 2 worker threads: {} answers at worker 0, each {expected}",
        job.n,
        job.tasks,
        answers.len()
    );
    Ok(())
}

// --- run and measure ---

use anyhow::ensure;
use common::workload::sum_of_squares_expected;

/// The demo's size: about 0.5 s per round on one core (about 0.3 ns per `i * i`; `common`
/// is optimised in the dev profile too). Rounds much shorter than this let timely's fixed
/// costs (progress messages over TCP, a late first round) show up as a TCP penalty of
/// 40-80% that has nothing to do with the steady state.
pub const JOB: Job = Job {
    n: 100_000_000,
    tasks: 16,
};

impl Job {
    /// The sequential answer, one per task (the closed form of the sum of squares).
    pub fn expected(&self) -> Vec<u64> {
        vec![sum_of_squares_expected(self.n); self.tasks as usize]
    }

    /// Does `answers` hold the sequential answer, `rounds` times over (round after round)?
    pub fn check(&self, answers: &[u64], rounds: u32) -> anyhow::Result<()> {
        let expected = self.expected().repeat(rounds as usize);
        ensure!(
            answers == expected,
            "wrong answer: got {} results {:?}..., expected {} x {}",
            answers.len(),
            answers.iter().take(3).collect::<Vec<_>>(),
            expected.len(),
            sum_of_squares_expected(self.n)
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use common::workload::sum_of_squares;

    use super::*;

    const SMALL: Job = Job {
        n: 10_000,
        tasks: 7,
    };

    #[test]
    fn one_worker_gives_the_sequential_answer() {
        let guards = timely::execute(timely::Config::thread(), |w| {
            pool_map(w, SMALL, sum_of_squares)
        })
        .unwrap();
        let answers: Vec<_> = guards.join().into_iter().map(Result::unwrap).collect();
        SMALL.check(answers[0].as_deref().unwrap(), 1).unwrap();
    }

    #[test]
    fn tasks_are_scattered_over_every_worker_and_gathered_at_worker_0() {
        // `compute` notes which worker thread ran it (timely names them `timely:work-I`).
        let ran_on = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&ran_on);
        let guards = timely::execute(timely::Config::process(3), move |w| {
            let log = Arc::clone(&log);
            pool_map(w, SMALL, move |n| {
                let me = std::thread::current().name().unwrap_or("?").to_owned();
                log.lock().unwrap().push(me);
                sum_of_squares(n)
            })
        })
        .unwrap();
        let answers: Vec<_> = guards.join().into_iter().map(Result::unwrap).collect();
        SMALL.check(answers[0].as_deref().unwrap(), 1).unwrap();
        assert!(
            answers[1].is_none() && answers[2].is_none(),
            "only worker 0 gathers"
        );
        let ran_on = ran_on.lock().unwrap();
        assert_eq!(ran_on.len(), 7, "every task computed once");
        for (worker, expected) in [
            ("timely:work-0", 3),
            ("timely:work-1", 2),
            ("timely:work-2", 2),
        ] {
            let done = ran_on.iter().filter(|t| *t == worker).count();
            assert_eq!(done, expected, "task k goes to worker k % 3: {worker}");
        }
    }

    #[test]
    fn a_wrong_answer_is_caught() {
        assert!(SMALL.check(&[1, 2, 3], 1).is_err());
        assert!(SMALL.check(&SMALL.expected(), 1).is_ok());
        assert!(
            SMALL.check(&SMALL.expected(), 2).is_err(),
            "one round short"
        );
        assert!(SMALL.check(&SMALL.expected().repeat(2), 2).is_ok());
    }
}
