//! "Process creation has overhead (~0.1 s per process)" -> measured here: spawn + join of a
//! process, a thread and a tokio task.
//!
//! Python:
//!     start = time.perf_counter()
//!     p = Process(target=noop); p.start(); p.join()
//!     print(time.perf_counter() - start)    # tens of ms with spawn: a new interpreter imports
//!
//! Rust: a child process here is a `fork` + `exec` of a small native binary that does
//! nothing before `main` (no interpreter, no imports, no unpickling of the target), so it
//! costs a few milliseconds. A thread costs tens of microseconds, a tokio task (a heap
//! allocation and a queue push) about a microsecond in the dev build and under one in
//! `--release`. Processes are still the most expensive of the three: tens to a hundred
//! times a thread, thousands of times a task (two to three orders of magnitude). Start them
//! once (a pool), not per item.
//!
//! Watch: the three rows, how many times a thread and a task a process costs, and how many
//! Rust processes fit in the guide's 0.1 s. Every figure is measured in this run.
//!
//! Run only this: cargo run -p multiprocessing-demo -- startup-cost
//! Copy it: cargo add anyhow@1 && cargo add tokio@1 --features full

use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context;

/// `Process(target=noop).start(); p.join()`, `rounds` times, with the child `noop`; returns
/// how many exited 0.
pub fn spawn_join_processes(noop: &mut Command, rounds: u32) -> anyhow::Result<u32> {
    noop.stdin(Stdio::null()).stdout(Stdio::null());
    let mut ok = 0;
    for _ in 0..rounds {
        let mut child = noop.spawn().context("spawning")?; // a Command can spawn many times
        ok += u32::from(child.wait()?.success());
    }
    Ok(ok)
}

/// `threading.Thread(target=noop).start(); t.join()`, `rounds` times.
pub fn spawn_join_threads(rounds: u32) -> anyhow::Result<u32> {
    let mut ok = 0;
    for _ in 0..rounds {
        ok += std::thread::spawn(|| 1)
            .join()
            .map_err(|_| anyhow::anyhow!("a thread panicked"))?;
    }
    Ok(ok)
}

/// `await asyncio.create_task(noop())`, `rounds` times. On a current-thread runtime, like
/// asyncio's single event loop: no other thread has to be woken to run the task.
pub fn spawn_join_tasks(rt: &tokio::runtime::Runtime, rounds: u32) -> anyhow::Result<u32> {
    rt.block_on(async {
        let mut ok = 0;
        for _ in 0..rounds {
            ok += tokio::spawn(async { 1 }).await?;
        }
        Ok(ok)
    })
}

/// The twin of `if __name__ == "__main__":`: a child (`--role noop`) exits at once; the
/// parent times 20 processes, 1,000 threads and 20,000 tasks.
fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("--role") {
        return Ok(()); // the only role here: noop
    }
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let mut noop = Command::new(std::env::current_exe()?);
    noop.args(["--role", "noop"]);
    let start = Instant::now();
    let processes = spawn_join_processes(&mut noop, 20)?;
    println!(
        "a process: {:?} each ({processes} of 20 exited 0)",
        start.elapsed() / 20
    );
    let start = Instant::now();
    spawn_join_threads(1_000)?;
    println!("a thread: {:?} each", start.elapsed() / 1_000);
    let start = Instant::now();
    spawn_join_tasks(&rt, 20_000)?;
    println!("a tokio task: {:?} each", start.elapsed() / 20_000);
    Ok(())
}

// --- run and measure ---

use std::process::Termination;
use std::time::Duration;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{self, Pair, Twin, flags};
use common::timing::{Secs, timed};

pub const SECTION: Section = Section::new(
    "startup-cost",
    "Process creation overhead (~0.1 s per process)",
    "spawn + join of a process, a thread and a tokio task, measured",
    run,
)
.main(|| main().report())
.twin(&TWIN);

/// `--python`: `Process` start + join with the spawn method (and fork), a thread, an
/// asyncio task.
const TWIN: Twin = Twin::new(
    "startup_cost.py",
    include_str!("../python/startup_cost.py"),
    &["spawn_process_s", "fork_process_s", "thread_s", "task_s"],
);

/// The guide's figure for creating a Python process.
const PYTHON_CLAIM: Duration = Duration::from_millis(100);

