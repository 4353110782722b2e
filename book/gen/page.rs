//! The generated Markdown: one page per section, the summary's chapter lists, and the
//! "This build" page. A section page names files and line numbers (mdBook's
//! `{{#include}}`) and header parts (the book's preprocessor): it never holds their text.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use crate::preprocess::fenced;
use crate::run::Capture;
use crate::source::{Demo, Section};

/// The line of the committed SUMMARY.md where the demos' chapters go.
pub const DEMOS_MARKER: &str = "<!-- the demos' chapters: written by `cargo run -p book` -->";

/// Where a page finds the files it includes.
pub struct Layout {
    /// The workspace root (absolute).
    pub root: PathBuf,
    /// The generated book's `src` folder (absolute).
    pub src: PathBuf,
}

impl Layout {
    /// `file` (relative to the workspace root, or absolute) as seen from `page`'s folder.
    fn seen_from(&self, page: &str, file: &Path) -> String {
        let dir = self.src.join(page);
        let dir = dir.parent().unwrap();
        let file = self.root.join(file);
        relative(dir, &file).to_string_lossy().into_owned()
    }
}

/// The path from folder `from` to `to` (both absolute): `../../asyncio-demo/src/gather.rs`.
pub fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut path = PathBuf::new();
    for _ in common..from.len() {
        path.push("..");
    }
    for part in &to[common..] {
        path.push(part);
    }
    path
}

/// Markdown's special characters in plain text, escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\`*_[]<>#|".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A section's page.
pub fn section_page(s: &Section, layout: &Layout) -> String {
    let page = s.page();
    let file = layout.seen_from(&page, &s.file);
    let shown = s.file.display();
    let mut md = String::new();
    let _ = writeln!(md, "# {}: {}\n", s.name, escape(&s.idiom));
    let _ = writeln!(md, "{{{{#section-summary {file}}}}}\n");
    md.push_str("<div class=\"side-by-side\">\n<div class=\"python-side\">\n\n");
    match &s.twin {
        Some(twin) => {
            let _ = writeln!(
                md,
                "<p class=\"side-caption\">Python: <code>{}</code> (the twin <code>--python</code> runs)</p>\n",
                twin.display()
            );
            let include = format!("{{{{#include {}}}}}", layout.seen_from(&page, twin));
            let _ = writeln!(md, "{}\n", fenced("python", &include));
        }
        None => {
            let _ = writeln!(md, "{{{{#section-python {file}}}}}\n");
        }
    }
    md.push_str("</div>\n<div class=\"rust-side\">\n\n");
    match s.lesson {
        Some((first, last)) => {
            let _ = writeln!(
                md,
                "<p class=\"side-caption\">Rust: <code>{shown}</code>, lines {first}-{last} (the lesson)</p>\n"
            );
            let include = format!("{{{{#include {file}:{first}:{last}}}}}");
            let _ = writeln!(md, "{}\n", fenced("rust", &include));
        }
        None => {
            let _ = writeln!(
                md,
                "<p class=\"side-caption\">Rust: <code>{shown}</code> has no lesson part.</p>\n"
            );
        }
    }
    md.push_str("</div>\n</div>\n\n");
    let _ = writeln!(md, "{{{{#section-notes {file}}}}}\n");
    for companion in &s.companions {
        let name = companion.file_name().unwrap_or_default().to_string_lossy();
        let include = format!("{{{{#include {}}}}}", layout.seen_from(&page, companion));
        let _ = writeln!(
            md,
            "<details class=\"companion\"><summary><code>{name}</code>, copied beside it</summary>\n\n{}\n\n</details>\n",
            fenced("rust", &include)
        );
    }
    let run_it = s
        .header
        .run_only
        .clone()
        .unwrap_or_else(|| format!("cargo run -p {} -- {}", s.demo, s.name));
    let _ = write!(md, "**Run it:** `{run_it}`");
    if s.twin.is_some() {
        md.push_str(" (add `--python` for the Python twin's figures beside Rust's)");
    }
    md.push_str("\n\n## This machine's run\n\n");
    let _ = writeln!(md, "{{{{#section-run {}/{}}}}}", s.demo, s.name);
    md
}

/// The committed SUMMARY.md with each demo's chapter (its committed page) and one entry
/// per section at the marker.
pub fn summary(committed: &str, demos: &[Demo]) -> String {
    let mut chapters = String::new();
    for demo in demos {
        let _ = writeln!(chapters, "- [{}](./{}.md)", demo.name, demo.name);
        for s in &demo.sections {
            let _ = writeln!(chapters, "    - [{}](./{})", s.name, s.page());
        }
    }
    committed.replace(DEMOS_MARKER, chapters.trim_end())
}

/// "This build": where and how the runs on the pages were made.
pub fn this_build(demos: &[Demo], captures: &[Vec<Capture>], mdbook: &str) -> String {
    let mut md = String::from("# This build\n\n");
    let first = captures.iter().flatten().next();
    if let Some(c) = first {
        if c.profile == "stand-in" {
            md.push_str(
                "The runs on these pages are **stand-ins** written by the book's test, not \
                 measurements: `cargo run -p book` replaces them with real runs.\n\n",
            );
        } else {
            let python = c
                .python
                .clone()
                .or_else(|| captures.iter().flatten().find_map(|c| c.python.clone()))
                .unwrap_or_else(|| "none found: the twins did not run".into());
            let _ = writeln!(
                md,
                "Every output block in this book was printed by one run of its section, made by \
                 `cargo run -p book` and shown as it was printed (an 80-column terminal).\n\n\
                 - machine: {}\n- started: {} UTC\n- build: {} profile\n- Python for the twins: \
                 {python}\n- rendered by: {mdbook}\n",
                c.machine, c.date, c.profile
            );
        }
    }
    md.push_str("| demo | sections | their runs took | failed |\n| --- | ---: | ---: | --- |\n");
    for (demo, runs) in demos.iter().zip(captures) {
        let secs: f64 = runs.iter().map(|c| c.secs).sum();
        let failed: Vec<String> = demo
            .sections
            .iter()
            .zip(runs)
            .filter(|(_, c)| !c.ok)
            .map(|(s, c)| format!("[{}](./{}) ({})", s.name, s.page(), c.status))
            .collect();
        let _ = writeln!(
            md,
            "| [{}](./{}.md) | {} | {secs:.1} s | {} |",
            demo.name,
            demo.name,
            demo.sections.len(),
            if failed.is_empty() {
                "none".to_owned()
            } else {
                failed.join(", ")
            }
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_to_the_page() {
        assert_eq!(
            relative(
                Path::new("/w/target/book-src/src/a"),
                Path::new("/w/a/src/x.rs")
            ),
            Path::new("../../../../a/src/x.rs")
        );
        assert_eq!(
            relative(Path::new("/w/x"), Path::new("/w/x/y.txt")),
            Path::new("y.txt")
        );
    }

    #[test]
    fn text_is_escaped_for_markdown() {
        assert_eq!(escape("gather(*coros) [x]"), "gather(\\*coros) \\[x\\]");
    }
}
