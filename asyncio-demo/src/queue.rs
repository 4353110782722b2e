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
//! Watch: the queue never holds more than 5 (each `put` span records the length it left);
//! the producers spend most of their time waiting in `send` (the `put` spans) because the
//! consumers are slower; every item arrives exactly once.
//!
//! Run only this: cargo run -p asyncio-demo -- queue
//! Copy it: cargo add anyhow@1 tracing@0.1 && cargo add tokio@1 --features full

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, mpsc};
use tracing::Instrument;

pub const CAPACITY: usize = 5;

/// What a run received.
#[derive(Debug)]
pub struct Report {
    /// Every item received, sorted.
    pub received: Vec<(u64, u64)>,
    /// How many items each consumer handled.
    pub per_consumer: Vec<usize>,
}

/// `producers` producers put `items` items each into a queue of `CAPACITY`; `consumers`
/// consumers take them out and spend `work` on each.
pub async fn pipeline(
    producers: u64,
    items: u64,
    consumers: usize,
    work: Duration,
) -> anyhow::Result<Report> {
    let (tx, rx) = mpsc::channel::<(u64, u64)>(CAPACITY);
    let producer_tasks: Vec<_> = (0..producers)
        .map(|p| {
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0..items {
                    let put = tracing::info_span!("put", p, i, queued = tracing::field::Empty);
                    tx.send((p, i)).instrument(put.clone()).await?; // `await q.put(item)`
                    put.record("queued", tx.max_capacity() - tx.capacity());
                }
                anyhow::Ok(())
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
                    tokio::time::sleep(work).await;
                    tracing::debug!(consumer = c, ?item, "handled");
                    got.push(item);
                }
                got
            })
        })
        .collect();

    for task in producer_tasks {
        task.await??;
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
        per_consumer,
    })
}

/// The twin of `if __name__ == "__main__":` 2 producers of 20 items, 3 consumers of 10 ms each.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let start = tokio::time::Instant::now();
    let report = pipeline(2, 20, 3, Duration::from_millis(10)).await?;
    println!(
        "{} items received once each in {:.0?}; the consumers handled {:?}",
        report.received.len(),
        start.elapsed(),
        report.per_consumer
    );
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Recorded, Recording};
use common::timing::{Secs, timed_async};

pub const SECTION: Section = Section::new(
    "queue",
    "asyncio.Queue(maxsize=5)",
    "bounded mpsc channel: producers, consumers, backpressure measured",
    run,
)
.main(|| main().report());

const WORK: Duration = Duration::from_millis(10);

/// The longest the queue was after a `put`, read from the spans' `queued` field.
fn longest_queue(puts: &Recorded) -> usize {
    puts.spans()
        .iter()
        .filter_map(|s| s.field("queued")?.parse().ok())
        .max()
        .unwrap_or(0)
}

#[tokio::main]
async fn run() -> SectionResult {
    let (producers, items, consumers) = (2, 20, 3);
    let recording = Recording::start();
    let (report, took) = timed_async(pipeline(producers, items, consumers, WORK)).await;
    let puts = recording.finish().named(&["put"]);
    let report = report?;
    let expected: Vec<_> = (0..producers)
        .flat_map(|p| (0..items).map(move |i| (p, i)))
        .collect();
    anyhow::ensure!(report.received == expected, "items lost or duplicated");
    let (max_len, waited) = (longest_queue(&puts), puts.busy());
    anyhow::ensure!(max_len <= CAPACITY, "queue grew past its capacity");
    figure(
        "items",
        format!(
            "{} from {producers} producers, each received once",
            expected.len()
        ),
    );
    figure("consumers handled", format!("{:?}", report.per_consumer));
    figure(
        "largest queue length",
        format!("{max_len} (maxsize {CAPACITY})"),
    );
    figure(
        "producers waited in send",
        format!("{} in all, the run took {}", Secs(waited), Secs(took)),
    );
    let per_producer = waited / producers as u32;
    takeaway_if(
        &Evidence::new(
            max_len == CAPACITY && per_producer >= took / 2,
            format!(
                "a full queue ({CAPACITY}) and producers waiting in send for most of the run ({})",
                Secs(took)
            ),
            format!(
                "a longest queue of {max_len}, each producer waited {} on average",
                Secs(per_producer)
            ),
        ),
        "a bounded channel is asyncio.Queue(maxsize): send waits when full, so producers slow to the consumers' pace",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn every_item_once_and_the_queue_stays_bounded() {
        let recording = Recording::local();
        let report = pipeline(3, 10, 2, WORK).await.unwrap();
        let puts = recording.finish().named(&["put"]);
        let expected: Vec<_> = (0..3).flat_map(|p| (0..10).map(move |i| (p, i))).collect();
        assert_eq!(report.received, expected);
        assert_eq!(puts.len(), 30, "one put span per item");
        assert_eq!(
            longest_queue(&puts),
            CAPACITY,
            "fast producers fill the queue"
        );
        // Backpressure: 30 items went through a queue of 5, so puts waited for room.
        let lengths: Vec<usize> = puts
            .spans()
            .iter()
            .filter_map(|s| s.field("queued")?.parse().ok())
            .collect();
        assert_eq!(lengths.len(), 30, "every put recorded the queue length");
        assert!(lengths.iter().all(|&n| n <= CAPACITY), "{lengths:?}");
        assert_eq!(report.per_consumer.iter().sum::<usize>(), 30);
    }

    #[tokio::test(start_paused = true)]
    async fn consumers_end_when_the_producers_are_gone() {
        let report = pipeline(0, 10, 2, WORK).await.unwrap();
        assert!(report.received.is_empty());
        assert_eq!(report.per_consumer, [0, 0]);
    }
}
