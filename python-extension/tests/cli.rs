//! Runs the built binary: `--list` against the README and the files, an unknown name, no
//! interpreter or a bad one (one line, exit code 2), and, where Python 3.9+ is found, the
//! whole demo: the Rust module imported by Python and called from Python threads.

use std::io::Write;
use std::process::Command;

use common::testing::{
    assert_rejects_unknown_section, assert_sections_documented, run, section_names,
};

const EXE: &str = env!("CARGO_BIN_EXE_python-extension");

#[test]
fn every_section_is_listed_documented_and_in_its_own_file() {
    assert_sections_documented(EXE, env!("CARGO_MANIFEST_DIR"));
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

fn assert_one_line_exit_2(out: &std::process::Output, says: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "exit code; stderr: {stderr}");
    assert!(out.stdout.is_empty(), "nothing runs: {:?}", out.stdout);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(says), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn no_interpreter_on_path_is_one_line_and_exit_code_2() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(EXE)
        .env("PATH", empty.path())
        .output()
        .expect("the binary runs");
    assert_one_line_exit_2(&out, "no Python 3 interpreter found");
    assert_one_line_exit_2(&out, "--python-exe PATH");
}

#[test]
fn a_bad_interpreter_is_one_line_and_exit_code_2() {
    let out = run(EXE, &["--python-exe", "/nonexistent/python3"]);
    assert_one_line_exit_2(&out, "/nonexistent/python3");
}

/// Says on the real stderr (not captured by the test harness) why a test skips.
fn skip(why: &str) {
    let _ = writeln!(std::io::stderr(), "skipped: {why}");
}

/// A regular CPython 3.9+ (the module's stable ABI), or `None` after saying why the test
/// skips.
fn regular_python() -> Option<common::python::Interpreter> {
    let Some(python) = common::python::for_tests() else {
        skip("the run test needs Python 3.9+ (python3 or python on PATH); none was found");
        return None;
    };
    let minor = python
        .version
        .split('.')
        .nth(1)
        .and_then(|m| m.parse::<u32>().ok());
    if python.free_threaded || python.free_threaded_build_with_gil || minor < Some(9) {
        skip(&format!(
            "the run test needs a regular CPython 3.9+, found {}",
            python.label()
        ));
        return None;
    }
    Some(python)
}

#[test]
fn the_module_gives_pythons_answer_past_2_to_the_64() {
    let Some(python) = regular_python() else {
        return;
    };
    // The library cargo built for this test run: beside the binary or in deps/, the newer.
    let exe_dir = std::path::Path::new(EXE).parent().unwrap();
    let file = format!(
        "{}python_extension{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let built = [exe_dir.join(&file), exe_dir.join("deps").join(&file)]
        .into_iter()
        .filter_map(|p| Some((p.metadata().and_then(|m| m.modified()).ok()?, p)))
        .max()
        .expect("the extension module was built")
        .1;
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&built, dir.path().join("rust_cpu.abi3.so")).unwrap();
    // 10**7: the sum passes 2**64 (a u64 would wrap to 1291890006563070912).
    let script = "import rust_cpu\n\
n = 10**7\n\
want = (n - 1) * n * (2 * n - 1) // 6\n\
assert want == 333333283333335000000\n\
assert rust_cpu.compute_holding_gil(n) == want, rust_cpu.compute_holding_gil(n)\n\
assert rust_cpu.compute_releasing_gil(n) == want, rust_cpu.compute_releasing_gil(n)\n\
assert rust_cpu.compute_holding_gil(1000) == sum(i * i for i in range(1000))\n\
print('exact')";
    let out = python
        .command()
        .args(["-c", script])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "exact");
}

#[test]
fn python_threads_run_the_rust_module() {
    let Some(python) = regular_python() else {
        return;
    };
    let out = Command::new(EXE)
        .arg("--python-exe")
        .arg(&python.path)
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("every answer checked"), "{stdout}");
    for job in [
        "pure Python",
        "Rust, holding the GIL",
        "Rust, releasing the GIL",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{job} .")))
            .unwrap_or_else(|| panic!("no figure for {job}:\n{stdout}"));
        assert!(
            line.contains(" calls: 1 thread ") && line.contains("x; ") && line.ends_with("a call"),
            "{line}"
        );
    }
    // Three claims, each printed as fact or as `not shown in this run:` (a busy machine).
    let verdicts = stdout
        .lines()
        .filter(|l| l.starts_with("→ ") || l.starts_with("not shown in this run: "))
        .count();
    assert_eq!(verdicts, 3, "{stdout}");
    assert!(stdout.contains("all passed"), "{stdout}");
}
