//! Copies the lesson part of every section file into `OUT_DIR`, one module each.
//! See `src/lib.rs` for why.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const MARKER: &str = "// --- run and measure ---";

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest.parent().expect("lessons/ sits in the workspace");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    let mut modules = String::new();
    let mut problems = Vec::new();
    for krate in crates(root) {
        writeln!(modules, "pub mod {} {{", krate.replace('-', "_")).unwrap();
        let src = root.join(&krate).join("src");
        println!("cargo:rerun-if-changed={}", src.display());
        let mut files: Vec<PathBuf> = std::fs::read_dir(&src)
            .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "rs"));
        files.sort();
        for file in files {
            println!("cargo:rerun-if-changed={}", file.display());
            let text = std::fs::read_to_string(&file).expect("a readable source file");
            let shown = format!(
                "{krate}/src/{}",
                file.file_name().unwrap().to_string_lossy()
            );
            let markers = text.lines().filter(|l| *l == MARKER).count();
            let is_section = text.lines().any(|l| l.starts_with("pub const SECTION"));
            if markers == 0 {
                if is_section {
                    problems.push(format!(
                        "{shown}: a section file without the line `{MARKER}`"
                    ));
                }
                continue;
            }
            if markers > 1 {
                problems.push(format!("{shown}: `{MARKER}` appears {markers} times"));
                continue;
            }
            let lesson: String = text
                .lines()
                .take_while(|l| *l != MARKER)
                .map(|l| format!("{l}\n"))
                .collect();
            for (n, line) in lesson.lines().enumerate() {
                if line.contains("common::") {
                    problems.push(format!(
                        "{shown}:{}: the lesson part names `common::` (move it below `{MARKER}`)",
                        n + 1
                    ));
                }
            }
            let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
            let dir = out.join(&krate);
            std::fs::create_dir_all(&dir).expect("OUT_DIR is writable");
            let copy = dir.join(format!("{stem}.rs"));
            std::fs::write(&copy, lesson).expect("OUT_DIR is writable");
            writeln!(
                modules,
                "    #[path = {:?}]\n    pub mod {stem};",
                copy.display().to_string()
            )
            .unwrap();
        }
        modules.push_str("}\n");
    }
    if !problems.is_empty() {
        for p in &problems {
            println!("cargo:warning={p}");
        }
        panic!(
            "lesson parts that cannot be copied alone:\n  {}",
            problems.join("\n  ")
        );
    }
    std::fs::write(out.join("lessons.rs"), modules).expect("OUT_DIR is writable");
}

/// The workspace members that hold lessons: every folder with a Cargo.toml and a src/,
/// except this one and `common`.
fn crates(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root)
        .expect("the workspace folder is readable")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").is_file() && e.path().join("src").is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "lessons" && n != "common")
        .collect();
    names.sort();
    names
}
