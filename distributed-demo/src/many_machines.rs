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
//!     $ distributed-demo --new-hosts hosts.txt host0:2101 host1:2101
//!     $ cat hosts.txt                            # line I = where process I listens
//!     job 5f0c2a9e81d4b7a3
//!     host0:2101
//!     host1:2101
//!     host0$ distributed-demo many-machines --hosts hosts.txt --process 0
//!     host1$ distributed-demo many-machines --hosts hosts.txt --process 1
//!
//! There is no scheduler or head node: every process is an equal peer that runs the whole
//! program; the host file is the cluster. Start them in any order: each waits for the
//! others (`--wait SECS`, 120 by default, then it exits with an error naming who is missing).
//! Process 0 holds the task list and prints the checked answer. The ports in the host file
//! must be open between the machines; the traffic is plain, unauthenticated TCP, so keep
//! it on a private network. Add `--threads T` for T workers per process.
//!
//! The lesson here is the host file: a `job ID` line and one `HOST:PORT` per line, checked
//! line by line. `--new-hosts FILE HOST:PORT...` writes one with a fresh job id, never over
//! an existing file (unless `--force`) nor through a link (`write_host_file`); each
//! process checks that every peer that connects has the same job id before any data flows
//! (`cluster::connect_peers`), so two jobs on the same ports refuse each other instead of
//! pairing up, then hands the connections to timely (`cluster_map::on_cluster`).
//!
//! Watch: without `--process`, this section writes a host file for two processes on
//! 127.0.0.1 and runs exactly the two commands above (same arguments, same file name) as
//! child processes, to show they work as written.
//!
//! Copied, `main` writes a host file for two machines to the temporary folder, reads it
//! back, and shows the one-line errors for a process not in it, a mistyped line, and a
//! second write over the same file.
//!
//! Run only this: cargo run -p distributed-demo -- many-machines
//! Copy it: cargo add anyhow@1

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;

use anyhow::{Context, ensure};

/// A parsed host file: where it was, the job it is for, and the address of each process in
/// order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostFile {
    pub path: String,
    /// The `job ID` line: every process checks that its peers have the same one.
    pub job: Option<String>,
    pub addresses: Vec<String>,
}

/// A host file is a few lines per machine: anything bigger is not one.
pub const MAX_HOST_FILE_BYTES: u64 = 4 << 20;

/// Read and check a host file. The error is one line: which line is wrong and what a good
/// one looks like. Only a regular file is read (a FIFO would block, `/dev/zero` never
/// ends), and at most [`MAX_HOST_FILE_BYTES`].
pub fn parse_host_file(path: &str) -> Result<HostFile, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_file() {
        return Err(format!("cannot read it: {path} is not a regular file"));
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_HOST_FILE_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| format!("cannot read it: {e}"))?;
    if text.len() as u64 > MAX_HOST_FILE_BYTES {
        return Err(format!(
            "{path} is larger than {} MiB: not a host file",
            MAX_HOST_FILE_BYTES >> 20
        ));
    }
    let (job, addresses) = parse_hosts(&text)?;
    Ok(HostFile {
        path: path.to_owned(),
        job,
        addresses,
    })
}

/// A job id: 1 to 64 letters, digits, `-` or `_`.
pub fn valid_job_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `HOST:PORT`, the port all digits in 1..=65535.
fn split_address(line: &str) -> Option<(&str, u16)> {
    let (host, port) = line.rsplit_once(':')?;
    let valid_host = !host.is_empty() && !host.contains(char::is_whitespace);
    let digits = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    let port = port.parse::<u16>().ok().filter(|&p| p > 0)?;
    (valid_host && digits).then_some((host, port))
}

