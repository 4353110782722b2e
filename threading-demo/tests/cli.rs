//! Runs the built binary: `--list` against the README and the files, one quick section,
//! and an unknown name.

use common::testing::{
    assert_rejects_unknown_section, assert_sections_documented, run_ok, section_names,
};

const EXE: &str = env!("CARGO_BIN_EXE_threading-demo");

#[test]
fn every_section_is_listed_documented_and_in_its_own_file() {
    assert_sections_documented(EXE, env!("CARGO_MANIFEST_DIR"));
}

#[test]
fn runs_one_section() {
    let out = run_ok(EXE, &["thread-basics"]);
    assert!(out.contains("worker-3 returned 9"), "{out}");
    assert!(out.contains("all passed"), "{out}");
}

#[test]
fn rejects_an_unknown_section() {
    let names = section_names(EXE);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_rejects_unknown_section(EXE, &names);
}

#[test]
fn a_full_disk_is_a_failure_not_a_silent_success() {
    common::testing::assert_full_disk_fails(EXE, &["--list"]);
}
