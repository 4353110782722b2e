//! `Thread(daemon=True)` vs the default non-daemon thread -> in Rust a thread that is not
//! joined is killed when `main` returns; a joined one is waited for.
//!
//! Python:
//!     def heartbeat():                  # background chore: fine to kill at exit
//!         while True: print("beat"); time.sleep(0.01)
//!     def worker():                     # real work: must finish
//!         for i in range(5): time.sleep(0.02); print("step", i)
//!     threading.Thread(target=heartbeat, daemon=True).start()
//!     threading.Thread(target=worker).start()
//!     # end of the script: Python waits for `worker` (non-daemon), kills `heartbeat`
//!
//! Rust has no daemon flag, and its default is the *opposite* of Python's: when `main`
//! returns, the process exits and every other thread dies wherever it is, so every thread
//! is a daemon unless you `join()` its handle (or start it inside `thread::scope`, which
//! joins for you). Dropping a `JoinHandle` detaches the thread; it does not wait for it.
//!
//! To show it, not just say it, the program re-runs itself as a child process (`--role
//! daemon-child join|detach`, dispatched in `main`: the twin of `if __name__ ==
//! "__main__":`). The child starts a `heartbeat` thread that it never joins (it would write
//! 100 lines in 1 s) and a `worker` that writes 5 lines in 100 ms; in `join` mode main joins
//! the worker, in `detach` mode it drops its handle. The parent counts the lines each
//! thread managed to write before the child exited.
//!
//! Watch: with `join`, the worker writes 5 of 5 and the heartbeat is cut off after about
//! ten lines; with `detach`, main returns at once and the worker writes nothing.
//!
//! Run only this: cargo run -p threading-demo -- daemon-threads
//! Copy it: cargo add anyhow@1 tracing@0.1

use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use anyhow::{Context, anyhow};

const WORKER_LINES: usize = 5;
const WORKER_STEP: Duration = Duration::from_millis(20);
const HEARTBEAT_LINES: usize = 100;
const HEARTBEAT_STEP: Duration = Duration::from_millis(10);

/// A program's `main`: a `heartbeat` thread that is never joined (Python's `daemon=True`)
/// and a `worker` that main joins (`join_worker`) or lets go (drops its handle).
pub fn heartbeat_and_worker(join_worker: bool) -> anyhow::Result<()> {
    // Never joined: Python's `daemon=True`.
    let _detached = thread::Builder::new()
        .name("heartbeat".into())
        .spawn(|| {
            for k in 1..=HEARTBEAT_LINES {
                thread::sleep(HEARTBEAT_STEP);
                println!("heartbeat {k}");
            }
        })
        .context("spawning the heartbeat")?;
    let worker = thread::Builder::new()
        .name("worker".into())
        .spawn(|| {
            for k in 1..=WORKER_LINES {
                thread::sleep(WORKER_STEP);
                println!("worker {k}");
            }
        })
        .context("spawning the worker")?;
    if join_worker {
        worker.join().map_err(|_| anyhow!("the worker panicked"))?;
    } else {
        drop(worker); // detached: nobody waits for it
    }
    println!("main returns");
    tracing::debug!(
        join_worker,
        "main returns: threads still running die with the process"
    );
    Ok(()) // returned from `main`, the process exits: threads still running die here
}

/// What one child run printed: lines written by each thread.
#[derive(Debug, PartialEq, Eq)]
pub struct Written {
    pub worker: usize,
    pub heartbeat: usize,
    pub main_returned: bool,
}

pub fn count(stdout: &str) -> Written {
    let lines = |prefix: &str| stdout.lines().filter(|l| l.starts_with(prefix)).count();
    Written {
        worker: lines("worker "),
        heartbeat: lines("heartbeat "),
        main_returned: stdout.lines().any(|l| l == "main returns"),
    }
}

/// As a child (`--role daemon-child MODE`): the two threads. As the parent: this program
/// twice as a child, joining the worker and not, counting what each thread wrote.
fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, role, mode] = args.as_slice()
        && flag == "--role"
        && role == "daemon-child"
    {
        return heartbeat_and_worker(mode == "join");
    }
    for mode in ["join", "detach"] {
        let out = Command::new(std::env::current_exe()?)
            .args(["--role", "daemon-child", mode])
            .stderr(Stdio::inherit())
            .output()
            .context("running the child")?;
        anyhow::ensure!(out.status.success(), "the child failed: {}", out.status);
        let w = count(&String::from_utf8_lossy(&out.stdout));
        println!(
            "child {mode}: worker wrote {} of {WORKER_LINES} lines, heartbeat {} of {HEARTBEAT_LINES}",
            w.worker, w.heartbeat
        );
    }
    Ok(())
}

// --- run and measure ---

use std::io::Read;
use std::process::Termination;

use common::child::{role_command, wait_or_kill};
use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};

