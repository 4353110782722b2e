//! The runner (`common::cli`) seen from outside, through the tiny `runner-probe` binary:
//! write errors on standard output and error, clean stops, child trace files.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_runner-probe");

fn dev_full() -> Option<Stdio> {
    File::options()
        .write(true)
        .open("/dev/full")
        .ok()
        .map(Stdio::from)
}

/// A fresh folder under the target directory, removed on drop.
struct Folder(PathBuf);

impl Folder {
    fn new(tag: &str) -> Self {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("runner-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Folder(path)
    }

    fn entries(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut stack = vec![self.0.clone()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p.clone());
                }
                found.push(p);
            }
        }
        found
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_full_disk_on_stdout_is_exit_1_with_one_line() {
    for args in [&["print"][..], &["--list"], &["--help"]] {
        let Some(full) = dev_full() else { return };
        let out = Command::new(EXE).args(args).stdout(full).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains("cannot write standard output"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn the_shared_full_disk_check_passes_on_the_probe() {
    common::testing::assert_full_disk_fails(EXE, &["print"]);
}

#[test]
fn a_reader_that_goes_away_is_a_quiet_success() {
    let mut child = Command::new(EXE)
        .arg("print")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // `| head -0`
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_child_whose_parent_is_gone_ends_quietly_with_exit_1() {
    let mut child = Command::new(EXE)
        .args(["--role", "flood"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the parent stopped reading
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_unwritable_stderr_is_exit_1_not_a_panic() {
    let Some(full) = dev_full() else { return };
    let out = Command::new(EXE)
        .arg("fail")
        .stdout(Stdio::null())
        .stderr(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_trace_file_left_in_the_environment_is_never_written_by_a_child() {
    let folder = Folder::new("trace-env");
    let notes = folder.0.join("notes.txt");
    std::fs::write(&notes, "keep").unwrap();
    let out = Command::new(EXE)
        .args(["--role", "echo", "hi"])
        .env("DEMO_TRACE_FILE", &notes)
        .env("DEMO_TRACE_PARENT", "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "keep");
}

#[test]
fn an_unwritable_trace_file_is_one_line_and_exit_1() {
    if dev_full().is_none() {
        return;
    }
    let out = Command::new(EXE)
        .args(["--trace", "/dev/full", "print"])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot write the trace file"), "{stderr}");
}

#[test]
fn children_trace_beside_a_regular_file_only() {
    let folder = Folder::new("trace-children");
    let trace = folder.0.join("t.json");
    let out = Command::new(EXE)
        .arg("--trace")
        .arg(&trace)
        .arg("child")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        folder.0.join("t.json.echo-1.json").is_file(),
        "{:?}",
        folder.entries()
    );
    let sibling = Path::new("/dev/null.echo-1.json");
    let existed = sibling.exists();
    let out = Command::new(EXE)
        .args(["--trace", "/dev/null", "child"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if !existed && sibling.exists() {
        let _ = std::fs::remove_file(sibling);
        panic!("--trace /dev/null made {}", sibling.display());
    }
}

/// Ctrl-C in the middle of a section: the section's temporary folder is gone afterwards.
#[test]
fn sigint_mid_section_leaves_the_temporary_folder_empty() {
    for signal in ["INT", "TERM"] {
        let tmp = Folder::new(&format!("sig{signal}"));
        // A shell's background job starts with SIGINT ignored, and the supervisor keeps an
        // inherited ignore (as `nohup` expects): start the probe with both signals at their
        // defaults, whatever this test inherited.
        let mut child = Command::new("env")
            .args(["--default-signal=INT,TERM", EXE])
            .arg("hold-tmp")
            .env("TMPDIR", &tmp.0)
            .env_remove("DEMO_SUPERVISED")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // Bounded wait for the section to have made its file.
        let start = Instant::now();
        while !tmp
            .entries()
            .iter()
            .any(|p| p.file_name().is_some_and(|n| n == "held.txt"))
        {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the section never made its file"
            );
            assert!(child.try_wait().unwrap().is_none(), "the probe ended early");
            std::thread::sleep(Duration::from_millis(5));
        }
        let sent = Command::new("kill")
            .args(["-s", signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = child.wait().unwrap();
        let expected = if signal == "INT" { 130 } else { 143 };
        assert_eq!(status.code(), Some(expected), "{signal}");
        assert_eq!(
            tmp.entries(),
            Vec::<PathBuf>::new(),
            "{signal}: left behind"
        );
    }
}

/// Start `runner-probe SECTION` supervised, with signals at their defaults and its
/// temporary folder in `tmp`, and wait (bounded) until `ready` is in the folder.
fn start_probe(section: &str, tmp: &Folder, ready: &str) -> std::process::Child {
    let mut child = Command::new("env")
        .args(["--default-signal=INT,TERM,QUIT", EXE, section])
        .env("TMPDIR", &tmp.0)
        .env_remove("DEMO_SUPERVISED")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !tmp
        .entries()
        .iter()
        .any(|p| p.file_name().is_some_and(|n| n == ready))
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the section never made {ready}"
        );
        assert!(child.try_wait().unwrap().is_none(), "the probe ended early");
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

fn kill(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -s {signal} {pid}");
}

/// The supervised run: the one child of the supervisor.
fn run_of(supervisor: u32) -> u32 {
    let all = common::procs::all();
    let run = all
        .iter()
        .find(|p| p.ppid == supervisor)
        .expect("the supervised run");
    run.pid
}

fn gone_within(pid: u32, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if common::procs::running(pid).is_none() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// SIGTERM to the run itself (not the supervisor): the run dies at once, its child would
/// live on as an orphan, and the supervisor stops it and removes the folder.
#[test]
fn a_killed_run_leaves_no_child_running() {
    let tmp = Folder::new("orphan");
    let mut supervisor = start_probe("hold-child", &tmp, "child.pid");
    let pid_file = tmp
        .entries()
        .into_iter()
        .find(|p| p.ends_with("child.pid"))
        .unwrap();
    let grandchild: u32 = std::fs::read_to_string(pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The supervisor notes the processes below the run every 100 ms: give it ten times that
    // to have seen this one (a process started and orphaned faster is not seen).
    std::thread::sleep(Duration::from_secs(1));
    kill(run_of(supervisor.id()), "TERM");
    let status = supervisor.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    assert!(
        gone_within(grandchild, Duration::from_secs(3)),
        "the run's child {grandchild} outlived it"
    );
    assert_eq!(tmp.entries(), Vec::<PathBuf>::new(), "left behind");
}

/// SIGKILL to the supervisor leaves it no time to clean up: the run notices, removes the
/// private folder and stops.
#[test]
fn a_run_whose_supervisor_is_killed_stops_and_cleans_up() {
    let tmp = Folder::new("supervisor-killed");
    let mut supervisor = start_probe("hold-tmp", &tmp, "held.txt");
    let run = run_of(supervisor.id());
    kill(supervisor.id(), "KILL");
    let _ = supervisor.wait();
    assert!(
        gone_within(run, Duration::from_secs(3)),
        "the run {run} carried on as an orphan"
    );
    assert_eq!(tmp.entries(), Vec::<PathBuf>::new(), "left behind");
}

/// SIGQUIT (and SIGUSR1, SIGUSR2) to the supervisor are passed on like SIGINT: the folder
/// is removed.
#[test]
fn sigquit_and_sigusr1_to_the_supervisor_leave_nothing() {
    for signal in ["QUIT", "USR1"] {
        let tmp = Folder::new(&format!("sig{signal}"));
        let mut supervisor = start_probe("hold-tmp", &tmp, "held.txt");
        kill(supervisor.id(), signal);
        let status = supervisor.wait().unwrap();
        let number = if signal == "QUIT" { 3 } else { 10 };
        assert_eq!(status.code(), Some(128 + number), "{signal}");
        assert_eq!(
            tmp.entries(),
            Vec::<PathBuf>::new(),
            "{signal}: left behind"
        );
    }
}