/// `--role noop`: a process that starts and exits at once.
pub fn noop(_: &[String]) -> anyhow::Result<()> {
    Ok(())
}

/// How many of each were started, and the average spawn + join of each.
struct Figures {
    counts: [u32; 3],
    process: Duration,
    thread: Duration,
    task: Duration,
}

/// Processes, threads and tasks started and joined one after another. With `--python`
/// fewer processes: a spawned Python process takes tens of milliseconds, and both sides
/// start the same number.
fn measure() -> anyhow::Result<Figures> {
    let processes = if python::chosen().is_some() { 20 } else { 50 };
    let counts @ [_, threads, tasks] = [processes, 1_000, 20_000];
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let mut noop = crate::child::command("noop")?;
    let (done, process) = timed(|| spawn_join_processes(&mut noop, processes));
    anyhow::ensure!(done? == processes, "not every process exited cleanly");
    let (done, thread) = timed(|| spawn_join_threads(threads));
    anyhow::ensure!(done? == threads, "not every thread finished");
    let (done, task) = timed(|| spawn_join_tasks(&rt, tasks));
    anyhow::ensure!(done? == tasks, "not every task finished");
    Ok(Figures {
        counts,
        process: process / processes,
        thread: thread / threads,
        task: task / tasks,
    })
}

fn run() -> SectionResult {
    let f = measure()?;
    let [processes, threads, tasks] = f.counts;
    let times = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-12);
    println!("  spawn + join, average per unit");
    figure(format!("process (x{processes})"), Secs(f.process));
    for (name, t) in [
        (format!("thread (x{threads})"), f.thread),
        (format!("tokio task (x{tasks})"), f.task),
    ] {
        let t_text = Secs(t).to_string();
        figure(
            name,
            format!(
                "{t_text:>9}   a process costs {:.0}x as much",
                times(f.process, t)
            ),
        );
    }
    let claim = Secs(PYTHON_CLAIM).to_string();
    let rust_processes = times(PYTHON_CLAIM, f.process);
    figure(
        "the guide's Python process",
        format!("{claim:>9}   as long as {rust_processes:.0} Rust processes"),
    );
    let process = f.process.as_secs_f64();
    TWIN.compare(
        &flags(&[
            ("--processes", &processes),
            ("--threads", &threads),
            ("--tasks", &tasks),
        ]),
        &[
            Pair::secs(
                format!("process (x{processes}), against spawn"),
                "spawn_process_s",
                process,
            ),
            Pair::secs(
                format!("process (x{processes}), against fork"),
                "fork_process_s",
                process,
            ),
            Pair::secs(
                format!("thread (x{threads})"),
                "thread_s",
                f.thread.as_secs_f64(),
            )
            .cpu(),
            Pair::secs(format!("task (x{tasks})"), "task_s", f.task.as_secs_f64()).cpu(),
        ],
    )?;
    // "Milliseconds, not 0.1 s" and "threads and tasks cost far less" (10x at least).
    let evidence = Evidence::faster(
        "a Rust process",
        f.process,
        "the guide's 0.1 s",
        PYTHON_CLAIM,
        5.0,
    )
    .and(Evidence::faster(
        "a thread",
        f.thread,
        "a process",
        f.process,
        10.0,
    ))
    .and(Evidence::faster(
        "a tokio task",
        f.task,
        "a process",
        f.process,
        10.0,
    ));
    takeaway_if(
        &evidence,
        "a Rust process starts in milliseconds, not 0.1 s, but threads and tasks cost far less: start processes once, in a pool",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spawned_unit_runs_and_is_joined() {
        let mut noop = crate::child::command("noop").unwrap();
        assert_eq!(spawn_join_processes(&mut noop, 3).unwrap(), 3);
        assert_eq!(spawn_join_threads(10).unwrap(), 10);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(spawn_join_tasks(&rt, 100).unwrap(), 100);
    }

    #[test]
    fn the_python_twin_prints_its_fields() {
        let args = ["--processes", "2", "--threads", "5", "--tasks", "10"];
        if let Some(figures) = TWIN.run_for_test(&args) {
            assert!(figures["spawn_process_s"].as_f64().unwrap() > 0.0);
        }
    }
}
