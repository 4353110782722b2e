//! `queue.Queue(maxsize)` with worker threads, `task_done()` / `q.join()`, a sentinel to
//! stop -> crossbeam-channel `bounded`, `crossbeam::sync::WaitGroup`, dropping the senders.
//!
//! Python:
//!     q = queue.Queue(maxsize=4)
//!     def worker():
//!         while (item := q.get()) is not None:     # None is the stop sentinel
//!             process(item)
//!             q.task_done()
//!     threads = [threading.Thread(target=worker) for _ in range(3)]
//!     for item in range(24): q.put(item)           # blocks while the queue is full
//!     q.join()                                     # every item task_done()?
//!     for _ in threads: q.put(None)                # one sentinel per worker
//!
//! Rust: `crossbeam_channel::bounded(4)` is the queue; `send` blocks while it is full
//! (backpressure), and many workers may `recv` from clones of one `Receiver` (std's `mpsc`
//! allows only one receiver). Each item carries a clone of a `WaitGroup`; a worker drops it
//! when done, which is `task_done()`, and `wait()` is `q.join()`. No sentinel: when the
//! last `Sender` is dropped, a worker's `for item in rx` loop ends once the queue is empty.
//!
//! Watch: 24 items of 10 ms on 3 workers take about 80 ms; `join` returns when all 24 are
//! done; the workers then exit because the sender was dropped; every item was processed
//! exactly once. In the demo: the queue never holds more than 4 items, and the producer is
//! blocked on a full queue most of the time (its lane in the timeline shows the waits).
//!
//! Run only this: cargo run -p threading-demo -- queue
//! Copy it: cargo add anyhow@1 crossbeam@0.8 crossbeam-channel@0.5 tracing@0.1

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use crossbeam::sync::WaitGroup;
use crossbeam_channel::{bounded, unbounded};

/// One queued item; dropping it is `task_done()`.
struct Job {
    item: u64,
    _task: WaitGroup,
}

