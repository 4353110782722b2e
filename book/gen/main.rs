//! `cargo run -p book`: builds the book into target/book. `--help` lists the options.

use std::path::PathBuf;
use std::process::ExitCode;

use book::site::{self, Options, Runs};
use book::source;

const USAGE: &str = "\
Usage: cargo run -p book -- [OPTIONS]
       cargo run -p book -- serve [--port N] [--dir DIR]
       cargo run -p book -- install-mdbook

Builds the book: runs every section of every demo (with --python where a section has a
twin and python3 is present), writes a page per section into TARGET/book-src and renders the
site into TARGET/book with mdBook (installed into TARGET/tools the first time).

Options:
  --release        run the demos' release build (default: the dev build, as `cargo run`)
  --keep-runs      reuse the runs of an earlier build; run only sections without one
  --runs-from DIR  take every run from DIR (DEMO/SECTION.txt and .json), run nothing
  --stand-in       fake runs instead of real ones (the test's quick build; pages say so)
  --no-python      do not run the Python twins
  --out DIR        write book-src, book-runs and book into DIR (default: TARGET)

serve: the built site on http://127.0.0.1:PORT/ (default 3000; 0 picks a free port),
from DIR (default TARGET/book).
install-mdbook: only install mdBook into TARGET/tools (nothing when an mdBook 0.5 is found).";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("preprocess") => book::preprocess::main(&args[1..]),
        Some("serve") => serve(&args[1..]),
        Some("install-mdbook") => install_mdbook(),
        Some("-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => build(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<Usage>() => {
            eprintln!("book: {e} (see --help)");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("book: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn usage(text: impl Into<String>) -> anyhow::Error {
    Usage(text.into()).into()
}

fn build(args: &[String]) -> anyhow::Result<()> {
    let (mut release, mut keep, mut from, mut stand_in, mut python, mut out) =
        (false, false, None, false, true, None);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--release" => release = true,
            "--keep-runs" => keep = true,
            "--stand-in" => stand_in = true,
            "--no-python" => python = false,
            "--runs-from" => {
                from = Some(PathBuf::from(
                    args.next()
                        .ok_or_else(|| usage("--runs-from needs a folder"))?,
                ))
            }
            "--out" => {
                out = Some(PathBuf::from(
                    args.next().ok_or_else(|| usage("--out needs a folder"))?,
                ))
            }
            other => return Err(usage(format!("unknown argument {other:?}"))),
        }
    }
    let runs = match (from, stand_in) {
        (Some(_), true) => return Err(usage("--runs-from and --stand-in exclude each other")),
        (Some(dir), false) => Runs::From(dir),
        (None, true) => Runs::StandIn,
        (None, false) => Runs::Real { release, keep },
    };
    let root = source::workspace_root();
    let out = match out {
        Some(out) => std::path::absolute(out)?,
        None => site::target_dir(&root)?,
    };
    let built = site::build(&Options { runs, out, python })?;
    println!(
        "book: {} section pages in {}; open {}/index.html, or serve it: cargo run -p book -- serve",
        built.pages,
        built.site.display(),
        built.site.display()
    );
    anyhow::ensure!(
        built.failed.is_empty(),
        "the book is built, but these sections failed (their pages show how):\n  {}",
        built.failed.join("\n  ")
    );
    Ok(())
}

fn install_mdbook() -> anyhow::Result<()> {
    let target = site::target_dir(&source::workspace_root())?;
    let (exe, version) = book::mdbook::find_or_install(&target)?;
    println!("book: {version} at {}", exe.display());
    Ok(())
}

fn serve(args: &[String]) -> anyhow::Result<()> {
    let (mut port, mut dir) = (3000u16, None);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                port = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| usage("--port needs a number from 0 to 65535"))?
            }
            "--dir" => {
                dir = Some(PathBuf::from(
                    args.next().ok_or_else(|| usage("--dir needs a folder"))?,
                ))
            }
            other => return Err(usage(format!("unknown argument {other:?}"))),
        }
    }
    let dir = match dir {
        Some(dir) => dir,
        None => site::target_dir(&source::workspace_root())?.join("book"),
    };
    book::serve::serve(&dir, port)
}
