//! `multiprocessing.Pool(n).map(compute, inputs, chunksize)` -> a pool of worker processes
//! fed chunks over ipc-channels, results put back in input order; and rayon on the same work.
//!
//! Python:
//!     def compute(n):
//!         return sum(i * i for i in range(n))
//!     if __name__ == "__main__":
//!         with Pool(os.cpu_count()) as pool:
//!             results = pool.map(compute, [3_000_000] * 512)   # in input order
//!
//! Rust: the pool below is what `Pool` does inside: N children (this binary, `--role
//! pool-worker`), a task inbox per worker, one shared result channel back. Chunks go to
//! whichever worker is idle, so results arrive out of order; each carries its chunk index
//! and the parent puts it in its slot, which is why `map` returns in input order. A worker
//! that returns an error makes `map` return that error (Python re-raises it); a worker
//! that dies is replaced and its chunk retried (see `crash-isolation`); every wait is
//! bounded, so nothing hangs. The pool takes a closure that starts one worker, so it does
//! not care how the child is made. `os.cpu_count()` is `std::thread::available_parallelism()`
//! (it respects an affinity mask and a container's CPU quota).
//!
//! Python's integers never overflow; `u64` does, past n = 3.8 million for this sum, so the
//! inputs stay below that and every result is exact.
//!
//! Rust has no GIL: rayon's threads run the same `compute` in parallel inside one process,
//! with nothing to pickle. With large chunks the process pool's overhead (starting the
//! children, a message per chunk) is small, and its time comes close to rayon's.
//!
//! Watch: both give the same results, in input order; in the demo, both timelines show one
//! busy lane per core; the pool's lanes are pids (a `chunk` span from sending a chunk to
//! receiving its results), rayon's are threads.
//!
//! Run only this: cargo run -p multiprocessing-demo -- pool-map
//! Copy it: cargo add anyhow@1 ipc-channel@0.23 rayon@1 tracing@0.1 && cargo add serde@1 --features derive
//! Copy beside it: handshake.rs

#[path = "handshake.rs"]
mod handshake;

use std::collections::VecDeque;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use handshake::PATIENCE;
use ipc_channel::TryRecvError;
use ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// `compute(n)` refuses inputs above this (Python would raise `ValueError`).
pub const MAX_N: u64 = 1_000_000_000;

/// The guides' `compute(n)`: `sum(i * i for i in range(n))`, exact up to n = 3.8 million
/// (past that a `u64` wraps).
pub fn compute(n: u64) -> Result<u64, String> {
    if n > MAX_N {
        return Err(format!("compute({n}): n above {MAX_N} is refused"));
    }
    Ok((0..n).fold(0u64, |sum, i| sum.wrapping_add(i.wrapping_mul(i))))
}

/// Parent -> worker.
#[derive(Serialize, Deserialize)]
pub enum Task {
    Hello {
        results: IpcSender<Done>,
    },
    /// `job` numbers the `map` call, so a late result of a failed one is recognised.
    Chunk {
        job: u64,
        index: usize,
        inputs: Vec<u64>,
    },
    Stop,
}

/// Worker -> parent: one chunk's results, or the first error.
#[derive(Serialize, Deserialize)]
pub struct Done {
    pid: u32,
    job: u64,
    index: usize,
    results: Result<Vec<u64>, String>,
}

/// The worker's side, in the child process: `compute` every input of every chunk it gets.
pub fn worker(
    inbox: IpcReceiver<Task>,
    compute: impl Fn(u64) -> Result<u64, String>,
) -> anyhow::Result<()> {
    let Task::Hello { results } = handshake::recv(&inbox).context("waiting for Hello")? else {
        bail!("expected Hello first");
    };
    let pid = std::process::id();
    loop {
        let Ok(task) = inbox.recv() else {
            return Ok(()); // the pool is gone: nothing left to do
        };
        let (job, index, inputs) = match task {
            Task::Chunk { job, index, inputs } => (job, index, inputs),
            Task::Stop => return Ok(()),
            Task::Hello { .. } => bail!("Hello twice"),
        };
        let out = inputs.iter().map(|&n| compute(n)).collect();
        let done = Done {
            pid,
            job,
            index,
            results: out,
        };
        if results.send(done).is_err() {
            return Ok(()); // the pool is gone: nobody to answer, nothing to report
        }
    }
}

