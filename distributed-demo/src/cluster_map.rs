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
//! Rust: the dataflow itself (scatter the tasks with `exchange`, compute, gather them at
//! worker 0) is in `dataflow.rs`: one closure that every worker runs. Where the workers
//! live is configuration, not code, and that is this file: `Config::process(2)` is two
//! threads in this process; one process of several moves the same records over TCP, on
//! connections it is handed (`on_cluster`; the demo makes and checks them first). No GIL,
//! no pickling of functions: every process already has the code, only the records (plain
//! data, `Serialize`) travel.
//!
//! Watch: every run gives the sequential answer; N processes on this machine take about as
//! long as one process with N threads (the gap is the cost of going through TCP and of the
//! extra processes). On the timeline, the processes' `connect` bar is starting and
//! connecting, paid once per job, not per task. Copied, `main` runs the job on two threads,
//! then on two timely runtimes joined by TCP on 127.0.0.1 (two processes, in one).
//!
//! Run only this: cargo run -p distributed-demo -- cluster-map
//! Copy it: cargo add timely@0.32 tracing@0.1 && cargo add serde@1 --features derive
//! Copy beside it: dataflow.rs

use std::net::{TcpListener, TcpStream};

use timely::communication::Hooks;
use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
use timely::communication::allocator::{AllocatorBuilder, ProcessBuilder};
use timely::worker::Worker;
use timely::{Config, WorkerConfig};

// The job, from `dataflow.rs` beside this file. That file is a program of its own too:
// its `main` is not used here.
#[allow(dead_code)]
#[path = "dataflow.rs"]
pub mod dataflow;
use dataflow::{Job, pool_map};

/// Run `work` on `threads` workers in this process (`Pool(threads)`): records move between
/// the threads in memory. Each worker's result, in worker order.
pub fn on_threads<T, F>(threads: usize, work: F) -> Result<Vec<T>, String>
where
    T: Send + 'static,
    F: Fn(&mut Worker) -> T + Send + Sync + 'static,
{
    let config = if threads == 1 {
        Config::thread()
    } else {
        Config::process(threads)
    };
    timely::execute(config, work)?.join().into_iter().collect()
}

/// Run `work` as process `process` of a cluster, with `threads` workers here; records
/// travel between the processes over TCP. `sockets` holds a connection to every other
/// process, in process order (`None` at `process`). This process's workers' results.
///
/// `Config::Cluster { addresses, process, threads, .. }` would connect by itself from the
/// host file's addresses, but it takes any program that connects to its port for a peer:
/// two jobs started on the same ports would pair up and compute nonsense. So the peers
/// connect first and check that they run the same job (`cluster::connect_peers`), and hand
/// the checked connections to timely's own TCP layer here.
pub fn on_cluster<T, F>(
    sockets: Vec<Option<TcpStream>>,
    process: usize,
    threads: usize,
    work: F,
) -> Result<Vec<T>, String>
where
    T: Send + 'static,
    F: Fn(&mut Worker) -> T + Send + Sync + 'static,
{
    let hooks = Hooks::default();
    let local =
        ProcessBuilder::new_typed_vector(threads, hooks.refill.clone(), hooks.spill.clone());
    let (builders, guard) =
        initialize_networking_from_sockets(local, sockets, process, threads, hooks)
            .map_err(|e| format!("starting the network threads: {e}"))?;
    let builders = builders.into_iter().map(AllocatorBuilder::Tcp).collect();
    timely::execute::execute_from(builders, Box::new(guard), WorkerConfig::default(), work)?
        .join()
        .into_iter()
        .collect()
}

