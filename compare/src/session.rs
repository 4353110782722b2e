//! One run of `compare`: its options, the fixtures its sections share (the local file
//! server, the SQLite file, a PostgreSQL server when there is one), the rows measured so
//! far, and how a section measures and prints its rows. Not a lesson: the harness around
//! `models.rs`.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context;
use clap::ValueEnum;
use common::claim::{MAX_EFFICIENCY, MIN_EFFICIENCY};
use common::cli::SectionResult;
use common::fixture::TestServer;
use common::print::{Evidence, figure, takeaway, takeaway_if};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cells;
use crate::jobs::{Env, Job, PgServer, Sizes, cores};
use crate::models::{Model, PyModel};
use crate::report::{self, Machine, Profile};
use crate::table::{Judges, Row, Scenario, Verdict};

/// How to print the results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Tables, explanations and takeaways, under the runner's banners
    #[default]
    Terminal,
    /// Only the Markdown tables (the README's)
    Markdown,
    /// Only one JSON object: the machine and every row
    Json,
}

/// `compare`'s own options (the runner adds `--list`, `--trace`, section names...).
#[derive(clap::Args, Debug)]
pub struct Options {
    /// Smaller jobs: under 15 s with --release instead of under a minute (the default in a
    /// dev build, where the full sizes would take minutes)
    #[arg(long, conflicts_with_all = ["tiny", "full"])]
    pub quick: bool,
    /// The full sizes even in a dev build (the default with --release)
    #[arg(long, conflicts_with = "tiny")]
    pub full: bool,
    /// Tiny jobs that only check every cell works (the tests use it; figures mean nothing)
    #[arg(long)]
    pub tiny: bool,
    /// How to print the results: terminal, markdown or json
    #[arg(long, value_name = "FORMAT", value_parser = format_name, default_value = "terminal")]
    pub format: Format,
    /// Also draw the table as a bar chart into this SVG file (e.g. target/compare.svg)
    #[arg(long, value_name = "FILE.svg", value_parser = chart_path)]
    pub chart: Option<PathBuf>,
    /// choose: read the rows from this file, written earlier by `compare --format json`,
    /// instead of measuring them
    #[arg(long, value_name = "FILE.json")]
    pub from: Option<PathBuf>,
    /// What the sections of this run share.
    #[arg(skip)]
    pub shared: Shared,
}

/// `--format`: one of [`Format`]'s names. The error names them all on its first line, the
/// line the runner shows.
fn format_name(arg: &str) -> Result<Format, String> {
    Format::from_str(arg, true).map_err(|_| {
        let names: Vec<String> = Format::value_variants()
            .iter()
            .filter_map(|f| f.to_possible_value().map(|v| v.get_name().to_owned()))
            .collect();
        format!("valid formats: {}", names.join(", "))
    })
}

/// `--chart`: a file name ending in `.svg`, in a folder that exists, and not a folder.
fn chart_path(arg: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(arg);
    if path.extension().is_none_or(|e| e != "svg") {
        return Err("needs a file name ending in .svg".to_owned());
    }
    if path.is_dir() {
        return Err(format!(
            "'{}' is a folder; give a file name ending in .svg",
            path.display()
        ));
    }
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.is_dir()
    {
        return Err(format!(
            "folder '{}' does not exist; give a path in an existing folder",
            dir.display()
        ));
    }
    Ok(path)
}

impl Options {
    pub fn sizes(&self) -> Sizes {
        if self.tiny {
            Sizes::Tiny
        } else if self.quick || (cfg!(debug_assertions) && !self.full) {
            Sizes::Quick
        } else {
            Sizes::Full
        }
    }

    fn terminal(&self) -> bool {
        self.format == Format::Terminal
    }
}

/// What the sections of one run share: the fixtures (started by the first section), the
/// machine reading, and every row measured so far.
#[derive(Clone, Default)]
pub struct Shared(Arc<Mutex<State>>);

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared")
    }
}

#[derive(Default)]
struct State {
    fixtures: Option<Fixtures>,
    /// The server of "Database queries (server)", once a section asked for it; `None` in it
    /// when there is none (said once, in a `not run:` line).
    pg: Option<Option<PgFixture>>,
    machine: Option<Machine>,
    /// The busiest reading of the machine so far: at the start, and after each section
    /// measured. It decides whether CPU rows' verdicts hold ([`Judges`]).
    reading: Option<common::claim::Machine>,
    rows: Vec<Row>,
}

