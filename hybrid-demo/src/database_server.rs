//! `asyncpg.create_pool` + `asyncio.gather` against a PostgreSQL server -> tokio-postgres
//! under a pool (bb8), pipelining on one connection, and the blocking `postgres` crate on a
//! pool of threads.
//!
//! Python:
//!     pool = await asyncpg.create_pool(dsn, min_size=10, max_size=10)
//!     async def fetch(i):
//!         async with pool.acquire() as conn:
//!             return await conn.fetchval("SELECT value FROM demo_items WHERE id = $1", i)
//!     values = await asyncio.gather(*(fetch(i) for i in ids))
//!     # the guide's thread-pool way: psycopg, one connection per worker thread
//!     with ThreadPoolExecutor(max_workers=10) as threads:
//!         values = list(threads.map(fetch_blocking, ids))
//!
//! A query to a database server is a wait on a socket, not work in this process (SQLite,
//! the `database` section, is the other kind). Four ways to send many small queries: one
//! connection, one query at a time; the blocking `postgres` crate on 10 threads with a
//! connection each; tokio-postgres under a pool of 10 connections (bb8, the twin of
//! asyncpg's pool); and tokio-postgres *pipelining* on one connection: it sends the
//! next queries before the first answer is back, which asyncpg does not do. The job: 3,000
//! lookups by primary key in a table of 100,000 rows, then 200 that each wait 5 ms on the
//! server (`pg_sleep`), standing in for slow queries.
//!
//! When is a pool of threads as good? With a few connections and short queries: 10
//! threads blocked on their sockets cost little, and the server sets the pace either way.
//! It stops being as good when thousands wait at once (a web server with a request per
//! client, each needing the database): a thread each is thousands of stacks and wake-ups,
//! where a waiting future is a small struct with no stack of its own, and 10 pooled
//! connections serve them all. Pipelining saves round trips, not server time: one
//! connection is one server process, so slow queries sent on it still run in turn.
//!
//! Rust: `postgres::Client` is tokio-postgres driven by a small runtime of its own: it
//! blocks, so call it from plain threads (or `spawn_blocking`), never from async code.
//! A tokio-postgres `Client` is `Sync`: tasks share it by reference, and every query they
//! start at once goes out on the one socket, in order, which is the pipelining. The pool
//! is bb8 with bb8-postgres (its tokio-postgres manager): small crates with no tracing and
//! no proc macros of their own, where deadpool-postgres brings tracing's attribute macros
//! into the build. Two settings make it asyncpg's pool: `min_idle(n)` opens all n
//! connections in `build` (`min_size=n`), and `test_on_check_out(false)` stops bb8 from
//! pinging each connection before handing it out (a second round trip per lookup). bb8
//! keeps no prepared statements, so `Prepared` wraps bb8-postgres's manager and prepares
//! the lookup once on each new connection, as asyncpg's statement cache does and as the
//! threads do: then every lookup is one round trip, parsed once per connection.
//! tokio-postgres's `query_typed_one` (the parameter's type given, no prepare) is one round
//! trip too, with no manager of one's own, but the server parses and plans every query
//! anew: run beside this design, it took a quarter to a third off the fast job's queries/s.
//!
//! Copied alone, `main` needs a server: it reads `DATABASE_URL` (and says how to get one
//! when it is unset: `docker run`, or `cargo run -p hybrid-demo -- database-server
//! --lesson`, which starts a private cluster and hands its URL to this `main`). It creates
//! a table `demo_items` there, and drops it at the end.
//!
//! Watch: per job and design, queries per second, p50/p99 of one query's time on its
//! connection, the most queries in flight, and for the fast job the client's memory (the
//! peak resident memory gained while connecting and running, in a pass of its own without
//! the timeline: gathering 3,000 futures at once costs a few MiB, 10 mostly idle thread
//! stacks far less); then a timeline of the slow job's queries in flight, 10 pooled
//! connections above 1 pipelined one. Short lookups on a local socket hardly wait: the CPU
//! the client and the server spend on each query sets the pace, and the async pool's client
//! does more per query (a checkout, a task's wake-up) than a thread blocked on its own
//! connection, so it may trail the threads there (the `threads : pool` line). The slow job
//! is where waiting shows: 10 connections finish about 10 times sooner, threads or tasks
//! alike, and the pipelined one no sooner than one at a time. Without `DATABASE_URL`
//! the section starts its own PostgreSQL (its start-up printed apart, outside the timed
//! figures); without PostgreSQL it prints one line and the demo's other sections run.
//!
//! Run only this: cargo run -p hybrid-demo -- database-server
//! Copy it: cargo add anyhow@1 bb8@0.9 bb8-postgres@0.9 futures@0.3 postgres@0.19 tokio-postgres@0.7 tracing@0.1 && cargo add tokio@1 --features full

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use bb8::ManageConnection;
use bb8_postgres::PostgresConnectionManager;
use futures::future::try_join_all;
use futures::{StreamExt, TryStreamExt};
use tokio_postgres::{Client, NoTls, Statement};
use tracing::Instrument;

