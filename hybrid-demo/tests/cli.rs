//! Runs the built binary: the sections agree with the README and their headers, one quick
//! section, an unknown name, a bad option.

use common::testing::{
    assert_rejects_unknown_section, assert_sections_documented, run_ok, section_names,
};

const EXE: &str = env!("CARGO_BIN_EXE_hybrid-demo");

#[test]
fn sections_match_the_book_and_their_headers() {
    assert_sections_documented(EXE, env!("CARGO_MANIFEST_DIR"));
}

#[test]
fn runs_one_section() {
    let out = run_ok(EXE, &["run-in-executor"]);
    assert!(out.contains("calls via spawn_blocking"), "{out}");
    assert!(
        out.contains("tokio-blocking"),
        "blocking threads named as such: {out}"
    );
    assert!(out.contains("all passed"), "{out}");
}

#[test]
fn logs_which_thread_ran_each_blocking_call() {
    let out = std::process::Command::new(EXE)
        .arg("run-in-executor")
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.lines()
            .any(|l| l.contains("tokio-blocking") && l.contains("blocking call starts")),
        "{log}"
    );
}

#[test]
fn rejects_an_unknown_section() {
    let names = section_names(EXE);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    for known in [
        "run-in-executor",
        "cpu-offload",
        "database",
        "pipeline",
        "thread-to-loop",
        "graceful-shutdown",
    ] {
        assert!(names.contains(&known), "{known} not in {names:?}");
    }
    assert_rejects_unknown_section(EXE, &names);
}

#[test]
fn rejects_a_value_for_the_ctrl_c_flag() {
    let out = common::testing::run(EXE, &["--ctrl-c=yes", "graceful-shutdown"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--ctrl-c"), "{stderr}");
}

/// `kill -INT PID` (the workspace has no `unsafe`, so no `libc::kill`).
fn interrupt(pid: u32) {
    let sent = std::process::Command::new("kill")
        .args(["-s", "INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -s INT {pid}");
}

#[test]
fn after_graceful_shutdown_ctrl_c_stops_the_program_again() {
    use std::io::BufRead;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    // Sections after graceful-shutdown that take seconds (about 2 s together, more under
    // load): a Ctrl-C must end the run there.
    // Started with SIGINT at its default: a shell's background job (a CI runner may be one)
    // inherits it ignored, and the demo rightly keeps an inherited ignore.
    let mut child = std::process::Command::new("env")
        .args(["--default-signal=INT", EXE])
        .args([
            "graceful-shutdown",
            "--ctrl-c",
            "database",
            "pipeline",
            "cpu-offload",
        ])
        .args(["run-in-executor", "thread-to-loop"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (lines_tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines_tx.send(line);
        }
    });
    let mut wait_for = |text: &str| {
        let limit = Instant::now() + Duration::from_secs(60);
        while let Ok(line) = lines.recv_timeout(limit.saturating_duration_since(Instant::now())) {
            if line.contains(text) {
                return;
            }
        }
        let _ = child.kill();
        panic!("no line with {text:?}");
    };
    wait_for("press Ctrl-C");
    interrupt(pid); // the section's own Ctrl-C: a graceful shutdown
    wait_for("(graceful-shutdown took");
    // Any later Ctrl-C must stop the program: send one every 50 ms, for at most 30 s (the
    // first ones may come so soon after the section's, within 0.5 s, that they count as the
    // same key press).
    let limit = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("Ctrl-C after graceful-shutdown did not stop the program");
        }
        interrupt(pid);
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{status}: {stderr}");
    assert!(stderr.contains("Ctrl-C: stopping"), "{stderr}");
    let later: Vec<String> =
        std::iter::from_fn(|| lines.recv_timeout(Duration::from_secs(5)).ok()).collect();
    assert!(!later.iter().any(|l| l.contains("all passed")), "{later:?}");
}
