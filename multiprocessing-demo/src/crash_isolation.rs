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
//! abort is killed by signal 6 (SIGABRT), which Python would print as exitcode -6. The `pool-map` section's pool goes further than
//! Python's: it notices the dead worker, starts a replacement and gives it the lost chunk
//! again.
//!
//! Watch: the three statuses, and the parent carrying on; in the demo, a pool whose
//! workers die on two inputs: lanes of replacement pids appear in its timeline after the
//! two deaths, and the results are still complete and in order.
//!
//! Run only this: cargo run -p multiprocessing-demo -- crash-isolation
//! Copy it: cargo add anyhow@1 rlimit@0.11

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};

use anyhow::Context;

/// The child's side: fail in the way asked.
pub fn crasher(how: &str) -> anyhow::Result<()> {
    match how {
        "panic" => panic!("on purpose"),
        "abort" => {
            let _ = rlimit::setrlimit(rlimit::Resource::CORE, 0, 0); // no core file for this one
            std::process::abort() // like a segfault: no unwinding, no cleanup
        }
        "exit" => std::process::exit(3),
        other => anyhow::bail!("crasher: expected panic, abort or exit, got {other:?}"),
    }
}

/// The parent's side: start the child `command`, wait for it and return its exit status and
/// what it wrote on stderr. However the child died, this process carries on.
pub fn crash_child(mut command: Command) -> anyhow::Result<(ExitStatus, String)> {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting a crasher")?;
    let out = child.wait_with_output()?; // p.join()
    Ok((
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Python's `p.exitcode`: the exit code, or minus the signal that killed the child
/// (`-6` for SIGABRT, `-11` for SIGSEGV). `signal()` comes from `ExitStatusExt` (Unix).
pub fn exitcode(status: ExitStatus) -> Option<i32> {
    status
        .code()
        .or_else(|| status.signal().map(|signal| -signal))
}

/// The twin of `if __name__ == "__main__":`: a child (`--role crasher HOW`) fails as asked;
/// the parent reads how each one ended, and carries on.
fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, _, how, ..] = &args[..]
        && flag == "--role"
    {
        return crasher(how); // the only role here
    }
    for how in ["panic", "abort", "exit"] {
        let mut child = Command::new(std::env::current_exe()?);
        child.args(["--role", "crasher", how]);
        let (status, said) = crash_child(child)?;
        let first = said.lines().find(|l| !l.is_empty()).unwrap_or("");
        println!(
            "a child that does {how}: exitcode {:?} ({status}); it said {first:?}",
            exitcode(status)
        );
    }
    println!("... and the parent carries on.");
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{figure, takeaway};
use common::timeline::Recording;
use common::workload::sum_of_squares_expected;

use crate::faults::{self, ABORTS_FIRST_TIME, Markers, PANICS_FIRST_TIME};
use crate::pool_map::{self, Pool, fast_compute, pool_timeline};

pub const SECTION: Section = Section::new(
    "crash-isolation",
    "p.exitcode < 0 after a crash; BrokenProcessPool",
    "children that panic and abort; the pool replaces dead workers and finishes",
    run,
)
.main(|| main().report());

/// `--role crasher panic|abort|exit`: `main`'s child branch, its panic in one line.
pub fn crasher_role(args: &[String]) -> anyhow::Result<()> {
    faults::quiet_panics();
    crasher(args.first().map_or("", String::as_str))
}

/// `--role faulty-pool-worker MARKERS SERVER`: a pool worker that dies the first time it
/// meets one of the fatal inputs.
pub fn faulty_pool_worker_role(args: &[String]) -> anyhow::Result<()> {
    let markers = std::path::PathBuf::from(args.first().context("the markers' folder")?);
    pool_map::serve_worker(args, |n| {
        faults::maybe_crash(n, &markers);
        fast_compute(n)
    })
}

/// A pool of `size` faulty workers (replacements are faulty too; the markers make each
/// fatal input kill only once).
fn faulty_pool(size: usize, markers: &Markers) -> anyhow::Result<Pool> {
    let args = vec![markers.path().display().to_string()];
    pool_map::pool_of(size, "faulty-pool-worker", args)
}

fn crash(how: &str) -> anyhow::Result<(ExitStatus, String)> {
    let mut command = crate::child::command("crasher")?;
    command.arg(how);
    crash_child(command)
}

fn run() -> SectionResult {
    println!("  parent pid {}", std::process::id());
    for (how, want) in [("panic", 101), ("abort", -6), ("exit", 3)] {
        let (status, said) = crash(how)?;
        let first = said.lines().find(|l| !l.is_empty()).unwrap_or("");
        let code = exitcode(status).map_or("?".to_owned(), |c| c.to_string());
        let line = format!("  child that does {how:<5}: exitcode {code:>3} ({status})   {first}");
        println!("{}", line.trim_end());
        anyhow::ensure!(
            exitcode(status) == Some(want),
            "{how}: exitcode {want} expected"
        );
    }
    println!("  ... and the parent carries on.");

    // A pool of 2 where two chunks kill their worker the first time.
    let mut inputs = vec![3_000_000u64; 10];
    inputs[2] = PANICS_FIRST_TIME;
    inputs[6] = ABORTS_FIRST_TIME;
    let markers = Markers::new()?;
    let mut pool = faulty_pool(2, &markers)?;
    let recording = Recording::start();
    let results = pool.map(&inputs, 1)?;
    let chunks = recording.finish().named(&["chunk"]);
    let want: Vec<u64> = inputs.iter().map(|&n| sum_of_squares_expected(n)).collect();
    anyhow::ensure!(results == want, "the pool's results are wrong");
    println!(
        "  pool.map over {} inputs, 2 workers (lanes are pids):",
        inputs.len()
    );
    pool_timeline(&chunks).print();
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
        let (panicked, said) = crash("panic").unwrap();
        assert_eq!(panicked.code(), Some(101));
        assert!(said.contains("panicked: on purpose"), "{said}");
        assert_eq!(said.lines().count(), 1, "one line, no backtrace: {said}");
        let (aborted, _) = crash("abort").unwrap();
        assert_eq!(aborted.code(), None);
        assert_eq!(aborted.signal(), Some(6));
        assert_eq!(exitcode(aborted), Some(-6), "as Python's exitcode says it");
        let (exited, _) = crash("exit").unwrap();
        assert_eq!(exited.code(), Some(3));
    }

    #[test]
    fn the_pool_replaces_dead_workers_and_finishes() {
        let inputs = [1, PANICS_FIRST_TIME, 2, ABORTS_FIRST_TIME, 3];
        let markers = Markers::new().unwrap();
        let mut pool = faulty_pool(2, &markers).unwrap();
        let results = pool.map(&inputs, 1).unwrap();
        let want: Vec<u64> = inputs.iter().map(|&n| sum_of_squares_expected(n)).collect();
        assert_eq!(results, want);
        assert_eq!(pool.deaths.len(), 2);
        assert!(pool.deaths.iter().any(|(_, s)| s.code() == Some(101)));
        assert!(pool.deaths.iter().any(|(_, s)| s.signal() == Some(6)));
    }

    #[test]
    fn a_chunk_that_always_kills_gives_up_with_an_error() {
        let markers = Markers::new().unwrap();
        let mut pool = faulty_pool(1, &markers).unwrap();
        pool.retries = 0; // no second chance: the first death is final
        let err = pool.map(&[PANICS_FIRST_TIME], 1).unwrap_err();
        assert!(err.to_string().contains("giving up"), "{err}");
    }
}
