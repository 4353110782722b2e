//! The harness: every cell of the table (one job, one model) runs in a fresh child process
//! of this binary, so the peak memory it reports is its own.
//!
//! `compare --role cell CELL_JSON` runs one cell and prints one JSON line: the seconds the
//! work took (measured inside the child, after start-up), the answer, and the peak memory
//! of any worker processes it started. The parent checks the answer against the job's
//! known one, then reads the child's peak memory from `wait4`.
//! For a server cell the child prints `listening PORT` first and the parent's clients
//! measure the time.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use common::timing::Stopwatch;
use serde::{Deserialize, Serialize};

use crate::jobs::Job;
use crate::models::{self, Model};

/// The longest a cell (or a worker process) may run before it ends itself.
pub const CELL_LIMIT: Duration = Duration::from_secs(60);

/// One row of a table: a scenario, what the Python guide says, and the job that measures it.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub section: &'static str,
    pub name: &'static str,
    /// The job in words, with its sizes.
    pub workload: String,
    /// The guide's pick: `threading`, `multiprocessing` or `asyncio`.
    pub python: &'static str,
    /// The guide's own example seconds for this row, per model, where it gives them.
    pub python_seconds: Vec<(&'static str, f64)>,
    /// How many times each cell runs; the best time is kept (CPU-bound rows are the ones
    /// that other load on the machine disturbs).
    pub runs: u32,
    pub job: Job,
}

/// One measured cell.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Cell {
    pub model: &'static str,
    /// The Python model it stands for.
    pub python_family: &'static str,
    pub workers: usize,
    /// Wall-clock seconds, `None` when the model does not apply.
    pub seconds: Option<f64>,
    /// Peak resident memory of the cell's process plus its worker processes (the most
    /// over its runs).
    pub peak_rss_bytes: Option<u64>,
    /// How many times it ran (each in a fresh process); `seconds` is the best run.
    pub runs: u32,
    pub fastest: bool,
    /// Why the model does not apply, when it does not.
    pub not_applicable: Option<&'static str>,
}

/// One measured row.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub section: &'static str,
    pub scenario: &'static str,
    pub workload: String,
    pub python_recommends: &'static str,
    pub python_guide_seconds: std::collections::BTreeMap<&'static str, f64>,
    pub rust_winner: &'static str,
    /// The winner's Python family is the guide's pick.
    pub agrees: bool,
    /// `agrees`; `close` when the guide's pick was within 10 % of the winner (a tie at
    /// this precision); else `differs`.
    pub verdict: &'static str,
    /// How many times faster the winner was than the best cell of the guide's pick.
    pub winner_vs_recommended: Option<f64>,
    pub cells: Vec<Cell>,
}

/// What a cell's child prints.
#[derive(Debug, Serialize, Deserialize)]
struct CellReport {
    seconds: f64,
    answer: u64,
    /// This process's own peak (`VmHWM`), read just before it exits.
    own_peak_rss: Option<u64>,
    children_peak_rss: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CellSpec {
    model: Model,
    job: Job,
}

/// End this process after `limit`, whatever it is doing: a child never hangs a run.
pub fn exit_after(limit: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("compare: gave up after {limit:?}");
        std::process::exit(124);
    });
}

