//! The plots of a scenario run ([`crate::run::Report`]), as SVG files beside its report:
//!
//! - `throughput.svg`: directory changes per wall-clock second over wall time (from the start of
//!   the first phase), and changes per virtual day over virtual days, one line per phase. Each
//!   virtual day's changes are drawn as a step over the span of that day, so a day that took
//!   longer shows as a longer, lower step in wall time.
//! - `latency.svg`: the latency of each operation kind (all phases together) by percentile, from
//!   0 (the fastest) to 100 (the slowest), one line per kind, on a logarithmic scale of
//!   milliseconds.
//!
//! The SVG is drawn into a string and written by this module; plotters draws the text as SVG
//! `<text>` with its own estimate of the text's width, so no font is read from the system.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::run::Report;
use crate::stats::Samples;

/// Writes `throughput.svg` and `latency.svg` into `dir`, which exists, and returns their paths.
pub fn write_plots(report: &Report, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let plots = [("throughput.svg", throughput(report)?), ("latency.svg", latency(report)?)];
    let mut written = Vec::with_capacity(plots.len());
    for (name, svg) in plots {
        let path = dir.join(name);
        std::fs::write(&path, svg).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// One series of a chart: its name in the legend and its points.
struct Line {
    label: String,
    points: Vec<(f64, f64)>,
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

const WIDTH: u32 = 960;
/// Where the plotting area of a chart begins: its margin and the width of its y labels.
const MARGIN: u32 = 16;
const Y_LABELS: u32 = 64;

/// Distinct colours, readable on white (Tableau 10).
const COLOURS: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// Changes per wall-clock second over wall time, above changes per virtual day over virtual days,
/// above the legend of the phases.
fn throughput(report: &Report) -> anyhow::Result<String> {
    let (mut per_second, mut per_day) = (Vec::new(), Vec::new());
    // Where each phase starts on the two time axes: the phases run one after the other.
    let (mut wall, mut days) = (0.0_f64, 0.0_f64);
    for phase in &report.phases {
        let (mut seconds, mut virtual_days) = (Vec::new(), Vec::new());
        let mut start = 0.0_f64;
        for logged in &phase.days_log {
            let end = logged.wall_end.as_secs_f64();
            let changes = logged.changes as f64;
            let rate = changes / (end - start).max(1e-6);
            seconds.extend([(wall + start, rate), (wall + end, rate)]);
            let day = days + f64::from(logged.day);
            virtual_days.extend([(day - 1.0, changes), (day, changes)]);
            start = end;
        }
        per_second.push(Line { label: phase.name.clone(), points: seconds });
        per_day.push(Line { label: phase.name.clone(), points: virtual_days });
        wall += phase.wall.as_secs_f64();
        days += f64::from(phase.days);
    }
    let chart_height = 400;
    let mut svg = String::new();
    {
        let size = (WIDTH, 2 * chart_height + legend_height(&per_second));
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)?;
        let (top, rest) = root.split_vertically(chart_height);
        let (bottom, legend_area) = rest.split_vertically(chart_height);
        linear_chart(
            &top,
            &format!("Scenario `{}`: directory changes per wall-clock second", report.scenario),
            ("wall time since the first phase began (s)", "changes per second"),
            &per_second,
        )?;
        linear_chart(&bottom, "Directory changes per virtual day", ("virtual day", "changes"), &per_day)?;
        legend(&legend_area, &per_second)?;
        root.present()?;
    }
    Ok(svg)
}

/// Latency by percentile, one line per operation kind, milliseconds on a logarithmic scale, above
/// the legend of the operation kinds.
fn latency(report: &Report) -> anyhow::Result<String> {
    let mut kinds: BTreeMap<&str, Samples> = BTreeMap::new();
    for phase in &report.phases {
        for (kind, samples) in &phase.operations {
            kinds.entry(kind.as_str()).or_default().extend(samples);
        }
    }
    let percentiles: Vec<f64> = (0..=1000).map(|tenth| f64::from(tenth) / 10.0).collect();
    // A logarithmic scale has no zero: a latency below a microsecond is drawn at a microsecond.
    let floor = 1e-3;
    let lines: Vec<Line> = kinds
        .iter()
        .filter(|(_, samples)| !samples.is_empty())
        .map(|(kind, samples)| Line {
            label: format!("{kind}, n = {}", samples.len()),
            points: samples.percentiles(&percentiles).into_iter().map(|(p, ms)| (p, ms.max(floor))).collect(),
        })
        .collect();
    // Whole decades, so that the axis has a labelled power of ten at each end.
    let (low, high) = if lines.is_empty() {
        (1.0, 10.0)
    } else {
        let values = || lines.iter().flat_map(|line| line.points.iter().map(|&(_, ms)| ms));
        let decade = |ms: f64, round: fn(f64) -> f64| 10_f64.powf(round(ms.log10()));
        let low = decade(values().fold(f64::INFINITY, f64::min), f64::floor);
        let high = decade(values().fold(0.0, f64::max), f64::ceil);
        (low, if high > low { high } else { low * 10.0 })
    };
    let chart_height = 520;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, chart_height + legend_height(&lines)))
            .into_drawing_area();
        root.fill(&WHITE)?;
        let (chart_area, legend_area) = root.split_vertically(chart_height);
        let mut chart = chart_builder(
            &chart_area,
            &format!("Scenario `{}`: latency of each operation by percentile", report.scenario),
        )
        .build_cartesian_2d(0.0..100.0, (low..high).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("milliseconds (logarithmic)")
            .x_label_formatter(&|p| format!("{p:.0}"))
            .y_label_formatter(&|ms| format!("{ms}"))
            .draw()?;
        draw_lines(&mut chart, &lines)?;
        legend(&legend_area, &lines)?;
        root.present()?;
    }
    Ok(svg)
}

