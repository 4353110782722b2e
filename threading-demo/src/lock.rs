//! `threading.Lock()` / `with lock:` -> `std::sync::Mutex<T>` and its guard; lock
//! poisoning; `RwLock` for many readers.
//!
//! Python:
//!     lock = threading.Lock()
//!     balance = 0                       # the lock and the data it guards are separate
//!     with lock:                        # acquire ... release at the end of the block
//!         balance += 100
//!
//! Rust: the `Mutex` *owns* the data, so it cannot be touched without locking. `lock()`
//! returns a guard; the guard's scope is the `with` block, and `Drop` releases the lock
//! when the guard goes out of scope (or earlier with `drop(guard)`).
//! Poisoning has no Python twin: if a thread panics while holding the guard, the data may
//! be half-updated, so every later `lock()` returns `Err(PoisonError)`. You decide: give up,
//! or take the data anyway with `into_inner()`. `RwLock` lets many readers in at once (or
//! one writer); Python's standard library has no reader-writer lock.
//!
//! Watch: `try_lock` fails while a guard lives and succeeds after its `}`; a thread panics
//! on purpose while holding the lock (its panic message is printed), and the half-updated
//! balance it left is recovered; four readers are inside the `RwLock` at the same moment
//! (they meet at a barrier while reading).
//!
//! Run only this: cargo run -p threading-demo -- lock
//! Copy it: cargo add anyhow@1

use std::sync::{Barrier, Mutex, RwLock, TryLockError};
use std::thread;

use anyhow::anyhow;

/// The `with lock:` block: the guard lives until the closing brace.
pub fn deposit(balance: &Mutex<i64>, amount: i64) {
    // `unwrap`, as std's docs do: `Err` means a thread panicked mid-update; stop too.
    let mut guard = balance.lock().unwrap();
    *guard += amount;
} // guard dropped here: the lock is released

/// Is the lock free right now? (`lock.locked()` in Python, seen from this thread.)
pub fn is_free<T>(m: &Mutex<T>) -> bool {
    !matches!(m.try_lock(), Err(TryLockError::WouldBlock))
}

/// The name of the thread that panics on purpose.
pub const POISONER: &str = "poisoner";

/// A thread panics halfway through an update while holding the guard. Returns whether
/// the next `lock()` reported the poison, and the balance it left behind.
pub fn poison(balance: &Mutex<i64>) -> (bool, i64) {
    let _ = thread::scope(|s| {
        thread::Builder::new()
            .name(POISONER.into())
            .spawn_scoped(s, || {
                let mut guard = balance.lock().unwrap();
                *guard -= 30; // the first half of a transfer...
                panic!("halfway through a transfer, holding the lock");
            })
            .map(|h| h.join())
    });
    match balance.lock() {
        Ok(guard) => (false, *guard),
        // The data is still there; `into_inner` takes it despite the poison.
        Err(poisoned) => {
            let value = *poisoned.into_inner();
            balance.clear_poison();
            (true, value)
        }
    }
}

/// `readers` threads hold read guards at the same time: they all reach a barrier while
/// reading, which could never happen if only one were let in. Returns what each read.
pub fn readers_together(config: &RwLock<String>, readers: usize) -> anyhow::Result<Vec<String>> {
    let all_inside = Barrier::new(readers);
    thread::scope(|s| {
        let handles: Vec<_> = (0..readers)
            .map(|_| {
                s.spawn(|| {
                    let guard = config.read().unwrap();
                    all_inside.wait(); // every reader holds its guard here
                    guard.clone()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow!("a reader panicked")))
            .collect()
    })
}

/// The `with` block, four deposits, a poisoned lock, then four readers at once.
fn main() -> anyhow::Result<()> {
    let balance = Mutex::new(0i64);
    {
        let mut guard = balance.lock().unwrap();
        *guard += 100;
        println!("in the block: lock free? {}", is_free(&balance));
    } // the guard is dropped here: the lock is released
    println!("after the }}: lock free? {}", is_free(&balance));
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| deposit(&balance, 10));
        }
    });
    println!(
        "balance after 4 deposits of 10: {}",
        balance.lock().unwrap()
    );
    let (poisoned, left) = poison(&balance);
    assert!(poisoned, "a panic while holding the guard poisons the lock");
    println!("lock() after the panic: Err(PoisonError); balance via into_inner: {left}");
    let config = RwLock::new("timeout=30".to_owned());
    let seen = readers_together(&config, 4)?;
    println!(
        "{} readers held the RwLock at once, each read {:?}",
        seen.len(),
        seen[0]
    );
    *config.write().unwrap() = "timeout=60".to_owned();
    println!("after one writer: {}", config.read().unwrap());
    Ok(())
}

// --- run and measure ---

use std::io::Write;
use std::process::Termination;
use std::sync::Once;

use common::cli::{Section, SectionResult};
use common::print::takeaway;

pub const SECTION: Section = Section::new(
    "lock",
    "threading.Lock(); with lock:",
    "Mutex owns its data, the guard is `with`; poison; RwLock",
    run,
)
.main(|| main().report());

/// The deliberate panic of the `poisoner` thread prints one line, where and why, instead
/// of the default message (and, with `RUST_BACKTRACE=1`, a backtrace); every other panic
/// goes to the previous hook as before.
fn quiet_deliberate_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if thread::current().name() == Some(POISONER) {
                let why = info.payload_as_str().unwrap_or("(no message)");
                // Not `println!`: a panic inside the panic hook would abort the process.
                let _ = writeln!(
                    std::io::stdout(),
                    "  thread '{POISONER}' panicked: {why} (on purpose)"
                );
            } else {
                previous(info);
            }
        }));
    });
}

fn run() -> SectionResult {
    quiet_deliberate_panics();
    main()?;
    takeaway(
        "the Mutex owns its data, the guard's scope is the `with` block, and a panic poisons the lock",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_releases_at_the_end_of_its_scope() {
        let m = Mutex::new(1);
        let guard = m.lock().unwrap();
        assert!(!is_free(&m));
        drop(guard);
        assert!(is_free(&m));
        deposit(&m, 5);
        assert_eq!(*m.lock().unwrap(), 6);
    }

    #[test]
    fn a_panic_poisons_and_the_data_is_recoverable() {
        let m = Mutex::new(100);
        assert_eq!(poison(&m), (true, 70));
        assert!(m.lock().is_ok(), "poison was cleared");
    }

    #[test]
    fn readers_share_the_rwlock() {
        let config = RwLock::new("x".to_owned());
        assert_eq!(readers_together(&config, 3).unwrap(), ["x", "x", "x"]);
    }
}
