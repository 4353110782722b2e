//! `aiosqlite` / "many database queries" -> a real SQLite file (rusqlite) used from async
//! code, two ways: one database thread fed by a channel, or `spawn_blocking` per query.
//!
//! Python:
//!     async with aiosqlite.connect("app.db") as db:    # a thread owns the connection
//!         await db.execute("INSERT INTO items VALUES (?, ?)", (w, s))
//!         await db.commit()
//!     # or, with the plain sqlite3 module:
//!     await loop.run_in_executor(None, insert_row, w, s)
//!
//! SQLite in this process, not a database server: the guide's rule "database queries -> a
//! thread pool" holds here, because SQLite runs inside the program and each query is a
//! blocking call doing CPU and disk work. A query to a database server (PostgreSQL, MySQL)
//! is a network wait instead: an async driver awaits it on the loop itself (`asyncpg` in
//! Python; `tokio-postgres` or `sqlx` in Rust), no thread pool needed.
//!
//! Rust: SQLite's API blocks, so async code hands each query to a thread. `aiosqlite`
//! does it with one thread per connection and a queue of calls; here that is a
//! `std::thread` that owns the `rusqlite::Connection` and serves boxed closures from a
//! bounded tokio channel, each answering on a `oneshot`. The other design sends each query
//! through `spawn_blocking`, taking a connection from a small pool. A `Connection` is
//! `Send` but not `Sync`: the compiler stops two threads from using one connection at
//! once, a mistake Python's `sqlite3` only catches at run time (`check_same_thread`).
//! The database is in WAL mode (readers do not block the writer) in a temporary folder
//! that is deleted when its `TempDir` is dropped (`Drop`, where Python has `with`).
//!
//! Watch: 8 writer tasks and 4 reader tasks run at once against each design; afterwards
//! every row is read back and checked, then the queries per second of both designs, and one
//! query's round trip on an idle database. SQLite lets one writer in at a time whatever you
//! do, so neither design writes faster than the other in principle; what differs is what
//! each query pays around the write. The single thread never waits for a lock (it is the
//! only connection) and its hop is one channel send and one `oneshot`. Each `spawn_blocking`
//! query pays a hop to a pool thread (dearer: see the round trips), and the pool's
//! connections, about one per task at once, take turns at the write lock: a writer that
//! finds it taken sleeps in SQLite's busy handler. In our runs on 2 cores the db thread
//! often won by 1.5-3.5x, and the designs came out close when the machine was busy; the
//! takeaway says which this run showed, with the gap split into round trips and the rest.
//! Pick the thread for simplicity and strict ordering, the pool when reads dominate (they
//! run beside the writer in WAL mode).
//!
//! Run only this: cargo run -p hybrid-demo -- database
//! Copy it: cargo add anyhow@1 tempfile@3 tracing@0.1 && cargo add rusqlite@0.41 --features bundled && cargo add tokio@1 --features full

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use rusqlite::{Connection, params};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

/// Open a connection the way both designs want it: WAL, and wait (rather than fail) when
/// another connection holds the write lock.
fn open(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    anyhow::ensure!(mode == "wal", "journal_mode is {mode}, not wal");
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

fn create_schema(path: &Path) -> anyhow::Result<()> {
    open(path)?.execute_batch(
        "CREATE TABLE items (
             id      INTEGER PRIMARY KEY,
             writer  INTEGER NOT NULL,
             seq     INTEGER NOT NULL,
             payload TEXT    NOT NULL,
             UNIQUE (writer, seq)
         );",
    )?;
    Ok(())
}

/// A query: any closure that uses the connection.
type Call = Box<dyn FnOnce(&mut Connection) + Send>;

/// Design 1 (aiosqlite's): one thread owns the connection and runs calls in turn.
/// Clone the handle for every task; the thread ends when the last handle is dropped.
#[derive(Clone)]
pub struct DbThread {
    calls: mpsc::Sender<Call>,
}

impl DbThread {
    pub fn start(path: &Path) -> anyhow::Result<(DbThread, std::thread::JoinHandle<()>)> {
        let mut conn = open(path)?;
        let (calls, mut queue) = mpsc::channel::<Call>(64);
        let thread = std::thread::Builder::new()
            .name("db-thread".into())
            .spawn(move || {
                // Blocking receive: this is a plain thread, not a task.
                while let Some(call) = queue.blocking_recv() {
                    call(&mut conn);
                }
                tracing::debug!("db-thread: every handle dropped, closing the connection");
            })?;
        Ok((DbThread { calls }, thread))
    }

