//! Runs the built binary: `--list` against the README and the files, one quick section, an
//! unknown name, and a child role.

use common::testing::{
    assert_rejects_unknown_section, assert_sections_documented, run, run_ok, section_names,
};

const EXE: &str = env!("CARGO_BIN_EXE_multiprocessing-demo");

#[test]
fn every_section_is_in_the_readme_and_its_file() {
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