/// The two jobs: a lookup by primary key, and the same behind 5 ms of server-side wait.
pub const FAST: &str = "SELECT value FROM demo_items WHERE id = $1";
pub const SLOW: &str = "SELECT value FROM demo_items, pg_sleep(0.005) WHERE id = $1";
pub const ROWS: i32 = 100_000;

/// Each row's value, known here too, so that every answer can be checked.
pub fn value(id: i32) -> i64 {
    i64::from(id) * 7919 % 1_000_003
}

/// `n` ids spread over the table.
pub fn ids(n: usize) -> Vec<i32> {
    (0..n as i64)
        .map(|k| (k * 48_271 % i64::from(ROWS)) as i32 + 1)
        .collect()
}

/// The table, filled by the server in one statement.
pub fn create_table(client: &mut postgres::Client) -> Result<(), postgres::Error> {
    client.batch_execute(
        "DROP TABLE IF EXISTS demo_items;
         CREATE UNLOGGED TABLE demo_items (id int PRIMARY KEY, value bigint NOT NULL);
         INSERT INTO demo_items
             SELECT i, i::bigint * 7919 % 1000003 FROM generate_series(1, 100000) AS i;
         ANALYZE demo_items;",
    )
}

/// `n` blocking connections.
pub fn connect_blocking(url: &str, n: usize) -> Result<Vec<postgres::Client>, postgres::Error> {
    (0..n)
        .map(|_| postgres::Client::connect(url, postgres::NoTls))
        .collect()
}

/// Look the ids up one after another on one connection; the values added up.
pub fn lookups(
    client: &mut postgres::Client,
    sql: &str,
    ids: impl Iterator<Item = i32>,
) -> Result<i64, postgres::Error> {
    let query = client.prepare(sql)?; // parsed once, run many times
    let mut sum = 0;
    for id in ids {
        let _query = tracing::info_span!("query").entered();
        sum += client.query_one(&query, &[&id])?.get::<_, i64>(0);
    }
    Ok(sum)
}

/// The blocking driver on a thread per connection, each taking the next id until none is
/// left: `ThreadPoolExecutor(N)` with a psycopg connection per thread.
pub fn on_threads(
    clients: &mut [postgres::Client],
    sql: &str,
    ids: &[i32],
) -> Result<i64, postgres::Error> {
    let next = AtomicUsize::new(0);
    let next_id = || ids.get(next.fetch_add(1, Ordering::Relaxed)).copied();
    std::thread::scope(|s| {
        let workers: Vec<_> = clients
            .iter_mut()
            .map(|client| s.spawn(|| lookups(client, sql, std::iter::from_fn(next_id))))
            .collect();
        let sums = workers
            .into_iter()
            .map(|w| w.join().expect("a worker panicked"));
        sums.sum()
    })
}

/// bb8-postgres's connection manager, with one statement prepared on each new connection.
pub struct Prepared {
    manager: PostgresConnectionManager<NoTls>,
    sql: String,
}

impl ManageConnection for Prepared {
    type Connection = (Client, Statement);
    type Error = tokio_postgres::Error;

