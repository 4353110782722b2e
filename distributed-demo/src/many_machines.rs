//! A cluster of machines (Dask's `dask scheduler` + `dask worker tcp://...`, Ray's
//! `ray start --head` / `ray start --address=...`) -> the same binary on every machine, one
//! host file, `--process I` on machine I.
//!
//! Python (Dask):
//!     host0$ dask scheduler                      # prints tcp://host0:8786
//!     host1$ dask worker tcp://host0:8786
//!     host2$ dask worker tcp://host0:8786
//!     client = Client("tcp://host0:8786"); client.gather(client.map(compute, [N] * 16))
//!
//! Rust with timely (copy the binary and `hosts.txt` to every machine):
//!     $ cat hosts.txt                            # line I = where process I listens
//!     host0:2101
//!     host1:2101
//!     host0$ distributed-demo many-machines --hosts hosts.txt --process 0
//!     host1$ distributed-demo many-machines --hosts hosts.txt --process 1
//!
//! There is no scheduler or head node: every process is an equal peer that runs the whole
//! program; the host file is the cluster. Start them in any order: each waits for the
//! others (here at most two minutes, then it exits with an error naming the host file).
//! Process 0 holds the task list and prints the checked answer. The ports in the host file
//! must be open between the machines; the traffic is plain, unauthenticated TCP, so keep
//! it on a private network. Add `--threads T` for T workers per process.
//!
//! The lesson here is the host file: one `HOST:PORT` per line, checked line by line; each
//! process turns it into `Config::Cluster` (`cluster_map::on_cluster`).
//!
//! Watch: without `--process`, this section writes a host file for two processes on
//! 127.0.0.1 and runs exactly the two commands above (same arguments, same file name) as
//! child processes, to show they work as written.
//!
//! Run only this: cargo run -p distributed-demo -- many-machines

use anyhow::ensure;

/// A parsed host file: where it was, and the address of each process in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostFile {
    pub path: String,
    pub addresses: Vec<String>,
}

/// Read and check a host file. The error is one line: which line is wrong and what a good
/// one looks like.
pub fn parse_host_file(path: &str) -> Result<HostFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
    let addresses = parse_hosts(&text)?;
    Ok(HostFile {
        path: path.to_owned(),
        addresses,
    })
}

/// One `HOST:PORT` per line; blank lines and `#` comments skipped; no duplicates.
pub fn parse_hosts(text: &str) -> Result<Vec<String>, String> {
    let mut addresses: Vec<String> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let valid = line.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty()
                && !host.contains(char::is_whitespace)
                && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !valid {
            return Err(format!(
                "line {}: '{line}' is not HOST:PORT (like 10.0.0.5:2101)",
                number + 1
            ));
        }
        if addresses.iter().any(|a| a == line) {
            return Err(format!("line {}: '{line}' is listed twice", number + 1));
        }
        addresses.push(line.to_owned());
    }
    if addresses.is_empty() {
        return Err("no HOST:PORT lines in it".to_owned());
    }
    Ok(addresses)
}

impl HostFile {
    /// The addresses, if `process` is one of its lines; otherwise a one-line error.
    pub fn checked_process(&self, process: usize) -> anyhow::Result<Vec<String>> {
        ensure!(
            process < self.addresses.len(),
            "--process {process} is not in {}: it lists {} process(es), valid: 0..={}",
            self.path,
            self.addresses.len(),
            self.addresses.len() - 1
        );
        Ok(self.addresses.clone())
    }
}

// --- run and measure ---

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use common::child::{demo_exe, wait_or_kill};
use common::cli::{Section, SectionResult, UsageError};
use common::print::{figure, takeaway};
use common::timing::Secs;

use crate::cluster::{PeerReport, loopback_hosts, run_peer};
use crate::cluster_map::on_cluster;
use crate::dataflow::{JOB, Job};

