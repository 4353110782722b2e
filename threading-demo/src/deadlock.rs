//! Deadlock: two threads take two locks in opposite order -> reproduced with timed locks
//! (`lock.acquire(timeout=...)`), reported as "would deadlock", then fixed by one global
//! lock order.
//!
//! Python:
//!     def transfer(src, dst, amount):
//!         with src.lock:                 # thread 1: a then b; thread 2: b then a
//!             with dst.lock:             # each holds one and waits for the other: forever
//!                 src.balance -= amount; dst.balance += amount
//!     # detect instead of hanging:
//!     if not dst.lock.acquire(timeout=0.1): print("would deadlock")
//!
//! Rust prevents data races at compile time, not deadlocks: the same program hangs the
//! same way. `parking_lot::Mutex::try_lock_for` is `acquire(timeout=...)`, so the demo
//! can show the deadlock and walk away from it. Barriers make the bad interleaving
//! certain: both threads hold their first lock before either asks for its second. The fix
//! is a rule, not a primitive: every thread takes locks in one global order (here by
//! account id), so a cycle of waits cannot form.
//!
//! Watch: both threads report "would deadlock" (each names the lock it held and the one
//! it waited for), both locks are free again afterwards; then thousands of transfers in
//! both directions with ordered locking finish, no lock ever times out, and no money is
//! lost.
//!
//! Run only this: cargo run -p threading-demo -- deadlock
//! Copy it: cargo add anyhow@1 parking_lot@0.12 tracing@0.1

use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use parking_lot::Mutex;

/// A bank account with its own lock.
#[derive(Debug)]
pub struct Account {
    id: u32,
    name: &'static str,
    balance: Mutex<i64>,
}

impl Account {
    pub fn new(id: u32, name: &'static str, balance: i64) -> Self {
        Account {
            id,
            name,
            balance: Mutex::new(balance),
        }
    }
}

/// How one thread's attempt ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Transferred,
    WouldDeadlock {
        holding: &'static str,
        wanted: &'static str,
    },
}

/// Lock `from` then `to`, in that order, waiting at most `patience` for the second.
/// `both_hold` is reached by both threads while holding their first lock, and `both_tried`
/// after their second attempt, so the opposite-order run always meets the deadlock.
pub fn transfer_naive(
    from: &Account,
    to: &Account,
    amount: i64,
    patience: Duration,
    both_hold: &Barrier,
    both_tried: &Barrier,
) -> Outcome {
    let mut src = from.balance.lock();
    tracing::debug!(holding = from.name, wanted = to.name, "first lock taken");
    both_hold.wait();
    let outcome = match to.balance.try_lock_for(patience) {
        Some(mut dst) => {
            *src -= amount;
            *dst += amount;
            Outcome::Transferred
        }
        None => Outcome::WouldDeadlock {
            holding: from.name,
            wanted: to.name,
        },
    };
    both_tried.wait();
    outcome
}

/// Thread 1 moves a -> b while thread 2 moves b -> a, each locking its source first.
pub fn opposite_order(
    a: &Account,
    b: &Account,
    patience: Duration,
) -> anyhow::Result<[Outcome; 2]> {
    let (hold, tried) = (Barrier::new(2), Barrier::new(2));
    thread::scope(|s| {
        let (hold, tried) = (&hold, &tried);
        let t1 = thread::Builder::new()
            .name("transfer-1".into())
            .spawn_scoped(s, move || transfer_naive(a, b, 10, patience, hold, tried))?;
        let t2 = thread::Builder::new()
            .name("transfer-2".into())
            .spawn_scoped(s, move || transfer_naive(b, a, 10, patience, hold, tried))?;
        let joined = |h: thread::ScopedJoinHandle<'_, Outcome>| {
            h.join().map_err(|_| anyhow!("a transfer thread panicked"))
        };
        Ok([joined(t1)?, joined(t2)?])
    })
}

