//! Python shares anything with any thread -> Rust checks `Send` / `Sync` at compile time:
//! `Rc<RefCell<T>>` and a `MutexGuard` are refused; `Arc<Mutex<T>>` and a guard taken in
//! the thread that uses it are the fixes.
//!
//! Python:
//!     counter = {"n": 0}                  # any object, any thread
//!     def work():
//!         counter["n"] += 1               # fine for the interpreter (the GIL), racy for you
//!     threading.Thread(target=work).start()
//!     lock.acquire()                      # and a lock taken here ...
//!     threading.Thread(target=lock.release).start()   # ... may be released there
//!
//! Rust: a value may move to another thread only if its type is `Send`, and be shared by
//! reference between threads only if it is `Sync`. The compiler works both out from the
//! parts of a type, so the mistakes below are build errors, not bugs found in production.
//!
//! (a) `Rc` counts its owners without atomics, and `RefCell` checks its borrows without a
//! lock: two threads could corrupt either. Moved into `thread::spawn`:
//!
//! ```text
//! let counter = Rc::new(RefCell::new(0u64));
//! let in_thread = Rc::clone(&counter);
//! let handle = thread::spawn(move || {
//!     *in_thread.borrow_mut() += 1;
//! });
//!
//! error[E0277]: `Rc<RefCell<u64>>` cannot be sent between threads safely
//!   --> rc.rs:8:32
//!    |
//!  8 |       let handle = thread::spawn(move || {
//!    |                    ------------- ^------
//!    |                    |             |
//!    |  __________________|_____________within this `{closure@rc.rs:8:32: 8:39}`
//!    | |                  |
//!    | |                  required by a bound introduced by this call
//!  9 | |         *in_thread.borrow_mut() += 1;
//! 10 | |     });
//!    | |_____^ `Rc<RefCell<u64>>` cannot be sent between threads safely
//!    |
//!    = help: within `{closure@rc.rs:8:32: 8:39}`, the trait `Send` is not implemented for `Rc<RefCell<u64>>`
//! ```
//!
//! Fix: `Arc` (an atomic owner count) around `Mutex` (a lock instead of `RefCell`'s check).
//!
//! (b) A `MutexGuard` is the lock being held. Some platforms require the thread that locked
//! a mutex to unlock it, so the guard must not move to another thread:
//!
//! ```text
//! let guard = counter.lock().unwrap();
//! let handle = thread::spawn(move || {
//!     drop(guard);
//! });
//!
//! error[E0277]: `std::sync::MutexGuard<'_, u64>` cannot be sent between threads safely
//!  --> guard.rs:6:32
//!   |
//! 6 |       let handle = thread::spawn(move || {
//!   |                    ------------- ^------
//! ...
//! 8 | |     });
//!   | |_____^ `std::sync::MutexGuard<'_, u64>` cannot be sent between threads safely
//!   |
//!   = help: within `{closure@guard.rs:6:32: 6:39}`, the trait `Send` is not implemented for `std::sync::MutexGuard<'_, u64>`
//! ```
//!
//! Fix: send the `Arc<Mutex<T>>` (or `&'static Mutex<T>`) instead, and lock in the thread
//! that uses the data; the guard is dropped in the thread that took it. To hand work over
//! while "holding" something, send a message (a channel) rather than a lock.
//!
//! (These errors are rustc 1.95's, with `--edition 2024`; the tests of this file compile
//! both snippets and expect exactly this failure.)
//!
//! Watch: the two fixes run: four threads count through `Arc<Mutex<u64>>` to the exact
//! total; each thread locks, appends and unlocks the shared log itself.
//!
//! Run only this: cargo run -p threading-demo -- send-sync
//! Copy it: cargo add anyhow@1

use std::sync::{Arc, Mutex};
use std::thread;

use anyhow::anyhow;

/// Fix (a): `Arc<Mutex<u64>>` is `Send` and `Sync`, so every thread gets its own clone.
pub fn count_in_threads(threads: usize, per_thread: u64) -> anyhow::Result<u64> {
    let counter = Arc::new(Mutex::new(0u64));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let in_thread = Arc::clone(&counter);
            thread::spawn(move || {
                for _ in 0..per_thread {
                    *in_thread.lock().unwrap() += 1;
                }
            })
        })
        .collect();
    for handle in handles {
        handle
            .join()
            .map_err(|_| anyhow!("a counting thread panicked"))?;
    }
    let total = *counter.lock().unwrap();
    Ok(total)
}

/// Fix (b): send the shared `Arc<Mutex<..>>`; each thread locks, writes and unlocks it
/// itself, so no guard ever crosses a thread.
pub fn append_from_threads(threads: usize) -> anyhow::Result<Vec<String>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let log = Arc::clone(&log);
            thread::spawn(move || {
                let mut guard = log.lock().unwrap(); // taken here ...
                guard.push(format!("thread {i} was here"));
            }) // ... and dropped here, in the same thread
        })
        .collect();
    for handle in handles {
        handle
            .join()
            .map_err(|_| anyhow!("an appending thread panicked"))?;
    }
    let mut lines = log.lock().unwrap().clone();
    lines.sort();
    Ok(lines)
}

