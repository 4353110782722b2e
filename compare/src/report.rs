//! The measured rows as a terminal table, a Markdown table, or JSON (fields in the README).

use std::fmt::Write as _;
use std::time::Duration;

use common::timing::{Bytes, Secs};
use serde::Serialize;

use crate::cells::Row;

/// Where the figures come from: printed with every table.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub os: &'static str,
    pub arch: &'static str,
    /// `release` or `dev`: the Cargo profile this binary was built with.
    pub profile: &'static str,
    /// `full`, `quick` or `tiny`.
    pub sizes: &'static str,
}

impl Machine {
    pub fn here(sizes: &'static str) -> Machine {
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
            cores: crate::models::cores(),
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            profile: if cfg!(debug_assertions) {
                "dev"
            } else {
                "release"
            },
            sizes,
        }
    }

    pub fn line(&self) -> String {
        format!(
            "{}, {} cores, {} {}, {} build, {} sizes",
            self.cpu, self.cores, self.os, self.arch, self.profile, self.sizes
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
        let _ = write!(out, "{:>W_CELL$}", c.model);
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
            "agrees" => "=",
            "close" => "≈",
            _ => "≠",
        };
        let _ = writeln!(
            out,
            "   {} {mark} {}",
            row.python_recommends, row.rust_winner
        );
        let _ = write!(out, "  {:W_NAME$}", "  peak memory");
        for c in &row.cells {
            let text = if c.seconds.is_some() {
                mem(c.peak_rss_bytes)
            } else {
                String::new()
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
        let _ = write!(out, " {} |", c.model);
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
            "agrees" => "",
            "close" => " (a tie)",
            _ => " (differs)",
        };
        let _ = writeln!(
            out,
            " {} | {}{verdict} |",
            row.python_recommends, row.rust_winner
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
    use crate::cells::{Cell, Scenario, row_from_cells};
    use crate::jobs::Job;

    pub fn sample_rows() -> Vec<Row> {
        let scenario = Scenario {
            section: "benchmark-table",
            name: "CPU-bound",
            workload: "sum of squares".into(),
            python: "multiprocessing",
            python_seconds: vec![("multiprocessing", 1.3)],
            runs: 1,
            job: Job::SumSquares { n: 1, chunks: 1 },
        };
        let cell = |model: &'static str, family, seconds| Cell {
            model,
            python_family: family,
            workers: 2,
            seconds,
            peak_rss_bytes: Some(3 << 20),
            runs: 1,
            fastest: false,
            not_applicable: None,
        };
        vec![row_from_cells(
            &scenario,
            vec![
                cell("processes", "multiprocessing", Some(0.8)),
                cell("rayon", "(no Python twin)", Some(0.4)),
                cell("hybrid", "asyncio", None),
            ],
        )]
    }

    #[test]
    fn the_terminal_table_marks_the_winner_and_the_disagreement() {
        let text = terminal(&sample_rows());
        assert!(text.contains("★400.0 ms"), "{text}");
        assert!(text.contains("multiprocessing ≠ rayon"), "{text}");
        assert!(text.contains("3.0 MiB"), "{text}");
        assert!(text.contains("n/a"), "{text}");
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
}
