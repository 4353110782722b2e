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

/// The lines of `--list` that begin a section (`  NAME  ...`); a section whose text does
/// not fit the width goes on in lines indented deeper.
fn section_lines(listing: &str) -> Vec<&str> {
    listing
        .lines()
        .filter(|l| l.starts_with("  ") && !l[2..].starts_with(' '))
        .collect()
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

/// The section names `--list` prints, in order.
pub fn section_names(exe: &str) -> Vec<String> {
    section_lines(&run_ok(exe, &["--list"]))
        .iter()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// One place per section: `--list`, the book's page for the crate and each file's header
/// agree. The table rows of `book/src/CRATE.md` that link a section's page (the first link
/// `](CRATE/NAME.md)` of the last column) name the sections in `--list` order; each
/// `CRATE/src/FILE.rs` (`FILE` being the section name with `_` for `-`) exists and its header
/// says how to run only it (`Run only this: cargo run ... -p CRATE -- NAME`).
pub fn assert_sections_documented(exe: &str, crate_dir: &str) {
    let crate_dir = std::path::Path::new(crate_dir);
    let krate = crate_dir
        .file_name()
        .expect("the crate folder has a name")
        .to_string_lossy()
        .into_owned();
    let page_path = crate_dir.join(format!("../book/src/{krate}.md"));
    let page = std::fs::read_to_string(&page_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", page_path.display()));
    let link = format!("]({krate}/");
    let rows: Vec<String> = page
        .lines()
        .filter(|l| l.starts_with('|'))
        .filter_map(|l| {
            let last = l.trim_end().trim_end_matches('|').rsplit('|').next()?;
            let at = last.find(&link)? + link.len();
            let name = &last[at..];
            Some(name[..name.find(".md)")?].to_owned())
        })
        .collect();
    let names = section_names(exe);
    assert_eq!(
        rows, names,
        "book/src/{krate}.md's table rows (section pages) and `--list` (sections) must match, in order"
    );
    for name in &names {
        let path = crate_dir
            .join("src")
            .join(format!("{}.rs", name.replace('-', "_")));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("section '{name}': cannot read {}: {e}", path.display()));
        let run_line = text
            .lines()
            .find(|l| l.contains("Run only this:"))
            .unwrap_or_else(|| panic!("{}: no 'Run only this:' line", path.display()));
        assert!(
            run_line.contains(&format!("-p {krate}")) && run_line.ends_with(&format!("-- {name}")),
            "{}: '{run_line}' should end with '-p {krate} -- {name}'",
            path.display()
        );
    }
}

/// `exe args > /dev/full`: a write error on standard output is exit code 1 with one line
/// on stderr, never a panic and never success (a script would keep truncated output).
/// Does nothing where `/dev/full` does not exist.
pub fn assert_full_disk_fails(exe: &str, args: &[&str]) {
    let Ok(full) = std::fs::File::options().write(true).open("/dev/full") else {
        return;
    };
    let out = Command::new(exe)
        .args(args)
        .stdout(full)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {exe}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{exe} {args:?} > /dev/full: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.lines().any(|l| l.contains("No space left")),
        "says why: {stderr}"
    );
}