/// The twin of `if __name__ == "__main__":`: the same `pool_map` closure on two threads,
/// then as two processes of a cluster over TCP (here two timely runtimes in this process,
/// each on a thread of its own; on two machines each would run `on_cluster` with its
/// socket to the other). Each time worker 0 gathers the sequential answer.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let job = Job {
        n: 1_000_000,
        tasks: 16,
    };
    let compute = |n: u64| (0..n).map(|i| i * i).sum::<u64>();
    let expected = vec![(job.n - 1) * job.n * (2 * job.n - 1) / 6; job.tasks as usize];
    let check = |answers: &Option<Vec<u64>>| match answers {
        Some(answers) if *answers == expected => {
            Ok(format!("{} answers, each {}", answers.len(), expected[0]))
        }
        other => Err(format!("wrong answers: {other:?}")),
    };

    let threads = on_threads(2, move |worker| pool_map(worker, job, compute))?;
    println!(
        "Config::process(2), records in memory: {}",
        check(&threads[0])?
    );

    // Process 1 connects to process 0, as with a host file of two lines.
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let to_0 = TcpStream::connect(listener.local_addr()?)?;
    let (from_1, _) = listener.accept()?;
    let processes: Vec<_> = [vec![None, Some(from_1)], vec![Some(to_0), None]]
        .into_iter()
        .enumerate()
        .map(|(process, sockets)| {
            std::thread::spawn(move || {
                on_cluster(sockets, process, 1, move |worker| {
                    pool_map(worker, job, compute)
                })
            })
        })
        .collect();
    let mut gathered = Vec::new();
    for process in processes {
        gathered.push(process.join().map_err(|_| "a process panicked")??);
    }
    println!(
        "2 processes, records over TCP:        {}",
        check(&gathered[0][0])?
    );
    Ok(())
}

// --- run and measure ---

use std::process::Termination;
use std::time::Duration;

use anyhow::Context;
use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recorded, Recording};
use common::timing::{Secs, Stopwatch, speedup};
use common::workload::sum_of_squares;

use crate::cluster::{self, pool_map_rounds};
use crate::dataflow::JOB;

pub const SECTION: Section = Section::new(
    "cluster-map",
    "Pool.map(compute, tasks) -> Dask/Ray client.map",
    "scatter tasks to timely workers, gather the answers; threads vs processes",
    run,
)
.main(|| main().report())
.cpu_bound();

/// Each way runs the job this many times; the figure is the fastest round.
const ROUNDS: u32 = 3;
/// Processes within this much of threads count as "close": the goal of the job's size.
const CLOSE: f64 = 0.15;

/// One worker per usable core (an affinity mask or a CPU quota counts), at least 2: the
/// comparison needs two workers even where it cannot show a speedup.
fn workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(2, JOB.tasks as usize)
}

/// One run of each way, every answer checked; the times are the fastest rounds.
struct Figures {
    workers: usize,
    sequential: Duration,
    threads: Duration,
    cluster: cluster::ClusterRun,
    /// The sequential rounds and the threads' tasks, for the timeline.
    recorded: Recorded,
}

fn run() -> SectionResult {
    println!(
        "  pool.map(compute, [{}] * {}), compute(n) = sum(i * i for i in range(n))",
        JOB.n, JOB.tasks
    );
    println!("  each way {ROUNDS} times; times are the fastest round");
    report(&measure()?);
    Ok(())
}

fn measure() -> anyhow::Result<Figures> {
    let (job, workers) = (JOB, workers());
    let recording = Recording::start();
    // The sequential answer, the baseline.
    let mut answers = Vec::new();
    let mut sequential = Duration::MAX;
    for round in 0..ROUNDS {
        let _bar = tracing::info_span!("round", lane = "sequential", round).entered();
        let sw = Stopwatch::start();
        answers.extend((0..job.tasks).map(|_| sum_of_squares(job.n)));
        sequential = sequential.min(sw.elapsed());
    }
    job.check(&answers, ROUNDS)?;
    // Timely, one process, `workers` threads.
    let threads = on_threads(workers, move |worker| pool_map_rounds(worker, job, ROUNDS))
        .map_err(anyhow::Error::msg)
        .context("running the timely workers")?;
    let first = threads.first().context("no worker ran")?;
    job.check(first.answers.as_deref().unwrap_or_default(), ROUNDS)?;
    let recorded = recording.finish();
    // Timely, `workers` processes of one worker each, talking over TCP on 127.0.0.1.
    let cluster = cluster::launch(workers, 1, job, ROUNDS, cluster::DEADLINE)?;
    job.check(&cluster.answers, ROUNDS)?;
    Ok(Figures {
        workers,
        sequential,
        threads: first.took,
        cluster,
        recorded,
    })
}

