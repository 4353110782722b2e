//! `ThreadPoolExecutor(max_workers=N)` and `executor.submit(fn, arg)` -> a fixed set of
//! worker threads fed by a crossbeam channel, and a handle whose `result()` blocks.
//!
//! Python:
//!     with ThreadPoolExecutor(max_workers=3) as executor:
//!         futures = [executor.submit(download, i) for i in range(5)]
//!         results = [f.result() for f in futures]      # blocks until each is done
//!
//! Rust: a word of warning first. A Rust `Future` is a lazy computation that does nothing
//! until polled (see asyncio-demo); Python's `Future` is a handle to work already running.
//! The twin of the Python one is a one-shot channel: the worker sends the result, the
//! handle's `result()` receives it. A panic in the task comes back as an error from
//! `result()`, and the worker survives to take the next job. The handle is `#[must_use]`:
//! Python silently loses the exception of a future nobody asks for; here dropping a handle
//! unused is a compiler warning.
//!
//! This file is the whole executor, as a reader copies it. Later sections (map,
//! as_completed, result_timeout, cancel, shutdown) repeat it complete, plus one feature
//! each, the way *Rust Atomics and Locks* shows `mutex_1`, `mutex_2`, ...: every file
//! compiles alone.
//!
//! Watch: five simulated 200 ms downloads (a sleep each: nothing is fetched) on three
//! workers take about 400 ms (two rounds); the timeline shows three bars, then two.
//!
//! Run only this: cargo run -p futures-demo -- submit
//! Copy it: cargo add anyhow@1 crossbeam-channel@0.5 tracing@0.1

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use crossbeam_channel::{Receiver, RecvError, Sender, bounded, unbounded};

type Job = Box<dyn FnOnce() + Send>;

/// `ThreadPoolExecutor(max_workers)`: worker threads taking jobs from one channel.
pub struct ThreadPoolExecutor {
    jobs: Option<Sender<Job>>, // taken (closed) when the pool is dropped
    workers: Vec<JoinHandle<()>>,
}

/// What `submit` returns, Python's `Future`: `result()` blocks until the task is done.
#[must_use = "a dropped handle loses the task's result, and its panic with it"]
pub struct TaskHandle<T>(Receiver<thread::Result<T>>);

impl ThreadPoolExecutor {
    pub fn new(max_workers: usize) -> std::io::Result<Self> {
        let (jobs, queue) = unbounded::<Job>();
        let workers = (0..max_workers.max(1))
            .map(|i| {
                let queue = queue.clone();
                thread::Builder::new()
                    .name(format!("pool-{i}"))
                    // The loop ends when every sender is gone: that is the shutdown signal.
                    .spawn(move || queue.iter().for_each(|job| job()))
            })
            .collect::<std::io::Result<_>>()?;
        Ok(ThreadPoolExecutor {
            jobs: Some(jobs),
            workers,
        })
    }

    /// `executor.submit(fn)`: queue the task, return its handle at once.
    pub fn submit<T: Send + 'static>(
        &self,
        task: impl FnOnce() -> T + Send + 'static,
    ) -> TaskHandle<T> {
        let (tx, rx) = bounded(1);
        let job: Job = Box::new(move || {
            // A panic is caught here: it reaches result(), and this worker lives on.
            // The caller may have dropped its handle: then nobody wants the result.
            let _ = tx.send(catch_unwind(AssertUnwindSafe(task)));
        });
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(job);
        }
        TaskHandle(rx)
    }
}

impl<T> TaskHandle<T> {
    /// `future.result()`: the task's value, or an error if it panicked.
    pub fn result(self) -> anyhow::Result<T> {
        outcome(self.0.recv())
    }
}

/// What a handle's channel delivered, as `result()` reports it.
fn outcome<T>(received: Result<thread::Result<T>, RecvError>) -> anyhow::Result<T> {
    match received {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(panic)) => Err(anyhow!("the task panicked: {}", panic_message(&*panic))),
        // The job was dropped unrun, and its sender with it.
        Err(RecvError) => Err(anyhow!("the pool dropped the task before running it")),
    }
}

