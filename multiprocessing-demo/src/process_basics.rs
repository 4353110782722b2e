//! `multiprocessing.Process(target=f, args=(n,))`, `start()`, `join()`, `exitcode` ->
//! `std::process::Command` re-running this very binary with a role argument.
//!
//! Python:
//!     def compute(n):
//!         print(n * n)
//!
//!     def worker(n):
//!         print(f"Process {n} starting")
//!         time.sleep(0.2)
//!         print(f"Process {n} finished")
//!
//!     if __name__ == "__main__":
//!         p = Process(target=compute, args=(5,))
//!         p.start()
//!         p.join()
//!         print(p.exitcode)
//!
//!         processes = [Process(target=worker, args=(i,)) for i in range(5)]
//!         for p in processes:
//!             p.start()          # all five start before any is joined
//!         for p in processes:
//!             p.join()
//!
//! Rust cannot fork a closure into a new process. The idiom is to start the program's own
//! executable (`std::env::current_exe()`) again with an argument that says which part to
//! play: `multiprocessing-demo --role square 5`. The check for `--role` at the top of
//! `main` is the twin of `if __name__ == "__main__":`: it decides whether this process is
//! the parent or a child. The child's answer comes back on its standard output here;
//! `spawn-self` opens a real IPC channel to the child, and the next sections use it.
//!
//! `Command::spawn` is `start()`: it returns as soon as the child exists, so five spawns in
//! a row give five processes running at once; `Child::wait` (or `wait_with_output`) is
//! `join()`. Joining each child right after starting it would run them one after another.
//!
//! Watch: each child has its own pid; the one given bad input exits with code 1 and the
//! parent carries on; the five sleepers overlap (in the demo, their bars on a timeline), so
//! the whole takes about one sleep, not five.
//!
//! Run only this: cargo run -p multiprocessing-demo -- process-basics
//! Copy it: cargo add anyhow@1

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

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

/// The guide's `worker(n)`: say hello, sleep, say goodbye.
pub fn worker(n: u32, nap: Duration) {
    println!("Process {n} starting");
    std::thread::sleep(nap);
    println!("Process {n} finished");
}

/// The child's side of `--role sleeper N MS`: `worker(N)`, sleeping MS milliseconds.
pub fn sleeper(args: &[String]) -> anyhow::Result<()> {
    let [n, ms] = args else {
        anyhow::bail!("sleeper needs N and MS");
    };
    let n: u32 = n
        .parse()
        .with_context(|| format!("'{n}' is not a number"))?;
    let ms: u64 = ms
        .parse()
        .with_context(|| format!("'{ms}' is not a number"))?;
    worker(n, Duration::from_millis(ms));
    Ok(())
}

/// The parent's side of the five sleepers: `start()` every child first, then `join()` each.
/// `commands` are this program re-run as `--role sleeper N MS`; returns each child's pid
/// and what it printed, in the order they were started.
pub fn start_all_then_join(commands: Vec<Command>) -> anyhow::Result<Vec<(u32, Output)>> {
    let mut started = Vec::new();
    for mut command in commands {
        let child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting a child process")?; // p.start(): returns at once
        started.push(child);
    }
    started
        .into_iter()
        .map(|child| {
            let pid = child.id();
            Ok((pid, child.wait_with_output()?)) // p.join()
        })
        .collect()
}

/// This program again, as a child that plays `role`: `current_exe() --role ROLE`.
fn this_program(role: &str) -> std::io::Result<Command> {
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["--role", role]);
    Ok(command)
}

/// The twin of `if __name__ == "__main__":`: a child plays the role after `--role`; the
/// parent squares in a child twice (once with bad input), then starts five sleepers.
fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, role, rest @ ..] = &args[..]
        && flag == "--role"
    {
        return match role.as_str() {
            "square" => square(rest),
            "sleeper" => sleeper(rest),
            _ => anyhow::bail!("no role {role} in this program"),
        };
    }
    println!("parent pid {}", std::process::id());
    for arg in ["5", "five"] {
        let (pid, out) = run_in_child(this_program("square")?, arg)?;
        let said = if out.status.success() {
            &out.stdout
        } else {
            &out.stderr
        };
        let said = String::from_utf8_lossy(said);
        let first = said.lines().next().unwrap_or("");
        let code = out.status.code();
        println!("child pid {pid}: square {arg} -> exitcode {code:?}, said {first:?}");
    }
    let mut sleepers = Vec::new();
    for n in 0..5 {
        let mut sleeper = this_program("sleeper")?;
        sleeper.args([n.to_string(), "200".to_owned()]);
        sleepers.push(sleeper);
    }
    let start = Instant::now();
    for (pid, out) in start_all_then_join(sleepers)? {
        print!("pid {pid}: {}", String::from_utf8_lossy(&out.stdout));
    }
    println!(
        "five sleeps of 0.2 s, started together: {:.2?}",
        start.elapsed()
    );
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Span, Timeline, now_us};
use common::timing::{Secs, timed};

use crate::child;

pub const SECTION: Section = Section::new(
    "process-basics",
    "Process(target=f, args).start() / join() / exitcode",
    "re-run this binary as a child with a role; read its exit code; five started together",
    run,
)
.main(|| main().report());

/// `run_in_child` with this binary's `--role square` (found under `cargo test` too).
fn square_in_child(arg: &str) -> anyhow::Result<(u32, Output)> {
    run_in_child(child::command("square")?, arg)
}

/// `--role timed-sleeper N MS`: `sleeper`, then one more line for the parent's timeline:
/// `span START END`, microseconds since the epoch (comparable between processes).
pub fn timed_sleeper(args: &[String]) -> anyhow::Result<()> {
    let start = now_us();
    sleeper(args)?;
    println!("span {start} {}", now_us());
    Ok(())
}