pub const SECTION: Section<Options> = Section::with_options(
    "many-machines",
    "dask worker tcp://host0:8786 / ray start --address",
    "the commands for several machines (--hosts FILE --process I), run over loopback",
    run,
);

/// How long a process started by hand waits for the rest of the cluster.
pub const MANUAL_DEADLINE: Duration = Duration::from_secs(120);

const HOSTS_HELP: &str = "\
Run the many-machines section as process I of a cluster described by FILE.
FILE has one HOST:PORT per line; line I (from 0) is where process I listens.
Blank lines and lines starting with # are skipped. On every machine, with the
same binary and the same file:
  host0$ distributed-demo many-machines --hosts hosts.txt --process 0
  host1$ distributed-demo many-machines --hosts hosts.txt --process 1
Each process waits at most 120 s for the others; process 0 prints the answer.";

// The demo-wide options: only the many-machines section reads them. (A `///` comment here
// would replace the demo's `about` line in --help.)
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Options {
    /// The cluster's host file: one HOST:PORT per line, line I for process I
    #[arg(long, value_name = "FILE", value_parser = parse_host_file, long_help = HOSTS_HELP)]
    pub hosts: Option<HostFile>,
    /// Which line of the host file this process is (0 = the one that prints the answer)
    #[arg(long, value_name = "I")]
    pub process: Option<usize>,
    /// Timely worker threads per process
    #[arg(long, value_name = "T", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: u16,
}

/// `--role peer`: the arguments the launcher (`cluster::peer_command`) passes to each
/// process it starts: the same host file and `--process I` as on a real machine.
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

/// The child's side of every launched cluster: be one process of the cluster in the host
/// file, print the report as one JSON line.
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
    let job = Job {
        n: args.n,
        tasks: args.tasks,
    };
    let deadline = Duration::from_millis(args.deadline_ms);
    let report = join_cluster(
        hosts,
        args.process,
        args.threads,
        job,
        args.rounds,
        deadline,
    )?;
    println!("{}", report.line()?);
    Ok(())
}

/// Be line `process` of the host file's cluster, `threads` workers here: `on_cluster` with
/// the launcher's deadline and report around it.
fn join_cluster(
    addresses: Vec<String>,
    process: usize,
    threads: usize,
    job: Job,
    rounds: u32,
    deadline: Duration,
) -> anyhow::Result<PeerReport> {
    let hosts = addresses.clone();
    run_peer(&addresses, process, job, rounds, deadline, move |work| {
        on_cluster(hosts, process, threads, work)
    })
}

pub fn run(options: &Options) -> SectionResult {
    let threads = usize::from(options.threads);
    match (&options.hosts, options.process) {
        (None, None) => on_loopback(),
        (Some(hosts), Some(process)) => match hosts.checked_process(process) {
            Ok(addresses) => as_one_process(addresses, process, threads),
            Err(e) => usage_error(&e.to_string()),
        },
        (Some(_), None) => {
            usage_error("--hosts FILE needs --process I (which line of FILE this process is)")
        }
        (None, Some(_)) => usage_error("--process I needs --hosts FILE (the cluster's host file)"),
    }
}

/// A user's bad input: the runner prints it as one line and exits with code 2 (clap cannot
/// check one option against the content of another's file).
fn usage_error(message: &str) -> SectionResult {
    Err(UsageError(message.to_owned()).into())
}

/// This process is line `process` of the host file: join the cluster, run the job.
fn as_one_process(addresses: Vec<String>, process: usize, threads: usize) -> SectionResult {
    println!(
        "  process {process} of {} ({}), {threads} worker thread(s); waiting for the others",
        addresses.len(),
        addresses[process]
    );
    let report = join_cluster(addresses, process, threads, JOB, 1, MANUAL_DEADLINE)?;
    figure(
        "connected after",
        Secs(Duration::from_micros(report.connect_us)),
    );
    figure("job", Secs(Duration::from_micros(report.job_us)));
    figure("tasks computed here", report.tasks());
    if let Some(answers) = &report.answers {
        JOB.check(answers, 1)?;
        println!(
            "  answers: {} x {} = the sequential answer",
            answers.len(),
            answers[0]
        );
    }
    takeaway(
        "every process ran the same binary; the host file was the whole cluster configuration",
    );
    Ok(())
}

