//! `threading.Thread(target=f, args=(i,))`, `start()`, `join()` -> `std::thread::spawn`,
//! `JoinHandle::join`, and `thread::Builder` for a name.
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
//! Rust: `thread::spawn(move || ...)` starts the thread at once (there is no separate
//! `start()`); the `move` closure owns its arguments; `join()` hands back what the closure
//! returned, so no shared list is needed, and a thread that panicked comes back as an
//! `Err`, not a silent `None`. `thread::Builder` adds what `Thread(name=...)` sets (and a
//! stack size); its `spawn` returns an `io::Result`, because the OS may refuse a thread.
//!
//! Watch: four 100 ms sleeps on four threads take about 100 ms, not the 400 ms they add up
//! to, and each thread's value comes back through `join()`; in the demo's timeline the four
//! bars overlap, one lane per worker in spawn order.
//!
//! Run only this: cargo run -p threading-demo -- thread-basics
//! Copy it: cargo add anyhow@1 tracing@0.1

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};

/// `Thread(target=worker, args=(i,))` for each input: each sleeps `nap` (blocking I/O)
/// and returns `i * i` through its `JoinHandle`. Results come back in spawn order.
pub fn spawn_and_join(inputs: &[u64], nap: Duration) -> anyhow::Result<Vec<u64>> {
    let handles: Vec<thread::JoinHandle<u64>> = inputs
        .iter()
        .map(|&i| {
            // Made here, entered in the thread: the span follows the work it names.
            let span = tracing::info_span!("worker", i);
            thread::spawn(move || {
                let _in = span.entered();
                thread::sleep(nap);
                i * i
            })
        })
        .collect();
    // `join` blocks until that thread ends; a panic in it comes back as `Err`.
    handles
        .into_iter()
        .map(|h| h.join().map_err(|_| anyhow!("a worker thread panicked")))
        .collect()
}

/// The same with `thread::Builder`: a name (Python's `name=`) and a smaller stack. Each
/// thread returns `(its name, i * i)`.
pub fn spawn_named(inputs: &[u64], nap: Duration) -> anyhow::Result<Vec<(String, u64)>> {
    let handles = inputs
        .iter()
        .map(|&i| {
            let span = tracing::info_span!("worker", i);
            thread::Builder::new()
                .name(format!("worker-{i}"))
                .stack_size(256 * 1024) // 256 KiB is plenty for this closure
                .spawn(move || {
                    let _in = span.entered();
                    thread::sleep(nap);
                    let name = thread::current().name().unwrap_or("?").to_owned();
                    (name, i * i)
                })
                .context("spawning a thread")
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    handles
        .into_iter()
        .map(|h| h.join().map_err(|_| anyhow!("a worker thread panicked")))
        .collect()
}

/// `if __name__ == "__main__":` four workers of 100 ms each, plain then named.
fn main() -> anyhow::Result<()> {
    let nap = Duration::from_millis(100);
    let start = Instant::now();
    let squares = spawn_and_join(&[0, 1, 2, 3], nap)?;
    println!("4 threads returned {squares:?} in {:.0?}", start.elapsed());
    for (name, value) in spawn_named(&[0, 1, 2, 3], nap)? {
        println!("{name} returned {value}");
    }
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recording};
use common::timing::{Secs, speedup, timed};

pub const SECTION: Section = Section::new(
    "thread-basics",
    "threading.Thread(target, args)",
    "thread::spawn, join() returns the value; Builder names",
    run,
)
.main(|| main().report());

const WORKERS: u64 = 4;
const NAP: Duration = Duration::from_millis(100);

fn run() -> SectionResult {
    main()?;
    let inputs: Vec<u64> = (0..WORKERS).collect();
    let (_, one_by_one) = timed(|| inputs.iter().for_each(|_| thread::sleep(NAP)));
    let recording = Recording::start();
    let (values, threaded) = timed(|| spawn_and_join(&inputs, NAP));
    let workers = recording.finish().named(&["worker"]);
    anyhow::ensure!(
        values? == inputs.iter().map(|i| i * i).collect::<Vec<_>>(),
        "the threads returned wrong values"
    );
    let (s, at_once) = (speedup(one_by_one, threaded), workers.most_at_once());
    figure(format!("{WORKERS} sleeps one by one"), Secs(one_by_one));
    figure(format!("on {WORKERS} threads"), Secs(threaded));
    figure("speedup", format!("{s:.1}x; {at_once} asleep at once"));
    workers.print(Lanes::Span);
    takeaway_if(
        &Evidence::new(
            at_once == WORKERS as usize && s >= WORKERS as f64 * 0.6,
            format!("{WORKERS} sleeps overlapping, about {WORKERS}x faster than one after another"),
            format!("{at_once} at once, {s:.1}x"),
        ),
        "threads overlap their waits, and join() returns each thread's value: no shared list needed",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_back_through_the_handles_in_spawn_order() {
        // Spans made on this thread (and entered in the workers) reach a local recording.
        let recording = Recording::local();
        assert_eq!(
            spawn_and_join(&[3, 1, 2], Duration::ZERO).unwrap(),
            [9, 1, 4]
        );
        let workers = recording.finish().named(&["worker"]);
        let mut seen: Vec<_> = workers
            .spans()
            .iter()
            .filter_map(|s| s.field("i"))
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, ["1", "2", "3"], "one span per thread");
    }

    #[test]
    fn builder_threads_carry_their_names() {
        let results = spawn_named(&[3, 1, 2], Duration::ZERO).unwrap();
        assert_eq!(
            results,
            [
                ("worker-3".to_owned(), 9),
                ("worker-1".to_owned(), 1),
                ("worker-2".to_owned(), 4)
            ]
        );
    }

    #[test]
    fn a_panicking_thread_is_an_error_at_join() {
        let handle = thread::spawn(|| -> u64 { panic!("boom") });
        assert!(handle.join().is_err());
    }
}
