//! The guides' benchmark table and decision matrix, re-measured for Rust on this machine.
//!
//! ```text
//! cargo run --release -p compare                                 # both tables (under a minute)
//! cargo run --release -p compare -- --quick                      # smaller jobs (under 15 s)
//! cargo run -p compare                                           # dev build: quick sizes
//! cargo run --release -p compare -- decision-matrix              # one section
//! cargo run --release -p compare -- --format json                # or markdown
//! cargo run --release -p compare -- --chart target/compare.svg   # and a bar chart
//! cargo run --release -p compare -- --python --quick             # Python's cells beside Rust's
//! cargo run --release -p compare -- choose                       # which model, with this run's evidence
//! ```
//!
//! Where PostgreSQL is installed (or `DATABASE_URL` names a server), the decision matrix
//! gets a row "Database queries (server)" beside the SQLite ones: its own private cluster,
//! started once for the run (plumbing in `pg-server/`) and stopped at its end or on Ctrl-C.
//! Without one, one `not run:` line says why, and the rest runs as before.
//!
//! The runner every demo uses (`common::cli`): `--list`, section names, one-line errors with
//! exit code 2, `--role NAME` for child processes, `--trace`. With `--format json` or
//! `markdown` the sections run without the runner's banners (`Output::Quiet`), so standard
//! output holds only the data, printed after the last section. A failure to write it (a
//! full disk) is exit code 1; a reader that has gone (`| head`) is a quiet stop.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use common::cli::{Demo, Output, Role, Section};

mod benchmark_table;
mod cells;
mod chart;
mod child_side;
mod choose;
mod decision_matrix;
mod jobs;
mod models;
mod report;
mod rows_file;
mod session;
mod table;

use session::{Format, Options};

const SECTIONS: &[Section<Options>] = &[
    benchmark_table::SECTION,
    decision_matrix::SECTION,
    choose::SECTION,
];

/// Child-process roles: `compare --role NAME ARGS...`.
const ROLES: &[Role] = &[
    Role::new("cell", cells::cell_role),
    Role::new("worker", models::worker_role),
    Role::new("server-worker", models::server_worker_role),
];

fn main() -> ExitCode {
    if let Some(message) = same_trace_and_chart(std::env::args_os()) {
        let _ = writeln!(io::stderr(), "compare: {message}");
        return ExitCode::from(2);
    }
    Demo {
        name: "compare",
        about: "The guides' benchmark table and decision matrix, re-measured for Rust on this machine",
        sections: SECTIONS,
        roles: ROLES,
    }
    .main_with(|chosen| {
        let options = &chosen.options;
        let output = match options.format {
            Format::Terminal => Output::Banners,
            Format::Markdown | Format::Json => Output::Quiet,
        };
        let code = chosen.run(output);
        if code != ExitCode::SUCCESS {
            return code;
        }
        let names: Vec<&str> = chosen.sections().map(|s| s.name).collect();
        match session::finish(options, &names) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
            Err(e) => {
                let _ = writeln!(io::stderr(), "compare: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}

/// The reader of standard output went away (`compare --format json | head -1`).
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.root_cause()
        .downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// `--trace F --chart F`: one file for both, checked before the runner creates the trace
/// file. The runner parses `--trace`; this looks at the raw arguments for both values.
fn same_trace_and_chart(args: impl IntoIterator<Item = OsString>) -> Option<String> {
    let args: Vec<OsString> = args.into_iter().skip(1).collect();
    if args.first().is_some_and(|a| a == "--role") {
        return None;
    }
    let value = |name: &str| -> Option<PathBuf> {
        let mut found = None;
        let mut words = args.iter().take_while(|a| *a != "--");
        while let Some(word) = words.next() {
            let word = word.to_string_lossy();
            if word == name {
                found = words.next().map(PathBuf::from);
            } else if let Some(v) = word.strip_prefix(name).and_then(|w| w.strip_prefix('=')) {
                found = Some(PathBuf::from(v));
            }
        }
        found
    };
    let (trace, chart) = (value("--trace")?, value("--chart")?);
    same_file(&trace, &chart).then(|| {
        format!(
            "--trace and --chart both name '{}'; give them different files",
            chart.display()
        )
    })
}

/// Whether two paths name one file (which need not exist yet).
fn same_file(a: &Path, b: &Path) -> bool {
    let key = |p: &Path| -> Option<PathBuf> {
        if let Ok(p) = p.canonicalize() {
            return Some(p);
        }
        let p = std::path::absolute(p).ok()?;
        let dir = match p.parent()?.canonicalize() {
            Ok(dir) => dir,
            Err(_) => p.parent()?.to_path_buf(),
        };
        Some(dir.join(p.file_name()?))
    };
    match (key(a), key(b)) {
        (Some(a), Some(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<OsString> {
        std::iter::once("compare")
            .chain(words.iter().copied())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn one_file_for_the_trace_and_the_chart_is_refused() {
        let refused = |words: &[&str]| same_trace_and_chart(args(words)).is_some();
        assert!(refused(&["--trace", "x.svg", "--chart", "x.svg"]));
        assert!(refused(&["--chart=x.svg", "--tiny", "--trace", "./x.svg"]));
        assert!(refused(&["--trace", "src/../x.svg", "--chart", "x.svg"]));
        assert!(!refused(&["--trace", "x.json", "--chart", "x.svg"]));
        assert!(!refused(&["--chart", "x.svg"]));
        assert!(!refused(&[
            "--role", "cell", "--trace", "x.svg", "--chart", "x.svg"
        ]));
    }
}
