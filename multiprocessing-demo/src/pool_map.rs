//! `multiprocessing.Pool(n).map(compute, inputs, chunksize)` -> a pool of worker processes
//! fed chunks over ipc-channels, results put back in input order; and rayon on the same work.
//!
//! Python:
//!     def compute(n):
//!         return sum(i * i for i in range(n))
//!     if __name__ == "__main__":
//!         with Pool(os.cpu_count()) as pool:
//!             results = pool.map(compute, [4_000_000] * 64)   # in input order
//!
//! Rust: the pool below is what `Pool` does inside: N children (this binary, `--role
//! pool-worker`), a task inbox per worker, one shared result channel back. Chunks go to
//! whichever worker is idle, so results arrive out of order; each carries its chunk index
//! and the parent puts it in its slot, which is why `map` returns in input order. A worker
//! that returns an error makes `map` return that error (Python re-raises it); a worker
//! that dies is replaced and its chunk retried (see `crash-isolation`); every wait is
//! bounded, so nothing hangs. Each worker records a timeline span per chunk and sends it
//! back with the result.
//!
//! Rust has no GIL: rayon's threads run the same `compute` in parallel inside one process,
//! with nothing to pickle. With large chunks the process pool's overhead (starting the
//! children, a message per chunk) is small, and its time comes close to rayon's.
//!
//! Watch: both timelines show one busy lane per core; the pool's lanes are pids.
//!
//! Run only this: cargo run -p multiprocessing-demo -- pool-map

use std::collections::VecDeque;
use std::process::ExitStatus;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use common::cli::{SectionResult, figure, takeaway, wait_or_kill};
use common::timeline::{Span, Timeline, now_us, thread_id_lane};
use common::timing::{Secs, Stopwatch, efficiency, speedup, timed};
use common::workload::{sum_of_squares, sum_of_squares_expected};
use ipc_channel::TryRecvError;
use ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::child::{self, PATIENCE, recv_within};
use crate::crash_isolation;

/// `compute(n)` refuses inputs above this (Python would raise `ValueError`).
pub const MAX_N: u64 = 1_000_000_000;

/// The guides' `compute(n)`: `sum(i * i for i in range(n))` (wrapping past n = 3.8 million).
pub fn compute(n: u64) -> Result<u64, String> {
    if n > MAX_N {
        return Err(format!("compute({n}): n above {MAX_N} is refused"));
    }
    Ok(sum_of_squares(n))
}

/// Parent -> worker.
#[derive(Serialize, Deserialize)]
pub enum Task {
    Hello {
        results: IpcSender<Done>,
    },
    /// `job` numbers the `map` call; `attempt` counts retries after a worker died on it.
    Chunk {
        job: u64,
        index: usize,
        inputs: Vec<u64>,
        attempt: u32,
    },
    Stop,
}

/// Worker -> parent: one chunk's results, or the first error, and when it ran.
#[derive(Serialize, Deserialize)]
pub struct Done {
    pid: u32,
    job: u64,
    index: usize,
    results: Result<Vec<u64>, String>,
    span: Span,
}

/// The worker's side (`--role pool-worker SERVER`).
pub fn worker(args: &[String]) -> anyhow::Result<()> {
    let inbox = child::connect::<Task>(child::server_arg(args)?)?;
    let Task::Hello { results } = recv_within(&inbox, PATIENCE)? else {
        bail!("expected Hello first");
    };
    let pid = std::process::id();
    loop {
        let Ok(task) = inbox.recv() else {
            return Ok(()); // the pool is gone: nothing left to do
        };
        let (job, index, inputs, attempt) = match task {
            Task::Chunk {
                job,
                index,
                inputs,
                attempt,
            } => (job, index, inputs, attempt),
            Task::Stop => return Ok(()),
            Task::Hello { .. } => bail!("Hello twice"),
        };
        tracing::debug!(pid, index, attempt, "worker takes a chunk");
        let start_us = now_us();
        let out = inputs
            .iter()
            .map(|&n| {
                crash_isolation::maybe_crash(n, attempt); // the crash-isolation section's faults
                compute(n)
            })
            .collect();
        let span = Span {
            lane: format!("pid {pid}"),
            label: format!("chunk {index}"),
            start_us,
            end_us: now_us(),
        };
        results.send(Done {
            pid,
            job,
            index,
            results: out,
            span,
        })?;
    }
}

struct Worker {
    started: child::Connected<Task>,
    /// The `map` call, chunk and attempt it is working on.
    busy: Option<(u64, usize, u32)>,
}

