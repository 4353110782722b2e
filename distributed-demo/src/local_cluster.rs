//! Starting the processes yourself, on one machine -> this binary launches its peers:
//! free ports, a host file, one child per process, bounded waits, spans sent back.
//!
//! Python (Dask, on one machine):
//!     cluster = LocalCluster(n_workers=2, threads_per_worker=1)   # starts 2 processes
//!     client = Client(cluster)
//!     results = client.gather(client.map(compute, [N] * 16))
//!     client.close(); cluster.close()
//!
//! A timely cluster is N copies of the same program, each told the list of every process's
//! address (the host file, one `HOST:PORT` per line) and which line it is (`--process I`).
//! Process I connects to processes 0..I and waits for the later ones; when all are
//! connected the dataflow runs. Here the parent does what `LocalCluster` does: it picks
//! free ports on 127.0.0.1, writes the host file, starts this binary N times with
//! `--role peer`, and waits for all of them, never without a time limit. There is no
//! scheduler process: the peers are equals, process 0 just holds the task list. Each peer
//! prints one JSON line with its answers and its spans, so the parent can draw everyone on
//! one timeline (timestamps are microseconds since the epoch, comparable between processes).
//!
//! Watch: each process's `connect` bar before its task bars: starting a process and meeting
//! its peers is not free (timely retries a refused connection and looks for new peers once
//! a second, so 1 to 2 s here); the job itself is as fast as with threads.
//!
//! Run only this: cargo run -p distributed-demo -- local-cluster

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use clap::Parser;
use common::cli::{SectionResult, figure, role_command, takeaway, wait_or_kill};
use common::timeline::{Span, Timeline, now_us};
use common::timing::{Secs, Stopwatch};
use serde::{Deserialize, Serialize};
use timely::{CommunicationConfig, WorkerConfig};

use crate::cluster_map::{JOB, Job, WorkerResult, pool_map};
use crate::many_machines::{HostFile, parse_host_file};

/// How long a peer waits for the cluster to form and the job to finish before it gives up.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// How much longer the parent waits for a peer before it kills it.
const MARGIN: Duration = Duration::from_secs(5);

/// What one process of the cluster reports back (one JSON line on its stdout).
#[derive(Debug, Serialize, Deserialize)]
pub struct PeerReport {
    pub process: usize,
    /// Process 0 has the gathered answers, the others `None`.
    pub answers: Option<Vec<u64>>,
    /// Worker 0 of this process: from building the dataflow to being done.
    pub job_us: u64,
    /// From this process starting its peer code to all peers being connected.
    pub connect_us: u64,
    pub spans: Vec<Span>,
}

/// What the peer's threads tell its main thread.
enum Event {
    Connected,
    /// Every local worker finished and the connections shut down cleanly.
    Done(Vec<WorkerResult>),
    Failed(String),
}

