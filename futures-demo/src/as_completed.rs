//! `as_completed(future_to_url)` -> wait on every handle's channel at once with
//! `crossbeam_channel::Select` and take whichever is ready first, keyed back to its input.
//!
//! Python:
//!     with ThreadPoolExecutor(max_workers=5) as executor:
//!         future_to_url = {executor.submit(fetch_url, url): url for url in urls}
//!         for future in as_completed(future_to_url):
//!             url = future_to_url[future]
//!             try:
//!                 data = future.result()
//!             except Exception as exc:
//!                 print(f"{url} generated an exception: {exc}")
//!
//! Rust: the dictionary becomes a `Vec<(url, handle)>`: a handle is not hashable, and a pair
//! keeps each input beside its future. `as_completed` below selects over the handles'
//! one-shot channels and yields `(url, result)` as each finishes. A failed fetch is an `Err`
//! for that url only; the loop carries on with the others.
//!
//! The executor below is submit.rs's, complete, plus the free function `as_completed`.
//!
//! Watch: the `example.com` urls are simulated (each "server" sleeps for the url's latency,
//! then sends that many bytes; the "missing" one answers 404), so nothing leaves this
//! machine, and the output says so. The completion order
//! follows the latencies, not the submission order or the sizes; the failing url shows up
//! in its place, and the others are not affected. Read with `result()` in submission
//! order instead, the tiny page is seen only after the big one.
//!
//! Run only this: cargo run -p futures-demo -- as-completed
//! Copy it: cargo add anyhow@1 crossbeam-channel@0.5 tracing@0.1

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use crossbeam_channel::{Receiver, RecvError, Select, Sender, bounded, unbounded};

// The executor of submit.rs, unchanged.
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

/// `as_completed(handles)`: yield `(key, result)` for each handle, in the order they finish.
pub fn as_completed<K, T>(
    mut pending: Vec<(K, TaskHandle<T>)>,
) -> impl Iterator<Item = (K, anyhow::Result<T>)> {
    std::iter::from_fn(move || {
        if pending.is_empty() {
            return None;
        }
        let mut select = Select::new();
        for (_, handle) in &pending {
            select.recv(&handle.0);
        }
        let ready = select.select(); // blocks until one of them has finished
        let index = ready.index();
        let received = ready.recv(&pending[index].1.0);
        let (key, _) = pending.swap_remove(index);
        Some((key, outcome(received)))
    })
}

/// A simulated url: nothing is fetched. Its "server" takes `latency_ms`, then sends `size` bytes.
pub struct Url {
    pub url: &'static str,
    pub latency_ms: u64,
    pub size: usize,
}

const fn url(url: &'static str, latency_ms: u64, size: usize) -> Url {
    Url {
        url,
        latency_ms,
        size,
    }
}

pub const URLS: [Url; 5] = [
    url("http://example.com/big", 500, 64 * 1024),
    url("http://example.com/small", 100, 4 * 1024),
    url("http://example.com/missing", 250, 0),
    url("http://example.com/medium", 350, 16 * 1024),
    url("http://example.com/tiny", 50, 512),
];

/// `fetch_url(url)`, simulated: a sleep for the latency, then the bytes; "missing" is a 404.
pub fn fetch_url(u: &Url) -> anyhow::Result<Vec<u8>> {
    let name = u.url.rsplit('/').next().unwrap_or(u.url);
    let _span = tracing::info_span!("fetch", lane = name).entered();
    thread::sleep(Duration::from_millis(u.latency_ms));
    if name == "missing" {
        bail!("404 Not Found (simulated)");
    }
    Ok(vec![b'x'; u.size])
}

/// The guide's loop: five urls on five workers, each result as it comes.
fn main() -> anyhow::Result<()> {
    let executor = ThreadPoolExecutor::new(5)?;
    let start = Instant::now();
    let future_to_url: Vec<_> = URLS
        .iter()
        .map(|u| (u, executor.submit(move || fetch_url(u))))
        .collect();
    println!("simulated urls: nothing is fetched (a sleep, then the bytes)");
    for (u, result) in as_completed(future_to_url) {
        let at = start.elapsed();
        // The outer Result: did the task panic; the inner one: did the fetch fail.
        match result.and_then(|fetched| fetched) {
            Ok(data) => println!("{} is {} bytes, at {at:.0?}", u.url, data.len()),
            Err(e) => println!("{} generated an exception: {e:#}, at {at:.0?}", u.url),
        }
    }
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recording};
use common::timing::Secs;

pub const SECTION: Section = Section::new(
    "as-completed",
    "for f in as_completed(future_to_url): f.result()",
    "results in completion order; one error stops nothing",
    run,
)
.main(|| main().report());

