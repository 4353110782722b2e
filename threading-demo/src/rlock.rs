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
//! Watch: the second `try_lock` on the same thread says it would block; `transfer` re-enters
//! the reentrant lock, which one thread then holds three levels deep while another thread
//! is kept out; the lock-once version moves the money with no re-locking at all.
//!
//! Run only this: cargo run -p threading-demo -- rlock
//! Copy it: cargo add parking_lot@0.12

use std::cell::Cell;
use std::sync::{Mutex, PoisonError, TryLockError};
use std::thread;

use parking_lot::ReentrantMutex;

/// What re-locking a std `Mutex` on the same thread would do, asked without hanging.
pub fn relock_would_block(m: &Mutex<i64>) -> bool {
    let _outer = m.lock().unwrap_or_else(PoisonError::into_inner); // poisoned or not: just asking
    // `m.lock()` here would deadlock or panic (std does not promise which).
    matches!(m.try_lock(), Err(TryLockError::WouldBlock))
}

/// The RLock version: `transfer` holds the lock and calls `withdraw`, which takes it again.
pub struct ReentrantAccount {
    pub balance: ReentrantMutex<Cell<i64>>,
}

impl ReentrantAccount {
    pub fn withdraw(&self, n: i64) {
        let guard = self.balance.lock(); // re-entered when called from `transfer`
        guard.set(guard.get() - n);
    }

    pub fn transfer(&self, n: i64) {
        let _outer = self.balance.lock();
        self.withdraw(n); // the same thread locks again: a second level, not a deadlock
    }
}

/// The Rust habit: the lock is taken once, in the public method; helpers get `&mut`.
#[derive(Debug, Default)]
pub struct Account {
    pub balance: i64,
}

impl Account {
    fn withdraw(&mut self, n: i64) {
        self.balance -= n;
    }

    fn deposit(&mut self, n: i64) {
        self.balance += n;
    }
}

pub fn transfer(from: &Mutex<Account>, n: i64) {
    let mut account = from.lock().unwrap(); // `Err` only if a holder panicked
    account.withdraw(n); // plain calls on `&mut Account`: nothing to re-lock
    account.deposit(n / 2);
}

/// Hold `account`'s reentrant lock three levels deep on this thread, and ask from another
/// thread meanwhile: is it kept out?
pub fn kept_out_while_nested(account: &ReentrantAccount) -> bool {
    let _one = account.balance.lock();
    let _two = account.balance.lock();
    let _three = account.balance.lock();
    thread::scope(|s| {
        s.spawn(|| account.balance.try_lock().is_none())
            .join()
            .unwrap_or(false)
    })
}

/// The three versions, each moving 30 out of a balance of 100.
fn main() {
    let plain = Mutex::new(100);
    println!(
        "std Mutex locked again would block: {}",
        relock_would_block(&plain)
    );

    let reentrant = ReentrantAccount {
        balance: ReentrantMutex::new(Cell::new(100)),
    };
    reentrant.transfer(30);
    println!(
        "ReentrantMutex, transfer re-enters: balance {}",
        reentrant.balance.lock().get()
    );
    let kept_out = kept_out_while_nested(&reentrant);
    println!("held 3 deep here, another thread kept out: {kept_out}");

    let account = Mutex::new(Account { balance: 100 });
    transfer(&account, 30);
    println!(
        "lock once, pass &mut down: balance {}",
        account.lock().unwrap().balance
    );
}

// --- run and measure ---

use std::process::ExitCode;

use common::cli::{Section, SectionResult};
use common::print::takeaway;

pub const SECTION: Section = Section::new(
    "rlock",
    "threading.RLock()",
    "std Mutex is not reentrant; ReentrantMutex; pass &mut down",
    run,
)
.main(|| {
    main();
    ExitCode::SUCCESS
});

fn run() -> SectionResult {
    main();
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
        account.transfer(4);
        assert_eq!(account.balance.lock().get(), 6);
        assert!(kept_out_while_nested(&account));
        assert!(!account.balance.is_locked(), "every level was released");
    }

    #[test]
    fn lock_once_and_pass_mut_down() {
        let account = Mutex::new(Account { balance: 10 });
        transfer(&account, 4);
        assert_eq!(account.lock().unwrap().balance, 8);
    }
}
