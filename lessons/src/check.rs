//! The copy check: what a lesson part needs when it is pasted as `src/main.rs` of a new
//! project, against what its header's `Copy it:` line adds. Used by `build.rs` (which fails
//! the build with the file's name) and unit-tested here.
//!
//! The line is one command to paste, `cargo add` commands joined by `&&`:
//!
//! ```text
//! //! Copy it: cargo add futures@0.3 tracing@0.1 && cargo add tokio@1 --features full
//! //! Copy it: cargo add reqwest@0.13 --no-default-features && cargo add tokio@1 --features full
//! //! Copy it: std only, nothing to add
//! //! Copy beside it: handshake.rs
//! ```
//!
//! Versions are the workspace's own (`[workspace.dependencies]`), so a copy builds against
//! what the workspace tested. `cargo add` takes features for one crate at a time when
//! versions are given (`cargo add a@1 b@1 --features a/x` is refused), so a crate with
//! features, or without its default ones, gets a `cargo add` of its own. A second line, `Copy beside it:`, names files of the same
//! folder that go into the new project's `src/` too (a lesson that says
//! `#[path = "handshake.rs"] mod handshake;`).

use std::collections::BTreeMap;

/// What one `cargo add` line asks for: crate name (as on crates.io) -> its version and the
/// features it turns on, and whether default features are off.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Added {
    pub crates: BTreeMap<String, Dep>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dep {
    pub version: String,
    pub features: Vec<String>,
    pub no_default_features: bool,
}

/// The text after `Copy it:`: a `cargo add` line, or "std only".
pub fn parse_copy_line(line: &str) -> Result<Added, String> {
    let line = line.trim();
    let mut added = Added::default();
    if line.starts_with("std only") {
        return Ok(added);
    }
    for command in line.split("&&") {
        let words: Vec<&str> = command.split_whitespace().collect();
        if words.len() < 3 || words[0] != "cargo" || words[1] != "add" {
            return Err(format!(
                "'{}' is not a `cargo add` command (the line is `cargo add ...`, several joined by &&, or `std only, nothing to add`)",
                command.trim()
            ));
        }
        let mut names = Vec::new();
        let mut features = Vec::new();
        let mut no_default = false;
        let mut rest = words[2..].iter();
        while let Some(word) = rest.next() {
            match *word {
                "--features" | "-F" => {
                    let list = rest.next().ok_or("--features needs a list")?;
                    features.extend(list.split(',').filter(|f| !f.is_empty()).map(str::to_owned));
                }
                "--no-default-features" => no_default = true,
                flag if flag.starts_with('-') => {
                    return Err(format!(
                        "unexpected option '{flag}' in the `cargo add` line"
                    ));
                }
                spec => {
                    let (name, version) = spec
                        .split_once('@')
                        .ok_or_else(|| format!("'{spec}' has no version: write {spec}@VERSION"))?;
                    names.push(name.to_owned());
                    added.crates.insert(
                        name.to_owned(),
                        Dep {
                            version: version.to_owned(),
                            features: Vec::new(),
                            no_default_features: false,
                        },
                    );
                }
            }
        }
        if (!features.is_empty() || no_default) && names.len() != 1 {
            return Err(format!(
                "'{}': cargo add takes features (and --no-default-features) for one versioned crate at a time: give that crate a `cargo add` of its own",
                command.trim()
            ));
        }
        for feature in features {
            if feature.contains('/') {
                return Err(format!(
                    "'{feature}': name the feature alone, in the crate's own `cargo add`"
                ));
            }
            let dep = added.crates.get_mut(&names[0]).expect("inserted above");
            dep.features.push(feature);
        }
        for name in &names {
            added
                .crates
                .get_mut(name)
                .expect("inserted above")
                .no_default_features = no_default;
        }
    }
    Ok(added)
}

/// The crates a lesson part names (`tokio::spawn`, `use serde::...`, `#[tokio::main]`), by
/// their crates.io name, out of `known` (crates.io names). Comments and strings are skipped.
pub fn crates_used(code: &str, known: &[&str]) -> Vec<String> {
    let code = strip_comments_and_strings(code);
    let mut used: Vec<String> = known
        .iter()
        .filter(|name| {
            let ident = name.replace('-', "_");
            find_path_start(&code, &ident)
        })
        .map(|n| (*n).to_owned())
        .collect();
    used.sort();
    used
}

/// `ident::` at the start of a path (not `x::ident::`, not `my_ident::`).
fn find_path_start(code: &str, ident: &str) -> bool {
    let needle = format!("{ident}::");
    let bytes = code.as_bytes();
    code.match_indices(&needle).any(|(at, _)| {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        !matches!(before, Some(b) if b.is_ascii_alphanumeric() || b == b'_' || b == b':')
    })
}

