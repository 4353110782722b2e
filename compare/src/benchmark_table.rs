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
//! tie at this size; rayon and processes, sized to the cores, wait only two at a time.
//!
//! Watch: the ★ on each row, the `≠` where Rust's winner is not the guide's pick, and the
//! peak-memory line (processes add up their workers).
//!
//! Run only this: cargo run --release -p compare -- benchmark-table
//! (the models themselves are in `models.rs`; each cell is a child process, see `cells.rs`)

use crate::Env;
use crate::cells::Scenario;
use crate::jobs::Job;

pub const NAME: &str = "benchmark-table";

pub fn scenarios(env: &Env) -> Vec<Scenario> {
    let (files, latency) = env.pick((40, 25), (16, 15), (3, 1));
    let n = env.pick(1_000_000_000, 250_000_000, 100_000);
    vec![
        Scenario {
            section: NAME,
            name: "I/O-bound",
            workload: format!("{files} downloads from the local server, {latency} ms each, 16 KiB"),
            python: "asyncio",
            python_seconds: vec![
                ("threading", 1.2),
                ("multiprocessing", 1.5),
                ("asyncio", 1.1),
            ],
            runs: 1,
            job: Job::Fetch {
                base: env.server.clone(),
                count: files,
                latency_ms: latency,
                spread: false,
                size: 16 * 1024,
            },
        },
        Scenario {
            section: NAME,
            name: "CPU-bound",
            workload: format!(
                "sum(i * i for i in range({n})), in 16 chunks; best of {}",
                env.pick(2, 2, 1)
            ),
            python: "multiprocessing",
            python_seconds: vec![
                ("threading", 4.5),
                ("multiprocessing", 1.3),
                ("asyncio", 5.0),
            ],
            runs: env.pick(2, 2, 1),
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
        assert_eq!(rows[0].python, "asyncio", "the guide's fastest I/O figure");
        assert_eq!(
            rows[1].python, "multiprocessing",
            "the guide's fastest CPU figure"
        );
        for r in &rows {
            assert!(r.job.expected().is_ok());
            assert_eq!(r.python_seconds.len(), 3);
        }
    }
}
