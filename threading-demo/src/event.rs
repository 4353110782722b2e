//! `threading.Event()`: one thread sets, many wait; `wait(timeout)` returns `False` when
//! the time runs out -> an `Event` on `Mutex<bool>` + `Condvar`, model-checked with loom.
//!
//! Python:
//!     ready = threading.Event()
//!     def worker(i):
//!         ready.wait()                  # sleeps until someone calls ready.set()
//!         work(i)
//!     ... load_config(); ready.set()    # wakes every waiter at once
//!     ready.wait(timeout=0.05)          # -> False if not set within 50 ms
//!
//! Rust: std has no `Event`, but it is a flag under a `Mutex` plus a `Condvar`:
//! `set()` writes `true` and calls `notify_all()`; `wait()` sleeps on the condvar in a loop
//! until the flag is true (the loop guards against spurious wake-ups); `wait_timeout()`
//! does the same against a deadline and returns whether the flag was set, like Python.
//! For a one-shot "ready" signal, `std::sync::Barrier` or a channel closing are
//! alternatives; for tasks, `tokio::sync::Notify`. The event is model-checked under loom
//! (`cargo test -p threading-demo --release --features loom`): every waiter wakes in every
//! interleaving, including when `set()` runs before a waiter starts waiting.
//!
//! Watch: four waiters sleep until the setter is done preparing, then all wake at once (the
//! slowest wake-up after `set()` is printed); the timeline shows their waits ending in the same column.
//! A wait with a 50 ms timeout on an event nobody sets returns false.
//!
//! Run only this: cargo run -p threading-demo -- event

// Under `--features loom` only the model checks use these types.
#![cfg_attr(feature = "loom", allow(dead_code))]

use std::sync::PoisonError;
use std::time::{Duration, Instant};

#[cfg(feature = "loom")]
use loom::sync::{Condvar, Mutex};
#[cfg(not(feature = "loom"))]
use std::sync::{Condvar, Mutex};

/// A flag threads can wait for.
#[derive(Debug, Default)]
pub struct Event {
    flag: Mutex<bool>,
    changed: Condvar,
}

impl Event {
    pub fn new() -> Self {
        Event::default()
    }

    /// Set the flag and wake every waiter.
    pub fn set(&self) {
        *self.flag.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.changed.notify_all();
    }

    /// Reset the flag: later waiters sleep again.
    pub fn clear(&self) {
        *self.flag.lock().unwrap_or_else(PoisonError::into_inner) = false;
    }