/// Starts one worker process and returns it with the sending end of its inbox.
pub type StartWorker = Box<dyn FnMut() -> anyhow::Result<(Child, IpcSender<Task>)> + Send>;

struct Worker {
    child: Child,
    inbox: IpcSender<Task>,
    /// The `map` call, chunk and attempt it is working on, and the span that shows it.
    busy: Option<(u64, usize, u32, tracing::Span)>,
}

/// A pool of worker processes. Dropping it stops them (Python's `with Pool() as pool:`).
pub struct Pool {
    start: StartWorker,
    workers: Vec<Worker>,
    results_tx: IpcSender<Done>,
    results: IpcReceiver<Done>,
    /// Workers that died, with how they exited (filled by `map`).
    pub deaths: Vec<(u32, ExitStatus)>,
    /// How many times a dead worker's chunk may be retried.
    pub retries: u32,
    job: u64,
}

impl Pool {
    /// `Pool(processes=size)`: `start` starts one worker.
    pub fn new(size: usize, start: StartWorker) -> anyhow::Result<Pool> {
        let (results_tx, results) = ipc::channel()?;
        let mut pool = Pool {
            start,
            workers: Vec::new(),
            results_tx,
            results,
            deaths: Vec::new(),
            retries: 2,
            job: 0,
        };
        for _ in 0..size.max(1) {
            let w = pool.start_worker()?;
            pool.workers.push(w);
        }
        Ok(pool)
    }

    fn start_worker(&mut self) -> anyhow::Result<Worker> {
        let (child, inbox) = (self.start)()?;
        inbox.send(Task::Hello {
            results: self.results_tx.clone(),
        })?;
        Ok(Worker {
            child,
            inbox,
            busy: None,
        })
    }

    /// `pool.map(compute, inputs, chunksize)`: results in input order, or the first error.
    pub fn map(&mut self, inputs: &[u64], chunksize: usize) -> anyhow::Result<Vec<u64>> {
        self.job += 1;
        let job = self.job;
        let chunks: Vec<&[u64]> = inputs.chunks(chunksize.max(1)).collect();
        let mut slots: Vec<Option<Vec<u64>>> = vec![None; chunks.len()];
        let mut todo: VecDeque<(usize, u32)> = (0..chunks.len()).map(|i| (i, 0)).collect();
        let mut left = chunks.len();
        let mut last_progress = Instant::now();
        let mut turn_started = Instant::now();
        while left > 0 {
            // Hand a chunk to every idle worker.
            for w in self.workers.iter_mut().filter(|w| w.busy.is_none()) {
                let Some((index, attempt)) = todo.pop_front() else {
                    break;
                };
                // Open from the send to the result: the chunk's bar in a timeline.
                let span = tracing::info_span!("chunk", worker = w.child.id(), index);
                w.inbox.send(Task::Chunk {
                    job,
                    index,
                    inputs: chunks[index].to_vec(),
                })?;
                w.busy = Some((job, index, attempt, span));
            }
            match self.results.try_recv_timeout(Duration::from_millis(5)) {
                Ok(done) => {
                    last_progress = Instant::now();
                    // (A worker replaced after sending this is no longer in the list.)
                    if let Some(w) = self.workers.iter_mut().find(|w| w.child.id() == done.pid) {
                        w.busy = None; // closes its span
                    }
                    if done.job != job {
                        continue; // finished after an earlier map had already failed
                    }
                    let results = done.results.map_err(|e| anyhow!(e))?; // Python re-raises
                    anyhow::ensure!(
                        results.len() == chunks[done.index].len(),
                        "chunk {} came back short",
                        done.index
                    );
                    if slots[done.index].replace(results).is_none() {
                        left -= 1;
                    }
                }
                Err(TryRecvError::Empty) => {}
                Err(e) => return Err(e).context("reading results"),
            }
            self.replace_dead_workers(job, &mut todo)?;
            // A turn takes about 5 ms. One that took seconds means this process was
            // stopped (Ctrl-Z, then `fg`), its workers with it: the pool is not stuck,
            // so its patience starts again.
            if turn_started.elapsed() > Duration::from_secs(1) {
                last_progress = Instant::now();
            }
            turn_started = Instant::now();
            if last_progress.elapsed() > PATIENCE {
                bail!("no result for {PATIENCE:?}: the pool is stuck");
            }
        }
        Ok(slots.into_iter().flatten().flatten().collect())
    }