    async fn connect(&self) -> Result<Self::Connection, Self::Error> {
        let client = self.manager.connect().await?;
        let query = client.prepare(&self.sql).await?; // parsed once per connection
        Ok((client, query))
    }

    async fn is_valid(&self, conn: &mut Self::Connection) -> Result<(), Self::Error> {
        self.manager.is_valid(&mut conn.0).await
    }

    fn has_broken(&self, conn: &mut Self::Connection) -> bool {
        self.manager.has_broken(&mut conn.0)
    }
}

/// A pool of `n` async connections, `sql` prepared on each, all opened now: asyncpg's
/// `create_pool(min_size=n)`.
pub async fn connect_pool(url: &str, n: u32, sql: &str) -> anyhow::Result<bb8::Pool<Prepared>> {
    let manager = PostgresConnectionManager::new_from_stringlike(url, NoTls)?;
    let pool = bb8::Pool::builder()
        .max_size(n)
        .min_idle(n) // opened by `build`, not on first use
        .test_on_check_out(false) // no ping before each lookup
        .build(Prepared {
            manager,
            sql: sql.to_owned(),
        })
        .await?;
    Ok(pool)
}

/// Every lookup at once under the pool: `gather` over `pool.acquire()`. The futures wait
/// for a free connection; at most `n` queries are on the server at a time.
pub async fn pooled(pool: &bb8::Pool<Prepared>, ids: &[i32]) -> anyhow::Result<i64> {
    let lookups = ids.iter().map(|id| async move {
        let conn = pool.get().await?; // back to the pool when dropped
        let (client, query) = &*conn;
        let row = client
            .query_one(query, &[id])
            .instrument(tracing::info_span!("query"))
            .await?;
        anyhow::Ok(row.get::<_, i64>(0))
    });
    Ok(try_join_all(lookups).await?.into_iter().sum())
}

/// One async connection; its I/O runs in a task of its own.
pub async fn connect_one(url: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("connection closed: {e}");
        }
    });
    Ok(client)
}

/// Up to `depth` lookups in flight on one connection: each is sent as soon as it starts,
/// and the answers come back in the order sent.
pub async fn pipelined(
    client: &Client,
    sql: &str,
    ids: &[i32],
    depth: usize,
) -> Result<i64, tokio_postgres::Error> {
    let query = &client.prepare(sql).await?;
    futures::stream::iter(ids)
        .map(|id| {
            let lookup = async move { client.query_one(query, &[id]).await };
            lookup.instrument(tracing::info_span!("query"))
        })
        .buffer_unordered(depth)
        .try_fold(0, |sum, row| async move { Ok(sum + row.get::<_, i64>(0)) })
        .await
}

/// Both jobs, four designs each, on `DATABASE_URL`.
fn main() -> anyhow::Result<()> {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        println!(
            "DATABASE_URL is not set: point it at a PostgreSQL server where a table may be made, e.g.\n  \
             docker run -d -e POSTGRES_HOST_AUTH_METHOD=trust -p 5432:5432 postgres\n  \
             DATABASE_URL=postgres://postgres@127.0.0.1/postgres cargo run\n\
             (cargo run -p hybrid-demo -- database-server --lesson starts a private server for it)"
        );
        return Ok(());
    };
    let mut admin = postgres::Client::connect(&url, postgres::NoTls)?;
    create_table(&mut admin)?;
    let runtime = tokio::runtime::Runtime::new()?; // for the async designs only
    for (job, sql, n) in [("fast", FAST, 1000), ("slow", SLOW, 100)] {
        let ids = ids(n);
        let want: i64 = ids.iter().map(|&id| value(id)).sum();
        let show = |design: &str, start: Instant, sum: i64| {
            let took = start.elapsed();
            let ok = if sum == want { "right" } else { "WRONG" };
            println!("{job}: {design:<26} {n} queries in {took:>9.1?}, sum {ok}");
        };
        let mut clients = connect_blocking(&url, 10)?;
        let start = Instant::now();
        show(
            "one at a time",
            start,
            lookups(&mut clients[0], sql, ids.iter().copied())?,
        );
        let start = Instant::now();
        show(
            "10 threads, blocking",
            start,
            on_threads(&mut clients, sql, &ids)?,
        );
        runtime.block_on(async {
            let pool = connect_pool(&url, 10, sql).await?;
            let start = Instant::now();
            show("async pool of 10", start, pooled(&pool, &ids).await?);
            let client = connect_one(&url).await?;
            let start = Instant::now();
            show(
                "pipelined, 1 connection",
                start,
                pipelined(&client, sql, &ids, 10).await?,
            );
            anyhow::Ok(())
        })?;
    }
    admin.batch_execute("DROP TABLE demo_items")?;
    Ok(())
}