/// Compile-time proof of the rules above: this compiles only for `Send` types.
pub fn assert_send<T: Send>() {}
/// ... and this only for `Sync` ones.
pub fn assert_sync<T: Sync>() {}

/// The fixed types pass both checks (a call to either with `Rc<..>` or a `MutexGuard` in
/// `assert_send` would be the errors above).
pub fn the_fixes_are_send_and_sync() {
    assert_send::<Arc<Mutex<u64>>>();
    assert_sync::<Arc<Mutex<u64>>>();
    assert_send::<&'static Mutex<u64>>();
}

/// Both fixes at work: four threads count through `Arc<Mutex<u64>>`, then append to a log.
fn main() -> anyhow::Result<()> {
    the_fixes_are_send_and_sync();
    let total = count_in_threads(4, 50_000)?;
    assert_eq!(total, 200_000, "not one update lost");
    println!("fix (a): 4 threads x 50000 through Arc<Mutex<u64>> = {total}");
    for line in append_from_threads(4)? {
        println!("fix (b): {line}");
    }
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{figure, takeaway};

pub const SECTION: Section = Section::new(
    "send-sync",
    "any object, any thread",
    "Rc<RefCell>, a MutexGuard to a thread: E0277; the fixes",
    run,
)
.main(|| main().report());

fn run() -> SectionResult {
    // The refusals are compiled by this file's tests; the header quotes them.
    let refused = "does not compile: error[E0277] ... cannot be sent between threads safely";
    figure("Rc<RefCell> to a thread", refused);
    figure("MutexGuard to a thread", refused);
    main()?;
    takeaway(
        "Send/Sync turn Python's \"any object, any thread\" into a compile-time check: share with Arc<Mutex<T>>, lock where you use it",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::compile_fail::{assert_compiles, compile};

    #[test]
    fn the_fixes_count_exactly_and_every_thread_appends() {
        assert_eq!(count_in_threads(4, 1_000).unwrap(), 4_000);
        let lines = append_from_threads(3).unwrap();
        assert_eq!(
            lines,
            [
                "thread 0 was here",
                "thread 1 was here",
                "thread 2 was here"
            ]
        );
    }

    /// The `Rc` snippet quoted in the header, whole.
    const RC_IN_A_THREAD: &str = r#"
use std::cell::RefCell;
use std::rc::Rc;
use std::thread;

pub fn count_in_a_thread() -> u64 {
    let counter = Rc::new(RefCell::new(0u64));
    let in_thread = Rc::clone(&counter);
    let handle = thread::spawn(move || {
        *in_thread.borrow_mut() += 1;
    });
    handle.join().unwrap();
    *counter.borrow()
}
"#;

    /// The `MutexGuard` snippet quoted in the header, whole.
    const GUARD_TO_A_THREAD: &str = r#"
use std::sync::Mutex;
use std::thread;

pub fn unlock_in_another_thread(counter: &'static Mutex<u64>) {
    let guard = counter.lock().unwrap();
    let handle = thread::spawn(move || {
        drop(guard);
    });
    handle.join().unwrap();
}
"#;

    /// The same as the `Rc` snippet with fix (a): it must compile, which shows the harness
    /// fails the snippets for the reason quoted, not for a missing flag or file.
    const ARC_IN_A_THREAD: &str = r#"
use std::sync::{Arc, Mutex};
use std::thread;

pub fn count_in_a_thread() -> u64 {
    let counter = Arc::new(Mutex::new(0u64));
    let in_thread = Arc::clone(&counter);
    let handle = thread::spawn(move || {
        *in_thread.lock().unwrap() += 1;
    });
    handle.join().unwrap();
    *counter.lock().unwrap()
}
"#;

    fn assert_refused(name: &str, source: &str, type_name: &str) {
        let (ok, stderr) = compile(name, source, &[]);
        assert!(!ok, "{name} compiled, but the header says it does not");
        assert!(stderr.contains("error[E0277]"), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "`{type_name}` cannot be sent between threads safely"
            )),
            "{name}: {stderr}"
        );
        assert!(
            stderr.contains("the trait `Send` is not implemented"),
            "{name}: {stderr}"
        );
    }

    #[test]
    fn rc_refcell_moved_into_a_thread_is_refused() {
        assert_refused("rc", RC_IN_A_THREAD, "Rc<RefCell<u64>>");
    }

    #[test]
    fn a_mutex_guard_sent_to_a_thread_is_refused() {
        assert_refused("guard", GUARD_TO_A_THREAD, "std::sync::MutexGuard<'_, u64>");
    }

    #[test]
    fn the_fixed_snippet_compiles_with_the_same_command() {
        assert_compiles("arc", ARC_IN_A_THREAD, &[]);
    }

    #[test]
    fn the_header_quotes_the_errors_the_tests_expect() {
        let header = include_str!("send_sync.rs");
        for line in [
            "error[E0277]: `Rc<RefCell<u64>>` cannot be sent between threads safely",
            "error[E0277]: `std::sync::MutexGuard<'_, u64>` cannot be sent between threads safely",
        ] {
            assert!(header.contains(&format!("//! {line}")), "{line}");
        }
    }
}