/// One `job ID` line and one `HOST:PORT` per line; blank lines and `#` comments skipped;
/// no endpoint twice, also not under another name (`localhost:2101` beside
/// `127.0.0.1:2101`, `02101` beside `2101`): names are resolved once each, and the socket
/// addresses compared. Linear in the number of lines.
pub fn parse_hosts(text: &str) -> Result<(Option<String>, Vec<String>), String> {
    let mut job: Option<String> = None;
    let mut addresses: Vec<String> = Vec::new();
    let mut seen: HashMap<SocketAddr, usize> = HashMap::new();
    let mut names: HashMap<String, Vec<IpAddr>> = HashMap::new();
    let mut by_name: HashMap<(String, u16), usize> = HashMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(id) = line.strip_prefix("job ") {
            let id = id.trim();
            if !valid_job_id(id) {
                return Err(format!(
                    "line {}: job id '{id}' must be 1 to 64 letters, digits, - or _",
                    number + 1
                ));
            }
            if job.is_some() {
                return Err(format!("line {}: a second job line", number + 1));
            }
            job = Some(id.to_owned());
            continue;
        }
        let Some((host, port)) = split_address(line) else {
            return Err(format!(
                "line {}: '{line}' is not HOST:PORT (like 10.0.0.5:2101) or job ID",
                number + 1
            ));
        };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let ips = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            // A name: resolved once; one that does not resolve here is compared by name.
            Err(_) => names
                .entry(host.to_ascii_lowercase())
                .or_insert_with(|| {
                    (host, 0)
                        .to_socket_addrs()
                        .map(|a| a.map(|a| a.ip()).collect())
                        .unwrap_or_default()
                })
                .clone(),
        };
        let index = addresses.len();
        if let Some(other) = by_name.insert((bare.to_ascii_lowercase(), port), index) {
            return Err(format!(
                "line {}: '{line}' is the same endpoint as '{}' (listed twice)",
                number + 1,
                addresses[other]
            ));
        }
        for ip in ips {
            if let Some(&other) = seen.get(&SocketAddr::new(ip, port)) {
                return Err(format!(
                    "line {}: '{line}' is the same endpoint as '{}' (listed twice)",
                    number + 1,
                    addresses[other]
                ));
            }
            seen.insert(SocketAddr::new(ip, port), index);
        }
        addresses.push(line.to_owned());
    }
    if addresses.is_empty() {
        return Err("no HOST:PORT lines in it".to_owned());
    }
    Ok((job, addresses))
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

/// Write a host file at `path`, which must not exist yet: `create_new` (`O_EXCL`) refuses
/// an existing file and never follows a symbolic link, so a typo cannot clobber another
/// file, nor a link left there redirect the write. `replace`: an existing regular file (not
/// a link) is removed first.
pub fn write_host_file(path: &Path, text: &str, replace: bool) -> std::io::Result<()> {
    let create = || OpenOptions::new().write(true).create_new(true).open(path);
    let mut file = match create() {
        Err(e)
            if e.kind() == ErrorKind::AlreadyExists
                && replace
                && std::fs::symlink_metadata(path)?.is_file() =>
        {
            std::fs::remove_file(path)?;
            create()?
        }
        other => other?,
    };
    file.write_all(text.as_bytes())
}

/// The twin of `if __name__ == "__main__":`: the host file of a two-machine cluster,
/// written, checked as every process checks it, then three mistakes.
fn main() -> anyhow::Result<()> {
    let path = std::env::temp_dir().join(format!("hosts-{}.txt", std::process::id()));
    let text = "job 5f0c2a9e81d4b7a3\n# host0, then host1\n10.0.0.5:2101\n10.0.0.6:2101\n";
    write_host_file(&path, text, false).context("writing the host file")?;
    let again = write_host_file(&path, text, false);
    let read = parse_host_file(&path.to_string_lossy());
    std::fs::remove_file(&path)?;
    let hosts = read.map_err(anyhow::Error::msg)?;
    let job = hosts.job.as_deref().unwrap_or("(none)");
    println!(
        "{}: job {job}, {} processes",
        hosts.path,
        hosts.addresses.len()
    );
    for (process, address) in hosts.addresses.iter().enumerate() {
        println!("  --process {process} listens on {address}");
    }
    println!("--process 2: {}", hosts.checked_process(2).unwrap_err());
    let typo = parse_hosts("job 5f0c2a9e81d4b7a3\n10.0.0.5:2101\n10.0.0.6\n").unwrap_err();
    println!("a line without its port: {typo}");
    println!("writing it again: {}", again.unwrap_err());
    Ok(())
}

// --- run and measure ---

use std::process::{Child, Command, Stdio, Termination};
use std::time::Duration;

use clap::Parser;
use common::child::demo_exe;
use common::cli::{Section, SectionResult, UsageError};
use common::print::{figure, takeaway};
use common::timing::Secs;

