//! The guide's decision matrix (download 5 files -> threading, 1000 files -> asyncio,
//! images and number crunching -> multiprocessing, ...) -> every scenario measured under
//! seven Rust models, the guide's pick beside the measured winner.
//!
//! Python (the guide's advice, in code):
//!     with ThreadPoolExecutor() as ex: ex.map(download, urls[:5])       # 5 files
//!     await asyncio.gather(*(download(u) for u in urls))                # 1000 files
//!     with Pool() as p: p.map(process_image, images)                    # 100 images
//!     with Pool() as p: p.map(crunch, chunks)                           # number crunching
//!
//! Where Rust differs: CPU-bound scenarios need no processes (no GIL); SQLite runs in the
//! process, so "database queries" are CPU work where keeping a connection per worker
//! matters more than the model; and a handful of downloads costs the same under threads or
//! tasks. A thousand waits and a hundred live connections are where tokio's tasks
//! (kilobytes each) beat threads (a stack each).
//!
//! Watch: the `≠` lines under the table (where the guide and the measurement part ways, and
//! by how much), the `≈` ones (a tie), and the memory of `threads` on 1000 downloads.
//!
//! Run only this: cargo run --release -p compare -- decision-matrix

use crate::Env;
use crate::cells::Scenario;
use crate::jobs::Job;

pub const NAME: &str = "decision-matrix";

pub fn scenarios(env: &Env) -> Vec<Scenario> {
    // CPU-bound and database rows run every cell several times and keep the best (other
    // load disturbs them most); the waiting rows once.
    let runs = |job: &Job| match job {
        Job::Fetch { .. } | Job::Serve { .. } => 1,
        _ => env.pick(2, 2, 1),
    };
    let s = |name, workload: String, python, job: Job| Scenario {
        section: NAME,
        name,
        workload: match runs(&job) {
            1 => workload,
            n => format!("{workload}; best of {n}"),
        },
        python,
        python_seconds: vec![],
        runs: runs(&job),
        job,
    };
    let fetch = |count, latency_ms, spread, size| Job::Fetch {
        base: env.server.clone(),
        count,
        latency_ms,
        spread,
        size,
    };
    let few = env.pick(100, 40, 1);
    let many = env.pick(1000, 250, 10);
    let (images, pixels) = env.pick((100, 10_000_000), (100, 2_500_000), (4, 1_000));
    let (pages, page_ms) = env.pick((100, 10), (40, 5), (4, 1));
    let primes = env.pick(5_000_000, 1_000_000, 10_000);
    let (few_q, many_q) = env.pick((8, 1000), (8, 300), (2, 10));
    let (clients, messages, think) = env.pick((100, 10, 1), (40, 5, 1), (3, 2, 0));
    let db = |queries, scan| Job::Db {
        path: env.db.clone(),
        queries,
        rows: env.db_rows,
        scan,
    };
    vec![
        s(
            "Download 5 files",
            format!("5 downloads, {few} ms each, 16 KiB"),
            "threading",
            fetch(5, few, false, 16 * 1024),
        ),
        s(
            "Download 1000 files",
            format!("{many} downloads, 2 ms each, 4 KiB"),
            "asyncio",
            fetch(many, if env.tiny() { 0 } else { 2 }, false, 4 * 1024),
        ),
        s(
            "Process 100 images",
            format!("{images} images x {pixels} pixels of arithmetic"),
            "multiprocessing",
            Job::Images {
                count: images,
                pixels,
            },
        ),
        s(
            "Web scraping",
            format!(
                "{pages} pages, {page_ms}-{} ms each, 64 KiB, verified",
                page_ms * 3
            ),
            "asyncio",
            fetch(pages, page_ms, true, 64 * 1024),
        ),
        s(
            "Number crunching",
            format!("count primes below {primes}, 16 chunks"),
            "multiprocessing",
            Job::Primes {
                n: primes,
                chunks: 16,
            },
        ),
        s(
            "Database queries (few)",
            format!("{few_q} full-scan SELECTs, SQLite, {} rows", env.db_rows),
            "threading",
            db(few_q, true),
        ),
        s(
            "Database queries (many)",
            format!("{many_q} indexed SELECTs of 100 rows, SQLite"),
            "asyncio",
            db(many_q, false),
        ),
        s(
            "Real-time server",
            format!("{clients} clients x {messages} echoed lines, {think} ms apart"),
            "asyncio",
            Job::Serve {
                clients,
                messages,
                think_ms: think,
            },
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_of_the_guide_is_here_with_its_pick() {
        let env = Env::for_tests();
        let rows = scenarios(&env);
        let picks: Vec<_> = rows.iter().map(|r| (r.name, r.python)).collect();
        assert_eq!(
            picks,
            [
                ("Download 5 files", "threading"),
                ("Download 1000 files", "asyncio"),
                ("Process 100 images", "multiprocessing"),
                ("Web scraping", "asyncio"),
                ("Number crunching", "multiprocessing"),
                ("Database queries (few)", "threading"),
                ("Database queries (many)", "asyncio"),
                ("Real-time server", "asyncio"),
            ]
        );
        for r in &rows {
            assert!(r.job.expected().is_ok(), "{}", r.name);
        }
    }
}