/// Be process `process` of the cluster in `addresses`: connect, run the job on `threads`
/// workers, return this process's report. Gives up after `deadline` (timely itself would
/// wait for a missing peer forever).
pub fn run_peer(
    addresses: Vec<String>,
    process: usize,
    threads: usize,
    job: Job,
    deadline: Duration,
) -> anyhow::Result<PeerReport> {
    let started_us = now_us();
    let sw = Stopwatch::start();
    let timeline = Timeline::new();
    let (tx, rx) = mpsc::channel();

    // A worker or network thread that panics (a peer hung up) reports it instead of
    // printing a backtrace; the main thread turns it into an error.
    let previous_hook = std::panic::take_hook();
    let on_panic = tx.clone();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        let what = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("panic");
        let _ = on_panic.send(Event::Failed(format!(
            "lost the cluster: thread '{}': {what}",
            thread.name().unwrap_or("?")
        )));
    }));

    let config = timely::Config {
        communication: CommunicationConfig::Cluster {
            threads,
            process,
            addresses: addresses.clone(),
            report: false,
            zerocopy: false,
        },
        worker: WorkerConfig::default(),
    };
    let connected = Arc::new(AtomicBool::new(false));
    let t = timeline.clone();
    let events = tx.clone();
    // `timely::execute` returns once every peer is connected and the workers are started;
    // joining the workers also waits for the clean shutdown of the connections (so a fast
    // process does not hang up on a slower one). It runs on its own thread so that this
    // one can keep the clock.
    std::thread::Builder::new()
        .name("timely-start".into())
        .spawn(move || {
            let on_start = events.clone();
            let started = timely::execute(config, move |worker| {
                if !connected.swap(true, Ordering::SeqCst) {
                    let _ = on_start.send(Event::Connected);
                }
                let lane = if threads == 1 {
                    format!("process {process}")
                } else {
                    format!("process {process} w{}", worker.index())
                };
                tracing::debug!(process, worker = worker.index(), "connected, running");
                pool_map(worker, job, &t, &lane)
            });
            let event = match started {
                Ok(guards) => guards
                    .join()
                    .into_iter()
                    .collect::<Result<Vec<_>, String>>()
                    .map_or_else(
                        |e| Event::Failed(format!("lost the cluster: {e}")),
                        Event::Done,
                    ),
                Err(e) => Event::Failed(format!("cannot join the cluster: {e}")),
            };
            let _ = events.send(event);
        })
        .context("starting the timely thread")?;
    drop(tx);

    let mut connect_us = None;
    let outcome = loop {
        let left = deadline.saturating_sub(sw.elapsed());
        match rx.recv_timeout(left) {
            Ok(Event::Connected) => {
                connect_us = Some(now_us() - started_us);
                timeline.push(Span {
                    lane: format!("process {process}"),
                    label: "connect".into(),
                    start_us: started_us,
                    end_us: now_us(),
                });
                println!("CONNECTED"); // the parent may wait for this line
            }
            Ok(Event::Done(results)) => break Ok(results),
            Ok(Event::Failed(why)) => break Err(anyhow::anyhow!(why)),
            Err(RecvTimeoutError::Timeout) if connect_us.is_none() => {
                break Err(anyhow::anyhow!(
                    "no cluster after {}: process {process} of {} waited for its peers ({}); start every process of the host file (timely itself would wait forever)",
                    Secs(deadline),
                    addresses.len(),
                    addresses.join(" ")
                ));
            }
            Err(RecvTimeoutError::Timeout) => {
                break Err(anyhow::anyhow!(
                    "the job did not finish within {}: a peer stopped answering",
                    Secs(deadline)
                ));
            }
            Err(RecvTimeoutError::Disconnected) => {
                break Err(anyhow::anyhow!(
                    "the timely workers stopped without an answer"
                ));
            }
        }
    };
    std::panic::set_hook(previous_hook);
    let mut results = outcome?;
    // Worker 0 of the cluster has the answers; otherwise this process's first worker.
    let first = results
        .iter()
        .position(|r| r.answers.is_some())
        .unwrap_or(0);
    ensure!(!results.is_empty(), "no worker ran");
    let job = results.swap_remove(first);
    Ok(PeerReport {
        process,
        answers: job.answers,
        job_us: job.took.as_micros() as u64,
        connect_us: connect_us.unwrap_or(0),
        spans: timeline.spans(),
    })
}

/// `--role peer`: the arguments the parent passes to each process it launches.
#[derive(Parser, Debug)]
#[command(name = "peer")]
struct PeerArgs {
    #[arg(long, value_parser = parse_host_file)]
    hosts: HostFile,
    #[arg(long)]
    process: usize,
    #[arg(long, default_value_t = 1)]
    threads: usize,
    #[arg(long)]
    n: u64,
    #[arg(long)]
    tasks: u64,
    #[arg(long, default_value_t = 1)]
    rounds: u32,
    #[arg(long)]
    deadline_ms: u64,
}

/// The child's side: be one process of the cluster, print the report as one JSON line.
pub fn peer_role(args: &[String]) -> anyhow::Result<()> {
    let args =
        PeerArgs::try_parse_from(std::iter::once("peer").chain(args.iter().map(String::as_str)))
            .map_err(|e| {
                anyhow::anyhow!(
                    "{}",
                    e.to_string().lines().next().unwrap_or("bad arguments")
                )
            })?;
    let hosts = args.hosts.checked_process(args.process)?;
    let report = run_peer(
        hosts,
        args.process,
        args.threads,
        Job {
            n: args.n,
            tasks: args.tasks,
            rounds: args.rounds,
        },
        Duration::from_millis(args.deadline_ms),
    )?;
    println!("REPORT {}", serde_json::to_string(&report)?);
    Ok(())
}

/// A host file for `n` processes on 127.0.0.1, on ports that were free a moment ago.
pub struct LoopbackHosts {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    pub addresses: Vec<String>,
}

