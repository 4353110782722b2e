//! The runner's debugging aids, checked on a real binary: `--trace FILE`, the
//! `--interactive` menu without a terminal, and `RUST_LOG` logging.

use std::process::{Command, Stdio};

use common::testing::run_ok;

const EXE: &str = env!("CARGO_BIN_EXE_threading-demo");

#[test]
fn trace_file_is_json_with_the_section_and_thread_spans() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("run.json");
    run_ok(EXE, &["--trace", file.to_str().unwrap(), "thread-basics"]);
    let text = std::fs::read_to_string(&file).unwrap();
    let events: Vec<serde_json::Value> = serde_json::from_str(&text).expect("the trace is JSON");
    // Field values are written as text or as numbers.
    let named = |name: &str, arg: &str, value: &str| {
        events.iter().any(|e| {
            let v = &e["args"][arg];
            e["name"] == name && (v.as_str().is_some_and(|v| v.contains(value)) || v == value)
        })
    };
    assert!(named("section", "name", "thread-basics"), "{text}");
    assert!(
        named("worker", "i", "3"),
        "the lesson's span around worker 3: {text}"
    );
}

#[test]
fn the_menu_without_a_terminal_says_so_and_exits_2() {
    let out = Command::new(EXE)
        .arg("--interactive")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--interactive needs a terminal"),
        "{stderr}"
    );
}

#[test]
fn logging_goes_to_stderr_only_when_rust_log_is_set() {
    let quiet = Command::new(EXE)
        .arg("thread-basics")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(quiet.status.success());
    assert!(
        quiet.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );

    let logged = Command::new(EXE)
        .arg("thread-basics")
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert!(logged.status.success());
    let stderr = String::from_utf8_lossy(&logged.stderr);
    assert!(
        stderr.contains("DEBUG") && stderr.contains("section starts"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&logged.stdout);
    assert!(
        !stdout.contains("DEBUG"),
        "logs never reach stdout: {stdout}"
    );
    // The same lines in the same order, figures aside.
    let shape = |s: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(s)
            .lines()
            .map(|l| l.chars().filter(|c| !c.is_ascii_digit()).collect())
            .collect()
    };
    assert_eq!(shape(&quiet.stdout).len(), shape(&logged.stdout).len());
}

#[test]
fn a_reader_that_goes_away_stops_the_run_quietly() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(EXE)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap(); // `| head -1`: read one line, then close the pipe
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{stderr}");
}
