//! Runs the built binary: `--list`, one quick section, and an unknown name.

use common::testing::{assert_lists, assert_rejects_unknown_section, run_ok};

const EXE: &str = env!("CARGO_BIN_EXE_threading-demo");

#[test]
fn lists_every_section_with_its_python_counterpart() {
    assert_lists(EXE, &[("thread-basics", "threading.Thread")]);
}

#[test]
fn runs_one_section() {
    let out = run_ok(EXE, &["thread-basics"]);
    assert!(out.contains("worker-3 returned 9"), "{out}");
    assert!(out.contains("all passed"), "{out}");
}

#[test]
fn rejects_an_unknown_section() {
    assert_rejects_unknown_section(EXE, &["thread-basics"]);
}