/// A timed sleeper's output, checked: its two lines, and the span it reported.
fn sleeper_span(n: u32, pid: u32, out: &Output) -> anyhow::Result<Span> {
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let [first, second, span] = lines[..] else {
        anyhow::bail!("sleeper {n} (pid {pid}, {}) printed {lines:?}", out.status);
    };
    anyhow::ensure!(
        first == format!("Process {n} starting") && second == format!("Process {n} finished"),
        "sleeper {n} printed {lines:?}"
    );
    let times: Vec<u64> = span
        .split(' ')
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let [start_us, end_us] = times[..] else {
        anyhow::bail!("a bad span line {span:?}");
    };
    let (lane, label) = (format!("pid {pid}"), format!("Process {n}"));
    Ok(Span {
        lane,
        label,
        start_us,
        end_us,
    })
}

/// `count` timed sleepers, started together: each one's span, and how long all took.
fn five_sleepers(count: u32, nap: Duration) -> anyhow::Result<(Timeline, Duration)> {
    let mut commands = Vec::new();
    for n in 0..count {
        let mut command = child::command("timed-sleeper")?;
        command.args([n.to_string(), nap.as_millis().to_string()]);
        commands.push(command);
    }
    let (children, took) = timed(|| start_all_then_join(commands));
    let timeline = Timeline::new();
    for (n, (pid, out)) in (0..).zip(children?) {
        timeline.push(sleeper_span(n, pid, &out)?);
    }
    Ok((timeline, took))
}

const SLEEPERS: u32 = 5;
/// The guide sleeps 2 s; a fifth of a second shows the same overlap.
const NAP: Duration = Duration::from_millis(200);

fn run() -> SectionResult {
    println!("  parent pid {}", std::process::id());
    for (arg, want) in [("5", Some(25)), ("12", Some(144)), ("five", None)] {
        let (pid, out) = square_in_child(arg)?;
        let said = if out.status.success() {
            &out.stdout
        } else {
            &out.stderr
        };
        let said = String::from_utf8_lossy(said);
        let exitcode = out.status.code();
        println!(
            "  child pid {pid}: square {arg:>4} -> exitcode {exitcode:?}, said {:?}",
            said.trim()
        );
        let right = match want {
            Some(square) => said.trim() == square.to_string(),
            None => exitcode == Some(1),
        };
        anyhow::ensure!(right, "square {arg}: not the answer expected");
    }
    let (timeline, took) = five_sleepers(SLEEPERS, NAP)?;
    println!(
        "  {SLEEPERS} children started together, each sleeping {} (each said its two lines):",
        Secs(NAP)
    );
    timeline.print();
    let at_once = timeline.max_overlap();
    figure("started together, all joined", Secs(took));
    figure("one after another would be", Secs(NAP * SLEEPERS));
    let together = Evidence::new(
        took < NAP * 2 && at_once == SLEEPERS as usize,
        format!(
            "all {SLEEPERS} asleep at once, the total under 2 x {}",
            Secs(NAP)
        ),
        format!("{at_once} at once, {} in all", Secs(took)),
    );
    takeaway_if(
        &together,
        format!(
            "a child process is this binary re-run with a role; its exit code tells the parent how it went; \
             {SLEEPERS} started before any join run at once: {} for {SLEEPERS} sleeps of {}",
            Secs(took),
            Secs(NAP)
        ),
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
    fn five_children_are_all_running_before_any_is_joined() {
        // A barrier across processes: each child leaves a file in a fresh folder, then waits
        // (bounded: 10 s) until all five files are there. Children run one after another
        // would never get past it; started together, they all do.
        let dir = std::env::temp_dir().join(format!("process-basics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let commands = (0..5)
            .map(|i| {
                let mut c = Command::new("timeout");
                c.args(["10", "sh", "-c"])
                    .arg(format!(
                        "touch {i}; while [ $(ls | wc -l) -lt 5 ]; do sleep 0.01; done; echo {i}"
                    ))
                    .current_dir(&dir);
                c
            })
            .collect();
        let children = start_all_then_join(commands).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        for (i, (pid, out)) in children.iter().enumerate() {
            assert!(
                out.status.success(),
                "child {i} (pid {pid}) gave up waiting"
            );
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), i.to_string());
        }
    }

    #[test]
    fn each_sleeper_reports_its_lines_and_span_from_its_own_pid() {
        let (timeline, _) = five_sleepers(3, Duration::from_millis(1)).unwrap();
        let spans = timeline.spans();
        assert_eq!(spans.len(), 3);
        let mut labels: Vec<&str> = spans.iter().map(|s| s.label.as_str()).collect();
        labels.sort();
        assert_eq!(labels, ["Process 0", "Process 1", "Process 2"]);
        let mut lanes: Vec<&str> = spans.iter().map(|s| s.lane.as_str()).collect();
        lanes.sort();
        lanes.dedup();
        assert_eq!(lanes.len(), 3, "three pids: {lanes:?}");
        assert!(!lanes.contains(&format!("pid {}", std::process::id()).as_str()));
        assert!(spans.iter().all(|s| s.start_us <= s.end_us));
    }

    #[test]
    fn a_sleeper_with_bad_arguments_is_an_error() {
        assert!(sleeper(&["1".to_owned()]).is_err());
        let err = sleeper(&["one".to_owned(), "5".to_owned()]).unwrap_err();
        assert!(err.to_string().contains("'one' is not a number"), "{err}");
    }

    #[test]
    fn a_square_too_big_for_u64_is_an_error_not_a_panic() {
        let err = square(&["99999999999".to_owned()]).unwrap_err();
        assert!(err.to_string().contains("does not fit"), "{err}");
        assert!(square(&["4294967295".to_owned()]).is_ok());
    }
}