/// A PostgreSQL server (`DATABASE_URL`, else a private cluster: see `pg-server`) and the
/// table made there for the cells. Dropped with the run's options, on the main thread that
/// started it (a private cluster stops when that thread ends): the table is dropped, then a
/// private cluster stopped and its folder removed.
struct PgFixture {
    server: pg_server::Server,
    table: String,
}

impl Drop for PgFixture {
    fn drop(&mut self) {
        let _ = crate::jobs::drop_pg_table(self.server.url(), &self.table);
    }
}

/// The pools' connections in the server row (`ThreadPoolExecutor(10)`, asyncpg's
/// `create_pool(10)`), and the most threads it starts, a connection each.
pub const PG_POOL: usize = 10;
const PG_THREADS: usize = 40;

/// The file server (in this process, so its memory is not counted in any cell) and an SQLite
/// file in a temporary folder.
struct Fixtures {
    env: Env,
    /// `--python`: the interpreter and its scripts (in `_dir`).
    python: Option<cells::PythonSide>,
    _server: TestServer,
    _dir: tempfile::TempDir,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every row measured so far, and the machine they were measured on.
    pub fn results(&self) -> (Vec<Row>, Option<Machine>) {
        let state = self.lock();
        (state.rows.clone(), state.machine.clone())
    }

    /// Whether a section of this run has looked for the PostgreSQL server already (found
    /// or not: it is looked for once).
    pub fn server_looked_for(&self) -> bool {
        self.lock().pg.is_some()
    }

    /// The busiest reading of the machine while rows were measured.
    pub fn reading(&self) -> Option<common::claim::Machine> {
        self.lock().reading.clone()
    }
}

impl State {
    fn fixtures(&mut self, sizes: Sizes) -> anyhow::Result<&Env> {
        if self.fixtures.is_none() {
            // The server's thread and its tokio runtime's two workers: tokio panics when the
            // OS refuses them (a low thread limit), so check they can start.
            crate::models::threads_can_start(3).context("starting the local file server")?;
            let server =
                TestServer::start(Default::default()).context("starting the local file server")?;
            let dir = tempfile::tempdir().context("creating a temporary folder")?;
            let db_path = dir.path().join("compare.sqlite");
            let db_rows = Env::db_rows_for(sizes);
            crate::jobs::create_db(&db_path, db_rows)?;
            let python = common::python::chosen()
                .map(|py| cells::PythonSide::write(py.clone(), &dir.path().join("python")))
                .transpose()?;
            self.fixtures = Some(Fixtures {
                env: Env {
                    sizes,
                    server: server.url(""),
                    db: db_path.to_string_lossy().into_owned(),
                    db_rows,
                    python: python.is_some(),
                    pg: None,
                },
                python,
                _server: server,
                _dir: dir,
            });
        }
        Ok(&self.fixtures.as_ref().context("no fixtures")?.env)
    }

    /// Find (or start) the PostgreSQL server once with `find` (`pg_server::Server::find`:
    /// `DATABASE_URL`, else a private cluster), and give the run's jobs its URL and table.
    /// Returns the line to print: where the server is, or why there is none (`not run:`).
    fn start_pg(
        &mut self,
        find: impl FnOnce() -> anyhow::Result<Option<pg_server::Server>>,
    ) -> Option<String> {
        if self.pg.is_some() {
            return None;
        }
        let row = crate::jobs::SERVER_ROW;
        let found = pg_fixture(find).unwrap_or_else(|e| Err(format!("{e:#}")));
        let (fixture, pg) = match found {
            Ok(found) => found,
            Err(why) => {
                self.pg = Some(None);
                return Some(format!("not run: {row}: {why}"));
            }
        };
        let line = format!("PostgreSQL for {row}: {}", fixture.server.describe());
        if let Some(f) = &mut self.fixtures {
            f.env.pg = Some(pg);
        }
        self.pg = Some(Some(fixture));
        Some(line)
    }
}

