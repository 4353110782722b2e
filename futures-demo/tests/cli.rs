//! Runs the built binary: `--list`, one quick section, and an unknown name.

use common::testing::{assert_lists, assert_rejects_unknown_section, run_ok};

const EXE: &str = env!("CARGO_BIN_EXE_futures-demo");

const SECTIONS: &[(&str, &str)] = &[
    ("submit", "ThreadPoolExecutor"),
    ("map", "executor.map"),
    ("as-completed", "as_completed(future_to_url)"),
    ("result-timeout", "future.result(timeout=...)"),
    ("cancel", "future.cancel()"),
    ("exceptions", "future.result()"),
    ("process-pool", "ProcessPoolExecutor"),
    ("shutdown", "shutdown(wait=False, cancel_futures=True)"),
    ("async-futures", "asyncio.gather"),
];

#[test]
fn lists_every_section_with_its_python_counterpart() {
    assert_lists(EXE, SECTIONS);
}

#[test]
fn runs_one_section() {
    let out = run_ok(EXE, &["submit"]);
    assert!(out.contains("5 downloads verified"), "{out}");
    assert!(out.contains("all passed"), "{out}");
}

#[test]
fn rejects_an_unknown_section() {
    let names: Vec<&str> = SECTIONS.iter().map(|(name, _)| *name).collect();
    assert_rejects_unknown_section(EXE, &names);
}
