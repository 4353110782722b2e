//! The launcher every section that runs processes shares (plumbing, not a lesson: read
//! `cluster_map.rs` and `local_cluster.rs` first).
//!
//! - The peer's side ([`run_peer`]): join the cluster in a host file as process I, run
//!   [`crate::dataflow::pool_map`] round after round, and give up after a deadline (timely
//!   itself would wait for a missing peer forever). A worker thread that panics because a
//!   peer hung up becomes an error, not a backtrace. The peer's spans (connecting, each
//!   task) come back as data in its [`PeerReport`], one JSON line on its stdout.
//! - The parent's side: free ports on 127.0.0.1 and a host file ([`loopback_hosts`]), one
//!   child per process (`--role peer`, [`spawn_peer`]), bounded waits ([`Peer::finish`]),
//!   and [`launch`], all of it for one run of the job, retried when a port was taken.

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use common::awake::AwakeClock;
use common::child::role_command;
/// Bounded by awake time, like [`Budget`].
pub use common::child::wait_or_kill;
use common::timeline::{Recorded, Recording, Span, SpanRecord, now_us};
use common::timing::{Secs, Stopwatch};
use common::workload::sum_of_squares;
use serde::{Deserialize, Serialize};
use timely::worker::Worker;

use crate::dataflow::{Job, pool_map};

/// How long a peer waits for the cluster to form and the job to finish before it gives up.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// How much longer the parent waits for a peer before it kills it.
pub const MARGIN: Duration = Duration::from_secs(5);

/// What one worker did: the answers of every round (worker 0 of the cluster; the others
/// `None`) and its fastest round, from building the dataflow to being done.
#[derive(Debug)]
pub struct WorkerResult {
    pub answers: Option<Vec<u64>>,
    pub took: Duration,
}

/// `rounds` rounds of the job with `compute = sum_of_squares` on this worker. The figure is
/// the fastest round: the machine is shared, one round can be unlucky.
pub fn pool_map_rounds(worker: &mut Worker, job: Job, rounds: u32) -> WorkerResult {
    let mut answers: Option<Vec<u64>> = None;
    let mut fastest = Duration::MAX;
    for _ in 0..rounds {
        let sw = Stopwatch::start();
        let round = pool_map(worker, job, sum_of_squares);
        fastest = fastest.min(sw.elapsed());
        if let Some(a) = round {
            answers.get_or_insert_with(Vec::new).extend(a);
        }
    }
    WorkerResult {
        answers,
        took: fastest,
    }
}

/// The `task` and `connect` spans of a recording as timeline bars (`task 3` in the lane
/// `lane` gives it), to draw here or to send to the parent.
pub fn bars(recorded: &Recorded, lane: impl Fn(&SpanRecord) -> String) -> Vec<Span> {
    recorded
        .named(&["task", "connect"])
        .spans()
        .iter()
        .map(|s| Span {
            lane: lane(s),
            label: match s.field("id") {
                Some(id) => format!("{} {id}", s.name),
                None => s.name.to_owned(),
            },
            start_us: s.start_us,
            end_us: s.end_us,
        })
        .collect()
}

/// What one process of the cluster reports back (one JSON line on its stdout).
#[derive(Debug, Serialize, Deserialize)]
pub struct PeerReport {
    pub process: usize,
    /// Process 0 has the gathered answers, the others `None`.
    pub answers: Option<Vec<u64>>,
    /// Worker 0 of this process: its fastest round.
    pub job_us: u64,
    /// From this process starting its peer code to all peers being connected.
    pub connect_us: u64,
    /// Its `connect` and `task` spans, microseconds since the epoch (comparable between
    /// processes on one machine).
    pub spans: Vec<Span>,
}

impl PeerReport {
    /// The line a peer prints, and the parent looks for.
    pub fn line(&self) -> anyhow::Result<String> {
        Ok(format!("REPORT {}", serde_json::to_string(self)?))
    }

    /// The report in a peer's standard output, if it finished its job.
    pub fn find<'a>(mut stdout: impl Iterator<Item = &'a str>) -> Option<anyhow::Result<Self>> {
        let line = stdout.find_map(|l| l.strip_prefix("REPORT "))?;
        Some(serde_json::from_str(line).context("reading a peer's report"))
    }

    /// How many tasks this process computed.
    pub fn tasks(&self) -> usize {
        self.spans
            .iter()
            .filter(|s| s.label.starts_with("task"))
            .count()
    }
}

