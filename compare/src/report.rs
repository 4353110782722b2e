//! The measured rows as a terminal table, a Markdown table, or JSON (fields in the README).
//! With `--python` each table has a second one beside it: the Python cells of the same rows,
//! Rust's fastest against Python's fastest, and the guide's pick as measured in Python.

use std::fmt::Write as _;
use std::time::Duration;

use common::timing::{Bytes, Secs};
use serde::Serialize;

use crate::jobs::{Sizes, cores};
use crate::table::{CLOSE, Cell, CellModel, PythonColumns, Row, Verdict};

/// The Cargo profile this binary was built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    Dev,
    Release,
}

impl Profile {
    pub fn this_build() -> Profile {
        if cfg!(debug_assertions) {
            Profile::Dev
        } else {
            Profile::Release
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Profile::Dev => "dev",
            Profile::Release => "release",
        }
    }
}

/// Where the figures come from: printed with every table.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub os: &'static str,
    pub arch: &'static str,
    /// `release` or `dev`: the Cargo profile this binary was built with.
    pub profile: Profile,
    /// `full`, `quick` or `tiny`.
    pub sizes: Sizes,
    /// How free the machine was when the run started: `load_1m`, `usable_cores`,
    /// `online_cores`, `others_busy` (cores' worth of CPU other processes used).
    #[serde(flatten)]
    pub load: common::claim::Machine,
    /// With `--python`: the interpreter of the Python cells (`Python 3.11.7`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub python: Option<String>,
}

impl Machine {
    /// This machine now, with a short sample of how busy other processes keep it.
    pub fn here(sizes: Sizes) -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|s| s.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        Machine {
            cpu,
            cores: cores(),
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            profile: Profile::this_build(),
            sizes,
            load: common::claim::Machine::sample(),
            python: common::python::chosen().map(|py| py.label()),
        }
    }

    pub fn line(&self) -> String {
        let python = self
            .python
            .as_ref()
            .map_or(String::new(), |py| format!(", {py}"));
        format!(
            "{}, {} cores, {} {}, {} build, {} sizes{python}",
            self.cpu,
            self.cores,
            self.os,
            self.arch,
            self.profile.name(),
            self.sizes.name()
        )
    }
}

/// The whole run, as `--format json` prints it.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    pub machine: &'a Machine,
    pub rows: &'a [Row],
}

fn secs(s: f64) -> String {
    Secs(Duration::from_secs_f64(s)).to_string()
}

fn mem(b: Option<u64>) -> String {
    b.map_or("n/a".into(), |b| Bytes(b).to_string())
}

const W_NAME: usize = 27;
const W_CELL: usize = 12;

/// The terminal table: two lines per row (seconds, peak memory), the fastest marked ★,
/// then one line wherever the guide's pick and Rust's winner differ.
pub fn terminal(rows: &[Row]) -> String {
    let mut out = String::new();
    let Some(first) = rows.first() else {
        return out;
    };
    let _ = write!(out, "  {:W_NAME$}", "");
    for c in &first.cells {
        let _ = write!(out, "{:>W_CELL$}", c.model.name());
    }
    let _ = writeln!(out, "   guide says -> Rust winner");
    for row in rows {
        let _ = write!(out, "  {:W_NAME$}", row.scenario);
        for c in &row.cells {
            let text = match c.seconds {
                Some(s) if c.fastest => format!("★{}", secs(s)),
                Some(s) => secs(s),
                None => "n/a".into(),
            };
            let _ = write!(out, "{text:>W_CELL$}");
        }
        let mark = match row.verdict {
            Verdict::Agrees => "=",
            Verdict::Close => "≈",
            Verdict::Differs => "≠",
        };
        let _ = writeln!(
            out,
            "   {} {mark} {}",
            row.python_recommends,
            row.winner_name()
        );
        let _ = write!(out, "  {:W_NAME$}", "  peak memory");
        for c in &row.cells {
            let text = if c.seconds.is_some() {
                mem(c.peak_rss_bytes)
            } else {
                "n/a".to_owned()
            };
            let _ = write!(out, "{text:>W_CELL$}");
        }
        let _ = writeln!(out);
    }
    out
}