pub fn loopback_hosts(n: usize) -> anyhow::Result<LoopbackHosts> {
    // Bind all first, so the ports are distinct; the listeners close before the peers start.
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .context("finding free ports on 127.0.0.1")?;
    let addresses = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.to_string()))
        .collect::<std::io::Result<Vec<_>>>()?;
    drop(listeners);
    let dir = tempfile::tempdir().context("creating a folder for the host file")?;
    let path = dir.path().join("hosts.txt");
    std::fs::write(&path, addresses.join("\n") + "\n").context("writing the host file")?;
    Ok(LoopbackHosts {
        _dir: dir,
        path,
        addresses,
    })
}

/// A running peer process: its stdout lines arrive on a channel, its stderr is collected.
pub struct Peer {
    pub process: usize,
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: JoinHandle<String>,
}

/// How a peer ended: `status` is `None` when it had to be killed.
#[derive(Debug)]
pub struct PeerExit {
    pub process: usize,
    pub status: Option<ExitStatus>,
    pub stdout: Vec<String>,
    pub stderr: String,
}

impl PeerExit {
    /// The report line, if the peer finished its job.
    pub fn report(&self) -> anyhow::Result<PeerReport> {
        let line = self
            .stdout
            .iter()
            .find_map(|l| l.strip_prefix("REPORT "))
            .with_context(|| {
                format!(
                    "process {} gave no report ({}): {}",
                    self.process,
                    self.status
                        .map_or("killed at the time limit".into(), |s| s.to_string()),
                    self.stderr.trim()
                )
            })?;
        serde_json::from_str(line).context("reading a peer's report")
    }

    /// What timely itself printed (its connection log), not our protocol lines.
    pub fn timely_lines(&self) -> impl Iterator<Item = &str> {
        self.stdout
            .iter()
            .map(String::as_str)
            .filter(|l| !l.starts_with("REPORT ") && *l != "CONNECTED")
    }
}

