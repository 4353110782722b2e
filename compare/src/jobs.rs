//! The jobs every model runs: each is a list of items with a known total, so a cell's answer
//! is checked before its time is shown (a fast wrong answer is never shown).
//!
//! Not a lesson of its own: the models in `models.rs` are. The CPU-bound loops call
//! `common::workload` (optimised even in the dev profile); the I/O goes to the local
//! `common::fixture::TestServer` or to an SQLite file.

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use common::workload::{
    count_primes, primes_below_expected, split_range, sum_of_squares_expected, sum_of_squares_in,
    verify_file,
};
use serde::{Deserialize, Serialize};

/// One workload, in a form a child process can receive as JSON.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// `count` downloads of `size` bytes from `base` (the local server), each answered after
    /// `latency_ms` (times 1, 2 or 3 by id when `spread`), every body verified.
    Fetch {
        base: String,
        count: u64,
        latency_ms: u64,
        spread: bool,
        size: usize,
    },
    /// `sum(i * i for i in range(n))`, cut into `chunks` pieces.
    SumSquares { n: u64, chunks: u64 },
    /// How many primes below `n` (uneven: the last chunks cost most), in `chunks` pieces.
    Primes { n: u64, chunks: u64 },
    /// `count` independent "images" of `pixels` pixels each: a fixed amount of CPU per item.
    Images { count: u64, pixels: u64 },
    /// `queries` SELECTs on an SQLite file of `rows` rows: full scans when `scan`, else an
    /// index range of 100 rows each.
    Db {
        path: String,
        queries: u64,
        rows: u64,
        scan: bool,
    },
    /// A line-echo TCP server for `clients` connections, each sending `messages` lines with
    /// `think_ms` between them (the client side runs in the parent process).
    Serve {
        clients: u64,
        messages: u64,
        think_ms: u64,
    },
}

impl Job {
    /// How many items the models share out.
    pub fn items(&self) -> u64 {
        match *self {
            Job::Fetch { count, .. } => count,
            Job::SumSquares { chunks, .. } | Job::Primes { chunks, .. } => chunks,
            Job::Images { count, .. } => count,
            Job::Db { queries, .. } => queries,
            Job::Serve { clients, .. } => clients,
        }
    }

    /// The sum of all item answers (wrapping), known without running the job.
    pub fn expected(&self) -> anyhow::Result<u64> {
        Ok(match *self {
            Job::Fetch { count, size, .. } => count * size as u64,
            Job::SumSquares { n, .. } => sum_of_squares_expected(n),
            Job::Primes { n, .. } => primes_below_expected(n)
                .with_context(|| format!("no known prime count below {n}"))?,
            Job::Images { count, pixels } => sum_of_squares_expected(count * pixels),
            Job::Db {
                queries,
                rows,
                scan,
                ..
            } => (0..queries)
                .map(|q| db_expected(q, rows, scan))
                .fold(0, u64::wrapping_add),
            Job::Serve {
                clients, messages, ..
            } => clients * messages,
        })
    }

    /// The latency of download `id`.
    pub fn latency(&self, id: u64) -> Duration {
        match *self {
            Job::Fetch {
                latency_ms, spread, ..
            } => Duration::from_millis(latency_ms * if spread { 1 + id % 3 } else { 1 }),
            _ => Duration::ZERO,
        }
    }

    /// The URL of download `id` (latency and size ride along as query parameters).
    pub fn url(&self, id: u64) -> String {
        match self {
            Job::Fetch { base, size, .. } => format!(
                "{base}/files/{id}?latency_ms={}&size={size}",
                self.latency(id).as_millis()
            ),
            _ => String::new(),
        }
    }

    /// Check one downloaded body; its answer is its length.
    pub fn check_body(&self, id: u64, body: &[u8]) -> anyhow::Result<u64> {
        let Job::Fetch { size, .. } = *self else {
            bail!("not a download job");
        };
        ensure!(verify_file(id, size, body), "file {id}: wrong bytes");
        Ok(body.len() as u64)
    }

    /// Item `i` of a CPU-bound or database job, run on the calling thread. `db` is this
    /// worker's connection, opened on first use (an SQLite connection is `Send`, not `Sync`:
    /// one per thread).
    pub fn cpu_or_db_item(
        &self,
        i: u64,
        db: &mut Option<rusqlite::Connection>,
    ) -> anyhow::Result<u64> {
        Ok(match self {
            Job::SumSquares { n, chunks } => {
                sum_of_squares_in(split_range(*n, *chunks as usize)[i as usize].clone())
            }
            Job::Primes { n, chunks } => {
                count_primes(split_range(*n, *chunks as usize)[i as usize].clone())
            }
            Job::Images { pixels, .. } => sum_of_squares_in(i * pixels..(i + 1) * pixels),
            Job::Db {
                path, rows, scan, ..
            } => {
                if db.is_none() {
                    let conn = rusqlite::Connection::open_with_flags(
                        path,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                    )
                    .with_context(|| format!("opening {path}"))?;
                    *db = Some(conn);
                }
                let conn = db.as_ref().context("no connection")?;
                db_query(conn, i, *rows, *scan)?
            }
            Job::Fetch { .. } | Job::Serve { .. } => bail!("not a CPU or database job"),
        })
    }
}

