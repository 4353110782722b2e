//! What the book reads from the repository: each demo's sections in `--list` order (from
//! its `main.rs`), and each section file's parts (header, lesson lines, twin, companions).
//! Nothing here copies a file's text into the book's source: pages name files and lines.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The workspace's folder (the book crate sits in it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the book crate is in the workspace")
        .to_path_buf()
}

/// The demo crates, in the book's order, with the Python model each mirrors.
pub const DEMOS: &[(&str, &str)] = &[
    ("threading-demo", "threading"),
    ("multiprocessing-demo", "multiprocessing"),
    ("asyncio-demo", "asyncio"),
    ("futures-demo", "concurrent.futures"),
    ("hybrid-demo", "asyncio + a thread pool"),
    ("compare", "the benchmark table and the decision matrix"),
    ("distributed-demo", "beyond multiprocessing.Pool: Ray, Dask"),
    (
        "python-extension",
        "keeping Python: an extension that releases the GIL",
    ),
];

/// The line that ends a section file's lesson part.
pub const MARKER: &str = "// --- run and measure ---";

pub struct Demo {
    pub name: &'static str,
    pub mirrors: &'static str,
    pub sections: Vec<Section>,
}

pub struct Section {
    pub demo: &'static str,
    /// As `--list` prints it (`spawn-send`).
    pub name: String,
    /// The Python construct it mirrors (the second argument of `Section::new`).
    pub idiom: String,
    /// The file the page shows, relative to the workspace root: `CRATE/src/NAME.rs`.
    pub file: PathBuf,
    /// Its text, as read for this build.
    pub text: String,
    /// The Python twin (`CRATE/python/NAME.py`) when the section declares one.
    pub twin: Option<PathBuf>,
    /// `Copy beside it:` files, relative to the workspace root.
    pub companions: Vec<PathBuf>,
    pub header: Header,
    /// The lesson part: first and last line (1-based, inclusive), blank edges left out.
    pub lesson: Option<(usize, usize)>,
}

impl Section {
    pub fn page(&self) -> String {
        format!("{}/{}.md", self.demo, self.name)
    }
}

/// Every demo's sections, read from the files.
pub fn demos(root: &Path) -> Result<Vec<Demo>> {
    DEMOS
        .iter()
        .map(|&(name, mirrors)| {
            let src = root.join(name).join("src");
            let main = read(&src.join("main.rs"))?;
            let sections = section_modules(&main)
                .with_context(|| format!("{name}/src/main.rs"))?
                .iter()
                .map(|module| section(root, name, module))
                .collect::<Result<_>>()?;
            Ok(Demo {
                name,
                mirrors,
                sections,
            })
        })
        .collect()
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// The modules of `const SECTIONS: ... = &[a::SECTION, b::SECTION...];`, in order.
fn section_modules(main: &str) -> Result<Vec<String>> {
    let start = main
        .find("const SECTIONS")
        .context("no `const SECTIONS` list")?;
    let list = &main[start..];
    let list = &list[list.find("= &[").context("no `= &[`")? + 4..];
    let list = &list[..list.find("];").context("no `];`")?];
    let modules: Vec<String> = list
        .split("::SECTION")
        .filter_map(|before| {
            let word: String = before
                .chars()
                .rev()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            (!word.is_empty()).then(|| word.chars().rev().collect())
        })
        .collect();
    if modules.is_empty() {
        bail!("no `module::SECTION` in the SECTIONS list");
    }
    Ok(modules)
}

/// One section: its module declares `SECTION` (and the twin); its page shows
/// `CRATE/src/NAME.rs` (the same file except in python-extension, whose lesson is the
/// library and whose measuring module is `measure.rs`).
fn section(root: &Path, demo: &'static str, module: &str) -> Result<Section> {
    let module_file = root.join(demo).join("src").join(format!("{module}.rs"));
    let module_text = read(&module_file)?;
    let at = module_text
        .find("pub const SECTION")
        .with_context(|| format!("{}: no `pub const SECTION`", module_file.display()))?;
    // `Section::new(` or `Section::with_options(`: its first two arguments.
    let literals = string_literals(&module_text[at..], 2);
    let [name, idiom] = <[String; 2]>::try_from(literals).map_err(|_| {
        anyhow::anyhow!(
            "{}: SECTION without a name and an idiom",
            module_file.display()
        )
    })?;
    let file = PathBuf::from(demo)
        .join("src")
        .join(format!("{}.rs", name.replace('-', "_")));
    let text = read(&root.join(&file))?;
    let twin = module_text.find("Twin::new(").and_then(|at| {
        let script = string_literals(&module_text[at..], 1).pop()?;
        Some(PathBuf::from(demo).join("python").join(script))
    });
    let header = parse_header(&text);
    let companions = header
        .copy_beside
        .iter()
        .map(|f| PathBuf::from(demo).join("src").join(f))
        .collect();
    let lesson = lesson_lines(&text, header.end);
    Ok(Section {
        demo,
        name,
        idiom,
        file,
        text,
        twin,
        companions,
        header,
        lesson,
    })
}

/// The first `n` Rust string literals in `code` (plain `"..."` with `\` escapes).
fn string_literals(code: &str, n: usize) -> Vec<String> {
    let mut found = Vec::new();
    let mut chars = code.chars();
    while found.len() < n {
        let Some(c) = chars.next() else { break };
        if c != '"' {
            continue;
        }
        let mut s = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => s.push('\n'),
                    Some('t') => s.push('\t'),
                    Some(other) => s.push(other),
                    None => break,
                },
                c => s.push(c),
            }
        }
        found.push(s);
    }
    found
}

