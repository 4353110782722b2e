//! `asyncio.create_subprocess_exec` + `await proc.communicate()` -> `tokio::process::Command`:
//! children at once under a limit, their output read while they run, a timeout that kills.
//!
//! Python:
//!     limit = asyncio.Semaphore(3)
//!     async def run(script, timeout):
//!         async with limit:
//!             proc = await asyncio.create_subprocess_exec("sh", "-c", script, stdout=PIPE)
//!             async def read_and_wait():
//!                 async for line in proc.stdout:  # each line as it is printed
//!                     print(line.decode().rstrip())
//!                 return await proc.wait()
//!             try:
//!                 return await asyncio.wait_for(read_and_wait(), timeout)
//!             except TimeoutError:
//!                 proc.kill()
//!                 await proc.wait()               # reap it: no zombie
//!     codes = await asyncio.gather(*(run(script, 1.0) for script in scripts))
//!
//! Rust: the same shape, with `tokio::process::Command` (its `spawn` does not block the
//! loop; `wait`, `output` and the pipes are futures). A `Child` that is dropped keeps
//! running, as in Python, unless it was spawned with `kill_on_drop(true)`: then a cancelled
//! task, an aborted `JoinSet` or a timeout that drops it kills the process. Here the
//! timeout's branch kills it by hand (`child.kill().await` sends SIGKILL and reaps it), to
//! report it; `kill_on_drop` is the net for every other way out. The children are
//! `sh -c "..."` with `sleep 0.2`: present on every Linux and macOS.
//!
//! Watch: six children of 0.2 s, three at a time, take about 0.4 s (one at a time: 1.2 s);
//! each one's `started` line is read at once, its `done` 0.2 s later, while it runs; the
//! exit codes are 0, 3, and none for the child killed at its 0.5 s timeout.
//!
//! Run only this: cargo run -p asyncio-demo -- subprocess
//! Copy it: cargo add futures@0.3 tracing@0.1 && cargo add tokio@1 --features full

use std::io;
use std::process::Stdio;
use std::time::Duration;

use futures::future::join_all;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout};
use tracing::Instrument;

pub const SLOW: &str = "echo started; sleep 0.2; echo done";
pub const FAILS: &str = "echo checking; exit 3";
/// `exec`: the shell becomes `sleep`, so the kill reaches the sleeping process itself.
pub const HANGS: &str = "echo hanging; exec sleep 10";

/// How one child went.
#[derive(Debug)]
pub struct Outcome {
    /// Each line of its stdout, with when it was read (since the spawn).
    pub lines: Vec<(Duration, String)>,
    /// Its exit code; `None` when it was killed at its timeout.
    pub code: Option<i32>,
    pub took: Duration,
}

/// `create_subprocess_exec` + reading its stdout line by line, within `limit`.
pub async fn run_child(script: &str, limit: Duration) -> io::Result<Outcome> {
    let start = Instant::now();
    let mut child = Command::new("sh")
        .args(["-c", script])
        .stdout(Stdio::piped())
        .kill_on_drop(true) // however this future ends, the process ends with it
        .spawn()?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let (mut lines, mut seen) = (BufReader::new(stdout).lines(), Vec::new());
    let finished = timeout(limit, async {
        while let Some(line) = lines.next_line().await? {
            seen.push((start.elapsed(), line)); // while it runs, not after it exits
        }
        child.wait().await
    })
    .await;
    let code = match finished {
        Ok(status) => status?.code(),
        Err(_elapsed) => {
            child.kill().await?; // SIGKILL, then wait for it
            None
        }
    };
    Ok(Outcome {
        lines: seen,
        code,
        took: start.elapsed(),
    })
}

/// `gather` of every script, at most `at_once` children alive at a time.
pub async fn run_all(
    scripts: &[&str],
    at_once: usize,
    limit: Duration,
) -> io::Result<Vec<Outcome>> {
    let permits = Semaphore::new(at_once);
    let runs = scripts.iter().enumerate().map(|(id, script)| {
        let permits = &permits;
        async move {
            let _permit = permits.acquire().await.expect("never closed");
            run_child(script, limit)
                .instrument(tracing::info_span!("child", id))
                .await
        }
    });
    join_all(runs).await.into_iter().collect()
}

