//! Every lesson's own `main` runs and exits 0: what a reader gets after pasting the lesson
//! part as `src/main.rs` of a new project. Each runs in a process of its own (the `lesson`
//! binary), with its own empty temporary folder and no standard input, within a time limit.

use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A lesson's `main` is a short program: a stuck one fails the test instead of hanging it.
const LIMIT: Duration = Duration::from_secs(60);

fn run(name: &str) -> Result<Duration, String> {
    let tmp = std::env::temp_dir().join(format!(
        "lesson-{}-{}",
        name.replace("::", "-"),
        std::process::id()
    ));
    std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lesson"))
        .env("LESSON", name)
        .env("TMPDIR", &tmp)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let (out_pipe, err_pipe) = (child.stdout.take(), child.stderr.take());
    let out = std::thread::spawn(move || read_all(out_pipe));
    let err = std::thread::spawn(move || read_all(err_pipe));
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(status);
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = start.elapsed();
    let (stdout, stderr) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    let _ = std::fs::remove_dir_all(&tmp);
    match status {
        Some(s) if s.success() && !stdout.trim().is_empty() => Ok(took),
        Some(s) if s.success() => Err("printed nothing: a reader cannot see that it worked".into()),
        Some(s) => Err(format!("{s}; stderr: {}", last_lines(&stderr))),
        None => Err(format!("still running after {LIMIT:?}: killed")),
    }
}

fn read_all(pipe: Option<impl std::io::Read>) -> String {
    let mut text = String::new();
    if let Some(mut pipe) = pipe {
        let _ = pipe.read_to_string(&mut text);
    }
    text
}

fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

#[test]
fn every_lesson_main_runs_and_exits_0() {
    let todo = Mutex::new(lessons::ALL.iter());
    let failures = Mutex::new(Vec::new());
    let slow = Mutex::new(Vec::new());
    // Two at a time: the lessons time themselves, and a 2-core machine runs CI.
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let Some(name) = todo.lock().unwrap().next() else {
                        break;
                    };
                    match run(name) {
                        Ok(took) if took > Duration::from_secs(5) => {
                            slow.lock().unwrap().push(format!("{name}: {took:.1?}"));
                        }
                        Ok(_) => {}
                        Err(e) => failures.lock().unwrap().push(format!("{name}: {e}")),
                    }
                }
            });
        }
    });
    let slow = slow.into_inner().unwrap();
    if !slow.is_empty() {
        eprintln!("lessons over 5 s: {}", slow.join(", "));
    }
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} lesson mains failed:\n  {}",
        failures.len(),
        lessons::ALL.len(),
        failures.join("\n  ")
    );
}

#[test]
fn the_lesson_binary_names_the_valid_lessons_for_a_bad_name() {
    let out = Command::new(env!("CARGO_BIN_EXE_lesson"))
        .env("LESSON", "no_such::lesson")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("lesson: set LESSON to one of:"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