use crate::cluster::{Membership, PeerReport, loopback_hosts, run_peer, wait_or_kill, why_failed};
use crate::cluster_map::on_cluster;
use crate::dataflow::{JOB, Job};
use crate::local_cluster::{host_file_text, new_job_id};

pub const SECTION: Section<Options> = Section::with_options(
    "many-machines",
    "dask worker tcp://host0:8786 / ray start --address",
    "the commands for several machines (--hosts FILE --process I), run over loopback",
    run,
)
// A bad host file or a wrong --job is refused before anything runs (no banner, no trace file).
.usage_check(|options| options.check().map_err(UsageError))
.owns_options(&["hosts", "process", "job", "wait"])
.main(|| main().report());

/// How long a process started by hand waits for the rest of the cluster (`--wait`), and
/// then for the job to finish.
pub const MANUAL_DEADLINE: Duration = Duration::from_secs(120);

const HOSTS_HELP: &str = "\
Run the many-machines section as process I of a cluster described by FILE.
FILE has a line `job ID` and one HOST:PORT per line; line I (from 0) is where
process I listens. Blank lines and lines starting with # are skipped. Make it
with --new-hosts (a fresh job id each time), then, on every machine, with the
same binary and the same file:
  $ distributed-demo --new-hosts hosts.txt host0:2101 host1:2101
  host0$ distributed-demo many-machines --hosts hosts.txt --process 0
  host1$ distributed-demo many-machines --hosts hosts.txt --process 1
Each process checks that its peers run the same job, waits at most --wait
seconds (120) for them, and process 0 prints the answer.";

// The demo-wide options: only the many-machines section reads them. (A `///` comment here
// would replace the demo's `about` line in --help.)
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Options {
    /// The cluster's host file: a `job ID` line, one HOST:PORT per line, line I for process I
    #[arg(long, value_name = "FILE", value_parser = parse_host_file, long_help = HOSTS_HELP)]
    pub hosts: Option<HostFile>,
    /// Which line of the host file this process is (0 = the one that prints the answer)
    #[arg(long, value_name = "I")]
    pub process: Option<usize>,
    /// Timely worker threads per process
    #[arg(long, value_name = "T", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: u16,
    /// The job id, if the host file has no `job ID` line (the same on every machine)
    #[arg(long, value_name = "ID", value_parser = parse_job_id)]
    pub job: Option<String>,
    /// Seconds a process waits for the others before it gives up
    #[arg(long, value_name = "SECS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub wait: u64,
    /// Write a host file for a new job (a fresh job id, then the addresses) and exit
    #[arg(long, value_names = ["FILE", "HOST:PORT"], num_args = 2..)]
    pub new_hosts: Vec<String>,
    /// With --new-hosts: replace FILE if it exists (a regular file only, never a link)
    #[arg(long)]
    pub force: bool,
}

fn parse_job_id(id: &str) -> Result<String, String> {
    if valid_job_id(id) {
        Ok(id.to_owned())
    } else {
        Err("a job id is 1 to 64 letters, digits, - or _".to_owned())
    }
}

impl Options {
    /// The demo-wide options checked against each other, before any section runs: one line
    /// naming what is valid.
    pub fn check(&self) -> Result<(), String> {
        self.partners()?;
        if let (Some(hosts), Some(process)) = (&self.hosts, self.process) {
            hosts.checked_process(process).map_err(|e| e.to_string())?;
            self.job_id(hosts)?;
        }
        Ok(())
    }

    /// The options that need each other are given together.
    pub fn partners(&self) -> Result<(), String> {
        match (&self.hosts, self.process) {
            (Some(_), None) => {
                Err("--hosts FILE needs --process I (which line of FILE this process is)".into())
            }
            (None, Some(_)) => {
                Err("--process I needs --hosts FILE (the cluster's host file)".into())
            }
            (None, None) if self.job.is_some() => {
                Err("--job ID needs --hosts FILE and --process I".into())
            }
            _ if self.force && self.new_hosts.is_empty() => {
                Err("--force goes with --new-hosts FILE HOST:PORT... (it replaces FILE)".into())
            }
            _ => Ok(()),
        }
    }

