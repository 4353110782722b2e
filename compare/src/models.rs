//! The seven ways to run a job, side by side: the code to copy.
//!
//! Python:
//!     for x in items: f(x)                                        # sequential
//!     ts = [Thread(target=f, args=(x,)) for x in items]           # threads
//!     with ThreadPoolExecutor() as ex: list(ex.map(f, items))     # thread pool
//!     with Pool() as p: p.map(f, items)                           # processes
//!     await asyncio.gather(*(af(x) for x in items))               # asyncio
//!     (no Python twin: a work-stealing pool over all cores)       # rayon
//!     await loop.run_in_executor(pool, f, x) for the CPU part     # hybrid
//!
//! Each model below is one short function over `n` items and an `item(worker, i)` function
//! that returns item `i`'s answer; every model adds the answers up (wrapping), and the
//! caller checks the total. `init` makes what one worker keeps between its items (an HTTP
//! client, a database connection), like `ThreadPoolExecutor(initializer=...)`.
//!
//! Where Rust differs: there is no GIL, so threads (and rayon, and even tokio's worker
//! threads) run Rust code on every core at once; processes buy isolation, rarely speed.
//! Tokio futures do nothing until polled; a blocking call inside one stalls its worker
//! thread (tokio has one per core), which is why "hybrid" hands CPU work to rayon
//! ([`on_rayon`]) and blocking database calls to `tokio::task::spawn_blocking`.
//! Processes can share one listening socket with safe std: the parent hands each child a
//! copy of the listener as its standard input ([`serve_processes`], [`listener_from_stdin`]).
//!
//! Watch (alone, `main`): every model gives the same total of 16 items, with its time, and
//! the echo server answers every line under threads, tokio and two worker processes (this
//! program re-run with `--role`, the twin of `if __name__ == "__main__":`).
//!
//! Copy it: cargo add anyhow@1 rayon@1 && cargo add tokio@1 --features full

use std::future::Future;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, ScopedJoinHandle};

use anyhow::{Context, anyhow, ensure};
use rayon::prelude::*;

/// One item's answer.
pub type Answer = anyhow::Result<u64>;

/// `for x in items: f(x)`.
pub fn sequential<W>(
    n: u64,
    init: impl FnOnce() -> W,
    item: impl Fn(&mut W, u64) -> Answer,
) -> Answer {
    let mut worker = init();
    (0..n).try_fold(0u64, |acc, i| Ok(acc.wrapping_add(item(&mut worker, i)?)))
}

/// A thread per item. Scoped threads may borrow `init` and `item` from the caller.
/// `Builder::spawn_scoped` returns an error when the OS refuses a thread (Python's
/// `Thread.start()` raises `RuntimeError: can't start new thread`); `s.spawn` would panic.
pub fn threads<W>(
    n: u64,
    init: impl Fn() -> W + Sync,
    item: impl Fn(&mut W, u64) -> Answer + Sync,
) -> Answer {
    std::thread::scope(|s| {
        let handles = (0..n)
            .map(|i| {
                let (init, item) = (&init, &item);
                thread::Builder::new().spawn_scoped(s, move || item(&mut init(), i))
            })
            .collect::<io::Result<Vec<_>>>()
            .context("starting a thread")?;
        sum_joined(handles)
    })
}

/// `ThreadPoolExecutor(max_workers=workers)`: a fixed set of threads, each taking the next
/// item from a shared counter until none is left.
pub fn thread_pool<W>(
    n: u64,
    workers: usize,
    init: impl Fn() -> W + Sync,
    item: impl Fn(&mut W, u64) -> Answer + Sync,
) -> Answer {
    let next = AtomicU64::new(0);
    std::thread::scope(|s| {
        let handles = (0..workers)
            .map(|_| {
                thread::Builder::new().spawn_scoped(s, || {
                    let mut worker = init();
                    let mut acc = 0u64;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            return Ok(acc);
                        }
                        acc = acc.wrapping_add(item(&mut worker, i)?);
                    }
                })
            })
            .collect::<io::Result<Vec<_>>>()
            .context("starting a thread")?;
        sum_joined(handles)
    })
}

fn sum_joined(handles: Vec<ScopedJoinHandle<'_, Answer>>) -> Answer {
    handles.into_iter().try_fold(0u64, |acc, h| {
        let v = h
            .join()
            .map_err(|_| anyhow!("a worker thread panicked"))??;
        Ok(acc.wrapping_add(v))
    })
}

/// rayon: the items on the work-stealing pool (one thread per core); `map_init` makes a
/// worker value per piece of work rayon splits off, not per item.
pub fn rayon_pool<W>(
    n: u64,
    init: impl Fn() -> W + Sync + Send,
    item: impl Fn(&mut W, u64) -> Answer + Sync + Send,
) -> Answer {
    (0..n)
        .into_par_iter()
        .map_init(init, |worker, i| item(worker, i))
        .try_reduce(|| 0, |a, b| Ok(a.wrapping_add(b)))
}

