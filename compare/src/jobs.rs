//! The jobs every model runs: each is a list of items with a known total, so a cell's answer
//! is checked before its time is shown (a fast wrong answer is never shown). Also the sizes
//! and fixtures of one run ([`Env`]) and the core count.
//!
//! Not a lesson of its own: the models in `models.rs` are. The CPU-bound loops call
//! `common::workload` (optimised even in the dev profile); the I/O goes to the local
//! `common::fixture::TestServer` or to an SQLite file.

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use bb8_postgres::PostgresConnectionManager;
use common::workload::{
    count_primes, file_bytes, primes_below_expected, split_range, sum_of_squares_expected,
    sum_of_squares_in, verify_file,
};
use serde::{Deserialize, Serialize};
use tokio_postgres::NoTls;
use tokio_postgres::types::Type;

/// bb8's pool of tokio-postgres connections (a server job's async cell).
pub type PgPool = bb8::Pool<PostgresConnectionManager<NoTls>>;

/// The number of cores this process may use (`os.cpu_count()`, but respecting an affinity
/// mask or a CPU quota).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// How big the jobs are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sizes {
    Full,
    Quick,
    Tiny,
}

impl Sizes {
    pub fn name(self) -> &'static str {
        match self {
            Sizes::Full => "full",
            Sizes::Quick => "quick",
            Sizes::Tiny => "tiny",
        }
    }
}

/// One value per size.
#[derive(Clone, Copy, Debug)]
pub struct BySize<T> {
    pub full: T,
    pub quick: T,
    pub tiny: T,
}

/// Sizes and shared fixtures for one run.
pub struct Env {
    pub sizes: Sizes,
    /// `http://127.0.0.1:PORT` of the local file server.
    pub server: String,
    /// The SQLite file the database rows read.
    pub db: String,
    pub db_rows: u64,
    /// `--python`: every row also runs in Python, so CPU-bound rows take [`Env::pick_cpu`]'s
    /// Python sizes.
    pub python: bool,
    /// The PostgreSQL server of the "Database queries (server)" row, when there is one.
    pub pg: Option<PgServer>,
}

/// The decision matrix's row measured against a PostgreSQL server, beside the guide's
/// SQLite ones.
pub const SERVER_ROW: &str = "Database queries (server)";

/// A PostgreSQL server a run's cells may use: its URL, the table made there for them, and
/// the most threads (a connection each) a thread-per-query cell may start, within the
/// connections it had free.
#[derive(Clone, Debug)]
pub struct PgServer {
    pub url: String,
    pub table: String,
    pub threads: usize,
}

impl Env {
    /// The value for this run's sizes.
    pub fn pick<T>(&self, by: BySize<T>) -> T {
        match self.sizes {
            Sizes::Full => by.full,
            Sizes::Quick => by.quick,
            Sizes::Tiny => by.tiny,
        }
    }

    /// A CPU-bound row's size: `rust`, or with `--python` the `python` one, which Python
    /// (one core's worth, under the GIL) finishes in a second or two (quick: under one).
    /// The whole row then uses it, its Rust cells too: one job, two languages.
    pub fn pick_cpu<T>(&self, rust: BySize<T>, python: BySize<T>) -> T {
        self.pick(if self.python { python } else { rust })
    }

    /// How many rows the SQLite file has at these sizes.
    pub fn db_rows_for(sizes: Sizes) -> u64 {
        match sizes {
            Sizes::Full => 200_000,
            Sizes::Quick => 50_000,
            Sizes::Tiny => 1_000,
        }
    }

    #[cfg(test)]
    pub fn for_tests() -> Env {
        Env {
            sizes: Sizes::Tiny,
            server: "http://127.0.0.1:9".into(),
            db: "unused.sqlite".into(),
            db_rows: 1_000,
            python: false,
            pg: None,
        }
    }
}

/// `(a, b, c)` by size, in the order full, quick, tiny.
pub fn by<T>(full: T, quick: T, tiny: T) -> BySize<T> {
    BySize { full, quick, tiny }
}

