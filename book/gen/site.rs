//! The build: the sections' runs, the generated book source, and mdBook's render.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::page::{self, DEMOS_MARKER, Layout};
use crate::run::{self, Capture};
use crate::source::{self, Demo};

/// Where the runs come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Runs {
    /// Build the demos and run every section (`--keep-runs`: only those not run before).
    Real { release: bool, keep: bool },
    /// The captures of an earlier build, as they are in this folder now.
    From(PathBuf),
    /// Fake outputs, for the book's test.
    StandIn,
}

pub struct Options {
    pub runs: Runs,
    /// Where `book-src`, `book-runs` and the site `book` go (the target folder).
    pub out: PathBuf,
    /// Run the Python twins where python3 is present.
    pub python: bool,
}

/// What a build made.
pub struct Built {
    pub site: PathBuf,
    pub pages: usize,
    pub failed: Vec<String>,
}

/// The workspace's target folder, as cargo resolves it.
pub fn target_dir(root: &Path) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return Ok(root.join(dir));
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(root)
        .output()
        .context("cargo metadata")?;
    ensure!(out.status.success(), "cargo metadata: {}", out.status);
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    Ok(PathBuf::from(
        meta["target_directory"]
            .as_str()
            .context("no target_directory")?,
    ))
}

pub fn build(opts: &Options) -> Result<Built> {
    let root = source::workspace_root();
    let (mdbook, mdbook_version) = crate::mdbook::find_or_install(&target_dir(&root)?)?;
    // The demos first: the sources are read as they were built.
    let exe_dir = match opts.runs {
        Runs::Real { release, .. } => Some(build_demos(&root, release)?),
        _ => None,
    };
    let demos = source::demos(&root)?;
    let runs_dir = match &opts.runs {
        Runs::From(dir) => dir.clone(),
        _ => opts.out.join("book-runs"),
    };
    let captures = captures(&root, &demos, opts, exe_dir.as_deref(), &runs_dir)?;
    let book_src = opts.out.join("book-src");
    write_source(
        &root,
        &book_src,
        &demos,
        &captures,
        &runs_dir,
        &mdbook_version,
    )?;
    let site = opts.out.join("book");
    render(&mdbook, &book_src, &site)?;
    let broken = crate::check::broken_links(&site);
    ensure!(
        broken.is_empty(),
        "broken links:\n  {}",
        broken.join("\n  ")
    );
    let unexpanded = crate::check::unexpanded(&site);
    ensure!(
        unexpanded.is_empty(),
        "includes left unexpanded in:\n  {}",
        unexpanded.join("\n  ")
    );
    let failed = demos
        .iter()
        .zip(&captures)
        .flat_map(|(d, runs)| d.sections.iter().zip(runs).map(move |(s, c)| (d, s, c)))
        .filter(|(_, _, c)| !c.ok)
        .map(|(d, s, c)| format!("{} {}: {}", d.name, s.name, c.status))
        .collect();
    Ok(Built {
        site,
        pages: demos.iter().map(|d| d.sections.len()).sum(),
        failed,
    })
}

/// One capture per section, in the demos' order.
fn captures(
    root: &Path,
    demos: &[Demo],
    opts: &Options,
    exe_dir: Option<&Path>,
    runs_dir: &Path,
) -> Result<Vec<Vec<Capture>>> {
    let python = if opts.python {
        run::python_version()
    } else {
        None
    };
    let (release, keep) = match opts.runs {
        Runs::Real { release, keep } => (release, keep),
        Runs::From(_) => {
            return demos
                .iter()
                .map(|d| {
                    d.sections
                        .iter()
                        .map(|s| Capture::load(runs_dir, d.name, &s.name))
                        .collect()
                })
                .collect();
        }
        Runs::StandIn => {
            let mut all = Vec::new();
            for d in demos {
                let mut runs = Vec::new();
                for s in &d.sections {
                    let c = run::stand_in(d.name, &s.name, &s.idiom, s.twin.is_some());
                    c.save(runs_dir, d.name, &s.name)?;
                    runs.push(c);
                }
                all.push(runs);
            }
            return Ok(all);
        }
    };
    let exe_dir = exe_dir.context("the demos were not built")?;
    let ctx = run::RunSetup {
        machine: run::machine(),
        profile: if release { "release" } else { "dev" }.into(),
        python: python.clone(),
        cwd: root.to_path_buf(),
        limit: Duration::from_secs(600),
    };
    let total: usize = demos.iter().map(|d| d.sections.len()).sum();
    let mut done = 0;
    let mut all = Vec::new();
    for d in demos {
        let exe = exe_dir.join(d.name);
        check_list(&exe, d)?;
        let mut runs = Vec::new();
        for s in &d.sections {
            done += 1;
            if keep && let Ok(c) = Capture::load(runs_dir, d.name, &s.name) {
                runs.push(c);
                continue;
            }
            let with_python = s.twin.is_some() && python.is_some();
            let mut args = vec![s.name.clone()];
            if with_python {
                args.push("--python".into());
            }
            eprint!("book: [{done}/{total}] {} {} ... ", d.name, args.join(" "));
            let c = run::run(&ctx, &exe, &args, with_python)?;
            eprintln!(
                "{}{}",
                run::duration(c.secs),
                if c.ok { "" } else { ", FAILED" }
            );
            c.save(runs_dir, d.name, &s.name)?;
            runs.push(c);
        }
        all.push(runs);
    }
    Ok(all)
}