/// Code with `//` comments and the contents of string literals blanked, so that a word in
/// a comment or a message is not taken for a use.
pub fn strip_comments_and_strings(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    for line in code.lines() {
        let mut in_str = false;
        let mut prev = '\0';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if !in_str && c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' && !(prev == '\'' && chars.peek() == Some(&'\'')) {
                in_str = !in_str;
                out.push('"');
            } else if in_str {
                out.push(' ');
            } else {
                out.push(c);
            }
            prev = if prev == '\\' && c == '\\' { '\0' } else { c };
        }
        out.push('\n');
    }
    out
}

/// Features a lesson part needs of a crate it uses, with the reason: the copy's
/// `cargo add` must turn them on. `None` for a feature means default features must be off.
pub fn needed_features(krate: &str, code: &str) -> Vec<(Need, &'static str)> {
    let code = strip_comments_and_strings(code);
    let has = |s: &str| code.contains(s);
    let mut needs = Vec::new();
    match krate {
        "tokio" => needs.push((
            Need::Feature("full"),
            "tokio's runtime, macros, timers and I/O",
        )),
        "serde" if has("Serialize") || has("Deserialize") => {
            needs.push((Need::Feature("derive"), "#[derive(Serialize, Deserialize)]"));
        }
        "reqwest" => {
            needs.push((
                Need::NoDefaultFeatures,
                "plain HTTP without a TLS stack to build (reqwest's default compiles one)",
            ));
            if has("blocking::") {
                needs.push((Need::Feature("blocking"), "reqwest::blocking"));
            }
            if has(".json(") {
                needs.push((Need::Feature("json"), "reqwest's .json()"));
            }
        }
        "axum" if has("ws::") || has("WebSocketUpgrade") => {
            needs.push((Need::Feature("ws"), "axum::extract::ws"));
        }
        "tokio-util" if has("TaskTracker") || has("tokio_util::task") => {
            needs.push((Need::Feature("rt"), "tokio_util::task::TaskTracker"));
        }
        "rusqlite" => needs.push((
            Need::Feature("bundled"),
            "SQLite compiled in, no system library",
        )),
        _ => {}
    }
    needs
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    Feature(&'static str),
    NoDefaultFeatures,
}

/// Every problem with a lesson part's copy line: crates used but not added, added but not
/// used, a version other than the workspace's, a needed feature missing.
pub fn check(
    code: &str,
    copy_line: &str,
    known: &[&str],
    workspace_versions: &BTreeMap<String, String>,
) -> Vec<String> {
    let added = match parse_copy_line(copy_line) {
        Ok(added) => added,
        Err(e) => return vec![e],
    };
    let used = crates_used(code, known);
    let mut problems = Vec::new();
    for krate in &used {
        let Some(dep) = added.crates.get(krate) else {
            problems.push(format!(
                "uses `{}` but its `Copy it:` line does not add {krate}",
                krate.replace('-', "_")
            ));
            continue;
        };
        if let Some(version) = workspace_versions.get(krate)
            && &dep.version != version
        {
            problems.push(format!(
                "adds {krate}@{} but the workspace uses {krate} {version}: write {krate}@{version}",
                dep.version
            ));
        }
        for (need, why) in needed_features(krate, code) {
            match need {
                Need::Feature(f) if !dep.features.iter().any(|have| have == f) => problems.push(
                    format!("needs {krate}'s feature `{f}` ({why}): `cargo add {krate}@{} --features {f}`", dep.version),
                ),
                Need::NoDefaultFeatures if !dep.no_default_features => problems.push(format!(
                    "adds {krate} with its default features: use `cargo add {krate}@{} --no-default-features` ({why})",
                    dep.version
                )),
                _ => {}
            }
        }
    }
    for krate in added.crates.keys() {
        if !used.contains(krate) {
            problems.push(format!(
                "its `Copy it:` line adds {krate}, which the lesson part does not use"
            ));
        }
    }
    problems
}

/// `[workspace.dependencies]` of the root `Cargo.toml`: name -> version requirement.
pub fn workspace_versions(cargo_toml: &str) -> BTreeMap<String, String> {
    let mut versions = BTreeMap::new();
    let mut inside = false;
    for line in cargo_toml.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == "[workspace.dependencies]";
            continue;
        }
        if !inside || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let version = if let Some(quoted) = value.strip_prefix('"') {
            quoted.split('"').next()
        } else {
            value
                .split("version")
                .nth(1)
                .and_then(|v| v.split('"').nth(1))
        };
        if let Some(version) = version {
            versions.insert(name.trim().to_owned(), version.to_owned());
        }
    }
    versions
}