/// Workloads, one line each, under the table.
pub fn workloads(rows: &[Row]) -> String {
    rows.iter()
        .map(|r| format!("  {:W_NAME$}{}\n", r.scenario, r.workload))
        .collect()
}

/// The Markdown table (the README's).
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::new();
    let Some(first) = rows.first() else {
        return out;
    };
    out.push_str("| scenario |");
    for c in &first.cells {
        let _ = write!(out, " {} |", c.model.name());
    }
    out.push_str(" Python guide | Rust winner |\n|---|");
    for _ in &first.cells {
        out.push_str("---:|");
    }
    out.push_str("---|---|\n");
    for row in rows {
        let _ = write!(out, "| {} |", row.scenario);
        for c in &row.cells {
            let text = match c.seconds {
                Some(s) if c.fastest => format!("**{}**<br>{}", secs(s), mem(c.peak_rss_bytes)),
                Some(s) => format!("{}<br>{}", secs(s), mem(c.peak_rss_bytes)),
                None => "n/a".into(),
            };
            let _ = write!(out, " {text} |");
        }
        let verdict = match row.verdict {
            Verdict::Agrees => "",
            Verdict::Close => " (a tie)",
            Verdict::Differs => " (differs)",
        };
        let _ = writeln!(
            out,
            " {} | {}{verdict} |",
            row.python_recommends,
            row.winner_name()
        );
    }
    let python = markdown_python(rows);
    if !python.is_empty() {
        out.push('\n');
        out.push_str(&python);
    }
    out
}

/// A cell's seconds, ★ when fastest, `n/a` when it did not run.
fn cell_secs<M: CellModel>(c: &Cell<M>) -> String {
    match c.seconds {
        Some(s) if c.fastest => format!("★{}", secs(s)),
        Some(s) => secs(s),
        None => "n/a".into(),
    }
}

fn mark(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Agrees => "=",
        Verdict::Close => "≈",
        Verdict::Differs => "≠",
    }
}

/// "Rust 12.3x faster" (or "Python 1.2x faster"; "even" within [`CLOSE`], a tie).
fn rust_vs_python(py: &PythonColumns) -> String {
    match py.rust_speedup {
        Some(x) if (1.0 / CLOSE..=CLOSE).contains(&x) => format!("even ({x:.2}x)"),
        Some(x) if x >= 1.0 => format!("Rust {x:.1}x faster"),
        Some(x) => format!("Python {:.1}x faster", 1.0 / x.max(f64::MIN_POSITIVE)),
        None => "n/a".into(),
    }
}

/// The rows that have Python cells, with them.
fn with_python(rows: &[Row]) -> impl Iterator<Item = (&Row, &PythonColumns)> {
    rows.iter()
        .filter_map(|r| r.python.as_ref().map(|py| (r, py)))
}

/// `--python`, in the terminal: the Python cells of each row (seconds, then peak memory),
/// Rust's fastest beside them, and the guide's pick against Python's winner.
pub fn terminal_python(rows: &[Row]) -> String {
    let mut out = String::new();
    let Some((_, first)) = with_python(rows).next() else {
        return out;
    };
    let _ = write!(out, "  {:W_NAME$}", first.interpreter);
    for c in &first.cells {
        let _ = write!(out, "{:>W_CELL$}", c.model.name());
    }
    let _ = writeln!(
        out,
        "{:>W_CELL$}   Rust vs Python       guide says -> Python winner",
        "Rust's best"
    );
    for (row, py) in with_python(rows) {
        let _ = write!(out, "  {:W_NAME$}", row.scenario);
        for c in &py.cells {
            let _ = write!(out, "{:>W_CELL$}", cell_secs(c));
        }
        let rust_best = row
            .cells
            .iter()
            .filter_map(|c| c.seconds)
            .min_by(f64::total_cmp);
        let _ = writeln!(
            out,
            "{:>W_CELL$}   {:20} {} {} {}",
            rust_best.map_or("n/a".into(), secs),
            rust_vs_python(py),
            row.python_recommends,
            mark(py.verdict),
            py.winner_name()
        );
        let _ = write!(out, "  {:W_NAME$}", "  peak memory");
        for c in &py.cells {
            let text = match c.seconds {
                Some(_) => mem(c.peak_rss_bytes),
                None => "n/a".into(),
            };
            let _ = write!(out, "{text:>W_CELL$}");
        }
        let _ = writeln!(out);
    }
    out
}

