//! The guides' benchmark table and decision matrix, re-measured for Rust on this machine.
//!
//! ```text
//! cargo run --release -p compare                          # both tables (under a minute)
//! cargo run --release -p compare -- --quick               # smaller jobs (under 15 s)
//! cargo run -p compare                                    # dev build: quick sizes
//! cargo run --release -p compare -- decision-matrix       # one section
//! cargo run --release -p compare -- --format json         # or markdown
//! cargo run --release -p compare -- --chart compare.svg   # and a bar chart
//! ```
//!
//! Same conventions as the other demos (`--list`, section names, one-line errors with exit
//! code 2, `--role NAME` for child processes), but with its own clap front end instead of
//! `common::cli::Demo`: with `--format json` or `markdown` standard output must hold only
//! the data, without the runner's section banners.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use common::cli::{Role, figure, takeaway};
use indicatif::{ProgressBar, ProgressStyle};

mod benchmark_table;
mod cells;
mod chart;
mod decision_matrix;
mod jobs;
mod models;
mod report;

use cells::{Row, Scenario};

/// A section: name, the Python it mirrors, one line of summary, its rows.
struct Section {
    name: &'static str,
    python: &'static str,
    summary: &'static str,
    scenarios: fn(&Env) -> Vec<Scenario>,
}

const SECTIONS: &[Section] = &[
    Section {
        name: benchmark_table::NAME,
        python: "the benchmark table: threading / multiprocessing / asyncio, I/O- and CPU-bound",
        summary: "two jobs under seven models: seconds and peak memory, fastest marked",
        scenarios: benchmark_table::scenarios,
    },
    Section {
        name: decision_matrix::NAME,
        python: "the decision matrix: 5 files -> threading ... real-time server -> asyncio",
        summary: "every scenario measured; the guide's pick beside Rust's winner",
        scenarios: decision_matrix::scenarios,
    },
];

/// Child-process roles: `compare --role NAME ARGS...`.
const ROLES: &[Role] = &[
    Role::new("cell", cells::cell_role),
    Role::new("worker", models::worker_role),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Terminal,
    Markdown,
    Json,
}

#[derive(Parser, Debug)]
#[command(
    name = "compare",
    about = "The guides' benchmark table and decision matrix, re-measured for Rust on this machine"
)]
struct Cli {
    /// Run only these sections, in the order given (default: all)
    #[arg(value_name = "SECTION")]
    sections: Vec<String>,
    /// List the sections with the Python they mirror
    #[arg(long, short = 'l')]
    list: bool,
    /// Smaller jobs: under 15 s with --release instead of under a minute (the default in a
    /// dev build, where the full sizes would take minutes)
    #[arg(long, conflicts_with_all = ["tiny", "full"])]
    quick: bool,
    /// The full sizes even in a dev build (the default with --release)
    #[arg(long, conflicts_with = "tiny")]
    full: bool,
    /// Tiny jobs that only check every cell works (the tests use it; figures mean nothing)
    #[arg(long)]
    tiny: bool,
    /// How to print the results
    #[arg(long, value_enum, default_value_t = Format::Terminal)]
    format: Format,
    /// Also draw the table as a bar chart into this SVG file
    #[arg(long, value_name = "FILE.svg")]
    chart: Option<PathBuf>,
    /// Write a Chrome / Perfetto trace of the run to FILE (child processes: FILE.ROLE-N.json)
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
}

/// Sizes and shared fixtures for one run.
pub struct Env {
    sizes: &'static str,
    /// `http://127.0.0.1:PORT` of the local file server.
    pub server: String,
    /// The SQLite file the database rows read.
    pub db: String,
    pub db_rows: u64,
}

impl Env {
    /// `full`, `quick` or `tiny` sizes.
    pub fn pick<T>(&self, full: T, quick: T, tiny: T) -> T {
        match self.sizes {
            "quick" => quick,
            "tiny" => tiny,
            _ => full,
        }
    }

    pub fn tiny(&self) -> bool {
        self.sizes == "tiny"
    }

    #[cfg(test)]
    pub fn for_tests() -> Env {
        Env {
            sizes: "tiny",
            server: "http://127.0.0.1:9".into(),
            db: "unused.sqlite".into(),
            db_rows: 1_000,
        }
    }
}

fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("compare: {message}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if args.get(1).is_some_and(|a| a == "--role") {
        return run_role(&args[2..]);
    }
    let mut cmd = Cli::command().after_help(format!(
        "Sections:\n{}\nExamples:\n  cargo run --release -p compare\n  cargo run --release -p compare -- --quick --chart compare.svg",
        section_table()
    ));
    let cli = match cmd
        .try_get_matches_from_mut(&args)
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            print!("{}", e.render());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            let options: Vec<String> = cmd
                .get_arguments()
                .filter_map(|a| a.get_long())
                .map(|l| format!("--{l}"))
                .collect();
            return usage_error(format!(
                "{}; valid options: {}",
                first.trim_start_matches("error: "),
                options.join(", ")
            ));
        }
    };
    if cli.list {
        print!("{}", section_table());
        return ExitCode::SUCCESS;
    }
    let mut selected = Vec::new();
    for name in &cli.sections {
        match SECTIONS.iter().find(|s| s.name == name) {
            Some(s) => selected.push(s),
            None => {
                let valid: Vec<&str> = SECTIONS.iter().map(|s| s.name).collect();
                return usage_error(format!(
                    "unknown section '{name}'; valid sections: {}",
                    valid.join(", ")
                ));
            }
        }
    }
    if selected.is_empty() {
        selected = SECTIONS.iter().collect();
    }
    if let Some(chart) = &cli.chart
        && chart.extension().is_none_or(|e| e != "svg")
    {
        return usage_error(format!(
            "--chart needs a file name ending in .svg, got '{}'",
            chart.display()
        ));
    }
    if let Some(dir) = cli.chart.as_deref().and_then(|c| c.parent())
        && !dir.as_os_str().is_empty()
        && !dir.is_dir()
    {
        return usage_error(format!(
            "--chart: folder '{}' does not exist; give a path in an existing folder",
            dir.display()
        ));
    }
    // Logging with RUST_LOG, and the trace file if asked: the runner's setup, done here.
    let guard = match common::trace::init(cli.trace.as_deref()) {
        Ok(guard) => guard,
        Err(e) => return usage_error(e),
    };
    // `compare | head`: the reader went away; stop quietly.
    let code = common::cli::quiet_on_broken_pipe(|| match run(&cli, &selected) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("compare: {e:#}");
            ExitCode::FAILURE
        }
    });
    drop(guard);
    code
}