/// The server and its table, or why there is none (no PostgreSQL, too few free
/// connections); an error where a server was found but could not be used.
fn pg_fixture(
    find: impl FnOnce() -> anyhow::Result<Option<pg_server::Server>>,
) -> anyhow::Result<Result<(PgFixture, PgServer), String>> {
    let Some(server) = find()? else {
        let why = pg_server::NOT_FOUND.trim_start_matches("not run: ");
        return Ok(Err(why.to_owned()));
    };
    let url = server.url().to_owned();
    let table = format!("compare_items_{}", std::process::id());
    let free = crate::jobs::create_pg_table(&url, &table).map_err(|e| {
        let why: Vec<String> = e
            .chain()
            .map(|e| e.to_string().replace('\n', "; "))
            .collect();
        anyhow::anyhow!("{}: {}", pg_server::redact(&url), why.join(": "))
    })?;
    let fixture = PgFixture {
        server,
        table: table.clone(),
    };
    if free < PG_POOL + 2 {
        return Ok(Err(format!(
            "the server has {free} free connections, and the row needs {}",
            PG_POOL + 2
        )));
    }
    let pg = PgServer {
        url,
        table,
        threads: PG_THREADS.min(free - 2),
    };
    Ok(Ok((fixture, pg)))
}

/// A section of `compare`: measure the rows `scenarios` lists, print them (in the terminal
/// format) and keep them for the Markdown, JSON and chart printed after the last section.
/// With `server`, a PostgreSQL server is found (or started) for the rows that use one.
pub fn run_section(
    options: &Options,
    server: bool,
    scenarios: fn(&Env) -> Vec<Scenario>,
) -> SectionResult {
    let (rows, scenarios, cells) = measure_rows(options, options.sizes(), server, scenarios)?;
    if options.terminal() {
        let width = report::width();
        print_section(&rows, &scenarios, width);
        report::print_python(&rows, width);
        println!("  {cells} cells, every answer checked.");
    }
    Ok(())
}

/// Measure the rows `scenarios` lists at `sizes` (unless an earlier section of this run
/// started the fixtures at other sizes), printing only the machine line (in the terminal
/// format) and a progress bar; judge them ([`Judges`], on the busiest reading of the
/// machine so far) and keep them for the data printed after the last section.
/// Returns the rows, their scenarios and how many cells ran.
pub fn measure_rows(
    options: &Options,
    sizes: Sizes,
    server: bool,
    scenarios: impl FnOnce(&Env) -> Vec<Scenario>,
) -> anyhow::Result<(Vec<Row>, Vec<Scenario>, usize)> {
    let mut state = options.shared.lock();
    state.fixtures(sizes)?;
    let machine = state
        .machine
        .get_or_insert_with(|| Machine::here(sizes))
        .clone();
    if options.terminal() {
        println!("  {}", machine.line());
        if machine.profile == Profile::Dev && sizes == Sizes::Quick && !options.quick {
            println!(
                "  (dev build: quick sizes; cargo run --release -p compare for the full table)"
            );
        }
    }
    let said = server
        .then(|| state.start_pg(pg_server::Server::find))
        .flatten();
    match said {
        Some(line) if options.terminal() => {
            print!("{}", report::wrap(&line, report::width(), "  ", "    "));
        }
        // A data format: standard output holds only the data.
        Some(line) if line.starts_with("not run:") => eprintln!("compare: {line}"),
        _ => {}
    }
    let scenarios = scenarios(state.fixtures(sizes)?);
    let python = state.fixtures.as_ref().and_then(|f| f.python.clone());
    let python_cells = python.as_ref().map_or(0, |_| PyModel::ALL.len());
    let cells: usize = scenarios
        .iter()
        .map(|r| r.runs as usize * (Model::ALL.len() + python_cells))
        .sum();
    let bar = ProgressBar::new(cells as u64).with_style(
        ProgressStyle::with_template("  {bar:30} {pos}/{len} cells  {elapsed}  {msg}")
            .context("progress bar template")?,
    );
    let mut rows = Vec::new();
    for scenario in &scenarios {
        rows.push(cells::measure_row(
            scenario,
            python.as_ref(),
            |step| match step {
                Some(cell) => bar.set_message(cell.to_owned()),
                None => bar.inc(1),
            },
        )?);
    }
    bar.finish_and_clear();
    let start = state.reading.take().unwrap_or(machine.load);
    let reading = busier(start, common::claim::Machine::sample());
    let judges = Judges::of(&reading);
    for row in &mut rows {
        row.judge(&judges);
    }
    state.reading = Some(reading);
    state.rows.extend(rows.iter().cloned());
    Ok((rows, scenarios, cells))
}

