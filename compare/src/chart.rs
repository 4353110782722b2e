//! `--chart FILE.svg`: two bar panels per row of the table, seconds (the fastest bar in red)
//! and peak memory; a model that does not apply to a row is marked "n/a", not left out.
//! With `--python` the row's Python cells follow its Rust ones, in green (the fastest Python
//! bar darker), labelled `py threads`, `py thread-pool`...
//!
//! plotters with only its SVG backend: no font library is linked, the SVG holds `<text>`
//! elements and the viewer (a browser) draws the letters.

use std::path::Path;

use std::time::Duration;

use anyhow::Context;
use common::timing::Secs;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use common::timing::Bytes;

use crate::report::Machine;
use crate::table::{Cell, CellModel, Row};

/// What a panel shows.
#[derive(Clone, Copy, PartialEq)]
enum Metric {
    Seconds,
    Memory,
}

impl Metric {
    /// A cell's value in the panel's unit (seconds, MiB), `None` when it does not apply.
    fn value<M: CellModel>(self, c: &Cell<M>) -> Option<f64> {
        let s = c.seconds?;
        match self {
            Metric::Seconds => Some(s),
            Metric::Memory => Some(c.peak_rss_bytes? as f64 / (1024.0 * 1024.0)),
        }
    }

    fn label<M: CellModel>(self, c: &Cell<M>) -> String {
        match (self, c.seconds) {
            (_, None) => "n/a".to_owned(),
            (Metric::Seconds, Some(s)) => Secs(Duration::from_secs_f64(s)).to_string(),
            (Metric::Memory, Some(_)) => c
                .peak_rss_bytes
                .map_or("n/a".to_owned(), |b| Bytes(b).to_string()),
        }
    }
}

/// One bar of a panel: a Rust cell, or with `--python` a Python one.
struct Bar {
    name: String,
    value: Option<f64>,
    text: String,
    color: RGBAColor,
}

impl Bar {
    /// The row's Rust cells, then its Python cells.
    fn of(row: &Row, metric: Metric) -> Vec<Bar> {
        let mut bars: Vec<Bar> = row
            .cells
            .iter()
            .map(|c| Bar {
                name: c.model.name().to_owned(),
                value: metric.value(c),
                text: metric.label(c),
                color: if metric == Metric::Seconds && c.fastest {
                    RED.to_rgba()
                } else {
                    BLUE.mix(0.7)
                },
            })
            .collect();
        for c in row.python.iter().flat_map(|py| &py.cells) {
            bars.push(Bar {
                name: format!("py {}", c.model.name()),
                value: metric.value(c),
                text: metric.label(c),
                color: if metric == Metric::Seconds && c.fastest {
                    RGBColor(0, 110, 40).to_rgba()
                } else {
                    GREEN.mix(0.55)
                },
            });
        }
        bars
    }
}

pub fn write_svg(rows: &[Row], machine: &Machine, path: &Path) -> anyhow::Result<()> {
    let grid_rows = rows.len().max(1);
    let wide = rows.iter().any(|r| r.python.is_some());
    let size = (if wide { 2000 } else { 1400 }, 240 * grid_rows as u32 + 70);
    {
        let root = SVGBackend::new(path, size).into_drawing_area();
        root.fill(&WHITE)?;
        let root = root.titled(
            &format!(
                "Seconds (red: fastest) and peak memory per model. {}",
                machine.line()
            ),
            ("sans-serif", 22),
        )?;
        let panels = root.split_evenly((grid_rows, 2));
        for (row, areas) in rows.iter().zip(panels.chunks(2)) {
            panel(row, &areas[0], Metric::Seconds)?;
            panel(row, &areas[1], Metric::Memory)?;
        }
        root.present()?;
    }
    // plotters reports some write errors only on drop: check the file is really there.
    let written = std::fs::metadata(path).with_context(|| format!("writing {}", path.display()))?;
    anyhow::ensure!(written.len() > 0, "{} is empty", path.display());
    Ok(())
}

/// A panel's title: the row, the guide's pick and the winners (seconds), or the row (memory).
fn caption(row: &Row, metric: Metric) -> String {
    match (&row.python, metric) {
        (_, Metric::Memory) => format!("{}: peak memory", row.scenario),
        (None, Metric::Seconds) => format!(
            "{} (guide: {}, Rust: {})",
            row.scenario,
            row.python_recommends,
            row.winner_name()
        ),
        (Some(py), Metric::Seconds) => format!(
            "{} (guide: {}, Rust: {}, Python: {}; {})",
            row.scenario,
            row.python_recommends,
            row.winner_name(),
            py.winner_name(),
            crate::report::short(&py.rust_vs_python)
        ),
    }
}