// --- run and measure ---

use std::process::Termination;
use std::time::Duration;

use anyhow::Context;
use common::cli::{Role, Section, SectionResult};
use common::memory::{current_rss, peak_rss, reset_peak};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{Pair, Twin, flags};
use common::timeline::{Lanes, Recorded, Recording, Span, Timeline, now_us};
use common::timing::{Bytes, Secs, rate, timed};
use tokio::runtime::Runtime;

use pg_server::{NOT_FOUND, Server};

pub const SECTION: Section = Section::new(
    "database-server",
    "asyncpg pool + gather / psycopg in a thread pool",
    "PostgreSQL: blocking threads, an async pool, pipelining",
    run,
)
.main(|| Server::lesson(ROLE.name, || main().report()))
.twin(&TWIN);

/// The lesson's `main` in a child process that has `DATABASE_URL` (see [`Server::lesson`]).
pub const ROLE: Role = Role::new("database-server-lesson", |_| main());

/// `--python`: the same jobs on the same server: psycopg one at a time and on a
/// `ThreadPoolExecutor(10)`, asyncpg's pool under `gather`, each when installed.
const TWIN: Twin = Twin::new(
    "database_server.py",
    include_str!("../python/database_server.py"),
    &[],
);

const QUERIES: usize = 3000;
const SLOW_QUERIES: usize = 200;
/// The server-side wait in [`SLOW`], for the twin.
const SLEEP_S: f64 = 0.005;
/// Connections of the pools, and queries in flight on the pipelined one.
const POOL: usize = 10;
/// The designs, in the order measured.
const DESIGNS: [&str; 4] = [
    "one at a time",
    "10 threads, blocking",
    "async pool of 10",
    "pipelined, 1 connection",
];

/// One design's run of one job.
struct Design {
    qps: f64,
    p50: Duration,
    p99: Duration,
    /// Peak resident memory gained while it connected and ran, when nothing was recorded.
    memory: Option<u64>,
    at_once: usize,
    queries: Recorded,
}

struct Job {
    name: &'static str,
    designs: [Design; 4],
}

fn run() -> SectionResult {
    let Some(server) = Server::find()? else {
        println!("{NOT_FOUND}");
        return Ok(());
    };
    figure("server", server.describe());
    let mut admin = server.connect()?;
    let (made, took) = timed(|| create_table(&mut admin));
    made.context("creating demo_items")?;
    figure("table of 100,000 rows", format!("made in {}", Secs(took)));
    let runtime = Runtime::new()?;
    let url = server.url();
    // The fast job once unrecorded, for each design's client memory alone (a timeline's
    // records take memory too); it also warms the connections, plans and table pages.
    let unrecorded = measure(&runtime, url, "fast", FAST, QUERIES, false)?;
    let mut fast = measure(&runtime, url, "fast", FAST, QUERIES, true)?;
    for (d, alone) in fast.designs.iter_mut().zip(unrecorded.designs) {
        d.memory = alone.memory;
    }
    let slow = measure(&runtime, url, "slow", SLOW, SLOW_QUERIES, true)?;
    report(&fast);
    report(&slow);
    chart(&slow);
    conclude(&fast, &slow);
    compare_python(url, [&fast, &slow])?;
    admin.batch_execute("DROP TABLE demo_items")?;
    drop((admin, runtime));
    server.stop();
    Ok(())
}

