//! Runs the built binary: `--list`, one quick section, and an unknown name.

use common::testing::{assert_lists, assert_rejects_unknown_section, run_ok};

const EXE: &str = env!("CARGO_BIN_EXE_asyncio-demo");

/// Every section, in order, with a piece of its Python counterpart.
const SECTIONS: &[(&str, &str)] = &[
    ("event-loop", "asyncio.run"),
    ("tasks", "asyncio.create_task"),
    ("gather", "asyncio.gather"),
    ("exceptions", "return_exceptions=True"),
    ("semaphore", "asyncio.Semaphore"),
    ("timeout", "asyncio.wait_for"),
    ("cancellation", "task.cancel()"),
    ("queue", "asyncio.Queue"),
    ("blocking-pitfall", "time.sleep()"),
    ("many-connections", "asyncio.start_server"),
    ("download", "aiohttp.ClientSession"),
    ("file-io", "aiofiles"),
    ("broadcast", "real-time server"),
    ("other-runtimes", "trio.run"),
];

#[test]
fn lists_every_section_with_its_python_counterpart() {
    assert_lists(EXE, SECTIONS);
}

#[test]
fn runs_one_section() {
    let out = run_ok(EXE, &["gather"]);
    assert!(
        out.contains("results (input order): [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"),
        "{out}"
    );
    assert!(out.contains("all passed"), "{out}");
}

#[test]
fn rejects_an_unknown_section() {
    let names: Vec<&str> = SECTIONS.iter().map(|(name, _)| *name).collect();
    assert_rejects_unknown_section(EXE, &names);
}

#[test]
fn rejects_bad_download_options_in_one_line() {
    for args in [
        &["download", "--requests", "0"][..],
        &["download", "--concurrency", "many"],
        &["download", "--url", "ftp://example.com/"],
    ] {
        let out = common::testing::run(EXE, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "nothing runs");
    }
}