/// The text of a panic (`panic!("...")` carries a `&str` or a `String`).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// Leaving the `with` block: stop taking work, let the queue drain, join every worker.
impl Drop for ThreadPoolExecutor {
    fn drop(&mut self) {
        drop(self.jobs.take());
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

/// The guide's `download(i)`, simulated: a 200 ms sleep stands in for the network (nothing
/// is fetched), then the "file".
pub fn download(i: u64) -> String {
    let _span = tracing::info_span!("download", i).entered();
    thread::sleep(Duration::from_millis(200));
    format!("file {i}")
}

/// The guide's `with` block: submit every download, then `result()` each, in submission order.
pub fn download_all(downloads: u64, max_workers: usize) -> anyhow::Result<Vec<String>> {
    let executor = ThreadPoolExecutor::new(max_workers)?;
    let futures: Vec<TaskHandle<String>> = (0..downloads)
        .map(|i| executor.submit(move || download(i)))
        .collect();
    futures.into_iter().map(TaskHandle::result).collect()
} // the `with` block ends: the pool is dropped, its workers joined

/// Five 200 ms downloads on three workers: two rounds, about 400 ms.
fn main() -> anyhow::Result<()> {
    let start = Instant::now();
    let results = download_all(5, 3)?;
    println!(
        "{results:?} in {:.2?} (5 x 200 ms on 3 workers)",
        start.elapsed()
    );
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recording};
use common::timing::{Secs, speedup, timed};

pub const SECTION: Section = Section::new(
    "submit",
    "ThreadPoolExecutor(max_workers=3).submit(fn, arg)",
    "worker threads, and a handle whose result() blocks",
    run,
)
.main(|| main().report());

const WORKERS: usize = 3;
const DOWNLOADS: u64 = 5;
const LATENCY: Duration = Duration::from_millis(200);

fn run() -> SectionResult {
    let recording = Recording::start();
    let (results, elapsed) = timed(|| download_all(DOWNLOADS, WORKERS));
    let downloads = recording.finish().named(&["download"]);
    let expected: Vec<String> = (0..DOWNLOADS).map(|i| format!("file {i}")).collect();
    anyhow::ensure!(results? == expected, "results out of submission order");
    let (waited, at_once) = (downloads.busy(), downloads.most_at_once());
    anyhow::ensure!(at_once <= WORKERS, "{at_once} at once on {WORKERS} workers");

    println!("  {DOWNLOADS} simulated downloads (a sleep each), results in submission order");
    figure("downloads added up", Secs(waited));
    figure(format!("on {WORKERS} workers"), Secs(elapsed));
    figure("speedup", format!("{:.1}x", speedup(waited, elapsed)));
    figure("most running at once", at_once);
    downloads.print(Lanes::Thread);
    let rounds = DOWNLOADS.div_ceil(WORKERS as u64) as u32;
    let ideal = LATENCY * rounds;
    takeaway_if(
        &Evidence::new(
            at_once == WORKERS && elapsed >= ideal && elapsed < ideal + LATENCY,
            format!(
                "{WORKERS} at once, {rounds} rounds of {} (about {})",
                Secs(LATENCY),
                Secs(ideal)
            ),
            format!("{at_once} at once, {}", Secs(elapsed)),
        ),
        "submit() returns at once; result() waits for that one task, as in Python",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    #[test]
    fn results_match_their_submissions() {
        let executor = ThreadPoolExecutor::new(2).unwrap();
        let handles: Vec<_> = (0..10u64)
            .map(|i| executor.submit(move || i * 10))
            .collect();
        let results: Vec<u64> = handles.into_iter().map(|h| h.result().unwrap()).collect();
        assert_eq!(results, (0..10).map(|i| i * 10).collect::<Vec<_>>());
    }

    #[test]
    fn three_workers_run_three_tasks_at_once() {
        // Three tasks meet at a barrier of three: they can only pass if three workers run
        // them at the same time. With three workers this finishes.
        let executor = ThreadPoolExecutor::new(3).unwrap();
        let barrier = Arc::new(Barrier::new(3));
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let barrier = barrier.clone();
                executor.submit(move || barrier.wait().is_leader())
            })
            .collect();
        let leaders = handles
            .into_iter()
            .filter(|h| h.0.recv().unwrap().unwrap())
            .count();
        assert_eq!(leaders, 1);
    }

    #[test]
    fn a_panicking_task_is_an_error_and_the_pool_keeps_working() {
        let executor = ThreadPoolExecutor::new(1).unwrap();
        let bad = executor.submit(|| -> u32 { panic!("task failed") });
        let good = executor.submit(|| 7);
        let err = bad.result().unwrap_err();
        assert!(err.to_string().contains("task failed"), "{err:#}");
        assert_eq!(good.result().unwrap(), 7);
    }

    #[test]
    fn dropping_the_pool_runs_what_was_submitted() {
        let handle;
        {
            let executor = ThreadPoolExecutor::new(1).unwrap();
            handle = executor.submit(|| "done");
        }
        assert_eq!(handle.result().unwrap(), "done");
    }
}
