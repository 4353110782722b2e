//! The book's mdBook preprocessor (`book preprocess`, named in the generated book.toml):
//! it reads a section file's `//!` header when mdBook renders the page, the way mdBook's
//! own `{{#include}}` reads the code, so the header's prose is never copied into a page.
//!
//! - `{{#section-summary PATH}}`: the header's first paragraph;
//! - `{{#section-python PATH}}`: the Python idiom of the header, as a code block;
//! - `{{#section-notes PATH}}`: the rest of its prose (where Rust differs, what to watch)
//!   and its `Copy it:` line;
//! - `{{#section-run DEMO/SECTION}}`: the section's captured run, labelled (the folder of
//!   runs is `runs` in the preprocessor's table of book.toml, written by the build);
//! - `{{#section-twins PREFIX}}`: a list of the sections that have a Python twin, linked
//!   (PREFIX: the path from the page to the book's root, `.` at the top).
//!
//! PATH is relative to the page, as in `{{#include}}`. mdBook passes `[context, book]` as
//! JSON on standard input and reads the book back on standard output.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::run::Capture;
use crate::source::{Block, Header, parse_header};

pub fn main(args: &[String]) -> Result<()> {
    if args.first().map(String::as_str) == Some("supports") {
        // Every renderer: the output is plain Markdown.
        return Ok(());
    }
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let input: Value = serde_json::from_str(&input).context("mdBook's JSON")?;
    let (Some(ctx), Some(book)) = (input.get(0), input.get(1)) else {
        bail!("expected [context, book] on standard input");
    };
    let root = PathBuf::from(ctx["root"].as_str().context("context.root")?);
    let src = ctx["config"]["book"]["src"].as_str().unwrap_or("src");
    let runs = ctx["config"]["preprocessor"]["sections"]["runs"]
        .as_str()
        .map(|r| root.join(r));
    let mut book = book.clone();
    expand_chapters(&mut book, &root.join(src), runs.as_deref())?;
    serde_json::to_writer(std::io::stdout().lock(), &book)?;
    Ok(())
}

