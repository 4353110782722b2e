//! Checks every demo's integration test makes on its built binary (`tests/cli.rs`).

use std::process::{Command, Output};

/// Run `exe` with `args`; return its output.
pub fn run(exe: &str, args: &[&str]) -> Output {
    Command::new(exe)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {exe}: {e}"))
}

/// Run `exe` with `args`, assert it succeeded, and return its standard output.
pub fn run_ok(exe: &str, args: &[&str]) -> String {
    let out = run(exe, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{exe} {args:?} failed with {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `--list` names every section, each with its Python counterpart on the same line.
pub fn assert_lists(exe: &str, sections: &[(&str, &str)]) {
    let listing = run_ok(exe, &["--list"]);
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(
        lines.len(),
        sections.len(),
        "one line per section:\n{listing}"
    );
    for ((name, python), line) in sections.iter().zip(&lines) {
        assert!(
            line.trim_start().starts_with(name) && line.contains(python),
            "expected '{name}' with '{python}', got: {line}"
        );
    }
}

/// An unknown section name: exit code 2, one line on stderr naming the valid sections,
/// nothing on stdout, no panic.
pub fn assert_rejects_unknown_section(exe: &str, valid: &[&str]) {
    let out = run(exe, &["no-such-section"]);
    assert_eq!(out.status.code(), Some(2), "exit code");
    assert!(out.stdout.is_empty(), "nothing runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("no-such-section"), "{stderr}");
    for name in valid {
        assert!(stderr.contains(name), "names '{name}': {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}