/// The lesson: the lines after the header up to the marker (up to the tests where there
/// is none), without blank lines at either end. 1-based, inclusive.
pub fn lesson_lines(text: &str, header_end: usize) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    // The marker, or where there is none (a library that is all lesson) its tests.
    let stop = lines
        .iter()
        .position(|l| l.trim_end() == MARKER || l.starts_with("#[cfg(test)]"))
        .unwrap_or(lines.len());
    let mut start = header_end.min(stop);
    while start < stop && lines[start].trim().is_empty() {
        start += 1;
    }
    let mut end = stop;
    while end > start && lines[end - 1].trim().is_empty() {
        end -= 1;
    }
    (end > start).then_some((start + 1, end))
}

/// A section file's `//!` header, in parts.
#[derive(Debug, Default, PartialEq)]
pub struct Header {
    /// How many lines it has (the lesson starts after them).
    pub end: usize,
    /// The first paragraph: "`python idiom` -> Rust counterpart".
    pub summary: String,
    /// What the `Python (...)` line says about the idiom, without the parentheses.
    pub python_label: Option<String>,
    /// The Python idiom: the indented block after `Python:`, dedented.
    pub python: Option<String>,
    /// The prose: where Rust differs, what to watch, and any other paragraph.
    pub notes: Vec<Block>,
    pub run_only: Option<String>,
    pub copy_it: Option<String>,
    pub copy_beside: Vec<String>,
}

#[derive(Debug, PartialEq)]
pub enum Block {
    Text(String),
    Code(String),
}

/// Reads the leading `//!` lines of a file.
pub fn parse_header(text: &str) -> Header {
    let lines: Vec<&str> = text
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| l[3..].strip_prefix(' ').unwrap_or(&l[3..]))
        .collect();
    let mut header = Header {
        end: lines.len(),
        ..Header::default()
    };
    let mut i = 0;
    while i < lines.len() && lines[i].trim().is_empty() {
        i += 1;
    }
    let mut summary = Vec::new();
    while i < lines.len() && !lines[i].trim().is_empty() {
        summary.push(lines[i]);
        i += 1;
    }
    header.summary = summary.join("\n");
    let mut paragraph: Vec<&str> = Vec::new();
    let flush = |paragraph: &mut Vec<&str>, notes: &mut Vec<Block>| {
        if !paragraph.is_empty() {
            notes.push(Block::Text(paragraph.join("\n")));
            paragraph.clear();
        }
    };
    while i < lines.len() {
        let line = lines[i];
        if line.trim().is_empty() {
            flush(&mut paragraph, &mut header.notes);
            i += 1;
        } else if let Some(rest) = line.strip_prefix("Run only this:") {
            header.run_only = Some(rest.trim().to_owned());
            i += 1;
        } else if let Some(rest) = line.strip_prefix("Copy it:") {
            header.copy_it = Some(rest.trim().to_owned());
            i += 1;
        } else if let Some(rest) = line.strip_prefix("Copy beside it:") {
            header.copy_beside.extend(
                rest.split([',', ' '])
                    .filter(|f| f.ends_with(".rs"))
                    .map(str::to_owned),
            );
            i += 1;
        } else if paragraph.is_empty() && header.python.is_none() && is_python_label(line) {
            let mut label = vec![line];
            while !label.last().unwrap().trim_end().ends_with(':')
                && i + 1 < lines.len()
                && !lines[i + 1].trim().is_empty()
                && !lines[i + 1].starts_with("    ")
            {
                i += 1;
                label.push(lines[i]);
            }
            let (code, next) = indented_block(&lines, i + 1);
            header.python_label = python_label(&label.join(" "));
            header.python = (!code.is_empty()).then_some(code);
            i = next;
        } else if line.starts_with("    ")
            && paragraph.last().is_none_or(|l| l.trim_end().ends_with(':'))
        {
            flush(&mut paragraph, &mut header.notes);
            let (code, next) = indented_block(&lines, i);
            header.notes.push(Block::Code(code));
            i = next;
        } else {
            paragraph.push(line);
            i += 1;
        }
    }
    flush(&mut paragraph, &mut header.notes);
    header
}