/// `asyncio.gather(*(af(x) for x in items))`: a task per item on tokio's runtime.
pub async fn tokio_tasks<F, Fut>(n: u64, item: F) -> Answer
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Answer> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        tasks.spawn(item(i));
    }
    let mut acc = 0u64;
    while let Some(r) = tasks.join_next().await {
        acc = acc.wrapping_add(r??);
    }
    Ok(acc)
}

/// `await loop.run_in_executor(pool, f)`: run CPU work `f` on rayon's pool; the task waits
/// for the answer without blocking its runtime thread.
pub async fn on_rayon<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let _ = tx.send(f());
    });
    rx.await.context("the rayon task was dropped")?
}

/// `Pool(processes=workers).map(f, items)`: `start(k)` starts worker process `k` (this
/// program re-run, say) and gives it its share of the items; each worker prints its answer
/// first on its standard output. Returns the sum, and what each worker printed after it.
pub fn processes(
    workers: usize,
    start: impl Fn(usize) -> io::Result<Child>,
) -> anyhow::Result<(u64, Vec<String>)> {
    let children = (0..workers)
        .map(start)
        .collect::<io::Result<Vec<_>>>()
        .context("starting a worker process")?;
    gather(children)
}

/// Wait for every child; add up the first word each printed.
fn gather(children: Vec<Child>) -> anyhow::Result<(u64, Vec<String>)> {
    let mut acc = 0u64;
    let mut rest = Vec::new();
    for child in children {
        let out = child.wait_with_output()?;
        ensure!(
            out.status.success(),
            "a worker process failed: {}",
            out.status
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let (answer, more) = text.trim().split_once(' ').unwrap_or((text.trim(), ""));
        let answer: u64 = answer
            .parse()
            .with_context(|| format!("a worker said {text:?}"))?;
        acc = acc.wrapping_add(answer);
        rest.push(more.to_owned());
    }
    Ok((acc, rest))
}

// ---------------------------------------------------------------- the echo server

/// Echo lines until the client closes the connection; returns how many.
pub fn echo(stream: TcpStream) -> Answer {
    // Small replies go out at once (no Nagle delay), each line in one write.
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut lines = 0;
    for line in BufReader::new(stream).lines() {
        writer.write_all(format!("{}\n", line?).as_bytes())?;
        lines += 1;
    }
    Ok(lines)
}

/// [`echo`] as a task.
pub async fn echo_async(stream: tokio::net::TcpStream) -> Answer {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut lines = tokio::io::BufReader::new(read).lines();
    let mut n = 0;
    while let Some(line) = lines.next_line().await? {
        write.write_all(format!("{line}\n").as_bytes()).await?;
        n += 1;
    }
    Ok(n)
}

/// One connection after another.
pub fn serve_sequential(listener: &TcpListener, clients: u64) -> Answer {
    (0..clients).try_fold(0, |acc, _| Ok(acc + echo(listener.accept()?.0)?))
}

/// A thread per connection: the accept loop hands each one to a new thread.
pub fn serve_threads(listener: &TcpListener, clients: u64) -> Answer {
    std::thread::scope(|s| {
        let mut handles = Vec::new();
        for _ in 0..clients {
            let (stream, _) = listener.accept()?;
            let handle = thread::Builder::new()
                .spawn_scoped(s, move || echo(stream))
                .context("starting a thread")?;
            handles.push(handle);
        }
        sum_joined(handles)
    })
}

/// A fixed pool: every worker calls `accept()` on the shared listener (it takes `&self`).
pub fn serve_pool(listener: &TcpListener, clients: u64, workers: usize) -> Answer {
    let left = AtomicU64::new(clients);
    let take_one = || {
        left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| l.checked_sub(1))
            .is_ok()
    };
    std::thread::scope(|s| {
        let handles = (0..workers)
            .map(|_| {
                thread::Builder::new().spawn_scoped(s, || {
                    let mut acc = 0;
                    while take_one() {
                        acc += echo(listener.accept()?.0)?;
                    }
                    Ok(acc)
                })
            })
            .collect::<io::Result<Vec<_>>>()
            .context("starting a thread")?;
        sum_joined(handles)
    })
}

/// `rayon::scope`: each connection a rayon task, at most one per core served at once.
pub fn serve_rayon(listener: &TcpListener, clients: u64) -> Answer {
    let total = AtomicU64::new(0);
    let failed = std::sync::Mutex::new(None);
    let fail = |e: anyhow::Error| *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
    rayon::scope(|s| {
        for _ in 0..clients {
            match listener.accept() {
                Ok((stream, _)) => {
                    let (total, fail) = (&total, &fail);
                    s.spawn(move |_| match echo(stream) {
                        Ok(n) => {
                            total.fetch_add(n, Ordering::Relaxed);
                        }
                        Err(e) => fail(e),
                    });
                }
                Err(e) => {
                    fail(e.into());
                    break;
                }
            }
        }
    });
    match failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(total.into_inner()),
    }
}

/// A task per connection: thousands cost kilobytes each, not a thread stack. Call it on
/// tokio's runtime.
pub async fn serve_tokio(listener: TcpListener, clients: u64) -> Answer {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (stream, _) = listener.accept().await?;
        tasks.spawn(echo_async(stream));
    }
    let mut acc = 0;
    while let Some(r) = tasks.join_next().await {
        acc += r??;
    }
    Ok(acc)
}

