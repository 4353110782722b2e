//! How many are inside a block now, and at most: the "largest number in flight" that
//! several sections report, counted by a guard so an early return or a panic still leaves.
//!
//! Measuring code uses it around the work it hands to a lesson (a test's closure, a
//! server's handler); lesson code does not need it.

use std::sync::atomic::{AtomicUsize, Ordering};

/// `let _inside = gauge.enter();` ... `gauge.max()`.
#[derive(Debug, Default)]
pub struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Gauge {
    pub const fn new() -> Self {
        Gauge {
            now: AtomicUsize::new(0),
            max: AtomicUsize::new(0),
        }
    }

    /// Count one more inside until the guard is dropped.
    pub fn enter(&self) -> Inside<'_> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        Inside(self)
    }

    /// How many are inside now.
    pub fn now(&self) -> usize {
        self.now.load(Ordering::SeqCst)
    }

    /// The most that were inside at once.
    pub fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

/// Leaves the gauge when dropped.
#[must_use = "the count goes down when this guard is dropped"]
#[derive(Debug)]
pub struct Inside<'a>(&'a Gauge);

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_now_and_the_most_at_once() {
        let gauge = Gauge::new();
        let a = gauge.enter();
        {
            let _b = gauge.enter();
            assert_eq!(gauge.now(), 2);
        }
        drop(a);
        let _c = gauge.enter();
        assert_eq!((gauge.now(), gauge.max()), (1, 2));
    }

    #[test]
    fn threads_in_a_barrier_are_all_inside_at_once() {
        let gauge = Gauge::new();
        let barrier = std::sync::Barrier::new(4);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let _in = gauge.enter();
                    barrier.wait();
                });
            }
        });
        assert_eq!((gauge.now(), gauge.max()), (0, 4));
    }
}
