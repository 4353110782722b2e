//! "Keep the GUI responsive": long work on a worker thread that reports progress over a
//! channel, while the main loop keeps ticking (`recv_timeout`, then `try_iter`).
//!
//! Python:
//!     progress = queue.Queue()
//!     def work():
//!         for i, chunk in enumerate(chunks):
//!             crunch(chunk)
//!             progress.put(i + 1)
//!     threading.Thread(target=work, daemon=True).start()
//!     done, next_tick = 0, time.monotonic() + TICK
//!     while done < len(chunks):            # the GUI / input loop
//!         try:                             # a late tick waits 0 s, not a negative time
//!             done = progress.get(timeout=max(0.0, next_tick - time.monotonic()))
//!         except queue.Empty:
//!             redraw(done)                 # tick: draw, read input
//!             next_tick += TICK
//!
//! Rust: the same shape with `std::sync::mpsc`: `recv_timeout` sleeps until a message or
//! the next tick, whichever comes first; `try_iter` (`try_recv` until empty) drains what
//! else is waiting without blocking (a game loop uses only `try_recv` and sleeps to the next frame). When the
//! worker ends, its `Sender` is dropped and the loop sees `Disconnected`: no sentinel.
//! Unlike Python, the worker's CPU work does not compete with the main loop for a GIL: on
//! a free core the loop's ticks stay on time however hard the worker computes.
//!
//! Watch: the main loop ticks every 20 ms, on time, showing the chunks done so far, while
//! the worker computes; then the answer. In the demo: the timeline (the worker's chunks back
//! to back in one lane, the ticks at a steady beat in the other) and the worst tick
//! lateness, a few milliseconds at most, against the worker's whole run (the time the loop
//! would have stood still with the work done on it).
//!
//! Run only this: cargo run -p threading-demo -- responsive-main
//! Copy it: cargo add anyhow@1 tracing@0.1

use std::hint::black_box;
use std::ops::Range;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

/// What the worker sends: progress after each chunk, then the answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Progress<T> {
    Done { chunks: usize, of: usize },
    Finished(T),
}

/// The worker: `work` on each chunk in turn, a progress message after each, the results
/// combined with `add`. A message that finds no receiver (the UI closed) stops it early.
pub fn worker<C, T>(
    chunks: Vec<C>,
    work: impl Fn(C) -> T,
    add: impl Fn(T, T) -> T,
    zero: T,
    progress: Sender<Progress<T>>,
) {
    let of = chunks.len();
    let mut total = zero;
    for (k, chunk) in chunks.into_iter().enumerate() {
        let part = tracing::info_span!("chunk", k).in_scope(|| work(chunk));
        total = add(total, part);
        if progress.send(Progress::Done { chunks: k + 1, of }).is_err() {
            return;
        }
    }
    let _ = progress.send(Progress::Finished(total));
}

/// The main loop: tick every `tick` (`on_tick(chunks done, of)`: redraw, read input), and
/// take progress messages as they come. Returns the worker's answer, or `None` if the
/// worker stopped without one.
pub fn main_loop<T>(
    progress: Receiver<Progress<T>>,
    tick: Duration,
    mut on_tick: impl FnMut(usize, usize),
) -> Option<T> {
    let (mut done, mut of) = (0, 0);
    let mut next_tick = Instant::now() + tick;
    loop {
        let until_tick = next_tick.saturating_duration_since(Instant::now());
        // Wait for a message or the next tick; then take whatever else arrived, without blocking.
        let first = match progress.recv_timeout(until_tick) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => {
                tracing::info_span!("tick", done).in_scope(|| on_tick(done, of));
                next_tick += tick;
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return None,
        };
        for message in std::iter::once(first).chain(progress.try_iter()) {
            match message {
                Progress::Done { chunks, of: all } => (done, of) = (chunks, all),
                Progress::Finished(answer) => return Some(answer),
            }
        }
    }
}

/// Both together: the worker on its own thread, the loop on this one.
pub fn run_responsive<C: Send + 'static, T: Send + 'static>(
    chunks: Vec<C>,
    work: impl Fn(C) -> T + Send + 'static,
    add: impl Fn(T, T) -> T + Send + 'static,
    zero: T,
    tick: Duration,
    on_tick: impl FnMut(usize, usize),
) -> anyhow::Result<Option<T>> {
    let (tx, rx) = mpsc::channel();
    let handle = thread::Builder::new()
        .name("worker".into())
        .spawn(move || worker(chunks, work, add, zero, tx))?;
    let answer = main_loop(rx, tick, on_tick);
    handle
        .join()
        .map_err(|_| anyhow::anyhow!("the worker panicked"))?;
    Ok(answer)
}

/// `crunch(chunk)`: the sum of `i * i` over a range, wrapping (`black_box` keeps the
/// compiler from replacing the loop by its formula: the point is to burn CPU).
pub fn crunch(range: Range<u64>) -> u64 {
    let mut sum = 0u64;
    for i in range {
        sum = sum.wrapping_add(black_box(i).wrapping_mul(i));
    }
    sum
}

/// 60 million squares in 12 chunks on the worker; the loop ticks every 20 ms meanwhile.
fn main() -> anyhow::Result<()> {
    let n: u64 = 60_000_000;
    let chunks: Vec<Range<u64>> = (0..12).map(|k| n * k / 12..n * (k + 1) / 12).collect();
    let start = Instant::now();
    let answer = run_responsive(
        chunks,
        crunch,
        u64::wrapping_add,
        0,
        Duration::from_millis(20),
        |done, _of| {
            println!(
                "tick at {:>6.1?}: {done} of 12 chunks done",
                start.elapsed()
            )
        },
    )?;
    let n = u128::from(n);
    assert_eq!(
        answer,
        Some(((n - 1) * n * (2 * n - 1) / 6) as u64),
        "the known answer"
    );
    println!("answer {answer:?} after {:.1?}, checked", start.elapsed());
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recording};
use common::timing::{Secs, Stopwatch};
use common::workload::{split_range, sum_of_squares_expected, sum_of_squares_in};