/// What the peer's threads tell its main thread.
enum Event {
    Connected,
    /// Every local worker finished and the connections shut down cleanly.
    Done(Vec<WorkerResult>),
    Failed(String),
}

/// What each worker of a peer runs: the job, round after round.
pub type PeerWork = Box<dyn Fn(&mut Worker) -> WorkerResult + Send + Sync>;

/// Be process `cluster.process` of the cluster: connect to every peer and check it is of the
/// same job ([`connect_peers`], at most `cluster.wait`), run the job `rounds` times, return
/// this process's report. `join` starts the timely workers of this process on the connected
/// sockets and runs `work` on each (`cluster_map::on_cluster`). Prints `CONNECTED` once
/// every peer is connected. The job gives up `deadline` after connecting (timely itself
/// would wait for a missing or stopped peer forever). Time this process spends stopped
/// (Ctrl-Z) does not count.
pub fn run_peer<J>(
    cluster: &Membership,
    job: Job,
    rounds: u32,
    deadline: Duration,
    join: J,
) -> anyhow::Result<PeerReport>
where
    J: FnOnce(Vec<Option<TcpStream>>, PeerWork) -> Result<Vec<WorkerResult>, String>
        + Send
        + 'static,
{
    let process = cluster.process;
    let recording = Recording::start();
    let started_us = now_us();
    let connecting = tracing::info_span!("connect", process);
    let (tx, rx) = mpsc::channel();
    // A worker or network thread that panics (a peer hung up) reports it instead of
    // printing a backtrace; the main thread turns it into an error.
    let previous_hook = std::panic::take_hook();
    let on_panic = tx.clone();
    std::panic::set_hook(Box::new(move |info| {
        let what = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("panic");
        let thread = std::thread::current();
        let thread = thread.name().unwrap_or("?");
        let _ = on_panic.send(Event::Failed(format!(
            "lost the cluster: thread '{thread}': {what}"
        )));
    }));
    let outcome = start_timely(cluster, job, rounds, join, tx)
        .and_then(|()| await_workers(&rx, cluster, deadline, connecting));
    std::panic::set_hook(previous_hook);
    let (mut results, connected_at) = outcome?;
    ensure!(!results.is_empty(), "no worker ran");
    // Worker 0 of the cluster has the answers; otherwise this process's first worker.
    let first = results
        .iter()
        .position(|r| r.answers.is_some())
        .unwrap_or(0);
    let spans = bars(&recording.finish(), |s| match (s.name, s.field("worker")) {
        // several workers per process: a lane each
        ("task", Some(w)) if results.len() > 1 => format!("process {process} w{w}"),
        _ => format!("process {process}"),
    });
    let job = results.swap_remove(first);
    Ok(PeerReport {
        process,
        answers: job.answers,
        job_us: job.took.as_micros() as u64,
        connect_us: connected_at.map_or(0, |at| at - started_us),
        spans,
    })
}

/// The thread that connects to the peers and then runs the workers (`join` returns when
/// they are done and the connections are shut down cleanly, so a fast process does not hang
/// up on a slower one): on its own thread, so that the caller can keep the clock.
fn start_timely<J>(
    cluster: &Membership,
    job: Job,
    rounds: u32,
    join: J,
    events: mpsc::Sender<Event>,
) -> anyhow::Result<()>
where
    J: FnOnce(Vec<Option<TcpStream>>, PeerWork) -> Result<Vec<WorkerResult>, String>
        + Send
        + 'static,
{
    let (process, membership) = (cluster.process, cluster.clone());
    let connected = Arc::new(AtomicBool::new(false));
    std::thread::Builder::new()
        .name("timely-start".into())
        .spawn(move || {
            let on_start = events.clone();
            let work: PeerWork = Box::new(move |worker| {
                if !connected.swap(true, Ordering::SeqCst) {
                    let _ = on_start.send(Event::Connected);
                }
                tracing::debug!(process, worker = worker.index(), "connected, running");
                pool_map_rounds(worker, job, rounds)
            });
            let event = match connect_peers(&membership) {
                Err(e) => Event::Failed(format!("{e:#}")),
                Ok(sockets) => match join(sockets, work) {
                    Ok(results) => Event::Done(results),
                    Err(e) => Event::Failed(format!("the cluster failed: {e}")),
                },
            };
            let _ = events.send(event);
        })
        .context("starting the timely thread")?;
    Ok(())
}

