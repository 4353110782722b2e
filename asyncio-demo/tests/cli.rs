//! Runs the built binary: `--list` against the README and the file headers, one quick
//! section, an unknown name, bad options.

use common::testing::{
    assert_rejects_unknown_section, assert_sections_documented, run_ok, section_names,
};

const EXE: &str = env!("CARGO_BIN_EXE_asyncio-demo");

#[test]
fn every_section_is_listed_documented_and_in_its_own_file() {
    assert_sections_documented(EXE, env!("CARGO_MANIFEST_DIR"));
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
    let names = section_names(EXE);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_rejects_unknown_section(EXE, &names);
}

#[test]
fn rejects_bad_download_options_in_one_line() {
    for args in [
        &["download", "--requests", "0"][..],
        &["download", "--concurrency", "many"],
        &["download", "--url", "ftp://example.com/"],
        &["download", "--max-bytes", "1.5M"],
        &["download", "--max-bytes", "0"],
    ] {
        let out = common::testing::run(EXE, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "nothing runs");
    }
}

/// At `ulimit -n 256` (macOS's default) `download` fits its requests in flight to the
/// open-files limit and says so, instead of failing with "Too many open files".
#[test]
fn download_fits_a_low_open_files_limit() {
    let script = r#"ulimit -n 256 2>/dev/null || exit 77; exec "$0" download --requests 300"#;
    let out = std::process::Command::new("sh")
        .args(["-c", script, EXE])
        .output()
        .unwrap();
    if out.status.code() == Some(77) {
        eprintln!("skipped: the hard open-files limit is below 256 here");
        return;
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("only 256 open files allowed (the hard limit): using 48 in flight"),
        "{stdout}"
    );
    assert!(stdout.contains("all passed"), "{stdout}");
}

#[test]
fn a_full_disk_is_a_failure_not_a_silent_success() {
    common::testing::assert_full_disk_fails(EXE, &["--list"]);
}

/// `--python` on a machine without Python: one line naming the way out, exit code 2, and
/// nothing runs.
#[test]
fn python_without_an_interpreter_is_one_line_and_exit_code_2() {
    let out = std::process::Command::new(EXE)
        .args(["tasks", "--python"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        "asyncio-demo: --python: no Python 3 interpreter found (tried python3 and python on PATH); install one or point to it with --python-exe PATH"
    );
    assert!(out.stdout.is_empty(), "nothing runs");
}

/// `--python` runs the twin after the section and prints the two columns (skipped without
/// Python on the machine).
#[test]
fn python_twin_runs_beside_its_section() {
    if common::python::for_tests().is_none() {
        return;
    }
    let out = run_ok(EXE, &["gather", "--python"]);
    assert!(
        out.contains("side by side with python/gather.py (Python 3"),
        "{out}"
    );
}

/// Under an address-space limit (`ulimit -v`) `green-threads` asks only for the threads that
/// fit, and says so in one `not shown in this run:` line, instead of aborting inside a new
/// thread (exit 134, "failed to allocate an alternative stack").
#[test]
fn green_threads_fits_an_address_space_limit() {
    let script = r#"ulimit -v 1500000 2>/dev/null || exit 77; exec "$0" green-threads"#;
    let out = std::process::Command::new("sh")
        .args(["-c", script, EXE])
        .output()
        .unwrap();
    if out.status.code() == Some(77) {
        eprintln!("skipped: cannot set an address-space limit here");
        return;
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    let not_shown: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("not shown in this run:"))
        .collect();
    assert_eq!(not_shown.len(), 1, "{stdout}");
    assert!(
        not_shown[0].contains("expected 10000 threads started")
            && not_shown[0].contains("the address-space limit (ulimit -v)"),
        "{stdout}"
    );
}