pub const SECTION: Section = Section::new(
    "daemon-threads",
    "Thread(daemon=True)",
    "a thread not joined dies when main returns (child process)",
    run,
)
.main(|| main().report());

/// The child is done in about 1 s whatever happens; past this (counted while this
/// process runs) it is killed.
const CHILD_LIMIT: Duration = Duration::from_secs(10);

/// The child's side: `--role daemon-child join|detach`. The process exits when it returns.
pub fn child(args: &[String]) -> anyhow::Result<()> {
    let join = match args.first().map(String::as_str) {
        Some("join") => true,
        Some("detach") => false,
        other => anyhow::bail!("daemon-child needs 'join' or 'detach', got {other:?}"),
    };
    quiet_when_the_reader_is_gone();
    heartbeat_and_worker(join)
}

/// The child writes into a pipe its parent reads. Once the parent is gone (killed, or
/// stopped by `| head`), a `println!` on any thread panics with `failed printing to
/// stdout`: end this process then, without a panic message on the user's terminal.
fn quiet_when_the_reader_is_gone() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info.payload_as_str().unwrap_or("");
        if text.contains("failed printing to stdout") {
            if text.contains("Broken pipe") {
                std::process::exit(0); // nobody is reading: a quiet stop
            }
            eprintln!("threading-demo --role daemon-child: {text}");
            std::process::exit(1);
        }
        default(info);
    }));
}

/// Run the child in `mode` and count what its threads wrote.
fn run_child(mode: &str) -> anyhow::Result<Written> {
    let mut child = role_command(env!("CARGO_PKG_NAME"), "daemon-child")?
        .arg(mode)
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the child process")?;
    let mut stdout = child.stdout.take().context("the child's stdout")?;
    // Read while it runs (a full pipe would stall it); the read ends when it exits.
    let reader = thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let status = wait_or_kill(&mut child, CHILD_LIMIT)?
        .with_context(|| format!("the child did not exit within {CHILD_LIMIT:?}: killed"))?;
    anyhow::ensure!(status.success(), "the child failed: {status}");
    let text = reader.join().map_err(|_| anyhow!("the reader panicked"))?;
    Ok(count(&text.context("reading the child's output")?))
}

fn run() -> SectionResult {
    let (joined, detached) = (run_child("join")?, run_child("detach")?);
    anyhow::ensure!(
        joined.worker == WORKER_LINES,
        "a joined worker was cut off: {joined:?}"
    );
    for (w, mode) in [(&joined, "join"), (&detached, "detach")] {
        anyhow::ensure!(w.main_returned, "the child's main did not finish");
        anyhow::ensure!(
            w.heartbeat < HEARTBEAT_LINES,
            "the heartbeat was waited for"
        );
        println!("  child --role daemon-child {mode}:");
        figure(
            "  worker wrote",
            format!("{} of {WORKER_LINES} lines", w.worker),
        );
        figure(
            "  heartbeat wrote",
            format!("{} of {HEARTBEAT_LINES} lines", w.heartbeat),
        );
    }
    takeaway_if(
        &Evidence::new(
            detached.worker < WORKER_LINES,
            format!("the detached worker cut off before its {WORKER_LINES} lines"),
            format!("it wrote {} of {WORKER_LINES}", detached.worker),
        ),
        "in Rust every thread is a daemon unless joined: keep the JoinHandle and join() what must finish",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lines_per_thread() {
        let out = "heartbeat 1\nworker 1\nheartbeat 2\nmain returns\n";
        assert_eq!(
            count(out),
            Written {
                worker: 1,
                heartbeat: 2,
                main_returned: true
            }
        );
    }

    #[test]
    fn a_joined_thread_finishes_before_the_process_exits() {
        let w = run_child("join").unwrap();
        assert_eq!(w.worker, WORKER_LINES);
        assert!(w.main_returned);
        assert!(w.heartbeat <= HEARTBEAT_LINES);
    }

    #[test]
    fn a_child_whose_reader_has_gone_stops_quietly() {
        // The parent reads one line, then hangs up, as a killed parent or `| head` does.
        let mut child = role_command(env!("CARGO_PKG_NAME"), "daemon-child")
            .unwrap()
            .arg("join")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 1];
        stdout.read_exact(&mut first).unwrap();
        drop(stdout);
        let mut stderr = child.stderr.take().unwrap();
        let status = wait_or_kill(&mut child, CHILD_LIMIT).unwrap().unwrap();
        let mut said = String::new();
        stderr.read_to_string(&mut said).unwrap();
        assert!(said.is_empty(), "{said}");
        assert!(status.success(), "{status}");
    }

    #[test]
    fn a_detached_child_exits_cleanly_and_bad_modes_fail() {
        let w = run_child("detach").unwrap();
        assert!(w.main_returned && w.worker <= WORKER_LINES);
        assert!(child(&["sideways".to_owned()]).is_err());
    }
}
