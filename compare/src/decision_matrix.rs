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
//! Where Rust differs: CPU-bound scenarios need no processes (no GIL), and processes pay
//! for copying their inputs (the images go to them through a pipe, as `Pool.map` pickles
//! them); SQLite runs in the process, so its two "database queries" rows are CPU work where
//! keeping a connection per worker matters more than the model; and a handful of downloads
//! costs the same under threads or tasks. A thousand waits and a hundred live connections
//! are where tokio's tasks (kilobytes each) beat threads (a stack each).
//!
//! The guide's database rows mean a server at the other end of a socket. Where PostgreSQL is
//! installed (or `DATABASE_URL` names a server), a row "Database queries (server)" runs
//! beside the SQLite ones: small queries that each wait on the server (`pg_sleep`), through
//! the blocking `postgres` crate on threads, tokio-postgres under a pool of 10 (bb8), or
//! both (`spawn_blocking`). The guide picks asyncio, with an async driver.
//!
//! Below: the guide's matrix as data (what the run checks). The code to copy, one function
//! per model, is in `models.rs`.
//!
//! Watch (alone, `main`): the guide's matrix, its scenarios by the model it picks. In
//! compare: the `≠` lines under the table (where the guide and the measurement part ways,
//! and by how much), the `≈` ones (a tie), the `?` ones (not decided in this run, and
//! why), the memory of `threads` on 1000 downloads, and on the server row how little apart
//! 10 blocking threads and the async pool of 10 are (the server sets the pace).
//!
//! Run only this: cargo run --release -p compare -- decision-matrix
//! Copy it: std only, nothing to add

/// The Python models the guide chooses between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    Threading,
    Multiprocessing,
    Asyncio,
}

/// The guide's decision matrix: a scenario and the model it picks.
pub const MATRIX: [(&str, Pick); 8] = [
    ("Download 5 files", Pick::Threading),
    ("Download 1000 files", Pick::Asyncio),
    ("Process 100 images", Pick::Multiprocessing),
    ("Web scraping", Pick::Asyncio),
    ("Number crunching", Pick::Multiprocessing),
    ("Database queries (few)", Pick::Threading),
    ("Database queries (many)", Pick::Asyncio),
    ("Real-time server", Pick::Asyncio),
];

/// The matrix by pick: which scenarios the guide sends to each Python model.
fn main() {
    for pick in [Pick::Threading, Pick::Multiprocessing, Pick::Asyncio] {
        let scenarios: Vec<&str> = MATRIX.iter().filter(|m| m.1 == pick).map(|m| m.0).collect();
        println!("{pick:?}: {}", scenarios.join(", "));
    }
}

// --- run and measure ---

use std::process::ExitCode;

use common::cli::{Section, SectionResult};

use crate::jobs::{Env, Job, SERVER_ROW, by};
use crate::models::PythonFamily;
use crate::session::{Options, PG_POOL, run_section};
use crate::table::Scenario;

pub const SECTION: Section<Options> = Section::with_options(
    "decision-matrix",
    "the decision matrix: 5 files -> threading ... real-time server -> asyncio",
    "every scenario measured; the guide's pick beside Rust's winner",
    run,
)
.cpu_bound()
.own_python()
.main(|| {
    main();
    ExitCode::SUCCESS
});

fn run(options: &Options) -> SectionResult {
    run_section(options, true, scenarios)
}

fn family(pick: Pick) -> PythonFamily {
    match pick {
        Pick::Threading => PythonFamily::Threading,
        Pick::Multiprocessing => PythonFamily::Multiprocessing,
        Pick::Asyncio => PythonFamily::Asyncio,
    }
}

pub fn scenarios(env: &Env) -> Vec<Scenario> {
    let server = env.pg.as_ref().map(|_| (SERVER_ROW, Pick::Asyncio));
    let many = MATRIX.iter().position(|m| m.0 == "Database queries (many)");
    let mut rows = MATRIX.to_vec();
    if let (Some(server), Some(k)) = (server, many) {
        rows.insert(k + 1, server);
    }
    rows.into_iter()
        .map(|(name, pick)| {
            let (workload, job) = job(env, name);
            // CPU-bound and database rows run every cell several times and keep the best
            // (other load disturbs them most; `choose` compares two of the server row's
            // cells closely); the other waiting rows once.
            let runs = match job {
                Job::Fetch { .. } | Job::Serve { .. } => 1,
                _ => env.pick(by(2, 2, 1)),
            };
            Scenario {
                section: SECTION.name,
                name,
                workload: match runs {
                    1 => workload,
                    n => format!("{workload}; best of {n}"),
                },
                python: family(pick),
                python_seconds: vec![],
                runs,
                job,
            }
        })
        .collect()
}

