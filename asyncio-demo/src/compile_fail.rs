//! Test plumbing, not a lesson: compile a snippet quoted in a section's header with the
//! real `rustc` against this build's tokio, and check what the compiler says. A std-only
//! stand-in for `trybuild`.
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

/// The folder of this test binary (`target/debug/deps`) and the newest tokio library in it.
fn tokio_lib() -> (PathBuf, PathBuf) {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let deps = exe
        .parent()
        .expect("the test binary sits in a folder")
        .to_owned();
    let newest = std::fs::read_dir(&deps)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", deps.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with("libtokio-") && (name.ends_with(".rlib") || name.ends_with(".rmeta"))
        })
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok());
    let lib = newest.unwrap_or_else(|| {
        panic!(
            "no libtokio-*.rlib or .rmeta next to the test binary in {}: the compile-fail test needs the tokio this crate was built with",
            deps.display()
        )
    });
    (deps, lib)
}

/// Compile `code` as a 2024-edition library against this build's tokio; the compiler's
/// stderr, and whether it succeeded.
pub fn compile(name: &str, code: &str) -> (bool, String) {
    let (deps, tokio) = tokio_lib();
    let dir = std::env::temp_dir().join(format!(
        "asyncio-demo-compile-fail-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("a writable temp dir");
    let file = dir.join(format!("{name}.rs"));
    std::fs::write(&file, code).expect("a writable temp dir");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&rustc)
        .args([
            "--edition",
            "2024",
            "--crate-type",
            "lib",
            "--emit=metadata",
        ])
        .arg("--crate-name")
        .arg(name)
        .arg("--out-dir")
        .arg(&dir)
        .arg("--extern")
        .arg(format!("tokio={}", tokio.display()))
        .arg("-L")
        .arg(format!("dependency={}", deps.display()))
        .arg(&file)
        .env_remove("RUSTC_WRAPPER")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", Path::new(&rustc).display()));
    let _ = std::fs::remove_dir_all(&dir);
    let stderr_text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !(stderr_text.contains("E0514") || stderr_text.contains("E0463")),
        "{} cannot use {} (another compiler built it?); set RUSTC to the rustc cargo used:\n{stderr_text}",
        Path::new(&rustc).display(),
        tokio.display()
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `code` is refused, and every line of `expected` is in the compiler's message.
pub fn assert_refused(name: &str, code: &str, expected: &str) {
    let (ok, stderr) = compile(name, code);
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
pub fn assert_compiles(name: &str, code: &str) {
    let (ok, stderr) = compile(name, code);
    assert!(ok, "{name} should compile:\n{code}\n{stderr}");
}