/// `cargo build` of every demo; the folder of their binaries.
fn build_demos(root: &Path, release: bool) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.arg("build").current_dir(root);
    if release {
        command.arg("--release");
    }
    for (demo, _) in source::DEMOS {
        command.args(["-p", demo]);
    }
    eprintln!(
        "book: building the demos (cargo build{})",
        if release { " --release" } else { "" }
    );
    let status = command.status().context("running cargo build")?;
    ensure!(
        status.success(),
        "cargo build of the demos failed: {status}"
    );
    Ok(target_dir(root)?.join(if release { "release" } else { "debug" }))
}

/// The binary's `--list` names the sections the book read from its source, in order.
fn check_list(exe: &Path, demo: &Demo) -> Result<()> {
    let out = Command::new(exe)
        .arg("--list")
        .output()
        .with_context(|| format!("{} --list", exe.display()))?;
    let listing = String::from_utf8_lossy(&out.stdout);
    let listed: Vec<&str> = listing
        .lines()
        .filter(|l| l.starts_with("  ") && !l[2..].starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let read: Vec<&str> = demo.sections.iter().map(|s| s.name.as_str()).collect();
    ensure!(
        listed == read,
        "{} --list names {listed:?}, its main.rs {read:?}",
        demo.name
    );
    Ok(())
}

/// The book's committed source (book.toml, src/, theme/) with the generated pages.
fn write_source(
    root: &Path,
    book_src: &Path,
    demos: &[Demo],
    captures: &[Vec<Capture>],
    runs_dir: &Path,
    mdbook_version: &str,
) -> Result<()> {
    if book_src.exists() {
        std::fs::remove_dir_all(book_src)?;
    }
    let committed = root.join("book");
    for part in ["src", "theme"] {
        copy_dir(&committed.join(part), &book_src.join(part))?;
    }
    // The preprocessor is this very program.
    let exe = std::env::current_exe()?;
    let runs_dir = std::path::absolute(runs_dir)?;
    let toml = std::fs::read_to_string(committed.join("book.toml"))?.replace(
        "command = \"cargo run --quiet -p book -- preprocess\"",
        &format!(
            "command = \"'{}' preprocess\"\nruns = {}",
            exe.display(),
            serde_json::Value::from(runs_dir.display().to_string())
        ),
    );
    std::fs::write(book_src.join("book.toml"), toml)?;
    let src = book_src.join("src");
    let summary_path = src.join("SUMMARY.md");
    let summary = std::fs::read_to_string(&summary_path)?;
    ensure!(
        summary.contains(DEMOS_MARKER),
        "book/src/SUMMARY.md lacks the line {DEMOS_MARKER}"
    );
    std::fs::write(&summary_path, page::summary(&summary, demos))?;
    let layout = Layout {
        root: root.to_path_buf(),
        src: std::path::absolute(&src)?,
    };
    for demo in demos {
        std::fs::create_dir_all(src.join(demo.name))?;
        for s in &demo.sections {
            std::fs::write(src.join(s.page()), page::section_page(s, &layout))?;
        }
    }
    std::fs::write(
        src.join("this-build.md"),
        page::this_build(demos, captures, mdbook_version),
    )?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("{}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// `mdbook build`; a warning or error it prints (a file an include names is missing) fails
/// the build.
fn render(mdbook: &Path, book_src: &Path, site: &Path) -> Result<()> {
    let start = Instant::now();
    let out = Command::new(mdbook)
        .arg("build")
        .arg(book_src)
        .arg("--dest-dir")
        .arg(std::path::absolute(site)?)
        .output()
        .context("running mdbook")?;
    let log = String::from_utf8_lossy(&out.stderr);
    let problems: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("WARN"))
        .collect();
    if !out.status.success() || !problems.is_empty() {
        bail!("mdbook build: {}\n{log}", out.status);
    }
    eprintln!(
        "book: rendered {} in {:.1} s",
        site.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
