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
//! costs about a millisecond. A thread is tens of microseconds, a tokio task (a heap
//! allocation and a queue push) well under one. Processes are still the most expensive of
//! the three by three orders of magnitude: start them once (a pool), not per item.
//!
//! Watch: the three rows and their ratio to the guide's 0.1 s.
//!
//! Run only this: cargo run -p multiprocessing-demo -- startup-cost

use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use common::cli::{SectionResult, figure, role_command, takeaway};
use common::timing::{Secs, timed};

/// The guide's figure for creating a Python process.
const PYTHON_CLAIM: Duration = Duration::from_millis(100);

/// `--role noop`: a process that starts and exits at once.
pub fn noop(_: &[String]) -> anyhow::Result<()> {
    Ok(())
}

/// `Process(target=noop).start(); p.join()`, `rounds` times; returns how many exited 0.
pub fn spawn_join_processes(rounds: u32) -> anyhow::Result<u32> {
    let mut ok = 0;
    for _ in 0..rounds {
        let mut child = role_command(env!("CARGO_PKG_NAME"), "noop")?
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("spawning")?;
        ok += u32::from(crate::child::join(&mut child)?.success());
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

pub fn run() -> SectionResult {
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let rows: [(&str, u32); 3] = [("process", 50), ("thread", 1_000), ("tokio task", 20_000)];
    println!("  spawn + join, average over the rounds (the guide says ~0.1 s per process)");
    for (kind, rounds) in rows {
        let (done, took) = timed(|| match kind {
            "process" => spawn_join_processes(rounds),
            "thread" => spawn_join_threads(rounds),
            _ => spawn_join_tasks(&rt, rounds),
        });
        anyhow::ensure!(done? == rounds, "not every {kind} finished cleanly");
        let each = took / rounds;
        figure(
            format!("{kind} (x{rounds})"),
            format!(
                "{:>9}   {:>7.0}x under 0.1 s",
                Secs(each).to_string(),
                PYTHON_CLAIM.as_secs_f64() / each.as_secs_f64()
            ),
        );
    }
    takeaway(
        "a Rust process starts in milliseconds, not 0.1 s, but threads and tasks cost far less: start processes once, in a pool",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spawned_unit_runs_and_is_joined() {
        assert_eq!(spawn_join_processes(3).unwrap(), 3);
        assert_eq!(spawn_join_threads(10).unwrap(), 10);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(spawn_join_tasks(&rt, 100).unwrap(), 100);
    }
}
