//! The table as data: a row's scenario, its measured cells, the winner and the verdict.

use std::collections::BTreeMap;

use common::python::{Judge, Unit, Verdict as PyVerdict};
use serde::{Serialize, Serializer};

use crate::jobs::Job;
use crate::models::{Model, PyModel, PythonFamily};

/// What a cell measures a job with: a Rust [`Model`] or, with `--python`, a Python one
/// ([`PyModel`]).
pub trait CellModel: Copy + Serialize {
    /// The Python family it is (or stands for).
    fn python_family(self) -> PythonFamily;
    /// Its name in the tables.
    fn name(self) -> &'static str;
}

impl CellModel for Model {
    fn python_family(self) -> PythonFamily {
        Model::python_family(self)
    }
    fn name(self) -> &'static str {
        Model::name(self)
    }
}

impl CellModel for PyModel {
    fn python_family(self) -> PythonFamily {
        PyModel::python_family(self)
    }
    fn name(self) -> &'static str {
        PyModel::name(self)
    }
}

/// One row of a table: a scenario, what the Python guide says, and the job that measures it.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub section: &'static str,
    pub name: &'static str,
    /// The job in words, with its sizes.
    pub workload: String,
    /// The guide's pick.
    pub python: PythonFamily,
    /// The guide's own example seconds for this row, per model, where it gives them.
    pub python_seconds: Vec<(PythonFamily, f64)>,
    /// How many times each cell runs; the best time is kept (CPU-bound rows are the ones
    /// that other load on the machine disturbs).
    pub runs: u32,
    pub job: Job,
}

/// One measured cell: a Rust model's (`Cell`) or a Python one's (`Cell<PyModel>`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Cell<M = Model> {
    pub model: M,
    /// The Python model it stands for.
    pub python_family: PythonFamily,
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
    /// A Python cell: the Python model that ran, in words (the script says).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub python_model: Option<String>,
    /// The slowest of its runs: with `seconds`, the run-to-run noise.
    #[serde(rename = "slowest_seconds")]
    pub worst_seconds: Option<f64>,
}

impl<M: CellModel> Cell<M> {
    /// The cell of `model` before it runs.
    pub fn new(model: M, workers: usize, not_applicable: Option<&'static str>) -> Cell<M> {
        Cell {
            model,
            python_family: model.python_family(),
            workers,
            seconds: None,
            peak_rss_bytes: None,
            runs: 0,
            fastest: false,
            not_applicable,
            python_model: None,
            worst_seconds: None,
        }
    }

    /// Add one run's figures.
    pub fn record(&mut self, seconds: f64, peak: Option<u64>) {
        self.seconds = Some(self.seconds.map_or(seconds, |best| best.min(seconds)));
        self.worst_seconds = Some(self.worst_seconds.map_or(seconds, |w| w.max(seconds)));
        self.peak_rss_bytes = self.peak_rss_bytes.max(peak);
        self.runs += 1;
    }

    /// Slowest run over fastest run (1.0 with one run).
    pub fn spread(&self) -> f64 {
        match (self.seconds, self.worst_seconds) {
            (Some(best), Some(worst)) => worst / best.max(f64::MIN_POSITIVE),
            _ => 1.0,
        }
    }
}

/// How Rust's winner compares with the guide's pick.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The winner is of the guide's family.
    Agrees,
    /// The guide's pick came within [`CLOSE`] of the winner: a tie.
    Close,
    Differs,
    /// This run cannot say: a CPU row on a busy machine, or the two cells further apart
    /// than [`CLOSE`] but within their own runs' spread (the row says why).
    NotDecided,
}

impl Verdict {
    /// The mark between the guide's pick and the winner: `=`, `≈`, `≠`, `?`.
    pub fn mark(self) -> &'static str {
        match self {
            Verdict::Agrees => "=",
            Verdict::Close => "≈",
            Verdict::Differs => "≠",
            Verdict::NotDecided => "?",
        }
    }

    /// After the winner's name in the Markdown tables.
    pub fn note(self) -> &'static str {
        match self {
            Verdict::Agrees => "",
            Verdict::Close => " (a tie)",
            Verdict::Differs => " (differs)",
            Verdict::NotDecided => " (not decided)",
        }
    }
}