/// Start `demo --role peer` as process `process` of the cluster in `hosts`.
pub fn spawn_peer(
    hosts: &Path,
    process: usize,
    threads: usize,
    job: Job,
    deadline: Duration,
) -> anyhow::Result<Peer> {
    let mut child = role_command(env!("CARGO_PKG_NAME"), "peer")?
        .arg("--hosts")
        .arg(hosts)
        .args(["--process", &process.to_string()])
        .args(["--threads", &threads.to_string()])
        .args(["--n", &job.n.to_string(), "--tasks", &job.tasks.to_string()])
        .args(["--rounds", &job.rounds.to_string()])
        .args(["--deadline-ms", &deadline.as_millis().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting process {process}"))?;
    tracing::debug!(process, pid = child.id(), "peer started");
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let mut stderr = child.stderr.take().context("no stderr pipe")?;
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    Ok(Peer {
        process,
        child,
        lines,
        seen: Vec::new(),
        stderr,
    })
}

impl Peer {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait at most `limit` for the peer to print `line`; true if it did.
    pub fn wait_for_line(&mut self, line: &str, limit: Duration) -> bool {
        let sw = Stopwatch::start();
        while let Ok(next) = self.lines.recv_timeout(limit.saturating_sub(sw.elapsed())) {
            let found = next == line;
            self.seen.push(next);
            if found {
                return true;
            }
        }
        false
    }

    /// Kill the process now (a machine that dies mid-job).
    pub fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()
    }

    /// Wait at most `limit` for the peer to exit (kill it then), and collect what it said.
    pub fn finish(mut self, limit: Duration) -> anyhow::Result<PeerExit> {
        let status = wait_or_kill(&mut self.child, limit)?;
        // The pipes are closed now: the reader threads end.
        self.seen.extend(self.lines.iter());
        let stderr = self.stderr.join().unwrap_or_default();
        Ok(PeerExit {
            process: self.process,
            status,
            stdout: self.seen,
            stderr,
        })
    }
}

/// A whole run of the job on a local cluster.
pub struct ClusterRun {
    pub hosts: Vec<String>,
    pub pids: Vec<u32>,
    pub answers: Vec<u64>,
    /// Process 0's job time, from building the dataflow to the gathered answers.
    pub job_took: Duration,
    /// Wall time from launching the first process to the last one exiting.
    pub started_took: Duration,
    pub reports: Vec<PeerReport>,
}

/// Launch `processes` copies of this binary on 127.0.0.1, `threads` workers each, run `job`,
/// and wait for all of them (each gives up after `deadline`; killed after `deadline` + a margin).
pub fn launch(
    processes: usize,
    threads: usize,
    job: Job,
    deadline: Duration,
) -> anyhow::Result<ClusterRun> {
    // The ports were free when we looked, but another program may take one before the
    // peers bind it: then try again with new ports.
    let mut attempt = 1;
    loop {
        match launch_once(processes, threads, job, deadline) {
            Err(e) if attempt < 3 && format!("{e:#}").contains("Address already in use") => {
                tracing::debug!(attempt, "a port was taken, retrying: {e:#}");
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

fn launch_once(
    processes: usize,
    threads: usize,
    job: Job,
    deadline: Duration,
) -> anyhow::Result<ClusterRun> {
    let sw = Stopwatch::start();
    let hosts = loopback_hosts(processes)?;
    let peers = (0..processes)
        .map(|p| spawn_peer(&hosts.path, p, threads, job, deadline))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let pids = peers.iter().map(Peer::pid).collect();
    let mut exits = Vec::new();
    let mut failed = None;
    for peer in peers {
        // Once one process has failed the job cannot finish: stop the others now.
        let limit = if failed.is_some() {
            Duration::ZERO
        } else {
            deadline + MARGIN
        };
        let exit = peer.finish(limit)?;
        if failed.is_none() && !exit.status.is_some_and(|s| s.success()) {
            failed = Some(format!(
                "process {} failed: {}",
                exit.process,
                last_line(&exit.stderr)
            ));
        }
        exits.push(exit);
    }
    if let Some(why) = failed {
        bail!(why);
    }
    let started_took = sw.elapsed();
    let reports = exits
        .iter()
        .map(PeerExit::report)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let first = &reports[0];
    Ok(ClusterRun {
        hosts: hosts.addresses.clone(),
        pids,
        answers: first.answers.clone().context("process 0 has no answers")?,
        job_took: Duration::from_micros(first.job_us),
        started_took,
        reports,
    })
}

/// The last line a process wrote (its error, when it failed).
pub fn last_line(text: &str) -> &str {
    text.lines().last().unwrap_or("(nothing)").trim()
}

pub fn run() -> SectionResult {
    let job = Job { rounds: 1, ..JOB };
    let processes = 2;
    let run = launch(processes, 1, job, DEADLINE)?;
    job.check(&run.answers)?;
    println!("  host file (one line per process, line I is process I):");
    for (i, host) in run.hosts.iter().enumerate() {
        println!("    {host:<22} process {i}, pid {}", run.pids[i]);
    }
    let timeline = Timeline::new();
    for report in &run.reports {
        timeline.extend(report.spans.iter().cloned());
        figure(
            format!("process {} connected after", report.process),
            Secs(Duration::from_micros(report.connect_us)),
        );
    }
    println!(
        "  (timely retries a refused connection and looks for new peers once a second: 1-2 s)"
    );
    figure("job (process 0, worker 0)", Secs(run.job_took));
    figure("launch to last exit", Secs(run.started_took));
    timeline.print();
    takeaway(format!(
        "{processes} processes, one command: the parent writes the host file, starts each peer with --process I, and bounds every wait"
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Job = Job {
        n: 10_000,
        tasks: 5,
        rounds: 1,
    };

    #[test]
    fn two_processes_on_loopback_give_the_sequential_answer() {
        let run = launch(2, 1, SMALL, DEADLINE).unwrap();
        SMALL.check(&run.answers).unwrap();
        assert_eq!(run.reports.len(), 2);
        assert!(run.reports[1].answers.is_none(), "only process 0 gathers");
        let lanes: Vec<_> = run
            .reports
            .iter()
            .flat_map(|r| &r.spans)
            .map(|s| s.lane.as_str())
            .collect();
        assert!(
            lanes.contains(&"process 0") && lanes.contains(&"process 1"),
            "{lanes:?}"
        );
        let tasks = run
            .reports
            .iter()
            .flat_map(|r| &r.spans)
            .filter(|s| s.label.starts_with("task"))
            .count();
        assert_eq!(
            tasks, SMALL.tasks as usize,
            "every task computed once, somewhere"
        );
    }

    #[test]
    fn loopback_host_file_has_one_free_port_per_process() {
        let hosts = loopback_hosts(3).unwrap();
        let text = std::fs::read_to_string(&hosts.path).unwrap();
        let parsed = parse_host_file(hosts.path.to_str().unwrap()).unwrap();
        assert_eq!(parsed.addresses, hosts.addresses);
        assert_eq!(text.lines().count(), 3);
        let mut ports: Vec<_> = hosts
            .addresses
            .iter()
            .map(|a| a.rsplit_once(':').unwrap().1)
            .collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 3);
    }
}