/// Wait for the workers' results: at most `cluster.wait` (and a little) for the cluster to
/// form (`connect_peers` gives up by itself; this is the backstop), then `deadline` for the
/// job. Also when every peer was connected (`now_us`); the `connect` bar ends then.
fn await_workers(
    rx: &Receiver<Event>,
    cluster: &Membership,
    deadline: Duration,
    connecting: tracing::Span,
) -> anyhow::Result<(Vec<WorkerResult>, Option<u64>)> {
    let mut connecting = Some(connecting);
    let mut connected_at = None;
    let mut budget = Budget::new(cluster.wait + Duration::from_secs(2));
    loop {
        let why = match rx.recv_timeout(budget.left().min(Budget::POLL)) {
            Ok(Event::Connected) => {
                connected_at = Some(now_us());
                drop(connecting.take()); // the `connect` bar ends here
                println!("CONNECTED"); // the parent may wait for this line
                budget = Budget::new(deadline);
                continue;
            }
            Ok(Event::Done(results)) => return Ok((results, connected_at)),
            Ok(Event::Failed(why)) => why,
            Err(RecvTimeoutError::Timeout) if !budget.is_over() => continue,
            Err(RecvTimeoutError::Timeout) if connected_at.is_none() => format!(
                "no cluster after {}: process {} of {} waited for its peers; start every process of the host file",
                Secs(cluster.wait),
                cluster.process,
                cluster.addresses.len(),
            ),
            Err(RecvTimeoutError::Timeout) => format!(
                "the job did not finish within {}: a peer stopped answering",
                Secs(deadline)
            ),
            Err(RecvTimeoutError::Disconnected) => {
                "the timely workers stopped without an answer".to_owned()
            }
        };
        bail!(why);
    }
}

/// `demo --role peer`: process `process` of the cluster in the host file `hosts`.
pub fn peer_command(
    hosts: &Path,
    process: usize,
    threads: usize,
    job: Job,
    rounds: u32,
    deadline: Duration,
) -> std::io::Result<Command> {
    let mut cmd = role_command(env!("CARGO_PKG_NAME"), "peer")?;
    cmd.arg("--hosts")
        .arg(hosts)
        .args(["--wait-ms", &deadline.as_millis().to_string()])
        .args(["--process", &process.to_string()])
        .args(["--threads", &threads.to_string()])
        .args(["--n", &job.n.to_string(), "--tasks", &job.tasks.to_string()])
        .args(["--rounds", &rounds.to_string()])
        .args(["--deadline-ms", &deadline.as_millis().to_string()]);
    Ok(cmd)
}

/// A host file for `n` processes on 127.0.0.1, on ports that were free a moment ago.
pub struct LoopbackHosts {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    pub addresses: Vec<String>,
}

/// A job id unique per launch. The plumbing's copy of `local_cluster`'s lesson function
/// (the lesson must compile alone, and this file must not import a lesson that imports it
/// back); a test there checks that both write the same host file.
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
    std::fs::write(&path, host_file_text(&new_job_id(), &addresses))
        .context("writing the host file")?;
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
        PeerReport::find(self.stdout.iter().map(String::as_str)).with_context(|| {
            format!(
                "process {} gave no report ({}): {}",
                self.process,
                self.status
                    .map_or("killed at the time limit".into(), |s| s.to_string()),
                self.stderr.trim()
            )
        })?
    }

    /// Why it failed, in one line, from what is known.
    pub fn why(&self) -> String {
        why_failed(self.status, &self.stderr)
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
    rounds: u32,
    deadline: Duration,
) -> anyhow::Result<Peer> {
    let mut child = peer_command(hosts, process, threads, job, rounds, deadline)?
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
    pub answers: Vec<u64>,
    /// Process 0's fastest round, from building the dataflow to the gathered answers.
    pub job_took: Duration,
    /// Wall time from launching the first process to the last one exiting.
    pub started_took: Duration,
    pub reports: Vec<PeerReport>,
}

