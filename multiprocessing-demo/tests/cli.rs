//! Runs the built binary: `--list`, one quick section, an unknown name, and a child role.

use common::testing::{assert_lists, assert_rejects_unknown_section, run, run_ok};

const EXE: &str = env!("CARGO_BIN_EXE_multiprocessing-demo");

#[test]
fn lists_every_section_with_its_python_counterpart() {
    assert_lists(
        EXE,
        &[
            ("process-basics", "Process(target=f, args)"),
            ("queue", "multiprocessing.Queue"),
            ("pipe", "multiprocessing.Pipe()"),
            ("shared-memory", "Value / Array / shared_memory"),
            ("pool-map", "Pool(n).map(compute"),
            ("manager-dict", "Manager().dict()"),
            ("startup-cost", "Process creation overhead"),
            ("serialization-cost", "pickle"),
            ("crash-isolation", "p.exitcode < 0"),
            ("rayon", "Pool(cpu_count())"),
        ],
    );
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
    assert_rejects_unknown_section(
        EXE,
        &[
            "process-basics",
            "queue",
            "pipe",
            "shared-memory",
            "pool-map",
        ],
    );
}