    /// Run `query` on the database thread and await its answer.
    pub async fn call<T: Send + 'static>(
        &self,
        query: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let (reply, answer) = oneshot::channel();
        let call: Call = Box::new(move |conn| {
            let _ = reply.send(query(conn)); // the caller may have stopped waiting
        });
        self.calls
            .send(call)
            .await
            .map_err(|_| anyhow!("the database thread has stopped"))?;
        Ok(answer
            .await
            .context("the database thread dropped a query")??)
    }
}

/// Design 2: every query goes through `spawn_blocking` with a connection from a pool
/// (opened on demand, returned after use).
#[derive(Clone)]
pub struct BlockingPool {
    path: Arc<PathBuf>,
    idle: Arc<Mutex<Vec<Connection>>>,
}

impl BlockingPool {
    pub fn new(path: &Path) -> BlockingPool {
        BlockingPool {
            path: Arc::new(path.to_owned()),
            idle: Arc::default(),
        }
    }

    pub async fn call<T: Send + 'static>(
        &self,
        query: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            // A panic elsewhere leaves a list of idle connections that is still usable.
            let idle = pool.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let mut conn = match idle {
                Some(conn) => conn,
                None => open(&pool.path)?,
            };
            let result = query(&mut conn);
            pool.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn);
            Ok(result?)
        })
        .await?
    }

    /// How many connections the pool opened (they are all idle once the work is done).
    pub fn connections(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Either design, so one workload can drive both.
#[derive(Clone)]
pub enum Db {
    Thread(DbThread),
    Pool(BlockingPool),
}

impl Db {
    pub async fn call<T: Send + 'static>(
        &self,
        query: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        match self {
            Db::Thread(db) => db.call(query).await,
            Db::Pool(db) => db.call(query).await,
        }
    }
}

fn payload(writer: i64, seq: i64) -> String {
    format!("writer {writer} row {seq}")
}

/// How big the concurrent workload is.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    pub writers: i64,
    pub rows_per_writer: i64,
    pub readers: i64,
    pub reads_per_reader: i64,
}

impl Load {
    pub fn queries(&self) -> i64 {
        self.writers * self.rows_per_writer + self.readers * self.reads_per_reader
    }
}

/// Writers insert their rows one query at a time while readers count rows; every task
/// runs at once. A reader checks that the count it sees never goes down.
pub async fn concurrent_load(db: &Db, load: Load) -> anyhow::Result<()> {
    let mut tasks = JoinSet::new();
    for writer in 0..load.writers {
        let db = db.clone();
        tasks.spawn(async move {
            for seq in 0..load.rows_per_writer {
                db.call(move |conn| {
                    conn.execute(
                        "INSERT INTO items (writer, seq, payload) VALUES (?1, ?2, ?3)",
                        params![writer, seq, payload(writer, seq)],
                    )
                })
                .await
                .with_context(|| format!("writer {writer}, row {seq}"))?;
            }
            tracing::debug!(writer, "writer done");
            anyhow::Ok(())
        });
    }
    for reader in 0..load.readers {
        let db = db.clone();
        tasks.spawn(async move {
            let mut seen = 0i64;
            for _ in 0..load.reads_per_reader {
                let count: i64 = db
                    .call(|conn| conn.query_row("SELECT COUNT(*) FROM items", [], |r| r.get(0)))
                    .await
                    .with_context(|| format!("reader {reader}"))?;
                anyhow::ensure!(count >= seen, "reader {reader} saw the row count go down");
                seen = count;
            }
            anyhow::Ok(())
        });
    }
    while let Some(task) = tasks.join_next().await {
        task??;
    }
    Ok(())
}

/// Read every row back; check it holds exactly what the writers wrote. Returns the count.
pub async fn verify(db: &Db, load: Load) -> anyhow::Result<i64> {
    let rows: Vec<(i64, i64, String)> = db
        .call(|conn| {
            let mut stmt = conn.prepare("SELECT writer, seq, payload FROM items")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })
        .await?;
    let mut seen = BTreeSet::new();
    for (writer, seq, text) in &rows {
        anyhow::ensure!(
            *text == payload(*writer, *seq),
            "row ({writer}, {seq}) holds {text:?}"
        );
        anyhow::ensure!(seen.insert((*writer, *seq)), "row ({writer}, {seq}) twice");
    }
    let expected: BTreeSet<(i64, i64)> = (0..load.writers)
        .flat_map(|w| (0..load.rows_per_writer).map(move |s| (w, s)))
        .collect();
    anyhow::ensure!(
        seen == expected,
        "{} rows read back, {} written",
        seen.len(),
        expected.len()
    );
    Ok(rows.len() as i64)
}

