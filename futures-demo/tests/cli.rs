//! Runs the built binary: `--list` against the README and the files, one quick section,
//! and an unknown name.

use common::testing::{
    assert_rejects_unknown_section, assert_sections_documented, run_ok, section_names,
};

const EXE: &str = env!("CARGO_BIN_EXE_futures-demo");

#[test]
fn every_section_is_listed_documented_and_in_its_own_file() {
    assert_sections_documented(EXE, env!("CARGO_MANIFEST_DIR"));
}

#[test]
fn runs_one_section() {
    let out = run_ok(EXE, &["submit"]);
    assert!(out.contains("5 simulated downloads"), "{out}");
    assert!(out.contains("all passed"), "{out}");
}

#[test]
fn rejects_an_unknown_section() {
    let names = section_names(EXE);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_rejects_unknown_section(EXE, &names);
}

#[test]
fn an_intentional_panic_prints_one_line_even_with_backtraces_on() {
    let out = std::process::Command::new(EXE)
        .arg("exceptions")
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("runs");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let panics: Vec<&str> = stderr.lines().filter(|l| l.contains("panicked")).collect();
    assert_eq!(panics.len(), 1, "{stderr}");
    assert!(panics[0].contains("[panic hook]"), "{stderr}");
    assert!(!stderr.contains("stack backtrace"), "{stderr}");
}

#[test]
fn a_missing_tmpdir_is_one_line_and_exit_1_not_a_panic() {
    let out = std::process::Command::new(EXE)
        .arg("process-pool")
        .env("TMPDIR", "/nonexistent/tmp")
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty() && err.lines().count() == 1, "{err}");
    assert!(err.contains("/nonexistent/tmp (TMPDIR)"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