/// Prove the commands: write `hosts.txt` for two processes on 127.0.0.1 and run them.
fn on_loopback() -> SectionResult {
    let hosts = loopback_hosts(2)?;
    let dir = hosts.path.parent().context("host file has no folder")?;
    println!("  $ cat hosts.txt");
    for address in &hosts.addresses {
        println!("  {address}");
    }
    let exe = demo_exe(env!("CARGO_PKG_NAME"))?;
    let mut children = Vec::new();
    for process in 0..hosts.addresses.len() {
        let args = [
            "many-machines",
            "--hosts",
            "hosts.txt",
            "--process",
            &process.to_string(),
        ];
        println!("  host{process}$ distributed-demo {}", args.join(" "));
        let child = command(&exe, dir, &args)
            .spawn()
            .with_context(|| format!("starting process {process}"))?;
        children.push(child);
    }
    for (process, mut child) in children.into_iter().enumerate() {
        // Never hang: each process gives up by itself after MANUAL_DEADLINE; this is the backstop.
        let status = wait_or_kill(&mut child, Duration::from_secs(60))?;
        let mut out = String::new();
        if let Some(mut stdout) = child.stdout.take() {
            std::io::Read::read_to_string(&mut stdout, &mut out)?;
        }
        ensure!(
            status.is_some_and(|s| s.success()),
            "process {process} failed ({status:?}): {out}"
        );
        for line in out.lines().filter(|l| l.starts_with("  ")) {
            println!("    [host{process}] {}", line.trim_start());
        }
        if process == 0 {
            ensure!(
                out.contains("= the sequential answer"),
                "process 0 did not print the checked answer: {out}"
            );
        }
    }
    takeaway(
        "the same two commands work on two machines: copy the binary and hosts.txt, put real addresses in it",
    );
    Ok(())
}

fn command(exe: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_files_with_comments_and_blank_lines_parse() {
        let text = "# two machines\n10.0.0.5:2101\n\n  host-b.example:2102  \n[::1]:2103\n";
        assert_eq!(
            parse_hosts(text).unwrap(),
            ["10.0.0.5:2101", "host-b.example:2102", "[::1]:2103"]
        );
    }

    #[test]
    fn malformed_host_files_get_a_one_line_error_naming_the_line() {
        for (text, expected) in [
            (
                "10.0.0.5:2101\nhost-b\n",
                "line 2: 'host-b' is not HOST:PORT",
            ),
            ("a:1\nb:99999\n", "line 2: 'b:99999' is not HOST:PORT"),
            (":2101\n", "line 1: ':2101' is not HOST:PORT"),
            ("a b:2101\n", "line 1"),
            ("a:1\na:1\n", "line 2: 'a:1' is listed twice"),
            ("# nothing\n\n", "no HOST:PORT lines"),
        ] {
            let err = parse_hosts(text).unwrap_err();
            assert!(err.contains(expected), "{text:?}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn process_must_be_a_line_of_the_file() {
        let hosts = HostFile {
            path: "hosts.txt".into(),
            addresses: vec!["a:1".into(), "b:2".into()],
        };
        assert_eq!(hosts.checked_process(1).unwrap().len(), 2);
        let err = hosts.checked_process(2).unwrap_err().to_string();
        assert!(err.contains("valid: 0..=1"), "{err}");
    }

    #[test]
    fn a_missing_file_is_an_error_not_a_panic() {
        let err = parse_host_file("/nonexistent/hosts.txt").unwrap_err();
        assert!(err.starts_with("cannot read it"), "{err}");
    }
}