/// Launch `processes` copies of this binary on 127.0.0.1, `threads` workers each, run `job`
/// `rounds` times, and wait for all of them (each gives up after `deadline`; killed after
/// `deadline` + a margin).
pub fn launch(
    processes: usize,
    threads: usize,
    job: Job,
    rounds: u32,
    deadline: Duration,
) -> anyhow::Result<ClusterRun> {
    // The ports were free when we looked, but another program may take one before the
    // peers bind it: then try again with new ports.
    let mut attempt = 1;
    loop {
        match launch_once(processes, threads, job, rounds, deadline) {
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
    rounds: u32,
    deadline: Duration,
) -> anyhow::Result<ClusterRun> {
    let sw = Stopwatch::start();
    let hosts = loopback_hosts(processes)?;
    let peers = (0..processes)
        .map(|p| spawn_peer(&hosts.path, p, threads, job, rounds, deadline))
        .collect::<anyhow::Result<Vec<_>>>()?;
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
            failed = Some(format!("process {} failed: {}", exit.process, exit.why()));
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

/// Why a process failed, from what is known: its last line on stderr, else how it ended
/// (`killed by signal 9 (SIGKILL)`), else that the parent killed it at the time limit.
pub fn why_failed(status: Option<ExitStatus>, stderr: &str) -> String {
    match (stderr.trim().lines().last(), status) {
        (Some(line), _) => line.trim().to_owned(),
        (None, None) => "still running at the time limit: killed".to_owned(),
        (None, Some(status)) => {
            use std::os::unix::process::ExitStatusExt;
            match (status.code(), status.signal()) {
                (_, Some(signal)) => format!(
                    "killed by signal {signal}{} and said nothing",
                    signal_name(signal).map_or(String::new(), |n| format!(" ({n})"))
                ),
                (Some(code), None) => format!("exit code {code} and said nothing"),
                (None, None) => format!("{status} and said nothing"),
            }
        }
    }
}

fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => return None,
    })
}

/// A time limit on an [`AwakeClock`]: time this process spent stopped (Ctrl-Z then `fg`, a
/// suspended laptop) does not count. Callers poll at most every [`Budget::POLL`].
pub struct Budget {
    limit: Duration,
    clock: AwakeClock,
}

impl Budget {
    pub const POLL: Duration = AwakeClock::POLL;
    /// A longer gap between two polls was a stop, not a wait.
    pub const MAX_STEP: Duration = Duration::from_secs(1);

    pub fn new(limit: Duration) -> Self {
        Budget {
            limit,
            clock: AwakeClock::start(Self::MAX_STEP),
        }
    }

    /// What is left of the limit.
    pub fn left(&mut self) -> Duration {
        self.limit.saturating_sub(self.clock.read())
    }

    /// The time waited so far.
    pub fn used(&mut self) -> Duration {
        self.clock.read()
    }

    pub fn is_over(&mut self) -> bool {
        self.left().is_zero()
    }
}

/// One process's place in a cluster: the host file's addresses and job, which line it is,
/// how long it waits for the others, and whether it shows that wait on a terminal.
#[derive(Clone, Debug)]
pub struct Membership {
    pub addresses: Vec<String>,
    pub process: usize,
    pub job: String,
    pub wait: Duration,
    /// Show the wait on stderr: one updating line on a terminal (a process started by hand).
    pub progress: bool,
}

/// The greeting a peer sends on each connection it opens, and the answers.
const HELLO: &str = "distributed-demo peer";

/// Read one `\n`-terminated line of at most 256 bytes, byte by byte: what follows it on the
/// socket is timely's, and must stay there.
fn read_line(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() <= 256 {
        match stream.read(&mut byte)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            _ if byte[0] == b'\n' => return Ok(String::from_utf8_lossy(&line).into_owned()),
            _ => line.push(byte[0]),
        }
    }
    Err(std::io::Error::other("line too long"))
}