/// `items` through a queue of `capacity` to `workers` threads that each run `process`.
/// Returns `(item, result)` for every item, in the order they were finished.
pub fn run_queue<R: Send + 'static>(
    items: impl IntoIterator<Item = u64>,
    capacity: usize,
    workers: usize,
    process: impl Fn(u64) -> R + Send + Clone + 'static,
) -> anyhow::Result<Vec<(u64, R)>> {
    let (tx, rx) = bounded::<Job>(capacity);
    let (results_tx, results_rx) = unbounded();
    let handles = (0..workers)
        .map(|w| {
            let (rx, results_tx, process) = (rx.clone(), results_tx.clone(), process.clone());
            thread::Builder::new()
                .name(format!("queue-worker-{w}"))
                .spawn(move || {
                    // Ends when every Sender is gone and the queue is empty.
                    for job in rx {
                        let result = tracing::info_span!("item", item = job.item)
                            .in_scope(|| process(job.item));
                        let _ = results_tx.send((job.item, result));
                        drop(job); // task_done()
                    }
                })
                .context("spawning a worker")
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    drop(results_tx);

    let all_done = WaitGroup::new();
    for item in items {
        let job = Job {
            item,
            _task: all_done.clone(),
        };
        // `q.put(item)`: blocks while the queue is full (backpressure).
        let _put = tracing::info_span!("put", lane = "producer", item, queued = tx.len()).entered();
        tx.send(job).map_err(|_| anyhow!("every worker is gone"))?;
    }
    all_done.wait(); // q.join(): every job has been dropped by a worker
    drop(tx); // no sentinel: the workers' loops end
    for h in handles {
        h.join().map_err(|_| anyhow!("a worker panicked"))?;
    }
    Ok(results_rx.iter().collect())
}

/// 24 items through a queue of 4 to 3 workers that square them in 10 ms each.
fn main() -> anyhow::Result<()> {
    let start = Instant::now();
    let mut done = run_queue(0..24, 4, 3, |item| {
        thread::sleep(Duration::from_millis(10)); // process(item)
        item * item
    })?;
    println!(
        "{} items done in {:.0?}, the workers stopped",
        done.len(),
        start.elapsed()
    );
    done.sort_unstable();
    println!(
        "each once: {:?}",
        done.iter().map(|&(item, _)| item).collect::<Vec<_>>()
    );
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recording, SpanRecord};
use common::timing::{Secs, timed};

pub const SECTION: Section = Section::new(
    "queue",
    "queue.Queue(maxsize), q.join()",
    "bounded channel, WaitGroup as join(), drop senders to stop",
    run,
)
.main(|| main().report());

const ITEMS: u64 = 24;
const CAPACITY: usize = 4;
const WORKERS: usize = 3;
const WORK: Duration = Duration::from_millis(10);

/// Was every item of `0..items` processed exactly once, with the right result?
fn exactly_once(done: &[(u64, u64)], items: u64) -> bool {
    let mut seen: Vec<u64> = done.iter().map(|&(item, _)| item).collect();
    seen.sort_unstable();
    seen == (0..items).collect::<Vec<_>>() && done.iter().all(|&(i, r)| r == i * i)
}

fn run() -> SectionResult {
    let recording = Recording::start();
    let square_slowly = |item: u64| {
        thread::sleep(WORK);
        item * item
    };
    let (done, took) = timed(|| run_queue(0..ITEMS, CAPACITY, WORKERS, square_slowly));
    let spans = recording.finish().named(&["put", "item"]);
    anyhow::ensure!(exactly_once(&done?, ITEMS), "items lost or repeated");
    let queued = |s: &SpanRecord| s.field("queued").and_then(|q| q.parse().ok()).unwrap_or(0);
    let longest = spans.spans().iter().map(queued).max().unwrap_or(0);
    anyhow::ensure!(longest <= CAPACITY, "the queue outgrew its bound");
    let full = spans.filter(|s| s.name == "put" && queued(s) >= CAPACITY);
    figure(
        format!("{ITEMS} items, {WORKERS} workers"),
        format!("each done once, in {}", Secs(took)),
    );
    figure(
        "longest queue seen",
        format!("{longest} (maxsize {CAPACITY})"),
    );
    figure(
        "puts that found it full",
        format!("{} of {ITEMS}, {} in all", full.len(), Secs(full.busy())),
    );
    spans
        .filter(|s| s.name == "item" || queued(s) >= CAPACITY)
        .print(Lanes::Thread);
    println!("  (producer: the puts that waited for room; workers: one bar per item)");
    let waited = full.busy().as_secs_f64() / took.as_secs_f64().max(f64::MIN_POSITIVE);
    takeaway_if(
        &Evidence::new(
            waited >= 0.5,
            "the producer waiting on a full queue for most of the run",
            format!("waiting {:.0}% of it", waited * 100.0),
        ),
        "a bounded channel is queue.Queue(maxsize): send blocks when full; drop the senders instead of a sentinel",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::TrySendError;

    #[test]
    fn every_item_once_then_the_workers_shut_down() {
        let done = run_queue(0..50, 2, 4, |i| i * i).unwrap();
        assert_eq!(done.len(), 50);
        assert!(exactly_once(&done, 50));
    }

    #[test]
    fn never_more_items_in_progress_than_workers() {
        static GAUGE: common::gauge::Gauge = common::gauge::Gauge::new();
        let done = run_queue(0..30, 3, 2, |i| {
            let _inside = GAUGE.enter();
            thread::yield_now();
            i * i
        })
        .unwrap();
        assert!(exactly_once(&done, 30));
        assert!(GAUGE.max() <= 2, "{}", GAUGE.max());
    }

    #[test]
    fn exactly_once_spots_losses_and_repeats() {
        assert!(exactly_once(&[(1, 1), (0, 0)], 2));
        assert!(!exactly_once(&[(0, 0), (0, 0)], 2));
        assert!(!exactly_once(&[(0, 0)], 2));
    }

    #[test]
    fn a_full_queue_blocks_send_until_a_worker_takes_one() {
        let (tx, rx) = bounded(1);
        tx.send(1).unwrap();
        assert!(matches!(tx.try_send(2), Err(TrySendError::Full(2))));
        assert_eq!(rx.recv().unwrap(), 1);
        assert!(tx.try_send(2).is_ok());
        drop(tx);
        assert_eq!(rx.iter().collect::<Vec<_>>(), [2], "then the loop ends");
    }
}