/// The child's side: `--role cell CELL_JSON`.
pub fn cell_role(args: &[String]) -> anyhow::Result<()> {
    let [spec] = args else {
        bail!("usage: --role cell CELL_JSON");
    };
    exit_after(CELL_LIMIT);
    let CellSpec { model, job } = serde_json::from_str(spec).context("reading the cell")?;
    let report = if let Job::Serve { clients, .. } = job {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        println!("listening {}", listener.local_addr()?.port());
        let sw = Stopwatch::start();
        let answer = models::serve(model, listener, clients)?;
        CellReport {
            seconds: sw.elapsed().as_secs_f64(),
            answer,
            own_peak_rss: common::memory::peak_rss(),
            children_peak_rss: None,
        }
    } else {
        let sw = Stopwatch::start();
        let (answer, children_peak_rss) = models::run(model, &job)?;
        CellReport {
            seconds: sw.elapsed().as_secs_f64(),
            answer,
            own_peak_rss: common::memory::peak_rss(),
            children_peak_rss,
        }
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// The parent's side: run one cell in a child process; check its answer.
fn measure(model: Model, job: &Job) -> anyhow::Result<(f64, Option<u64>)> {
    let spec = serde_json::to_string(&CellSpec {
        model,
        job: job.clone(),
    })?;
    let mut child = common::cli::role_command(env!("CARGO_PKG_NAME"), "cell")?
        .arg(spec)
        .stdout(Stdio::piped())
        .spawn()
        .context("starting a cell process")?;
    let mut out = BufReader::new(child.stdout.take().context("no stdout")?);
    let talked = talk_to_cell(job, &mut out);
    drop(out);
    if talked.is_err() {
        // Do not leave a server cell waiting for clients that will never come.
        let _ = child.kill();
    }
    let (status, peak) = common::memory::wait_with_peak_rss(child)?;
    let (line, client_seconds) = talked?;
    ensure!(status.success(), "{} cell failed: {status}", model.name());
    let report: CellReport = serde_json::from_str(line.trim())
        .with_context(|| format!("the {} cell said {line:?}", model.name()))?;
    let expected = job.expected()?;
    ensure!(
        report.answer == expected,
        "{}: wrong answer {} (expected {expected}): its time is not shown",
        model.name(),
        report.answer
    );
    // The child's own VmHWM, not wait4's ru_maxrss: Linux carries the parent's peak into a
    // child's ru_maxrss across exec (std spawns with vfork semantics), so a small child of a
    // big parent would report the parent's size.
    let peak = match (report.own_peak_rss.or(peak), report.children_peak_rss) {
        (Some(own), Some(children)) => Some(own + children),
        (own, _) => own,
    };
    Ok((client_seconds.unwrap_or(report.seconds), peak))
}

/// Read the cell's report line; for a server cell, first run the clients against it.
/// Returns the report line and, for a server, the clients' seconds.
fn talk_to_cell(job: &Job, out: &mut impl BufRead) -> anyhow::Result<(String, Option<f64>)> {
    let mut line = String::new();
    out.read_line(&mut line)?;
    let Job::Serve {
        clients,
        messages,
        think_ms,
    } = *job
    else {
        return Ok((line, None));
    };
    let port: u16 = line
        .trim()
        .strip_prefix("listening ")
        .with_context(|| format!("the server cell said {line:?}"))?
        .parse()?;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let sw = Stopwatch::start();
    let echoed = rt.block_on(async {
        tokio::time::timeout(
            CELL_LIMIT,
            models::drive_clients(addr, clients, messages, think_ms),
        )
        .await
        .context("the clients gave up")?
    })?;
    let seconds = sw.elapsed().as_secs_f64();
    ensure!(echoed == clients * messages, "clients got {echoed} echoes");
    line.clear();
    out.read_line(&mut line)?;
    Ok((line, Some(seconds)))
}

/// Measure every model on `scenario`. `progress` hears `Some(what)` before each cell and
/// `None` after it.
pub fn measure_row(
    scenario: &Scenario,
    mut progress: impl FnMut(Option<&str>),
) -> anyhow::Result<Row> {
    let cores = models::cores();
    let mut cells: Vec<Cell> = Model::ALL
        .iter()
        .map(|&model| Cell {
            model: model.name(),
            python_family: model.python_family(),
            workers: model.workers(&scenario.job, cores),
            seconds: None,
            peak_rss_bytes: None,
            runs: 0,
            fastest: false,
            not_applicable: model.not_applicable(&scenario.job),
        })
        .collect();
    // Rounds go across the models (all once, then all again), so a burst of load from
    // elsewhere hits one round of everyone rather than every round of one model.
    for _round in 0..scenario.runs {
        for (cell, model) in cells.iter_mut().zip(Model::ALL) {
            progress(Some(&format!("{} / {}", scenario.name, model.name())));
            if cell.not_applicable.is_some() {
                progress(None);
                continue;
            }
            let (s, p) = measure(model, &scenario.job)
                .with_context(|| format!("{}, {}", scenario.name, model.name()))?;
            tracing::debug!(
                row = scenario.name,
                model = model.name(),
                seconds = s,
                "cell"
            );
            cell.seconds = Some(cell.seconds.map_or(s, |best| best.min(s)));
            cell.peak_rss_bytes = cell.peak_rss_bytes.max(p);
            cell.runs += 1;
            progress(None);
        }
    }
    Ok(row_from_cells(scenario, cells))
}

/// Within this factor of the winner, the guide's pick counts as a tie ("close").
pub const CLOSE: f64 = 1.10;

/// Mark the fastest cell and compare it with the guide's pick.
pub fn row_from_cells(scenario: &Scenario, mut cells: Vec<Cell>) -> Row {
    let fastest = cells
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.seconds.map(|s| (i, s)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i);
    if let Some(i) = fastest {
        cells[i].fastest = true;
    }
    let winner = fastest.map(|i| &cells[i]);
    let best_recommended = cells
        .iter()
        .filter(|c| c.python_family == scenario.python)
        .filter_map(|c| c.seconds)
        .min_by(f64::total_cmp);
    let agrees = winner.is_some_and(|c| c.python_family == scenario.python);
    let ratio = winner
        .and_then(|w| w.seconds)
        .zip(best_recommended)
        .map(|(w, r)| r / w.max(f64::MIN_POSITIVE));
    let verdict = match (agrees, ratio) {
        (true, _) => "agrees",
        (false, Some(r)) if r <= CLOSE => "close",
        _ => "differs",
    };
    Row {
        section: scenario.section,
        scenario: scenario.name,
        workload: scenario.workload.clone(),
        python_recommends: scenario.python,
        python_guide_seconds: scenario.python_seconds.iter().copied().collect(),
        rust_winner: winner.map_or("none", |c| c.model),
        agrees,
        verdict,
        winner_vs_recommended: ratio,
        cells,
    }
}

/// One sentence on why Rust's winner differs from the guide's pick for this kind of job.
pub fn why_it_differs(job: &Job, winner: &str) -> String {
    if winner == Model::Sequential.name() {
        return "the job is too small to repay starting any workers".into();
    }
    match job {
        Job::SumSquares { .. } | Job::Primes { .. } | Job::Images { .. } => format!(
            "no GIL: the {winner} cell runs Rust on every core inside one process; processes only add start-up and copying"
        ),
        Job::Db { .. } => "SQLite runs inside the process: a query is CPU work, not a network wait, and every new connection fills its own page cache, so a few long-lived connections on all cores win".into(),
        Job::Fetch { .. } | Job::Serve { .. } => format!(
            "both wait concurrently; at this size the {winner} cell started and switched more cheaply"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(model: Model, seconds: Option<f64>) -> Cell {
        Cell {
            model: model.name(),
            python_family: model.python_family(),
            workers: 1,
            seconds,
            peak_rss_bytes: None,
            runs: 1,
            fastest: false,
            not_applicable: None,
        }
    }

    fn scenario(python: &'static str) -> Scenario {
        Scenario {
            section: "t",
            name: "row",
            workload: String::new(),
            python,
            python_seconds: vec![],
            runs: 1,
            job: Job::SumSquares { n: 1, chunks: 1 },
        }
    }

    #[test]
    fn the_winner_is_the_fastest_cell_that_ran() {
        let cells = vec![
            cell(Model::Sequential, Some(2.0)),
            cell(Model::Processes, Some(1.0)),
            cell(Model::Rayon, Some(0.5)),
            cell(Model::Hybrid, None),
        ];
        let row = row_from_cells(&scenario("multiprocessing"), cells);
        assert_eq!(row.rust_winner, "rayon");
        assert_eq!(
            row.cells.iter().filter(|c| c.fastest).count(),
            1,
            "one mark"
        );
        assert!(row.cells[2].fastest);
        assert!(!row.agrees);
        assert_eq!(row.verdict, "differs");
        assert_eq!(row.winner_vs_recommended, Some(2.0));
    }

    #[test]
    fn a_winner_in_the_recommended_family_agrees() {
        let cells = vec![
            cell(Model::ThreadPool, Some(0.2)),
            cell(Model::Tokio, Some(0.3)),
        ];
        let row = row_from_cells(&scenario("threading"), cells);
        assert_eq!(row.rust_winner, "thread-pool");
        assert!(row.agrees);
        assert_eq!(row.verdict, "agrees");
        assert_eq!(row.winner_vs_recommended, Some(1.0));
    }

    #[test]
    fn within_ten_percent_of_the_winner_the_guide_is_close() {
        let cells = vec![
            cell(Model::Threads, Some(1.05)),
            cell(Model::Tokio, Some(1.0)),
        ];
        let row = row_from_cells(&scenario("threading"), cells);
        assert_eq!(row.rust_winner, "tokio");
        assert!(!row.agrees);
        assert_eq!(row.verdict, "close");
    }
}
