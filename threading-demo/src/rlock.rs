//! `threading.RLock()` -> std's `Mutex` is not reentrant; `parking_lot::ReentrantMutex` is;
//! and the Rust habit that makes it rarely needed: lock once, pass `&mut` down.
//!
//! Python:
//!     lock = threading.RLock()
//!     def withdraw(n):
//!         with lock: balance -= n
//!     def transfer(n):
//!         with lock:                    # taken once here...
//!             withdraw(n)               # ...and again inside: fine with an RLock,
//!                                       # a plain Lock would hang forever
//!
//! Rust: locking a `std::sync::Mutex` again on the thread that holds it deadlocks (or
//! panics; std does not promise which), so this demo only asks with `try_lock`, which says
//! `WouldBlock` instead of hanging. `parking_lot::ReentrantMutex` counts re-entries like an
//! RLock, but hands out only `&T` (two live guards on one thread must not both be `&mut`),
//! so mutation needs a `Cell`/`RefCell` inside. The usual Rust answer is simpler: lock once
//! in the public method and let the helpers take `&mut Account`; they cannot lock at all.
//!
//! Watch: the second `try_lock` on the same thread says it would block; the reentrant lock
//! is taken three times deep by one thread while another thread is kept out; the
//! lock-once version gives the same balance.
//!
//! Run only this: cargo run -p threading-demo -- rlock

use std::cell::Cell;
use std::sync::{Mutex, PoisonError, TryLockError};
use std::thread;

use common::cli::{SectionResult, figure, takeaway};
use parking_lot::ReentrantMutex;

/// What re-locking a std `Mutex` on the same thread would do, asked without hanging.
fn relock_would_block(m: &Mutex<i64>) -> bool {
    let _outer = m.lock().unwrap_or_else(PoisonError::into_inner);
    // `m.lock()` here would never return.
    matches!(m.try_lock(), Err(TryLockError::WouldBlock))
}

/// The RLock version: `transfer` holds the lock and calls `withdraw`, which takes it again.
struct ReentrantAccount {
    balance: ReentrantMutex<Cell<i64>>,
}

impl ReentrantAccount {
    fn withdraw(&self, n: i64) {
        let guard = self.balance.lock(); // re-entered when called from `transfer`
        guard.set(guard.get() - n);
    }

    /// Returns whether another thread was kept out while this one held the lock twice.
    fn transfer(&self, n: i64) -> bool {
        let _outer = self.balance.lock();
        let _inner = self.balance.lock(); // a third level, just to show it counts
        self.withdraw(n);
        thread::scope(|s| {
            s.spawn(|| self.balance.try_lock().is_none())
                .join()
                .unwrap_or(false)
        })
    }
}

/// The Rust habit: the lock is taken once, in the public method; helpers get `&mut`.
#[derive(Debug, Default)]
struct Account {
    balance: i64,
}

impl Account {
    fn withdraw(&mut self, n: i64) {
        self.balance -= n;
    }

    fn deposit(&mut self, n: i64) {
        self.balance += n;
    }
}

fn transfer(from: &Mutex<Account>, n: i64) {
    let mut account = from.lock().unwrap_or_else(PoisonError::into_inner);
    account.withdraw(n); // plain calls on `&mut Account`: nothing to re-lock
    account.deposit(n / 2);
}

pub fn run() -> SectionResult {
    let plain = Mutex::new(100);
    let would_block = relock_would_block(&plain);
    anyhow::ensure!(would_block, "a std Mutex should not be reentrant");
    figure(
        "std Mutex, locked again",
        "WouldBlock (lock() would hang forever)",
    );

    let reentrant = ReentrantAccount {
        balance: ReentrantMutex::new(Cell::new(100)),
    };
    let kept_out = reentrant.transfer(30);
    let left = reentrant.balance.lock().get();
    anyhow::ensure!(kept_out, "another thread got into a held ReentrantMutex");
    anyhow::ensure!(left == 70, "reentrant balance {left}, expected 70");
    figure("ReentrantMutex, 3 deep", format!("balance {left}"));
    figure("another thread meanwhile", "kept out (try_lock: None)");

    let account = Mutex::new(Account { balance: 100 });
    transfer(&account, 30);
    let left = account
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .balance;
    anyhow::ensure!(left == 85, "balance {left}, expected 85");
    figure("lock once, pass &mut down", format!("balance {left}"));
    takeaway(
        "std's Mutex is not reentrant: lock once at the top and pass &mut down, or use parking_lot's ReentrantMutex",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_std_mutex_is_not_reentrant() {
        assert!(relock_would_block(&Mutex::new(0)));
    }

    #[test]
    fn the_reentrant_mutex_nests_and_keeps_others_out() {
        let account = ReentrantAccount {
            balance: ReentrantMutex::new(Cell::new(10)),
        };
        assert!(account.transfer(4));
        assert_eq!(account.balance.lock().get(), 6);
        assert!(!account.balance.is_locked(), "every level was released");
    }

    #[test]
    fn lock_once_and_pass_mut_down() {
        let account = Mutex::new(Account { balance: 10 });
        transfer(&account, 4);
        assert_eq!(account.lock().unwrap().balance, 8);
    }
}
