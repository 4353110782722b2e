//! The shape of the workspace's code, checked: no function (outside tests) is longer than
//! a reader can hold in view, and the measuring half of the section files is no heavier
//! than the lessons it measures.
//!
//! - A function is counted in raw lines, from the line of `fn` to its closing brace,
//!   blank and comment lines included; tests (`#[test]` functions, `#[cfg(test)]`
//!   modules, `tests/` folders) are not counted.
//! - Lesson lines: the lines above `// --- run and measure ---` that are not the `//!`
//!   header, plus the whole of a companion file a lesson names (`Copy beside it:`) and of
//!   python-extension's Python module (`src/release_gil.rs`). Measuring lines: the lines
//!   below the marker up to `#[cfg(test)]`.
//!
//! `cargo test -p lessons --test shape -- --nocapture` prints the figures.

use std::path::{Path, PathBuf};

const MARKER: &str = "// --- run and measure ---";
const LONGEST: usize = 80;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every `.rs` file under each member's `src/` (and its `build.rs`).
fn sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for member in std::fs::read_dir(root()).unwrap().filter_map(|e| e.ok()) {
        let dir = member.path();
        if !dir.join("Cargo.toml").is_file() {
            continue;
        }
        if dir.join("build.rs").is_file() {
            files.push(dir.join("build.rs"));
        }
        let mut stack = vec![dir.join("src")];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.filter_map(|e| e.ok()) {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    files.push(p);
                }
            }
        }
    }
    files.sort();
    files
}

/// (first line, length in lines, name) of every function outside tests in `text`.
fn functions(text: &str) -> Vec<(usize, usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut test_module_from = None;
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("#[cfg(test)]")
            && lines.get(i + 1).is_some_and(|l| l.starts_with("mod "))
        {
            test_module_from = Some(i);
        }
        if test_module_from.is_some() {
            break;
        }
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let head = trimmed
            .trim_start_matches("pub ")
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub(super) ")
            .trim_start_matches("const ")
            .trim_start_matches("async ");
        let Some(rest) = head.strip_prefix("fn ") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let attrs = lines[i.saturating_sub(3)..i].join("\n");
        if attrs.contains("#[test]") || attrs.contains("::test") {
            continue;
        }
        // The signature ends at the first line ending in `{` (a body) or `;` (none).
        let Some(open) = (i..lines.len()).find(|&j| {
            let l = lines[j].trim_end();
            l.ends_with('{') || l.ends_with(';')
        }) else {
            continue;
        };
        if lines[open].trim_end().ends_with(';') {
            continue;
        }
        let close = format!("{}}}", " ".repeat(indent));
        if let Some(end) = (open + 1..lines.len()).find(|&j| lines[j] == close) {
            found.push((i + 1, end - i + 1, name));
        }
    }
    found
}

#[test]
fn no_function_outside_tests_is_over_80_lines() {
    let mut long = Vec::new();
    for file in sources() {
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, length, name) in functions(&text) {
            if length > LONGEST {
                let shown = file.strip_prefix(root()).unwrap().display().to_string();
                long.push(format!("{shown}:{line} {name}: {length} lines"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {LONGEST} lines (split them: measure, a figures struct, report):\n  {}",
        long.join("\n  ")
    );
}

/// (lesson lines, measuring lines) of one file.
fn halves(path: &Path, text: &str) -> (usize, usize) {
    let lines: Vec<&str> = text.lines().collect();
    let Some(marker) = lines.iter().position(|l| *l == MARKER) else {
        let whole_lesson = path.ends_with("python-extension/src/release_gil.rs");
        let lesson = lines.iter().filter(|l| !l.starts_with("//!")).count();
        return (if whole_lesson { lesson } else { 0 }, 0);
    };
    let lesson = lines[..marker]
        .iter()
        .filter(|l| !l.starts_with("//!"))
        .count();
    let measure = lines[marker + 1..]
        .iter()
        .take_while(|l| !l.starts_with("#[cfg(test)]"))
        .count();
    (lesson, measure)
}

#[test]
fn measuring_lines_are_at_most_lesson_lines() {
    let files = sources();
    let mut companions = Vec::new();
    let (mut lesson, mut measure) = (0, 0);
    let mut by_crate: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for line in text
            .lines()
            .filter_map(|l| l.strip_prefix("//! Copy beside it:"))
        {
            for name in line.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                companions.push(file.with_file_name(name));
            }
        }
        let (l, m) = halves(file, &text);
        let krate = file
            .strip_prefix(root())
            .unwrap()
            .components()
            .next()
            .unwrap();
        let entry = by_crate
            .entry(krate.as_os_str().to_string_lossy().into_owned())
            .or_default();
        entry.0 += l;
        entry.1 += m;
        lesson += l;
        measure += m;
    }
    companions.sort();
    companions.dedup();
    for companion in companions {
        let text = std::fs::read_to_string(&companion).unwrap_or_default();
        let l = text.lines().filter(|l| !l.starts_with("//!")).count();
        lesson += l;
    }
    for (krate, (l, m)) in &by_crate {
        if *l + *m > 0 {
            eprintln!("{krate:22} lesson {l:5}  measuring {m:5}");
        }
    }
    eprintln!(
        "{:22} lesson {lesson:5}  measuring {measure:5}",
        "workspace (with companions)"
    );
    assert!(
        measure <= lesson,
        "the measuring half ({measure} lines) outweighs the lessons ({lesson} lines)"
    );
}

#[test]
fn the_function_finder_sees_long_functions_and_skips_tests() {
    let text = "fn short() {\n    x();\n}\n\npub fn body_of_three(\n    a: u8,\n) -> u8 {\n    a\n}\n#[test]\nfn a_test() {\n}\n#[cfg(test)]\nmod tests {\n    fn helper() {\n    }\n}\n";
    let found = functions(text);
    assert_eq!(
        found,
        [
            (1, 3, "short".to_owned()),
            (5, 5, "body_of_three".to_owned())
        ]
    );
}
