//! `std::thread::scope`: threads that borrow the caller's local data, with no `Arc` and
//! no copies. **No Python twin.**
//!
//! Python (the nearest thing: every thread may use every object, the garbage collector
//! keeps `data` alive for as long as any thread holds it):
//!     data = list(range(1_000_000))
//!     partial = [0] * 4
//!     def part(k, lo, hi):
//!         partial[k] = sum(x * x for x in data[lo:hi])
//!     threads = [Thread(target=part, args=(k, lo, hi)) for k, (lo, hi) in enumerate(chunks)]
//!     for t in threads: t.start()
//!     for t in threads: t.join()
//!
//! Rust: a `thread::spawn` closure must own what it uses (`'static`), because the thread
//! may outlive the function that started it; sharing then means `Arc`. `thread::scope`
//! promises instead that every thread started in it is joined before `scope` returns, so
//! the threads may borrow locals: `&data` to read, and even `&mut` to disjoint chunks
//! (`chunks_mut`) to write in place. The borrow checker proves the chunks do not overlap.
//!
//! Watch: each thread reads its own quarter of one vector and writes into its own quarter
//! of another; the sums add up to the known answer and the vector is never copied.
//!
//! Run only this: cargo run -p threading-demo -- scoped-threads

use std::thread;

use anyhow::anyhow;

/// Sum of squares of `data`, one scoped thread per chunk, each borrowing its chunk.
pub fn parallel_sum_of_squares(data: &[u64], threads: usize) -> anyhow::Result<u64> {
    let chunk = data.len().div_ceil(threads.max(1)).max(1);
    thread::scope(|s| {
        let handles: Vec<_> = data
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(|x| x * x).sum::<u64>()))
            .collect();
        // Joining inside the scope gets each value (and any panic) back.
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow!("a scoped thread panicked")))
            .sum()
    })
}

/// Square every element in place: each thread gets `&mut` to its own chunk.
pub fn square_in_place(data: &mut [u64], threads: usize) {
    let chunk = data.len().div_ceil(threads.max(1)).max(1);
    thread::scope(|s| {
        for part in data.chunks_mut(chunk) {
            s.spawn(move || {
                tracing::debug!(thread = ?thread::current().id(), len = part.len(), "squaring a chunk");
                for x in part {
                    *x *= *x;
                }
            });
        }
    }); // every thread has been joined here: `data` is ours again
}

// --- run and measure ---

use common::cli::{Section, SectionResult};
use common::print::{figure, takeaway};
use common::timing::{Secs, timed};
use common::workload::sum_of_squares_expected;

pub const SECTION: Section = Section::new(
    "scoped-threads",
    "(no Python twin)",
    "thread::scope: threads borrow local data, no Arc, joined at the }",
    run,
);

const LEN: u64 = 1_000_000;
const THREADS: usize = 4;

fn run() -> SectionResult {
    let data: Vec<u64> = (0..LEN).collect();
    let (sum, took) = timed(|| parallel_sum_of_squares(&data, THREADS));
    let sum = sum?;
    anyhow::ensure!(sum == sum_of_squares_expected(LEN), "wrong sum: {sum}");
    figure(format!("sum of squares, {THREADS} threads"), sum);
    figure("took", Secs(took));

    let mut squares = data.clone();
    square_in_place(&mut squares, THREADS);
    anyhow::ensure!(
        squares.iter().zip(&data).all(|(s, x)| *s == x * x),
        "a chunk was not squared"
    );
    figure("squared in place", format!("{} elements", squares.len()));
    println!("  (`data` is still usable here: the scope lent it out and got it back)");
    takeaway("thread::scope lets threads borrow local data: no Arc, no clone, joined at the }");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrowed_chunks_add_up() {
        let data: Vec<u64> = (0..1001).collect();
        for threads in [1, 3, 4, 2000] {
            assert_eq!(
                parallel_sum_of_squares(&data, threads).unwrap(),
                sum_of_squares_expected(1001)
            );
        }
        assert_eq!(parallel_sum_of_squares(&[], 4).unwrap(), 0);
    }

    #[test]
    fn mutable_chunks_are_written_in_place() {
        let mut data: Vec<u64> = (0..10).collect();
        square_in_place(&mut data, 3);
        assert_eq!(data, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
    }
}