/// A pool of worker processes. Dropping it stops them (Python's `with Pool() as pool:`).
pub struct Pool {
    workers: Vec<Worker>,
    results_tx: IpcSender<Done>,
    results: IpcReceiver<Done>,
    /// Workers that died, with how they exited (filled by `map`).
    pub deaths: Vec<(u32, ExitStatus)>,
    /// How many times a dead worker's chunk may be retried.
    pub retries: u32,
    /// Numbers the `map` calls, so a late result of a failed one is recognised and dropped.
    job: u64,
}

impl Pool {
    /// `Pool(processes=size)`.
    pub fn new(size: usize) -> anyhow::Result<Pool> {
        let (results_tx, results) = ipc::channel()?;
        let mut pool = Pool {
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

    fn start_worker(&self) -> anyhow::Result<Worker> {
        let started = child::start::<Task>("pool-worker", &[])?;
        started.inbox.send(Task::Hello {
            results: self.results_tx.clone(),
        })?;
        Ok(Worker {
            started,
            busy: None,
        })
    }

    /// `pool.map(compute, inputs, chunksize)`: results in input order, or the first error.
    /// Spans the workers recorded go into `timeline`.
    pub fn map(
        &mut self,
        inputs: &[u64],
        chunksize: usize,
        timeline: &Timeline,
    ) -> anyhow::Result<Vec<u64>> {
        self.job += 1;
        let job = self.job;
        let chunks: Vec<&[u64]> = inputs.chunks(chunksize.max(1)).collect();
        let mut slots: Vec<Option<Vec<u64>>> = vec![None; chunks.len()];
        let mut todo: VecDeque<(usize, u32)> = (0..chunks.len()).map(|i| (i, 0)).collect();
        let mut left = chunks.len();
        let mut since_progress = Stopwatch::start();
        while left > 0 {
            // Hand a chunk to every idle worker.
            for w in self.workers.iter_mut().filter(|w| w.busy.is_none()) {
                let Some((index, attempt)) = todo.pop_front() else {
                    break;
                };
                w.started.inbox.send(Task::Chunk {
                    job,
                    index,
                    inputs: chunks[index].to_vec(),
                    attempt,
                })?;
                w.busy = Some((job, index, attempt));
            }
            match self.results.try_recv_timeout(Duration::from_millis(5)) {
                Ok(done) => {
                    since_progress = Stopwatch::start();
                    timeline.push(done.span);
                    // (A worker replaced after sending this is no longer in the list.)
                    if let Some(w) = self
                        .workers
                        .iter_mut()
                        .find(|w| w.started.child.id() == done.pid)
                    {
                        w.busy = None;
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
            if since_progress.elapsed() > PATIENCE {
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
            let Some(status) = self.workers[k].started.child.try_wait()? else {
                continue;
            };
            let pid = self.workers[k].started.child.id();
            tracing::debug!(pid, %status, "worker died; starting a replacement");
            self.deaths.push((pid, status));
            if let Some((busy_job, index, attempt)) = self.workers[k].busy
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
    fn drop(&mut self) {
        for w in &self.workers {
            let _ = w.started.inbox.send(Task::Stop);
        }
        for w in &mut self.workers {
            let _ = wait_or_kill(&mut w.started.child, Duration::from_secs(2));
        }
    }
}

/// Python's default `chunksize`: about four chunks per worker.
pub fn default_chunksize(inputs: usize, workers: usize) -> usize {
    inputs.div_ceil(4 * workers.max(1)).max(1)
}

fn expected(inputs: &[u64]) -> Vec<u64> {
    inputs.iter().map(|&n| sum_of_squares_expected(n)).collect()
}

/// `[compute(n) for n in inputs]`.
fn sequential(inputs: &[u64]) -> anyhow::Result<Vec<u64>> {
    inputs
        .iter()
        .map(|&n| compute(n).map_err(|e| anyhow!(e)))
        .collect()
}

/// `with Pool(workers) as pool: pool.map(...)`; starting the pool is part of the cost.
fn with_pool(
    inputs: &[u64],
    workers: usize,
    chunksize: usize,
    timeline: &Timeline,
) -> anyhow::Result<Vec<u64>> {
    let mut pool = Pool::new(workers)?;
    pool.map(inputs, chunksize, timeline)
}

/// The same chunks on rayon's threads.
fn with_rayon(inputs: &[u64], chunksize: usize, timeline: &Timeline) -> anyhow::Result<Vec<u64>> {
    let chunks = inputs
        .par_chunks(chunksize)
        .map(|chunk| timeline.record(thread_id_lane(), "chunk", || sequential(chunk)))
        .collect::<anyhow::Result<Vec<Vec<u64>>>>()?;
    Ok(chunks.concat())
}

/// One input's work. Large enough that each timed run lasts a few hundred milliseconds:
/// starting the worker processes (a couple of milliseconds each) is then small beside the
/// work, as in the "large chunks" comparison.
const ITEM: u64 = 16_000_000;

pub fn run() -> SectionResult {
    let workers = num_cpus::get();
    let inputs = vec![ITEM; 64];
    let want = expected(&inputs);
    let chunksize = default_chunksize(inputs.len(), workers);

    // Three rounds, the three ways taken in turn so that a burst of load from other
    // programs hits them alike; each keeps its best round (and that round's timeline).
    let (mut t_seq, mut t_pool, mut t_rayon) = (Duration::MAX, Duration::MAX, Duration::MAX);
    let (mut pool_timeline, mut rayon_timeline) = (Timeline::new(), Timeline::new());
    for _ in 0..3 {
        let (seq, t) = timed(|| sequential(&inputs));
        anyhow::ensure!(seq? == want, "sequential result is wrong");
        t_seq = t_seq.min(t);

        let timeline = Timeline::new();
        let (by_pool, t) = timed(|| with_pool(&inputs, workers, chunksize, &timeline));
        anyhow::ensure!(by_pool? == want, "the pool's result is wrong");
        if t < t_pool {
            (t_pool, pool_timeline) = (t, timeline);
        }

        let timeline = Timeline::new();
        let (by_rayon, t) = timed(|| with_rayon(&inputs, chunksize, &timeline));
        anyhow::ensure!(by_rayon? == want, "rayon's result is wrong");
        if t < t_rayon {
            (t_rayon, rayon_timeline) = (t, timeline);
        }
    }

    println!(
        "  compute({ITEM}) x {}, {workers} workers, chunksize {chunksize}, best of 3; all results checked",
        inputs.len()
    );
    println!("  process pool (lanes are worker processes):");
    pool_timeline.print();
    println!("  rayon (lanes are threads in this process):");
    rayon_timeline.print();
    figure("sequential", Secs(t_seq));
    figure("process pool (with startup)", Secs(t_pool));
    figure("rayon par_iter", Secs(t_rayon));
    let (s_pool, s_rayon) = (speedup(t_seq, t_pool), speedup(t_seq, t_rayon));
    figure(
        "pool speedup / efficiency",
        format!("{s_pool:.2}x / {:.0}%", 100.0 * efficiency(s_pool, workers)),
    );
    figure(
        "rayon speedup / efficiency",
        format!(
            "{s_rayon:.2}x / {:.0}%",
            100.0 * efficiency(s_rayon, workers)
        ),
    );
    figure(
        "pool time vs rayon",
        format!(
            "{:+.0}%",
            100.0 * (t_pool.as_secs_f64() / t_rayon.as_secs_f64() - 1.0)
        ),
    );
    takeaway(
        "a process pool is chunks out, results back, slots by index; for CPU work in Rust, rayon gets the same speedup without processes",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_input_order() {
        // Uneven work, one input per chunk: the big ones finish last, the order holds.
        let inputs = [300_000, 10, 200_000, 20, 100_000, 30, 5, 0];
        let mut pool = Pool::new(3).unwrap();
        let timeline = Timeline::new();
        assert_eq!(pool.map(&inputs, 1, &timeline).unwrap(), expected(&inputs));
        assert_eq!(timeline.spans().len(), inputs.len(), "one span per chunk");
        // The same pool serves a second map, with other chunks.
        assert_eq!(pool.map(&inputs, 3, &timeline).unwrap(), expected(&inputs));
        assert!(pool.deaths.is_empty());
        let lanes: std::collections::HashSet<String> =
            timeline.spans().into_iter().map(|s| s.lane).collect();
        assert!(
            lanes.len() <= 3,
            "three worker processes at most: {lanes:?}"
        );
        assert!(!lanes.contains(&format!("pid {}", std::process::id())));
    }

    #[test]
    fn a_worker_error_surfaces_as_an_error() {
        let mut pool = Pool::new(2).unwrap();
        let timeline = Timeline::new();
        let err = pool
            .map(&[1, 2, MAX_N + 1, 3], 1, &timeline)
            .unwrap_err()
            .to_string();
        assert!(err.contains("above"), "{err}");
        assert!(err.contains(&(MAX_N + 1).to_string()), "{err}");
        assert!(pool.deaths.is_empty(), "an error is not a crash");
        // The pool is still usable; late results of the failed map are dropped.
        assert_eq!(
            pool.map(&[5, 6, 7], 1, &timeline).unwrap(),
            expected(&[5, 6, 7])
        );
    }

    #[test]
    fn default_chunksize_is_about_four_per_worker() {
        assert_eq!(default_chunksize(32, 2), 4);
        assert_eq!(default_chunksize(1, 8), 1);
        assert_eq!(default_chunksize(0, 2), 1);
    }
}
