//! Crash isolation: a child that panics and one that aborts; the parent reads each exit
//! status and carries on, and a process pool replaces a dead worker and finishes the job.
//!
//! Python:
//!     p = Process(target=segfaulting_c_extension); p.start(); p.join()
//!     print(p.exitcode)            # -11: killed by SIGSEGV; the parent is fine
//!     with ProcessPoolExecutor() as ex:
//!         ex.map(f, inputs)        # a dead worker -> BrokenProcessPool for everything
//!
//! Rust: this is the reason to use processes in Rust. In one process a panic in a thread
//! is caught at `join()` (an `Err`), but an `abort()`, a stack overflow, a segfault in C
//! code or an out-of-memory kill takes down every thread at once. In a child process, the
//! same fault is an exit status for the parent to read: a panic exits with code 101, an
//! abort is killed by signal 6 (SIGABRT). The pool here goes further than Python's: it
//! notices the dead worker, starts a replacement and gives it the lost chunk again.
//!
//! Watch: the two statuses; in the pool's timeline, lanes of replacement pids appear after
//! the two deaths, and the results are still complete and in order.
//!
//! Run only this: cargo run -p multiprocessing-demo -- crash-isolation

use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};

use anyhow::Context;
use common::cli::{SectionResult, figure, role_command, takeaway};
use common::timeline::Timeline;
use common::workload::sum_of_squares_expected;

use crate::child;
use crate::pool_map::Pool;

/// An input that makes a pool worker panic the first time it sees it.
pub const PANICS_FIRST_TIME: u64 = 666_001;
/// An input that makes a pool worker abort (like a segfault) the first time it sees it.
pub const ABORTS_FIRST_TIME: u64 = 666_002;

/// Called by the pool worker before each `compute(n)`: the faults this section injects.
/// The first attempt on these inputs dies; a retry runs clean, as when the fault was in the
/// process (a corrupted state, a flaky library), not in the input.
pub fn maybe_crash(n: u64, attempt: u32) {
    if attempt > 0 {
        return;
    }
    match n {
        PANICS_FIRST_TIME => {
            panic_on_purpose(format!("worker {} panics on {n}", std::process::id()))
        }
        ABORTS_FIRST_TIME => abort_quietly(),
        _ => {}
    }
}

/// `panic!`, reported in one line on stderr (no backtrace: the panic is the demo).
fn panic_on_purpose(message: String) -> ! {
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<String>()
            .map_or("?", String::as_str);
        eprintln!("(child {}) panicked: {what}", std::process::id());
    }));
    panic!("{message}")
}

/// `abort()`, without leaving a core file behind on machines that keep them.
fn abort_quietly() -> ! {
    let _ = rlimit::setrlimit(rlimit::Resource::CORE, 0, 0);
    std::process::abort()
}

/// `--role crasher panic|abort|exit`: fail in the way asked.
pub fn crasher(args: &[String]) -> anyhow::Result<()> {
    match args.first().map(String::as_str) {
        Some("panic") => panic_on_purpose("on purpose".to_owned()),
        Some("abort") => abort_quietly(),
        Some("exit") => std::process::exit(3),
        other => anyhow::bail!("crasher: expected panic, abort or exit, got {other:?}"),
    }
}

/// Start a crasher child, wait for it (bounded) and return its exit status and its stderr.
pub fn crash_child(how: &str) -> anyhow::Result<(ExitStatus, String)> {
    let mut child = role_command(env!("CARGO_PKG_NAME"), "crasher")?
        .arg(how)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting a crasher")?;
    let stderr = child.stderr.take().context("stderr")?;
    let reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let status = child::join(&mut child)?;
    let said = reader.join().unwrap_or_default();
    Ok((status, said))
}

pub fn run() -> SectionResult {
    println!("  parent pid {}", std::process::id());
    for how in ["panic", "abort", "exit"] {
        let (status, said) = crash_child(how)?;
        let first = said.lines().find(|l| !l.is_empty()).unwrap_or("");
        let line = format!("  child that does {how:<5}: {status}   {first}");
        println!("{}", line.trim_end());
        match how {
            "panic" => anyhow::ensure!(status.code() == Some(101), "a panic exits 101"),
            "abort" => anyhow::ensure!(status.signal() == Some(6), "abort is SIGABRT"),
            _ => anyhow::ensure!(status.code() == Some(3), "exit(3) exits 3"),
        }
    }
    println!("  ... and the parent carries on.");

    // A pool of 2 where two chunks kill their worker the first time.
    let mut inputs = vec![3_000_000u64; 10];
    inputs[2] = PANICS_FIRST_TIME;
    inputs[6] = ABORTS_FIRST_TIME;
    let mut pool = Pool::new(2)?;
    let timeline = Timeline::new();
    let results = pool.map(&inputs, 1, &timeline)?;
    let want: Vec<u64> = inputs.iter().map(|&n| sum_of_squares_expected(n)).collect();
    anyhow::ensure!(results == want, "the pool's results are wrong");
    println!(
        "  pool.map over {} inputs, 2 workers (lanes are pids):",
        inputs.len()
    );
    timeline.print();
    for (pid, status) in &pool.deaths {
        println!("  worker pid {pid} died: {status}; replaced, its chunk retried");
    }
    anyhow::ensure!(pool.deaths.len() == 2, "two workers should have died");
    figure("results complete and in order", results.len());
    takeaway(
        "a crash in a child is an exit status in the parent: isolation is what processes buy in Rust, not speed",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_reads_each_kind_of_death() {
        let (panicked, said) = crash_child("panic").unwrap();
        assert_eq!(panicked.code(), Some(101));
        assert!(said.contains("panicked: on purpose"), "{said}");
        let (aborted, _) = crash_child("abort").unwrap();
        assert_eq!(aborted.code(), None);
        assert_eq!(aborted.signal(), Some(6));
        let (exited, _) = crash_child("exit").unwrap();
        assert_eq!(exited.code(), Some(3));
    }

    #[test]
    fn the_pool_replaces_dead_workers_and_finishes() {
        let inputs = [1, PANICS_FIRST_TIME, 2, ABORTS_FIRST_TIME, 3];
        let mut pool = Pool::new(2).unwrap();
        let results = pool.map(&inputs, 1, &Timeline::new()).unwrap();
        let want: Vec<u64> = inputs.iter().map(|&n| sum_of_squares_expected(n)).collect();
        assert_eq!(results, want);
        assert_eq!(pool.deaths.len(), 2);
        assert!(pool.deaths.iter().any(|(_, s)| s.code() == Some(101)));
        assert!(pool.deaths.iter().any(|(_, s)| s.signal() == Some(6)));
    }

    #[test]
    fn a_chunk_that_always_kills_gives_up_with_an_error() {
        let mut pool = Pool::new(1).unwrap();
        pool.retries = 0; // no second chance: the first death is final
        let err = pool
            .map(&[PANICS_FIRST_TIME], 1, &Timeline::new())
            .unwrap_err();
        assert!(err.to_string().contains("giving up"), "{err}");
    }
}