/// `--python`, in the terminal: the Python table, a line where the guide's pick lost in
/// Python too, and the takeaway, with the figures of this run.
pub fn print_python(rows: &[Row]) {
    let measured: Vec<(&Row, &PythonColumns)> = with_python(rows).collect();
    let Some((_, first)) = measured.first() else {
        return;
    };
    println!();
    println!(
        "  The same rows in {} (scripts of compare/python/, each cell a fresh interpreter):",
        first.interpreter
    );
    print!("{}", terminal_python(rows));
    for (row, py) in &measured {
        if py.verdict == Verdict::Differs {
            let by = py.winner_vs_recommended.map_or(String::new(), |x| {
                format!(", {x:.1}x the best {} cell", row.python_recommends)
            });
            println!(
                "  ≠ {} in Python: the guide says {}, Python's fastest is {}{by}",
                row.scenario,
                row.python_recommends,
                py.winner_name()
            );
        }
    }
    for (row, py) in &measured {
        if py.cpu_bound {
            gil_claim(row.scenario, py);
        }
    }
    let speedups: Vec<f64> = measured
        .iter()
        .filter_map(|(_, py)| py.rust_speedup)
        .collect();
    let faster = speedups.iter().filter(|&&x| x > 1.0).count();
    let (low, high) = speedups
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    let holds = measured
        .iter()
        .filter(|(_, py)| py.verdict != Verdict::Differs)
        .count();
    if !speedups.is_empty() {
        common::print::takeaway(format!(
            "Rust's fastest beat Python's fastest on {faster} of {} rows ({low:.1}x to {high:.1}x); the guide's pick held (or tied) in Python on {holds} of {}",
            speedups.len(),
            measured.len()
        ));
    }
}

/// A CPU-bound row in Python: threads run no faster than asyncio's one thread (the event
/// loop runs CPU items one after another), because the GIL lets one thread run Python at a
/// time; `Pool`'s processes do. Printed as fact only when this run's figures show both.
/// A free-threaded interpreter's threads are expected to scale instead.
fn gil_claim(scenario: &str, py: &PythonColumns) {
    if let Some((evidence, text)) = gil_evidence(scenario, py, cores()) {
        common::print::takeaway_if(&evidence, text);
    }
}

/// [`gil_claim`]'s evidence and text, on a machine with `cores` usable cores.
fn gil_evidence(
    scenario: &str,
    py: &PythonColumns,
    cores: usize,
) -> Option<(common::print::Evidence, String)> {
    use crate::models::PyModel;
    use common::print::Evidence;
    let seconds = |m: PyModel| py.cells.iter().find(|c| c.model == m)?.seconds;
    let (Some(threads), Some(pool), Some(one)) = (
        seconds(PyModel::Threads),
        seconds(PyModel::Processes),
        seconds(PyModel::Asyncio),
    ) else {
        return None;
    };
    let x = |s: f64| one / s.max(f64::MIN_POSITIVE);
    let (threads_x, pool_x) = (x(threads), x(pool));
    let pool_scales = Evidence::new(
        cores >= 2 && pool_x >= PARALLEL,
        format!("on the {scenario} row, Pool's processes at least {PARALLEL}x one thread (asyncio's loop)"),
        format!("{pool_x:.2}x"),
    )
    .cpu(cores.max(2));
    if py.interpreter.contains("free-threaded") {
        let threads_scale = Evidence::new(
            cores >= 2 && threads_x >= PARALLEL,
            format!("on the {scenario} row, free-threaded Python's threads at least {PARALLEL}x one thread"),
            format!("{threads_x:.2}x"),
        )
        .cpu(cores.max(2));
        return Some((
            threads_scale.and(pool_scales),
            format!(
                "{scenario}: without the GIL Python's threads ran in parallel too: {threads_x:.1}x one thread, Pool {pool_x:.1}x"
            ),
        ));
    }
    let threads_flat = Evidence::new(
        threads_x < GIL_FLAT,
        format!(
            "on the {scenario} row, Python's threads under {GIL_FLAT}x one thread (asyncio's loop)"
        ),
        format!("{threads_x:.2}x"),
    );
    Some((
        threads_flat.and(pool_scales),
        format!(
            "{scenario}: the GIL: Python's threads ran {threads_x:.1}x one thread, Pool's processes {pool_x:.1}x"
        ),
    ))
}