/// Processes sharing one listening socket, with safe std: `start(k, stdin)` starts worker
/// process `k` with a copy of the listener as its standard input; the child rebuilds it with
/// [`listener_from_stdin`], accepts its share of the connections, and prints how many lines
/// it echoed first on its standard output. Returns the sum, and what each printed after it.
pub fn serve_processes(
    listener: &TcpListener,
    workers: usize,
    start: impl Fn(usize, Stdio) -> io::Result<Child>,
) -> anyhow::Result<(u64, Vec<String>)> {
    let children = (0..workers)
        .map(|k| start(k, Stdio::from(OwnedFd::from(listener.try_clone()?))))
        .collect::<io::Result<Vec<_>>>()
        .context("starting a server process")?;
    gather(children)
}

/// The child's side of [`serve_processes`]: the listener its parent handed over as stdin.
pub fn listener_from_stdin() -> io::Result<TcpListener> {
    Ok(TcpListener::from(io::stdin().as_fd().try_clone_to_owned()?))
}

/// The client side: `clients` connections at once, each sending `messages` lines with
/// `think_ms` between them and checking every echo. Returns the lines echoed.
pub async fn drive_clients(
    addr: std::net::SocketAddr,
    clients: u64,
    messages: u64,
    think_ms: u64,
) -> anyhow::Result<u64> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        tasks.spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let (read, mut write) = stream.into_split();
            let mut lines = tokio::io::BufReader::new(read).lines();
            for m in 0..messages {
                let sent = format!("client {c} message {m}");
                write.write_all(format!("{sent}\n").as_bytes()).await?;
                let back = lines.next_line().await?.context("server closed early")?;
                ensure!(back == sent, "echo mismatch: {back:?}");
                tokio::time::sleep(std::time::Duration::from_millis(think_ms)).await;
            }
            Ok::<_, anyhow::Error>(messages)
        });
    }
    let mut acc = 0;
    while let Some(r) = tasks.join_next().await {
        acc += r??;
    }
    Ok(acc)
}

/// The seven models, as compare's tables name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    Sequential,
    Threads,
    ThreadPool,
    Processes,
    Tokio,
    Rayon,
    Hybrid,
}

impl Model {
    pub const ALL: [Model; 7] = [
        Model::Sequential,
        Model::Threads,
        Model::ThreadPool,
        Model::Processes,
        Model::Tokio,
        Model::Rayon,
        Model::Hybrid,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Model::Sequential => "sequential",
            Model::Threads => "threads",
            Model::ThreadPool => "thread-pool",
            Model::Processes => "processes",
            Model::Tokio => "tokio",
            Model::Rayon => "rayon",
            Model::Hybrid => "hybrid",
        }
    }
}

/// Item `i` of the example job: the sum of `x * x` over its 100,000 numbers.
fn squares(i: u64) -> u64 {
    (i * 100_000..(i + 1) * 100_000).fold(0u64, |acc, x| acc.wrapping_add(x * x))
}

/// `compare`'s lesson as a program: each model on 16 items, then the echo server. The
/// worker processes are this program again, told their part with `--role`.
fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["--role", "sum-worker", k, of] => {
            let (k, of): (u64, usize) = (k.parse()?, of.parse()?);
            let mine = (k..16).step_by(of).map(squares);
            println!("{}", mine.fold(0u64, u64::wrapping_add));
            return Ok(());
        }
        ["--role", "echo-worker", share] => {
            println!(
                "{}",
                serve_threads(&listener_from_stdin()?, share.parse()?)?
            );
            return Ok(());
        }
        _ => {}
    }
    let item = |_: &mut (), i| Ok(squares(i));
    let me = std::env::current_exe()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let hybrid = |i| on_rayon(move || Ok(squares(i)));
    let worker = |k: usize| {
        let args = ["--role", "sum-worker", &k.to_string(), "2"];
        Command::new(&me).args(args).stdout(Stdio::piped()).spawn()
    };
    for model in Model::ALL {
        let start = std::time::Instant::now();
        let total = match model {
            Model::Sequential => sequential(16, || (), item),
            Model::Threads => threads(16, || (), item),
            Model::ThreadPool => thread_pool(16, 4, || (), item),
            Model::Processes => processes(2, worker).map(|(total, _)| total),
            Model::Tokio => runtime.block_on(tokio_tasks(16, |i| async move { Ok(squares(i)) })),
            Model::Rayon => rayon_pool(16, || (), item),
            Model::Hybrid => runtime.block_on(tokio_tasks(16, hybrid)),
        }?;
        println!("{:12} {total:>20} in {:.1?}", model.name(), start.elapsed());
    }
    // The echo server: 4 clients of 3 lines each, under three models.
    let echoed = |serve: &dyn Fn(TcpListener) -> Answer| -> anyhow::Result<u64> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let clients = thread::spawn(move || -> anyhow::Result<u64> {
            tokio::runtime::Runtime::new()?.block_on(drive_clients(addr, 4, 3, 0))
        });
        let lines = serve(listener)?;
        clients.join().map_err(|_| anyhow!("a client panicked"))??;
        Ok(lines)
    };
    let threads_echoed = echoed(&|l| serve_threads(&l, 4))?;
    let tokio_echoed = echoed(&|l| runtime.block_on(serve_tokio(l, 4)))?;
    let processes_echoed = echoed(&|l| {
        let start = |_, stdin| {
            let args = ["--role", "echo-worker", "2"];
            Command::new(&me)
                .args(args)
                .stdin(stdin)
                .stdout(Stdio::piped())
                .spawn()
        };
        Ok(serve_processes(&l, 2, start)?.0)
    })?;
    println!(
        "echoed lines: threads {threads_echoed}, tokio {tokio_echoed}, processes {processes_echoed} (12 each)"
    );
    Ok(())
}