/// The four designs on one job, their queries recorded or not; every sum checked.
fn measure(
    rt: &Runtime,
    url: &str,
    name: &'static str,
    sql: &str,
    n: usize,
    record: bool,
) -> anyhow::Result<Job> {
    let ids = ids(n);
    let want: i64 = ids.iter().map(|&id| value(id)).sum();
    let label = |k: usize| format!("{name} job, {}", DESIGNS[k]);
    let at = |k: usize| Plan {
        label: label(k),
        want,
        n,
        record,
    };
    let blocking = |k| connect_blocking(url, k).map_err(anyhow::Error::from);
    let one = design(
        at(0),
        || blocking(1),
        |c| Ok(lookups(&mut c[0], sql, ids.iter().copied())?),
    )?;
    let threads = design(at(1), || blocking(POOL), |c| Ok(on_threads(c, sql, &ids)?))?;
    let pool = design(
        at(2),
        || rt.block_on(connect_pool(url, POOL as u32, sql)),
        |p| rt.block_on(pooled(p, &ids)),
    )?;
    let piped = design(
        at(3),
        || Ok(rt.block_on(connect_one(url))?),
        |c| Ok(rt.block_on(pipelined(c, sql, &ids, POOL))?),
    )?;
    let designs = [one, threads, pool, piped];
    Ok(Job { name, designs })
}

/// One design's run: what it is called, the sum its `n` values must add up to, and
/// whether its `query` spans are recorded (then its memory is not shown).
struct Plan {
    label: String,
    want: i64,
    n: usize,
    record: bool,
}