/// Run `load` on `db`, then read every row back. `db` is dropped at the end: for the db
/// thread, its last handle, so the thread finishes its queue and ends.
pub async fn try_design(name: &str, db: Db, load: Load) -> anyhow::Result<()> {
    let start = Instant::now();
    concurrent_load(&db, load).await?;
    let took = start.elapsed();
    let rows = verify(&db, load).await?;
    println!(
        "{name}: {} queries in {took:.0?}; {rows} rows read back, each as written",
        load.queries()
    );
    Ok(())
}

/// Both designs, each on a file of its own in a temporary folder (deleted on `Drop`).
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let load = Load {
        writers: 4,
        rows_per_writer: 50,
        readers: 2,
        reads_per_reader: 50,
    };
    let path = dir.path().join("thread.db");
    create_schema(&path)?;
    let (thread, handle) = DbThread::start(&path)?;
    try_design("one db thread", Db::Thread(thread), load).await?;
    handle
        .join()
        .map_err(|_| anyhow!("the database thread panicked"))?;
    let path = dir.path().join("pool.db");
    create_schema(&path)?;
    try_design(
        "spawn_blocking + pool",
        Db::Pool(BlockingPool::new(&path)),
        load,
    )
    .await
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{Pair, Twin, flags};
use common::timing::{Secs, rate, timed_async};

pub const SECTION: Section = Section::new(
    "database",
    "aiosqlite.connect(...) / many database queries",
    "SQLite in process: a db thread vs spawn_blocking",
    run,
)
.main(|| main().report())
.twin(&TWIN);

/// `--python`: the same files and load with asyncio + sqlite3: a one-thread executor that
/// owns the connection (aiosqlite's shape), then `run_in_executor(None, ...)`.
const TWIN: Twin = Twin::new(
    "database.py",
    include_str!("../python/database.py"),
    &[
        "thread_qps",
        "thread_rows",
        "pool_qps",
        "pool_rows",
        "pool_connections",
    ],
);

const LOAD: Load = Load {
    writers: 8,
    rows_per_writer: 150,
    readers: 4,
    reads_per_reader: 150,
};
/// Queries one after another, to time one query's round trip (`SELECT 1`).
const TRIPS: u32 = 300;
/// Two figures this near each other "come out close".
const CLOSE: f64 = 1.5;

/// One design's figures.
struct Design {
    qps: f64,
    /// One query's round trip on an idle database.
    trip: Duration,
}

/// What the section measured.
struct Figures {
    thread: Design,
    pool: Design,
    /// Connections the pool opened.
    connections: usize,
}

/// One design, start to finish: the load, every row read back, the round trip; printed.
async fn measure_design(name: &str, db: &Db) -> anyhow::Result<Design> {
    let (outcome, took) = timed_async(concurrent_load(db, LOAD)).await;
    outcome.with_context(|| format!("{name}: concurrent load"))?;
    let rows = verify(db, LOAD)
        .await
        .with_context(|| format!("{name}: reading back"))?;
    let qps = rate(LOAD.queries().unsigned_abs(), took);
    // The hop from the task to the thread that runs the query and back (`SELECT 1` costs
    // SQLite almost nothing).
    let (outcome, trips) = timed_async(async {
        for _ in 0..TRIPS {
            db.call(|c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)))
                .await?;
        }
        anyhow::Ok(())
    })
    .await;
    outcome?;
    let (queries, trip) = (LOAD.queries(), trips / TRIPS);
    figure(name, format!("{queries} queries in {}", Secs(took)));
    figure("  rows read back, checked", format!("{rows} of {rows}"));
    figure("  queries per second", format!("{qps:.0}"));
    figure("  one query's round trip", Secs(trip));
    Ok(Design { qps, trip })
}

#[tokio::main]
async fn measure(dir: &Path) -> anyhow::Result<Figures> {
    let path = dir.join("thread.db");
    create_schema(&path)?;
    let (db, handle) = DbThread::start(&path)?;
    let thread = measure_design("one db thread", &Db::Thread(db)).await?;
    // The last handle is gone: the database thread finishes its queue and ends.
    handle
        .join()
        .map_err(|_| anyhow!("the db thread panicked"))?;
    let path = dir.join("pool.db");
    create_schema(&path)?;
    let pool = BlockingPool::new(&path);
    let design = measure_design("spawn_blocking + pool", &Db::Pool(pool.clone())).await?;
    let connections = pool.connections();
    Ok(Figures {
        thread,
        pool: design,
        connections,
    })
}

