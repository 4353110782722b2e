//! `Pool.map(work, tasks, chunksize=len(tasks) // n)` against `chunksize=1` -> fixed
//! chunks on N threads against rayon's work stealing, on tasks of uneven size.
//!
//! Python:
//!     def work(cost):
//!         return sum(i * i for i in range(cost))
//!
//!     costs = [50 * UNIT] * 4 + [UNIT] * 60                 # a few tasks 50x the rest
//!     if __name__ == "__main__":
//!         with Pool(n) as pool:
//!             pool.map(work, costs, chunksize=len(costs) // n)   # n fixed chunks
//!             pool.map(work, costs, chunksize=1)                 # a task to each idle worker
//!
//! Rust: fixed chunks are one scoped thread per slice (`costs.chunks(len / n)`): the thread
//! whose slice holds the heavy tasks works on while the others, done, sit idle. rayon
//! splits the work in halves that each thread keeps on its own deque; a thread with nothing
//! left steals a piece from another's. `with_max_len(1)` lets rayon split down to single
//! tasks, so the heavy ones spread over the threads: `chunksize=1`, without a message per
//! task. (rayon's default stops splitting at a few pieces per thread: heavy tasks side by
//! side can then stay together on one thread.)
//!
//! Watch: one lane per worker thread; with fixed chunks one lane stays busy long after the
//! others have stopped; with work stealing every lane is busy to the end, and the speedup
//! comes close to the number of threads. Both give the one-by-one results, in input order.
//!
//! Run only this: cargo run -p multiprocessing-demo -- work-stealing
//! Copy it: cargo add rayon@1 tracing@0.1

use std::time::Instant;

use rayon::prelude::*;

/// The guides' `compute`, as a task of a given cost: `sum(i * i for i in range(cost))`
/// (a `u64` wraps past 3.8 million).
pub fn work(cost: u64) -> u64 {
    (0..cost).fold(0u64, |sum, i| sum.wrapping_add(i.wrapping_mul(i)))
}

/// `tasks` costs: the first `heavy` are `factor` times `unit`, the rest are `unit`.
pub fn uneven(tasks: usize, heavy: usize, unit: u64, factor: u64) -> Vec<u64> {
    (0..tasks)
        .map(|i| if i < heavy { unit * factor } else { unit })
        .collect()
}

/// Task `i`, in a span: the timeline draws it in the lane of the thread that ran it.
fn task(i: usize, cost: u64, work: &impl Fn(u64) -> u64) -> u64 {
    let _span = tracing::info_span!("task", i, cost).entered();
    work(cost)
}

/// `pool.map(work, costs, chunksize=len(costs) // threads)`: one fixed slice per thread,
/// results in input order.
pub fn fixed_chunks(
    costs: &[u64],
    threads: usize,
    work: impl Fn(u64) -> u64 + Sync,
) -> std::io::Result<Vec<u64>> {
    let size = costs.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        let mut workers = Vec::new();
        for (k, chunk) in costs.chunks(size).enumerate() {
            let work = &work;
            let thread = std::thread::Builder::new().name(format!("fixed {k}"));
            workers.push(thread.spawn_scoped(s, move || {
                let tasks = chunk.iter().enumerate();
                let done: Vec<u64> = tasks.map(|(j, &c)| task(k * size + j, c, work)).collect();
                done
            })?);
        }
        let mut results = Vec::with_capacity(costs.len());
        for worker in workers {
            let done = worker.join();
            results.extend(done.map_err(|_| std::io::Error::other("a worker panicked"))?);
        }
        Ok(results)
    })
}

/// `pool.map(work, costs, chunksize=1)` by work stealing, on the current rayon pool: split
/// down to single tasks, each taken by whichever thread is free. Results in input order.
pub fn work_stealing(costs: &[u64], work: impl Fn(u64) -> u64 + Sync) -> Vec<u64> {
    costs
        .par_iter()
        .enumerate()
        .with_max_len(1)
        .map(|(i, &cost)| task(i, cost, &work))
        .collect()
}