/// `key=value` from a greeting.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// Connect to every other process of the cluster and check, before any data flows, that
/// each belongs to the same job; the connected sockets, in process order (`None` at this
/// process), ready for timely (`cluster_map::on_cluster`).
///
/// The protocol, on the host file's ports (timely's own connections, checked first): as in
/// timely, process I listens on line I, connects to processes 0..I and accepts the later
/// ones. The connecting side sends one line, `distributed-demo peer job=ID process=I of=N`;
/// the listening side answers `ok job=ID` or `refused job=ID REASON` and says so on its
/// stderr. A process of another job (two jobs on the same ports) is refused: the connecting
/// one fails with one line, the listening one says so in one line and keeps waiting for its
/// own peer. Gives up after `wait` (time stopped not counted) naming the missing processes.
pub fn connect_peers(cluster: &Membership) -> anyhow::Result<Vec<Option<TcpStream>>> {
    let (me, n, wait) = (cluster.process, cluster.addresses.len(), cluster.wait);
    let listener = TcpListener::bind(&cluster.addresses[me])
        .with_context(|| format!("process {me} cannot listen on {}", cluster.addresses[me]))?;
    listener.set_nonblocking(true)?;
    let mut sockets: Vec<Option<TcpStream>> = (0..n).map(|_| None).collect();
    let mut budget = Budget::new(wait);
    let mut progress = Progress::new(cluster);
    loop {
        let round = connect_earlier(cluster, &mut sockets)
            .and_then(|()| accept_later(cluster, &listener, &mut sockets, &mut progress));
        if round.is_err() {
            progress.clear();
        }
        round?;
        let missing: Vec<usize> = (0..n)
            .filter(|&i| i != me && sockets[i].is_none())
            .collect();
        if missing.is_empty() {
            progress.clear();
            break;
        }
        if budget.is_over() {
            progress.clear();
            let list: Vec<String> = missing
                .iter()
                .take(5)
                .map(|&i| format!("{i} ({})", cluster.addresses[i]))
                .collect();
            bail!(
                "no cluster after {}: process {me} of {n} is still missing process(es) {}{}; start every process of the host file",
                Secs(wait),
                list.join(", "),
                if missing.len() > 5 { ", ..." } else { "" }
            );
        }
        progress.show(n - 1 - missing.len(), n - 1, budget.used(), wait);
        std::thread::sleep(Budget::POLL);
    }
    for socket in sockets.iter_mut().flatten() {
        socket.set_read_timeout(None)?;
        socket.set_nodelay(true)?;
    }
    Ok(sockets)
}

/// Connect to the earlier processes not yet connected, greeting each; a refused connection
/// is retried next round, an answer from another job or program is an error.
fn connect_earlier(cluster: &Membership, sockets: &mut [Option<TcpStream>]) -> anyhow::Result<()> {
    let Membership {
        addresses,
        process: me,
        job,
        ..
    } = cluster;
    let greeting = format!("{HELLO} job={job} process={me} of={}\n", addresses.len());
    for (j, socket) in sockets.iter_mut().enumerate().take(*me) {
        if socket.is_some() {
            continue;
        }
        let Some(mut stream) = try_connect(&addresses[j]) else {
            continue;
        };
        let answer = stream
            .write_all(greeting.as_bytes())
            .and_then(|()| read_line(&mut stream));
        // It closed before answering: maybe it was not listening yet. Retry.
        let Ok(answer) = answer else {
            continue;
        };
        let theirs = field(&answer, "job").unwrap_or("?");
        if answer.starts_with("ok ") && theirs == job {
            *socket = Some(stream);
        } else if answer.starts_with("refused ") {
            bail!(
                "process {j} at {} refused process {me}: it belongs to job {theirs}, this one to job {job} (two jobs on the same ports? make a new host file for each job: --new-hosts)",
                addresses[j]
            );
        } else {
            bail!(
                "{} (line {j} of the host file) is not a distributed-demo peer: it answered '{}'",
                addresses[j],
                answer.chars().take(60).collect::<String>()
            );
        }
    }
    Ok(())
}