fn run_role(args: &[String]) -> ExitCode {
    let valid: Vec<&str> = ROLES.iter().map(|r| r.name).collect();
    let Some(name) = args.first() else {
        return usage_error(format!(
            "--role needs a name; valid roles: {}",
            valid.join(", ")
        ));
    };
    let Some(role) = ROLES.iter().find(|r| r.name == name) else {
        return usage_error(format!(
            "unknown role '{name}'; valid roles: {}",
            valid.join(", ")
        ));
    };
    let trace = std::env::var_os(common::trace::CHILD_TRACE_ENV).map(PathBuf::from);
    let _guard = match common::trace::init(trace.as_deref()) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("compare --role {name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::debug!(
        role = role.name,
        pid = std::process::id(),
        "child process starts"
    );
    match (role.run)(&args[1..]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("compare --role {name}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn section_table() -> String {
    SECTIONS
        .iter()
        .map(|s| format!("  {:16} {}  ({})\n", s.name, s.python, s.summary))
        .collect()
}

fn run(cli: &Cli, selected: &[&Section]) -> anyhow::Result<()> {
    let sizes = if cli.tiny {
        "tiny"
    } else if cli.quick || (cfg!(debug_assertions) && !cli.full) {
        "quick"
    } else {
        "full"
    };
    let total = common::timing::Stopwatch::start();
    // The fixtures every cell shares: the file server (in this process, so its memory is
    // not counted in any cell) and an SQLite file in a temporary folder.
    let server = common::fixture::TestServer::start(Default::default())
        .context("starting the local file server")?;
    let dir = tempfile::tempdir().context("creating a temporary folder")?;
    let db_path = dir.path().join("compare.sqlite");
    let mut env = Env {
        sizes,
        server: server.url(""),
        db: db_path.to_string_lossy().into_owned(),
        db_rows: 0,
    };
    env.db_rows = env.pick(200_000, 50_000, 1_000);
    jobs::create_db(&db_path, env.db_rows)?;
    let machine = report::Machine::here(sizes);

    let plans: Vec<(&Section, Vec<Scenario>)> =
        selected.iter().map(|s| (*s, (s.scenarios)(&env))).collect();
    let cells: usize = plans
        .iter()
        .flat_map(|(_, rows)| {
            rows.iter()
                .map(|r| r.runs as usize * models::Model::ALL.len())
        })
        .sum();
    let bar = ProgressBar::new(cells as u64).with_style(
        ProgressStyle::with_template("  {bar:30} {pos}/{len} cells  {elapsed}  {msg}")
            .context("progress bar template")?,
    );
    let mut all_rows: Vec<Row> = Vec::new();
    for (k, (section, scenarios)) in plans.iter().enumerate() {
        if cli.format == Format::Terminal {
            bar.suspend(|| {
                println!(
                    "\n━━ {} ({}/{}) ━━ Python: {}",
                    section.name,
                    k + 1,
                    plans.len(),
                    section.python
                );
                println!("  {}", machine.line());
                if machine.profile == "dev" && sizes == "quick" && !cli.quick {
                    println!("  (dev build: quick sizes; cargo run --release -p compare for the full table)");
                }
            });
        }
        let mut rows = Vec::new();
        for scenario in scenarios {
            let row = cells::measure_row(scenario, |step| match step {
                Some(cell) => bar.set_message(cell.to_owned()),
                None => bar.inc(1),
            })?;
            rows.push(row);
        }
        if cli.format == Format::Terminal {
            bar.suspend(|| print_section(&rows, scenarios));
        }
        all_rows.extend(rows);
    }
    bar.finish_and_clear();
    match cli.format {
        Format::Terminal => {}
        Format::Markdown => {
            println!("Measured on {}.\n", machine.line());
            for (section, _) in &plans {
                let rows: Vec<Row> = all_rows
                    .iter()
                    .filter(|r| r.section == section.name)
                    .cloned()
                    .collect();
                println!("#### {}\n\n{}", section.name, report::markdown(&rows));
            }
        }
        Format::Json => println!(
            "{}",
            report::json(&report::Report {
                machine: &machine,
                rows: &all_rows,
            })?
        ),
    }
    if let Some(path) = &cli.chart {
        chart::write_svg(&all_rows, &machine, path)
            .with_context(|| format!("drawing the chart into {}", path.display()))?;
        if cli.format == Format::Terminal {
            figure("chart written to", path.display());
        }
    }
    if let Some(path) = &cli.trace
        && cli.format == Format::Terminal
    {
        figure("trace written to", path.display());
    }
    if cli.format == Format::Terminal {
        println!(
            "\ncompare: {} cells in {}, every answer checked.",
            cells,
            common::timing::Secs(total.elapsed())
        );
    }
    Ok(())
}

fn print_section(rows: &[Row], scenarios: &[Scenario]) {
    print!("{}", report::terminal(rows));
    println!();
    print!("{}", report::workloads(rows));
    for (row, scenario) in rows.iter().zip(scenarios) {
        if !scenario.python_seconds.is_empty() {
            let guide: Vec<String> = scenario
                .python_seconds
                .iter()
                .map(|(m, s)| format!("{m} {s} s"))
                .collect();
            println!(
                "  the guide's example for {}: {}",
                row.scenario,
                guide.join(", ")
            );
        }
    }
    let mut differ = 0;
    for (row, scenario) in rows.iter().zip(scenarios) {
        if row.verdict == "close" {
            println!(
                "  ≈ {}: {} was fastest, the guide's {} within {:.0} %: a tie at this size",
                row.scenario,
                row.rust_winner,
                row.python_recommends,
                (row.winner_vs_recommended.unwrap_or(1.0) - 1.0) * 100.0
            );
        }
        if row.verdict == "differs" {
            differ += 1;
            let by = row.winner_vs_recommended.map_or(String::new(), |x| {
                format!(", {x:.1}x the best {} cell", row.python_recommends)
            });
            println!(
                "  ≠ {}: the guide says {}, Rust's fastest is {}{by}: {}",
                row.scenario,
                row.python_recommends,
                row.rust_winner,
                cells::why_it_differs(&scenario.job, row.rust_winner)
            );
        }
    }
    takeaway(format!(
        "{} of {} rows: Rust's fastest model is not the guide's pick; measure before you choose",
        differ,
        rows.len()
    ));
}