/// A speedup at least this large shows work running in parallel (on 2 or more cores).
const PARALLEL: f64 = 1.4;
/// Threads under this factor of one thread gained nothing from the cores.
const GIL_FLAT: f64 = 1.25;

/// `--python`: the Markdown table of the Python cells.
fn markdown_python(rows: &[Row]) -> String {
    let mut out = String::new();
    let Some((_, first)) = with_python(rows).next() else {
        return out;
    };
    let _ = write!(out, "| {} |", first.interpreter);
    for c in &first.cells {
        let _ = write!(out, " {} |", c.model.name());
    }
    out.push_str(" Rust's best | Rust vs Python | Python guide | Python winner |\n|---|");
    for _ in &first.cells {
        out.push_str("---:|");
    }
    out.push_str("---:|---|---|---|\n");
    for (row, py) in with_python(rows) {
        let _ = write!(out, "| {} |", row.scenario);
        for c in &py.cells {
            let text = match c.seconds {
                Some(s) if c.fastest => format!("**{}**<br>{}", secs(s), mem(c.peak_rss_bytes)),
                Some(s) => format!("{}<br>{}", secs(s), mem(c.peak_rss_bytes)),
                None => "n/a".into(),
            };
            let _ = write!(out, " {text} |");
        }
        let rust_best = row
            .cells
            .iter()
            .filter_map(|c| c.seconds)
            .min_by(f64::total_cmp);
        let verdict = match py.verdict {
            Verdict::Agrees => "",
            Verdict::Close => " (a tie)",
            Verdict::Differs => " (differs)",
        };
        let _ = writeln!(
            out,
            " {} ({}) | {} | {} | {}{verdict} |",
            rust_best.map_or("n/a".into(), secs),
            row.winner_name(),
            rust_vs_python(py),
            row.python_recommends,
            py.winner_name()
        );
    }
    out
}