/// Accept the later processes that are knocking, each checked: the same job, a line of the
/// same host file. A refused one is told why (and this process says so on stderr).
fn accept_later(
    cluster: &Membership,
    listener: &TcpListener,
    sockets: &mut [Option<TcpStream>],
    progress: &mut Progress,
) -> anyhow::Result<()> {
    let (me, n, job) = (cluster.process, sockets.len(), &cluster.job);
    while let Ok((mut stream, from)) = listener.accept() {
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        let hello = read_line(&mut stream).unwrap_or_default();
        let theirs = field(&hello, "job").unwrap_or("?");
        let index = field(&hello, "process").and_then(|p| p.parse::<usize>().ok());
        let of = field(&hello, "of").and_then(|p| p.parse::<usize>().ok());
        let show = |v: Option<usize>| v.map_or("?".into(), |i| i.to_string());
        let refusal = if !hello.starts_with(HELLO) {
            Some("not a distributed-demo peer".to_owned())
        } else if theirs != job {
            Some(format!("it is of job {theirs}, this process of job {job}"))
        } else if of != Some(n) || !index.is_some_and(|i| i > me && i < n) {
            Some(format!(
                "same job, but it says it is process {} of {}: the host files differ",
                show(index),
                show(of)
            ))
        } else {
            // A second greeting for the same line replaces the first: that peer gave up
            // waiting for our answer and connected again.
            None
        };
        match (refusal, index) {
            (None, Some(i)) => {
                stream.write_all(format!("ok job={job}\n").as_bytes())?;
                sockets[i] = Some(stream);
            }
            (refusal, _) => {
                let why = refusal.unwrap_or_default();
                progress.clear();
                eprintln!("process {me}: refused a connection from {from}: {why}");
                let _ = stream.write_all(format!("refused job={job} {why}\n").as_bytes());
            }
        }
    }
    Ok(())
}

/// One connection attempt, at most a second per address the name resolves to.
fn try_connect(address: &str) -> Option<TcpStream> {
    let stream = address
        .to_socket_addrs()
        .ok()?
        .find_map(|a| TcpStream::connect_timeout(&a, Duration::from_secs(1)).ok())?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    Some(stream)
}

/// The wait for peers on stderr: one line updated in place on a terminal; elsewhere
/// nothing (the section's own line says it is waiting, the result or the error ends it).
struct Progress {
    on: bool,
    drawn: bool,
    last: Option<Instant>,
}

impl Progress {
    fn new(cluster: &Membership) -> Self {
        Progress {
            on: cluster.progress && std::io::stderr().is_terminal(),
            drawn: false,
            // The first draw after a second: a quick cluster shows nothing.
            last: Some(Instant::now() + Duration::from_millis(750)),
        }
    }

    fn show(&mut self, connected: usize, of: usize, waited: Duration, wait: Duration) {
        if !self.on
            || self
                .last
                .is_some_and(|t| Instant::now() < t + Duration::from_millis(250))
        {
            return;
        }
        self.last = Some(Instant::now());
        self.drawn = true;
        eprint!(
            "\r\x1b[K  waiting for peers: {connected} of {of} connected, {:.0} s of {:.0} s",
            waited.as_secs_f64(),
            wait.as_secs_f64()
        );
    }