fn panel<DB: DrawingBackend>(
    row: &Row,
    area: &DrawingArea<DB, plotters::coord::Shift>,
    metric: Metric,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let bars = Bar::of(row, metric);
    let models: Vec<&str> = bars.iter().map(|b| b.name.as_str()).collect();
    let top = bars
        .iter()
        .filter_map(|b| b.value)
        .fold(0.0, f64::max)
        .max(1e-6)
        * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(caption(row, metric), ("sans-serif", 18))
        .margin(8)
        .x_label_area_size(22)
        .y_label_area_size(50)
        .build_cartesian_2d((0..models.len()).into_segmented(), 0f64..top)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(models.len())
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                models.get(*i).copied().unwrap_or("").to_owned()
            }
            SegmentValue::Last => String::new(),
        })
        .y_desc(match metric {
            Metric::Seconds => "s",
            Metric::Memory => "MiB",
        })
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .draw_series(
            Histogram::vertical(&chart)
                .margin(6)
                .style_func(|x, _| {
                    let bar = match x {
                        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => bars.get(*i),
                        SegmentValue::Last => None,
                    };
                    bar.map_or(BLUE.mix(0.7).filled(), |b| b.color.filled())
                })
                .data(
                    bars.iter()
                        .enumerate()
                        .filter_map(|(i, b)| b.value.map(|v| (i, v))),
                ),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // Each bar's figure above it (a 50 ms bar beside a 2 s one is otherwise invisible), and
    // "n/a" where the model does not apply.
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            Text::new(
                b.text.clone(),
                (SegmentValue::CenterOf(i), b.value.unwrap_or(0.0)),
                TextStyle::from(("sans-serif", 13).into_font())
                    .pos(Pos::new(HPos::Center, VPos::Bottom)),
            )
        }))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::Sizes;
    use crate::models::{Model, PythonFamily};
    use crate::table::row_from_cells;
    use crate::table::tests::{cell, scenario};

    #[test]
    fn the_chart_is_an_svg_with_seconds_memory_and_n_a() {
        let mut s = scenario(PythonFamily::Asyncio);
        s.name = "I/O-bound";
        let cells = Model::ALL
            .iter()
            .enumerate()
            .map(|(i, &m)| cell(m, (i != 3).then_some(0.1 * (i + 1) as f64)))
            .collect();
        let rows = vec![row_from_cells(&s, cells)];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chart.svg");
        write_svg(&rows, &Machine::here(Sizes::Tiny), &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.trim_start().starts_with("<svg"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("<text"), "text is drawn");
        for m in Model::ALL {
            assert!(svg.contains(m.name()), "{} is labelled", m.name());
        }
        assert!(svg.contains("I/O-bound (guide: asyncio, Rust: sequential)"));
        assert!(svg.contains("100.0 ms"), "bars carry their time");
        assert!(svg.contains("I/O-bound: peak memory"), "a memory panel");
        assert!(svg.contains("3.0 MiB"), "memory bars carry their size");
        let labels: Vec<&str> = svg.lines().map(str::trim).collect();
        assert_eq!(
            labels.iter().filter(|l| **l == "n/a").count(),
            2,
            "the missing cell, in both panels"
        );
        assert!(
            svg.matches("<rect").count() >= 12,
            "a bar per measured model, twice"
        );
    }

    #[test]
    fn with_python_the_chart_has_python_bars_after_rust_s() {
        use crate::models::PyModel;
        use crate::table::python_columns;
        use crate::table::tests::py_cell;
        let mut s = scenario(PythonFamily::Multiprocessing);
        s.name = "CPU-bound";
        let cells = Model::ALL.iter().map(|&m| cell(m, Some(0.05))).collect();
        let mut row = row_from_cells(&s, cells);
        let py = PyModel::ALL
            .iter()
            .map(|&m| py_cell(m, Some(if m == PyModel::Processes { 0.6 } else { 1.2 })))
            .collect();
        row.python = Some(python_columns(&row, "Python 3.11.7".into(), py));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chart.svg");
        write_svg(&[row], &Machine::here(Sizes::Tiny), &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        for m in PyModel::ALL {
            assert!(svg.contains(&format!("py {}", m.name())), "{}", m.name());
        }
        assert!(
            svg.contains("Python: processes; Rust 12.00x faster)"),
            "caption"
        );
        assert!(svg.contains("600.0 ms") && svg.contains("20.0 MiB"));
    }
}
