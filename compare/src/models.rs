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
//! Where Rust differs: there is no GIL, so threads (and rayon, and even tokio's worker
//! threads) run Rust code on every core at once; processes buy isolation, not speed.
//! Tokio futures do nothing until polled; a blocking call inside one stalls its worker
//! thread (tokio has as many as cores), which is why "hybrid" hands CPU work to rayon and
//! blocking database calls to `spawn_blocking`.
//!
//! Every model returns the wrapping sum of the item answers, which the caller checks.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, anyhow, bail, ensure};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::jobs::Job;

/// A concurrency model, named as the table prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
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

    /// The Python model this one stands for, as the guides name them.
    pub fn python_family(self) -> &'static str {
        match self {
            Model::Sequential => "sequential",
            Model::Threads | Model::ThreadPool => "threading",
            Model::Processes => "multiprocessing",
            Model::Tokio | Model::Hybrid => "asyncio",
            Model::Rayon => "(no Python twin)",
        }
    }

    /// How many workers it uses for `job` on a machine with `cores` cores.
    pub fn workers(self, job: &Job, cores: usize) -> usize {
        match self {
            Model::Sequential => 1,
            Model::Threads => job.items() as usize,
            // ThreadPoolExecutor's default: min(32, os.cpu_count() + 4).
            Model::ThreadPool => (cores + 4).min(32),
            // Pool()'s default: os.cpu_count().
            Model::Processes | Model::Rayon => cores,
            Model::Tokio | Model::Hybrid => cores,
        }
    }

    /// Why this model does not apply to `job`, if it does not.
    pub fn not_applicable(self, job: &Job) -> Option<&'static str> {
        match (self, job) {
            (Model::Processes, Job::Serve { .. }) => {
                Some("sharing one listening socket between processes needs fork(): no safe std API")
            }
            (Model::Hybrid, Job::Serve { .. }) => {
                Some("no CPU part to hand off: it would be the tokio cell again")
            }
            _ => None,
        }
    }
}

/// The number of cores (`os.cpu_count()`).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Run `job` with `model` in this process. Returns the sum of the item answers, and the
/// peak memory of any worker processes it started (their peaks added up).
pub fn run(model: Model, job: &Job) -> anyhow::Result<(u64, Option<u64>)> {
    let n = job.items();
    let workers = model.workers(job, cores());
    tracing::debug!(model = model.name(), items = n, workers, "run");
    let answer = match model {
        Model::Sequential => {
            let mut w = Worker::new(job)?;
            (0..n).try_fold(0u64, |acc, i| {
                Ok::<_, anyhow::Error>(acc.wrapping_add(w.item(i)?))
            })?
        }
        Model::Threads => std::thread::scope(|s| {
            // One OS thread per item; scoped threads may borrow `job`.
            let http = blocking_client(job)?;
            let handles: Vec<_> = (0..n)
                .map(|i| {
                    let http = http.clone();
                    s.spawn(move || Worker::with_client(job, http).item(i))
                })
                .collect();
            sum_joined(handles.into_iter().map(|h| h.join()))
        })?,
        Model::ThreadPool => {
            // A fixed set of workers taking the next item from a shared counter.
            let next = AtomicU64::new(0);
            let http = blocking_client(job)?;
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..workers)
                    .map(|_| {
                        let (next, http) = (&next, http.clone());
                        s.spawn(move || {
                            let mut w = Worker::with_client(job, http);
                            let mut acc = 0u64;
                            loop {
                                let i = next.fetch_add(1, Ordering::Relaxed);
                                if i >= n {
                                    return Ok(acc);
                                }
                                acc = acc.wrapping_add(w.item(i)?);
                            }
                        })
                    })
                    .collect();
                sum_joined(handles.into_iter().map(|h| h.join()))
            })?
        }
        Model::Processes => return run_processes(job, workers),
        Model::Rayon => {
            let http = blocking_client(job)?;
            (0..n)
                .into_par_iter()
                .map_init(|| Worker::with_client(job, http.clone()), |w, i| w.item(i))
                .try_reduce(|| 0, |a, b| Ok(a.wrapping_add(b)))?
        }
        Model::Tokio => runtime()?.block_on(run_tokio(Arc::new(job.clone()), false))?,
        Model::Hybrid => runtime()?.block_on(run_tokio(Arc::new(job.clone()), true))?,
    };
    Ok((answer, None))
}

