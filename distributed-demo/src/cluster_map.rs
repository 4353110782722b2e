//! `multiprocessing.Pool(n).map(compute, tasks)` on a cluster -> a timely dataflow whose
//! workers are threads, processes, or machines, with the same code.
//!
//! Python:
//!     def compute(n):
//!         return sum(i * i for i in range(n))
//!     with Pool(2) as pool:
//!         results = pool.map(compute, [N] * 16)
//!     # outgrowing one machine: Dask or Ray
//!     futures = client.map(compute, [N] * 16); results = client.gather(futures)
//!
//! Timely dataflow (the `timely` crate) runs one closure on every worker. Worker 0 feeds the
//! task list in; `exchange(|task| task.id)` scatters the tasks over all workers (task k goes
//! to worker k % workers) like `pool.map` hands them out; each worker computes its tasks;
//! a second `exchange(|_| 0)` gathers the answers back at worker 0, which checks them. Where
//! the workers live is configuration, not code: `Config::process(2)` is two threads in this
//! process, `Config::Cluster` is several processes (the next section launches them) that
//! move the same records over TCP. No GIL, no pickling of functions: every process already
//! has the code, only the records (plain data, `Serialize`) travel.
//!
//! Watch: every run gives the sequential answer; two processes on this machine take about
//! as long as one process with two threads (the gap is the cost of going through TCP and
//! of the second process). On the timeline, the processes' long first bar is starting and
//! connecting, paid once per job, not per task.
//!
//! Run only this: cargo run -p distributed-demo -- cluster-map

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use anyhow::{Context, ensure};
use common::cli::{SectionResult, figure, takeaway};
use common::timeline::Timeline;
use common::timing::{Secs, Stopwatch, speedup, timed};
use common::workload::{sum_of_squares, sum_of_squares_expected};
use serde::{Deserialize, Serialize};
use timely::dataflow::operators::vec::{Map, ToStream};
use timely::dataflow::operators::{Exchange, Inspect};
use timely::worker::Worker;

use crate::local_cluster;

/// The job: `pool.map(compute, [n] * tasks)`, with `compute(n) = sum(i * i for i in range(n))`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub n: u64,
    pub tasks: u64,
    /// The job runs this many times in a row; the figure is the fastest round (the machine
    /// is shared, one round can be unlucky).
    pub rounds: u32,
}

/// The demo's size: about 0.5 s per round on one core (about 0.3 ns per `i * i`; `common`
/// is optimised in the dev profile too), three rounds each way. Rounds much shorter than
/// this let timely's fixed costs (progress messages over TCP, a late first round) show
/// up as a TCP penalty of 40-80% that has nothing to do with the steady state.
pub const JOB: Job = Job {
    n: 100_000_000,
    tasks: 16,
    rounds: 3,
};

impl Job {
    /// The sequential answer, one per task and round (the closed form of the sum).
    pub fn expected(&self) -> Vec<u64> {
        vec![sum_of_squares_expected(self.n); self.tasks as usize * self.rounds as usize]
    }

    /// Does `results` hold the sequential answer?
    pub fn check(&self, results: &[u64]) -> anyhow::Result<()> {
        ensure!(
            results == self.expected(),
            "wrong answer: got {} results {:?}..., expected {} x {}",
            results.len(),
            results.iter().take(3).collect::<Vec<_>>(),
            self.expected().len(),
            sum_of_squares_expected(self.n)
        );
        Ok(())
    }
}

/// One task travelling through the dataflow: which one, and its input or its answer.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Task {
    pub id: u64,
    pub value: u64,
}

/// What a worker reports: worker 0 has the gathered answers (in task order, round after
/// round), the others none.
#[derive(Debug)]
pub struct WorkerResult {
    pub answers: Option<Vec<u64>>,
    /// From building the dataflow to having the answers (worker 0) or being done (others):
    /// the fastest round.
    pub took: Duration,
}

/// The closure every worker runs, whatever the cluster looks like. `lane` names this worker
/// on the timeline (`process 1`), `timeline` records one span per task computed.
pub fn pool_map(worker: &mut Worker, job: Job, timeline: &Timeline, lane: &str) -> WorkerResult {
    let mut answers: Option<Vec<u64>> = None;
    let mut fastest = Duration::MAX;
    for _ in 0..job.rounds {
        let round = pool_map_once(worker, job, timeline, lane);
        fastest = fastest.min(round.took);
        if let Some(a) = round.answers {
            answers.get_or_insert_with(Vec::new).extend(a);
        }
    }
    WorkerResult {
        answers,
        took: fastest,
    }
}