/// Connect (untimed), run (timed), check the sum.
fn design<C>(
    plan: Plan,
    connect: impl FnOnce() -> anyhow::Result<C>,
    run: impl FnOnce(&mut C) -> anyhow::Result<i64>,
) -> anyhow::Result<Design> {
    let Plan {
        label,
        want,
        n,
        record,
    } = plan;
    reset_peak();
    let before = current_rss().unwrap_or(0);
    let mut connections = connect().context(label.clone())?;
    let recording = record.then(Recording::start);
    let started = Instant::now();
    let sum = run(&mut connections).context(label.clone())?;
    let took = started.elapsed();
    let queries = recording.map_or_else(Recorded::default, |r| r.finish().named(&["query"]));
    drop(connections);
    let memory = peak_rss().unwrap_or(0).saturating_sub(before);
    anyhow::ensure!(
        sum == want,
        "{label}: the values add up to {sum}, not {want}"
    );
    let mut times: Vec<Duration> = queries.spans().iter().map(|s| s.duration()).collect();
    times.sort_unstable();
    let at = |q: f64| {
        times
            .get(((times.len() as f64 * q) as usize).min(times.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Ok(Design {
        qps: rate(n as u64, took),
        p50: at(0.50),
        p99: at(0.99),
        memory: (!record).then_some(memory),
        at_once: queries.most_at_once(),
        queries,
    })
}

fn report(job: &Job) {
    let n = job.designs[0].queries.len();
    println!(
        "  {} job: {n} queries, sums checked; per query on its connection:",
        job.name
    );
    for (d, label) in job.designs.iter().zip(DESIGNS) {
        figure(
            label,
            format!(
                "{:>6.0}/s  p50 {}  p99 {}  {} in flight{}",
                d.qps,
                Secs(d.p50),
                Secs(d.p99),
                d.at_once,
                d.memory
                    .map_or(String::new(), |m| format!("  client +{}", Bytes(m)))
            ),
        );
    }
}

/// The slow job's in-flight queries on one time axis, each design from its own start: 10
/// pooled connections, then 10 pipelined on one (its lanes drawn below the pool's).
fn chart(job: &Job) {
    let chart = Timeline::new();
    let mut zero = now_us();
    for k in [2, 3] {
        let spans = job.designs[k].queries.timeline(Lanes::Packed).spans();
        let first = spans.first().map_or(0, |s| s.start_us);
        let name = ["", "", "pool", "pipe"][k];
        chart.extend(spans.iter().map(|s| Span {
            lane: s.lane.replace("slot", name),
            label: String::new(),
            start_us: zero + (s.start_us - first),
            end_us: zero + (s.end_us - first),
        }));
        // Lanes are drawn in the order they start: the pipelined ones after every pool lane.
        zero += spans.get(POOL - 1).map_or(1, |s| s.start_us - first + 1);
    }
    println!(
        "  {} job, queries in flight from each design's start: {} (pool N), {} (pipe N)",
        job.name, DESIGNS[2], DESIGNS[3]
    );
    chart.print();
}

fn conclude(fast: &Job, slow: &Job) {
    let [one, threads, pool, piped] = &slow.designs;
    let (gain_t, gain_p) = (threads.qps / one.qps, pool.qps / one.qps);
    let min = POOL as f64 / 2.0;
    takeaway_if(
        &Evidence::new(
            gain_t >= min && gain_p >= min,
            format!("both pools of {POOL} at least {min}x one at a time on the slow job"),
            format!("threads {gain_t:.1}x, async pool {gain_p:.1}x"),
        ),
        format!(
            "slow queries: {POOL} connections wait on the server together ({gain_t:.1}x and {gain_p:.1}x one at a time), threads or tasks alike"
        ),
    );
    let apart = (threads.qps / pool.qps).max(pool.qps / threads.qps);
    takeaway_if(
        &Evidence::new(
            apart <= 1.5,
            "threads and the async pool within 1.5x of each other on the slow job",
            format!("{apart:.2}x apart"),
        ),
        format!(
            "with {POOL} connections and slow queries a pool of threads is as good as async: the server sets the pace"
        ),
    );
    // Short queries: the CPU each design spends per query sets the pace, so which leads
    // is a figure of this machine, not a claim.
    figure(
        "fast job, threads : pool",
        format!(
            "{:.2}x the queries/s",
            fast.designs[1].qps / fast.designs[2].qps
        ),
    );
    // Short queries: one pipelined connection against the pool of 10; slow ones: against
    // one query at a time (one server process runs them in turn either way).
    let (vs_pool, slow_gain) = (
        fast.designs[3].qps / fast.designs[2].qps,
        piped.qps / one.qps,
    );
    takeaway_if(
        &Evidence::new(
            vs_pool >= 1.0 / 1.5 && slow_gain <= 1.3,
            "pipelining within 1.5x of the pool of 10 (or ahead) on the fast job, at most 1.3x one at a time on the slow one",
            format!("{vs_pool:.2}x the pool (fast), {slow_gain:.2}x one at a time (slow)"),
        ),
        format!(
            "one pipelined connection comes within 1.5x of {POOL} on short queries ({vs_pool:.2}x their throughput): it saves round trips, not server time, so slow queries on it still run in turn ({slow_gain:.2}x one at a time)"
        ),
    );
}

/// The twin's queries per second beside designs 0-2 (psycopg, psycopg, asyncpg), per job.
const PYTHON_FIELDS: [[&str; 3]; 2] = [
    ["fast_one_qps", "fast_threads_qps", "fast_pool_qps"],
    ["slow_one_qps", "slow_threads_qps", "slow_pool_qps"],
];

/// `--python`: the twin on the same server; a design whose package is not installed says
/// so with its pip command.
fn compare_python(url: &str, jobs: [&Job; 2]) -> anyhow::Result<()> {
    let mut pairs = Vec::new();
    for (j, (job, fields)) in jobs.iter().zip(PYTHON_FIELDS).enumerate() {
        for (k, field) in fields.into_iter().enumerate() {
            let pair = Pair::per_sec(
                format!("{} job, {}: q/s", job.name, DESIGNS[k]),
                field,
                job.designs[k].qps,
            )
            .if_installed(if k < 2 { "psycopg" } else { "asyncpg" });
            // Short queries are client CPU too (held in a dev build); slow ones are waits.
            pairs.push(if j == 0 { pair.cpu() } else { pair.timer() });
        }
    }
    let sizes: [(&str, &dyn std::fmt::Display); 5] = [
        ("--dsn", &url),
        ("--queries", &QUERIES),
        ("--slow-queries", &SLOW_QUERIES),
        ("--sleep", &SLEEP_S),
        ("--pool", &POOL),
    ];
    TWIN.compare(&flags(&sizes), &pairs)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};

    use super::*;
    use pg_server::{DEBIAN_LAYOUT, binaries};

    /// A private cluster for this test (never `DATABASE_URL`: tests run at once and each
    /// makes and drops `demo_items`), or `None` with a line saying the test skipped.
    fn private_server(test: &str) -> Option<Server> {
        let path = std::env::var_os("PATH");
        match Server::find_with(None, path.as_deref(), Path::new(DEBIAN_LAYOUT)) {
            Ok(Some(server)) => Some(server),
            Ok(None) => {
                eprintln!("{test}: skipped: PostgreSQL is not installed");
                None
            }
            Err(e) => panic!("{test}: the cluster did not start: {e:#}"),
        }
    }

    /// The demo binary beside this test binary (`target/debug/deps/..`), which
    /// `cargo test` builds for the integration tests.
    fn demo_exe(test: &str) -> Option<PathBuf> {
        let exe = std::env::current_exe().ok()?;
        let demo = exe.parent()?.parent()?.join("hybrid-demo");
        if !demo.exists() {
            eprintln!("{test}: skipped: {} is not built", demo.display());
        }
        demo.exists().then_some(demo)
    }

    #[test]
    fn ids_spread_over_the_table_and_values_are_the_tables() {
        let ids = ids(QUERIES);
        assert!(ids.iter().all(|id| (1..=ROWS).contains(id)));
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), QUERIES, "no id twice");
        assert_eq!(value(100_000), 100_000 * 7919 % 1_000_003);
        assert!(
            SLOW.contains(&format!("pg_sleep({SLEEP_S})")),
            "the twin's wait is SLOW's"
        );
    }

    #[test]
    fn every_design_fetches_the_right_rows_and_the_cluster_goes_away() {
        let Some(server) = private_server("every_design_fetches_the_right_rows") else {
            return;
        };
        let Server::Private(cluster) = &server else {
            unreachable!("tests use a private cluster");
        };
        let folder = cluster.folder().to_owned();
        // Run as root, the server runs as another user: its data folder is that user's.
        let me = std::fs::metadata("/proc/self").unwrap().uid();
        let owner = std::fs::metadata(folder.join("data")).unwrap().uid();
        assert!(
            if me == 0 { owner != 0 } else { owner == me },
            "uid {owner}"
        );
        let url = server.url().to_owned();
        let mut admin = server.connect().unwrap();
        create_table(&mut admin).unwrap();
        let rt = Runtime::new().unwrap();
        for (sql, n) in [(FAST, 300), (SLOW, 20)] {
            let job = measure(&rt, &url, "test", sql, n, true).unwrap(); // checks each sum
            assert_eq!(
                job.designs.each_ref().map(|d| d.queries.len()),
                [n; 4],
                "a span per query"
            );
            let in_flight = job.designs.each_ref().map(|d| d.at_once);
            assert_eq!(in_flight[0], 1, "one at a time");
            assert!(in_flight.iter().all(|&k| k <= POOL), "{in_flight:?}");
        }
        // A wrong sum is an error, not a figure.
        let plan = Plan {
            label: "a test".into(),
            want: 1,
            n: 1,
            record: false,
        };
        let wrong = design(plan, || Ok(()), |_| Ok(2));
        let wrong = wrong.err().map(|e| e.to_string());
        assert_eq!(
            wrong.as_deref(),
            Some("a test: the values add up to 2, not 1")
        );
        drop((admin, rt));
        server.stop();
        assert!(!folder.exists(), "{} is still there", folder.display());
    }

    #[test]
    fn the_python_twin_prints_its_fields() {
        let Some(server) = private_server("the_python_twin_prints_its_fields") else {
            return;
        };
        create_table(&mut server.connect().unwrap()).unwrap();
        let args = [
            "--dsn",
            server.url(),
            "--queries",
            "50",
            "--slow-queries",
            "5",
            "--sleep",
            "0.001",
            "--pool",
            "3",
        ];
        if let Some(figures) = TWIN.run_for_test(&args) {
            let ran = ["fast_one_qps", "fast_pool_qps"].map(|f| figures.contains_key(f));
            let missing = &figures["missing"];
            assert_eq!(ran[0], missing.get("psycopg").is_none(), "{figures:?}");
            assert_eq!(ran[1], missing.get("asyncpg").is_none(), "{figures:?}");
        }
    }

    #[test]
    fn not_found_without_postgresql_on_path_or_in_debians_layout() {
        let empty = tempfile::tempdir().unwrap();
        let path = empty.path().as_os_str();
        let found = Server::find_with(None, Some(path), &empty.path().join("lib"));
        assert!(found.unwrap().is_none());
        assert!(NOT_FOUND.starts_with("not run: no PostgreSQL server (set DATABASE_URL"));
        // DATABASE_URL comes first, PostgreSQL installed or not.
        let given = Server::find_with(Some("postgres://x@h/db".into()), Some(path), empty.path());
        assert!(matches!(given.unwrap(), Some(Server::Given(_))));
    }

    #[test]
    fn a_bad_database_url_is_one_line_and_exit_code_1() {
        let test = "a_bad_database_url_is_one_line_and_exit_code_1";
        let Some(exe) = demo_exe(test) else {
            return;
        };
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        let out = Command::new(exe)
            .arg(SECTION.name)
            .env(
                "DATABASE_URL",
                "postgresql://demo:secret@127.0.0.1:1/nothing",
            )
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("postgresql://demo:***@127.0.0.1:1/nothing"),
            "{stderr}"
        );
        assert!(!stderr.contains("secret"), "{stderr}");
    }

    #[test]
    fn sigint_stops_the_cluster_and_removes_its_folder() {
        let test = "sigint_stops_the_cluster_and_removes_its_folder";
        let path = std::env::var_os("PATH");
        if binaries(path.as_deref(), Path::new(DEBIAN_LAYOUT)).is_none() {
            eprintln!("{test}: skipped: PostgreSQL is not installed");
            return;
        }
        let Some(exe) = demo_exe(test) else {
            return;
        };
        // The run's TMPDIR, searchable by the cluster's user when the test runs as root.
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        // SIGINT at its default: a script's background job (a CI runner may be one) starts
        // the tests with it ignored, and the run rightly keeps an inherited ignore.
        let mut demo = Command::new("env")
            .arg("--default-signal=INT")
            .arg(exe)
            .arg(SECTION.name)
            .env("TMPDIR", tmp.path())
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let postmaster = wait_for_postmaster(tmp.path(), &mut demo);
        assert!(common::procs::signal(demo.id(), "INT"));
        let status = demo.wait().unwrap();
        assert!(!status.success(), "stopped by SIGINT: {status}");
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert!(left.is_empty(), "left in TMPDIR: {left:?}");
        // The postmaster got SIGINT from the kernel when the run died (its parent-death
        // signal), and the supervisor stops what is left: it is gone, or going.
        let gone = (0..1000).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            common::procs::running(postmaster).is_none()
        });
        assert!(gone, "postmaster {postmaster} still runs");
    }

    /// The pid in `TMPDIR/RUN/pg-*/data/postmaster.pid` once the server is up.
    fn wait_for_postmaster(tmp: &Path, demo: &mut std::process::Child) -> u32 {
        for _ in 0..6000 {
            assert!(demo.try_wait().unwrap().is_none(), "the demo ended early");
            let pid_files = std::fs::read_dir(tmp)
                .into_iter()
                .flatten()
                .flatten()
                .flat_map(|run| {
                    std::fs::read_dir(run.path())
                        .into_iter()
                        .flatten()
                        .flatten()
                })
                .map(|pg| pg.path().join("data/postmaster.pid"));
            for file in pid_files {
                let text = std::fs::read_to_string(&file).unwrap_or_default();
                if text.lines().nth(7).is_some_and(|l| l.trim() == "ready") {
                    return text.lines().next().unwrap().trim().parse().unwrap();
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("no PostgreSQL server came up within 60 s");
    }
}