pub const SECTION: Section = Section::new(
    "responsive-main",
    "a worker thread + queue.Queue",
    "a GUI loop's ticks stay on time while a worker computes",
    run,
)
.main(|| main().report());

const TICK: Duration = Duration::from_millis(20);
const CHUNKS: usize = 12;
/// About 0.2 s of summing on one core of the development machine.
const N: u64 = 600_000_000;
/// A tick later than this is a visible stutter in a UI.
const LATE: Duration = Duration::from_millis(10);

fn run() -> SectionResult {
    let recording = Recording::start();
    let sw = Stopwatch::start();
    let mut last: Option<Duration> = None;
    let (mut ticks, mut worst, mut seen) = (0u32, Duration::ZERO, 0);
    let on_tick = |done, _of| {
        // The lateness of a tick: how much later than one period after the last.
        let now = sw.elapsed();
        if let Some(last) = last {
            worst = worst.max(now.saturating_sub(last + TICK));
        }
        (last, ticks, seen) = (Some(now), ticks + 1, done);
    };
    let chunks = split_range(N, CHUNKS);
    let answer = run_responsive(
        chunks,
        sum_of_squares_in,
        u64::wrapping_add,
        0,
        TICK,
        on_tick,
    )?;
    let took = sw.elapsed();
    let spans = recording.finish().named(&["chunk", "tick"]);
    anyhow::ensure!(
        answer == Some(sum_of_squares_expected(N)),
        "the worker answered {answer:?}"
    );
    let worked = spans.filter(|s| s.name == "chunk").busy();
    figure(
        "worker",
        format!(
            "{CHUNKS} chunks of a sum of squares in {} (checked)",
            Secs(worked)
        ),
    );
    figure(
        "main loop",
        format!(
            "{ticks} ticks of {} in {}; progress {seen}/{CHUNKS} at the last",
            Secs(TICK),
            Secs(took)
        ),
    );
    figure("worst tick lateness", Secs(worst));
    spans.print(Lanes::Thread);
    takeaway_if(
        &Evidence::new(
            ticks >= 2 && worst <= LATE,
            format!(
                "every tick within {} of its time while the worker computed",
                Secs(LATE)
            ),
            format!("{ticks} ticks, worst {} late", Secs(worst)),
        ),
        format!(
            "the loop stayed responsive (worst tick {} late) through {} of work on the other thread; done on the loop, it would have frozen that long",
            Secs(worst),
            Secs(worked)
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loop_returns_the_answer_after_all_progress() {
        let (tx, rx) = mpsc::channel();
        worker(vec![1u64, 2, 3], |x| x * 10, |a, b| a + b, 0, tx);
        // Every message is queued already: the loop drains them without a single tick.
        let mut ticked = 0;
        let answer = main_loop(rx, Duration::from_secs(3600), |_, _| ticked += 1);
        assert_eq!(answer, Some(60));
        assert_eq!(ticked, 0);
    }

    #[test]
    fn the_loop_ticks_while_nothing_arrives_and_shows_progress() {
        // The worker is a channel the test drives: one tick per empty wait (a zero tick),
        // each seeing the progress so far.
        let (tx, rx) = mpsc::channel();
        tx.send(Progress::Done { chunks: 1, of: 2 }).unwrap();
        let mut seen = Vec::new();
        let mut tx = Some(tx);
        let answer = main_loop(rx, Duration::ZERO, |done, of| {
            seen.push((done, of));
            match seen.len() {
                2 => {
                    let _ = tx
                        .as_ref()
                        .map(|t| t.send(Progress::Done { chunks: 2, of: 2 }));
                }
                4 => {
                    let _ = tx.take().map(|t| t.send(Progress::Finished(7u8)));
                }
                _ => {}
            }
        });
        assert_eq!(answer, Some(7));
        assert_eq!(seen.first(), Some(&(1, 2)));
        assert_eq!(seen.last(), Some(&(2, 2)));
        assert_eq!(seen.len(), 4);
    }

    #[test]
    fn a_worker_that_dies_ends_the_loop_with_none() {
        let (tx, rx) = mpsc::channel::<Progress<u8>>();
        tx.send(Progress::Done { chunks: 1, of: 3 }).unwrap();
        drop(tx);
        assert_eq!(main_loop(rx, Duration::from_secs(3600), |_, _| {}), None);
    }

    #[test]
    fn a_closed_ui_stops_the_worker() {
        let (tx, rx) = mpsc::channel();
        drop(rx);
        let calls = std::cell::Cell::new(0);
        worker(
            vec![1, 2, 3],
            |x: u32| {
                calls.set(calls.get() + 1);
                x
            },
            |a, b| a + b,
            0,
            tx,
        );
        assert_eq!(
            calls.get(),
            1,
            "stopped after the first message found no one"
        );
    }

    #[test]
    fn both_threads_together_give_the_checked_answer() {
        let answer = run_responsive(
            split_range(10_000, 4),
            sum_of_squares_in,
            u64::wrapping_add,
            0,
            Duration::from_millis(1),
            |_, _| {},
        )
        .unwrap();
        assert_eq!(answer, Some(sum_of_squares_expected(10_000)));
    }
}