    fn clear(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[K");
            self.drawn = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Job = Job {
        n: 10_000,
        tasks: 5,
    };

    #[test]
    fn two_processes_on_loopback_give_the_sequential_answer() {
        let run = launch(2, 1, SMALL, 2, DEADLINE).unwrap();
        SMALL.check(&run.answers, 2).unwrap();
        assert_eq!(run.reports.len(), 2);
        assert!(run.reports[1].answers.is_none(), "only process 0 gathers");
        let lanes: Vec<_> = run
            .reports
            .iter()
            .flat_map(|r| &r.spans)
            .map(|s| (s.lane.as_str(), s.label.as_str()))
            .collect();
        for lane in ["process 0", "process 1"] {
            assert!(lanes.contains(&(lane, "connect")), "{lanes:?}");
        }
        let tasks: usize = run.reports.iter().map(PeerReport::tasks).sum();
        assert_eq!(
            tasks,
            2 * SMALL.tasks as usize,
            "every task computed once per round, somewhere"
        );
        assert_eq!(run.reports[1].tasks(), 4, "tasks 1 and 3, two rounds");
    }

    #[test]
    fn two_jobs_on_the_same_ports_refuse_each_other() {
        // Job A and job B: the same two ports, different job ids.
        let a = loopback_hosts(2).unwrap();
        let b_dir = tempfile::tempdir().unwrap();
        let b = b_dir.path().join("hosts.txt");
        std::fs::write(&b, host_file_text("job-b", &a.addresses)).unwrap();
        // A's process 0 listens on the first port; B's process 1 connects to it.
        let a0 = spawn_peer(&a.path, 0, 1, SMALL, 1, DEADLINE).unwrap();
        let b1 = spawn_peer(&b, 1, 1, SMALL, 1, DEADLINE).unwrap();
        let b1 = b1.finish(DEADLINE + MARGIN).unwrap();
        assert_eq!(b1.status.and_then(|s| s.code()), Some(1), "{b1:?}");
        assert_eq!(
            b1.stderr.trim().lines().count(),
            1,
            "one line: {}",
            b1.stderr
        );
        assert!(b1.stderr.contains("refused process 1"), "{}", b1.stderr);
        let a_job = crate::many_machines::parse_host_file(a.path.to_str().unwrap())
            .unwrap()
            .job
            .unwrap();
        assert!(
            b1.stderr.contains(&a_job),
            "names the other job: {}",
            b1.stderr
        );
        assert!(b1.report().is_err(), "no answer from another job's peer");
        // A's process 0 said so in one line and went on waiting for its own process 1,
        // which then completes job A.
        let a1 = spawn_peer(&a.path, 1, 1, SMALL, 1, DEADLINE).unwrap();
        let a0 = a0.finish(DEADLINE + MARGIN).unwrap();
        let a1 = a1.finish(DEADLINE + MARGIN).unwrap();
        let refused: Vec<&str> = a0.stderr.lines().collect();
        assert_eq!(refused.len(), 1, "{}", a0.stderr);
        assert!(refused[0].contains("refused a connection"), "{}", a0.stderr);
        assert!(refused[0].contains("job-b"), "{}", a0.stderr);
        SMALL
            .check(a0.report().unwrap().answers.as_deref().unwrap(), 1)
            .unwrap();
        assert!(a1.status.unwrap().success(), "{a1:?}");
    }

    #[test]
    fn a_killed_process_is_described_by_its_signal() {
        let mut child = Command::new("sh")
            .args(["-c", "kill -9 $$"])
            .spawn()
            .unwrap();
        let status = wait_or_kill(&mut child, Duration::from_secs(30)).unwrap();
        assert_eq!(
            why_failed(status, ""),
            "killed by signal 9 (SIGKILL) and said nothing"
        );
        assert_eq!(why_failed(status, "error: one\nerror: two\n"), "error: two");
        assert_eq!(
            why_failed(None, ""),
            "still running at the time limit: killed"
        );
    }

    #[test]
    fn time_stopped_is_not_time_waited() {
        // A gap between two polls longer than MAX_STEP (as after Ctrl-Z, then fg) counts
        // as MAX_STEP.
        let two_minutes_ago = Instant::now()
            .checked_sub(Duration::from_secs(120))
            .expect("the machine has been up for two minutes");
        let mut budget = Budget {
            limit: Duration::from_secs(3600),
            clock: AwakeClock::start_at(Budget::MAX_STEP, two_minutes_ago),
        };
        assert!(budget.used() <= Budget::MAX_STEP + Duration::from_millis(100));
        assert!(!budget.is_over());
        assert!(Budget::new(Duration::ZERO).is_over());
    }

    #[test]
    fn loopback_host_file_has_one_free_port_per_process() {
        let hosts = loopback_hosts(3).unwrap();
        let text = std::fs::read_to_string(&hosts.path).unwrap();
        let (job, addresses) = crate::many_machines::parse_hosts(&text).unwrap();
        assert!(job.is_some(), "a job line: {text}");
        assert_eq!(addresses, hosts.addresses);
        let mut ports: Vec<_> = hosts
            .addresses
            .iter()
            .map(|a| {
                let (host, port) = a.rsplit_once(':').unwrap();
                assert_eq!(host, "127.0.0.1");
                port
            })
            .collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 3);
    }

    #[test]
    fn a_report_survives_the_trip_through_stdout() {
        let report = PeerReport {
            process: 1,
            answers: None,
            job_us: 5,
            connect_us: 7,
            spans: vec![Span {
                lane: "process 1".into(),
                label: "task 3".into(),
                start_us: 1,
                end_us: 2,
            }],
        };
        let stdout = ["timely says hello".to_owned(), report.line().unwrap()];
        let back = PeerReport::find(stdout.iter().map(String::as_str))
            .unwrap()
            .unwrap();
        assert_eq!((back.process, back.tasks()), (1, 1));
        assert!(PeerReport::find(["CONNECTED"].into_iter()).is_none());
    }
}
