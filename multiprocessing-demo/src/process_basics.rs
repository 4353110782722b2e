//! `multiprocessing.Process(target=f, args=(n,))`, `start()`, `join()`, `exitcode` ->
//! `std::process::Command` re-running this very binary with a role argument.
//!
//! Python:
//!     def compute(n):
//!         print(n * n)
//!     if __name__ == "__main__":
//!         p = Process(target=compute, args=(5,))
//!         p.start()
//!         p.join()
//!         print(p.exitcode)
//!
//! Rust cannot fork a closure into a new process. The idiom is to start the program's own
//! executable (`std::env::current_exe()`) again with an argument that says which part to
//! play: `multiprocessing-demo --role square 5`. The check for `--role` at the top of
//! `main` (done by the section runner) is the twin of `if __name__ == "__main__":`: it
//! decides whether this process is the parent or a child. The child's answer comes back on
//! its standard output here; the next sections use real IPC channels.
//!
//! Watch: each child has its own pid; the one given bad input exits with code 1 and the
//! parent carries on; spawning + joining a process costs a millisecond or a few (measured:
//! the last line; `startup-cost` compares it with a thread and a task).
//!
//! Run only this: cargo run -p multiprocessing-demo -- process-basics

use std::process::{Command, Output, Stdio};

use anyhow::Context;

/// The child's side: `--role square N` prints N * N.
pub fn square(args: &[String]) -> anyhow::Result<()> {
    let arg = args.first().context("square needs a number")?;
    let n: u64 = arg
        .parse()
        .with_context(|| format!("'{arg}' is not a number"))?;
    // Python's ints grow; a u64 square overflows from n = 2^32 on: say so, don't panic.
    let square = n
        .checked_mul(n)
        .with_context(|| format!("{n} squared does not fit in a u64"))?;
    println!("{square}");
    Ok(())
}

/// The parent's side: `Process(target=square, args=(arg,))`, `start()` then `join()`.
/// `child` is this program re-run in the child's role:
/// `Command::new(std::env::current_exe()?).args(["--role", "square"])`.
pub fn run_in_child(mut child: Command, arg: &str) -> anyhow::Result<(u32, Output)> {
    let child = child
        .arg(arg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting a child process")?; // start()
    let pid = child.id();
    let output = child.wait_with_output()?; // join()
    Ok((pid, output))
}

// --- run and measure ---

use common::child::role_command;
use common::cli::{Section, SectionResult};
use common::print::{figure, takeaway};
use common::timing::{Secs, timed};

pub const SECTION: Section = Section::new(
    "process-basics",
    "Process(target=f, args).start() / join() / exitcode",
    "re-run this binary as a child with a role; read its exit code",
    run,
);

/// `run_in_child` with this binary's `--role square` (found under `cargo test` too).
fn square_in_child(arg: &str) -> anyhow::Result<(u32, Output)> {
    run_in_child(role_command(env!("CARGO_PKG_NAME"), "square")?, arg)
}

fn run() -> SectionResult {
    println!("  parent pid {}", std::process::id());
    for arg in ["5", "12", "five"] {
        let (pid, out) = square_in_child(arg)?;
        let exitcode = out.status.code();
        let said = String::from_utf8_lossy(if out.status.success() {
            &out.stdout
        } else {
            &out.stderr
        });
        println!(
            "  child pid {pid}: square {arg:>4} -> exitcode {exitcode:?}, said {:?}",
            said.trim()
        );
        if arg == "five" {
            anyhow::ensure!(exitcode == Some(1), "bad input should exit 1");
        } else {
            let n: u64 = arg.parse()?;
            anyhow::ensure!(
                said.trim() == (n * n).to_string(),
                "wrong square from the child"
            );
        }
    }
    let rounds = 20;
    let (all, took) = timed(|| (0..rounds).try_for_each(|_| square_in_child("3").map(drop)));
    all?;
    figure(
        format!("spawn + join, avg of {rounds}"),
        Secs(took / rounds),
    );
    takeaway(
        "a child process is this binary re-run with a role; its exit code tells the parent how it went",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_squares_and_a_bad_input_exits_1() {
        let (pid, out) = square_in_child("7").unwrap();
        assert_ne!(pid, std::process::id(), "a different process");
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "49");

        let (_, bad) = square_in_child("seven").unwrap();
        assert_eq!(bad.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&bad.stderr).contains("'seven' is not a number"));
    }

    #[test]
    fn a_square_too_big_for_u64_is_an_error_not_a_panic() {
        let err = square(&["99999999999".to_owned()]).unwrap_err();
        assert!(err.to_string().contains("does not fit"), "{err}");
        assert!(square(&["4294967295".to_owned()]).is_ok());
    }
}