    /// The job this process is part of: the host file's `job` line or `--job`.
    fn job_id(&self, hosts: &HostFile) -> Result<String, String> {
        match (&hosts.job, &self.job) {
            (Some(file), Some(flag)) if file != flag => Err(format!(
                "--job {flag} differs from the job line of {} ({file}); give one of them",
                hosts.path
            )),
            (Some(id), _) | (None, Some(id)) => Ok(id.clone()),
            (None, None) => Err(format!(
                "{} has no `job ID` line: make the host file with `distributed-demo --new-hosts FILE HOST:PORT...` (a fresh job id), or pass --job ID, the same on every machine",
                hosts.path
            )),
        }
    }
}

/// `--new-hosts FILE HOST:PORT...`: write the host file of a new job ([`write_host_file`],
/// `--force` to replace a regular file); what to do next.
pub fn write_new_hosts(args: &[String], force: bool) -> Result<String, String> {
    let (path, addresses) = args
        .split_first()
        .ok_or("--new-hosts needs FILE HOST:PORT...")?;
    let job = new_job_id();
    let text = host_file_text(&job, addresses);
    // The same checks as every process will make when it reads it.
    parse_hosts(&text).map_err(|e| format!("--new-hosts: {e}"))?;
    write_host_file(Path::new(path), &text, force).map_err(|e| match e.kind() {
        ErrorKind::AlreadyExists if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) => {
            format!("--new-hosts: {path} exists: add --force to replace it, or choose another name")
        }
        ErrorKind::AlreadyExists => format!(
            "--new-hosts: {path} exists and is not a regular file (a link, a folder...): not replaced, even with --force"
        ),
        _ => format!("--new-hosts: cannot write {path}: {e}"),
    })?;
    Ok(format!(
        "wrote {path}: job {job}, {} process(es); copy it to every machine and run there: distributed-demo many-machines --hosts {path} --process I",
        addresses.len()
    ))
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
    #[arg(long)]
    wait_ms: u64,
}

/// The child's side of every launched cluster: be one process of the cluster in the host
/// file, print the report as one JSON line.
pub fn peer_role(args: &[String]) -> anyhow::Result<()> {
    let args =
        PeerArgs::try_parse_from(std::iter::once("peer").chain(args.iter().map(String::as_str)))
            .map_err(|e| {
                // clap's message up to its usage, in one line: every missing argument named.
                let text = e.render().to_string();
                let words: Vec<&str> = text
                    .split("\n\n")
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .collect();
                anyhow::anyhow!("{}", words.join(" ").trim_start_matches("error: "))
            })?;
    let addresses = args.hosts.checked_process(args.process)?;
    let membership = Membership {
        addresses,
        process: args.process,
        job: args.hosts.job.context("the host file has no job line")?,
        wait: Duration::from_millis(args.wait_ms),
        progress: false,
    };
    let job = Job {
        n: args.n,
        tasks: args.tasks,
    };
    let deadline = Duration::from_millis(args.deadline_ms);
    let report = join_cluster(&membership, args.threads, job, args.rounds, deadline)?;
    println!("{}", report.line()?);
    Ok(())
}

/// Be one process of the host file's cluster, `threads` workers here: `on_cluster` with
/// the job check, the launcher's deadline and report around it.
fn join_cluster(
    membership: &Membership,
    threads: usize,
    job: Job,
    rounds: u32,
    deadline: Duration,
) -> anyhow::Result<PeerReport> {
    let process = membership.process;
    run_peer(membership, job, rounds, deadline, move |sockets, work| {
        on_cluster(sockets, process, threads, work)
    })
}