/// One workload, in a form a child process can receive as JSON.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// `count` downloads of `size` bytes from `base` (the local server), each answered after
    /// `latency_ms` (times 1, 2 or 3 by id when `spread`), every body verified; when
    /// `parse`, each page is also parsed (its words counted: a small CPU part per page).
    Fetch {
        base: String,
        count: u64,
        latency_ms: u64,
        spread: bool,
        size: usize,
        #[serde(default)]
        parse: bool,
    },
    /// `sum(i * i for i in range(n))`, cut into `chunks` pieces.
    SumSquares { n: u64, chunks: u64 },
    /// How many primes below `n` (uneven: the last chunks cost most), in `chunks` pieces.
    Primes { n: u64, chunks: u64 },
    /// `count` RGB images of `width` x `height` pixels (made before the clock starts, as a
    /// Python list of images would be), each turned to grayscale and blurred (3 x 3); processes get
    /// theirs through a pipe, as `Pool.map` pickles them.
    Images { count: u64, width: u64, height: u64 },
    /// `queries` SELECTs on an SQLite file of `rows` rows: full scans when `scan`, else an
    /// index range of 100 rows each.
    Db {
        path: String,
        queries: u64,
        rows: u64,
        scan: bool,
    },
    /// `queries` lookups by primary key in `table` (of [`PG_ROWS`] rows) on the PostgreSQL
    /// server at `url`, each waiting `sleep_ms` on the server (`pg_sleep`): waits on a
    /// socket, as a web backend's queries are. The pools hold `pool` connections; a thread
    /// per query stops at `threads` threads, a connection each.
    Pg {
        url: String,
        table: String,
        queries: u64,
        sleep_ms: u64,
        pool: usize,
        threads: usize,
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
            Job::Db { queries, .. } | Job::Pg { queries, .. } => queries,
            Job::Serve { clients, .. } => clients,
        }
    }

    /// A CPU-bound job: its figures need every core.
    pub fn is_cpu(&self) -> bool {
        matches!(
            self,
            Job::SumSquares { .. } | Job::Primes { .. } | Job::Images { .. }
        )
    }

    /// Work on the CPU inside the process: computation, or SQLite (a library in the
    /// process, not a server): a busy machine holds its verdicts.
    pub fn cpu_work(&self) -> bool {
        self.is_cpu() || matches!(self, Job::Db { .. })
    }

    /// The sum of all item answers (wrapping), known without running the job.
    pub fn expected(&self) -> anyhow::Result<u64> {
        Ok(match *self {
            Job::Fetch {
                count, size, parse, ..
            } => (0..count)
                .map(|id| page_answer(&file_bytes(id, size), parse))
                .sum(),
            Job::SumSquares { n, .. } => sum_of_squares_expected(n),
            Job::Primes { n, .. } => primes_below_expected(n).unwrap_or_else(|| sieve_count(n)),
            Job::Images {
                count,
                width,
                height,
            } => {
                ensure!(
                    width.is_multiple_of(256) && width > 0,
                    "image width {width} is not a multiple of 256"
                );
                // Every row holds each value of the 256-step pattern width / 256 times, and
                // each wrap-around `[1 2 1]` pass multiplies the sum by exactly 4.
                let per_cycle: u64 = (0..=255u8).map(|v| u64::from(gray(pattern(v)))).sum();
                count * height * (width / 256) * per_cycle * 16
            }
            Job::Db {
                queries,
                rows,
                scan,
                ..
            } => (0..queries)
                .map(|q| db_expected(q, rows, scan))
                .fold(0, u64::wrapping_add),
            Job::Pg { queries, .. } => (0..queries).map(|i| pg_value(pg_id(i))).sum(),
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

    /// Check one downloaded body; its answer is its length, or its word count when parsed.
    pub fn check_body(&self, id: u64, body: &[u8]) -> anyhow::Result<u64> {
        let Job::Fetch { size, parse, .. } = *self else {
            bail!("not a download job");
        };
        ensure!(verify_file(id, size, body), "file {id}: wrong bytes");
        Ok(page_answer(body, parse))
    }

    /// The images of an image job, made before the clock starts (empty for other jobs).
    pub fn images(&self) -> Vec<Vec<u8>> {
        match *self {
            Job::Images {
                count,
                width,
                height,
            } => (0..count).map(|i| make_image(i, width, height)).collect(),
            _ => Vec::new(),
        }
    }

    /// The bytes of one image of this job.
    pub fn image_len(&self) -> usize {
        match *self {
            Job::Images { width, height, .. } => (width * height * 3) as usize,
            _ => 0,
        }
    }

    /// Item `i` of a CPU-bound or database job, run on the calling thread. `db` is this
    /// worker's connection, opened on first use (an SQLite connection is `Send`, not `Sync`:
    /// one per thread); `image` is item `i`'s image for an image job.
    pub fn cpu_or_db_item(
        &self,
        i: u64,
        db: &mut Option<rusqlite::Connection>,
        image: Option<&[u8]>,
    ) -> anyhow::Result<u64> {
        Ok(match self {
            Job::SumSquares { n, chunks } => {
                sum_of_squares_in(split_range(*n, *chunks as usize)[i as usize].clone())
            }
            Job::Primes { n, chunks } => {
                count_primes(split_range(*n, *chunks as usize)[i as usize].clone())
            }
            Job::Images { width, .. } => {
                let image = image.with_context(|| format!("no pixels for image {i}"))?;
                ensure!(image.len() == self.image_len(), "image {i}: wrong size");
                process_image(image, *width as usize)
            }
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
            Job::Fetch { .. } | Job::Serve { .. } | Job::Pg { .. } => {
                bail!("not a CPU or SQLite job")
            }
        })
    }
}

/// How many primes below `n`, by the sieve of Eratosthenes: an answer found another way
/// than the trial division the models run, for sizes `common::workload` has no figure for.
fn sieve_count(n: u64) -> u64 {
    let n = n as usize;
    let mut composite = vec![false; n];
    let mut count = 0;
    for i in 2..n {
        if !composite[i] {
            count += 1;
            for m in (i.saturating_mul(i)..n).step_by(i) {
                composite[m] = true;
            }
        }
    }
    count
}

/// A page's answer: its length, or with `parse` the number of words in it (runs of ASCII
/// letters and digits), found by a pass over every byte.
fn page_answer(body: &[u8], parse: bool) -> u64 {
    if !parse {
        return body.len() as u64;
    }
    let mut words = 0;
    let mut in_word = false;
    for &b in body {
        let letter = b.is_ascii_alphanumeric();
        if letter && !in_word {
            words += 1;
        }
        in_word = letter;
    }
    words
}

/// The colour of pattern value `v`: a function of `v` alone, so every row's sum is known.
fn pattern(v: u8) -> [u8; 3] {
    [v, v.wrapping_mul(7), 255 - v]
}

/// ITU-R 601 luma in integers: `(77 R + 150 G + 29 B) / 256`.
fn gray([r, g, b]: [u8; 3]) -> u8 {
    ((77 * u32::from(r) + 150 * u32::from(g) + 29 * u32::from(b)) >> 8) as u8
}

/// Image `i`: `width` x `height` RGB bytes, pixel (x, y) coloured by `(x + 3y + 7i) % 256`.
fn make_image(i: u64, width: u64, height: u64) -> Vec<u8> {
    let mut pixels = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            pixels.extend_from_slice(&pattern(((x + 3 * y + 7 * i) % 256) as u8));
        }
    }
    pixels
}