/// The twin of `if __name__ == "__main__":`: 64 tasks, 4 of them 50 times the rest, one by
/// one, in fixed chunks, and by work stealing.
fn main() -> std::io::Result<()> {
    let threads = rayon::current_num_threads();
    let costs = uneven(64, 4, 100_000, 50);
    let start = Instant::now();
    let one_by_one: Vec<u64> = costs.iter().map(|&c| work(c)).collect();
    let alone = start.elapsed();
    println!("64 tasks (4 of them 50x), one by one: {alone:.2?}");
    let start = Instant::now();
    let fixed = fixed_chunks(&costs, threads, work)?;
    let took = start.elapsed();
    let speedup = alone.as_secs_f64() / took.as_secs_f64();
    println!(
        "{threads} fixed chunks: {took:.2?}, {speedup:.2}x; the same results: {}",
        fixed == one_by_one
    );
    let start = Instant::now();
    let stolen = work_stealing(&costs, work);
    let took = start.elapsed();
    let speedup = alone.as_secs_f64() / took.as_secs_f64();
    println!(
        "work stealing on {threads} threads: {took:.2?}, {speedup:.2}x; the same results: {}",
        stolen == one_by_one
    );
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{self, Pair, Twin, flags};
use common::timeline::{Lanes, Recorded};
use common::timing::{Secs, speedup};
use common::workload::{sum_of_squares, sum_of_squares_expected};

use crate::pool_map::Rounds;

pub const SECTION: Section = Section::new(
    "work-stealing",
    "Pool.map(f, tasks, chunksize=len // n) against chunksize=1",
    "uneven tasks: fixed chunks leave threads idle, rayon's work stealing keeps all busy",
    run,
)
.main(|| main().report())
.cpu_bound()
.twin(&TWIN);

/// `--python`: the same tasks with `Pool(n).map`, `chunksize=len // n` against `chunksize=1`.
const TWIN: Twin = Twin::new(
    "work_stealing.py",
    include_str!("../python/work_stealing.py"),
    &[
        "sequential_s",
        "fixed_s",
        "stealing_s",
        "fixed_speedup",
        "stealing_speedup",
    ],
);

const TASKS: usize = 64;
const HEAVY: usize = 4;
const FACTOR: u64 = 50;
/// One light task: a million squares (about a millisecond with `common`'s loop).
const UNIT: u64 = 1_000_000;
/// The unit of the side-by-side run with `--python`, whose loop is about a hundred times slower.
const UNIT_WITH_PYTHON: u64 = 40_000;

/// One by one, in fixed chunks and by work stealing, every result checked; three rounds,
/// the ways in turn.
fn measure(unit: u64, threads: usize, pool: &rayon::ThreadPool) -> anyhow::Result<[Rounds; 3]> {
    let costs = uneven(TASKS, HEAVY, unit, FACTOR);
    let want: Vec<u64> = costs.iter().map(|&c| sum_of_squares_expected(c)).collect();
    let mut rounds: [Rounds; 3] = Default::default();
    let [seq, fixed, stealing] = &mut rounds;
    for _ in 0..3 {
        let got: Vec<u64> = seq.time("", || costs.iter().map(|&c| sum_of_squares(c)).collect());
        anyhow::ensure!(got == want, "one by one: wrong results");
        let got = fixed.time("task", || fixed_chunks(&costs, threads, sum_of_squares));
        anyhow::ensure!(got? == want, "fixed chunks: wrong results");
        let got = stealing.time("task", || {
            pool.install(|| work_stealing(&costs, sum_of_squares))
        });
        anyhow::ensure!(got == want, "work stealing: wrong results");
    }
    Ok(rounds)
}

/// The share of the threads' time spent in tasks, from the first start to the last end.
fn busy_share(spans: &Recorded, threads: usize) -> f64 {
    spans.busy().as_secs_f64() / (spans.extent().as_secs_f64() * threads as f64).max(1e-9)
}

fn run() -> SectionResult {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|k| format!("stealer {k}"))
        .build()?;
    let [by_one, by_fixed, by_stealing] = measure(UNIT, threads, &pool)?;
    let [seq, fixed, stealing] = [&by_one, &by_fixed, &by_stealing].map(|r| r.best().0);
    println!(
        "  {TASKS} tasks of sum(i * i for i in range(cost)): {HEAVY} of {FACTOR} x {UNIT}, the rest {UNIT}; \
         {threads} thread{}, best of 3, every result checked",
        if threads == 1 { "" } else { "s" }
    );
    println!("  fixed chunks (one lane per thread: idle once its chunk is done):");
    by_fixed.spans.print(Lanes::Thread);
    println!("  work stealing (one lane per thread):");
    by_stealing.spans.print(Lanes::Thread);
    figure("one by one", Secs(seq));
    let (s_fixed, s_stealing) = (speedup(seq, fixed), speedup(seq, stealing));
    let (b_fixed, b_stealing) = (
        busy_share(&by_fixed.spans, threads),
        busy_share(&by_stealing.spans, threads),
    );
    for (name, t, s, busy) in [
        ("fixed chunks", fixed, s_fixed, b_fixed),
        ("work stealing", stealing, s_stealing, b_stealing),
    ] {
        figure(
            name,
            format!(
                "{}   speedup {s:.2}x, threads busy {:.0}% of the time",
                Secs(t),
                100.0 * busy
            ),
        );
    }
    if python::chosen().is_some() {
        side_by_side(threads, &pool)?;
    }
    let ahead = Evidence::new(
        s_stealing >= 1.3 * s_fixed,
        "work stealing's speedup at least 1.3x that of fixed chunks",
        format!("{s_stealing:.2}x against {s_fixed:.2}x"),
    );
    takeaway_if(
        &Evidence::scaling(s_stealing, threads).and(ahead),
        "uneven tasks in fixed chunks leave threads idle while one works on; work stealing hands each free thread the next task: every core busy to the end",
    );
    Ok(())
}

