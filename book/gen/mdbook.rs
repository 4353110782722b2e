//! mdBook, the renderer: a binary installed once into `target/tools`, not a dependency.
//!
//! Why a binary: as a library, mdBook's dependencies (handlebars, pulldown-cmark, html5ever,
//! elasticlunr...) would join the workspace's feature unification, so `cargo test
//! --workspace` would build shared crates with other features than `cargo run -p DEMO`,
//! and `cargo clippy --workspace` would check all of them too. `cargo install` builds it
//! apart, with mdBook's own lock file, once; without the `serve` and `watch` features (no
//! web server or file watcher stack: `book serve` is a few lines of std), and in the dev
//! profile (`--debug`).
//!
//! Measured on 2 busy cores (CPU time, user + system, cold): `cargo install --debug` 83 s,
//! the default release install 187 s; the library in a scratch crate (mdbook-driver with
//! `search`, dev profile) 69 s, but 57 of its 113 crates are the workspace's too (tracing,
//! serde_json, regex-automata...) with other features, so every demo would build again after
//! `cargo test --workspace`. The dev-profile binary renders this book in about 2 s of CPU
//! instead of 0.4 s: a fair trade for a build that happens once.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

pub const VERSION: &str = "0.5.4";

/// The install command, as the README and `.ci/run` spell it.
pub fn install_args(root: &Path) -> Vec<String> {
    [
        "install",
        &format!("mdbook@{VERSION}"),
        "--locked",
        "--debug",
        "--no-default-features",
        "--features",
        "search",
        "--root",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([root.display().to_string()])
    .collect()
}

/// `mdbook v0.5.4` from `mdbook --version`, if `exe` runs.
fn version(exe: &Path) -> Option<String> {
    let out = Command::new(exe).arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// An mdBook 0.5 to run: `$MDBOOK`, else `TARGET/tools/bin/mdbook`, else `mdbook` on PATH.
pub fn find(target: &Path) -> Option<(PathBuf, String)> {
    let candidates = std::env::var_os("MDBOOK")
        .map(PathBuf::from)
        .into_iter()
        .chain([target.join("tools/bin/mdbook"), PathBuf::from("mdbook")]);
    candidates
        .filter_map(|exe| Some((version(&exe)?, exe)))
        .find(|(v, _)| v.starts_with("mdbook v0.5"))
        .map(|(v, exe)| (exe, v))
}

/// [`find`], or install it into `TARGET/tools` first (a few minutes, once).
pub fn find_or_install(target: &Path) -> Result<(PathBuf, String)> {
    if let Some(found) = find(target) {
        return Ok(found);
    }
    let tools = target.join("tools");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!(
        "book: installing mdBook {VERSION} into {} (once: about a minute and a half of CPU)",
        tools.display()
    );
    let status = Command::new(cargo)
        .args(install_args(&tools))
        .status()
        .context("running cargo install")?;
    if !status.success() {
        bail!("cargo install mdbook failed: {status}");
    }
    find(target).context("mdBook was installed but does not run")
}