    pub fn is_set(&self) -> bool {
        *self.flag.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sleep until the flag is set (returns at once if it already is).
    pub fn wait(&self) {
        let mut set = self.flag.lock().unwrap_or_else(PoisonError::into_inner);
        while !*set {
            set = self
                .changed
                .wait(set)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// `wait(timeout)`: true if the flag was set in time, false if the time ran out.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut set = self.flag.lock().unwrap_or_else(PoisonError::into_inner);
        while !*set {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            set = self
                .changed
                .wait_timeout(set, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

#[cfg(not(feature = "loom"))]
mod demo {
    use std::thread;
    use std::time::Duration;

    use anyhow::anyhow;
    use common::cli::{SectionResult, figure, takeaway};
    use common::timeline::{Timeline, now_us};
    use common::timing::Secs;

    use super::Event;

    const WAITERS: usize = 4;
    const PREPARE: Duration = Duration::from_millis(80);
    const WORK: Duration = Duration::from_millis(20);

    /// `waiters` threads wait for `ready`; the calling thread prepares for `prepare`, then
    /// sets it. Returns how long after `set()` each waiter woke, in waiter order.
    pub fn wake_all(
        ready: &Event,
        waiters: usize,
        prepare: Duration,
        work: Duration,
        timeline: &Timeline,
    ) -> anyhow::Result<Vec<Duration>> {
        thread::scope(|s| {
            let handles: Vec<_> = (0..waiters)
                .map(|i| {
                    s.spawn(move || {
                        let lane = format!("waiter-{i}");
                        timeline.record(&lane, "wait", || ready.wait());
                        let woke = now_us();
                        timeline.record(&lane, "work", || thread::sleep(work));
                        woke
                    })
                })
                .collect();
            timeline.record("setter", "prepare", || thread::sleep(prepare));
            let set_at = now_us();
            ready.set();
            tracing::debug!("event set");
            handles
                .into_iter()
                .map(|h| {
                    let woke = h.join().map_err(|_| anyhow!("a waiter panicked"))?;
                    Ok(Duration::from_micros(woke.saturating_sub(set_at)))
                })
                .collect()
        })
    }

    pub fn run() -> SectionResult {
        let ready = Event::new();
        figure("is_set() before", ready.is_set());
        let timeline = Timeline::new();
        let delays = wake_all(&ready, WAITERS, PREPARE, WORK, &timeline)?;
        anyhow::ensure!(delays.len() == WAITERS, "not every waiter woke");
        let slowest = delays.iter().max().copied().unwrap_or_default();
        figure("woken by one set()", format!("all {WAITERS} waiters"));
        figure("slowest wake-up", Secs(slowest));
        timeline.print();

        let never = Event::new();
        let timeout = Duration::from_millis(50);
        let got = never.wait_timeout(timeout);
        anyhow::ensure!(!got, "an event nobody set reported set");
        figure(format!("unset: wait({})", Secs(timeout)), got);
        let got = ready.wait_timeout(timeout);
        anyhow::ensure!(got, "a set event reported a timeout");
        figure(format!("set: wait({})", Secs(timeout)), got);
        ready.clear();
        figure("is_set() after clear()", ready.is_set());
        takeaway(
            "an Event is a Mutex<bool> + Condvar: set() is notify_all(), wait() loops on the flag",
        );
        Ok(())
    }
}

#[cfg(not(feature = "loom"))]
pub use demo::run;

/// Built with `--features loom`, the primitives only work inside `loom::model`.
#[cfg(feature = "loom")]
pub fn run() -> common::cli::SectionResult {
    anyhow::bail!(
        "this build model-checks the primitives with loom; run the demo without --features loom"
    )
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::demo::wake_all;
    use super::*;
    use common::timeline::Timeline;

    #[test]
    fn set_wakes_every_waiter() {
        let ready = Event::new();
        let timeline = Timeline::new();
        let delays = wake_all(&ready, 5, Duration::ZERO, Duration::ZERO, &timeline).unwrap();
        assert_eq!(delays.len(), 5);
        assert!(ready.is_set());
        let waits = timeline
            .spans()
            .iter()
            .filter(|s| s.label == "wait")
            .count();
        assert_eq!(waits, 5, "every waiter got past wait()");
    }

    #[test]
    fn wait_timeout_says_false_when_unset_and_true_when_set() {
        let event = Event::new();
        assert!(!event.wait_timeout(Duration::from_millis(1)));
        assert!(!event.wait_timeout(Duration::ZERO));
        event.set();
        assert!(event.wait_timeout(Duration::ZERO));
        event.wait(); // returns at once
        event.clear();
        assert!(!event.is_set());
        assert!(!event.wait_timeout(Duration::ZERO));
    }
}

/// Model checks: every interleaving of the threads, under loom.
#[cfg(all(test, feature = "loom"))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    #[test]
    fn one_set_wakes_every_waiter() {
        loom::model(|| {
            let event = Arc::new(Event::new());
            let waiters: Vec<_> = (0..2)
                .map(|_| {
                    let event = event.clone();
                    thread::spawn(move || {
                        event.wait();
                        assert!(event.is_set());
                    })
                })
                .collect();
            event.set();
            // If a waiter could miss the wake-up, loom reports a deadlock here.
            for w in waiters {
                w.join().unwrap();
            }
        });
    }

    #[test]
    fn a_set_before_the_wait_is_not_missed() {
        loom::model(|| {
            let event = Arc::new(Event::new());
            let waiter = {
                let event = event.clone();
                thread::spawn(move || event.wait())
            };
            event.set();
            waiter.join().unwrap();
            event.clear();
            assert!(!event.is_set());
        });
    }
}