/// One measured row.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub section: &'static str,
    pub scenario: &'static str,
    pub workload: String,
    pub python_recommends: PythonFamily,
    pub python_guide_seconds: BTreeMap<PythonFamily, f64>,
    #[serde(serialize_with = "winner_name")]
    pub rust_winner: Option<Model>,
    /// The winner's Python family is the guide's pick.
    pub agrees: bool,
    /// See [`Verdict`]; `why_not_decided` says why when it is `not-decided`.
    pub verdict: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why_not_decided: Option<String>,
    /// How many times faster the winner was than the best cell of the guide's pick.
    pub winner_vs_recommended: Option<f64>,
    pub cells: Vec<Cell>,
    /// The wider run-to-run spread of the winner's and the guide's pick's cells.
    #[serde(skip)]
    pub spread: f64,
    /// CPU work inside the process (computation, in-process SQLite): a busy machine holds
    /// its verdicts.
    #[serde(skip)]
    pub cpu: bool,
    /// A compute row (no SQLite): where Python's GIL shows.
    #[serde(skip)]
    pub compute: bool,
    /// An SQLite row: its database is a library in the process, not a server.
    #[serde(skip)]
    pub sqlite: bool,
    /// With `--python`: the same job measured in Python, and how it compares.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub python: Option<PythonColumns>,
}

/// A row's Python cells (`compare --python`): the same job at the same sizes, run by the
/// chosen interpreter under `threading`, `ThreadPoolExecutor`, `multiprocessing.Pool` and
/// `asyncio`, each in a fresh process.
#[derive(Clone, Debug, Serialize)]
pub struct PythonColumns {
    /// `Python 3.11.7`, `Python 3.13.1 free-threaded`.
    pub interpreter: String,
    /// The fastest Python cell's model, `none` when none ran.
    #[serde(serialize_with = "py_winner_name")]
    pub winner: Option<PyModel>,
    /// The Python winner's family is the guide's pick.
    pub agrees: bool,
    /// The guide's pick as measured in Python, as [`Row::verdict`].
    pub verdict: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why_not_decided: Option<String>,
    /// The best Python cell of the guide's pick over the Python winner's seconds.
    pub winner_vs_recommended: Option<f64>,
    /// Python's fastest seconds over Rust's fastest: how many times faster Rust's best was.
    pub rust_speedup: Option<f64>,
    /// Who is ahead, Rust's fastest cell or Python's, as the run's judge says it.
    #[serde(serialize_with = "as_text")]
    pub rust_vs_python: PyVerdict,
    pub cells: Vec<Cell<PyModel>>,
    #[serde(skip)]
    spread: f64,
    /// The wider spread of Rust's and Python's fastest cells.
    #[serde(skip)]
    best_spread: f64,
}

fn py_winner_name<S: Serializer>(winner: &Option<PyModel>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(winner.map_or("none", PyModel::name))
}

fn as_text<S: Serializer>(v: &PyVerdict, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

impl PythonColumns {
    /// The Python winner's name, `none` when no cell ran.
    pub fn winner_name(&self) -> &'static str {
        self.winner.map_or("none", PyModel::name)
    }
}

fn winner_name<S: Serializer>(winner: &Option<Model>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(winner.map_or("none", Model::name))
}