fn run() -> SectionResult {
    let dir = tempfile::tempdir().context("creating a temporary folder")?;
    println!("  SQLite runs in this process: each query is a blocking call, so the rule");
    println!("  \"database queries -> a thread pool\" holds; a database server's query is a");
    println!("  network wait, for an async driver on the loop instead");
    let l = LOAD;
    println!(
        "  {} writer tasks x {} inserts and {} reader tasks x {} counts, at once, WAL mode",
        l.writers, l.rows_per_writer, l.readers, l.reads_per_reader
    );
    let f = measure(dir.path())?;
    let opened = format!("{} (the db thread: 1)", f.connections);
    figure("  connections opened", opened);
    compare(&f, dir.path())?;
    conclude(&f);
    Ok(())
}

/// `--python`: the twin works on the same two files while they exist (it empties the table
/// first). SQLite is CPU work compiled into Rust: a dev build holds those rows.
fn compare(f: &Figures, dir: &Path) -> anyhow::Result<()> {
    let file = |name: &str| dir.join(name).display().to_string();
    let rows = (LOAD.writers * LOAD.rows_per_writer) as f64; // verify() checked every one
    let qps = |label, field, d: &Design| Pair::per_sec(label, field, d.qps).cpu();
    let trip = |field, d: &Design| {
        Pair::secs("  one query's round trip", field, d.trip.as_secs_f64()).cpu()
    };
    let rows = |field| Pair::count("  rows read back and checked", field, rows);
    let l = LOAD;
    TWIN.compare(
        &flags(&[
            ("--thread-db", &file("thread.db")),
            ("--pool-db", &file("pool.db")),
            ("--writers", &l.writers),
            ("--rows", &l.rows_per_writer),
            ("--readers", &l.readers),
            ("--reads", &l.reads_per_reader),
            ("--trips", &TRIPS),
        ]),
        &[
            qps("one db thread: queries/s", "thread_qps", &f.thread),
            trip("thread_trip_s", &f.thread),
            rows("thread_rows"),
            qps("spawn_blocking: queries/s", "pool_qps", &f.pool),
            trip("pool_trip_s", &f.pool),
            rows("pool_rows"),
            Pair::count(
                "  connections opened",
                "pool_connections",
                f.connections as f64,
            ),
        ],
    )
}

