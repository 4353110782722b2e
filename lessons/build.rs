//! Copies the lesson part of every section file into `OUT_DIR`, one module each, checks
//! that each is a program a reader can paste (a `fn main`, a `Copy it:` line that adds
//! what it uses), and writes the table of lesson mains the `lesson` binary runs.
//! See `src/lib.rs` for why, and `src/check.rs` for the copy line.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[path = "src/check.rs"]
#[allow(dead_code)]
mod check;

const MARKER: &str = "// --- run and measure ---";
const COPY: &str = "//! Copy it:";
const BESIDE: &str = "//! Copy beside it:";

/// Lesson parts that are not programs: python-extension's lesson is a Python module (the
/// crate's library, run from Python), and its measuring binary has an empty lesson part.
fn exempt(shown: &str) -> bool {
    shown.starts_with("python-extension/")
}

/// What the build script gathers: the generated modules, the lessons with a `main`, and
/// what stops a lesson part from being a program.
struct Copies {
    out: PathBuf,
    known: Vec<String>,
    versions: std::collections::BTreeMap<String, String>,
    modules: String,
    mains: Vec<String>,
    problems: Vec<String>,
}

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest.parent().expect("lessons/ sits in the workspace");
    let workspace_toml = root.join("Cargo.toml");
    println!("cargo:rerun-if-changed={}", workspace_toml.display());
    let mut copies = Copies {
        out: PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it")),
        known: dependencies(&manifest.join("Cargo.toml")),
        versions: check::workspace_versions(&read(&workspace_toml)),
        modules: String::new(),
        mains: Vec::new(),
        problems: Vec::new(),
    };
    for krate in crates(root) {
        copies.add_crate(root, &krate);
    }
    copies.finish();
}