/// The value stored in row `id`.
fn db_value(id: u64) -> u64 {
    id * 7_919 % 1_000
}

/// Which rows query `q` reads: a full scan keeps `id % 7 == q % 7`; a range takes 100 rows.
fn db_expected(q: u64, rows: u64, scan: bool) -> u64 {
    if scan {
        (0..rows).filter(|id| id % 7 == q % 7).map(db_value).sum()
    } else {
        let start = q * 100 % rows.max(1);
        (start..(start + 100).min(rows)).map(db_value).sum()
    }
}

fn db_query(conn: &rusqlite::Connection, q: u64, rows: u64, scan: bool) -> anyhow::Result<u64> {
    let total: i64 = if scan {
        conn.prepare_cached("SELECT coalesce(sum(v), 0) FROM t WHERE id % 7 = ?1")?
            .query_row([(q % 7) as i64], |r| r.get(0))?
    } else {
        let start = (q * 100 % rows.max(1)) as i64;
        conn.prepare_cached("SELECT coalesce(sum(v), 0) FROM t WHERE id >= ?1 AND id < ?2")?
            .query_row([start, start + 100], |r| r.get(0))?
    };
    Ok(total as u64)
}

/// Create the SQLite file the database jobs read: `rows` rows `(id, v)`.
pub fn create_db(path: &std::path::Path, rows: u64) -> anyhow::Result<()> {
    let mut conn =
        rusqlite::Connection::open(path).with_context(|| format!("creating {}", path.display()))?;
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL);")?;
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare("INSERT INTO t (id, v) VALUES (?1, ?2)")?;
        for id in 0..rows {
            insert.execute([id as i64, db_value(id) as i64])?;
        }
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_all(job: &Job) -> u64 {
        let mut db = None;
        (0..job.items())
            .map(|i| job.cpu_or_db_item(i, &mut db).unwrap())
            .fold(0, u64::wrapping_add)
    }

    #[test]
    fn cpu_jobs_add_up_to_their_known_answers() {
        for job in [
            Job::SumSquares {
                n: 10_007,
                chunks: 7,
            },
            Job::Primes {
                n: 10_000,
                chunks: 5,
            },
            Job::Images {
                count: 9,
                pixels: 1_000,
            },
        ] {
            assert_eq!(run_all(&job), job.expected().unwrap(), "{job:?}");
        }
    }

    #[test]
    fn database_queries_return_the_known_sums() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite");
        create_db(&path, 1_000).unwrap();
        for scan in [true, false] {
            let job = Job::Db {
                path: path.to_string_lossy().into_owned(),
                queries: 12,
                rows: 1_000,
                scan,
            };
            assert_eq!(run_all(&job), job.expected().unwrap(), "scan {scan}");
        }
    }

    #[test]
    fn downloads_spread_their_latency_and_carry_it_in_the_url() {
        let job = Job::Fetch {
            base: "http://h".into(),
            count: 3,
            latency_ms: 10,
            spread: true,
            size: 5,
        };
        assert_eq!(job.latency(4), Duration::from_millis(20));
        assert_eq!(job.url(2), "http://h/files/2?latency_ms=30&size=5");
        assert_eq!(job.expected().unwrap(), 15);
        assert!(
            job.check_body(1, &common::workload::file_bytes(1, 5))
                .is_ok()
        );
        assert!(
            job.check_body(1, &common::workload::file_bytes(2, 5))
                .is_err()
        );
    }

    #[test]
    fn the_local_prime_count_is_right() {
        use rayon::prelude::*;
        let job = Job::Primes {
            n: 5_000_000,
            chunks: 64,
        };
        let counted: u64 = (0..64)
            .into_par_iter()
            .map(|i| job.cpu_or_db_item(i, &mut None).unwrap())
            .sum();
        assert_eq!(counted, job.expected().unwrap());
    }

    #[test]
    fn a_prime_count_without_a_known_answer_is_an_error() {
        let job = Job::Primes { n: 12, chunks: 1 };
        assert!(job.expected().is_err());
    }
}