pub fn json(report: &Report) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(report)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{Model, PythonFamily};
    use crate::table::row_from_cells;
    use crate::table::tests::{cell, scenario};

    pub fn sample_rows() -> Vec<Row> {
        let mut s = scenario(PythonFamily::Multiprocessing);
        s.name = "CPU-bound";
        vec![row_from_cells(
            &s,
            vec![
                cell(Model::Processes, Some(0.8)),
                cell(Model::Rayon, Some(0.4)),
                cell(Model::Hybrid, None),
            ],
        )]
    }

    #[test]
    fn the_terminal_table_marks_the_winner_and_the_disagreement() {
        let text = terminal(&sample_rows());
        assert!(text.contains("★400.0 ms"), "{text}");
        assert!(text.contains("multiprocessing ≠ rayon"), "{text}");
        assert!(text.contains("3.0 MiB"), "{text}");
        let memory = text.lines().find(|l| l.contains("peak memory")).unwrap();
        assert!(memory.contains("n/a"), "no silent gap: {text}");
    }

    #[test]
    fn the_markdown_table_has_a_column_per_model() {
        let text = markdown(&sample_rows());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].matches('|').count(), lines[2].matches('|').count());
        assert!(lines[2].contains("**400.0 ms**"), "{text}");
        assert!(lines[2].contains("rayon (differs)"), "{text}");
    }

    fn rows_with_python() -> Vec<Row> {
        use crate::models::PyModel;
        use crate::table::python_columns;
        use crate::table::tests::py_cell;
        let mut rows = sample_rows();
        let py = python_columns(
            &rows[0],
            "Python 3.11.7".into(),
            vec![
                py_cell(PyModel::Threads, Some(4.0)),
                py_cell(PyModel::ThreadPool, Some(4.1)),
                py_cell(PyModel::Processes, Some(2.0)),
                py_cell(PyModel::Asyncio, Some(4.2)),
            ],
        );
        rows[0].python = Some(py);
        rows
    }

    #[test]
    fn the_python_table_sets_python_beside_rust_s_best() {
        assert!(
            terminal_python(&sample_rows()).is_empty(),
            "no --python, no table"
        );
        let text = terminal_python(&rows_with_python());
        assert!(text.contains("Python 3.11.7"), "{text}");
        assert!(text.contains("★2.000 s"), "{text}");
        assert!(text.contains("Rust 5.0x faster"), "{text}");
        assert!(text.contains("multiprocessing = processes"), "{text}");
        assert!(text.contains("20.0 MiB"), "{text}");
        let md = markdown(&rows_with_python());
        let python: Vec<&str> = md
            .lines()
            .skip_while(|l| !l.contains("Python 3.11.7"))
            .collect();
        assert_eq!(python.len(), 3, "{md}");
        assert_eq!(
            python[0].matches('|').count(),
            python[2].matches('|').count()
        );
        assert!(python[2].contains("**2.000 s**"), "{md}");
        assert!(
            python[2].contains("400.0 ms (rayon) | Rust 5.0x faster"),
            "{md}"
        );
        assert!(
            !markdown(&sample_rows()).contains("Python 3"),
            "without --python"
        );
        let mut even = rows_with_python();
        even[0].python.as_mut().unwrap().rust_speedup = Some(1.04);
        assert!(terminal_python(&even).contains("even (1.04x)"));
    }

    #[test]
    fn the_gil_claim_needs_flat_threads_and_a_pool_that_scales() {
        use crate::models::PyModel;
        use crate::table::python_columns;
        use crate::table::tests::py_cell;
        let rows = sample_rows();
        let py = |threads: f64, pool: f64, interpreter: &str| {
            python_columns(
                &rows[0],
                interpreter.into(),
                vec![
                    py_cell(PyModel::Threads, Some(threads)),
                    py_cell(PyModel::Processes, Some(pool)),
                    py_cell(PyModel::Asyncio, Some(2.0)),
                ],
            )
        };
        let gil = "Python 3.11.7";
        let (e, text) = gil_evidence("CPU-bound", &py(2.0, 1.0, gil), 2).unwrap();
        assert!(e.holds(), "{text}");
        assert!(
            text.contains("threads ran 1.0x one thread, Pool's processes 2.0x"),
            "{text}"
        );
        assert!(
            !gil_evidence("x", &py(2.0, 1.0, gil), 1).unwrap().0.holds(),
            "one core"
        );
        assert!(
            !gil_evidence("x", &py(2.0, 1.9, gil), 2).unwrap().0.holds(),
            "a busy pool"
        );
        assert!(
            !gil_evidence("x", &py(1.0, 1.0, gil), 2).unwrap().0.holds(),
            "threads scaled"
        );
        let free = "Python 3.13.1 free-threaded";
        let (e, text) = gil_evidence("x", &py(1.0, 1.0, free), 2).unwrap();
        assert!(e.holds() && text.contains("without the GIL"), "{text}");
        assert!(!gil_evidence("x", &py(2.0, 1.0, free), 2).unwrap().0.holds());
    }

    #[test]
    fn the_json_machine_keeps_its_fields_and_adds_the_load() {
        let json = serde_json::to_value(Machine::here(Sizes::Tiny)).unwrap();
        for field in [
            "cpu",
            "cores",
            "os",
            "arch",
            "profile",
            "sizes",
            "usable_cores",
        ] {
            assert!(!json[field].is_null(), "{field}: {json}");
        }
        assert_eq!(json["sizes"], "tiny");
        assert!(json["profile"] == "dev" || json["profile"] == "release");
        for field in ["load_1m", "online_cores", "others_busy"] {
            assert!(json.get(field).is_some(), "{field}: {json}");
        }
    }
}
