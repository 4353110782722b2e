//! The measured rows as a terminal table, a Markdown table, or JSON (fields in the README).
//! With `--python` each table has a second one beside it: the Python cells of the same rows,
//! Rust's fastest against Python's fastest, and the guide's pick as measured in Python.

use std::fmt::Write as _;
use std::time::Duration;

use common::timing::{Bytes, Secs};
use serde::Serialize;

use common::python::Verdict as PyVerdict;

use crate::jobs::{Sizes, cores};
use crate::models::{PyModel, PythonFamily};
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

/// Seconds as the tables print them; `n/a` for a cell that never finished.
pub fn secs(s: f64) -> String {
    match s.is_finite() {
        true => Secs(Duration::from_secs_f64(s.max(0.0))).to_string(),
        false => "n/a".into(),
    }
}

pub fn mem(b: Option<u64>) -> String {
    b.map_or("n/a".into(), |b| Bytes(b).to_string())
}

/// The width to print for: `COLUMNS` when set, else the terminal's when standard output is
/// one, else 80.
pub fn width() -> usize {
    let columns = std::env::var("COLUMNS").ok();
    if let Some(n) = columns
        .and_then(|c| c.trim().parse().ok())
        .filter(|&n| n > 0)
    {
        return n;
    }
    let term = console::Term::stdout();
    match term.is_term().then(|| term.size_checked()).flatten() {
        Some((_, cols)) if cols > 0 => usize::from(cols),
        _ => 80,
    }
}