/// The fix: always lock the account with the smaller id first, whatever the direction.
/// Returns false if a lock was not granted within `patience` (it never is refused with
/// the fix; the timeout only guarantees the demo cannot hang if the rule were broken).
pub fn transfer_ordered(from: &Account, to: &Account, amount: i64, patience: Duration) -> bool {
    let (first, second) = if from.id < to.id {
        (from, to)
    } else {
        (to, from)
    };
    let Some(mut g1) = first.balance.try_lock_for(patience) else {
        return false;
    };
    let Some(mut g2) = second.balance.try_lock_for(patience) else {
        return false;
    };
    let (src, dst) = if from.id < to.id {
        (&mut *g1, &mut *g2)
    } else {
        (&mut *g2, &mut *g1)
    };
    *src -= amount;
    *dst += amount;
    true
}

/// `rounds` transfers a -> b on one thread and b -> a on another. Returns the timeouts.
pub fn both_directions(
    a: &Account,
    b: &Account,
    rounds: u32,
    patience: Duration,
) -> anyhow::Result<u32> {
    thread::scope(|s| {
        let forth = s.spawn(|| {
            (0..rounds)
                .filter(|_| !transfer_ordered(a, b, 1, patience))
                .count()
        });
        let back = s.spawn(|| {
            (0..rounds)
                .filter(|_| !transfer_ordered(b, a, 2, patience))
                .count()
        });
        let forth = forth
            .join()
            .map_err(|_| anyhow!("a transfer thread panicked"))?;
        let back = back
            .join()
            .map_err(|_| anyhow!("a transfer thread panicked"))?;
        Ok((forth + back) as u32)
    })
}

/// Two transfers in opposite order, each giving up after 100 ms; then 20,000 transfers
/// each way with the locks taken in one order.
fn main() -> anyhow::Result<()> {
    let a = Account::new(1, "account A", 1_000);
    let b = Account::new(2, "account B", 1_000);
    let patience = Duration::from_millis(100);
    for (k, outcome) in opposite_order(&a, &b, patience)?.iter().enumerate() {
        match outcome {
            Outcome::WouldDeadlock { holding, wanted } => println!(
                "thread {}: holds {holding}, waited {patience:?} for {wanted}: would deadlock",
                k + 1
            ),
            Outcome::Transferred => println!("thread {}: transferred", k + 1),
        }
    }
    let start = Instant::now();
    let timeouts = both_directions(&a, &b, 20_000, patience)?;
    let total = *a.balance.lock() + *b.balance.lock();
    println!(
        "ordered: 40000 transfers both ways in {:.1?}, {timeouts} timeouts, A + B = {total}",
        start.elapsed()
    );
    assert_eq!(total, 2_000, "no money appears or vanishes");
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::takeaway;

pub const SECTION: Section = Section::new(
    "deadlock",
    "two locks in opposite order",
    "try_lock_for: 'would deadlock'; one lock order fixes it",
    run,
)
.main(|| main().report());

fn run() -> SectionResult {
    main()?;
    takeaway(
        "Rust does not prevent deadlocks: take locks in one global order, and use timeouts to detect what slips through",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opposite_order_is_reported_and_recovered() {
        let a = Account::new(1, "a", 100);
        let b = Account::new(2, "b", 100);
        let outcomes = opposite_order(&a, &b, Duration::from_millis(1)).unwrap();
        assert_eq!(
            outcomes,
            [
                Outcome::WouldDeadlock {
                    holding: "a",
                    wanted: "b"
                },
                Outcome::WouldDeadlock {
                    holding: "b",
                    wanted: "a"
                },
            ]
        );
        assert_eq!(
            (*a.balance.lock(), *b.balance.lock()),
            (100, 100),
            "nothing moved"
        );
    }

    #[test]
    fn ordered_locking_finishes_both_ways_and_keeps_the_money() {
        let a = Account::new(1, "a", 1_000);
        let b = Account::new(2, "b", 1_000);
        // A generous patience: with the global order no wait is ever long.
        assert_eq!(
            both_directions(&a, &b, 2_000, Duration::from_secs(30)).unwrap(),
            0
        );
        assert_eq!(*a.balance.lock(), 1_000 - 2_000 + 4_000);
        assert_eq!(*b.balance.lock(), 1_000 + 2_000 - 4_000);
    }
}