/// The takeaway: close, the db thread ahead (and why), or the pool ahead.
fn conclude(f: &Figures) {
    let (thread_qps, pool_qps, connections) = (f.thread.qps, f.pool.qps, f.connections);
    let ratio = thread_qps / pool_qps;
    let apart = ratio.max(1.0 / ratio);
    let measured = format!(
        "one db thread {thread_qps:.0} q/s, spawn_blocking {pool_qps:.0} q/s ({apart:.2}x apart)"
    );
    let close = Evidence::new(
        apart <= CLOSE,
        format!("the two designs within {CLOSE}x of each other"),
        &measured,
    );
    if close.holds() {
        let text = format!(
            "every row came back and the designs come out close ({apart:.2}x): SQLite admits one writer at a time whichever thread asks"
        );
        takeaway_if(&close, text);
        return;
    }
    if ratio < 1.0 {
        // The pool won: reads run beside the writer (WAL) on its other connections, and
        // on a busy machine its threads also get more turns on the CPU than the one db thread.
        takeaway_if(
            &Evidence::new(
                connections > 1,
                "spawn_blocking with more than one connection",
                format!("{connections} connection(s)"),
            ),
            format!(
                "every row came back; spawn_blocking ran {apart:.2}x the queries per second: its {connections} connections let reads run beside the writer (WAL), and get more turns on a busy CPU, where on the db thread every query waits its turn"
            ),
        );
        return;
    }
    // Why the single thread won: the pool's dearer hop, added up over every query, and
    // what remains of the gap, which is the pool's connections waiting for the write lock.
    let queries = LOAD.queries() as f64;
    let gap = Duration::from_secs_f64(queries / pool_qps - queries / thread_qps);
    let hops = f.pool.trip.saturating_sub(f.thread.trip).mul_f64(queries);
    let waits = gap.saturating_sub(hops);
    figure(
        "gap between the designs",
        format!(
            "{}: {} of dearer round trips, {} waiting at the write lock and the like",
            Secs(gap),
            Secs(hops),
            Secs(waits)
        ),
    );
    takeaway_if(
        &Evidence::new(
            connections > 1 && waits > hops,
            "most of the gap outside the round trips, with more than one connection",
            format!(
                "{} of {} in round trips, {connections} connection(s)",
                Secs(hops),
                Secs(gap)
            ),
        ),
        format!(
            "every row came back; the db thread ran {apart:.2}x the queries per second: it never waits for SQLite's one write lock, while the pool's {connections} connections take turns at it (a writer that finds it taken sleeps in SQLite's busy handler)"
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Load = Load {
        writers: 5,
        rows_per_writer: 20,
        readers: 3,
        reads_per_reader: 10,
    };

    async fn holds_exactly_the_rows_written(make: impl FnOnce(&Path) -> Db) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        create_schema(&path).unwrap();
        let db = make(&path);
        concurrent_load(&db, SMALL).await.unwrap();
        assert_eq!(verify(&db, SMALL).await.unwrap(), 100);
        let count: i64 = db
            .call(|c| c.query_row("SELECT COUNT(*) FROM items", [], |r| r.get(0)))
            .await
            .unwrap();
        assert_eq!(count, SMALL.writers * SMALL.rows_per_writer);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_db_thread_holds_exactly_the_rows_written() {
        holds_exactly_the_rows_written(|p| Db::Thread(DbThread::start(p).unwrap().0)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spawn_blocking_holds_exactly_the_rows_written() {
        holds_exactly_the_rows_written(|p| Db::Pool(BlockingPool::new(p))).await;
    }

    #[tokio::test]
    async fn sql_errors_come_back_to_the_caller() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        create_schema(&path).unwrap();
        let (db, handle) = DbThread::start(&path).unwrap();
        let err = db
            .call(|c| c.execute("INSERT INTO nowhere VALUES (1)", []))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("nowhere"), "{err}");
        // A duplicate (writer, seq) is refused by the UNIQUE constraint.
        let insert = |c: &mut Connection| {
            c.execute(
                "INSERT INTO items (writer, seq, payload) VALUES (1, 1, 'x')",
                [],
            )
        };
        db.call(insert).await.unwrap();
        assert!(db.call(insert).await.is_err());
        drop(db);
        handle.join().unwrap();
    }

    #[test]
    fn the_python_twin_loads_the_same_files_and_prints_its_fields() {
        let dir = tempfile::tempdir().unwrap();
        let (thread_db, pool_db) = (dir.path().join("thread.db"), dir.path().join("pool.db"));
        for path in [&thread_db, &pool_db] {
            create_schema(path).unwrap();
            // A row left by "the Rust side": the twin empties the table before its load.
            open(path)
                .unwrap()
                .execute(
                    "INSERT INTO items (writer, seq, payload) VALUES (0, 0, 'rust')",
                    [],
                )
                .unwrap();
        }
        let (a, b) = (thread_db.to_str().unwrap(), pool_db.to_str().unwrap());
        let figures = TWIN.run_for_test(&[
            "--thread-db",
            a,
            "--pool-db",
            b,
            "--writers",
            "3",
            "--rows",
            "5",
            "--readers",
            "2",
            "--reads",
            "4",
            "--trips",
            "3",
        ]);
        if let Some(figures) = figures {
            assert_eq!(figures["thread_rows"], 15);
            assert_eq!(figures["pool_rows"], 15);
            for path in [&thread_db, &pool_db] {
                let text: String = open(path)
                    .unwrap()
                    .query_row(
                        "SELECT payload FROM items WHERE writer = 2 AND seq = 4",
                        [],
                        |r| r.get(0),
                    )
                    .unwrap();
                assert_eq!(text, payload(2, 4), "the twin wrote the Rust side's rows");
            }
        }
    }

    #[test]
    fn verify_catches_a_missing_row() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("test.db");
            create_schema(&path).unwrap();
            let db = Db::Pool(BlockingPool::new(&path));
            concurrent_load(&db, SMALL).await.unwrap();
            db.call(|c| c.execute("DELETE FROM items WHERE writer = 2 AND seq = 7", []))
                .await
                .unwrap();
            let err = verify(&db, SMALL).await.unwrap_err();
            assert!(err.to_string().contains("99 rows"), "{err}");
        });
    }
}
