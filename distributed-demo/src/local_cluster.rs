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
//! connected the dataflow runs. `local_cluster` below does what `LocalCluster` does: it
//! picks free ports on 127.0.0.1, writes the host file, starts the program N times, and
//! waits for all of them, never without a time limit. There is no scheduler process: the
//! peers are equals, process 0 just holds the task list. Here each peer is this binary
//! (`--role peer`); it prints one JSON line with its answers and its spans, so the parent
//! can draw everyone on one timeline (timestamps are microseconds since the epoch,
//! comparable between processes).
//!
//! Watch: each process's `connect` bar before its task bars: starting a process and meeting
//! its peers (each connection checked for the job id, a refused one retried every 100 ms)
//! is not free; then the task bars of the same dataflow as in `cluster-map`, half of the
//! tasks in each process.
//!
//! Copied, `main` is the launcher and, started again as `--role local-peer HOSTS I` (the
//! twin of `if __name__ == "__main__":`), each peer: it reads the host file, takes its
//! line's port and says so. The demo's peers run the dataflow there (`cluster_map.rs`).
//!
//! Run only this: cargo run -p distributed-demo -- local-cluster
//! Copy it: cargo add anyhow@1 tempfile@3 tracing@0.1

use std::fs::File;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::Context;

/// How one process of the local cluster ended, and what it printed.
#[derive(Debug)]
pub struct PeerOutput {
    pub process: usize,
    pub pid: u32,
    /// `None`: it was still running at the time limit, so it was killed.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

/// A finished local cluster: the host file's lines and each process's output.
#[derive(Debug)]
pub struct LocalCluster {
    pub addresses: Vec<String>,
    pub peers: Vec<PeerOutput>,
}

/// `LocalCluster(n_workers=processes)`: start `processes` copies of a program as one cluster
/// on this machine and wait for all of them, at most `limit`; once one fails, the others are
/// stopped. `peer(i, host_file)` is the command for process `i`.
pub fn local_cluster(
    processes: usize,
    peer: impl Fn(usize, &Path) -> std::io::Result<Command>,
    limit: Duration,
) -> std::io::Result<LocalCluster> {
    // 1. Free ports on 127.0.0.1: bind them all first (so they differ), then let them go.
    //    (Another program could take one before the peers bind it: then run it again.)
    let listeners = (0..processes)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    let addresses = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.to_string()))
        .collect::<std::io::Result<Vec<_>>>()?;
    drop(listeners);

    // 2. The host file: a job id, new for every launch (each process checks that its
    //    peers have the same one), then line I: where process I listens.
    let dir = tempfile::tempdir()?;
    let hosts = dir.path().join("hosts.txt");
    std::fs::write(&hosts, host_file_text(&new_job_id(), &addresses))?;

    // 3. One process per line, told its line. Output goes to files: a pipe nobody reads
    //    while we wait could fill up and stop the child.
    let mut running: Vec<(Child, Option<tracing::Span>)> = Vec::new();
    for process in 0..processes {
        let out = File::create(dir.path().join(format!("{process}.out")))?;
        let err = File::create(dir.path().join(format!("{process}.err")))?;
        let child = peer(process, &hosts)?.stdout(out).stderr(err).spawn()?;
        // A span from start to exit: the process's bar on a timeline.
        let alive = tracing::info_span!("process", process, pid = child.id());
        running.push((child, Some(alive)));
    }

    // 4. Wait for all of them, never past `limit`, and not after one has failed (the job
    //    cannot finish without it): kill whoever is still running then. The limit counts
    //    time waited, not time this process was stopped (Ctrl-Z, then `fg`): each pass
    //    counts at most 100 ms.
    let mut waited = Duration::ZERO;
    let mut last = Instant::now();
    let mut statuses: Vec<Option<ExitStatus>> = vec![None; processes];
    loop {
        for (status, (child, alive)) in statuses.iter_mut().zip(&mut running) {
            if status.is_none() {
                *status = child.try_wait()?;
                if status.is_some() {
                    alive.take(); // the bar ends at the exit
                }
            }
        }
        let all_done = statuses.iter().all(Option::is_some);
        let one_failed = statuses.iter().flatten().any(|s| !s.success());
        waited += last.elapsed().min(Duration::from_millis(100));
        last = Instant::now();
        if all_done || one_failed || waited >= limit {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut peers = Vec::new();
    for (process, ((mut child, _alive), status)) in running.into_iter().zip(statuses).enumerate() {
        if status.is_none() {
            child.kill()?;
            child.wait()?;
        }
        let read = |ext: &str| std::fs::read_to_string(dir.path().join(format!("{process}.{ext}")));
        peers.push(PeerOutput {
            process,
            pid: child.id(),
            status,
            stdout: read("out")?,
            stderr: read("err")?,
        });
    }
    Ok(LocalCluster { addresses, peers })
}

/// A job id unique per launch: the time, this process and a random seed, hashed.
pub fn new_job_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// The text of a host file: the job line, then line I for process I.
pub fn host_file_text(job: &str, addresses: &[String]) -> String {
    format!("job {job}\n{}\n", addresses.join("\n"))
}

/// The peer's side, `--role local-peer HOSTS I`: find line I of the host file and listen
/// there, as a timely process does before its peers connect.
pub fn local_peer(args: &[String]) -> anyhow::Result<()> {
    let [hosts, process] = args else {
        anyhow::bail!("local-peer takes HOSTS I, got {args:?}");
    };
    let process: usize = process.parse().context("I is a line number")?;
    let text = std::fs::read_to_string(hosts).with_context(|| format!("reading {hosts}"))?;
    let mut lines = text.lines();
    let job = lines
        .next()
        .and_then(|l| l.strip_prefix("job "))
        .context("no job line")?;
    let addresses: Vec<&str> = lines.collect();
    let mine = addresses.get(process).context("no such line")?;
    let listener = TcpListener::bind(mine).with_context(|| format!("listening on {mine}"))?;
    println!(
        "process {process} of {} (job {job}), listening on {}",
        addresses.len(),
        listener.local_addr()?
    );
    Ok(())
}

/// `LocalCluster(n_workers=2)` of this very program, each copy in the peer's role.
fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, role, rest @ ..] = args.as_slice()
        && flag == "--role"
        && role == "local-peer"
    {
        return local_peer(rest);
    }
    let me = std::env::current_exe()?;
    let peer = |process: usize, hosts: &Path| {
        let mut command = Command::new(&me);
        command
            .args(["--role", "local-peer"])
            .arg(hosts)
            .arg(process.to_string());
        Ok(command)
    };
    let cluster = local_cluster(2, peer, Duration::from_secs(10))?;
    for (address, peer) in cluster.addresses.iter().zip(&cluster.peers) {
        let status = peer
            .status
            .map_or("killed at the limit".into(), |s| s.to_string());
        println!(
            "line {}: {address}, pid {}, {status}",
            peer.process, peer.pid
        );
        println!("  it said: {}", peer.stdout.trim());
        anyhow::ensure!(
            peer.status.is_some_and(|s| s.success()),
            "{}",
            peer.stderr.trim()
        );
    }
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use anyhow::ensure;
use common::cli::{Section, SectionResult};
use common::print::{figure, takeaway};
use common::timeline::{Recording, Span, Timeline};
use common::timing::Secs;