impl Row {
    /// The winner's name, `none` when no cell ran.
    pub fn winner_name(&self) -> &'static str {
        self.rust_winner.map_or("none", Model::name)
    }

    /// The row's name in the tables: an SQLite row says it runs in the process (beside
    /// the server's row, where PostgreSQL is installed).
    pub fn label(&self) -> String {
        match self.sqlite {
            true => format!("{} (SQLite, in process)", self.scenario),
            false => self.scenario.to_owned(),
        }
    }

    pub fn cell(&self, model: Model) -> Option<&Cell> {
        self.cells.iter().find(|c| c.model == model)
    }

    /// Rust's fastest seconds.
    pub fn best(&self) -> Option<f64> {
        self.cells
            .iter()
            .filter_map(|c| c.seconds)
            .min_by(f64::total_cmp)
    }

    /// Decide the verdicts (the guide's pick in Rust and in Python, Rust against Python)
    /// with this run's `judges`.
    pub fn judge(&mut self, judges: &Judges) {
        (self.verdict, self.why_not_decided) = decide(
            &judges.machine,
            self.agrees,
            self.winner_vs_recommended,
            self.cpu,
            self.spread,
        );
        let (cpu, rust) = (self.cpu, self.best());
        if let Some(py) = &mut self.python {
            py.judge(judges, cpu, rust);
        }
    }
}

impl PythonColumns {
    /// Decide the guide's pick in Python and Rust (fastest: `rust`) against Python.
    fn judge(&mut self, judges: &Judges, cpu: bool, rust: Option<f64>) {
        (self.verdict, self.why_not_decided) = match self.winner {
            // Every cell n/a (the server row's drivers not installed): nothing to judge.
            None => (Verdict::NotDecided, Some("no Python cell ran".to_owned())),
            Some(_) => decide(
                &judges.machine,
                self.agrees,
                self.winner_vs_recommended,
                cpu,
                self.spread,
            ),
        };
        let python = self
            .cells
            .iter()
            .filter_map(|c| c.seconds)
            .min_by(f64::total_cmp);
        self.rust_vs_python = match rust.zip(python) {
            Some((r, p)) => judges.rust_vs_python(r, p, cpu, self.best_spread),
            None => PyVerdict::NotCompared,
        };
    }
}

/// Within this factor of the winner, the guide's pick counts as a tie ("close") even when
/// the runs agreed closely.
pub const CLOSE: f64 = 1.10;

/// What decides the verdicts of a run: the machine while it was measured, and the build.
#[derive(Clone, Debug)]
pub struct Judges {
    /// Holds the verdicts of CPU rows when the machine was busy (or this process had fewer
    /// cores than the machine), and any within the cells' spread.
    pub machine: Judge,
    /// A dev build: every Rust cell runs unoptimised code (reqwest, SQLite and the models
    /// are at opt-level 0), so no row's Rust against Python is decided.
    pub dev: Option<Judge>,
}

impl Judges {
    /// Nothing held: the verdict follows the figures (before the run's judges are known).
    pub fn free() -> Judges {
        Judges {
            machine: Judge::free(),
            dev: None,
        }
    }

    /// This build, on a machine read as `reading`.
    pub fn of(reading: &common::claim::Machine) -> Judges {
        Judges {
            machine: Judge::from_machine(reading),
            dev: cfg!(debug_assertions).then(Judge::dev_build),
        }
    }

    fn rust_vs_python(&self, rust: f64, python: f64, cpu: bool, spread: f64) -> PyVerdict {
        match &self.dev {
            Some(dev) => dev.verdict(rust, python, Unit::Secs, true, spread),
            None => self.machine.verdict(rust, python, Unit::Secs, cpu, spread),
        }
    }
}

/// The verdict on the fastest cell against the best cell of the guide's pick (`ratio`
/// times slower), through `judge`: a CPU row it holds (a busy machine) is not decided, nor a
/// gap beyond [`CLOSE`] that stays within the cells' own `spread`.
fn decide(
    judge: &Judge,
    agrees: bool,
    ratio: Option<f64>,
    cpu: bool,
    spread: f64,
) -> (Verdict, Option<String>) {
    // Two equal figures are "even" unless the judge holds the row itself.
    if let Some(why) = judge.held(cpu, false) {
        return (Verdict::NotDecided, Some(why.to_owned()));
    }
    match ratio {
        _ if agrees => (Verdict::Agrees, None),
        Some(r) if r <= CLOSE => (Verdict::Close, None),
        Some(r) => match judge.verdict(1.0, r, Unit::Secs, cpu, spread) {
            PyVerdict::NotDecided(why) => (Verdict::NotDecided, Some(why)),
            _ => (Verdict::Differs, None),
        },
        None => (Verdict::Differs, None),
    }
}

