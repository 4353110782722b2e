//! The guides' benchmark table and decision matrix, re-measured for Rust on this machine.
//!
//! ```text
//! cargo run --release -p compare                                 # both tables (under a minute)
//! cargo run --release -p compare -- --quick                      # smaller jobs (under 15 s)
//! cargo run -p compare                                           # dev build: quick sizes
//! cargo run --release -p compare -- decision-matrix              # one section
//! cargo run --release -p compare -- --format json                # or markdown
//! cargo run --release -p compare -- --chart target/compare.svg   # and a bar chart
//! ```
//!
//! The runner every demo uses (`common::cli`): `--list`, section names, one-line errors with
//! exit code 2, `--role NAME` for child processes, `--trace`. With `--format json` or
//! `markdown` the sections run without the runner's banners (`Output::Quiet`), so standard
//! output holds only the data, printed after the last section.

use std::process::ExitCode;

use common::cli::{Demo, Output, Role, Section};

mod benchmark_table;
mod cells;
mod chart;
mod decision_matrix;
mod jobs;
mod models;
mod report;
mod session;
mod table;

use session::{Format, Options};

const SECTIONS: &[Section<Options>] = &[benchmark_table::SECTION, decision_matrix::SECTION];

/// Child-process roles: `compare --role NAME ARGS...`.
const ROLES: &[Role] = &[
    Role::new("cell", cells::cell_role),
    Role::new("worker", models::worker_role),
    Role::new("server-worker", models::server_worker_role),
];

fn main() -> ExitCode {
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
            Err(e) => {
                eprintln!("compare: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}