use crate::cluster::{self, DEADLINE, MARGIN, PeerReport, why_failed};
use crate::dataflow::{JOB, Job};

pub const SECTION: Section = Section::new(
    "local-cluster",
    "dask.distributed.LocalCluster(n_workers=2)",
    "this binary starts its peers on 127.0.0.1: host file, bounded waits, spans back",
    run,
)
.main(|| main().report());

/// Start `processes` peers of this binary (`--role peer`, one worker each) on `job`, once;
/// check that each ended on its own and reported; the cluster and the reports.
fn run_job(processes: usize, job: Job) -> anyhow::Result<(LocalCluster, Vec<PeerReport>)> {
    let cluster = local_cluster(
        processes,
        |process, hosts| cluster::peer_command(hosts, process, 1, job, 1, DEADLINE),
        DEADLINE + MARGIN,
    )
    .context("starting the local cluster")?;
    let mut reports = Vec::new();
    for peer in &cluster.peers {
        ensure!(
            peer.status.is_some_and(|s| s.success()),
            "process {} failed: {}",
            peer.process,
            why_failed(peer.status, &peer.stderr)
        );
        let report = PeerReport::find(peer.stdout.lines())
            .with_context(|| format!("process {} gave no report", peer.process))??;
        reports.push(report);
    }
    Ok((cluster, reports))
}