/// `--python`: the same tasks at Python's size, on both sides, side by side.
fn side_by_side(threads: usize, pool: &rayon::ThreadPool) -> anyhow::Result<()> {
    let rounds = measure(UNIT_WITH_PYTHON, threads, pool)?;
    let [(seq, s_seq), (fixed, s_fixed), (stealing, s_stealing)] =
        rounds.each_ref().map(Rounds::best);
    TWIN.compare(
        &flags(&[
            ("--tasks", &TASKS),
            ("--heavy", &HEAVY),
            ("--factor", &FACTOR),
            ("--unit", &UNIT_WITH_PYTHON),
            ("--workers", &threads),
            ("--rounds", &3),
        ]),
        &[
            Pair::secs(
                format!("one by one, unit {UNIT_WITH_PYTHON}"),
                "sequential_s",
                seq.as_secs_f64(),
            )
            .spread(s_seq),
            Pair::secs("fixed chunks", "fixed_s", fixed.as_secs_f64()).spread(s_fixed),
            Pair::secs(
                "work stealing / chunksize=1",
                "stealing_s",
                stealing.as_secs_f64(),
            )
            .spread(s_stealing),
            Pair::speedup("fixed chunks speedup", "fixed_speedup", speedup(seq, fixed))
                .spread(s_seq * s_fixed),
            Pair::speedup(
                "work stealing speedup",
                "stealing_speedup",
                speedup(seq, stealing),
            )
            .spread(s_seq * s_stealing),
        ]
        .map(Pair::cpu),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[test]
    fn uneven_puts_the_heavy_tasks_first() {
        assert_eq!(uneven(5, 2, 10, 50), [500, 500, 10, 10, 10]);
        assert_eq!(work(4), 14);
    }

    #[test]
    fn every_task_runs_once_with_the_right_result_both_ways() {
        // Costs of 1,000 and more: the recording may also see the other test's tasks (0, 1).
        let costs: Vec<u64> = (0..37).map(|i| 1_000 + 97 * i).collect();
        let want: Vec<u64> = costs.iter().map(|&c| sum_of_squares_expected(c)).collect();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for stealing in [false, true] {
            let mut rounds = Rounds::default();
            let results = rounds.time("task", || {
                if stealing {
                    pool.install(|| work_stealing(&costs, work))
                } else {
                    fixed_chunks(&costs, 3, work).unwrap()
                }
            });
            assert_eq!(results, want, "stealing: {stealing}");
            let spans = rounds
                .spans
                .filter(|s| s.field("cost").is_some_and(|c| c.len() >= 4));
            let mut ran: Vec<usize> = spans
                .spans()
                .iter()
                .filter_map(|s| s.field("i")?.parse().ok())
                .collect();
            ran.sort_unstable();
            assert_eq!(ran, (0..costs.len()).collect::<Vec<_>>(), "each task once");
            assert!(
                spans.lane_count(Lanes::Thread) <= 3,
                "three threads at most"
            );
            if !stealing {
                // Fixed chunks: task i runs on thread i / 13 (chunks of 13), always.
                assert!(spans.spans().iter().all(|s| {
                    let i: usize = s.field("i").unwrap().parse().unwrap();
                    s.thread == format!("fixed {}", i / 13)
                }));
            }
        }
    }

    #[test]
    fn a_free_thread_takes_the_task_a_busy_one_has_not_reached() {
        // Task 0 waits (bounded) until task 1 has run. On two threads with work stealing the
        // free thread steals task 1; with one fixed chunk, task 1 would wait behind task 0.
        let done = AtomicBool::new(false);
        let wait_or_signal = |cost: u64| {
            if cost == 1 {
                done.store(true, Ordering::SeqCst);
                return 1;
            }
            let start = std::time::Instant::now();
            while !done.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(10) {
                std::thread::yield_now();
            }
            u64::from(done.load(Ordering::SeqCst))
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        assert_eq!(
            pool.install(|| work_stealing(&[0, 1], wait_or_signal)),
            [1, 1]
        );
    }

    #[test]
    fn the_python_twin_prints_its_fields() {
        let args = [
            "--tasks",
            "8",
            "--heavy",
            "2",
            "--factor",
            "5",
            "--unit",
            "1000",
            "--workers",
            "2",
            "--rounds",
            "1",
        ];
        if let Some(figures) = TWIN.run_for_test(&args) {
            assert!(figures["stealing_s"].as_f64().unwrap() > 0.0);
        }
    }
}
