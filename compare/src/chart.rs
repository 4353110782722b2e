//! `--chart FILE.svg`: one bar panel per row of the table, the fastest bar in red.
//!
//! plotters with only its SVG backend: no font library is linked, the SVG holds `<text>`
//! elements and the viewer (a browser) draws the letters.

use std::path::Path;

use std::time::Duration;

use anyhow::Context;
use common::timing::Secs;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::cells::Row;
use crate::report::Machine;

pub fn write_svg(rows: &[Row], machine: &Machine, path: &Path) -> anyhow::Result<()> {
    let cols = 2;
    let grid_rows = rows.len().div_ceil(cols).max(1);
    let size = (1200, 240 * grid_rows as u32 + 70);
    {
        let root = SVGBackend::new(path, size).into_drawing_area();
        root.fill(&WHITE)?;
        let root = root.titled(
            &format!("Seconds per model (red: fastest). {}", machine.line()),
            ("sans-serif", 22),
        )?;
        let panels = root.split_evenly((grid_rows, cols));
        for (row, area) in rows.iter().zip(panels.iter()) {
            panel(row, area)?;
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
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let models: Vec<&str> = row.cells.iter().map(|c| c.model).collect();
    let top = row
        .cells
        .iter()
        .filter_map(|c| c.seconds)
        .fold(0.0, f64::max)
        .max(1e-6)
        * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "{} (guide: {}, Rust: {})",
                row.scenario, row.python_recommends, row.rust_winner
            ),
            ("sans-serif", 18),
        )
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
        .y_desc("s")
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
                    if i.is_some() && i == fastest {
                        RED.filled()
                    } else {
                        BLUE.mix(0.7).filled()
                    }
                })
                .data(
                    row.cells
                        .iter()
                        .enumerate()
                        .filter_map(|(i, c)| c.seconds.map(|s| (i, s))),
                ),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // Each bar's time above it: a 50 ms bar beside a 2 s one is otherwise invisible.
    chart
        .draw_series(row.cells.iter().enumerate().filter_map(|(i, c)| {
            c.seconds.map(|s| {
                Text::new(
                    Secs(Duration::from_secs_f64(s)).to_string(),
                    (SegmentValue::CenterOf(i), s),
                    TextStyle::from(("sans-serif", 13).into_font())
                        .pos(Pos::new(HPos::Center, VPos::Bottom)),
                )
            })
        }))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cells::{Cell, Scenario, row_from_cells};
    use crate::jobs::Job;

    #[test]
    fn the_chart_is_an_svg_with_the_model_names_as_text() {
        let scenario = Scenario {
            section: "t",
            name: "I/O-bound",
            workload: String::new(),
            python: "asyncio",
            python_seconds: vec![],
            runs: 1,
            job: Job::SumSquares { n: 1, chunks: 1 },
        };
        let cells = crate::models::Model::ALL
            .iter()
            .enumerate()
            .map(|(i, m)| Cell {
                model: m.name(),
                python_family: m.python_family(),
                workers: 1,
                seconds: (i != 3).then_some(0.1 * (i + 1) as f64),
                peak_rss_bytes: None,
                runs: 1,
                fastest: false,
                not_applicable: None,
            })
            .collect();
        let rows = vec![row_from_cells(&scenario, cells)];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chart.svg");
        write_svg(&rows, &Machine::here("tiny"), &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.trim_start().starts_with("<svg"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("<text"), "text is drawn");
        for m in crate::models::Model::ALL {
            assert!(svg.contains(m.name()), "{} is labelled", m.name());
        }
        assert!(svg.contains("I/O-bound (guide: asyncio, Rust: sequential)"));
        assert!(svg.contains("100.0 ms"), "bars carry their time");
        assert!(
            svg.matches("<rect").count() >= 6,
            "a bar per measured model"
        );
    }
}
