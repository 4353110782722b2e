//! The table as data: a row's scenario, its measured cells, the winner and the verdict.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use crate::jobs::Job;
use crate::models::{Model, PyModel, PythonFamily};

/// What a cell measures a job with: a Rust [`Model`] or, with `--python`, a Python one
/// ([`PyModel`]).
pub trait CellModel: Copy + Serialize {
    /// The Python family it is (or stands for).
    fn python_family(self) -> PythonFamily;
}

impl CellModel for Model {
    fn python_family(self) -> PythonFamily {
        Model::python_family(self)
    }
}

impl CellModel for PyModel {
    fn python_family(self) -> PythonFamily {
        PyModel::python_family(self)
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
    /// The slowest of its runs: with `seconds`, the run-to-run noise.
    #[serde(skip)]
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
    /// The guide's pick came within the noise of the winner: a tie.
    Close,
    Differs,
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
    /// `agrees`; `close` when the guide's pick was within the run-to-run noise of the winner
    /// (at least 10 %: a tie at this precision); else `differs`.
    pub verdict: Verdict,
    /// How many times faster the winner was than the best cell of the guide's pick.
    pub winner_vs_recommended: Option<f64>,
    pub cells: Vec<Cell>,
    /// Up to this factor between the winner and the guide's pick is a tie: [`CLOSE`], or
    /// more when the two cells' own runs varied more.
    #[serde(skip)]
    pub tie_margin: f64,
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
    /// The guide's pick as measured in Python: `agrees`, `close` (within the noise of the
    /// Python winner) or `differs`.
    pub verdict: Verdict,
    /// The best Python cell of the guide's pick over the Python winner's seconds.
    pub winner_vs_recommended: Option<f64>,
    /// Python's fastest seconds over Rust's fastest: how many times faster Rust's best was.
    pub rust_speedup: Option<f64>,
    pub cells: Vec<Cell<PyModel>>,
    /// A CPU-bound row (where the GIL shows).
    #[serde(skip)]
    pub cpu_bound: bool,
}

fn py_winner_name<S: Serializer>(winner: &Option<PyModel>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(winner.map_or("none", PyModel::name))
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

    pub fn cell(&self, model: Model) -> Option<&Cell> {
        self.cells.iter().find(|c| c.model == model)
    }
}

/// Within this factor of the winner, the guide's pick counts as a tie ("close") even when
/// the runs agreed closely.
pub const CLOSE: f64 = 1.10;

/// Mark the fastest cell and compare it with the guide's pick. The tie margin is the larger
/// of [`CLOSE`] and the run-to-run spread of the two cells compared.
pub fn row_from_cells(scenario: &Scenario, mut cells: Vec<Cell>) -> Row {
    let judged = judge(&mut cells, scenario.python);
    Row {
        section: scenario.section,
        scenario: scenario.name,
        workload: scenario.workload.clone(),
        python_recommends: scenario.python,
        python_guide_seconds: scenario.python_seconds.iter().copied().collect(),
        rust_winner: judged.winner,
        agrees: judged.agrees,
        verdict: judged.verdict,
        winner_vs_recommended: judged.ratio,
        cells,
        tie_margin: judged.noise,
        python: None,
    }
}

/// The Python cells of a row, judged as the Rust ones are (the fastest marked, the guide's
/// pick against the winner), and Python's fastest against Rust's fastest.
pub fn python_columns(
    row: &Row,
    interpreter: String,
    mut cells: Vec<Cell<PyModel>>,
) -> PythonColumns {
    let judged = judge(&mut cells, row.python_recommends);
    let rust_best = row
        .cells
        .iter()
        .filter_map(|c| c.seconds)
        .min_by(f64::total_cmp);
    let python_best = cells
        .iter()
        .filter_map(|c| c.seconds)
        .min_by(f64::total_cmp);
    PythonColumns {
        interpreter,
        winner: judged.winner,
        agrees: judged.agrees,
        verdict: judged.verdict,
        winner_vs_recommended: judged.ratio,
        rust_speedup: python_best
            .zip(rust_best)
            .map(|(p, r)| p / r.max(f64::MIN_POSITIVE)),
        cells,
        cpu_bound: false,
    }
}

/// A set of cells judged: the winner, whether it is of the guide's family, the guide's
/// best cell over the winner, the tie margin, the verdict.
struct Judged<M> {
    winner: Option<M>,
    agrees: bool,
    ratio: Option<f64>,
    noise: f64,
    verdict: Verdict,
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
    let agrees = winner.is_some_and(|c| c.python_family == pick);
    let ratio = winner
        .and_then(|w| w.seconds)
        .zip(best_recommended.and_then(|c| c.seconds))
        .map(|(w, r)| r / w.max(f64::MIN_POSITIVE));
    let noise = winner
        .into_iter()
        .chain(best_recommended)
        .map(Cell::spread)
        .fold(CLOSE, f64::max);
    let verdict = match (agrees, ratio) {
        (true, _) => Verdict::Agrees,
        (false, Some(r)) if r <= noise => Verdict::Close,
        _ => Verdict::Differs,
    };
    Judged {
        winner: winner.map(|c| c.model),
        agrees,
        ratio,
        noise,
        verdict,
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
    fn a_lead_within_the_run_to_run_noise_is_a_tie() {
        // 1.3x apart, but the winner's own two runs were 1.5x apart.
        let mut winner = cell(Model::Rayon, Some(1.0));
        winner.record(1.5, None);
        let cells = vec![cell(Model::Processes, Some(1.3)), winner];
        let row = row_from_cells(&scenario(PythonFamily::Multiprocessing), cells);
        assert_eq!(row.rust_winner, Some(Model::Rayon));
        assert_eq!(row.verdict, Verdict::Close);
        assert_eq!(row.tie_margin, 1.5);
        // The same lead with steady runs differs.
        let cells = vec![
            cell(Model::Processes, Some(1.3)),
            cell(Model::Rayon, Some(1.0)),
        ];
        let row = row_from_cells(&scenario(PythonFamily::Multiprocessing), cells);
        assert_eq!(row.verdict, Verdict::Differs);
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