fn report(f: &Figures) {
    let (workers, processes) = (f.workers, f.cluster.job_took);
    let threads_speedup = speedup(f.sequential, f.threads);
    figure("sequential, 1 thread", Secs(f.sequential));
    figure(
        format!("1 process x {workers} threads"),
        format!("{} ({threads_speedup:.2}x)", Secs(f.threads)),
    );
    figure(
        format!("{workers} processes x 1 thread"),
        format!(
            "{} ({:.2}x)",
            Secs(processes),
            speedup(f.sequential, processes)
        ),
    );
    figure(
        "  + starting, connecting",
        format!("{} launch to exit", Secs(f.cluster.started_took)),
    );
    let tcp_cost = processes.as_secs_f64() / f.threads.as_secs_f64() - 1.0;
    let (cost, goal) = (tcp_cost * 100.0, CLOSE * 100.0);
    figure(
        "processes vs threads",
        format!("{cost:+.0}% (the cost of TCP; goal: within {goal:.0}%)"),
    );

    let timeline = f.recorded.named(&["round"]).timeline(Lanes::Span);
    timeline.extend(cluster::bars(&f.recorded, |s| {
        format!("thread {}", s.field("worker").unwrap_or("?"))
    }));
    for report in &f.cluster.reports {
        timeline.extend(report.spans.iter().cloned());
    }
    timeline.print();

    let close = Evidence::new(
        tcp_cost <= CLOSE,
        format!("{workers} processes within {goal:.0}% of {workers} threads"),
        format!("{cost:+.0}%"),
    );
    takeaway_if(
        &Evidence::scaling(threads_speedup, workers)
            .and(close)
            .cpu(workers),
        format!(
            "{workers} timely workers use {workers} cores as threads or as processes over TCP: only the Config changes, and the answer is checked every time"
        ),
    );
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;
    use crate::dataflow::{Job, pool_map};

    const SMALL: Job = Job {
        n: 10_000,
        tasks: 7,
    };

    #[test]
    fn threads_give_the_sequential_answer_at_worker_0() {
        for threads in [1, 3] {
            let answers = on_threads(threads, |w| pool_map(w, SMALL, sum_of_squares)).unwrap();
            assert_eq!(answers.len(), threads, "one result per worker");
            SMALL.check(answers[0].as_deref().unwrap(), 1).unwrap();
            assert!(answers[1..].iter().all(Option::is_none));
        }
    }

    #[test]
    fn the_same_closure_runs_as_two_processes_over_tcp() {
        // Two "processes" of one cluster, here two threads of this test, each with its own
        // timely runtime: every record between them goes through a TCP connection.
        let listeners: Vec<_> = (0..2)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let addresses: Vec<String> = listeners
            .iter()
            .map(|l| l.local_addr().unwrap().to_string())
            .collect();
        drop(listeners);
        let peers: Vec<_> = (0..2)
            .map(|process| {
                let membership = cluster::Membership {
                    addresses: addresses.clone(),
                    process,
                    job: "test-job".into(),
                    wait: Duration::from_secs(20),
                    progress: false,
                };
                std::thread::spawn(move || {
                    let sockets = cluster::connect_peers(&membership).unwrap();
                    on_cluster(sockets, process, 1, |w| {
                        (w.index(), pool_map(w, SMALL, sum_of_squares))
                    })
                })
            })
            .collect();
        let results: Vec<_> = peers
            .into_iter()
            .map(|p| p.join().unwrap().unwrap())
            .collect();
        let (index, answers) = &results[0][0];
        assert_eq!(*index, 0, "process 0 holds worker 0");
        SMALL.check(answers.as_deref().unwrap(), 1).unwrap();
        assert_eq!(results[1][0].0, 1, "process 1 holds worker 1");
        assert!(results[1][0].1.is_none(), "only worker 0 gathers");
    }
}