fn run() -> SectionResult {
    let executor = ThreadPoolExecutor::new(URLS.len())?;
    let recording = Recording::start();
    let start = Instant::now();
    let future_to_url: Vec<_> = URLS
        .iter()
        .map(|u| (u, executor.submit(move || fetch_url(u))))
        .collect();
    let mut completed = Vec::new();
    for (u, result) in as_completed(future_to_url) {
        let at = Secs(start.elapsed());
        let line = match result.and_then(|r| r) {
            Ok(body) if body.len() == u.size => format!("{} bytes at {at}", body.len()),
            Ok(body) => anyhow::bail!("{}: {} bytes, not {}", u.url, body.len(), u.size),
            Err(e) => format!("generated an exception: {e:#} at {at}"),
        };
        completed.push((u, line, start.elapsed()));
    }
    let (took, fetches) = (start.elapsed(), recording.finish().named(&["fetch"]));
    anyhow::ensure!(completed.len() == URLS.len(), "a url went missing");

    println!(
        "  simulated urls: nothing is fetched (each \"server\" sleeps its latency, then sends)"
    );
    println!("  {:<36} completed, in this order", "submitted (latency)");
    for (u, (done, line, _)) in URLS.iter().zip(&completed) {
        println!(
            "  {:<36} {} {line}",
            format!("{} ({} ms)", u.url, u.latency_ms),
            done.url
        );
    }
    figure("all five, on five workers", Secs(took));
    fetches.print(Lanes::Thread);

    let in_order = tiny_seen_in_order(&executor);
    let tiny_done_at = completed
        .iter()
        .find(|(u, ..)| u.url.ends_with("tiny"))
        .map(|c| c.2);
    figure(
        "as_completed: tiny at",
        Secs(tiny_done_at.unwrap_or_default()),
    );
    figure("result() in order: tiny at", Secs(in_order?));

    let order: Vec<u64> = completed.iter().map(|(u, ..)| u.latency_ms).collect();
    let mut by_latency = order.clone();
    by_latency.sort_unstable();
    takeaway_if(
        &Evidence::new(
            order == by_latency,
            format!("completion in latency order {by_latency:?} ms"),
            format!("{order:?} ms"),
        ),
        "as_completed = select over the handles, fastest first; keep the input beside each handle",
    );
    Ok(())
}

/// The contrast: `[f.result() for f in futures]` reads them in submission order, so the
/// tiny page is only seen once the big one is done. When it was seen.
fn tiny_seen_in_order(executor: &ThreadPoolExecutor) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let handles: Vec<_> = URLS
        .iter()
        .map(|u| executor.submit(move || fetch_url(u)))
        .collect();
    let mut tiny_seen_at = Duration::ZERO;
    for (u, handle) in URLS.iter().zip(handles) {
        let _ = handle.result()?; // the fetch's own Err (404) is not the point here
        if u.url.ends_with("tiny") {
            tiny_seen_at = start.elapsed();
        }
    }
    Ok(tiny_seen_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Keyed = Vec<(u32, TaskHandle<u32>)>;

    /// Three tasks, each waiting for its own gate: the test decides who finishes when.
    fn gated(executor: &ThreadPoolExecutor) -> (Vec<Sender<()>>, Keyed) {
        let mut gates = Vec::new();
        let mut handles = Vec::new();
        for key in 0..3u32 {
            let (open, gate) = bounded::<()>(1);
            gates.push(open);
            let handle = executor.submit(move || {
                gate.recv().expect("gate");
                assert!(key != 1, "task 1 fails");
                key * 10
            });
            handles.push((key, handle));
        }
        (gates, handles)
    }

    #[test]
    fn results_arrive_in_completion_order_each_with_its_key() {
        let executor = ThreadPoolExecutor::new(3).unwrap();
        let (gates, handles) = gated(&executor);
        let mut completed = as_completed(handles);
        gates[2].send(()).unwrap();
        let (key, result) = completed.next().unwrap();
        assert_eq!((key, result.unwrap()), (2, 20));
        gates[0].send(()).unwrap();
        let (key, result) = completed.next().unwrap();
        assert_eq!((key, result.unwrap()), (0, 0));
        // The failing one comes last, as an error for its key only.
        gates[1].send(()).unwrap();
        let (key, result) = completed.next().unwrap();
        assert_eq!(key, 1);
        assert!(result.unwrap_err().to_string().contains("task 1 fails"));
        assert!(completed.next().is_none());
    }

    #[test]
    fn an_error_does_not_stop_the_others() {
        let executor = ThreadPoolExecutor::new(2).unwrap();
        let handles = ["1", "x", "3"]
            .into_iter()
            .map(|s| (s, executor.submit(move || s.parse::<u32>())))
            .collect();
        let mut outcomes: Vec<(&str, bool)> = as_completed(handles)
            .map(|(s, r)| (s, r.unwrap().is_ok()))
            .collect();
        outcomes.sort();
        assert_eq!(outcomes, [("1", true), ("3", true), ("x", false)]);
    }

    #[test]
    fn fetch_url_fails_only_for_the_missing_page_and_sizes_differ() {
        let instant = |u: &Url| Url {
            latency_ms: 0,
            ..*u
        };
        assert!(fetch_url(&instant(&URLS[2])).is_err());
        for u in [&URLS[0], &URLS[4]] {
            assert_eq!(fetch_url(&instant(u)).unwrap().len(), u.size);
        }
        assert_ne!(URLS[0].size, URLS[4].size);
    }
}