pub fn run(options: &Options) -> SectionResult {
    // `options.check()` passed before the section started (its usage check).
    let (Some(hosts), Some(process)) = (&options.hosts, options.process) else {
        return on_loopback();
    };
    let membership = Membership {
        addresses: hosts.addresses.clone(),
        process,
        job: options.job_id(hosts).map_err(UsageError)?,
        wait: Duration::from_secs(options.wait),
        progress: true,
    };
    let threads = usize::from(options.threads);
    println!(
        "  process {process} of {} ({}) of job {}, {threads} worker thread(s); waiting up to {} for the others",
        hosts.addresses.len(),
        hosts.addresses[process],
        membership.job,
        Secs(membership.wait)
    );
    let report = join_cluster(&membership, threads, JOB, 1, MANUAL_DEADLINE)?;
    let us = |us: u64| Secs(Duration::from_micros(us));
    figure("connected after", us(report.connect_us));
    figure("job", us(report.job_us));
    figure("tasks computed here", report.tasks());
    if let Some(answers) = &report.answers {
        JOB.check(answers, 1)?;
        let (count, each) = (answers.len(), answers[0]);
        // common's loop sums in a u64 that wraps past 2**64 (Python's ints would not), the
        // same arithmetic as the check's closed form.
        println!("  answers: {count} x {each} = the sequential answer (a u64, wrapping)");
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
    std::fs::remove_file(&hosts.path)?; // made again, as a user makes it (on free ports)
    let mut new_hosts = vec!["--new-hosts".to_owned(), "hosts.txt".to_owned()];
    new_hosts.extend(hosts.addresses.iter().cloned());
    finished(typed(dir, "", &new_hosts)?, "--new-hosts")?;
    println!("  $ cat hosts.txt");
    for line in std::fs::read_to_string(&hosts.path)?.lines() {
        println!("  {line}");
    }
    let children = (0..hosts.addresses.len())
        .map(|p| {
            let args = [
                "many-machines",
                "--hosts",
                "hosts.txt",
                "--process",
                &p.to_string(),
            ];
            typed(dir, &format!("host{p}"), &args.map(String::from))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (process, child) in children.into_iter().enumerate() {
        let out = finished(child, &format!("process {process}"))?;
        for line in out.lines().filter(|l| l.starts_with("  ")) {
            println!("    [host{process}] {}", line.trim_start());
        }
        ensure!(
            process != 0 || out.contains("= the sequential answer"),
            "process 0 did not print the checked answer: {out}"
        );
    }
    takeaway(
        "the same two commands work on two machines: copy the binary and hosts.txt, put real addresses in it",
    );
    Ok(())
}

/// `distributed-demo ARGS` started in `dir`, shown as typed at the prompt `host$`.
fn typed(dir: &Path, host: &str, args: &[String]) -> anyhow::Result<Child> {
    println!("  {host}$ distributed-demo {}", args.join(" "));
    Command::new(demo_exe(env!("CARGO_PKG_NAME"))?)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting distributed-demo {}", args[0]))
}

/// What a started command printed, once it exited with success. Never hangs: each process
/// gives up by itself after [`MANUAL_DEADLINE`]; a minute is the backstop.
fn finished(mut child: Child, who: &str) -> anyhow::Result<String> {
    let status = wait_or_kill(&mut child, Duration::from_secs(60))?;
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_string(&mut out)?;
    }
    let why = why_failed(status, "");
    ensure!(status.is_some_and(|s| s.success()), "{who} failed: {why}");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_files_with_comments_and_blank_lines_parse() {
        let text =
            "# two machines\njob a1-b2\n10.0.0.5:2101\n\n  host-b.invalid:2102  \n[::1]:2103\n";
        let (job, addresses) = parse_hosts(text).unwrap();
        assert_eq!(job.as_deref(), Some("a1-b2"));
        assert_eq!(
            addresses,
            ["10.0.0.5:2101", "host-b.invalid:2102", "[::1]:2103"]
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
            (
                "127.0.0.1:+2101\n",
                "line 1: '127.0.0.1:+2101' is not HOST:PORT",
            ),
            (
                "a.invalid:1\na.invalid:1\n",
                "line 2: 'a.invalid:1' is the same endpoint",
            ),
            ("# nothing\n\n", "no HOST:PORT lines"),
            ("job a\njob b\nx:1\n", "line 2: a second job line"),
            ("job a b\nx:1\n", "line 1: job id 'a b'"),
        ] {
            let err = parse_hosts(text).unwrap_err();
            assert!(err.contains(expected), "{text:?}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn aliases_of_one_endpoint_are_caught() {
        for text in [
            "127.0.0.1:2101\nlocalhost:2101\n",
            "localhost:2101\n127.0.0.1:2101\n",
            "127.0.0.1:2101\n127.0.0.1:02101\n",
            "[::1]:2101\n[0:0:0:0:0:0:0:1]:2101\n",
            "HOST-A.invalid:7\nhost-a.invalid:7\n",
        ] {
            let err = parse_hosts(text).unwrap_err();
            assert!(err.starts_with("line 2: "), "{text:?}: {err}");
            assert!(err.contains("same endpoint"), "{text:?}: {err}");
        }
        assert!(parse_hosts("127.0.0.1:2101\nlocalhost:2102\n").is_ok());
    }

    #[test]
    fn a_big_host_file_is_checked_in_one_pass() {
        // 60,000 lines: a quadratic duplicate check took seconds here.
        let text: String = (1..=60_000u32)
            .map(|i| format!("10.{}.{}.{}:2101\n", i >> 16, (i >> 8) & 255, i & 255))
            .collect();
        let (_, addresses) = parse_hosts(&text).unwrap();
        assert_eq!(addresses.len(), 60_000);
        let twice = text + "10.0.0.1:2101\n";
        let err = parse_hosts(&twice).unwrap_err();
        assert!(err.starts_with("line 60001: "), "{err}");
    }

    #[test]
    fn only_regular_files_are_read() {
        let err = parse_host_file("/dev/zero").unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let err = parse_host_file(dir.path().to_str().unwrap()).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
        let fifo = dir.path().join("fifo");
        let made = Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let err = parse_host_file(fifo.to_str().unwrap()).unwrap_err();
            assert!(err.contains("not a regular file"), "{err}");
        }
    }

    #[test]
    fn new_hosts_writes_a_job_line_and_the_addresses() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts.txt");
        let path = path.to_str().unwrap().to_owned();
        let args = |a: &[&str]| {
            std::iter::once(path.clone())
                .chain(a.iter().map(|s| s.to_string()))
                .collect::<Vec<_>>()
        };
        let two = args(&["127.0.0.1:2101", "127.0.0.1:2102"]);
        let said = write_new_hosts(&two, false).unwrap();
        assert!(said.contains("2 process(es)"), "{said}");
        let first = parse_host_file(&path).unwrap();
        assert_eq!(first.addresses, ["127.0.0.1:2101", "127.0.0.1:2102"]);
        let err = write_new_hosts(&two, false).unwrap_err();
        assert!(err.contains("exists: add --force"), "{err}");
        assert_eq!(parse_host_file(&path).unwrap(), first, "left as it was");
        write_new_hosts(&two, true).unwrap();
        let second = parse_host_file(&path).unwrap();
        assert!(first.job.is_some());
        assert_ne!(first.job, second.job, "a new job id for every host file");
        let err = write_new_hosts(&args(&["127.0.0.1:2101", "localhost:2101"]), true).unwrap_err();
        assert!(err.contains("same endpoint"), "{err}");
    }

    #[test]
    fn new_hosts_never_writes_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious.txt");
        std::fs::write(&target, "keep me\n").unwrap();
        let link = dir.path().join("hosts.txt");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let dangling = dir.path().join("dangling.txt");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        for path in [&link, &dangling] {
            for force in [false, true] {
                let args = [
                    path.to_str().unwrap().to_owned(),
                    "127.0.0.1:2101".to_owned(),
                ];
                let err = write_new_hosts(&args, force).unwrap_err();
                assert!(err.contains("not a regular file"), "{err}");
            }
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");
        assert!(
            !dir.path().join("nowhere").exists(),
            "no file made at the link's target"
        );
    }

    #[test]
    fn the_job_comes_from_the_file_or_from_job() {
        let hosts = |job: Option<&str>| HostFile {
            path: "hosts.txt".into(),
            job: job.map(str::to_owned),
            addresses: vec!["a:1".into(), "b:2".into()],
        };
        let options = |file: Option<&str>, flag: Option<&str>| Options {
            hosts: Some(hosts(file)),
            process: Some(0),
            job: flag.map(str::to_owned),
            ..Options::default()
        };
        assert_eq!(
            options(Some("x"), None).job_id(&hosts(Some("x"))).unwrap(),
            "x"
        );
        assert_eq!(options(None, Some("y")).job_id(&hosts(None)).unwrap(), "y");
        assert!(
            options(None, None)
                .check()
                .unwrap_err()
                .contains("no `job ID` line")
        );
        assert!(
            options(Some("x"), Some("y"))
                .check()
                .unwrap_err()
                .contains("differs")
        );
    }

    #[test]
    fn process_must_be_a_line_of_the_file() {
        let hosts = HostFile {
            path: "hosts.txt".into(),
            job: None,
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
