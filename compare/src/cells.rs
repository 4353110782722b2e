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
use std::sync::Arc;

use anyhow::{Context, bail, ensure};
use common::child::{exit_after, role_command};
use common::timing::Stopwatch;
use serde::{Deserialize, Serialize};

use crate::jobs::{Job, cores};
use crate::models::{self, CELL_LIMIT, Model};
use crate::table::{Cell, Row, Scenario, row_from_cells};

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
        let (answer, children_peak_rss) = models::serve(model, listener, clients)?;
        CellReport {
            seconds: sw.elapsed().as_secs_f64(),
            answer,
            own_peak_rss: common::memory::peak_rss(),
            children_peak_rss,
        }
    } else {
        // An image job's pictures exist before the clock starts, as a Python list would.
        let images = Arc::new(job.images());
        let sw = Stopwatch::start();
        let (answer, children_peak_rss) = models::run(model, &job, images)?;
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
    let mut child = role_command(env!("CARGO_PKG_NAME"), "cell")?
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
    let cores = cores();
    let mut cells: Vec<Cell> = Model::ALL
        .iter()
        .map(|&model| {
            Cell::new(
                model,
                model.workers(scenario.job.items(), cores),
                model.not_applicable(&scenario.job),
            )
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
            cell.record(s, p);
            progress(None);
        }
    }
    Ok(row_from_cells(scenario, cells))
}