/// Mark the fastest cell and compare it with the guide's pick, with nothing held yet
/// ([`Row::judge`] decides with the run's judges).
pub fn row_from_cells(scenario: &Scenario, mut cells: Vec<Cell>) -> Row {
    let judged = judge(&mut cells, scenario.python);
    let mut row = Row {
        section: scenario.section,
        scenario: scenario.name,
        workload: scenario.workload.clone(),
        python_recommends: scenario.python,
        python_guide_seconds: scenario.python_seconds.iter().copied().collect(),
        rust_winner: judged.winner,
        agrees: judged.agrees,
        verdict: Verdict::NotDecided,
        why_not_decided: None,
        winner_vs_recommended: judged.ratio,
        cells,
        spread: judged.spread,
        cpu: scenario.job.cpu_work(),
        compute: scenario.job.is_cpu(),
        sqlite: matches!(scenario.job, Job::Db { .. }),
        python: None,
    };
    row.judge(&Judges::free());
    row
}

/// The Python cells of a row, their fastest marked and compared with the guide's pick, and
/// with Rust's fastest (decided by [`Row::judge`]).
pub fn python_columns(
    row: &Row,
    interpreter: String,
    mut cells: Vec<Cell<PyModel>>,
) -> PythonColumns {
    let judged = judge(&mut cells, row.python_recommends);
    let fastest = |spreads: &mut dyn Iterator<Item = (Option<f64>, f64)>| {
        spreads
            .filter_map(|(s, spread)| s.map(|s| (s, spread)))
            .min_by(|a, b| a.0.total_cmp(&b.0))
    };
    let rust = fastest(&mut row.cells.iter().map(|c| (c.seconds, c.spread())));
    let python = fastest(&mut cells.iter().map(|c| (c.seconds, c.spread())));
    let mut columns = PythonColumns {
        interpreter,
        winner: judged.winner,
        agrees: judged.agrees,
        verdict: Verdict::NotDecided,
        why_not_decided: None,
        winner_vs_recommended: judged.ratio,
        rust_speedup: python
            .zip(rust)
            .map(|(p, r)| p.0 / r.0.max(f64::MIN_POSITIVE)),
        rust_vs_python: PyVerdict::NotCompared,
        cells,
        spread: judged.spread,
        best_spread: rust.map_or(1.0, |r| r.1).max(python.map_or(1.0, |p| p.1)),
    };
    columns.judge(&Judges::free(), row.cpu, rust.map(|r| r.0));
    columns
}

/// A set of cells judged: the winner, whether it is of the guide's family, the guide's
/// best cell over the winner, and the wider spread of those two cells' runs.
struct Judged<M> {
    winner: Option<M>,
    agrees: bool,
    ratio: Option<f64>,
    spread: f64,
}