/// `text` wrapped at word boundaries to `width`, its first line after `first`, the rest
/// after `rest` (a hanging indent); a `\n` in `text` always starts a new line.
pub fn wrap(text: &str, width: usize, first: &str, rest: &str) -> String {
    let mut out = String::new();
    let mut line = first.to_owned();
    let mut empty = true;
    // A new line in `text` starts a line after `rest`.
    let words = text.split('\n').enumerate().flat_map(|(k, part)| {
        let start = (k > 0).then_some("\n");
        start.into_iter().chain(part.split_whitespace())
    });
    for word in words {
        if word == "\n" {
            out.push_str(line.trim_end());
            out.push('\n');
            (line, empty) = (rest.to_owned(), true);
            continue;
        }
        if !empty && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(line.trim_end());
            out.push('\n');
            line = rest.to_owned();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

/// The name column: at least this wide, wider for a longer row name.
const W_NAME: usize = 27;
const W_CELL: usize = 12;

/// A cell's seconds, ★ when fastest, `n/a` when it did not run.
fn cell_secs<M: CellModel>(c: &Cell<M>) -> String {
    match c.seconds {
        Some(s) if c.fastest => format!("★{}", secs(s)),
        Some(s) => secs(s),
        None => "n/a".into(),
    }
}

fn cell_mem<M: CellModel>(c: &Cell<M>) -> String {
    match c.seconds {
        Some(_) => mem(c.peak_rss_bytes),
        None => "n/a".into(),
    }
}

/// The wide layout's header (`first` in the name column, a column per model, `last`), and
/// each row's two lines: seconds then `last` (`end`), peak memory.
fn header<M: CellModel>(out: &mut String, first: &str, cells: &[Cell<M>], last: &str, w: usize) {
    let _ = write!(out, "  {first:w$}");
    for c in cells {
        let _ = write!(out, "{:>W_CELL$}", c.model.name());
    }
    let _ = writeln!(out, "{last}");
}

fn wide_row<M: CellModel>(
    out: &mut String,
    (scenario, w): (&str, usize),
    cells: &[Cell<M>],
    end: &str,
) {
    let _ = write!(out, "  {scenario:w$}");
    for c in cells {
        let _ = write!(out, "{:>W_CELL$}", cell_secs(c));
    }
    let _ = writeln!(out, "{end}");
    let _ = write!(out, "  {:w$}", "  peak memory");
    for c in cells {
        let _ = write!(out, "{:>W_CELL$}", cell_mem(c));
    }
    let _ = writeln!(out);
}

/// The narrow layout's cells: two to a line, each its model, seconds and peak memory.
fn narrow_cells<M: CellModel>(out: &mut String, cells: &[Cell<M>]) {
    for pair in cells.chunks(2) {
        let mut line = "   ".to_owned();
        for c in pair {
            let name = c.model.name();
            let _ = write!(
                line,
                " {name:<12}{:>10}{:>10}   ",
                cell_secs(c),
                cell_mem(c)
            );
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

/// The name column's width for `rows`: their labels and two spaces, at least [`W_NAME`].
fn name_width(rows: &[Row]) -> usize {
    let longest = rows.iter().map(|r| r.label().chars().count() + 2).max();
    longest.unwrap_or(0).max(W_NAME)
}

/// The widest line of `text`, in characters.
fn widest(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

/// The terminal table: wide where it fits in `width` (about 140 columns: a column per
/// model and two lines per row, seconds then peak memory), else narrow (a block per row,
/// two cells to a line). The fastest cell is marked ★; the guide's pick stands against
/// Rust's winner (`=` agrees, `≈` a tie, `≠` differs, `?` not decided in this run).
pub fn terminal(rows: &[Row], width: usize) -> String {
    let wide = rust_table(rows, None);
    if widest(&wide) <= width {
        wide
    } else {
        rust_table(rows, Some(width))
    }
}

/// The Rust table, wide, or narrow for `narrow` columns.
fn rust_table(rows: &[Row], narrow: Option<usize>) -> String {
    let mut out = String::new();
    let Some(first) = rows.first() else {
        return out;
    };
    let w = name_width(rows);
    if let Some(width) = narrow {
        let legend = "each row: the guide's pick against Rust's fastest model; each cell: seconds (★ the fastest), peak memory";
        out.push_str(&wrap(legend, width, "  ", "  "));
    } else {
        header(
            &mut out,
            "",
            &first.cells,
            "   guide says -> Rust winner",
            w,
        );
    }
    for row in rows {
        let verdict = format!(
            "{} {} {}",
            row.python_recommends,
            row.verdict.mark(),
            row.winner_name()
        );
        if narrow.is_some() {
            let _ = writeln!(out, "  {:w$}{verdict}", row.label());
            narrow_cells(&mut out, &row.cells);
        } else {
            let end = format!("   {verdict}");
            wide_row(&mut out, (&row.label(), w), &row.cells, &end);
        }
    }
    out
}

/// Workloads, one line each, under the table.
pub fn workloads(rows: &[Row], width: usize) -> String {
    let w = name_width(rows);
    rows.iter()
        .map(|r| {
            let first = format!("  {:w$}", r.label());
            wrap(&r.workload, width, &first, &" ".repeat(w + 2))
        })
        .collect()
}

/// A line per row with cells that did not run, naming them and why (`lang`: `""` or
/// `" in Python"`).
pub fn not_applicable<M: CellModel>(rows: &[(&Row, &[Cell<M>])], lang: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for (row, cells) in rows {
        let mut seen: Vec<(&str, Vec<&str>)> = Vec::new();
        for c in cells.iter() {
            let Some(why) = c.not_applicable else {
                continue;
            };
            match seen.iter_mut().find(|(w, _)| *w == why) {
                Some((_, models)) => models.push(c.model.name()),
                None => seen.push((why, vec![c.model.name()])),
            }
        }
        for (why, models) in seen {
            let models = models.join(", ");
            lines.push(format!("n/a{lang}: {models} on {}: {why}", row.scenario));
        }
    }
    lines
}

/// A Markdown table: a header of `first` and the models' names then `last`, and a line per
/// row.
fn markdown_table<M: CellModel>(
    first: &str,
    cells: &[Cell<M>],
    last: &[&str],
    rows: impl Iterator<Item = (String, Vec<Cell<M>>, Vec<String>)>,
) -> String {
    let mut out = format!("| {first} |");
    for c in cells {
        let _ = write!(out, " {} |", c.model.name());
    }
    let _ = writeln!(out, " {} |", last.join(" | "));
    out.push_str(&format!(
        "|---|{}{}|\n",
        "---:|".repeat(cells.len()),
        vec!["---"; last.len()].join("|")
    ));
    for (scenario, cells, end) in rows {
        let _ = write!(out, "| {scenario} |");
        for c in &cells {
            let text = match c.seconds {
                Some(s) if c.fastest => format!("**{}**<br>{}", secs(s), mem(c.peak_rss_bytes)),
                Some(s) => format!("{}<br>{}", secs(s), mem(c.peak_rss_bytes)),
                None => "n/a".into(),
            };
            let _ = write!(out, " {text} |");
        }
        let _ = writeln!(out, " {} |", end.join(" | "));
    }
    out
}

/// The Markdown table (the README's), and with `--python` the Python one.
pub fn markdown(rows: &[Row]) -> String {
    let Some(first) = rows.first() else {
        return String::new();
    };
    let mut out = markdown_table(
        "scenario",
        &first.cells,
        &["Python guide", "Rust winner"],
        rows.iter().map(|row| {
            let end = vec![
                row.python_recommends.to_string(),
                format!("{}{}", row.winner_name(), row.verdict.note()),
            ];
            (row.label(), row.cells.clone(), end)
        }),
    );
    if let Some((_, py)) = with_python(rows).next() {
        out.push('\n');
        out.push_str(&markdown_table(
            &py.interpreter,
            &py.cells,
            &[
                "Rust's best",
                "Rust vs Python",
                "Python guide",
                "Python winner",
            ],
            with_python(rows).map(|(row, py)| {
                let end = vec![
                    rust_best(row),
                    py.rust_vs_python.to_string(),
                    row.python_recommends.to_string(),
                    format!("{}{}", py.winner_name(), py.verdict.note()),
                ];
                (row.label(), py.cells.clone(), end)
            }),
        ));
    }
    out
}

/// `30.8 ms (hybrid)`: Rust's fastest cell.
fn rust_best(row: &Row) -> String {
    row.best().map_or("n/a".into(), |s| {
        format!("{} ({})", secs(s), row.winner_name())
    })
}

/// The Rust-against-Python verdict in a table column: its words, or `not decided` (the
/// lines under the table say why).
pub fn short(verdict: &PyVerdict) -> String {
    match verdict {
        PyVerdict::NotDecided(_) => "not decided".into(),
        PyVerdict::NotCompared => "n/a".into(),
        v => v.to_string(),
    }
}

/// The rows that have Python cells, with them.
fn with_python(rows: &[Row]) -> impl Iterator<Item = (&Row, &PythonColumns)> {
    rows.iter()
        .filter_map(|r| r.python.as_ref().map(|py| (r, py)))
}

/// `--python`, in the terminal: the Python cells of each row (seconds, peak memory), Rust's
/// fastest against Python's, and the guide's pick against Python's winner; wide where it
/// fits in `width`, as the Rust table.
pub fn terminal_python(rows: &[Row], width: usize) -> String {
    let wide = python_table(rows, None);
    if widest(&wide) <= width {
        wide
    } else {
        python_table(rows, Some(width))
    }
}

fn python_table(rows: &[Row], narrow: Option<usize>) -> String {
    let mut out = String::new();
    let Some((_, first)) = with_python(rows).next() else {
        return out;
    };
    let w = name_width(rows);
    if let Some(width) = narrow {
        let legend = "each row: the guide's pick against Python's fastest model, and Rust's fastest cell against Python's";
        out.push_str(&wrap(legend, width, "  ", "  "));
    } else {
        let last = format!(
            "{:>W_CELL$}   {:20} guide says -> Python winner",
            "Rust's best", "Rust vs Python"
        );
        header(&mut out, &first.interpreter, &first.cells, &last, w);
    }
    for (row, py) in with_python(rows) {
        let pick = format!(
            "{} {} {}",
            row.python_recommends,
            py.verdict.mark(),
            py.winner_name()
        );
        if narrow.is_some() {
            let _ = writeln!(out, "  {:w$}{pick}", row.label());
            let _ = writeln!(
                out,
                "    Rust's best {} against Python's fastest: {}",
                rust_best(row),
                short(&py.rust_vs_python)
            );
            narrow_cells(&mut out, &py.cells);
        } else {
            let best = row.best().map_or("n/a".into(), secs);
            let end = format!("{best:>W_CELL$}   {:20} {pick}", short(&py.rust_vs_python));
            wide_row(&mut out, (&row.label(), w), &py.cells, &end);
        }
    }
    out
}

/// The line under a table for a row whose fastest cell is not of the guide's pick (`lang`:
/// `""` or `" in Python"`): `≈` a tie, `≠` and by how much, `?` not decided and why.
pub fn pick_line(
    scenario: &str,
    lang: &str,
    pick: PythonFamily,
    winner: &str,
    (verdict, ratio, why): (Verdict, Option<f64>, Option<&str>),
) -> Option<String> {
    let by = ratio.map_or(format!(" (no {pick} cell ran)"), |x| {
        format!(", {x:.1}x the best {pick} cell")
    });
    Some(match verdict {
        Verdict::Agrees => return None,
        Verdict::Close => format!(
            "≈ {scenario}{lang}: {winner} was fastest, the guide's {pick} within {:.0} % (a tie: within {:.0} %)",
            (ratio.unwrap_or(1.0) - 1.0) * 100.0,
            (CLOSE - 1.0) * 100.0
        ),
        Verdict::Differs => {
            format!("≠ {scenario}{lang}: the guide says {pick}, the fastest is {winner}{by}")
        }
        Verdict::NotDecided => format!(
            "? {scenario}{lang}: the guide says {pick}, {winner} was fastest;\nnot decided in this run: {}",
            why.unwrap_or("no reason given")
        ),
    })
}

/// `--python`, in the terminal: the Python table, the models each column ran, a line where
/// the guide's pick lost (or was not decided) in Python, why a Rust-against-Python verdict
/// was not decided, the GIL's line on compute rows, and the takeaway.
pub fn print_python(rows: &[Row], width: usize) {
    let all: Vec<(&Row, &PythonColumns)> = with_python(rows).collect();
    let Some((_, first)) = all.first() else {
        return;
    };
    // The verdicts and the takeaway: the rows where a Python cell ran.
    let measured: Vec<(&Row, &PythonColumns)> = all
        .iter()
        .copied()
        .filter(|(_, py)| py.winner.is_some())
        .collect();
    println!();
    println!(
        "  The same rows in {} (scripts of compare/python/, each cell a fresh interpreter):",
        first.interpreter
    );
    print!("{}", terminal_python(rows, width));
    print!("{}", python_models(&measured, width));
    let cells: Vec<(&Row, &[Cell<PyModel>])> = all
        .iter()
        .map(|(r, py)| (*r, py.cells.as_slice()))
        .collect();
    for line in not_applicable(&cells, " in Python") {
        print!("{}", wrap(&line, width, "  ", "    "));
    }
    for (row, py) in &measured {
        let verdict = (
            py.verdict,
            py.winner_vs_recommended,
            py.why_not_decided.as_deref(),
        );
        let line = pick_line(
            row.scenario,
            " in Python",
            row.python_recommends,
            py.winner_name(),
            verdict,
        );
        if let Some(line) = line.filter(|_| py.verdict != Verdict::Close) {
            print!("{}", wrap(&line, width, "  ", "    "));
        }
    }
    let mut held: Vec<(&str, Vec<&str>)> = Vec::new();
    for (row, py) in &measured {
        if let PyVerdict::NotDecided(why) = &py.rust_vs_python {
            match held.iter_mut().find(|(w, _)| w == why) {
                Some((_, rows)) => rows.push(row.scenario),
                None => held.push((why, vec![row.scenario])),
            }
        }
    }
    for (why, rows) in held {
        let line = format!(
            "Rust vs Python on {}:\nnot decided in this run: {why}",
            rows.join(", ")
        );
        print!("{}", wrap(&line, width, "  ", "    "));
    }
    for (row, py) in &measured {
        if row.compute {
            gil_claim(row.scenario, py);
        }
    }
    common::print::takeaway(python_takeaway(&measured));
}

/// What each Python column ran, in the scripts' words, with the rows it ran on.
fn python_models(measured: &[(&Row, &PythonColumns)], width: usize) -> String {
    let mut out = "  What each Python column ran, and on which rows:\n".to_owned();
    for model in PyModel::ALL {
        let mut seen: Vec<(&str, Vec<&str>)> = Vec::new();
        for (row, py) in measured {
            let ran = py
                .cells
                .iter()
                .find(|c| c.model == model && c.seconds.is_some());
            let Some(cell) = ran else {
                continue;
            };
            let text = cell.python_model.as_deref().unwrap_or("(not named)");
            match seen.iter_mut().find(|(t, _)| *t == text) {
                Some((_, rows)) => rows.push(row.scenario),
                None => seen.push((text, vec![row.scenario])),
            }
        }
        for (k, (text, rows)) in seen.iter().enumerate() {
            let name = if k == 0 { model.name() } else { "" };
            let line = format!("{text} ({})", rows.join(", "));
            out.push_str(&wrap(
                &line,
                width,
                &format!("    {name:<12} "),
                &" ".repeat(19),
            ));
        }
    }
    out
}

/// The takeaway of `--python`: on how many rows each side was ahead (by the run's judge),
/// and how often the guide's pick held in Python.
fn python_takeaway(measured: &[(&Row, &PythonColumns)]) -> String {
    let mut rust = Vec::new();
    let (mut python, mut even, mut open) = (0, 0, 0);
    for (_, py) in measured {
        match (&py.rust_vs_python, py.rust_speedup) {
            (PyVerdict::Ahead(_), Some(x)) if x > 1.0 => rust.push(x),
            (PyVerdict::Ahead(_), _) => python += 1,
            (PyVerdict::Even(_), _) => even += 1,
            _ => open += 1,
        }
    }
    let range = match rust
        .iter()
        .copied()
        .reduce(f64::min)
        .zip(rust.iter().copied().reduce(f64::max))
    {
        Some((lo, hi)) => format!(" ({lo:.1}x to {hi:.1}x)"),
        None => String::new(),
    };
    let held = measured
        .iter()
        .filter(|(_, py)| matches!(py.verdict, Verdict::Agrees | Verdict::Close))
        .count();
    let pick_open = measured
        .iter()
        .filter(|(_, py)| py.verdict == Verdict::NotDecided)
        .count();
    let and = |n: usize, what: &str| {
        if n > 0 {
            format!(", {what} on {n}")
        } else {
            String::new()
        }
    };
    format!(
        "Rust's fastest cell was ahead of Python's on {} of {} rows{range}{}{}{}; the guide's pick held (or tied) in Python on {held} of {}{}",
        rust.len(),
        measured.len(),
        and(even, "even"),
        and(python, "Python ahead"),
        and(open, "not decided"),
        measured.len(),
        and(pick_open, "not decided"),
    )
}

/// A compute row in Python: threads run no faster than asyncio's one thread (the event
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

pub fn json(report: &Report) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(report)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::Model;
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

    /// Every line fits `width`.
    fn fits(text: &str, width: usize) {
        assert!(
            widest(text) <= width,
            "{} columns, for {width}: {text}",
            widest(text)
        );
    }

    #[test]
    fn the_terminal_table_marks_the_winner_and_the_disagreement_wide_or_narrow() {
        for width in [80, 160] {
            let text = terminal(&sample_rows(), width);
            assert!(text.contains("★400.0 ms"), "{text}");
            assert!(text.contains("multiprocessing ≠ rayon"), "{text}");
            assert!(text.contains("3.0 MiB"), "{text}");
            assert!(text.contains("n/a"), "no silent gap: {text}");
            fits(&text, width);
        }
        assert!(terminal(&sample_rows(), 160).contains("peak memory"));
    }

    #[test]
    fn the_markdown_table_has_a_column_per_model() {
        let text = markdown(&sample_rows());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].matches('|').count(), lines[2].matches('|').count());
        assert_eq!(lines[0].matches('|').count(), lines[1].matches('|').count());
        assert!(lines[2].contains("**400.0 ms**"), "{text}");
        assert!(lines[2].contains("rayon (differs)"), "{text}");
    }

    fn rows_with_python(python_best: f64) -> Vec<Row> {
        use crate::table::python_columns;
        use crate::table::tests::py_cell;
        let mut rows = sample_rows();
        let py = python_columns(
            &rows[0],
            "Python 3.11.7".into(),
            vec![
                py_cell(PyModel::Threads, Some(4.0)),
                py_cell(PyModel::ThreadPool, Some(4.1)),
                py_cell(PyModel::Processes, Some(python_best)),
                py_cell(PyModel::Asyncio, Some(4.2)),
            ],
        );
        rows[0].python = Some(py);
        rows
    }

    #[test]
    fn the_python_table_sets_python_beside_rust_s_best() {
        assert!(
            terminal_python(&sample_rows(), 160).is_empty(),
            "no --python, no table"
        );
        for width in [80, 160] {
            let text = terminal_python(&rows_with_python(2.0), width);
            assert!(text.contains("★2.000 s"), "{text}");
            assert!(text.contains("Rust 5.00x faster"), "{text}");
            assert!(text.contains("multiprocessing = processes"), "{text}");
            assert!(text.contains("20.0 MiB"), "{text}");
            fits(&text, width);
        }
        let md = markdown(&rows_with_python(2.0));
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
            python[2].contains("400.0 ms (rayon) | Rust 5.00x faster"),
            "{md}"
        );
        assert!(
            !markdown(&sample_rows()).contains("Python 3"),
            "without --python"
        );
        let even = rows_with_python(0.41);
        assert!(terminal_python(&even, 160).contains("even (1.02x)"));
    }

    #[test]
    fn a_held_verdict_says_not_decided_and_why() {
        let mut rows = rows_with_python(0.3);
        let busy = common::claim::Machine {
            load_1m: Some(4.6),
            usable_cores: 2,
            online_cores: Some(2),
            others_busy: Some(1.8),
        };
        rows[0].judge(&crate::table::Judges::of(&busy));
        let py = rows[0].python.as_ref().unwrap();
        assert!(terminal_python(&rows, 160).contains("not decided"));
        assert!(!terminal_python(&rows, 80).contains("Python 1.33x faster"));
        let verdict = (
            rows[0].verdict,
            rows[0].winner_vs_recommended,
            rows[0].why_not_decided.as_deref(),
        );
        let line = pick_line(
            "CPU-bound",
            "",
            PythonFamily::Multiprocessing,
            "rayon",
            verdict,
        )
        .unwrap();
        assert!(line.starts_with("? CPU-bound: the guide says multiprocessing, rayon was fastest;\nnot decided in this run: a busy machine"), "{line}");
        assert!(markdown(&rows).contains("(not decided)"));
        let takeaway = python_takeaway(&[(&rows[0], py)]);
        assert!(
            takeaway.starts_with(
                "Rust's fastest cell was ahead of Python's on 0 of 1 rows, not decided on 1;"
            ),
            "{takeaway}"
        );
    }

    #[test]
    fn a_tie_is_within_ten_percent_and_the_takeaway_counts_each_side() {
        let tie = (Verdict::Close, Some(1.04), None);
        let line = pick_line("R", " in Python", PythonFamily::Asyncio, "threads", tie).unwrap();
        assert_eq!(
            line,
            "≈ R in Python: threads was fastest, the guide's asyncio within 4 % (a tie: within 10 %)"
        );
        let ahead = rows_with_python(2.0);
        let python = rows_with_python(0.2);
        let pairs = [
            (&ahead[0], ahead[0].python.as_ref().unwrap()),
            (&python[0], python[0].python.as_ref().unwrap()),
        ];
        assert_eq!(
            python_takeaway(&pairs),
            "Rust's fastest cell was ahead of Python's on 1 of 2 rows (5.0x to 5.0x), Python ahead on 1; the guide's pick held (or tied) in Python on 2 of 2"
        );
    }

    #[test]
    fn every_python_column_names_what_it_ran_on_which_rows() {
        let mut rows = rows_with_python(2.0);
        for c in &mut rows[0].python.as_mut().unwrap().cells {
            c.python_model = Some(format!("{} model", c.model.name()));
        }
        let measured: Vec<_> = with_python(&rows).collect();
        let text = python_models(&measured, 80);
        for model in PyModel::ALL {
            assert!(
                text.contains(&format!("{} model (CPU-bound)", model.name())),
                "{text}"
            );
        }
        fits(&text, 80);
    }

    #[test]
    fn wrap_breaks_at_words_with_a_hanging_indent() {
        assert_eq!(wrap("aa bb cc", 7, "- ", "  "), "- aa bb\n  cc\n");
        assert_eq!(wrap("a", 80, "  ", "  "), "  a\n");
        assert_eq!(wrap("a b\nc", 80, "- ", "  "), "- a b\n  c\n");
    }

    #[test]
    fn the_gil_claim_needs_flat_threads_and_a_pool_that_scales() {
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