// --- run and measure ---

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Serialize};

use crate::child_side::{quiet_if_orphaned, say, watchdog};
use crate::jobs::{Job, PgConn, cores};

// The lesson's `main` runs when models.rs is copied as a program (and in the lessons
// check); compare measures the models through `run` below.
const _: fn() -> anyhow::Result<()> = main;

/// A model in the JSON: its name.
impl Serialize for Model {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Model {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        let model = Model::ALL.into_iter().find(|m| m.name() == name);
        model.ok_or_else(|| serde::de::Error::custom(format!("unknown model '{name}'")))
    }
}

/// The Python model a Rust one stands for, as the guides name them. Declared in the order of
/// the names, so a map keyed by family lists them as a map keyed by the names would.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PythonFamily {
    #[serde(rename = "(no Python twin)")]
    NoTwin,
    #[serde(rename = "asyncio")]
    Asyncio,
    #[serde(rename = "multiprocessing")]
    Multiprocessing,
    #[serde(rename = "sequential")]
    Sequential,
    #[serde(rename = "threading")]
    Threading,
}

impl PythonFamily {
    pub fn name(self) -> &'static str {
        match self {
            PythonFamily::NoTwin => "(no Python twin)",
            PythonFamily::Asyncio => "asyncio",
            PythonFamily::Multiprocessing => "multiprocessing",
            PythonFamily::Sequential => "sequential",
            PythonFamily::Threading => "threading",
        }
    }
}

/// A Python model of `compare --python`: the same job, in the idiom the guides teach, run
/// by a script of `compare/python/` in a fresh interpreter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PyModel {
    /// `threading.Thread` per item (`threads.py`).
    Threads,
    /// `ThreadPoolExecutor()` (`thread_pool.py`).
    ThreadPool,
    /// `multiprocessing.Pool()` (`processes.py`).
    Processes,
    /// `asyncio.gather`, a task per item (`asyncio_tasks.py`).
    Asyncio,
}

impl PyModel {
    pub const ALL: [PyModel; 4] = [
        PyModel::Threads,
        PyModel::ThreadPool,
        PyModel::Processes,
        PyModel::Asyncio,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PyModel::Threads => "threads",
            PyModel::ThreadPool => "thread-pool",
            PyModel::Processes => "processes",
            PyModel::Asyncio => "asyncio",
        }
    }

    pub fn python_family(self) -> PythonFamily {
        match self {
            PyModel::Threads | PyModel::ThreadPool => PythonFamily::Threading,
            PyModel::Processes => PythonFamily::Multiprocessing,
            PyModel::Asyncio => PythonFamily::Asyncio,
        }
    }

    /// The script that runs it, in `compare/python/`.
    pub fn script(self) -> &'static str {
        match self {
            PyModel::Threads => "threads.py",
            PyModel::ThreadPool => "thread_pool.py",
            PyModel::Processes => "processes.py",
            PyModel::Asyncio => "asyncio_tasks.py",
        }
    }
}

impl std::fmt::Display for PythonFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Model {
    /// The Python model this one stands for.
    pub fn python_family(self) -> PythonFamily {
        match self {
            Model::Sequential => PythonFamily::Sequential,
            Model::Threads | Model::ThreadPool => PythonFamily::Threading,
            Model::Processes => PythonFamily::Multiprocessing,
            Model::Tokio | Model::Hybrid => PythonFamily::Asyncio,
            Model::Rayon => PythonFamily::NoTwin,
        }
    }

    /// Runs items (or connections) on more than one core at once.
    pub fn is_parallel(self) -> bool {
        self != Model::Sequential
    }

    /// How many workers it uses for `items` items on a machine with `cores` usable cores.
    pub fn workers(self, items: u64, cores: usize) -> usize {
        match self {
            Model::Sequential => 1,
            Model::Threads => items as usize,
            // ThreadPoolExecutor's default: min(32, os.cpu_count() + 4).
            Model::ThreadPool => (cores + 4).min(32),
            // Pool()'s default: os.cpu_count().
            Model::Processes | Model::Rayon => cores,
            Model::Tokio | Model::Hybrid => cores,
        }
    }