/// The twin of `if __name__ == "__main__":` six slow children three at a time, then one
/// that succeeds, one that fails and one that hangs.
#[tokio::main]
async fn main() -> io::Result<()> {
    let start = Instant::now();
    let outcomes = run_all(&[SLOW; 6], 3, Duration::from_secs(5)).await?;
    println!("6 children of 0.2 s, 3 at a time: {:.2?}", start.elapsed());
    for (id, outcome) in outcomes.iter().enumerate() {
        let lines: Vec<_> = outcome
            .lines
            .iter()
            .map(|(at, line)| format!("{line:?} at {at:.2?}"))
            .collect();
        println!(
            "  child {id}: {}, exit code {:?}",
            lines.join(", "),
            outcome.code
        );
    }
    let scripts = [SLOW, FAILS, HANGS];
    for (script, outcome) in scripts
        .iter()
        .zip(run_all(&scripts, 3, Duration::from_millis(500)).await?)
    {
        let ended = match outcome.code {
            Some(code) => format!("exit code {code}"),
            None => format!("killed at its timeout, after {:.2?}", outcome.took),
        };
        println!("{script:<28} -> {ended}");
    }
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{Pair, Twin, flags};
use common::timeline::{Lanes, Recorded, Recording};
use common::timing::{Secs, speedup, timed_async};

pub const SECTION: Section = Section::new(
    "subprocess",
    "asyncio.create_subprocess_exec",
    "children under a limit, stdout read while they run, a timeout that kills, exit codes",
    run,
)
.main(|| main().report())
.twin(&TWIN);

/// `--python`: the same children with create_subprocess_exec under an asyncio.Semaphore.
const TWIN: Twin = Twin::new(
    "subprocess_exec.py",
    include_str!("../python/subprocess_exec.py"),
    &["at_once_s", "one_by_one_s", "speedup"],
);

const CHILDREN: usize = 6;
const AT_ONCE: usize = 3;
const LIMIT: Duration = Duration::from_secs(5);
const TIMEOUT: Duration = Duration::from_millis(500);

struct Figures {
    at_once: Duration,
    one_by_one: Duration,
    spans: Recorded,
    /// The latest a child's first line was read, as a share of that child's run.
    first_line: f64,
    killed_after: Duration,
}

async fn measure() -> anyhow::Result<Figures> {
    let recording = Recording::start();
    let (outcomes, at_once) = timed_async(run_all(&[SLOW; CHILDREN], AT_ONCE, LIMIT)).await;
    let spans = recording.finish().named(&["child"]);
    let outcomes = outcomes?;
    let ok = outcomes
        .iter()
        .all(|o| o.code == Some(0) && o.lines.len() == 2);
    anyhow::ensure!(ok, "a slow child failed or lost a line");
    let (_, one_by_one) = timed_async(run_all(&[SLOW; CHILDREN], 1, LIMIT)).await;
    let mixed = run_all(&[SLOW, FAILS, HANGS], 3, TIMEOUT).await?;
    let codes: Vec<_> = mixed.iter().map(|o| o.code).collect();
    anyhow::ensure!(codes == [Some(0), Some(3), None], "exit codes {codes:?}");
    let share = |o: &Outcome| o.lines[0].0.as_secs_f64() / o.took.as_secs_f64();
    Ok(Figures {
        at_once,
        one_by_one,
        spans,
        first_line: outcomes.iter().map(share).fold(0.0, f64::max),
        killed_after: mixed[2].took,
    })
}

#[tokio::main]
async fn run() -> SectionResult {
    let f = measure().await?;
    let most = f.spans.most_at_once();
    anyhow::ensure!(
        most <= AT_ONCE,
        "{most} children alive at once, over {AT_ONCE}"
    );
    figure(
        format!("{CHILDREN} children, {AT_ONCE} at once"),
        format!("{} (at most {most} alive)", Secs(f.at_once)),
    );
    figure("one at a time", Secs(f.one_by_one));
    figure(
        "first lines read",
        format!(
            "by {:.0}% of their child's run, at the latest",
            f.first_line * 100.0
        ),
    );
    figure(
        "exit codes: ok, fails, hangs",
        format!("0, 3, killed at its timeout after {}", Secs(f.killed_after)),
    );
    f.spans.print(Lanes::Packed);
    let secs = |label, field, d: Duration| Pair::secs(label, field, d.as_secs_f64()).timer();
    let gain = speedup(f.one_by_one, f.at_once);
    TWIN.compare(
        &flags(&[
            ("--children", &CHILDREN),
            ("--at-once", &AT_ONCE),
            ("--script", &SLOW),
        ]),
        &[
            secs(
                format!("{AT_ONCE} at once / Semaphore({AT_ONCE})"),
                "at_once_s",
                f.at_once,
            ),
            secs("one at a time".into(), "one_by_one_s", f.one_by_one),
            Pair::speedup("speedup", "speedup", gain).timer(),
        ],
    )?;
    let while_running = Evidence::new(
        most == AT_ONCE && f.first_line < 0.5,
        format!("{AT_ONCE} alive at once, each first line read in the first half of its run"),
        format!(
            "{most} at once, a first line at {:.0}% of its run",
            f.first_line * 100.0
        ),
    );
    takeaway_if(
        &Evidence::faster("at once", f.at_once, "one at a time", f.one_by_one, 2.0)
            .and(while_running),
        "children are futures like any other: a Semaphore limits them, their pipes are read while they run",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_limit_holds_and_every_child_exits_zero() {
        let recording = Recording::local();
        let outcomes = run_all(&["sleep 0.05"; 5], 2, LIMIT).await.unwrap();
        assert!(outcomes.iter().all(|o| o.code == Some(0)));
        let most = recording.finish().named(&["child"]).most_at_once();
        assert!(most <= 2, "{most} alive at once");
    }

    #[tokio::test]
    async fn exit_codes_and_lines_come_back() {
        let outcomes = run_all(&["echo a; echo b", FAILS, "exit 0"], 3, LIMIT)
            .await
            .unwrap();
        let codes: Vec<_> = outcomes.iter().map(|o| o.code).collect();
        assert_eq!(codes, [Some(0), Some(3), Some(0)]);
        let lines: Vec<_> = outcomes[0].lines.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(lines, ["a", "b"]);
    }

    /// On the paused clock the 1 s timeout fires as soon as nothing else can run: the child,
    /// which would sleep 10 s, is killed and reaped.
    #[tokio::test(start_paused = true)]
    async fn a_child_past_its_timeout_is_killed() {
        let outcome = run_child(HANGS, Duration::from_secs(1)).await.unwrap();
        assert_eq!(outcome.code, None, "killed, no exit code");
        assert_eq!(outcome.took, Duration::from_secs(1));
    }

    #[test]
    fn the_python_twin_prints_its_fields() {
        let args = [
            "--children",
            "2",
            "--at-once",
            "2",
            "--script",
            "sleep 0.01",
        ];
        if let Some(figures) = TWIN.run_for_test(&args) {
            assert!(figures["at_once_s"].as_f64().unwrap() >= 0.01);
        }
    }
}