/// After the last section: the Markdown or JSON of every row (to standard output), and the
/// chart.
pub fn finish(options: &Options, names: &[&str]) -> anyhow::Result<()> {
    // The server's table dropped, a private cluster stopped: no cell needs them now.
    drop(options.shared.lock().pg.take());
    let (rows, machine) = options.shared.results();
    let machine = machine.unwrap_or_else(|| Machine::here(options.sizes()));
    write_data(
        &mut io::stdout().lock(),
        options.format,
        &rows,
        &machine,
        names,
    )
    .context("writing the results to standard output")?;
    if let Some(path) = &options.chart {
        crate::chart::write_svg(&rows, &machine, path)
            .with_context(|| format!("drawing the chart into {}", path.display()))?;
        if options.terminal() {
            figure("chart written to", path.display());
        }
    }
    Ok(())
}

/// The Markdown or JSON of every row into `out`, flushed: a full disk or a closed output is
/// an error, never a truncated file and exit code 0.
fn write_data(
    out: &mut impl Write,
    format: Format,
    rows: &[Row],
    machine: &Machine,
    names: &[&str],
) -> anyhow::Result<()> {
    match format {
        Format::Terminal => {}
        Format::Markdown => {
            writeln!(
                out,
                "Measured on {}; when it started: {}.\n",
                machine.line(),
                machine.load.describe()
            )?;
            // The chosen sections' tables, then those of rows another section measured
            // (choose measures rows of both tables); no heading without rows.
            let mut sections = names.to_vec();
            for row in rows {
                if !sections.contains(&row.section) {
                    sections.push(row.section);
                }
            }
            for name in sections {
                let rows: Vec<Row> = rows.iter().filter(|r| r.section == name).cloned().collect();
                if !rows.is_empty() {
                    writeln!(out, "#### {name}\n\n{}", report::markdown(&rows))?;
                }
            }
        }
        Format::Json => writeln!(out, "{}", report::json(&report::Report { machine, rows })?)?,
    }
    out.flush()?;
    Ok(())
}

/// Of two readings of the machine, the one with more CPU used by other processes.
fn busier(a: common::claim::Machine, b: common::claim::Machine) -> common::claim::Machine {
    let busy = |m: &common::claim::Machine| m.others_busy.unwrap_or(0.0);
    if busy(&b) > busy(&a) { b } else { a }
}

fn print_section(rows: &[Row], scenarios: &[Scenario], width: usize) {
    print!("{}", report::terminal(rows, width));
    println!();
    print!("{}", report::workloads(rows, width));
    let cells: Vec<(&Row, &[crate::table::Cell])> =
        rows.iter().map(|r| (r, r.cells.as_slice())).collect();
    for line in report::not_applicable(&cells, "") {
        print!("{}", report::wrap(&line, width, "  ", "    "));
    }
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
    let (mut differ, mut open) = (0, 0);
    for (row, scenario) in rows.iter().zip(scenarios) {
        let verdict = (
            row.verdict,
            row.winner_vs_recommended,
            row.why_not_decided.as_deref(),
        );
        let line = report::pick_line(
            row.scenario,
            "",
            row.python_recommends,
            row.winner_name(),
            verdict,
        );
        let Some(mut line) = line else { continue };
        match row.verdict {
            Verdict::Differs => {
                differ += 1;
                line = format!("{line}: {}", why_it_differs(&scenario.job, row));
            }
            Verdict::NotDecided => open += 1,
            _ => {}
        }
        print!("{}", report::wrap(&line, width, "  ", "    "));
    }
    for (row, scenario) in rows.iter().zip(scenarios) {
        if let Some((evidence, text)) = no_gil(row).filter(|_| scenario.job.is_cpu()) {
            takeaway_if(&evidence, text);
        }
    }
    let open = match open {
        0 => String::new(),
        n => format!(" ({n} not decided in this run)"),
    };
    takeaway(format!(
        "{differ} of {} rows: Rust's fastest model is not the guide's pick{open}; measure before you choose",
        rows.len()
    ));
}