    /// [`Model::workers`] for `job`: a server job sets its own pool size, and a thread per
    /// query stops at its cap (a connection each, within the server's limit).
    pub fn workers_for(self, job: &Job, cores: usize) -> usize {
        match (self, job) {
            (Model::Threads, Job::Pg { threads, .. }) => (job.items() as usize).min(*threads),
            (Model::ThreadPool, Job::Pg { pool, .. }) => *pool,
            _ => self.workers(job.items(), cores),
        }
    }

    /// Why this model does not apply to `job`, if it does not.
    pub fn not_applicable(self, job: &Job) -> Option<&'static str> {
        match (self, job) {
            (Model::Hybrid, Job::Serve { .. }) => {
                Some("no CPU part to hand off: it would be the tokio cell again")
            }
            _ => None,
        }
    }
}

/// Run `job` with `model` in this process (`images`: an image job's pictures, made before
/// the clock started). Returns the sum of the item answers, and the peak memory of any
/// worker processes it started (their peaks added up).
pub fn run(
    model: Model,
    job: &Job,
    images: Arc<Vec<Vec<u8>>>,
) -> anyhow::Result<(u64, Option<u64>)> {
    let n = job.items();
    let workers = model.workers_for(job, cores());
    tracing::debug!(model = model.name(), items = n, workers, "run");
    if matches!(model, Model::Rayon | Model::Hybrid) {
        start_rayon()?;
    }
    let http = blocking_client(job)?;
    let init = || Worker {
        job,
        http: http.clone(),
        db: None,
        pg: None,
        images: &images,
    };
    let item = |w: &mut Worker, i| w.item(i);
    let answer = match model {
        Model::Sequential => sequential(n, init, item)?,
        // A thread per item, unless the job caps them (a server's connections).
        Model::Threads if workers < n as usize => thread_pool(n, workers, init, item)?,
        Model::Threads => threads(n, init, item)?,
        Model::ThreadPool => thread_pool(n, workers, init, item)?,
        Model::Rayon => rayon_pool(n, init, item)?,
        Model::Processes => return run_processes(job, workers, &images),
        Model::Tokio | Model::Hybrid => {
            let hybrid = model == Model::Hybrid;
            // The hybrid cell's blocking connections: dropped here, outside the runtime
            // (each owns a small runtime of its own, which may not be dropped inside one).
            let blocking = Arc::new(Mutex::new(Vec::new()));
            let blocking_threads = match job {
                Job::Pg { pool, .. } if hybrid => Some(*pool),
                _ => None,
            };
            let rt = runtime(blocking_threads)?;
            // Made inside the runtime: an async pool (bb8) spawns its upkeep task there.
            let tasks = {
                let _in_runtime = rt.enter();
                task_item(job, images.clone(), hybrid, blocking.clone())?
            };
            let answer = rt.block_on(tokio_tasks(n, tasks));
            drop(rt);
            drop(blocking);
            answer?
        }
    };
    Ok((answer, None))
}

/// Start rayon's global pool now, so that an OS that refuses its threads is an error here
/// and not a panic at the first parallel iterator.
fn start_rayon() -> anyhow::Result<()> {
    use std::error::Error as _;
    match rayon::ThreadPoolBuilder::new().build_global() {
        // Only a failure to start threads has a source; the other errors say the pool is
        // already running.
        Err(e) if e.source().is_some() => Err(e).context("starting rayon's threads"),
        _ => Ok(()),
    }
}

/// tokio's runtime, with at most `blocking_threads` for `spawn_blocking` when given (the
/// hybrid cell of a server job: a connection each).
fn runtime(blocking_threads: Option<usize>) -> anyhow::Result<tokio::runtime::Runtime> {
    // tokio panics when the OS refuses its first worker thread, and stalls when it refuses a
    // later one: check first that its workers (one per core) can all run at once.
    threads_can_start(cores()).context("starting tokio's worker threads")?;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = blocking_threads {
        builder.max_blocking_threads(n);
    }
    builder
        .enable_all()
        .build()
        .context("building the tokio runtime")
}

/// Whether `n` more threads can run at once: they start, wait at a gate until all have
/// started (or one could not), and end. Returns once Linux has let go of them (a thread
/// counts against the process limit a little after `join` returns).
pub fn threads_can_start(n: usize) -> io::Result<()> {
    let live = || {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("Threads:"))?;
        line["Threads:".len()..].trim().parse::<usize>().ok()
    };
    let before = live();
    let gate = std::sync::RwLock::new(());
    let started = thread::scope(|s| {
        let closed = gate.write().unwrap_or_else(|p| p.into_inner());
        let started = (0..n).try_for_each(|_| {
            thread::Builder::new()
                .spawn_scoped(s, || drop(gate.read()))
                .map(drop)
        });
        drop(closed);
        started
    });
    for _ in 0..1000 {
        if live() <= before {
            break;
        }
        thread::sleep(Duration::from_micros(100));
    }
    started
}

