//! `data = x; ready = True` in one thread, `if ready: use(data)` in another -> an atomic
//! flag stored with `Release` and loaded with `Acquire` (`SeqCst` when unsure), loom-checked.
//!
//! Python:
//!     data, ready = 0, False
//!     def producer():
//!         global data, ready
//!         data = 42                 # 1. write the data
//!         ready = True              # 2. then raise the flag
//!     threading.Thread(target=producer).start()
//!     while not ready:              # wait for the flag
//!         time.sleep(0)
//!     print(data)                   # always 42
//!
//! Rust: Python has no ordering to choose: the GIL orders everything, so a thread that sees
//! `ready` sees every write made before it. Rust's atomics take an `Ordering` on each call.
//! `Relaxed` makes the flag itself safe to share, and nothing more: the compiler and the CPU
//! may make the data write visible after the flag (or read the data before the flag), so
//! the consumer can see `ready == true` and the old data. A `Release` store publishes every
//! write before it with the flag; an `Acquire` load that sees the flag sees all of them.
//! Both halves are needed. `SeqCst` adds one order of all `SeqCst` operations that every
//! thread agrees on: the safe default when unsure (on x86 a `SeqCst` store is an `xchg`
//! where `Release` is a plain `mov`). `Relaxed` is right for a counter nothing else depends
//! on (`fetch_add` in `race-condition`). x86_64 keeps stores in order in hardware, so the
//! `Relaxed` bug does not show when this runs there (ARM may show it): loom finds it.
//! `cargo test -p threading-demo --release --features loom` runs the handoff under every
//! interleaving and every value the memory model lets a load return: the `Relaxed` version
//! fails (a test that expects the failure), `Release`/`Acquire` and `SeqCst` pass.
//! In a copy, `cargo add loom@0.7 --optional` declares the `loom` feature those `cfg` lines
//! name (without it they warn; delete them if you do not model-check).
//!
//! Watch: 2,000 handoffs with each ordering, and how many saw old data: 0 for
//! `Release`/`Acquire` and `SeqCst`; 0 for `Relaxed` too on x86_64, only because its
//! hardware keeps stores in order.
//!
//! Run only this: cargo run -p threading-demo -- memory-ordering
//! Copy it: std only, nothing to add

use std::sync::atomic::Ordering::{self, Acquire, Relaxed, Release, SeqCst};
use std::thread;

#[cfg(feature = "loom")]
use loom::sync::atomic::{AtomicBool, AtomicU64};
#[cfg(not(feature = "loom"))]
use std::sync::atomic::{AtomicBool, AtomicU64};

/// One value handed from one thread to another: the data, then a flag saying it is there.
#[derive(Debug)]
pub struct Handoff {
    data: AtomicU64,
    ready: AtomicBool,
}

impl Handoff {
    pub fn new() -> Self {
        Handoff {
            data: AtomicU64::new(0),
            ready: AtomicBool::new(false),
        }
    }

    /// The producer: write the data, then raise the flag with `store` ordering.
    pub fn send(&self, value: u64, store: Ordering) {
        self.data.store(value, Relaxed);
        self.ready.store(true, store); // `Release`: the data write goes out with the flag
    }

    /// The consumer: the data if the flag is up, `None` if not yet.
    pub fn try_take(&self, load: Ordering) -> Option<u64> {
        // `Acquire`: having seen the flag, this thread sees what was written before it.
        self.ready.load(load).then(|| self.data.load(Relaxed))
    }
}

impl Default for Handoff {
    fn default() -> Self {
        Handoff::new()
    }
}

/// Hand `value` from a new thread to this one, with `(store, load)` ordering on the flag;
/// returns what this thread read.
pub fn hand_over(value: u64, (store, load): (Ordering, Ordering)) -> u64 {
    let handoff = Handoff::new();
    thread::scope(|s| {
        s.spawn(|| handoff.send(value, store));
        loop {
            if let Some(data) = handoff.try_take(load) {
                return data;
            }
            thread::yield_now(); // `time.sleep(0)`: let the producer run, even on one core
        }
    })
}

/// The orderings to try on the flag: (store, load).
pub const ORDERINGS: [(&str, (Ordering, Ordering)); 3] = [
    ("Release / Acquire", (Release, Acquire)),
    ("SeqCst / SeqCst", (SeqCst, SeqCst)),
    ("Relaxed / Relaxed", (Relaxed, Relaxed)),
];

