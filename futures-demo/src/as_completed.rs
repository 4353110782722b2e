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
//! Watch: the completion order differs from the submission order (short downloads first),
//! the failing url shows up in its place, and the others are not affected.
//!
//! Run only this: cargo run -p futures-demo -- as-completed

use std::time::Duration;

use anyhow::bail;
use common::cli::{SectionResult, figure, takeaway};
use common::timeline::Timeline;
use common::timing::{Secs, Stopwatch};
use common::workload::{download_blocking, verify_file};
use crossbeam_channel::Select;

use crate::submit::{TaskHandle, ThreadPoolExecutor, outcome};

/// Yield `(key, result)` for each handle, in the order they finish.
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

const SIZE: usize = 2048;

/// The urls to fetch: a name, a file id, how long the "server" takes.
const URLS: [(&str, u64, u64); 5] = [
    ("http://example.com/big", 1, 500),
    ("http://example.com/small", 2, 100),
    ("http://example.com/missing", 3, 250),
    ("http://example.com/medium", 4, 350),
    ("http://example.com/tiny", 5, 50),
];

/// `fetch_url(url)`: a blocking download; the "missing" one fails after its latency.
fn fetch_url(url: &str, id: u64, latency_ms: u64) -> anyhow::Result<Vec<u8>> {
    let body = download_blocking(id, Duration::from_millis(latency_ms), SIZE);
    if url.ends_with("missing") {
        bail!("404 Not Found");
    }
    Ok(body)
}

pub fn run() -> SectionResult {
    let timeline = Timeline::new();
    let executor = ThreadPoolExecutor::new(URLS.len());
    let sw = Stopwatch::start();
    let future_to_url: Vec<_> = URLS
        .iter()
        .map(|&(url, id, latency_ms)| {
            let tl = timeline.clone();
            let handle = executor.submit(move || {
                tl.record(url.rsplit('/').next().unwrap_or(url), "fetch", || {
                    fetch_url(url, id, latency_ms)
                })
            });
            ((url, id), handle)
        })
        .collect();

    let mut completed = Vec::new();
    for ((url, id), result) in as_completed(future_to_url) {
        let at = Secs(sw.elapsed());
        match result.and_then(|r| r) {
            Ok(body) => {
                anyhow::ensure!(verify_file(id, SIZE, &body), "{url}: wrong bytes");
                completed.push(format!("{url} {} bytes at {at}", body.len()));
            }
            Err(e) => completed.push(format!("{url} generated an exception: {e:#} at {at}")),
        }
    }
    anyhow::ensure!(completed.len() == URLS.len(), "a url went missing");

    println!("  {:<28} completed", "submitted");
    for ((url, _, _), done) in URLS.iter().zip(&completed) {
        println!("  {url:<28} {done}");
    }
    figure("all five, on five workers", Secs(sw.elapsed()));
    timeline.print();
    takeaway("as_completed = select over the handles; keep the input beside each handle");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::{Sender, bounded};

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
        let executor = ThreadPoolExecutor::new(3);
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
        let executor = ThreadPoolExecutor::new(2);
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
    fn fetch_url_fails_only_for_the_missing_page() {
        assert!(fetch_url("http://example.com/missing", 3, 0).is_err());
        let body = fetch_url("http://example.com/tiny", 5, 0).unwrap();
        assert!(verify_file(5, SIZE, &body));
    }
}