/// A blocking HTTP client for download jobs (one per process, shared by its threads:
/// `reqwest::blocking::Client` is `Clone + Send + Sync`).
fn blocking_client(job: &Job) -> anyhow::Result<Option<reqwest::blocking::Client>> {
    if !matches!(job, Job::Fetch { .. }) {
        return Ok(None);
    }
    Ok(Some(
        reqwest::blocking::Client::builder()
            // No 30 s default: the parent bounds the whole cell, counting only the time it
            // ran, so a Ctrl-Z mid-download does not fail it.
            .timeout(None)
            .build()
            .context("building the HTTP client")?,
    ))
}

/// What one thread needs to run items of any job: the HTTP client or its own database
/// connection (SQLite's or the server's), and the images.
struct Worker<'a> {
    job: &'a Job,
    http: Option<reqwest::blocking::Client>,
    db: Option<rusqlite::Connection>,
    pg: Option<PgConn>,
    images: &'a [Vec<u8>],
}

impl Worker<'_> {
    fn item(&mut self, i: u64) -> Answer {
        match &self.http {
            Some(http) => {
                let body = http
                    .get(self.job.url(i))
                    .send()
                    .and_then(|r| r.error_for_status())
                    .and_then(|r| r.bytes())
                    .with_context(|| format!("downloading file {i}"))?;
                self.job.check_body(i, &body)
            }
            None if matches!(self.job, Job::Pg { .. }) => self.job.pg_item(&mut self.pg, i),
            None => {
                let image = self.images.get(i as usize).map(Vec::as_slice);
                self.job.cpu_or_db_item(i, &mut self.db, image)
            }
        }
    }
}

/// Item `i` as a task: asyncio's way. `hybrid` hands the blocking part to other threads
/// (CPU to rayon, SQLite and the blocking server driver to `spawn_blocking`, as aiosqlite
/// does) so the runtime's workers only ever wait on I/O; plain tokio runs everything on its
/// workers, where a CPU or SQLite item blocks its worker thread until done, and queries a
/// server through the async driver and a pool (asyncpg's way).
fn task_item(
    job: &Job,
    images: Arc<Vec<Vec<u8>>>,
    hybrid: bool,
    blocking: Blocking,
) -> anyhow::Result<impl Fn(u64) -> std::pin::Pin<Box<dyn Future<Output = Answer> + Send>>> {
    let job = Arc::new(job.clone());
    let client = reqwest::Client::new();
    let pool = match *job {
        Job::Pg { .. } if !hybrid => Some(job.pg_pool()?),
        _ => None,
    };
    Ok(move |i| {
        let (job, client, images) = (job.clone(), client.clone(), images.clone());
        let (pool, blocking) = (pool.clone(), blocking.clone());
        let task = async move {
            match &*job {
                Job::Fetch { .. } => {
                    let body = client
                        .get(job.url(i))
                        .send()
                        .await
                        .and_then(|r| r.error_for_status())
                        .with_context(|| format!("downloading file {i}"))?
                        .bytes()
                        .await?;
                    if hybrid {
                        on_rayon(move || job.check_body(i, &body)).await
                    } else {
                        job.check_body(i, &body)
                    }
                }
                Job::Pg { .. } => match &pool {
                    Some(pool) => job.pg_item_async(pool, i).await,
                    None => {
                        let query = move || blocking_query(&job, &blocking, i);
                        tokio::task::spawn_blocking(query).await?
                    }
                },
                Job::Db { .. } if hybrid => {
                    tokio::task::spawn_blocking(move || on_this_thread(&job, i, &images)).await?
                }
                _ if hybrid => on_rayon(move || on_this_thread(&job, i, &images)).await,
                _ => on_this_thread(&job, i, &images),
            }
        };
        Box::pin(task) as std::pin::Pin<Box<dyn Future<Output = Answer> + Send>>
    })
}

/// The hybrid cell's blocking connections to a server, shared by its blocking threads.
type Blocking = Arc<Mutex<Vec<PgConn>>>;

/// Query `i` of a server job on a spare blocking connection (a new one when none is
/// spare), given back after: at most as many as the runtime's blocking threads.
fn blocking_query(job: &Job, spare: &Mutex<Vec<PgConn>>, i: u64) -> Answer {
    let lock = || spare.lock().unwrap_or_else(|p| p.into_inner());
    let mut conn = lock().pop();
    let answer = job.pg_item(&mut conn, i);
    lock().extend(conn);
    answer
}

thread_local! {
    /// One SQLite connection per thread, opened on first use: a connection pool with no
    /// pool (a `Connection` is `Send` but not `Sync`, so each thread keeps its own).
    static DB: std::cell::RefCell<Option<rusqlite::Connection>> =
        const { std::cell::RefCell::new(None) };
}

/// Item `i` of a CPU or database job on the calling thread, reusing its connection.
fn on_this_thread(job: &Job, i: u64, images: &[Vec<u8>]) -> Answer {
    let image = images.get(i as usize).map(Vec::as_slice);
    DB.with_borrow_mut(|db| job.cpu_or_db_item(i, db, image))
}

/// Peaks that worker processes printed after their answers, added up.
fn added_peaks(rest: &[String]) -> Option<u64> {
    rest.iter().map(|r| r.trim().parse::<u64>().ok()).sum()
}