fn is_python_label(line: &str) -> bool {
    line.starts_with("Python:") || line.starts_with("Python (")
}

/// `Python (the guide's example):` -> `the guide's example`; `Python:` -> none.
fn python_label(label: &str) -> Option<String> {
    let inner = label.trim().strip_prefix("Python")?.trim();
    let inner = inner.strip_suffix(':').unwrap_or(inner).trim();
    let inner = inner
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or(inner);
    (!inner.is_empty()).then(|| inner.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The lines from `start` indented by at least 4 spaces (blank lines inside kept),
/// dedented; and the index after them.
fn indented_block(lines: &[&str], start: usize) -> (String, usize) {
    let mut end = start;
    let mut last = start;
    while end < lines.len() && (lines[end].starts_with("    ") || lines[end].trim().is_empty()) {
        if !lines[end].trim().is_empty() {
            last = end + 1;
        }
        end += 1;
    }
    let block = &lines[start..last];
    let indent = block
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let code: Vec<&str> = block
        .iter()
        .map(|l| if l.len() >= indent { &l[indent..] } else { "" })
        .collect();
    (code.join("\n"), last)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "//! `asyncio.gather(*coros)` -> `join_all`.
//!
//! Python (the guide's example):
//!     async def f(i):
//!         await asyncio.sleep(0.5)
//!
//!     await asyncio.gather(*(f(i) for i in range(10)))
//!
//! Rust: `join_all` polls them together. It says:
//!     an indented aside
//!
//! Watch: ten waits in 0.5 s.
//!
//! Run only this: cargo run -p asyncio-demo -- gather
//! Copy it: cargo add futures@0.3
//! Copy beside it: handshake.rs

use std::time::Duration;

fn main() {}

// --- run and measure ---

fn run() {}
";

    #[test]
    fn a_header_is_read_in_parts() {
        let header = parse_header(FILE);
        assert_eq!(header.end, 16);
        assert_eq!(header.summary, "`asyncio.gather(*coros)` -> `join_all`.");
        assert_eq!(header.python_label.as_deref(), Some("the guide's example"));
        assert_eq!(
            header.python.as_deref(),
            Some(
                "async def f(i):\n    await asyncio.sleep(0.5)\n\nawait asyncio.gather(*(f(i) for i in range(10)))"
            )
        );
        assert_eq!(
            header.notes,
            [
                Block::Text("Rust: `join_all` polls them together. It says:".into()),
                Block::Code("an indented aside".into()),
                Block::Text("Watch: ten waits in 0.5 s.".into()),
            ]
        );
        assert_eq!(
            header.run_only.as_deref(),
            Some("cargo run -p asyncio-demo -- gather")
        );
        assert_eq!(header.copy_it.as_deref(), Some("cargo add futures@0.3"));
        assert_eq!(header.copy_beside, ["handshake.rs"]);
    }

    #[test]
    fn the_lesson_is_between_the_header_and_the_marker() {
        assert_eq!(lesson_lines(FILE, 16), Some((18, 20)));
        assert_eq!(lesson_lines("//! a\n\nfn x() {}\n\n", 1), Some((3, 3)));
        assert_eq!(
            lesson_lines("//! a\nfn x() {}\n\n#[cfg(test)]\nmod tests {}\n", 1),
            Some((2, 2))
        );
        assert_eq!(
            lesson_lines("//! a\n\n// --- run and measure ---\n", 1),
            None
        );
    }

    #[test]
    fn the_sections_list_is_read_in_order() {
        let main = "const ROLES: &[Role] = &[x::SECTION];\nconst SECTIONS: &[Section<O>] = &[\n    b_c::SECTION.reads_no_options(),\n    a::SECTION,\n];\nconst Y: &[Role] = &[z::SECTION];";
        assert_eq!(section_modules(main).unwrap(), ["b_c", "a"]);
        assert_eq!(
            string_literals(
                r#"Section::new(
    "name", "say \"hi\"", x)"#,
                2
            ),
            ["name", "say \"hi\""]
        );
    }
}
