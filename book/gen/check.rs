//! Checks on the rendered site: every internal link and anchor resolves, and nothing of the
//! source's directives is left unexpanded (an include that did not resolve).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Every `.html` file under `dir`.
pub fn html_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "html") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The values of `href="..."` and `src="..."` attributes in a page (not text that looks
/// like one: an HTML string quoted in a code block is escaped, `&lt;a href="..."`).
fn links(html: &str) -> Vec<&str> {
    let mut found = Vec::new();
    for attr in [" href=\"", " src=\""] {
        let mut from = 0;
        while let Some(at) = html[from..].find(attr).map(|i| i + from) {
            let value = at + attr.len();
            let Some(len) = html[value..].find('"') else {
                break;
            };
            let before = &html[..at];
            if before.rfind('<') > before.rfind('>') {
                found.push(&html[value..value + len]);
            }
            from = value + len;
        }
    }
    found
}

fn ids(html: &str) -> Vec<&str> {
    html.split("id=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect()
}

/// Broken internal links, as `page: link (why)`. mdBook's 404 page is left out: its links
/// are relative to the site's root on a server (`<base href="/">`), not to its file.
pub fn broken_links(site: &Path) -> Vec<String> {
    let mut pages: HashMap<PathBuf, String> = HashMap::new();
    for file in html_files(site) {
        if let Ok(text) = std::fs::read_to_string(&file) {
            pages.insert(file, text);
        }
    }
    let mut broken = Vec::new();
    for (file, html) in &pages {
        if file.file_name().is_some_and(|n| n == "404.html") {
            continue;
        }
        for link in links(html) {
            let link = link.replace("&amp;", "&");
            if link.is_empty()
                || link.contains("://")
                || link.starts_with("mailto:")
                || link.starts_with("javascript:")
                || link.starts_with("data:")
            {
                continue;
            }
            let (path, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let path = path.split('?').next().unwrap_or("");
            let target = if path.is_empty() {
                file.clone()
            } else {
                let mut target = file.parent().unwrap().join(path);
                if path.ends_with('/') || target.is_dir() {
                    target.push("index.html");
                }
                normalize(&target)
            };
            let shown = format!(
                "{}: {link}",
                file.strip_prefix(site).unwrap_or(file).display()
            );
            if !target.is_file() {
                broken.push(format!("{shown} (no such file)"));
            } else if !fragment.is_empty()
                && let Some(target_html) = pages.get(&target)
                && !ids(target_html).contains(&fragment)
            {
                broken.push(format!("{shown} (no id \"{fragment}\")"));
            }
        }
    }
    broken.sort();
    broken
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Pages that still hold a `{{#...}}` directive: an include mdBook or the preprocessor
/// did not expand.
pub fn unexpanded(site: &Path) -> Vec<String> {
    html_files(site)
        .into_iter()
        .filter(|f| {
            std::fs::read_to_string(f)
                .map(|t| t.contains("{{#include") || t.contains("{{#section-"))
                .unwrap_or(false)
        })
        .map(|f| f.display().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_links_and_anchors_are_found() {
        let dir = std::env::temp_dir().join(format!("book-check-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a")).unwrap();
        std::fs::write(
            dir.join("index.html"),
            r#"<a href="a/p.html#x">ok</a> <a href="a/p.html#nope">bad anchor</a> <a href="gone.html">gone</a> <a href="https://e.org/">out</a> <a data-href="x">x</a> <code>&lt;a href="/x"&gt;</code>"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("a/p.html"),
            r#"<h2 id="x">x</h2><a href="../index.html">up</a>"#,
        )
        .unwrap();
        assert_eq!(
            broken_links(&dir),
            [
                "index.html: a/p.html#nope (no id \"nope\")",
                "index.html: gone.html (no such file)"
            ]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