/// The CPU rows' explanation, "no GIL: threads in one process use every core", and the
/// evidence for it: the fastest in-process parallel cell scaled over the sequential one.
/// `None` when those cells did not run.
fn no_gil(row: &Row) -> Option<(Evidence, String)> {
    let seconds = |m: Model| row.cell(m).and_then(|c| c.seconds);
    let sequential = seconds(Model::Sequential)?;
    let (best, time) = Model::ALL
        .into_iter()
        .filter(|&m| m.is_parallel() && m != Model::Processes)
        .filter_map(|m| seconds(m).map(|s| (m, s)))
        .min_by(|a, b| a.1.total_cmp(&b.1))?;
    let cores = cores();
    let speedup = sequential / time.max(f64::MIN_POSITIVE);
    let processes = match seconds(Model::Processes) {
        Some(p) if p >= time => "; processes only add start-up and copying",
        _ => "",
    };
    Some((
        scaling(row.scenario, best, speedup, cores),
        format!(
            "{}: no GIL: the {} cell ran Rust on all {cores} cores inside one process, {speedup:.1}x sequential{processes}",
            row.scenario,
            best.name()
        ),
    ))
}

/// "`best` ran on all `cores` cores": its speedup over sequential is near `cores`, a
/// parallel efficiency between 70 % and 110 % (over 110 %: a disturbed sequential run).
fn scaling(scenario: &str, best: Model, speedup: f64, cores: usize) -> Evidence {
    let efficiency = speedup / cores as f64;
    let holds = cores >= 2 && (MIN_EFFICIENCY..=MAX_EFFICIENCY).contains(&efficiency);
    let expected = if cores >= 2 {
        format!(
            "on the {scenario} row, the fastest in-process cell near {cores}x sequential on {cores} cores (efficiency {:.0}-{:.0}%)",
            MIN_EFFICIENCY * 100.0,
            MAX_EFFICIENCY * 100.0
        )
    } else {
        format!("at least 2 usable cores for the {scenario} row to run on more than one")
    };
    let disturbed = if efficiency > MAX_EFFICIENCY {
        " (over 100%: the sequential run itself was slowed down)"
    } else {
        ""
    };
    Evidence::new(
        holds,
        expected,
        format!(
            "{speedup:.2}x for {} (efficiency {:.0}%){disturbed}",
            best.name(),
            efficiency * 100.0
        ),
    )
    .cpu(cores.max(2))
}

