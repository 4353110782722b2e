//! `asyncio.Queue(maxsize=5)` with producers and consumers -> a bounded
//! `tokio::sync::mpsc::channel(5)`.
//!
//! Python:
//!     q = asyncio.Queue(maxsize=5)
//!     async def producer(p):
//!         for i in range(20):
//!             await q.put((p, i))           # waits while the queue is full
//!     async def consumer():
//!         while True:
//!             item = await q.get()
//!             await asyncio.sleep(0.01)     # slow work
//!             q.task_done()
//!
//! Rust: `send().await` waits while the channel is full: that wait is backpressure, and it
//! keeps a fast producer from piling up memory. The channel closes by itself when every
//! `Sender` is dropped, so `recv()` returns `None` and consumers end: no sentinel and no
//! `join()`/`task_done()` bookkeeping. mpsc has one receiver; several consumers share it
//! behind a `tokio::sync::Mutex` (or use a multi-consumer channel such as async-channel).
//!
//! Watch: the queue never holds more than 5; the producers spend most of their time waiting
//! in `send` because the consumers are slower; every item arrives exactly once.
//!
//! Run only this: cargo run -p asyncio-demo -- queue

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::cli::{SectionResult, figure, takeaway};
use common::timing::{Secs, timed_async};
use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;

pub const CAPACITY: usize = 5;
const WORK: Duration = Duration::from_millis(10);

/// What a run saw.
#[derive(Debug)]
pub struct Report {
    /// Every item received, sorted.
    pub received: Vec<(u64, u64)>,
    /// The most items ever waiting in the queue.
    pub max_len: usize,
    /// Time the producers spent waiting in `send` (queue full), added up.
    pub producers_waited: Duration,
    /// How many items each consumer handled.
    pub per_consumer: Vec<usize>,
}

pub async fn pipeline(producers: u64, items: u64, consumers: usize) -> anyhow::Result<Report> {
    let (tx, rx) = mpsc::channel::<(u64, u64)>(CAPACITY);
    let max_len = Arc::new(AtomicUsize::new(0));
    let producer_tasks: Vec<_> = (0..producers)
        .map(|p| {
            let (tx, max_len) = (tx.clone(), max_len.clone());
            tokio::spawn(async move {
                let mut waited = Duration::ZERO;
                for i in 0..items {
                    let start = Instant::now();
                    tx.send((p, i)).await?; // `await q.put(item)`
                    waited += start.elapsed();
                    max_len.fetch_max(tx.max_capacity() - tx.capacity(), Ordering::SeqCst);
                }
                anyhow::Ok(waited)
            }) // this task's Sender is dropped here
        })
        .collect();
    drop(tx); // only the producers hold senders now

    let rx = Arc::new(Mutex::new(rx));
    let consumer_tasks: Vec<_> = (0..consumers)
        .map(|c| {
            let rx = rx.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let item = rx.lock().await.recv().await; // `await q.get()`
                    let Some(item) = item else { break }; // all senders gone
                    tokio::time::sleep(WORK).await;
                    tracing::debug!(consumer = c, ?item, "handled");
                    got.push(item);
                }
                got
            })
        })
        .collect();

    let mut producers_waited = Duration::ZERO;
    for task in producer_tasks {
        producers_waited += task.await??;
    }
    let mut received = Vec::new();
    let mut per_consumer = Vec::new();
    for task in consumer_tasks {
        let got = task.await?;
        per_consumer.push(got.len());
        received.extend(got);
    }
    received.sort_unstable();
    Ok(Report {
        received,
        max_len: max_len.load(Ordering::SeqCst),
        producers_waited,
        per_consumer,
    })
}

#[tokio::main]
pub async fn run() -> SectionResult {
    let (producers, items, consumers) = (2, 20, 3);
    let (report, took) = timed_async(pipeline(producers, items, consumers)).await;
    let report = report?;
    let expected: Vec<_> = (0..producers)
        .flat_map(|p| (0..items).map(move |i| (p, i)))
        .collect();
    anyhow::ensure!(report.received == expected, "items lost or duplicated");
    anyhow::ensure!(report.max_len <= CAPACITY, "queue grew past its capacity");
    figure(
        "items",
        format!(
            "{} from {producers} producers, all received once",
            expected.len()
        ),
    );
    figure("consumers handled", format!("{:?}", report.per_consumer));
    figure(
        "largest queue length",
        format!("{} (maxsize {CAPACITY})", report.max_len),
    );
    figure(
        "producers waited in send (sum)",
        Secs(report.producers_waited),
    );
    figure("took", Secs(took));
    takeaway(
        "a bounded channel is asyncio.Queue(maxsize): send waits when full, so producers slow to the consumers' pace",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn every_item_once_and_the_queue_stays_bounded() {
        let report = pipeline(3, 10, 2).await.unwrap();
        let expected: Vec<_> = (0..3).flat_map(|p| (0..10).map(move |i| (p, i))).collect();
        assert_eq!(report.received, expected);
        assert_eq!(report.max_len, CAPACITY, "fast producers fill the queue");
        assert!(
            report.producers_waited > Duration::ZERO,
            "backpressure made them wait"
        );
        assert_eq!(report.per_consumer.iter().sum::<usize>(), 30);
    }

    #[tokio::test(start_paused = true)]
    async fn consumers_end_when_the_producers_are_gone() {
        let report = pipeline(0, 10, 2).await.unwrap();
        assert!(report.received.is_empty());
        assert_eq!(report.per_consumer, [0, 0]);
    }
}
