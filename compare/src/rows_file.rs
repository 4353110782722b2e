//! The rows of an earlier run, read back: `compare choose --from FILE.json` reads what
//! `compare --format json` wrote ([`crate::report`] writes it), once, within a size limit,
//! with every number checked. Plumbing of compare's file format, not a lesson.

use std::io::Read;
use std::path::Path;

use common::claim::Machine as Load;
use common::cli::UsageError;
use common::timing::Bytes;
use serde::Deserialize;

use crate::models::Model;
use crate::report::secs;

/// The largest `--from` file read (compare's JSON is tens of kilobytes).
pub(crate) const MAX_BYTES: u64 = 4 << 20;
/// The longest a cell's seconds may be (compare kills a cell after 60 s).
pub(crate) const MAX_SECONDS: f64 = 3600.0;

/// The rows as `compare --format json` prints them: the part the rules read.
#[derive(Debug, Deserialize)]
pub(crate) struct Measured {
    pub(crate) machine: Reading,
    pub(crate) rows: Vec<MeasuredRow>,
}

/// The `machine` object: the line printed above the rows, and the load (for the likely
/// cause of a claim that does not hold).
#[derive(Debug, Deserialize)]
pub(crate) struct Reading {
    pub(crate) cpu: String,
    pub(crate) cores: usize,
    pub(crate) os: String,
    pub(crate) profile: String,
    pub(crate) sizes: String,
    pub(crate) load_1m: Option<f64>,
    pub(crate) usable_cores: usize,
    pub(crate) online_cores: Option<usize>,
    pub(crate) others_busy: Option<f64>,
}

impl Reading {
    pub(crate) fn load(&self) -> Load {
        Load {
            load_1m: self.load_1m,
            usable_cores: self.usable_cores,
            online_cores: self.online_cores,
            others_busy: self.others_busy,
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct MeasuredRow {
    pub(crate) section: String,
    pub(crate) scenario: String,
    pub(crate) workload: String,
    pub(crate) cells: Vec<MeasuredCell>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct MeasuredCell {
    pub(crate) model: Model,
    #[serde(default)]
    pub(crate) workers: Option<usize>,
    pub(crate) seconds: Option<f64>,
    #[serde(default)]
    pub(crate) slowest_seconds: Option<f64>,
    pub(crate) peak_rss_bytes: Option<u64>,
}

impl Measured {
    /// Every number is a figure compare could have printed: one line naming the first that
    /// is not.
    pub(crate) fn check(&self) -> Result<(), String> {
        let m = &self.machine;
        let cores = [Some(m.cores), Some(m.usable_cores), m.online_cores];
        if cores.iter().flatten().any(|c| !(1..=4096).contains(c)) {
            return Err("machine: a core count outside 1 to 4096".into());
        }
        let reading = |x: Option<f64>| x.is_none_or(|x| (0.0..=1e6).contains(&x));
        if !reading(m.load_1m) || !reading(m.others_busy) {
            return Err("machine: a load or busy figure that is negative or too large".into());
        }
        for row in &self.rows {
            for c in &row.cells {
                for (what, s) in [
                    ("seconds", c.seconds),
                    ("slowest_seconds", c.slowest_seconds),
                ] {
                    let Some(s) = s.filter(|&s| !(s > 0.0 && s <= MAX_SECONDS)) else {
                        continue;
                    };
                    let s = match s.abs() {
                        0.0 | 1e-3..1e6 => s.to_string(),
                        _ => format!("{s:e}"),
                    };
                    return Err(format!(
                        "row '{}', cell {}: {what} {s} is not a time between 0 and {MAX_SECONDS} s",
                        row.scenario,
                        c.model.name(),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl MeasuredRow {
    pub(crate) fn cell(&self, model: Model) -> Option<&MeasuredCell> {
        self.cells.iter().find(|c| c.model == model)
    }

    pub(crate) fn seconds(&self, model: Model) -> Option<f64> {
        self.cell(model)?.seconds
    }

    pub(crate) fn memory(&self, model: Model) -> Option<u64> {
        self.cell(model)?.peak_rss_bytes
    }

    /// The slowest of a cell's runs over its fastest (1.0: one run, or not known).
    pub(crate) fn spread(&self, model: Model) -> f64 {
        self.cell(model)
            .and_then(|c| Some(c.slowest_seconds? / c.seconds?))
            .unwrap_or(1.0)
            .max(1.0)
    }

    /// The fastest of `models` that ran, and its seconds.
    pub(crate) fn best_of(&self, models: &[Model]) -> Option<(Model, f64)> {
        models
            .iter()
            .filter_map(|&m| self.seconds(m).map(|s| (m, s)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }

    pub(crate) fn fastest(&self) -> Option<(Model, f64)> {
        self.best_of(&Model::ALL)
    }

    /// `CPU-bound: sequential 162.7 ms, rayon 82.7 ms (4.6 MiB)`: the cells a rule reads.
    pub(crate) fn line(&self, models: &[Model], memory: bool) -> String {
        let fastest = self.fastest().map(|(m, _)| m);
        let cells: Vec<String> = models
            .iter()
            .map(|&m| {
                let star = if Some(m) == fastest { "★" } else { "" };
                let time = self.seconds(m).map_or("n/a".to_owned(), secs);
                match self.memory(m).filter(|_| memory) {
                    Some(b) => format!("{star}{} {time} ({})", m.name(), Bytes(b)),
                    None => format!("{star}{} {time}", m.name()),
                }
            })
            .collect();
        format!("{}: {}", self.scenario, cells.join(", "))
    }
}

/// Read and check `--from FILE.json` (a file, a pipe, `/dev/stdin`: read once, at most
/// [`MAX_BYTES`]): one line naming the problem when it cannot be used.
pub(crate) fn read_from(path: &Path, needed: &[(&str, &str)]) -> Result<Measured, UsageError> {
    let bad = |what: String| UsageError(format!("--from {}: {what}", path.display()));
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| {
            bad(format!(
                "cannot read it ({e}); give a file written by compare --format json"
            ))
        })?;
    if text.len() as u64 > MAX_BYTES {
        return Err(bad(format!(
            "over {} MiB: not the JSON of compare --format json",
            MAX_BYTES >> 20
        )));
    }
    let measured = parse(&text)
        .and_then(|m| m.check().map(|()| m))
        .map_err(|e| bad(format!("not the JSON of compare --format json ({e})")))?;
    if !measured
        .rows
        .iter()
        .any(|r| needed.contains(&(r.section.as_str(), r.scenario.as_str())))
    {
        return Err(bad(
            "none of the rows the rules read; write it with compare --format json (every section)"
                .into(),
        ));
    }
    Ok(measured)
}

pub(crate) fn parse(json: &str) -> Result<Measured, String> {
    serde_json::from_str(json).map_err(|e| e.to_string().replace('\n', " "))
}