/// One sentence on why Rust's winner differs from the guide's pick.
fn why_it_differs(job: &Job, row: &Row) -> String {
    let Some(winner) = row.rust_winner else {
        return "no cell ran".into();
    };
    if job.is_cpu() {
        let checked = match no_gil(row) {
            Some(_) => format!(" (checked below, on the {} line)", row.scenario),
            None => String::new(),
        };
        return format!("no GIL: threads in one process use every core{checked}");
    }
    if winner == Model::Sequential {
        return match cores() {
            1 => "this process may use 1 core, so no model could run two items at once".into(),
            _ => "the job is too small to repay starting any workers".into(),
        };
    }
    match job {
        Job::Db { .. } => "SQLite runs inside the process: a query is CPU work, not a network wait, and every new connection fills its own page cache, so a few long-lived connections, one per worker thread, win".into(),
        Job::Pg { pool, .. } => match row.cell(winner).map_or(0, |c| c.workers) {
            held if held > *pool => format!(
                "the server sets the pace, and the {} cell kept {held} queries waiting on it at once to the async pool's {pool}",
                winner.name()
            ),
            _ => format!(
                "every model waits on the server alike; at this size the {} cell connected and started more cheaply",
                winner.name()
            ),
        },
        _ => format!(
            "both wait concurrently; at this size the {} cell started and switched more cheaply",
            winner.name()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision_matrix;
    use crate::jobs::SERVER_ROW;
    use crate::models::PythonFamily;

    /// The rows the decision matrix measures with this state's fixtures.
    fn matrix_rows(state: &State) -> Vec<&'static str> {
        let env = &state.fixtures.as_ref().unwrap().env;
        decision_matrix::scenarios(env)
            .iter()
            .map(|s| s.name)
            .collect()
    }

    #[test]
    fn without_postgresql_the_server_row_is_left_out_with_one_line() {
        // A PATH and a Debian layout without PostgreSQL, as on a machine that lacks it.
        let empty = tempfile::tempdir().unwrap();
        let (path, debian) = (empty.path().as_os_str(), empty.path().join("lib"));
        let mut state = State::default();
        state.fixtures(Sizes::Tiny).unwrap();
        let line = state.start_pg(|| pg_server::Server::find_with(None, Some(path), &debian));
        assert_eq!(
            line.as_deref(),
            Some(
                "not run: Database queries (server): no PostgreSQL server (set DATABASE_URL, or install PostgreSQL: Debian/Ubuntu apt install postgresql, macOS brew install postgresql)"
            )
        );
        assert!(!matrix_rows(&state).contains(&SERVER_ROW));
        assert_eq!(matrix_rows(&state).len(), decision_matrix::MATRIX.len());
        let again = state.start_pg(|| panic!("looked for once per run"));
        assert_eq!(again, None, "said once");
    }

    #[test]
    fn with_postgresql_the_server_row_runs_every_model_and_the_cluster_goes_away() {
        let path = std::env::var_os("PATH");
        let debian = std::path::Path::new(pg_server::DEBIAN_LAYOUT);
        if pg_server::binaries(path.as_deref(), debian).is_none() {
            eprintln!("skipped: PostgreSQL is not installed");
            return;
        }
        let mut state = State::default();
        state.fixtures(Sizes::Tiny).unwrap();
        // A private cluster (never DATABASE_URL: tests run at once).
        let line = state.start_pg(|| pg_server::Server::find_with(None, path.as_deref(), debian));
        let line = line.unwrap();
        assert!(
            line.starts_with("PostgreSQL for Database queries (server): a private cluster"),
            "{line}"
        );
        let Some(Some(fixture)) = &state.pg else {
            panic!("no server: {line}");
        };
        let pg_server::Server::Private(cluster) = &fixture.server else {
            unreachable!("a private cluster");
        };
        let folder = cluster.folder().to_owned();
        let env = &state.fixtures.as_ref().unwrap().env;
        let scenario = decision_matrix::scenarios(env)
            .into_iter()
            .find(|s| s.name == SERVER_ROW)
            .unwrap();
        // Each cell in a child process of its own, its answer checked against the rows.
        let row = crate::cells::measure_row(&scenario, None, |_| {}).unwrap();
        for cell in &row.cells {
            assert!(cell.seconds.is_some(), "{cell:?}");
        }
        assert_eq!(row.cell(Model::ThreadPool).unwrap().workers, PG_POOL);
        // A wrong table is an error, not a fast answer.
        let mut wrong = scenario.job.clone();
        if let Job::Pg { table, .. } = &mut wrong {
            *table = "no_such_table".into();
        }
        assert!(crate::models::run(Model::Sequential, &wrong, Default::default()).is_err());
        drop(state);
        assert!(!folder.exists(), "{} is still there", folder.display());
    }

    #[test]
    fn sizes_follow_the_flags() {
        let options = |quick, full, tiny| Options {
            quick,
            full,
            tiny,
            format: Format::Terminal,
            chart: None,
            from: None,
            shared: Shared::default(),
        };
        assert_eq!(options(false, false, true).sizes(), Sizes::Tiny);
        assert_eq!(options(true, false, false).sizes(), Sizes::Quick);
        assert_eq!(options(false, true, false).sizes(), Sizes::Full);
    }

    #[test]
    fn a_chart_is_an_svg_in_a_folder_that_exists() {
        assert!(chart_path("target/x.svg").is_ok() || !std::path::Path::new("target").is_dir());
        assert!(chart_path("x.svg").is_ok());
        assert!(chart_path("x.png").unwrap_err().contains(".svg"));
        assert!(
            chart_path("/no/such/folder/x.svg")
                .unwrap_err()
                .contains("does not exist")
        );
    }

    #[test]
    fn a_chart_path_that_is_a_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("d.svg");
        std::fs::create_dir(&folder).unwrap();
        let err = chart_path(folder.to_str().unwrap()).unwrap_err();
        assert!(err.contains("is a folder"), "{err}");
    }

    #[test]
    fn a_bad_format_names_every_valid_one() {
        assert_eq!(format_name("json"), Ok(Format::Json));
        assert_eq!(
            format_name("yaml").unwrap_err(),
            "valid formats: terminal, markdown, json"
        );
    }

    /// A writer that takes `room` bytes, then fails as a full disk does.
    struct Full {
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::from_raw_os_error(28)); // ENOSPC
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_full_disk_is_an_error_not_a_truncated_file() {
        let machine = Machine::here(Sizes::Tiny);
        for format in [Format::Json, Format::Markdown] {
            let mut out = Full { room: 100 };
            assert!(write_data(&mut out, format, &[], &machine, &["benchmark-table"]).is_err());
            let mut out = Full { room: usize::MAX };
            write_data(&mut out, format, &[], &machine, &["benchmark-table"]).unwrap();
        }
    }

    #[test]
    fn markdown_heads_the_tables_of_rows_another_section_measured() {
        use crate::table::tests::{cell, scenario};
        let mut s = scenario(crate::models::PythonFamily::Threading);
        s.section = "decision-matrix";
        let row = crate::table::row_from_cells(&s, vec![cell(Model::Threads, Some(1.0))]);
        let mut out = Vec::new();
        let machine = Machine::here(Sizes::Tiny);
        write_data(&mut out, Format::Markdown, &[row], &machine, &["choose"]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("#### decision-matrix\n\n| scenario |"),
            "{text}"
        );
        assert!(
            !text.contains("#### choose"),
            "no table, no heading: {text}"
        );
    }

    #[test]
    fn the_no_gil_claim_needs_the_cores_to_scale() {
        assert!(scaling("CPU-bound", Model::Rayon, 1.9, 2).holds());
        assert!(
            !scaling("CPU-bound", Model::Rayon, 1.01, 2).holds(),
            "a busy machine"
        );
        assert!(
            !scaling("CPU-bound", Model::Rayon, 1.0, 1).holds(),
            "one usable core"
        );
        assert!(
            !scaling("CPU-bound", Model::Rayon, 2.6, 2).holds(),
            "disturbed"
        );
        let line = scaling("CPU-bound", Model::Rayon, 1.01, 2).verdict("no GIL", None);
        assert!(line.starts_with("not shown in this run:"), "{line}");
        assert!(line.contains("CPU-bound row"), "{line}");
        assert!(!line.contains("no GIL"), "{line}");
    }

    #[test]
    fn a_waiting_row_explains_itself_without_the_gil() {
        use crate::table::tests::{cell, scenario};
        let fetch = Job::Serve {
            clients: 1,
            messages: 1,
            think_ms: 0,
        };
        let row = |winner| {
            let cells = vec![cell(winner, Some(1.0)), cell(Model::Processes, Some(2.0))];
            crate::table::row_from_cells(&scenario(PythonFamily::Asyncio), cells)
        };
        assert!(why_it_differs(&fetch, &row(Model::Threads)).contains("wait concurrently"));
        let sequential = why_it_differs(&fetch, &row(Model::Sequential));
        assert!(
            sequential.contains("too small") || sequential.contains("1 core"),
            "{sequential}"
        );
        assert!(!why_it_differs(&fetch, &row(Model::Tokio)).contains("GIL"));
        // A CPU row's reason points at the line below only when that line is printed.
        let cpu = Job::SumSquares { n: 1, chunks: 1 };
        assert_eq!(
            why_it_differs(&cpu, &row(Model::Threads)),
            "no GIL: threads in one process use every core"
        );
        let cells = vec![
            cell(Model::Sequential, Some(2.0)),
            cell(Model::Rayon, Some(1.0)),
        ];
        let both = crate::table::row_from_cells(&scenario(PythonFamily::Multiprocessing), cells);
        assert!(why_it_differs(&cpu, &both).ends_with("(checked below, on the row line)"));
    }
}