/// A chart of `lines` on linear axes from 0.
fn linear_chart(
    area: &Area<'_>,
    caption: &str,
    (x_desc, y_desc): (&str, &str),
    lines: &[Line],
) -> anyhow::Result<()> {
    let largest = |axis: fn(&(f64, f64)) -> f64| {
        let largest = lines.iter().flat_map(|line| line.points.iter().map(axis)).fold(0.0, f64::max);
        if largest > 0.0 { largest } else { 1.0 }
    };
    let (x_max, y_max) = (largest(|p| p.0), largest(|p| p.1) * 1.1);
    let mut chart = chart_builder(area, caption).build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    chart.configure_mesh().x_desc(x_desc).y_desc(y_desc).draw()?;
    draw_lines(&mut chart, lines)
}

/// A chart with a caption, its axis labels and their descriptions.
fn chart_builder<'a, 'b>(area: &'a Area<'b>, caption: &str) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(caption, ("sans-serif", 20))
        .margin(MARGIN)
        .x_label_area_size(44)
        .y_label_area_size(Y_LABELS);
    builder
}

/// Draws each line in its colour.
fn draw_lines<X, Y>(
    chart: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<X, Y>>,
    lines: &[Line],
) -> anyhow::Result<()>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for (i, line) in lines.iter().enumerate() {
        chart.draw_series(LineSeries::new(line.points.iter().copied(), style(i)))?;
    }
    Ok(())
}

/// The legend below the charts rather than over their lines: each line's colour and label, a
/// line each, aligned with the plotting areas.
fn legend(area: &Area<'_>, lines: &[Line]) -> anyhow::Result<()> {
    let left = i32::try_from(MARGIN + Y_LABELS)?;
    let mut y = LEGEND_ROW / 2;
    for (i, line) in lines.iter().enumerate() {
        area.draw(&PathElement::new(vec![(left, y), (left + 24, y)], style(i)))?;
        area.draw(&Text::new(line.label.as_str(), (left + 32, y - 7), ("sans-serif", 14)))?;
        y += LEGEND_ROW;
    }
    Ok(())
}

const LEGEND_ROW: i32 = 22;

fn legend_height(lines: &[Line]) -> u32 {
    lines.iter().fold(8, |height, _| height + LEGEND_ROW.unsigned_abs())
}

/// The stroke of the `i`th line.
fn style(i: usize) -> ShapeStyle {
    let (r, g, b) = COLOURS[i % COLOURS.len()];
    RGBColor(r, g, b).stroke_width(2)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::write_plots;
    use crate::run::{DayLog, PhaseReport, Report};
    use crate::stats::Samples;

    fn samples(ms: impl IntoIterator<Item = f64>) -> Samples {
        let mut samples = Samples::default();
        for ms in ms {
            samples.push_ms(ms);
        }
        samples
    }

    /// Two phases of a few days, each with the latencies of two operation kinds.
    fn report() -> Report {
        let day = |day, wall_ms, changes| DayLog { day, wall_end: Duration::from_millis(wall_ms), changes };
        let operations = |slow: f64| {
            BTreeMap::from([
                ("updateUser (mover)".to_owned(), samples((1..=40).map(|i| f64::from(i) / 10.0))),
                ("advanceClock (a day)".to_owned(), samples([slow, slow * 2.0, slow * 3.0])),
            ])
        };
        Report {
            scenario: "plots".into(),
            phases: vec![
                PhaseReport {
                    name: "ramp-up".into(),
                    days: 3,
                    wall: Duration::from_millis(950),
                    operations: operations(20.0),
                    changes: 17,
                    days_log: vec![day(1, 300, 5), day(2, 620, 4), day(3, 940, 8)],
                    ..PhaseReport::default()
                },
                PhaseReport {
                    name: "steady".into(),
                    days: 2,
                    wall: Duration::from_millis(400),
                    operations: operations(150.0),
                    changes: 6,
                    days_log: vec![day(1, 150, 2), day(2, 390, 4)],
                    ..PhaseReport::default()
                },
            ],
            ..Report::default()
        }
    }

    fn check_svg(path: &std::path::Path) -> String {
        let svg = std::fs::read_to_string(path).unwrap();
        assert!(svg.starts_with("<svg"), "{}: {}", path.display(), &svg[..svg.len().min(200)]);
        assert!(svg.contains("<path") || svg.contains("<polyline"), "{} draws no line", path.display());
        assert!(svg.trim_end().ends_with("</svg>"), "{} is not closed", path.display());
        svg
    }

    #[test]
    fn plots_of_a_report_are_svg_files_with_a_line_per_phase_and_operation_kind() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_plots(&report(), dir.path()).unwrap();
        assert_eq!(written, vec![dir.path().join("throughput.svg"), dir.path().join("latency.svg")]);
        let throughput = check_svg(&written[0]);
        for phase in ["ramp-up", "steady"] {
            assert!(throughput.contains(phase), "no legend for phase {phase}");
        }
        let latency = check_svg(&written[1]);
        for kind in ["updateUser (mover), n = 80", "advanceClock (a day), n = 6"] {
            assert!(latency.contains(kind), "no legend for {kind}");
        }
    }

    #[test]
    fn plots_of_a_report_without_phases_are_empty_charts() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_plots(&Report::default(), dir.path()).unwrap();
        for path in written {
            let svg = std::fs::read_to_string(&path).unwrap();
            assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{}", path.display());
        }
    }
}
