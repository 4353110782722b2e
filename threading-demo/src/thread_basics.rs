//! `threading.Thread(target=f, args=(i,))`, `start()`, `join()` -> `std::thread::spawn`,
//! `thread::Builder` and `JoinHandle::join`.
//!
//! Python:
//!     results = [None] * 4                      # a thread cannot return a value...
//!     def worker(i):
//!         time.sleep(0.1)
//!         results[i] = i * i                    # ...so it writes into shared state
//!     threads = [threading.Thread(target=worker, args=(i,), name=f"worker-{i}") for i in range(4)]
//!     for t in threads: t.start()
//!     for t in threads: t.join()
//!
//! Rust: `spawn` starts the thread at once (there is no separate `start()`); the `move`
//! closure owns its arguments; `join()` hands back what the closure returned, so no shared
//! list is needed, and a thread that panicked comes back as an `Err`, not a silent `None`.
//! `thread::Builder` sets the name (Python's `name=`) and the stack size.
//!
//! Watch: four 100 ms sleeps on four threads take about 100 ms, against about 400 ms one
//! after another; in the timeline the four bars overlap.
//!
//! Run only this: cargo run -p threading-demo -- thread-basics

use std::thread;
use std::time::Duration;

use anyhow::{Context, anyhow};
use common::cli::{SectionResult, figure, takeaway};
use common::timeline::{Timeline, thread_lane};
use common::timing::{Secs, speedup, timed};

const WORKERS: u64 = 4;
const NAP: Duration = Duration::from_millis(100);

/// Start one named thread per input; each sleeps `nap` (blocking I/O) and returns
/// `(its name, i * i)` through its `JoinHandle`.
fn spawn_and_join(
    inputs: &[u64],
    nap: Duration,
    timeline: &Timeline,
) -> anyhow::Result<Vec<(String, u64)>> {
    let handles = inputs
        .iter()
        .map(|&i| {
            let timeline = timeline.clone();
            thread::Builder::new()
                .name(format!("worker-{i}"))
                .stack_size(256 * 1024) // 256 KiB is plenty for this closure
                .spawn(move || {
                    let _busy = timeline.span(thread_lane(), "sleep");
                    thread::sleep(nap);
                    (thread_lane(), i * i)
                })
                .context("spawning a thread")
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    // `join` blocks until that thread ends; handles come back in spawn order.
    handles
        .into_iter()
        .map(|h| h.join().map_err(|_| anyhow!("a worker thread panicked")))
        .collect()
}

pub fn run() -> SectionResult {
    let inputs: Vec<u64> = (0..WORKERS).collect();

    let (_, one_by_one) = timed(|| {
        for _ in &inputs {
            thread::sleep(NAP);
        }
    });
    let timeline = Timeline::new();
    let (results, threaded) = timed(|| spawn_and_join(&inputs, NAP, &timeline));
    let results = results?;

    for (name, value) in &results {
        println!("  {name} returned {value}");
    }
    anyhow::ensure!(
        results.iter().zip(&inputs).all(|((_, v), i)| *v == i * i),
        "a thread returned the wrong value"
    );
    figure(
        format!("{WORKERS} sleeps one after another"),
        Secs(one_by_one),
    );
    figure(
        format!("{WORKERS} sleeps on {WORKERS} threads"),
        Secs(threaded),
    );
    figure("speedup", format!("{:.1}x", speedup(one_by_one, threaded)));
    timeline.print();
    takeaway(
        "threads overlap their waits, and join() returns each thread's value: no shared list needed",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_back_through_the_handles_in_spawn_order() {
        let timeline = Timeline::new();
        let results = spawn_and_join(&[3, 1, 2], Duration::ZERO, &timeline).unwrap();
        assert_eq!(
            results,
            [
                ("worker-3".to_owned(), 9),
                ("worker-1".to_owned(), 1),
                ("worker-2".to_owned(), 4)
            ]
        );
        assert_eq!(timeline.spans().len(), 3, "each thread recorded its span");
    }

    #[test]
    fn a_panicking_thread_is_an_error_at_join() {
        let handle = thread::spawn(|| -> u64 { panic!("boom") });
        assert!(handle.join().is_err());
    }
}
