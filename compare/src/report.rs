//! The measured rows as a terminal table, a Markdown table, or JSON (fields in the README).

use std::fmt::Write as _;
use std::time::Duration;

use common::timing::{Bytes, Secs};
use serde::Serialize;

use crate::jobs::{Sizes, cores};
use crate::table::{Row, Verdict};

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
        }
    }

    pub fn line(&self) -> String {
        format!(
            "{}, {} cores, {} {}, {} build, {} sizes",
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