fn run() -> SectionResult {
    let processes = 2;
    let recording = Recording::start();
    let (cluster, reports) = run_job(processes, JOB)?;
    let lifetimes = recording.finish().named(&["process"]);
    let answers = reports[0].answers.as_deref();
    JOB.check(answers.context("process 0 has no answers")?, 1)?;

    println!("  host file (one line per process, line I is process I):");
    for (host, peer) in cluster.addresses.iter().zip(&cluster.peers) {
        println!("    {host:<22} process {}, pid {}", peer.process, peer.pid);
    }
    let us = |us: u64| Secs(Duration::from_micros(us));
    let timeline = Timeline::new();
    timeline.extend(lifetimes.spans().iter().map(|s| Span {
        lane: format!("pid {}", s.field("pid").unwrap_or("?")),
        label: "alive".into(),
        start_us: s.start_us,
        end_us: s.end_us,
    }));
    for report in &reports {
        timeline.extend(report.spans.iter().cloned());
        let label = format!("process {} connected after", report.process);
        figure(label, us(report.connect_us));
    }
    figure("job (process 0, worker 0)", us(reports[0].job_us));
    figure("launch to last exit", Secs(lifetimes.extent()));
    timeline.print();
    takeaway(format!(
        "{processes} processes, one command: the parent wrote the host file, started each peer with --process I, and bounded every wait"
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lesson_and_the_plumbing_write_the_same_host_file() {
        let addresses = ["127.0.0.1:2101".to_owned(), "127.0.0.1:2102".to_owned()];
        assert_eq!(
            host_file_text("job-a", &addresses),
            cluster::host_file_text("job-a", &addresses)
        );
        assert_eq!(new_job_id().len(), cluster::new_job_id().len());
        assert_ne!(new_job_id(), new_job_id(), "a new id every launch");
    }

    fn shell(script: String, hosts: &Path) -> std::io::Result<Command> {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script).arg(hosts); // the host file is $0
        Ok(cmd)
    }

    #[test]
    fn every_process_gets_its_line_and_the_same_host_file() {
        let cluster = local_cluster(
            3,
            |i, hosts| shell(format!("echo process {i}; cat \"$0\""), hosts),
            Duration::from_secs(30),
        )
        .unwrap();
        let mut ports: Vec<_> = cluster
            .addresses
            .iter()
            .map(|a| a.strip_prefix("127.0.0.1:").unwrap())
            .collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 3, "distinct free ports");
        for (i, peer) in cluster.peers.iter().enumerate() {
            assert!(peer.status.unwrap().success());
            let lines: Vec<&str> = peer.stdout.lines().collect();
            assert_eq!(lines[0], format!("process {i}"));
            assert!(lines[1].starts_with("job "), "a job id first: {lines:?}");
            assert_eq!(lines[2..], cluster.addresses, "line I is process I");
        }
    }

    #[test]
    fn a_process_still_running_at_the_limit_is_killed() {
        let cluster = local_cluster(
            2,
            |i, hosts| {
                let script = if i == 0 {
                    "echo done"
                } else {
                    "echo started; exec sleep 60"
                };
                shell(script.to_owned(), hosts)
            },
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(cluster.peers[0].status.unwrap().success());
        assert_eq!(cluster.peers[1].status, None, "killed, not waited for");
        assert_eq!(cluster.peers[1].stdout, "started\n", "its output is kept");
    }

    #[test]
    fn one_failed_process_stops_the_others() {
        let cluster = local_cluster(
            2,
            |i, hosts| {
                let script = if i == 0 { "exit 3" } else { "exec sleep 60" };
                shell(script.to_owned(), hosts)
            },
            Duration::from_secs(60),
        )
        .unwrap();
        assert_eq!(cluster.peers[0].status.unwrap().code(), Some(3));
        assert_eq!(cluster.peers[1].status, None, "stopped, not waited for");
    }

    #[test]
    fn two_peers_of_this_binary_give_the_sequential_answer() {
        let small = Job {
            n: 10_000,
            tasks: 5,
        };
        let (cluster, reports) = run_job(2, small).unwrap();
        assert_eq!(cluster.peers.len(), 2);
        small
            .check(reports[0].answers.as_deref().unwrap(), 1)
            .unwrap();
        assert!(reports[1].answers.is_none(), "only process 0 gathers");
        assert_eq!(reports[0].tasks() + reports[1].tasks(), 5);
    }
}