    /// A worker whose process has exited is replaced; its chunk goes back in the queue.
    fn replace_dead_workers(
        &mut self,
        job: u64,
        todo: &mut VecDeque<(usize, u32)>,
    ) -> anyhow::Result<()> {
        for k in 0..self.workers.len() {
            let Some(status) = self.workers[k].child.try_wait()? else {
                continue;
            };
            let pid = self.workers[k].child.id();
            tracing::debug!(pid, %status, "worker died; starting a replacement");
            self.deaths.push((pid, status));
            if let Some((busy_job, index, attempt, _)) = self.workers[k].busy.take()
                && busy_job == job
            {
                if attempt >= self.retries {
                    bail!("chunk {index} killed {} workers; giving up", attempt + 1);
                }
                todo.push_front((index, attempt + 1));
            }
            self.workers[k] = self.start_worker()?;
        }
        Ok(())
    }
}

impl Drop for Pool {
    /// Ask every worker to stop, then join each (bounded: one that does not exit is killed).
    fn drop(&mut self) {
        for w in &self.workers {
            let _ = w.inbox.send(Task::Stop);
        }
        for w in &mut self.workers {
            let _ = handshake::join(&mut w.child);
        }
    }
}

/// Python's default `chunksize`: about four chunks per worker.
pub fn default_chunksize(inputs: usize, workers: usize) -> usize {
    inputs.div_ceil(4 * workers.max(1)).max(1)
}

/// The same chunks on rayon's threads, in this process: no children, nothing to send.
pub fn with_rayon(
    inputs: &[u64],
    chunksize: usize,
    compute: impl Fn(u64) -> Result<u64, String> + Sync,
) -> Result<Vec<u64>, String> {
    let chunks = inputs
        .par_chunks(chunksize.max(1))
        .map(|chunk| {
            let _span = tracing::info_span!("chunk").entered();
            chunk.iter().map(|&n| compute(n)).collect()
        })
        .collect::<Result<Vec<Vec<u64>>, String>>()?;
    Ok(chunks.concat())
}