fn sum_joined(
    mut results: impl Iterator<Item = std::thread::Result<anyhow::Result<u64>>>,
) -> anyhow::Result<u64> {
    results.try_fold(0u64, |acc, r| {
        let v = r.map_err(|_| anyhow!("a worker thread panicked"))??;
        Ok(acc.wrapping_add(v))
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")
}

/// A blocking HTTP client for download jobs (one per process, shared by its threads:
/// `reqwest::blocking::Client` is `Clone + Send + Sync`).
fn blocking_client(job: &Job) -> anyhow::Result<Option<reqwest::blocking::Client>> {
    if !matches!(job, Job::Fetch { .. }) {
        return Ok(None);
    }
    Ok(Some(
        reqwest::blocking::Client::builder()
            .build()
            .context("building the HTTP client")?,
    ))
}

/// What one thread needs to run items: the HTTP client or its own database connection.
struct Worker<'a> {
    job: &'a Job,
    http: Option<reqwest::blocking::Client>,
    db: Option<rusqlite::Connection>,
}

impl<'a> Worker<'a> {
    fn new(job: &'a Job) -> anyhow::Result<Self> {
        Ok(Worker::with_client(job, blocking_client(job)?))
    }

    fn with_client(job: &'a Job, http: Option<reqwest::blocking::Client>) -> Self {
        Worker {
            job,
            http,
            db: None,
        }
    }

    fn item(&mut self, i: u64) -> anyhow::Result<u64> {
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
            None => self.job.cpu_or_db_item(i, &mut self.db),
        }
    }
}

/// asyncio's way: one task per item on tokio's runtime. `hybrid` hands the blocking part
/// to other threads (CPU to rayon, SQLite to `spawn_blocking`) so the runtime's workers
/// only ever wait on I/O; plain tokio runs everything on its workers. Database tasks use
/// the connection of the thread they run on (see [`on_this_thread`]).
async fn run_tokio(job: Arc<Job>, hybrid: bool) -> anyhow::Result<u64> {
    let mut tasks = tokio::task::JoinSet::new();
    let client = reqwest::Client::new();
    for i in 0..job.items() {
        let (job, client) = (job.clone(), client.clone());
        tasks.spawn(async move {
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
                Job::Db { .. } if hybrid => {
                    // aiosqlite's way: the blocking call runs on tokio's blocking pool.
                    tokio::task::spawn_blocking(move || on_this_thread(&job, i)).await?
                }
                _ if hybrid => on_rayon(move || on_this_thread(&job, i)).await,
                // Blocks this worker thread until done: the event loop stalls meanwhile.
                _ => on_this_thread(&job, i),
            }
        });
    }
    let mut acc = 0u64;
    while let Some(r) = tasks.join_next().await {
        acc = acc.wrapping_add(r??);
    }
    Ok(acc)
}

thread_local! {
    /// One SQLite connection per thread, opened on first use: a connection pool with no
    /// pool (a `Connection` is `Send` but not `Sync`, so each thread keeps its own).
    static DB: std::cell::RefCell<Option<rusqlite::Connection>> =
        const { std::cell::RefCell::new(None) };
}

/// Item `i` of a CPU or database job on the calling thread, reusing its connection.
fn on_this_thread(job: &Job, i: u64) -> anyhow::Result<u64> {
    DB.with_borrow_mut(|db| job.cpu_or_db_item(i, db))
}

/// Run `f` on rayon's pool and await its answer without blocking the runtime.
async fn on_rayon<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let _ = tx.send(f());
    });
    rx.await.context("the rayon task was dropped")?
}