thread_local! {
    /// The grayscale and half-blurred planes, kept per thread: allocating them for every
    /// image would time the allocator (whose main-thread heap gives pages back and faults
    /// them in again) more than the pixels.
    static PLANES: std::cell::RefCell<(Vec<u32>, Vec<u32>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// Grayscale, then a 3 x 3 Gaussian blur (`[1 2 1]` across, then down, wrapping around
/// the edges); returns the sum of the blurred values (the item's answer).
#[inline(never)]
fn process_image(rgb: &[u8], width: usize) -> u64 {
    let height = rgb.len() / (width * 3);
    PLANES.with_borrow_mut(|(gray_plane, across)| {
        gray_plane.clear();
        gray_plane.extend(
            rgb.chunks_exact(3)
                .map(|px| u32::from(gray([px[0], px[1], px[2]]))),
        );
        across.resize(gray_plane.len(), 0);
        for (row, out) in gray_plane
            .chunks_exact(width)
            .zip(across.chunks_exact_mut(width))
        {
            for x in 0..width {
                out[x] = row[(x + width - 1) % width] + 2 * row[x] + row[(x + 1) % width];
            }
        }
        let mut total = 0u64;
        for y in 0..height {
            let (up, down) = ((y + height - 1) % height, (y + 1) % height);
            for x in 0..width {
                let v =
                    across[up * width + x] + 2 * across[y * width + x] + across[down * width + x];
                total += u64::from(v);
            }
        }
        total
    })
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

/// The rows of a server job's table.
pub const PG_ROWS: u64 = 10_000;

/// The id query `i` of a server job looks up: spread over the table.
fn pg_id(i: u64) -> i32 {
    (i * 48_271 % PG_ROWS + 1) as i32
}

/// The value stored in row `id` of a server job's table.
fn pg_value(id: i32) -> u64 {
    id as u64 * 7_919 % 1_000_003
}

/// A blocking connection to a server job's server, with its query prepared on it.
pub struct PgConn {
    client: postgres::Client,
    query: postgres::Statement,
}

impl Job {
    /// A server job's query: one row by primary key, after `sleep_ms` on the server.
    fn pg_sql(&self) -> String {
        match self {
            Job::Pg {
                table, sleep_ms, ..
            } => format!(
                "SELECT value FROM {table}, pg_sleep({}) WHERE id = $1",
                *sleep_ms as f64 / 1000.0
            ),
            _ => String::new(),
        }
    }

    fn pg_url(&self) -> anyhow::Result<&str> {
        match self {
            Job::Pg { url, .. } => Ok(url),
            _ => bail!("not a server job"),
        }
    }

    /// Query `i` of a server job on a blocking connection, opened on first use.
    pub fn pg_item(&self, conn: &mut Option<PgConn>, i: u64) -> anyhow::Result<u64> {
        if conn.is_none() {
            let mut client = postgres::Client::connect(self.pg_url()?, postgres::NoTls)
                .context("connecting to PostgreSQL")?;
            let query = client.prepare(&self.pg_sql())?;
            *conn = Some(PgConn { client, query });
        }
        let PgConn { client, query } = conn.as_mut().context("no connection")?;
        let value: i64 = client.query_one(&*query, &[&pg_id(i)])?.get(0);
        Ok(value as u64)
    }

    /// A pool of the job's `pool` async connections (bb8), opened on first use, with no
    /// ping before each query (as hybrid-demo database-server). Call it inside a tokio
    /// runtime: bb8 spawns its upkeep task there.
    pub fn pg_pool(&self) -> anyhow::Result<PgPool> {
        let Job::Pg { pool, .. } = self else {
            bail!("not a server job");
        };
        let manager = PostgresConnectionManager::new_from_stringlike(self.pg_url()?, NoTls)
            .context("reading the PostgreSQL URL")?;
        let pool = bb8::Pool::builder()
            .max_size(u32::try_from(*pool)?)
            .test_on_check_out(false);
        Ok(pool.build_unchecked(manager))
    }

    /// Query `i` of a server job on a connection of `pool`: `async with pool.acquire()`.
    /// The parameter's type is given, so parse, bind and execute make one round trip; the
    /// server parses the query each time, nothing beside its milliseconds of `pg_sleep`
    /// (hybrid-demo database-server's short lookups prepare once per connection instead).
    pub async fn pg_item_async(&self, pool: &PgPool, i: u64) -> anyhow::Result<u64> {
        let client = pool.get().await?;
        let id = [(&pg_id(i) as _, Type::INT4)];
        let value: i64 = client.query_typed_one(&self.pg_sql(), &id).await?.get(0);
        Ok(value as u64)
    }
}

/// Make a server job's table on the server at `url` (dropped first if a killed run left
/// it), and say how many connections the server has free for the cells.
pub fn create_pg_table(url: &str, table: &str) -> anyhow::Result<usize> {
    let mut admin = postgres::Client::connect(url, postgres::NoTls)?;
    admin.batch_execute(&format!(
        "DROP TABLE IF EXISTS {table};
         CREATE UNLOGGED TABLE {table} (id int PRIMARY KEY, value bigint NOT NULL);
         INSERT INTO {table}
             SELECT i, i::bigint * 7919 % 1000003 FROM generate_series(1, {PG_ROWS}) AS i;
         ANALYZE {table};"
    ))?;
    let free: i64 = admin
        .query_one(
            "SELECT current_setting('max_connections')::bigint
                 - current_setting('superuser_reserved_connections')::bigint
                 - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')",
            &[],
        )?
        .get(0);
    Ok(free.max(0) as usize)
}

/// Drop a server job's table.
pub fn drop_pg_table(url: &str, table: &str) -> anyhow::Result<()> {
    let mut admin = postgres::Client::connect(url, postgres::NoTls)?;
    admin.batch_execute(&format!("DROP TABLE IF EXISTS {table}"))?;
    Ok(())
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
        let images = job.images();
        (0..job.items())
            .map(|i| {
                let image = images.get(i as usize).map(Vec::as_slice);
                job.cpu_or_db_item(i, &mut db, image).unwrap()
            })
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
                width: 512,
                height: 5,
            },
        ] {
            assert_eq!(run_all(&job), job.expected().unwrap(), "{job:?}");
        }
    }

    #[test]
    fn images_are_real_pixel_buffers() {
        let job = Job::Images {
            count: 2,
            width: 256,
            height: 2,
        };
        let images = job.images();
        assert_eq!(images.len(), 2);
        assert_eq!(images[0].len(), 256 * 2 * 3);
        assert_ne!(images[0], images[1], "each image its own pixels");
        assert!(
            Job::Images {
                count: 1,
                width: 100,
                height: 1
            }
            .expected()
            .is_err()
        );
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
            parse: false,
        };
        assert_eq!(job.latency(4), Duration::from_millis(20));
        assert_eq!(job.url(2), "http://h/files/2?latency_ms=30&size=5");
        assert_eq!(job.expected().unwrap(), 15);
        assert!(job.check_body(1, &file_bytes(1, 5)).is_ok());
        assert!(job.check_body(1, &file_bytes(2, 5)).is_err());
    }

    #[test]
    fn a_parsed_page_answers_its_word_count() {
        assert_eq!(page_answer(b"ab, c!d  ", true), 3);
        assert_eq!(page_answer(b"ab, c!d  ", false), 9);
        let job = Job::Fetch {
            base: "http://h".into(),
            count: 4,
            latency_ms: 0,
            spread: false,
            size: 4096,
            parse: true,
        };
        let total: u64 = (0..4)
            .map(|id| job.check_body(id, &file_bytes(id, 4096)).unwrap())
            .sum();
        assert_eq!(total, job.expected().unwrap());
        assert!(total > 0 && total < 4 * 4096);
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
            .map(|i| job.cpu_or_db_item(i, &mut None, None).unwrap())
            .sum();
        assert_eq!(counted, job.expected().unwrap());
    }

    #[test]
    fn the_sieve_agrees_with_the_known_prime_counts() {
        for n in [0, 1, 2, 3, 10, 100, 1_000, 10_000, 100_000] {
            assert_eq!(
                Some(sieve_count(n)),
                primes_below_expected(n).or(match n {
                    0..=2 => Some(0),
                    3 => Some(1),
                    _ => None,
                }),
                "{n}"
            );
        }
        let job = Job::Primes { n: 300, chunks: 3 };
        assert_eq!(job.expected().unwrap(), 62);
        assert_eq!(run_all(&job), 62);
    }
}