/// The twin of `if __name__ == "__main__":`: a child (`--role pool-worker SERVER`) works
/// on the chunks it is sent; the parent maps 64 inputs with a process pool, then rayon.
fn main() -> anyhow::Result<()> {
    if let Some((_, server)) = handshake::role() {
        return worker(handshake::connect(&server)?, compute); // the only role here
    }
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let inputs: Vec<u64> = (0..64).map(|k| 100_000 + k).collect();
    let chunksize = default_chunksize(inputs.len(), workers);
    let start = || handshake::start(handshake::this_program("pool-worker")?);
    let started = Instant::now();
    let by_pool = Pool::new(workers, Box::new(start))?.map(&inputs, chunksize)?;
    println!(
        "Pool({workers}).map, chunksize {chunksize}: {} results in {:.2?}",
        by_pool.len(),
        started.elapsed()
    );
    let started = Instant::now();
    let by_rayon = with_rayon(&inputs, chunksize, compute).map_err(anyhow::Error::msg)?;
    println!(
        "rayon: the same results: {} in {:.2?}",
        by_rayon == by_pool,
        started.elapsed()
    );
    println!(
        "in input order: compute({}) = {}, compute({}) = {}",
        inputs[0], by_pool[0], inputs[63], by_pool[63]
    );
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{self, Pair, Twin, flags};
use common::timeline::{Lanes, Recorded, Recording, Span, Timeline};
use common::timing::{Secs, efficiency, speedup, timed};
use common::workload::{sum_of_squares, sum_of_squares_expected};

use crate::child;

pub const SECTION: Section = Section::new(
    "pool-map",
    "Pool(n).map(compute, inputs, chunksize)",
    "worker processes fed chunks, results in input order; against sequential and rayon",
    run,
)
.main(|| main().report())
.cpu_bound()
.twin(&TWIN);

/// `--python`: the same inputs sequentially, with `Pool(workers).map` and with a thread
/// pool (rayon's place in Python, where the GIL keeps it near 1x).
const TWIN: Twin = Twin::new(
    "pool_map.py",
    include_str!("../python/pool_map.py"),
    &[
        "sequential_s",
        "pool_s",
        "threads_s",
        "pool_speedup",
        "threads_speedup",
        "workers",
    ],
);

/// `compute` with `common`'s loop, optimised even in a dev build so that the timings
/// mean something: the same answers and the same refusal.
pub fn fast_compute(n: u64) -> Result<u64, String> {
    if n > MAX_N {
        return compute(n);
    }
    Ok(sum_of_squares(n))
}

/// A pool worker role: `main`'s child branch, with `compute`.
pub fn serve_worker(
    args: &[String],
    compute: impl Fn(u64) -> Result<u64, String>,
) -> anyhow::Result<()> {
    child::serve(args, |server| worker(handshake::connect(server)?, compute))
}

/// `--role pool-worker SERVER`.
pub fn worker_role(args: &[String]) -> anyhow::Result<()> {
    serve_worker(args, fast_compute)
}

/// A pool of `size` children, each this demo as `--role ROLE ARGS... SERVER`.
pub fn pool_of(size: usize, role: &'static str, args: Vec<String>) -> anyhow::Result<Pool> {
    Pool::new(
        size,
        Box::new(move || {
            let mut command = child::command(role)?;
            command.args(&args);
            handshake::start(command)
        }),
    )
}

fn pool(size: usize) -> anyhow::Result<Pool> {
    pool_of(size, "pool-worker", Vec::new())
}

fn expected(inputs: &[u64]) -> Vec<u64> {
    inputs.iter().map(|&n| sum_of_squares_expected(n)).collect()
}

/// A pool's spans (`chunk`, `job`), one lane per worker process.
pub fn pool_timeline(spans: &Recorded) -> Timeline {
    let timeline = Timeline::new();
    timeline.extend(spans.spans().iter().map(|s| Span {
        lane: format!("pid {}", s.field("worker").unwrap_or("?")),
        label: s.name.to_owned(),
        start_us: s.start_us,
        end_us: s.end_us,
    }));
    timeline
}

/// One way's rounds: each one's time, and the spans of the fastest.
#[derive(Default)]
pub struct Rounds {
    pub times: Vec<Duration>,
    pub spans: Recorded,
}

impl Rounds {
    /// One more round: `f()`, timed, keeping the spans named `span` if it is the fastest.
    pub fn time<T>(&mut self, span: &str, f: impl FnOnce() -> T) -> T {
        let recording = Recording::start();
        let (out, took) = timed(f);
        let spans = recording.finish().named(&[span]);
        if self.times.iter().all(|&t| took < t) {
            self.spans = spans;
        }
        self.times.push(took);
        out
    }

    /// The fastest round, and the spread: the slowest over the fastest.
    pub fn best(&self) -> (Duration, f64) {
        let best = self.times.iter().copied().min().unwrap_or_default();
        let worst = self.times.iter().copied().max().unwrap_or_default();
        (best, worst.as_secs_f64() / best.as_secs_f64().max(1e-9))
    }
}

/// One input: below the point where the sum of squares overflows `u64` (3.8 million), so
/// every result is exact, as Python's would be.
const ITEM: u64 = 3_000_000;
/// Enough inputs that each timed run lasts a few hundred milliseconds: starting the
/// worker processes (a few milliseconds each) is then small beside the work.
const INPUTS: usize = 512;
/// The input of the side-by-side run with `--python`: Python's `compute` runs about a
/// hundred times slower than Rust's, so both sides also do this smaller job (a third of a
/// second of Python, sequentially, on a quiet machine), after the section's own.
const ITEM_WITH_PYTHON: u64 = 20_000;

/// `compute(item)` over `INPUTS` inputs sequentially, in a process pool and with rayon,
/// every result checked. Three rounds, the three ways taken in turn so that a burst of
/// load from other programs hits them alike.
fn measure(
    item: u64,
    workers: usize,
    chunksize: usize,
    rayon_pool: &rayon::ThreadPool,
) -> anyhow::Result<[Rounds; 3]> {
    let inputs = vec![item; INPUTS];
    let want = expected(&inputs);
    let mut rounds: [Rounds; 3] = Default::default();
    let [seq, by_pool, by_rayon] = &mut rounds;
    for _ in 0..3 {
        let got: Result<Vec<u64>, _> =
            seq.time("", || inputs.iter().map(|&n| fast_compute(n)).collect());
        anyhow::ensure!(got.as_ref() == Ok(&want), "sequential result is wrong");
        // `with Pool(workers) as pool: pool.map(...)`: starting the pool is part of the cost.
        let got = by_pool.time("chunk", || pool(workers)?.map(&inputs, chunksize));
        anyhow::ensure!(got? == want, "the pool's result is wrong");
        let got = by_rayon.time("chunk", || {
            rayon_pool.install(|| with_rayon(&inputs, chunksize, fast_compute))
        });
        anyhow::ensure!(got.as_ref() == Ok(&want), "rayon's result is wrong");
    }
    Ok(rounds)
}

fn run() -> SectionResult {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunksize = default_chunksize(INPUTS, workers);
    let rayon_pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()?;
    let [seq, by_pool, by_rayon] = measure(ITEM, workers, chunksize, &rayon_pool)?;
    let [(t_seq, _), (t_pool, _), (t_rayon, _)] = [&seq, &by_pool, &by_rayon].map(Rounds::best);
    println!(
        "  compute({ITEM}) x {INPUTS}, {workers} worker{}, chunksize {chunksize}, best of 3",
        if workers == 1 { "" } else { "s" }
    );
    println!("  every result checked and exact (below 3.8 million, u64 does not overflow)");
    println!("  process pool (lanes are worker processes):");
    pool_timeline(&by_pool.spans).print();
    println!("  rayon (lanes are threads in this process):");
    by_rayon.spans.print(Lanes::ThreadId);
    figure("sequential", Secs(t_seq));
    figure("process pool (with startup)", Secs(t_pool));
    figure("rayon par_chunks", Secs(t_rayon));
    let (s_pool, s_rayon) = (speedup(t_seq, t_pool), speedup(t_seq, t_rayon));
    for (name, s) in [("pool", s_pool), ("rayon", s_rayon)] {
        let e = 100.0 * efficiency(s, workers);
        figure(
            format!("{name} speedup / efficiency"),
            format!("{s:.2}x / {e:.0}%"),
        );
    }
    let rayon_over_pool = t_rayon.as_secs_f64() / t_pool.as_secs_f64();
    figure(
        "rayon time vs pool",
        format!("{:+.0}%", 100.0 * (rayon_over_pool - 1.0)),
    );
    if python::chosen().is_some() {
        side_by_side(workers, chunksize, &rayon_pool)?;
    }
    // Both use every core (the smaller of the two speedups scales), and "the same speedup
    // without processes": rayon no more than 15% slower than the pool.
    let same = Evidence::new(
        rayon_over_pool <= 1.15,
        "rayon's time within 15% of the pool's, or better",
        format!("rayon {:+.0}%", 100.0 * (rayon_over_pool - 1.0)),
    );
    takeaway_if(
        &Evidence::scaling(s_pool.min(s_rayon), workers).and(same),
        "a process pool is chunks out, results back, slots by index; for CPU work in Rust, rayon gets the same speedup without processes",
    );
    Ok(())
}

/// `--python`: the same job at Python's size, on both sides, printed side by side.
fn side_by_side(
    workers: usize,
    chunksize: usize,
    rayon_pool: &rayon::ThreadPool,
) -> anyhow::Result<()> {
    let item = ITEM_WITH_PYTHON;
    let rounds = measure(item, workers, chunksize, rayon_pool)?;
    let [(seq, s_seq), (pool, s_pool), (rayon, s_rayon)] = rounds.each_ref().map(Rounds::best);
    TWIN.compare(
        &flags(&[
            ("--item", &item),
            ("--inputs", &INPUTS),
            ("--workers", &workers),
            ("--chunksize", &chunksize),
            ("--rounds", &3),
        ]),
        &[
            Pair::secs(
                format!("sequential, Python's size: compute({item}) x {INPUTS}"),
                "sequential_s",
                seq.as_secs_f64(),
            )
            .spread(s_seq),
            Pair::secs("process pool (with startup)", "pool_s", pool.as_secs_f64()).spread(s_pool),
            Pair::secs(
                "rayon / Python thread pool",
                "threads_s",
                rayon.as_secs_f64(),
            )
            .spread(s_rayon),
            Pair::speedup("process pool speedup", "pool_speedup", speedup(seq, pool))
                .spread(s_seq * s_pool),
            Pair::speedup(
                "rayon / Python thread pool speedup",
                "threads_speedup",
                speedup(seq, rayon),
            )
            .spread(s_seq * s_rayon),
        ]
        .map(Pair::cpu),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_input_order() {
        // Uneven work, one input per chunk: the big ones finish last, the order holds.
        let inputs = [300_000, 10, 200_000, 20, 100_000, 30, 5, 0];
        let mut pool = pool(3).unwrap();
        // The spans are made on this thread, where `map` runs: a local recording sees them.
        let recording = Recording::local();
        assert_eq!(pool.map(&inputs, 1).unwrap(), expected(&inputs));
        // The same pool serves a second map, with other chunks.
        assert_eq!(pool.map(&inputs, 3).unwrap(), expected(&inputs));
        let chunks = recording.finish().named(&["chunk"]);
        assert_eq!(chunks.len(), inputs.len() + 3, "one span per chunk");
        assert!(
            chunks.most_at_once() <= 3,
            "three workers, three chunks at once at most"
        );
        assert!(pool.deaths.is_empty());
        // One lane per worker process, never this one.
        let pids: Vec<String> = pool
            .workers
            .iter()
            .map(|w| format!("pid {}", w.child.id()))
            .collect();
        let lanes = pool_timeline(&chunks).spans();
        assert!(lanes.iter().all(|s| pids.contains(&s.lane)), "{lanes:?}");
    }

    #[test]
    fn a_worker_error_surfaces_as_an_error() {
        let mut pool = pool(2).unwrap();
        let err = pool.map(&[1, 2, MAX_N + 1, 3], 1).unwrap_err().to_string();
        assert!(err.contains("above"), "{err}");
        assert!(err.contains(&(MAX_N + 1).to_string()), "{err}");
        assert!(pool.deaths.is_empty(), "an error is not a crash");
        // The pool is still usable; late results of the failed map are dropped.
        assert_eq!(pool.map(&[5, 6, 7], 1).unwrap(), expected(&[5, 6, 7]));
    }

    #[test]
    fn rayon_gives_the_same_results_and_errors() {
        let inputs = [300_000, 10, 200_000, 20, 5];
        assert_eq!(with_rayon(&inputs, 2, compute).unwrap(), expected(&inputs));
        assert!(with_rayon(&[1, MAX_N + 1], 1, compute).is_err());
        assert_eq!(
            with_rayon(&inputs, 3, fast_compute).unwrap(),
            expected(&inputs)
        );
        assert!(fast_compute(MAX_N + 1).is_err());
    }

    #[test]
    fn inputs_stay_below_the_overflow() {
        // The exact sum in u128 equals the u64 answer: nothing wrapped.
        let n = u128::from(ITEM);
        let exact = (n - 1) * n * (2 * n - 1) / 6;
        assert!(exact < u128::from(u64::MAX));
        assert_eq!(exact, u128::from(sum_of_squares_expected(ITEM)));
    }

    #[test]
    fn default_chunksize_is_about_four_per_worker() {
        assert_eq!(default_chunksize(32, 2), 4);
        assert_eq!(default_chunksize(1, 8), 1);
        assert_eq!(default_chunksize(0, 2), 1);
    }

    #[test]
    fn the_python_twin_prints_its_fields() {
        let args = [
            "--item",
            "1000",
            "--inputs",
            "8",
            "--workers",
            "2",
            "--rounds",
            "1",
        ];
        if let Some(figures) = TWIN.run_for_test(&args) {
            assert_eq!(figures["workers"], 2);
        }
    }
}
