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
//! In a copy, `cargo add loom@0.7 --optional` declares the `loom` feature those `cfg` lines
//! name (without it they warn; delete them if you do not model-check).
//!
//! Watch: four waiters sleep until the setter is done preparing (80 ms), then all wake at
//! once; in the demo, the slowest wake-up after `set()` is printed, and in the timeline every
//! waiter's `wait` span ends in the column where `main`'s `prepare` ends.
//! A wait with a 50 ms timeout on an event nobody sets returns false.
//!
//! Run only this: cargo run -p threading-demo -- event
//! Copy it: cargo add anyhow@1 tracing@0.1

use std::sync::PoisonError;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
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

/// `waiters` threads (`waiter-0`, ...) wait for `ready`, then each runs `work(i)`; the
/// calling thread runs `prepare`, then sets the event. Results in waiter order.
pub fn wake_all<R: Send>(
    ready: &Event,
    waiters: usize,
    prepare: impl FnOnce(),
    work: impl Fn(usize) -> R + Sync,
) -> anyhow::Result<Vec<R>> {
    thread::scope(|s| {
        let handles = (0..waiters)
            .map(|i| {
                let work = &work;
                thread::Builder::new()
                    .name(format!("waiter-{i}"))
                    .spawn_scoped(s, move || {
                        tracing::info_span!("wait").in_scope(|| ready.wait());
                        tracing::info_span!("work").in_scope(|| work(i))
                    })
                    .context("spawning a waiter")
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        tracing::info_span!("prepare").in_scope(prepare);
        ready.set();
        tracing::debug!("event set");
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow!("a waiter panicked")))
            .collect()
    })
}

/// Four waiters, a setter that prepares for 80 ms, then a wait that nobody ends.
fn main() -> anyhow::Result<()> {
    let ready = Event::new();
    let start = Instant::now();
    let prepare = || thread::sleep(Duration::from_millis(80)); // load_config()
    for (i, woke) in wake_all(&ready, 4, prepare, |i| (i, start.elapsed()))? {
        println!("waiter-{i} woke at {woke:.1?}");
    }
    let never = Event::new();
    let got = never.wait_timeout(Duration::from_millis(50));
    println!("wait(timeout=0.05) on an event nobody sets: {got}");
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recording};
use common::timing::Secs;

pub const SECTION: Section = Section::new(
    "event",
    "threading.Event()",
    "set() wakes every waiter; wait_timeout; loom-checked",
    run,
)
.main(|| main().report());

const WAITERS: usize = 4;
const PREPARE: Duration = Duration::from_millis(80);
const WORK: Duration = Duration::from_millis(20);

/// Built with `--features loom`, `main.rs` lists a stand-in instead of this `run`: the
/// primitives then work only inside `loom::model`.
fn run() -> SectionResult {
    let ready = Event::new();
    let mut set_at = None;
    let recording = Recording::start();
    let prepare = || {
        thread::sleep(PREPARE);
        set_at = Some(Instant::now()); // `set()` comes right after
    };
    let woke = wake_all(&ready, WAITERS, prepare, |_| {
        let woke = Instant::now();
        thread::sleep(WORK);
        woke
    })?;
    let spans = recording.finish().named(&["wait", "work", "prepare"]);
    let set_at = set_at.context("the setter did not prepare")?;
    let slowest = woke
        .iter()
        .map(|w| w.saturating_duration_since(set_at))
        .max();
    let slowest = slowest.context("no waiter woke")?;
    figure("woken by one set()", format!("all {WAITERS} waiters"));
    figure("slowest wake-up after set()", Secs(slowest));
    spans.print(Lanes::Thread);
    println!("  (each waiter's lane: █ wait, then ▓ work)");
    let timeout = Duration::from_millis(50);
    anyhow::ensure!(
        !Event::new().wait_timeout(timeout),
        "an unset event reported set"
    );
    anyhow::ensure!(ready.wait_timeout(timeout), "a set event timed out");
    ready.clear();
    anyhow::ensure!(!ready.is_set(), "clear() left it set");
    figure(
        format!("wait({}): unset, set", Secs(timeout)),
        "false, true",
    );
    let at_once = Duration::from_millis(10);
    takeaway_if(
        &Evidence::new(
            slowest < at_once,
            format!("every waiter awake within {} of set()", Secs(at_once)),
            format!("the slowest after {}", Secs(slowest)),
        ),
        "an Event is a Mutex<bool> + Condvar: set() is notify_all(), wait() loops on the flag",
    );
    Ok(())
}

#[cfg(test)]
#[cfg(not(feature = "loom"))]
mod tests {
    use super::*;

    #[test]
    fn set_wakes_every_waiter_and_none_works_before_it() {
        let ready = Event::new();
        let saw_set = wake_all(&ready, 5, || (), |_| ready.is_set()).unwrap();
        assert_eq!(
            saw_set, [true; 5],
            "every waiter got past wait() after set()"
        );
        assert!(ready.is_set());
    }

    #[test]
    fn the_setter_prepares_before_anyone_works() {
        let ready = Event::new();
        let prepared = std::sync::atomic::AtomicBool::new(false);
        let seen = wake_all(
            &ready,
            3,
            || prepared.store(true, std::sync::atomic::Ordering::SeqCst),
            |i| (i, prepared.load(std::sync::atomic::Ordering::SeqCst)),
        )
        .unwrap();
        assert_eq!(seen, [(0, true), (1, true), (2, true)]);
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
#[cfg(test)]
#[cfg(feature = "loom")]
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