/// How many of `rounds` handoffs (values 1, 2, ...) read something other than was sent.
pub fn stale_reads(rounds: u64, orders: (Ordering, Ordering)) -> usize {
    (1..=rounds)
        .filter(|&value| hand_over(value, orders) != value)
        .count()
}

/// 2,000 handoffs with each ordering.
fn main() {
    for (name, orders) in ORDERINGS {
        let stale = stale_reads(2_000, orders);
        println!("{name}: 2000 handoffs, {stale} saw old data");
    }
    println!(
        "(on {}; loom finds the Relaxed bug where the hardware hides it)",
        std::env::consts::ARCH
    );
}

// --- run and measure ---

use std::process::ExitCode;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};

pub const SECTION: Section = Section::new(
    "memory-ordering",
    "data = x; ready = True (the GIL orders it)",
    "Release / Acquire hands data over; Relaxed does not (loom)",
    run,
)
.main(|| {
    main();
    ExitCode::SUCCESS
});

const ROUNDS: u64 = 2_000;

/// Built with `--features loom`, `main.rs` lists a stand-in instead of this `run`: the
/// atomics then work only inside `loom::model`.
fn run() -> SectionResult {
    let stale = ORDERINGS.map(|(_, orders)| stale_reads(ROUNDS, orders));
    for ((name, _), stale) in ORDERINGS.iter().zip(stale) {
        figure(name, format!("{ROUNDS} handoffs, {stale} saw old data"));
    }
    let [acquire, seq_cst, relaxed] = stale;
    anyhow::ensure!(
        acquire == 0 && seq_cst == 0,
        "Release/Acquire or SeqCst handed over old data: a bug in the handoff"
    );
    let arch = std::env::consts::ARCH;
    println!("  (the model check: cargo test -p threading-demo --release --features loom)");
    let relaxed_says = if relaxed == 0 {
        "only because this hardware keeps stores in order; the program is still wrong, and loom's model finds the stale read"
    } else {
        "the bug itself"
    };
    takeaway_if(
        &Evidence::new(
            relaxed == 0 || !arch.starts_with("x86"),
            format!("Relaxed to show no stale read on {arch} (stores kept in order)"),
            format!("{relaxed} stale reads"),
        ),
        format!(
            "Release / Acquire and SeqCst handed the data over every time; Relaxed had {relaxed} stale reads on {arch}, {relaxed_says}"
        ),
    );
    Ok(())
}

#[cfg(test)]
#[cfg(not(feature = "loom"))]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_taken_before_the_flag_and_the_data_after_it() {
        let handoff = Handoff::new();
        assert_eq!(handoff.try_take(Acquire), None);
        handoff.send(7, Release);
        assert_eq!(handoff.try_take(Acquire), Some(7));
    }

    #[test]
    fn the_safe_orderings_hand_every_value_over() {
        assert_eq!(stale_reads(50, (Release, Acquire)), 0);
        assert_eq!(stale_reads(50, (SeqCst, SeqCst)), 0);
        assert_eq!(hand_over(u64::MAX, (Release, Acquire)), u64::MAX);
    }
}

/// Model checks: every interleaving, and every value a load may return, under loom.
#[cfg(test)]
#[cfg(feature = "loom")]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// The producer sends 42 while this thread looks once: if it sees the flag, it must
    /// see 42.
    fn check((store, load): (Ordering, Ordering)) {
        loom::model(move || {
            let handoff = Arc::new(Handoff::new());
            let producer = {
                let handoff = handoff.clone();
                loom::thread::spawn(move || handoff.send(42, store))
            };
            if let Some(data) = handoff.try_take(load) {
                assert_eq!(data, 42, "the flag was up but the data was stale");
            }
            producer.join().unwrap();
        });
    }

    #[test]
    fn release_acquire_hands_the_data_over_in_every_execution() {
        check((Release, Acquire));
    }

    #[test]
    fn seq_cst_hands_the_data_over_in_every_execution() {
        check((SeqCst, SeqCst));
    }

    #[test]
    #[should_panic(expected = "the data was stale")]
    fn relaxed_lets_the_consumer_see_the_flag_before_the_data() {
        check((Relaxed, Relaxed));
    }

    #[test]
    #[should_panic(expected = "the data was stale")]
    fn a_release_store_without_an_acquire_load_is_not_enough() {
        check((Release, Relaxed));
    }
}
