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
//! Copy it: cargo add anyhow@1 tracing@0.1

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

/// A million numbers, summed and squared by 4 threads that borrow them.
fn main() -> anyhow::Result<()> {
    let n: u64 = 1_000_000;
    let data: Vec<u64> = (0..n).collect();
    let sum = parallel_sum_of_squares(&data, 4)?;
    assert_eq!(sum, (n - 1) * n * (2 * n - 1) / 6, "the known answer");
    println!("sum of squares below {n} on 4 threads: {sum} (the known answer)");
    let mut squares = data.clone();
    square_in_place(&mut squares, 4);
    assert!(squares.iter().zip(&data).all(|(s, x)| *s == x * x));
    println!(
        "squared in place: {} elements; `data` is ours again",
        squares.len()
    );
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::takeaway;

pub const SECTION: Section = Section::new(
    "scoped-threads",
    "(no Python twin)",
    "thread::scope: threads borrow local data, no Arc",
    run,
)
.main(|| main().report());

fn run() -> SectionResult {
    main()?;
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
                common::workload::sum_of_squares_expected(1001)
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