impl Copies {
    /// Every lesson part of one crate, as a module `crate_name { file { ... } }`.
    fn add_crate(&mut self, root: &Path, krate: &str) {
        let module = krate.replace('-', "_");
        writeln!(self.modules, "pub mod {module} {{").unwrap();
        let src = root.join(krate).join("src");
        println!("cargo:rerun-if-changed={}", src.display());
        let mut files: Vec<PathBuf> = std::fs::read_dir(&src)
            .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "rs"));
        files.sort();
        std::fs::create_dir_all(self.out.join(krate)).expect("OUT_DIR is writable");
        for file in files {
            self.add_file(krate, &module, &src, &file);
        }
        self.modules.push_str("}\n");
    }

    /// One file's lesson part (and its companions) copied into `OUT_DIR/CRATE/`, checked.
    fn add_file(&mut self, krate: &str, module: &str, src: &Path, file: &Path) {
        println!("cargo:rerun-if-changed={}", file.display());
        let text = read(file);
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let shown = format!("{krate}/src/{name}");
        let Some(lesson) = lesson_part(&text, &shown, &mut self.problems) else {
            return;
        };
        let dir = self.out.join(krate);
        // The lesson with its companions: what a copy compiles, and what its `Copy it:`
        // line must add.
        let mut with_companions = lesson.clone();
        for companion in beside(&lesson) {
            match std::fs::read_to_string(src.join(&companion)) {
                Ok(companion_text) => {
                    let part = companion_text
                        .split(&format!("\n{MARKER}\n"))
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    with_companions.push_str(&part);
                    std::fs::write(dir.join(&companion), part).expect("OUT_DIR is writable");
                }
                Err(e) => self
                    .problems
                    .push(format!("{shown}: `Copy beside it: {companion}`: {e}")),
            }
        }
        let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
        let mut copy = lesson.clone();
        let known: Vec<&str> = self.known.iter().map(String::as_str).collect();
        if !exempt(&shown)
            && check_program(
                &lesson,
                &with_companions,
                &shown,
                &known,
                &self.versions,
                &mut self.problems,
            )
        {
            copy.push_str(
                "\n/// Added by the lessons check: the lesson's `main`, for the `lesson` binary.\n#[allow(clippy::unit_arg)]\npub fn __lesson_main() -> std::process::ExitCode {\n    std::process::Termination::report(main())\n}\n",
            );
            self.mains.push(format!("{module}::{stem}"));
        }
        let path = dir.join(format!("{stem}.rs"));
        std::fs::write(&path, copy).expect("OUT_DIR is writable");
        writeln!(
            self.modules,
            "    #[path = {:?}]\n    pub mod {stem};",
            path.display().to_string()
        )
        .unwrap();
    }

    /// Fail the build on any problem (naming each file); otherwise write the modules, the
    /// list of lessons with a `main`, and the function that runs one.
    fn finish(mut self) {
        if !self.problems.is_empty() {
            for p in &self.problems {
                println!("cargo:warning={p}");
            }
            panic!(
                "lesson parts that cannot be copied alone:\n  {}",
                self.problems.join("\n  ")
            );
        }
        let modules = &mut self.modules;
        writeln!(
            modules,
            "\n/// Every lesson with a `main`, as `crate_module::file`."
        )
        .unwrap();
        writeln!(modules, "pub const ALL: &[&str] = &{:?};", self.mains).unwrap();
        modules.push_str(
            "\n/// Run the lesson `name`'s `main`; `None` for a name not in [`ALL`].\npub fn run(name: &str) -> Option<std::process::ExitCode> {\n    Some(match name {\n",
        );
        for name in &self.mains {
            writeln!(modules, "        {name:?} => {name}::__lesson_main(),").unwrap();
        }
        modules.push_str("        _ => return None,\n    })\n}\n");
        std::fs::write(self.out.join("lessons.rs"), &self.modules).expect("OUT_DIR is writable");
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The part above the marker, or `None` for a file without one (a section file without it
/// is a problem).
fn lesson_part(text: &str, shown: &str, problems: &mut Vec<String>) -> Option<String> {
    let markers = text.lines().filter(|l| *l == MARKER).count();
    let is_section = text.lines().any(|l| l.starts_with("pub const SECTION"));
    if markers == 0 {
        if is_section {
            problems.push(format!(
                "{shown}: a section file without the line `{MARKER}`"
            ));
        }
        return None;
    }
    if markers > 1 {
        problems.push(format!("{shown}: `{MARKER}` appears {markers} times"));
        return None;
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
    Some(lesson)
}

/// The files a lesson's `Copy beside it:` line names.
fn beside(lesson: &str) -> Vec<String> {
    lesson
        .lines()
        .filter_map(|l| l.strip_prefix(BESIDE))
        .flat_map(|files| files.split(',').map(|f| f.trim().to_owned()))
        .filter(|f| !f.is_empty())
        .collect()
}

/// A lesson part that is a program: a top-level `fn main` and a `Copy it:` line that adds
/// exactly what it uses with its companion files (`code`). Records what is missing;
/// returns whether it has a `main`.
fn check_program(
    lesson: &str,
    code: &str,
    shown: &str,
    known: &[&str],
    versions: &std::collections::BTreeMap<String, String>,
    problems: &mut Vec<String>,
) -> bool {
    let has_main = lesson
        .lines()
        .any(|l| l.starts_with("fn main(") || l.starts_with("async fn main("));
    if !has_main {
        problems.push(format!(
            "{shown}: the lesson part has no `fn main` (pasted as src/main.rs it must run: end it with one)"
        ));
    }
    match lesson.lines().find_map(|l| l.strip_prefix(COPY)) {
        None => problems.push(format!(
            "{shown}: no `{COPY}` line in its header (the `cargo add` line a copy needs, or `std only, nothing to add`)"
        )),
        Some(line) => {
            for p in check::check(code, line, known, versions) {
                problems.push(format!("{shown}: {p}"));
            }
        }
    }
    has_main
}

/// The crates this crate depends on: the only ones a lesson may use.
fn dependencies(manifest: &Path) -> Vec<String> {
    let text = read(manifest);
    let mut inside = false;
    let mut names = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == "[dependencies]";
            continue;
        }
        if inside
            && !line.starts_with('#')
            && let Some((name, _)) = line.split_once(['=', '.'])
            && !name.trim().is_empty()
        {
            names.push(name.trim().to_owned());
        }
    }
    names
}

/// The workspace members that hold lessons: every folder with a Cargo.toml and a src/,
/// except this one and `common`.
fn crates(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root)
        .expect("the workspace folder is readable")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").is_file() && e.path().join("src").is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            !["lessons", "common", "pg-server", "workload", "headless"].contains(&n.as_str())
        })
        .collect();
    names.sort();
    names
}
