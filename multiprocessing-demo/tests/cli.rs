//! Runs the built binary: `--list` against the README and the files, one quick section, an
//! unknown name, and a child role.

use common::testing::{
    assert_rejects_unknown_section, assert_sections_documented, run, run_ok, section_names,
};

const EXE: &str = env!("CARGO_BIN_EXE_multiprocessing-demo");

#[test]
fn every_section_is_in_the_book_and_its_file() {
    assert_sections_documented(EXE, env!("CARGO_MANIFEST_DIR"));
}

#[test]
fn runs_one_section() {
    let out = run_ok(EXE, &["process-basics"]);
    assert!(
        out.contains("square   12 -> exitcode Some(0), said \"144\""),
        "{out}"
    );
    assert!(out.contains("square five -> exitcode Some(1)"), "{out}");
    assert!(out.contains("all passed"), "{out}");
}

#[test]
fn a_child_role_answers_and_fails_cleanly() {
    assert_eq!(run_ok(EXE, &["--role", "square", "7"]).trim(), "49");
    let bad = run(EXE, &["--role", "square", "seven"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("'seven' is not a number"));
    let unknown = run(EXE, &["--role", "nobody"]);
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn rejects_an_unknown_section() {
    let names = section_names(EXE);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_rejects_unknown_section(EXE, &names);
}

#[test]
fn a_missing_tmpdir_is_one_line_and_exit_1_not_a_panic() {
    let out = std::process::Command::new(EXE)
        .args(["pool-map", "queue"])
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

#[test]
fn a_square_too_big_for_u64_is_one_line_and_exit_1() {
    let out = run(EXE, &["--role", "square", "99999999999"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("does not fit in a u64"), "{err}");
}
