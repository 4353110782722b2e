//! `--chart FILE.svg`: two bar panels per row of the table, seconds (the fastest bar in red)
//! and peak memory; a model that does not apply to a row is marked "n/a", not left out.
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
use crate::table::Row;

/// What a panel shows.
#[derive(Clone, Copy, PartialEq)]
enum Metric {
    Seconds,
    Memory,
}

impl Metric {
    /// A cell's value in the panel's unit (seconds, MiB), `None` when it does not apply.
    fn value(self, c: &crate::table::Cell) -> Option<f64> {
        let s = c.seconds?;
        match self {
            Metric::Seconds => Some(s),
            Metric::Memory => Some(c.peak_rss_bytes? as f64 / (1024.0 * 1024.0)),
        }
    }

    fn label(self, c: &crate::table::Cell) -> String {
        match (self, c.seconds) {
            (_, None) => "n/a".to_owned(),
            (Metric::Seconds, Some(s)) => Secs(Duration::from_secs_f64(s)).to_string(),
            (Metric::Memory, Some(_)) => c
                .peak_rss_bytes
                .map_or("n/a".to_owned(), |b| Bytes(b).to_string()),
        }
    }
}

pub fn write_svg(rows: &[Row], machine: &Machine, path: &Path) -> anyhow::Result<()> {
    let grid_rows = rows.len().max(1);
    let size = (1400, 240 * grid_rows as u32 + 70);
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

fn panel<DB: DrawingBackend>(
    row: &Row,
    area: &DrawingArea<DB, plotters::coord::Shift>,
    metric: Metric,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let models: Vec<&str> = row.cells.iter().map(|c| c.model.name()).collect();
    let top = row
        .cells
        .iter()
        .filter_map(|c| metric.value(c))
        .fold(0.0, f64::max)
        .max(1e-6)
        * 1.15;
    let caption = match metric {
        Metric::Seconds => format!(
            "{} (guide: {}, Rust: {})",
            row.scenario,
            row.python_recommends,
            row.winner_name()
        ),
        Metric::Memory => format!("{}: peak memory", row.scenario),
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
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
    let fastest = row.cells.iter().position(|c| c.fastest);
    chart
        .draw_series(
            Histogram::vertical(&chart)
                .margin(6)
                .style_func(|x, _| {
                    let i = match x {
                        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => Some(*i),
                        SegmentValue::Last => None,
                    };
                    if metric == Metric::Seconds && i.is_some() && i == fastest {
                        RED.filled()
                    } else {
                        BLUE.mix(0.7).filled()
                    }
                })
                .data(
                    row.cells
                        .iter()
                        .enumerate()
                        .filter_map(|(i, c)| metric.value(c).map(|v| (i, v))),
                ),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // Each bar's figure above it (a 50 ms bar beside a 2 s one is otherwise invisible), and
    // "n/a" where the model does not apply.
    chart
        .draw_series(row.cells.iter().enumerate().map(|(i, c)| {
            Text::new(
                metric.label(c),
                (SegmentValue::CenterOf(i), metric.value(c).unwrap_or(0.0)),
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
}