/// `Pool(processes=workers).map(...)`: start `workers` copies of this binary, each taking
/// every `workers`-th item; add up what they print.
fn run_processes(job: &Job, workers: usize) -> anyhow::Result<(u64, Option<u64>)> {
    let spec = serde_json::to_string(job)?;
    let children = (0..workers)
        .map(|k| {
            common::cli::role_command(env!("CARGO_PKG_NAME"), "worker")?
                .args([&spec, &k.to_string(), &workers.to_string()])
                .stdout(Stdio::piped())
                .spawn()
                .context("starting a worker process")
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut acc = 0u64;
    let mut peaks = Some(0u64);
    for mut child in children {
        let mut out = String::new();
        child
            .stdout
            .take()
            .context("no stdout")?
            .read_to_string(&mut out)?;
        let (status, rusage_peak) = common::memory::wait_with_peak_rss(child)?;
        ensure!(status.success(), "a worker process failed: {status}");
        // The worker prints its answer and its own peak memory (see `cells.rs` on why not
        // ru_maxrss).
        let mut words = out.split_whitespace();
        let v: u64 = words
            .next()
            .and_then(|w| w.parse().ok())
            .with_context(|| format!("worker said {out:?}"))?;
        let peak = words.next().and_then(|w| w.parse().ok()).or(rusage_peak);
        acc = acc.wrapping_add(v);
        peaks = peaks.zip(peak).map(|(a, b)| a + b);
    }
    Ok((acc, peaks))
}

/// The worker process: `compare --role worker JOB K OF` runs items K, K+OF, ... in order
/// and prints their sum and its own peak memory.
pub fn worker_role(args: &[String]) -> anyhow::Result<()> {
    let [spec, k, of] = args else {
        bail!("usage: --role worker JOB_JSON K OF");
    };
    crate::cells::exit_after(crate::cells::CELL_LIMIT);
    let job: Job = serde_json::from_str(spec).context("reading the job")?;
    let (k, of): (u64, u64) = (k.parse()?, of.parse()?);
    let mut w = Worker::new(&job)?;
    let mut acc = 0u64;
    for i in (k..job.items()).step_by(of.max(1) as usize) {
        acc = acc.wrapping_add(w.item(i)?);
    }
    tracing::debug!(pid = std::process::id(), k, "worker done");
    match common::memory::peak_rss() {
        Some(peak) => println!("{acc} {peak}"),
        None => println!("{acc}"),
    }
    Ok(())
}

// ---------------------------------------------------------------- the echo server

/// Serve `clients` connections of the line-echo protocol with `model`; returns the number
/// of lines echoed.
pub fn serve(model: Model, listener: TcpListener, clients: u64) -> anyhow::Result<u64> {
    let workers = model.workers(
        &Job::Serve {
            clients,
            messages: 0,
            think_ms: 0,
        },
        cores(),
    );
    match model {
        Model::Sequential => (0..clients).try_fold(0, |acc, _| {
            let (stream, _) = listener.accept()?;
            Ok(acc + echo(stream)?)
        }),
        Model::Threads => std::thread::scope(|s| {
            // Thread per connection: the accept loop hands each one to a new thread.
            let mut handles = Vec::new();
            for _ in 0..clients {
                let (stream, _) = listener.accept()?;
                handles.push(s.spawn(move || echo(stream)));
            }
            sum_joined(handles.into_iter().map(|h| h.join()))
        }),
        Model::ThreadPool => {
            // Every worker calls accept() on the shared listener (`accept` takes `&self`).
            let left = AtomicU64::new(clients);
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..workers)
                    .map(|_| {
                        let (listener, left) = (&listener, &left);
                        s.spawn(move || {
                            let mut acc = 0;
                            while left
                                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| {
                                    l.checked_sub(1)
                                })
                                .is_ok()
                            {
                                let (stream, _) = listener.accept()?;
                                acc += echo(stream)?;
                            }
                            Ok(acc)
                        })
                    })
                    .collect();
                sum_joined(handles.into_iter().map(|h| h.join()))
            })
        }
        Model::Rayon => {
            // rayon::scope: each connection a rayon task, at most `cores` served at once.
            let total = AtomicU64::new(0);
            let failed = std::sync::Mutex::new(None);
            rayon::scope(|s| {
                for _ in 0..clients {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (total, failed) = (&total, &failed);
                            s.spawn(move |_| match echo(stream) {
                                Ok(n) => {
                                    total.fetch_add(n, Ordering::Relaxed);
                                }
                                Err(e) => {
                                    *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e)
                                }
                            });
                        }
                        Err(e) => {
                            *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.into());
                            break;
                        }
                    }
                }
            });
            if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
                return Err(e);
            }
            Ok(total.into_inner())
        }
        Model::Tokio => runtime()?.block_on(async {
            // Task per connection: thousands cost kilobytes each, not a thread stack.
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
        }),
        Model::Processes | Model::Hybrid => {
            bail!("{} does not apply to a server", model.name())
        }
    }
}

/// Echo lines until the client closes the connection; returns how many.
fn echo(stream: TcpStream) -> anyhow::Result<u64> {
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

async fn echo_async(stream: tokio::net::TcpStream) -> anyhow::Result<u64> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use common::fixture::{ServerConfig, TestServer};

    fn in_process_models() -> impl Iterator<Item = Model> {
        Model::ALL.into_iter().filter(|&m| m != Model::Processes)
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
                pixels: 500,
            },
        ];
        for job in &jobs {
            for model in in_process_models() {
                let (answer, _) = run(model, job).unwrap();
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
        };
        let models: Vec<_> = in_process_models().collect();
        for &model in &models {
            let (answer, _) = run(model, &job).unwrap();
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
        };
        run(Model::ThreadPool, &job).unwrap();
        assert!(server.max_in_flight() <= Model::ThreadPool.workers(&job, cores()) as u64);
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
        };
        for model in in_process_models() {
            assert!(run(model, &broken).is_err(), "{model:?}");
        }
    }

    #[test]
    fn every_server_model_echoes_every_line() {
        for model in in_process_models().filter(|m| m.not_applicable(&serve_job()).is_none()) {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = std::thread::spawn(move || serve(model, listener, 5));
            let rt = runtime().unwrap();
            let sent = rt.block_on(drive_clients(addr, 5, 3, 0)).unwrap();
            assert_eq!(sent, 15);
            assert_eq!(server.join().unwrap().unwrap(), 15, "{model:?}");
        }
    }

    fn serve_job() -> Job {
        Job::Serve {
            clients: 5,
            messages: 3,
            think_ms: 0,
        }
    }
}
