//! Runs the built binary: `--list`, one quick section, and an unknown name.

use common::testing::{assert_lists, assert_rejects_unknown_section, run_ok};

const EXE: &str = env!("CARGO_BIN_EXE_threading-demo");

/// Every section, in learning order, with (part of) its Python counterpart.
const SECTIONS: &[(&str, &str)] = &[
    ("thread-basics", "threading.Thread"),
    ("scoped-threads", "no Python twin"),
    ("race-condition", "shared_counter += 1"),
    ("lock", "threading.Lock()"),
    ("rlock", "threading.RLock()"),
    ("semaphore", "threading.Semaphore(N)"),
    ("event", "threading.Event()"),
    ("daemon-threads", "daemon=True"),
    ("queue", "queue.Queue(maxsize)"),
    ("thread-pool", "ThreadPoolExecutor"),
    ("web-download", "requests.get"),
    ("no-gil", "the GIL"),
    ("deadlock", "opposite order"),
    ("thread-local", "threading.local()"),
];

#[test]
fn lists_every_section_with_its_python_counterpart() {
    assert_lists(EXE, SECTIONS);
}

#[test]
fn runs_one_section() {
    let out = run_ok(EXE, &["thread-basics"]);
    assert!(out.contains("worker-3 returned 9"), "{out}");
    assert!(out.contains("all passed"), "{out}");
}

#[test]
fn rejects_an_unknown_section() {
    let names: Vec<&str> = SECTIONS.iter().map(|(name, _)| *name).collect();
    assert_rejects_unknown_section(EXE, &names);
}
