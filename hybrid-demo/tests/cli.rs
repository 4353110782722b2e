//! Runs the built binary: `--list`, one quick section, and an unknown name.

use common::testing::{assert_lists, assert_rejects_unknown_section, run_ok};

const EXE: &str = env!("CARGO_BIN_EXE_hybrid-demo");

#[test]
fn lists_every_section_with_its_python_counterpart() {
    assert_lists(
        EXE,
        &[
            ("run-in-executor", "loop.run_in_executor"),
            ("cpu-offload", "loop.run_in_executor(pool"),
            ("database", "aiosqlite"),
            ("pipeline", "asyncio.Queue(maxsize)"),
            ("thread-to-loop", "call_soon_threadsafe"),
            ("graceful-shutdown", "add_signal_handler"),
        ],
    );
}

#[test]
fn runs_one_section() {
    let out = run_ok(EXE, &["run-in-executor"]);
    assert!(out.contains("calls via spawn_blocking"), "{out}");
    assert!(out.contains("all passed"), "{out}");
}

#[test]
fn rejects_an_unknown_section() {
    assert_rejects_unknown_section(
        EXE,
        &[
            "run-in-executor",
            "cpu-offload",
            "database",
            "pipeline",
            "thread-to-loop",
        ],
    );
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
