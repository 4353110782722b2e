//! "Each process has its own memory" -> a child process changes a `static` (the module's
//! global) and the parent does not see it; a thread changes the same `static` and it does.
//!
//! Python:
//!     counter = 0
//!
//!     def bump():
//!         global counter
//!         counter += 100
//!         print("child sees", counter)
//!
//!     if __name__ == "__main__":
//!         counter = 7
//!         p = Process(target=bump); p.start(); p.join()
//!         print("parent sees", counter)       # still 7
//!         t = Thread(target=bump); t.start(); t.join()
//!         print("parent sees", counter)       # 107
//!
//! A Rust global is a `static`: `static COUNTER: AtomicU64` (a `static mut` would need
//! `unsafe`; an atomic or a `static Mutex` does not). A child process is this binary started
//! again (`--role bump`), so it gets a fresh copy of every `static`, at its initial value:
//! it sees 0 + 100, not the parent's 7 + 100. That is Python's `spawn` start method (the
//! default on Windows and macOS, and `forkserver`, the default on Linux from 3.14, behaves
//! the same); with `fork` the child would start from a copy of the parent's memory (7) but
//! its changes would still stay in the child. A thread shares the process's memory: it
//! changes the parent's own `COUNTER`.
//!
//! To share between processes, send messages (`queue`, `pipe`), map shared memory
//! (`shared-memory`), or give the data one owner (`manager-dict`).
//!
//! Watch: the child saw 100 and the parent still has 7; the thread saw 107 and so does the
//! parent afterwards.
//!
//! Run only this: cargo run -p multiprocessing-demo -- own-memory
//! Copy it: cargo add anyhow@1

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, anyhow};

/// The module-level global: `counter = 0`.
pub static COUNTER: AtomicU64 = AtomicU64::new(0);

/// `global counter; counter += 100`: returns the value this process now sees.
pub fn bump() -> u64 {
    COUNTER.fetch_add(100, Ordering::SeqCst) + 100
}

/// The child's side, `--role bump`: bump this process's `COUNTER`, print what it sees.
pub fn bump_and_print() {
    println!("{}", bump());
}

/// `Process(target=bump)`, `start()`, `join()`: the child prints what it saw. `child` is
/// this program re-run as `--role bump`.
pub fn bump_in_process(mut child: Command) -> anyhow::Result<u64> {
    let out = child.output().context("running the child")?; // start() + join()
    anyhow::ensure!(out.status.success(), "the child failed: {}", out.status);
    let said = String::from_utf8_lossy(&out.stdout);
    said.trim()
        .parse()
        .with_context(|| format!("the child said {said:?}"))
}

/// `Thread(target=bump)`, `start()`, `join()`: the same function, in this process.
pub fn bump_in_thread() -> anyhow::Result<u64> {
    std::thread::spawn(bump)
        .join()
        .map_err(|_| anyhow!("the thread panicked"))
}

/// The twin of `if __name__ == "__main__":`: a child (`--role bump`) bumps its own copy;
/// the parent sets 7, has a child bump it, then a thread.
fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("--role") {
        bump_and_print(); // the only role here
        return Ok(());
    }
    COUNTER.store(7, Ordering::SeqCst); // counter = 7
    let mut child = Command::new(std::env::current_exe()?);
    child.args(["--role", "bump"]);
    println!("the child sees {}", bump_in_process(child)?);
    println!("the parent sees {}", COUNTER.load(Ordering::SeqCst));
    println!("a thread sees {}", bump_in_thread()?);
    println!("the parent sees {}", COUNTER.load(Ordering::SeqCst));
    Ok(())
}

// --- run and measure ---

use std::process::Termination;
use std::time::Duration;

use common::cli::{Section, SectionResult};
use common::print::{figure, takeaway};
use common::timing::{Secs, timed};

pub const SECTION: Section = Section::new(
    "own-memory",
    "each process has its own memory: a global changed in a child",
    "a child's change to a static stays in the child; a thread's is the parent's",
    run,
)
.main(|| main().report());

/// `--role bump`: `main`'s child branch.
pub fn bump_role(_args: &[String]) -> anyhow::Result<()> {
    bump_and_print();
    Ok(())
}

/// What each side saw, in order.
#[derive(Debug, PartialEq)]
struct Seen {
    parent_before: u64,
    child: u64,
    parent_after_child: u64,
    thread: u64,
    parent_after_thread: u64,
}

/// The whole story: the parent sets the global to 7, a child bumps it, then a thread does.
/// Returns what each saw, and how long the child and the thread took.
fn story() -> anyhow::Result<(Seen, Duration, Duration)> {
    COUNTER.store(7, Ordering::SeqCst); // counter = 7
    let parent_before = COUNTER.load(Ordering::SeqCst);
    let (child, in_child) = timed(|| bump_in_process(crate::child::command("bump")?));
    let parent_after_child = COUNTER.load(Ordering::SeqCst);
    let (thread, in_thread) = timed(bump_in_thread);
    let parent_after_thread = COUNTER.load(Ordering::SeqCst);
    let seen = Seen {
        parent_before,
        child: child?,
        parent_after_child,
        thread: thread?,
        parent_after_thread,
    };
    Ok((seen, in_child, in_thread))
}

fn run() -> SectionResult {
    let (seen, in_child, in_thread) = story()?;
    println!(
        "  parent pid {}: counter = {}",
        std::process::id(),
        seen.parent_before
    );
    println!(
        "  child process bumps it: the child sees {}; the parent still sees {}",
        seen.child, seen.parent_after_child
    );
    println!(
        "  thread bumps it:        the thread sees {}; the parent now sees {}",
        seen.thread, seen.parent_after_thread
    );
    anyhow::ensure!(
        seen == Seen {
            parent_before: 7,
            child: 100,
            parent_after_child: 7,
            thread: 107,
            parent_after_thread: 107,
        },
        "unexpected values: {seen:?}"
    );
    figure("bump in a child (start+join)", Secs(in_child));
    figure("bump in a thread (start+join)", Secs(in_thread));
    takeaway(
        "a child process starts from the program's initial statics (like Python's spawn) and its changes stay there; \
         threads share one memory: to share with a process, send messages or map shared memory",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The only test that touches `COUNTER`: tests run as threads of one process, and they
    // would see each other's bumps (which is this section's point).
    #[test]
    fn a_child_changes_its_own_copy_a_thread_changes_ours() {
        let (seen, _, _) = story().unwrap();
        assert_eq!(
            seen,
            Seen {
                parent_before: 7,
                child: 100,
                parent_after_child: 7,
                thread: 107,
                parent_after_thread: 107,
            }
        );
    }

    #[test]
    fn a_child_that_fails_is_an_error() {
        let mut failing = Command::new("sh");
        failing.args(["-c", "exit 3"]);
        let err = bump_in_process(failing).unwrap_err().to_string();
        assert!(err.contains("exit status: 3"), "{err}");
    }
}