/// Scenario `name`'s workload in words, and its job at this run's sizes.
fn job(env: &Env, name: &str) -> (String, Job) {
    let fetch = |count, latency_ms, spread, size, parse| Job::Fetch {
        base: env.server.clone(),
        count,
        latency_ms,
        spread,
        size,
        parse,
    };
    match name {
        "Download 5 files" => {
            let wait = env.pick(by(100, 40, 1));
            let job = fetch(5, wait, false, 16 * 1024, false);
            (format!("5 downloads, {wait} ms each, 16 KiB"), job)
        }
        "Download 1000 files" => {
            let (many, wait) = env.pick(by((1000, 2), (250, 2), (10, 0)));
            let job = fetch(many, wait, false, 4 * 1024, false);
            (format!("{many} downloads, {wait} ms each, 4 KiB"), job)
        }
        "Web scraping" => {
            let (pages, wait) = env.pick(by((100, 10), (40, 5), (4, 1)));
            let words = format!(
                "{pages} pages, {wait}-{} ms each, 64 KiB, verified and parsed (words counted)",
                wait * 3
            );
            (words, fetch(pages, wait, true, 64 * 1024, true))
        }
        SERVER_ROW => server_job(env),
        "Real-time server" => {
            let (clients, messages, think_ms) = env.pick(by((100, 10, 1), (40, 5, 1), (3, 2, 0)));
            let words = format!("{clients} clients x {messages} echoed lines, {think_ms} ms apart");
            let job = Job::Serve {
                clients,
                messages,
                think_ms,
            };
            (words, job)
        }
        _ => work_job(env, name),
    }
}

/// The server row's job: small queries that each wait on the server.
fn server_job(env: &Env) -> (String, Job) {
    let (queries, sleep_ms) = env.pick(by((200, 5), (100, 5), (10, 1)));
    let (url, table, threads) = env.pg.as_ref().map_or_else(Default::default, |pg| {
        (pg.url.clone(), pg.table.clone(), pg.threads)
    });
    let threads = threads.min(queries as usize);
    let words = format!(
        "{queries} SELECTs by primary key on PostgreSQL, each waiting {sleep_ms} ms on the server (pg_sleep); connections opened inside the time: 1 sequential, {threads} threads, pools of {PG_POOL} (thread-pool, tokio, hybrid's spawn_blocking), 1 per process or rayon thread"
    );
    let job = Job::Pg {
        url,
        table,
        queries,
        sleep_ms,
        pool: PG_POOL,
        threads,
    };
    (words, job)
}

/// The jobs of the rows that work rather than wait: CPU, and SQLite in the process.
fn work_job(env: &Env, name: &str) -> (String, Job) {
    let db = |queries, scan| Job::Db {
        path: env.db.clone(),
        queries,
        rows: env.db_rows,
        scan,
    };
    let (few, many) = env.pick(by((8, 1000), (8, 300), (2, 10)));
    match name {
        "Process 100 images" => {
            // With --python: sizes Python finishes in a second or two (quick: under one).
            let (count, side) = env.pick_cpu(
                by((100, 512), (100, 256), (4, 256)),
                by((100, 256), (40, 256), (4, 256)),
            );
            let words = format!(
                "{count} RGB images of {side} x {side} pixels ({} KiB each): grayscale, then a 3 x 3 blur",
                side * side * 3 / 1024
            );
            let job = Job::Images {
                count,
                width: side,
                height: side,
            };
            (words, job)
        }
        "Number crunching" => {
            let n = env.pick_cpu(
                by(5_000_000, 1_000_000, 10_000),
                by(1_000_000, 300_000, 10_000),
            );
            let job = Job::Primes { n, chunks: 16 };
            (format!("count primes below {n}, 16 chunks"), job)
        }
        "Database queries (few)" => {
            let words = format!("{few} full-scan SELECTs, SQLite, {} rows", env.db_rows);
            (words, db(few, true))
        }
        _ => (
            format!("{many} indexed SELECTs of 100 rows, SQLite"),
            db(many, false),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::PythonFamily;

    #[test]
    fn every_scenario_of_the_guide_is_here_with_its_pick() {
        let env = Env::for_tests();
        let rows = scenarios(&env);
        let picks: Vec<_> = rows.iter().map(|r| (r.name, r.python.name())).collect();
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
        // The SQLite rows say so in the tables.
        let sqlite = crate::table::row_from_cells(&rows[6], vec![]);
        assert_eq!(
            sqlite.label(),
            "Database queries (many) (SQLite, in process)"
        );
        assert_eq!(
            crate::table::row_from_cells(&rows[7], vec![]).label(),
            "Real-time server"
        );
    }

    #[test]
    fn with_a_server_the_server_row_follows_the_sqlite_ones() {
        let mut env = Env::for_tests();
        env.pg = Some(crate::jobs::PgServer {
            url: "postgresql://postgres@/postgres?host=/tmp".into(),
            table: "t".into(),
            threads: 40,
        });
        let rows = scenarios(&env);
        let names: Vec<&str> = rows.iter().map(|r| r.name).collect();
        assert_eq!(names.len(), MATRIX.len() + 1);
        assert_eq!(
            names[6..9],
            ["Database queries (many)", SERVER_ROW, "Real-time server"]
        );
        let server = &rows[7];
        assert_eq!(
            server.python,
            PythonFamily::Asyncio,
            "the guide's async-driver row"
        );
        let Job::Pg {
            queries,
            threads,
            pool,
            ..
        } = server.job
        else {
            panic!("{:?}", server.job);
        };
        assert_eq!(
            (queries, threads, pool),
            (10, 10, PG_POOL),
            "threads capped by the queries"
        );
        assert!(!server.job.cpu_work(), "waits on a socket, not CPU work");
    }
}