/// Every chapter anywhere in the book (its shape differs between mdBook versions: any
/// object with a `content` string and a `source_path` or `path` is a chapter).
fn expand_chapters(value: &mut Value, src: &Path, runs: Option<&Path>) -> Result<()> {
    match value {
        Value::Object(map) => {
            let path = ["source_path", "path"]
                .iter()
                .find_map(|k| map.get(*k)?.as_str().map(str::to_owned));
            if let (Some(path), Some(Value::String(content))) = (path, map.get_mut("content")) {
                let dir = src.join(&path);
                let dir = dir.parent().unwrap_or(src);
                *content = expand(content, dir, runs).with_context(|| path.clone())?;
            }
            for v in map.values_mut() {
                expand_chapters(v, src, runs)?;
            }
        }
        Value::Array(items) => {
            for v in items {
                expand_chapters(v, src, runs)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Replaces the directives in one page's Markdown.
pub fn expand(content: &str, dir: &Path, runs: Option<&Path>) -> Result<String> {
    let mut out = String::with_capacity(content.len());
    let mut rest = content;
    while let Some(at) = rest.find("{{#section-") {
        out.push_str(&rest[..at]);
        let directive = &rest[at + 2..];
        let end = directive
            .find("}}")
            .context("a {{#section-...}} without }}")?;
        let (kind, arg) = directive[..end]
            .trim()
            .split_once(char::is_whitespace)
            .context("{{#section-KIND ARGUMENT}}")?;
        let arg = arg.trim();
        out.push_str(&if kind == "#section-twins" {
            twins(arg)?
        } else if kind == "#section-run" {
            let runs = runs.context("{{#section-run}} needs `runs` in book.toml")?;
            let (demo, section) = arg
                .split_once('/')
                .context("{{#section-run DEMO/SECTION}}")?;
            run(&Capture::load(runs, demo, section)?)
        } else {
            let file = dir.join(arg);
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("{kind} {}", file.display()))?;
            let header = parse_header(&text);
            match kind {
                "#section-summary" => header.summary.clone(),
                "#section-python" => python(&header),
                "#section-notes" => notes(&header),
                other => bail!("unknown directive {other}"),
            }
        });
        rest = &directive[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The sections with a Python twin, one line per demo, each linked to its page.
fn twins(prefix: &str) -> Result<String> {
    let mut lines = Vec::new();
    for demo in crate::source::demos(&crate::source::workspace_root())? {
        let names: Vec<String> = demo
            .sections
            .iter()
            .filter(|s| s.twin.is_some())
            .map(|s| format!("[{}]({prefix}/{})", s.name, s.page()))
            .collect();
        if !names.is_empty() {
            lines.push(format!("- `{}`: {}", demo.name, names.join(", ")));
        }
    }
    Ok(lines.join("\n"))
}

/// A run: its label, then what it printed.
fn run(capture: &Capture) -> String {
    format!(
        "<p class=\"run-label\">{}</p>\n\n<div class=\"run-output\">\n\n{}\n\n</div>",
        html(&capture.label()),
        fenced("text", capture.output.trim_end())
    )
}

/// Text for an HTML element, with `code` spans for backticks.
fn html(text: &str) -> String {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let mut out = String::new();
    for (i, part) in escaped.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str("<code>");
            out.push_str(part);
            out.push_str("</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

/// A fenced block that nothing inside can close.
pub fn fenced(lang: &str, body: &str) -> String {
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}{lang}\n{body}\n{fence}")
}

fn python(header: &Header) -> String {
    let caption = match &header.python_label {
        Some(label) => format!("the idiom in the file's header ({label})"),
        None => "the idiom in the file's header".to_owned(),
    };
    let code = header.python.clone().unwrap_or_else(|| {
        // No Python block: the header's first paragraph names the idiom.
        format!("# {}", header.summary.replace('\n', "\n# "))
    });
    format!(
        "<p class=\"side-caption\">Python: {caption}</p>\n\n{}",
        fenced("python", &code)
    )
}

fn notes(header: &Header) -> String {
    let mut out = Vec::new();
    for block in &header.notes {
        out.push(match block {
            Block::Text(text) => text.clone(),
            Block::Code(code) => fenced("text", code),
        });
    }
    if let Some(copy) = &header.copy_it {
        let copy = if copy.starts_with("cargo ") {
            format!(
                "in a new project (`cargo new x`), then paste the lesson as `src/main.rs`:\n\n{}",
                fenced("sh", copy)
            )
        } else {
            copy.clone()
        };
        out.push(format!("**Copy it:** {copy}"));
    }
    out.join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_are_replaced_by_the_files_header() {
        let dir = std::env::temp_dir().join(format!("book-pre-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("s.rs"),
            "//! `a` -> `b`.\n//!\n//! Python:\n//!     a()\n//!\n//! Watch: it.\n//!\n//! Copy it: std only, nothing to add\n\nfn main() {}\n",
        )
        .unwrap();
        let page = "# t\n{{#section-summary s.rs}}\n{{#section-python s.rs}}\n{{#section-notes s.rs}}\nend";
        let out = expand(page, &dir, None).unwrap();
        assert!(out.starts_with("# t\n`a` -> `b`.\n"), "{out}");
        assert!(out.contains("```python\na()\n```"), "{out}");
        assert!(
            out.contains("Watch: it.\n\n**Copy it:** std only, nothing to add\nend"),
            "{out}"
        );
        assert!(expand("{{#section-notes missing.rs}}", &dir, None).is_err());
        assert_eq!(html("a `b<c>` d"), "a <code>b&lt;c&gt;</code> d");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_fence_is_longer_than_any_backticks_inside() {
        assert_eq!(fenced("text", "a ```` b"), "`````text\na ```` b\n`````");
        assert_eq!(fenced("", "x"), "```\nx\n```");
    }
}
