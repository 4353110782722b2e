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
//! Watch: the queue never holds more than 4 items; the producer is blocked on a full
//! queue most of the time (how often and how long is printed, and its lane in the timeline
//! shows the waits); `join` returns when all 24 are done; the workers then exit because
//! the sender was dropped; every item was processed exactly once.
//!
//! Run only this: cargo run -p threading-demo -- queue

use std::thread;
use std::time::Duration;

use anyhow::{Context, anyhow};
use common::cli::{SectionResult, figure, takeaway};
use common::timeline::{Timeline, thread_lane};
use common::timing::{Secs, timed};
use crossbeam::sync::WaitGroup;
use crossbeam_channel::{TrySendError, bounded, unbounded};

const ITEMS: u64 = 24;
const CAPACITY: usize = 4;
const WORKERS: usize = 3;
const WORK: Duration = Duration::from_millis(10);

/// One queued item; dropping it is `task_done()`.
struct Job {
    item: u64,
    _task: WaitGroup,
}

/// What a run of the queue saw.
#[derive(Debug)]
struct Report {
    /// `(item, result, worker)` for every item processed.
    done: Vec<(u64, u64, usize)>,
    /// The longest the queue ever was, seen by the producer just before a put.
    max_len: usize,
    /// How many puts found the queue full, and how long they waited in total.
    blocked_puts: usize,
    blocked_for: Duration,
    /// How many workers ended after the senders were dropped.
    workers_exited: usize,
}

fn run_queue(
    items: u64,
    capacity: usize,
    workers: usize,
    work: Duration,
    timeline: &Timeline,
) -> anyhow::Result<Report> {
    let (tx, rx) = bounded::<Job>(capacity);
    let (results_tx, results_rx) = unbounded();
    let handles = (0..workers)
        .map(|w| {
            let (rx, results_tx, timeline) = (rx.clone(), results_tx.clone(), timeline.clone());
            thread::Builder::new()
                .name(format!("queue-worker-{w}"))
                .spawn(move || {
                    // Ends when every Sender is gone and the queue is empty.
                    for job in rx {
                        timeline.record(thread_lane(), "item", || thread::sleep(work));
                        let _ = results_tx.send((job.item, job.item * job.item, w));
                        tracing::debug!(worker = w, item = job.item, "task done");
                        drop(job); // task_done()
                    }
                })
                .context("spawning a worker")
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    drop(results_tx);

    let all_done = WaitGroup::new();
    let (mut max_len, mut blocked_puts, mut blocked_for) = (0, 0, Duration::ZERO);
    for item in 0..items {
        max_len = max_len.max(tx.len());
        let job = Job {
            item,
            _task: all_done.clone(),
        };
        match tx.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(job)) => {
                // `q.put(item)` on a full queue: wait for a worker to make room.
                blocked_puts += 1;
                let (sent, took) =
                    timed(|| timeline.record("producer", "put (full)", || tx.send(job)));
                sent.map_err(|_| anyhow!("every worker is gone"))?;
                blocked_for += took;
            }
            Err(TrySendError::Disconnected(_)) => anyhow::bail!("every worker is gone"),
        }
    }
    all_done.wait(); // q.join(): every job has been dropped by a worker
    drop(tx); // no sentinel: the workers' loops end
    let mut workers_exited = 0;
    for h in handles {
        h.join().map_err(|_| anyhow!("a worker panicked"))?;
        workers_exited += 1;
    }
    Ok(Report {
        done: results_rx.iter().collect(),
        max_len,
        blocked_puts,
        blocked_for,
        workers_exited,
    })
}

/// Was every item of `0..items` processed exactly once, with the right result?
fn exactly_once(done: &[(u64, u64, usize)], items: u64) -> bool {
    let mut seen: Vec<u64> = done.iter().map(|&(item, _, _)| item).collect();
    seen.sort_unstable();
    seen == (0..items).collect::<Vec<_>>() && done.iter().all(|&(i, r, _)| r == i * i)
}

pub fn run() -> SectionResult {
    let timeline = Timeline::new();
    let (report, took) = timed(|| run_queue(ITEMS, CAPACITY, WORKERS, WORK, &timeline));
    let report = report?;
    anyhow::ensure!(exactly_once(&report.done, ITEMS), "items lost or repeated");
    anyhow::ensure!(report.max_len <= CAPACITY, "the queue outgrew its bound");
    anyhow::ensure!(report.workers_exited == WORKERS, "a worker did not exit");
    figure(
        format!("{ITEMS} items, {WORKERS} workers"),
        format!("each done once, in {}", Secs(took)),
    );
    figure(
        "longest queue seen",
        format!("{} (maxsize {CAPACITY})", report.max_len),
    );
    figure(
        "puts that found it full",
        format!(
            "{} of {ITEMS}, {} in all",
            report.blocked_puts,
            Secs(report.blocked_for)
        ),
    );
    figure("workers ended by drop(tx)", report.workers_exited);
    timeline.print();
    takeaway(
        "a bounded channel is queue.Queue(maxsize): send blocks when full; drop the senders instead of a sentinel",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_once_then_the_workers_shut_down() {
        let timeline = Timeline::new();
        let report = run_queue(50, 2, 4, Duration::ZERO, &timeline).unwrap();
        assert!(exactly_once(&report.done, 50));
        assert_eq!(report.workers_exited, 4);
        assert!(report.max_len <= 2);
        assert_eq!(
            timeline
                .spans()
                .iter()
                .filter(|s| s.label == "item")
                .count(),
            50
        );
    }

    #[test]
    fn exactly_once_spots_losses_and_repeats() {
        assert!(exactly_once(&[(1, 1, 0), (0, 0, 1)], 2));
        assert!(!exactly_once(&[(0, 0, 0), (0, 0, 1)], 2));
        assert!(!exactly_once(&[(0, 0, 0)], 2));
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