/// One round: `pool.map(compute, [job.n] * job.tasks)` as a dataflow.
pub fn pool_map_once(
    worker: &mut Worker,
    job: Job,
    timeline: &Timeline,
    lane: &str,
) -> WorkerResult {
    let sw = Stopwatch::start();
    let index = worker.index();
    let gathered = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&gathered);
    let (timeline, lane) = (timeline.clone(), lane.to_owned());
    worker.dataflow::<u64, _, _>(move |scope| {
        // Worker 0 holds the task list, like the Python parent process.
        let tasks = if index == 0 { 0..job.tasks } else { 0..0 };
        tasks
            .map(move |id| Task { id, value: job.n })
            .to_stream(scope)
            .exchange(|task: &Task| task.id) // scatter: task k to worker k % workers
            .map(move |task| {
                let _span = timeline.span(lane.clone(), format!("task {}", task.id));
                tracing::debug!(task = task.id, worker = index, "computing");
                Task {
                    id: task.id,
                    value: sum_of_squares(task.value), // compute(n)
                }
            })
            .exchange(|_| 0) // gather: every answer to worker 0
            .inspect(move |task: &Task| sink.borrow_mut().push(*task));
    });
    // Run this worker's share until the dataflow is complete everywhere.
    while worker.step_or_park(None) {}
    let mut answers = gathered.take();
    answers.sort_by_key(|t| t.id);
    WorkerResult {
        answers: (index == 0).then(|| answers.into_iter().map(|t| t.value).collect()),
        took: sw.elapsed(),
    }
}

/// The job on `threads` timely workers in this process: worker 0's answers and time.
pub fn in_one_process(
    job: Job,
    threads: usize,
    timeline: &Timeline,
) -> anyhow::Result<WorkerResult> {
    let t = timeline.clone();
    let config = if threads == 1 {
        timely::Config::thread()
    } else {
        timely::Config::process(threads)
    };
    let guards = timely::execute(config, move |worker| {
        let lane = format!("thread {}", worker.index());
        pool_map(worker, job, &t, &lane)
    })
    .map_err(anyhow::Error::msg)
    .context("starting timely workers")?;
    guards
        .join()
        .into_iter()
        .next()
        .context("no worker ran")?
        .map_err(|panic| anyhow::anyhow!("worker 0 failed: {panic}"))
}

pub fn run() -> SectionResult {
    let job = JOB;
    println!(
        "  pool.map(compute, [{}] * {}), compute(n) = sum(i * i for i in range(n))",
        job.n, job.tasks
    );
    println!(
        "  each way {} times; times are the fastest round",
        job.rounds
    );
    let timeline = Timeline::new();

    // The sequential answer, the baseline.
    let mut sequential = Vec::new();
    let mut seq_took = Duration::MAX;
    for round in 0..job.rounds {
        let (answers, took) = timed(|| {
            timeline.record("sequential", format!("round {round}"), || {
                (0..job.tasks)
                    .map(|_| sum_of_squares(job.n))
                    .collect::<Vec<_>>()
            })
        });
        sequential.extend(answers);
        seq_took = seq_took.min(took);
    }
    job.check(&sequential)?;
    figure("sequential, 1 thread", Secs(seq_took));

    // Timely, one process, two worker threads.
    let threads = in_one_process(job, 2, &timeline)?;
    job.check(threads.answers.as_deref().unwrap_or_default())?;
    figure(
        "1 process x 2 threads",
        format!(
            "{} ({:.2}x)",
            Secs(threads.took),
            speedup(seq_took, threads.took)
        ),
    );

    // Timely, two processes of one worker each, talking over TCP on 127.0.0.1.
    let cluster = local_cluster::launch(2, 1, job, local_cluster::DEADLINE)?;
    job.check(&cluster.answers)?;
    for report in &cluster.reports {
        timeline.extend(report.spans.iter().cloned());
    }
    figure(
        "2 processes x 1 thread",
        format!(
            "{} ({:.2}x)",
            Secs(cluster.job_took),
            speedup(seq_took, cluster.job_took)
        ),
    );
    figure(
        "  + starting, connecting",
        format!("{} launch to exit", Secs(cluster.started_took)),
    );
    let tcp_cost = cluster.job_took.as_secs_f64() / threads.took.as_secs_f64() - 1.0;
    figure(
        "processes vs threads",
        format!(
            "{:+.0}% (the cost of TCP; goal: within 15%)",
            tcp_cost * 100.0
        ),
    );
    timeline.print();
    takeaway(
        "the same dataflow closure runs on threads or on processes; only the Config changes, and the answer is checked every time",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Job = Job {
        n: 10_000,
        tasks: 7,
        rounds: 2,
    };

    #[test]
    fn one_worker_gives_the_sequential_answer() {
        let r = in_one_process(SMALL, 1, &Timeline::new()).unwrap();
        SMALL.check(&r.answers.unwrap()).unwrap();
    }

    #[test]
    fn tasks_are_scattered_over_every_worker_and_gathered_at_worker_0() {
        let timeline = Timeline::new();
        let r = in_one_process(SMALL, 3, &timeline).unwrap();
        SMALL.check(&r.answers.unwrap()).unwrap();
        let spans = timeline.spans();
        assert_eq!(spans.len(), 14, "one span per task and round");
        for (worker, expected) in [("thread 0", 6), ("thread 1", 4), ("thread 2", 4)] {
            let done = spans.iter().filter(|s| s.lane == worker).count();
            assert_eq!(done, expected, "task k goes to worker k % 3: {worker}");
        }
    }

    #[test]
    fn a_wrong_answer_is_caught() {
        assert!(SMALL.check(&[1, 2, 3]).is_err());
        assert!(SMALL.check(&SMALL.expected()).is_ok());
    }
}