/// [`processes`] on this binary: `--role worker JOB K OF` takes items K, K+OF, ...; an image
/// job's worker gets its images through its standard input (`Pool.map` pickles them).
fn run_processes(
    job: &Job,
    workers: usize,
    images: &[Vec<u8>],
) -> anyhow::Result<(u64, Option<u64>)> {
    let spec = serde_json::to_string(job)?;
    let (answer, rest) = processes(workers, |k| {
        let mut child = crate::child_side::role("worker")?
            .args([&spec, &k.to_string(), &workers.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| io::Error::other("no stdin"))?;
        for image in images.iter().skip(k).step_by(workers) {
            stdin.write_all(image)?;
        }
        Ok(child)
    })?;
    Ok((answer, added_peaks(&rest)))
}

/// The worker process: `compare --role worker JOB K OF` runs items K, K+OF, ... in order
/// and prints their sum and its own peak memory (its `VmHWM`; see `cells.rs` on why not
/// `ru_maxrss`).
pub fn worker_role(args: &[String]) -> anyhow::Result<()> {
    let [spec, k, of] = args else {
        bail!("usage: --role worker JOB_JSON K OF");
    };
    watchdog()?;
    quiet_if_orphaned(run_worker(spec, k, of))
}

fn run_worker(spec: &str, k: &str, of: &str) -> anyhow::Result<()> {
    let job: Job = serde_json::from_str(spec).context("reading the job")?;
    let (k, of): (u64, u64) = (k.parse()?, of.parse()?);
    let mine = (k..job.items()).step_by(of.max(1) as usize);
    let mut images = vec![Vec::new(); job.items() as usize];
    if matches!(job, Job::Images { .. }) {
        let mut stdin = io::stdin().lock();
        for i in mine.clone() {
            let mut image = vec![0; job.image_len()];
            stdin
                .read_exact(&mut image)
                .with_context(|| format!("reading image {i}"))?;
            images[i as usize] = image;
        }
    }
    let mut w = Worker {
        job: &job,
        http: blocking_client(&job)?,
        db: None,
        pg: None,
        images: &images,
    };
    let mut acc = 0u64;
    for i in mine {
        acc = acc.wrapping_add(w.item(i)?);
    }
    tracing::debug!(pid = std::process::id(), k, "worker done");
    print_answer(acc)
}

fn print_answer(answer: u64) -> anyhow::Result<()> {
    match common::memory::peak_rss() {
        Some(peak) => say(&format!("{answer} {peak}")),
        None => say(&answer.to_string()),
    }
}

/// Serve `clients` connections of the line-echo protocol with `model`; returns the number
/// of lines echoed and the peak memory of any server processes it started.
pub fn serve(
    model: Model,
    listener: TcpListener,
    clients: u64,
) -> anyhow::Result<(u64, Option<u64>)> {
    let workers = model.workers(clients, cores());
    let echoed = match model {
        Model::Sequential => serve_sequential(&listener, clients)?,
        Model::Threads => serve_threads(&listener, clients)?,
        Model::ThreadPool => serve_pool(&listener, clients, workers)?,
        Model::Rayon => {
            start_rayon()?;
            serve_rayon(&listener, clients)?
        }
        Model::Tokio => runtime(None)?.block_on(serve_tokio(listener, clients))?,
        Model::Processes => {
            let share = |k: usize| {
                clients / workers as u64 + u64::from((k as u64) < clients % workers as u64)
            };
            let (echoed, rest) = serve_processes(&listener, workers, |k, stdin| {
                crate::child_side::role("server-worker")?
                    .arg(share(k).to_string())
                    .stdin(stdin)
                    .stdout(Stdio::piped())
                    .spawn()
            })?;
            return Ok((echoed, added_peaks(&rest)));
        }
        Model::Hybrid => bail!("{} does not apply to a server", model.name()),
    };
    Ok((echoed, None))
}

/// A server process: `compare --role server-worker CLIENTS` serves that many connections on
/// the listener it got as stdin, a thread per connection, and prints the lines it echoed
/// and its own peak memory.
pub fn server_worker_role(args: &[String]) -> anyhow::Result<()> {
    let [share] = args else {
        bail!("usage: --role server-worker CLIENTS (the listener as stdin)");
    };
    watchdog()?;
    quiet_if_orphaned((|| {
        let listener = listener_from_stdin().context("standard input is not a listening socket")?;
        let echoed = serve_threads(&listener, share.parse()?)?;
        print_answer(echoed)
    })())
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::fixture::{ServerConfig, TestServer};
    use common::gauge::Gauge;

    fn in_process_models() -> impl Iterator<Item = Model> {
        Model::ALL.into_iter().filter(|&m| m != Model::Processes)
    }

    fn no_images() -> Arc<Vec<Vec<u8>>> {
        Arc::new(Vec::new())
    }

    #[test]
    fn every_executor_adds_up_every_item_once() {
        let item = |calls: &mut u64, i: u64| {
            *calls += 1;
            Ok(i * i)
        };
        let expected: u64 = (0..50).map(|i| i * i).sum();
        assert_eq!(sequential(50, || 0, item).unwrap(), expected);
        assert_eq!(threads(50, || 0, item).unwrap(), expected);
        assert_eq!(thread_pool(50, 3, || 0, item).unwrap(), expected);
        assert_eq!(rayon_pool(50, || 0, item).unwrap(), expected);
        let rt = runtime(None).unwrap();
        assert_eq!(
            rt.block_on(tokio_tasks(50, |i| async move { Ok(i * i) }))
                .unwrap(),
            expected
        );
        assert_eq!(
            rt.block_on(tokio_tasks(50, |i| on_rayon(move || Ok(i * i))))
                .unwrap(),
            expected
        );
    }

    #[test]
    fn the_thread_pool_runs_at_most_its_workers_at_once_and_an_error_surfaces() {
        let gauge = Gauge::new();
        let barrier = std::sync::Barrier::new(3);
        let total = thread_pool(
            30,
            3,
            || (),
            |_, i| {
                let _inside = gauge.enter();
                if i < 3 {
                    // The first three items meet: all three workers are busy at once.
                    barrier.wait();
                }
                Ok(i)
            },
        )
        .unwrap();
        assert_eq!(total, (0..30u64).sum::<u64>());
        assert_eq!(gauge.max(), 3);
        let failed = thread_pool(
            10,
            2,
            || (),
            |_, i| {
                ensure!(i != 7, "item 7 failed");
                Ok(i)
            },
        );
        assert!(failed.unwrap_err().to_string().contains("item 7"));
    }

    #[test]
    fn every_model_gets_the_known_answer_on_cpu_jobs() {
        let jobs = [
            Job::SumSquares {
                n: 100_003,
                chunks: 8,
            },
            Job::Primes {
                n: 10_000,
                chunks: 8,
            },
            Job::Images {
                count: 10,
                width: 256,
                height: 4,
            },
        ];
        for job in &jobs {
            let images = Arc::new(job.images());
            for model in in_process_models() {
                let (answer, _) = run(model, job, images.clone()).unwrap();
                assert_eq!(answer, job.expected().unwrap(), "{model:?} {job:?}");
            }
        }
    }

    #[test]
    fn every_model_downloads_every_file_once() {
        let server = TestServer::start(ServerConfig::default()).unwrap();
        let job = Job::Fetch {
            base: server.url(""),
            count: 6,
            latency_ms: 1,
            spread: true,
            size: 300,
            parse: true,
        };
        let models: Vec<_> = in_process_models().collect();
        for &model in &models {
            let (answer, _) = run(model, &job, no_images()).unwrap();
            assert_eq!(answer, job.expected().unwrap(), "{model:?}");
        }
        assert_eq!(server.requests_served(), 6 * models.len() as u64);
    }

    #[test]
    fn the_thread_pool_never_holds_more_than_its_workers() {
        let server = TestServer::start(ServerConfig::default()).unwrap();
        let job = Job::Fetch {
            base: server.url(""),
            count: 40,
            latency_ms: 2,
            spread: false,
            size: 10,
            parse: false,
        };
        run(Model::ThreadPool, &job, no_images()).unwrap();
        assert!(server.max_in_flight() <= Model::ThreadPool.workers(40, cores()) as u64);
        assert_eq!(server.requests_served(), 40);
    }

    #[test]
    fn a_failed_download_is_an_error_not_a_fast_answer() {
        let server = TestServer::start(ServerConfig::default()).unwrap();
        // Every URL under /nothing answers 404.
        let broken = Job::Fetch {
            base: server.url("/nothing"),
            count: 2,
            latency_ms: 0,
            spread: false,
            size: 300,
            parse: false,
        };
        for model in in_process_models() {
            assert!(run(model, &broken, no_images()).is_err(), "{model:?}");
        }
    }

    #[test]
    fn every_server_model_echoes_every_line() {
        let job = Job::Serve {
            clients: 5,
            messages: 3,
            think_ms: 0,
        };
        for model in in_process_models().filter(|m| m.not_applicable(&job).is_none()) {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = std::thread::spawn(move || serve(model, listener, 5));
            let rt = runtime(None).unwrap();
            let sent = rt.block_on(drive_clients(addr, 5, 3, 0)).unwrap();
            assert_eq!(sent, 15);
            assert_eq!(server.join().unwrap().unwrap().0, 15, "{model:?}");
        }
    }

    #[test]
    fn a_few_threads_can_start() {
        threads_can_start(3).unwrap();
    }

    #[test]
    fn python_families_sort_as_their_names_do() {
        let mut by_enum = [
            PythonFamily::Threading,
            PythonFamily::Asyncio,
            PythonFamily::NoTwin,
            PythonFamily::Sequential,
            PythonFamily::Multiprocessing,
        ];
        let mut by_name = by_enum.map(PythonFamily::name);
        by_enum.sort();
        by_name.sort();
        assert_eq!(by_enum.map(PythonFamily::name), by_name);
        assert_eq!(
            serde_json::to_string(&PythonFamily::NoTwin).unwrap(),
            "\"(no Python twin)\""
        );
    }
}
