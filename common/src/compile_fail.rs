//! Test plumbing, not a lesson: compile a snippet quoted in a section's header with the
//! real `rustc` (against this build's crates, `tokio` say), and check what the compiler
//! says. A std-only stand-in for `trybuild`, used by the sections that quote a refusal
//! (`Send`, lifetimes, `!Send` futures).
//!
//! A header quotes a snippet as an indented block after a line that ends with an intro
//! (`... does not compile:`), and the compiler's words as an indented block after another
//! (`rustc says:`). [`header_block`] reads them back, so the file and the test cannot drift.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The indented `//!` block after the first header line that contains `intro`, unindented.
pub fn header_block(source: &str, intro: &str) -> String {
    let mut lines = source
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .skip_while(|l| !l.contains(intro));
    assert!(lines.next().is_some(), "no header line with {intro:?}");
    let block: Vec<&str> = lines
        .skip_while(|l| l.trim_end() == "//!")
        .take_while(|l| l.starts_with("//!     "))
        .map(|l| &l["//!     ".len()..])
        .collect();
    assert!(!block.is_empty(), "no indented block after {intro:?}");
    block.join("\n") + "\n"
}

/// The folder of the running test binary (`target/debug/deps`), where cargo keeps the
/// libraries it built.
fn deps_folder() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    exe.parent()
        .expect("the test binary sits in a folder")
        .to_owned()
}

/// The newest `lib{name}-*.rlib` (or `.rmeta`) in `deps`.
fn library(deps: &Path, name: &str) -> PathBuf {
    let prefix = format!("lib{}-", name.replace('-', "_"));
    let newest = std::fs::read_dir(deps)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", deps.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let file = p.file_name().unwrap_or_default().to_string_lossy();
            file.starts_with(&prefix) && (file.ends_with(".rlib") || file.ends_with(".rmeta"))
        })
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok());
    newest.unwrap_or_else(|| {
        panic!(
            "no {prefix}*.rlib or .rmeta in {}: the compile-fail test needs the {name} this crate was built with",
            deps.display()
        )
    })
}

/// Compile `code` as a 2024-edition library (type checking only) with the crates named in
/// `externs` (`&["tokio"]`, or none for std); the compiler's stderr, and whether it
/// succeeded.
pub fn compile(name: &str, code: &str, externs: &[&str]) -> (bool, String) {
    let deps = deps_folder();
    let dir = std::env::temp_dir().join(format!("compile-fail-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a writable temporary folder");
    let file = dir.join(format!("{name}.rs"));
    std::fs::write(&file, code).expect("a writable temporary folder");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let mut cmd = Command::new(&rustc);
    cmd.args([
        "--edition",
        "2024",
        "--crate-type",
        "lib",
        "--emit=metadata",
    ])
    .arg("--crate-name")
    .arg(name)
    .arg("--out-dir")
    .arg(&dir);
    for krate in externs {
        let lib = library(&deps, krate);
        cmd.arg("--extern")
            .arg(format!("{}={}", krate.replace('-', "_"), lib.display()));
    }
    let out = cmd
        .arg("-L")
        .arg(format!("dependency={}", deps.display()))
        .arg(&file)
        .env_remove("RUSTC_WRAPPER")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} (set RUSTC to its path): {e}",
                Path::new(&rustc).display()
            )
        });
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !(stderr.contains("E0514") || stderr.contains("E0463")),
        "{} cannot use the libraries in {} (another compiler built them?); set RUSTC to the rustc cargo used:\n{stderr}",
        Path::new(&rustc).display(),
        deps.display()
    );
    (out.status.success(), stderr)
}

/// `code` is refused, and every line of `expected` is in the compiler's message.
pub fn assert_refused(name: &str, code: &str, externs: &[&str], expected: &str) {
    let (ok, stderr) = compile(name, code, externs);
    assert!(
        !ok,
        "{name} compiled, but the header says it does not:\n{code}"
    );
    for line in expected.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            stderr.contains(line.trim()),
            "{name}: the compiler did not say {line:?}; it said:\n{stderr}"
        );
    }
}

/// `code` compiles: the control beside a refused snippet (the setup is sound).
pub fn assert_compiles(name: &str, code: &str, externs: &[&str]) {
    let (ok, stderr) = compile(name, code, externs);
    assert!(ok, "{name} should compile:\n{code}\n{stderr}");
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "//! Title\n//!\n//! This does not compile:\n//!\n//!     fn f() -> u8 { \"x\" }\n//!\n//! rustc says:\n//!\n//!     error[E0308]: mismatched types\n//!\n//! Text.\nfn main() {}\n";

    #[test]
    fn a_quoted_snippet_and_the_quoted_error_are_checked_with_rustc() {
        let code = header_block(HEADER, "does not compile:");
        assert_eq!(code, "fn f() -> u8 { \"x\" }\n");
        let expected = header_block(HEADER, "rustc says:");
        assert_refused("mismatch", &code, &[], &expected);
        assert_compiles("fine", "pub fn f() -> u8 { 1 }\n", &[]);
    }
}
