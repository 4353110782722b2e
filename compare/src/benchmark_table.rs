//! The guide's benchmark table (threading / multiprocessing / asyncio on an I/O-bound and a
//! CPU-bound job, seconds and memory) -> the same two jobs under seven Rust models.
//!
//! Python (the three columns of the guide's table):
//!     with ThreadPoolExecutor() as ex: list(ex.map(download, urls))   # threading
//!     with Pool() as pool: pool.map(sum_squares, chunks)               # multiprocessing
//!     await asyncio.gather(*(fetch(url) for url in urls))              # asyncio
//! The guide's example seconds (threading / multiprocessing / asyncio): I/O-bound 1.2 / 1.5
//! / 1.1, CPU-bound 4.5 / 1.3 / 5.0; memory "low / high / low".
//!
//! Where Rust differs: without a GIL the CPU-bound column is won (or tied) by threads in one
//! process (rayon, a thread pool, even tokio's workers), and processes pay start-up and
//! their own memory for no gain. On I/O, threads and tokio tasks both wait together and
//! tie at this size; rayon and processes, sized to the cores, wait only as many at a time
//! as the machine has cores.
//!
//! Below: the guide's table as data (what the run checks). The code to copy, one function
//! per model, is in `models.rs`; each cell runs in a child process (`cells.rs`).
//!
//! Watch (alone, `main`): the guide's two jobs in their smallest Rust form, one item after
//! another and then a thread per item: the waits overlap, and without a GIL so do the CPU
//! chunks (on every core). In compare: the ★ on each row, the `≠` where Rust's winner is
//! not the guide's pick (`?` where the run cannot decide), the peak-memory line (processes
//! add up their workers), and the CPU row's "no GIL" line, printed as fact only when the
//! run shows the cores at work.
//!
//! Run only this: cargo run --release -p compare -- benchmark-table
//! Copy it: std only, nothing to add

/// A row of the guide's benchmark table: a job and the guide's example seconds per model.
pub struct GuideRow {
    pub scenario: &'static str,
    pub threading: f64,
    pub multiprocessing: f64,
    pub asyncio: f64,
}

impl GuideRow {
    /// The guide's fastest column, the model it recommends for this job.
    pub fn fastest(&self) -> &'static str {
        let columns = [
            ("threading", self.threading),
            ("multiprocessing", self.multiprocessing),
            ("asyncio", self.asyncio),
        ];
        columns
            .into_iter()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map_or("threading", |(name, _)| name)
    }
}

/// The guide's table.
pub const GUIDE: [GuideRow; 2] = [
    GuideRow {
        scenario: "I/O-bound",
        threading: 1.2,
        multiprocessing: 1.5,
        asyncio: 1.1,
    },
    GuideRow {
        scenario: "CPU-bound",
        threading: 4.5,
        multiprocessing: 1.3,
        asyncio: 5.0,
    },
];

/// Both jobs, sequential and a thread per item: 16 waits of 15 ms (the "downloads"), and
/// `sum(i * i for i in range(8_000_000))` in 16 chunks.
fn main() {
    let chunk = |i: u64| (i * 500_000..(i + 1) * 500_000).fold(0u64, |a, x| a.wrapping_add(x * x));
    let wait = |_: u64| {
        std::thread::sleep(std::time::Duration::from_millis(15));
        1
    };
    let jobs: [&(dyn Fn(u64) -> u64 + Sync); 2] = [&wait, &chunk];
    for (row, job) in GUIDE.iter().zip(jobs) {
        let start = std::time::Instant::now();
        let one_by_one = (0..16).map(job).fold(0, u64::wrapping_add);
        let sequential = start.elapsed();
        let start = std::time::Instant::now();
        let together = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16).map(|i| s.spawn(move || job(i))).collect();
            let answers = handles
                .into_iter()
                .map(|h| h.join().expect("a thread panicked"));
            answers.fold(0, u64::wrapping_add)
        });
        let threads = start.elapsed();
        assert_eq!(one_by_one, together, "the same answer both ways");
        println!(
            "{}: the guide's threading {} s, multiprocessing {} s, asyncio {} s (fastest: {})",
            row.scenario,
            row.threading,
            row.multiprocessing,
            row.asyncio,
            row.fastest()
        );
        println!("  Rust: one after another {sequential:.1?}, a thread per item {threads:.1?}");
    }
}

// --- run and measure ---

use std::process::ExitCode;

use common::cli::{Section, SectionResult};

use crate::jobs::{Env, Job, by};
use crate::models::PythonFamily;
use crate::session::{Options, run_section};
use crate::table::Scenario;

pub const SECTION: Section<Options> = Section::with_options(
    "benchmark-table",
    "the benchmark table: threading / multiprocessing / asyncio, I/O- and CPU-bound",
    "two jobs under seven models: seconds and peak memory, fastest marked",
    run,
)
.cpu_bound()
.own_python()
.main(|| {
    main();
    ExitCode::SUCCESS
});

fn run(options: &Options) -> SectionResult {
    run_section(options, false, scenarios)
}

fn family(name: &str) -> PythonFamily {
    match name {
        "multiprocessing" => PythonFamily::Multiprocessing,
        "asyncio" => PythonFamily::Asyncio,
        _ => PythonFamily::Threading,
    }
}

fn guide_row(row: &GuideRow) -> (PythonFamily, Vec<(PythonFamily, f64)>) {
    (
        family(row.fastest()),
        vec![
            (PythonFamily::Threading, row.threading),
            (PythonFamily::Multiprocessing, row.multiprocessing),
            (PythonFamily::Asyncio, row.asyncio),
        ],
    )
}

pub fn scenarios(env: &Env) -> Vec<Scenario> {
    let (files, latency) = env.pick(by((40, 25), (16, 15), (3, 1)));
    // With --python: a size Python's threads finish in about 2 s (quick: 0.6 s).
    let n = env.pick_cpu(
        by(1_000_000_000, 500_000_000, 100_000),
        by(25_000_000, 8_000_000, 100_000),
    );
    let runs = env.pick(by(2, 2, 1));
    let [io, cpu] = &GUIDE;
    let (io_pick, io_seconds) = guide_row(io);
    let (cpu_pick, cpu_seconds) = guide_row(cpu);
    vec![
        Scenario {
            section: SECTION.name,
            name: io.scenario,
            workload: format!("{files} downloads from the local server, {latency} ms each, 16 KiB"),
            python: io_pick,
            python_seconds: io_seconds,
            runs: 1,
            job: Job::Fetch {
                base: env.server.clone(),
                count: files,
                latency_ms: latency,
                spread: false,
                size: 16 * 1024,
                parse: false,
            },
        },
        Scenario {
            section: SECTION.name,
            name: cpu.scenario,
            workload: format!("sum(i * i for i in range({n})), in 16 chunks; best of {runs}"),
            python: cpu_pick,
            python_seconds: cpu_seconds,
            runs,
            job: Job::SumSquares { n, chunks: 16 },
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_follow_the_guide_and_have_known_answers() {
        let env = Env::for_tests();
        let rows = scenarios(&env);
        assert_eq!(
            rows.iter().map(|r| r.name).collect::<Vec<_>>(),
            ["I/O-bound", "CPU-bound"]
        );
        assert_eq!(
            rows[0].python,
            PythonFamily::Asyncio,
            "the guide's fastest I/O figure"
        );
        assert_eq!(
            rows[1].python,
            PythonFamily::Multiprocessing,
            "the guide's fastest CPU figure"
        );
        for r in &rows {
            assert!(r.job.expected().is_ok());
            assert_eq!(r.python_seconds.len(), 3);
        }
    }
}