/// Mark the fastest of `cells` and compare it with the best cell of the guide's `pick`.
fn judge<M: CellModel>(cells: &mut [Cell<M>], pick: PythonFamily) -> Judged<M> {
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
        .filter(|c| c.python_family == pick && c.seconds.is_some())
        .min_by(|a, b| {
            a.seconds
                .unwrap_or(0.0)
                .total_cmp(&b.seconds.unwrap_or(0.0))
        });
    let ratio = winner
        .and_then(|w| w.seconds)
        .zip(best_recommended.and_then(|c| c.seconds))
        .map(|(w, r)| r / w.max(f64::MIN_POSITIVE));
    Judged {
        winner: winner.map(|c| c.model),
        agrees: winner.is_some_and(|c| c.python_family == pick),
        ratio,
        spread: winner
            .into_iter()
            .chain(best_recommended)
            .map(Cell::spread)
            .fold(1.0, f64::max),
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub fn cell(model: Model, seconds: Option<f64>) -> Cell {
        let mut c = Cell::new(model, 1, None);
        if let Some(s) = seconds {
            c.record(s, Some(3 << 20));
        }
        c
    }

    pub fn scenario(python: PythonFamily) -> Scenario {
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
        let row = row_from_cells(&scenario(PythonFamily::Multiprocessing), cells);
        assert_eq!(row.rust_winner, Some(Model::Rayon));
        assert_eq!(
            row.cells.iter().filter(|c| c.fastest).count(),
            1,
            "one mark"
        );
        assert!(row.cells[2].fastest);
        assert!(!row.agrees);
        assert_eq!(row.verdict, Verdict::Differs);
        assert_eq!(row.winner_vs_recommended, Some(2.0));
    }

    #[test]
    fn a_winner_in_the_recommended_family_agrees() {
        let cells = vec![
            cell(Model::ThreadPool, Some(0.2)),
            cell(Model::Tokio, Some(0.3)),
        ];
        let row = row_from_cells(&scenario(PythonFamily::Threading), cells);
        assert_eq!(row.rust_winner, Some(Model::ThreadPool));
        assert!(row.agrees);
        assert_eq!(row.verdict, Verdict::Agrees);
        assert_eq!(row.winner_vs_recommended, Some(1.0));
    }

    #[test]
    fn within_ten_percent_of_the_winner_the_guide_is_close() {
        let cells = vec![
            cell(Model::Threads, Some(1.05)),
            cell(Model::Tokio, Some(1.0)),
        ];
        let row = row_from_cells(&scenario(PythonFamily::Threading), cells);
        assert_eq!(row.rust_winner, Some(Model::Tokio));
        assert!(!row.agrees);
        assert_eq!(row.verdict, Verdict::Close);
    }

    #[test]
    fn a_lead_within_the_run_to_run_noise_is_not_decided() {
        // 1.3x apart, but the winner's own two runs were 1.5x apart.
        let mut winner = cell(Model::Rayon, Some(1.0));
        winner.record(1.5, None);
        let cells = vec![cell(Model::Processes, Some(1.3)), winner];
        let row = row_from_cells(&scenario(PythonFamily::Multiprocessing), cells);
        assert_eq!(row.rust_winner, Some(Model::Rayon));
        assert_eq!(row.verdict, Verdict::NotDecided);
        assert_eq!(
            row.why_not_decided.as_deref(),
            Some("1.30x apart, within the repeats' spread of 1.50x")
        );
        // The same lead with steady runs differs.
        let cells = vec![
            cell(Model::Processes, Some(1.3)),
            cell(Model::Rayon, Some(1.0)),
        ];
        let row = row_from_cells(&scenario(PythonFamily::Multiprocessing), cells);
        assert_eq!(row.verdict, Verdict::Differs);
    }

    fn busy() -> Judges {
        Judges::of(&common::claim::Machine {
            load_1m: Some(4.6),
            usable_cores: 2,
            online_cores: Some(2),
            others_busy: Some(1.8),
        })
    }

    #[test]
    fn a_busy_machine_holds_every_verdict_of_a_cpu_row_and_none_of_a_waiting_one() {
        let cells = || {
            vec![
                cell(Model::Processes, Some(2.0)),
                cell(Model::Threads, Some(1.0)),
            ]
        };
        let mut cpu = row_from_cells(&scenario(PythonFamily::Multiprocessing), cells());
        assert!(cpu.cpu);
        cpu.python = Some(python_columns(
            &cpu,
            "Python 3.11.7".into(),
            vec![
                py_cell(PyModel::Threads, Some(1.0)),
                py_cell(PyModel::Processes, Some(1.4)),
            ],
        ));
        cpu.judge(&busy());
        assert_eq!(cpu.verdict, Verdict::NotDecided);
        let why = cpu.why_not_decided.clone().unwrap();
        assert!(
            why.starts_with("a busy machine: other processes using 1.8"),
            "{why}"
        );
        let py = cpu.python.as_ref().unwrap();
        assert_eq!(
            py.verdict,
            Verdict::NotDecided,
            "Python's threads ahead of Pool: held"
        );
        assert!(
            py.rust_vs_python
                .to_string()
                .starts_with("not decided in this run:"),
            "{}",
            py.rust_vs_python
        );
        let mut s = scenario(PythonFamily::Multiprocessing);
        s.job = Job::Serve {
            clients: 1,
            messages: 1,
            think_ms: 0,
        };
        let mut waiting = row_from_cells(&s, cells());
        waiting.judge(&busy());
        assert_eq!(waiting.verdict, Verdict::Differs);
    }

    pub fn py_cell(model: PyModel, seconds: Option<f64>) -> Cell<PyModel> {
        let mut c = Cell::new(model, 2, None);
        if let Some(s) = seconds {
            c.record(s, Some(20 << 20));
        }
        c
    }

    #[test]
    fn python_cells_are_judged_as_rust_ones_and_against_rust_s_best() {
        let rust = vec![
            cell(Model::Processes, Some(0.08)),
            cell(Model::Rayon, Some(0.04)),
        ];
        let row = row_from_cells(&scenario(PythonFamily::Multiprocessing), rust);
        let py = python_columns(
            &row,
            "Python 3.11.7".into(),
            vec![
                py_cell(PyModel::Threads, Some(2.0)),
                py_cell(PyModel::Processes, Some(1.0)),
                py_cell(PyModel::Asyncio, None),
            ],
        );
        assert_eq!(py.winner, Some(PyModel::Processes));
        assert!(py.agrees, "Pool is the guide's multiprocessing");
        assert_eq!(py.verdict, Verdict::Agrees);
        assert_eq!(
            py.rust_speedup,
            Some(25.0),
            "1.0 s in Python, 0.04 s in Rust"
        );
        assert!(py.cells[1].fastest && !py.cells[0].fastest);
        // The Rust side is untouched.
        assert_eq!(row.rust_winner, Some(Model::Rayon));
        let json = serde_json::to_value(&py).unwrap();
        assert_eq!(json["winner"], "processes");
        assert_eq!(json["verdict"], "agrees");
        assert_eq!(json["cells"][1]["model"], "processes");
        assert_eq!(json["cells"][1]["python_family"], "multiprocessing");
        assert_eq!(json["cells"][0]["python_family"], "threading");
        // Threads winning a multiprocessing row in Python differs.
        let py = python_columns(
            &row,
            "Python 3.11.7".into(),
            vec![
                py_cell(PyModel::Threads, Some(0.5)),
                py_cell(PyModel::Processes, Some(1.0)),
            ],
        );
        assert_eq!(py.verdict, Verdict::Differs);
        assert_eq!(py.winner_vs_recommended, Some(2.0));
    }

    #[test]
    fn without_python_a_row_has_no_python_field() {
        let row = row_from_cells(
            &scenario(PythonFamily::Threading),
            vec![cell(Model::Threads, Some(1.0))],
        );
        let json = serde_json::to_value(&row).unwrap();
        assert!(json.get("python").is_none(), "{json}");
    }

    #[test]
    fn the_json_names_stay_the_strings_they_were() {
        let cells = vec![
            cell(Model::ThreadPool, Some(0.2)),
            cell(Model::Hybrid, None),
        ];
        let mut s = scenario(PythonFamily::Multiprocessing);
        s.python_seconds = vec![
            (PythonFamily::Threading, 4.5),
            (PythonFamily::Multiprocessing, 1.3),
            (PythonFamily::Asyncio, 5.0),
        ];
        let json = serde_json::to_string(&row_from_cells(&s, cells)).unwrap();
        for part in [
            r#""python_recommends":"multiprocessing""#,
            r#""python_guide_seconds":{"asyncio":5.0,"multiprocessing":1.3,"threading":4.5}"#,
            r#""rust_winner":"thread-pool""#,
            r#""verdict":"differs""#,
            r#""model":"thread-pool","python_family":"threading""#,
        ] {
            assert!(json.contains(part), "{part} in {json}");
        }
        assert!(!json.contains("worst"), "{json}");
        let empty = row_from_cells(&s, vec![cell(Model::Hybrid, None)]);
        assert!(
            serde_json::to_string(&empty)
                .unwrap()
                .contains(r#""rust_winner":"none""#)
        );
    }
}
