//! The SVG pictures, drawn with plotters as text (the caller writes them,
//! see `outdir.rs`): the bench's and the cpu command's bar charts, the
//! sweep's log-log lines, and the per-lesson timelines (gantt charts).
//!
//! The bar chart and the timelines are laid out by hand in pixels (long
//! row labels need a column of their own); the log-log charts use
//! plotters' chart builder, axes and legend.

use crate::numbers::short_number;
use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::element::{DynElement, IntoDynElement};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use workload::Trace;

const FONT: &str = "sans-serif";
const OURS: RGBColor = RGBColor(31, 119, 180);
const TUTORIAL: RGBColor = RGBColor(255, 127, 14);
const GRID: RGBColor = RGBColor(220, 220, 220);
const CONNECTING: RGBColor = RGBColor(150, 150, 150);
const WAITING: RGBColor = RGBColor(158, 202, 225);
const READING: RGBColor = RGBColor(44, 160, 44);
const FAILED: RGBColor = RGBColor(214, 39, 40);

/// Ten colours that stay apart (Tableau 10), then plotters' palette.
fn color(i: usize) -> RGBColor {
    const TAB: [RGBColor; 10] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
    ];
    match TAB.get(i) {
        Some(c) => *c,
        None => {
            let (r, g, b) = Palette99::pick(i).rgb();
            RGBColor(r, g, b)
        }
    }
}

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing a chart: {e}")
}

fn text(
    area: &DrawingArea<SVGBackend, Shift>,
    s: &str,
    at: (i32, i32),
    size: u32,
    h: HPos,
    color: &RGBColor,
) -> Result<()> {
    let style = TextStyle::from((FONT, size).into_font())
        .color(color)
        .pos(Pos::new(h, VPos::Center));
    area.draw(&Text::new(s.to_string(), at, style)).map_err(err)
}

fn rect(
    area: &DrawingArea<SVGBackend, Shift>,
    a: (i32, i32),
    b: (i32, i32),
    style: ShapeStyle,
) -> Result<()> {
    area.draw(&Rectangle::new([a, b], style)).map_err(err)
}

/// A vertical dashed line at `x` from `y0` to `y1`.
fn dashes(
    area: &DrawingArea<SVGBackend, Shift>,
    x: i32,
    y0: i32,
    y1: i32,
    c: RGBColor,
) -> Result<()> {
    let mut y = y0;
    while y < y1 {
        area.draw(&PathElement::new(
            vec![(x, y), (x, (y + 6).min(y1))],
            c.stroke_width(2),
        ))
        .map_err(err)?;
        y += 10;
    }
    Ok(())
}

/// A step of 1, 2 or 5 × 10^k that cuts `max` into about `parts` pieces.
fn nice_step(max: f64, parts: f64) -> f64 {
    let raw = (max / parts).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

/// One row of the bar chart: our bar and, beside it, the tutorial's.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: Option<f64>,
    /// Printed after our bar (e.g. "1002 ms").
    pub note: String,
    pub tutorial: Option<f64>,
    pub tutorial_note: String,
}

/// A vertical reference line across the bars, labelled at the top.
#[derive(Debug, Clone)]
pub struct Line {
    pub label: String,
    pub value: f64,
}

/// Horizontal bars, ours and the tutorial's, on one linear axis from 0,
/// with reference `lines`.
pub fn bars(
    title: &str,
    axis: &str,
    legend: [&str; 2],
    rows: &[Bar],
    lines: &[Line],
    axis_max: Option<f64>,
) -> Result<String> {
    let (width, label_w, note_w, row_h, top, bottom) =
        (980i32, 250i32, 190i32, 34i32, 80i32, 60i32);
    let height = top + row_h * rows.len().max(1) as i32 + bottom;
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (width as u32, height as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        text(&root, title, (width / 2, 22), 20, HPos::Center, &BLACK)?;

        let x0 = label_w;
        let x1 = width - note_w;
        let max = axis_max.unwrap_or_else(|| {
            rows.iter()
                .flat_map(|r| [r.value, r.tutorial])
                .flatten()
                .chain(lines.iter().map(|l| l.value))
                .fold(0.0f64, f64::max)
                * 1.05
        });
        let max = max.max(1e-9);
        // A bar past the axis's end stops there; its note says how long it is.
        let px = |v: f64| x0 + ((v.min(max) / max) * (x1 - x0) as f64).round() as i32;
        let past = |v: f64| if v > max { "→ " } else { "" };

        // legend: the two kinds of bar, then the reference lines
        let width_of = |s: &str| 40 + 7 * s.chars().count() as i32;
        let mut x = x0;
        for (name, c) in legend.iter().zip([OURS, TUTORIAL]) {
            if name.is_empty() {
                continue;
            }
            rect(&root, (x, 44), (x + 14, 58), c.filled())?;
            text(&root, name, (x + 20, 51), 13, HPos::Left, &BLACK)?;
            x += width_of(name);
        }
        for (i, l) in lines.iter().enumerate() {
            let c = color(3 + i);
            dashes(&root, x + 7, 42, 60, c)?;
            text(&root, &l.label, (x + 20, 51), 13, HPos::Left, &c)?;
            x += width_of(&l.label);
        }

        // grid and axis
        let step = nice_step(max, 5.0);
        let plot_bottom = top + row_h * rows.len() as i32;
        let mut tick = 0.0;
        while tick <= max {
            let x = px(tick);
            root.draw(&PathElement::new(
                vec![(x, top - 6), (x, plot_bottom)],
                GRID,
            ))
            .map_err(err)?;
            let label = if max < 10.0 {
                format!("{tick:.2}")
            } else {
                short_number(tick)
            };
            text(
                &root,
                &label,
                (x, plot_bottom + 14),
                12,
                HPos::Center,
                &BLACK,
            )?;
            tick += step;
        }
        text(
            &root,
            axis,
            ((x0 + x1) / 2, plot_bottom + 38),
            13,
            HPos::Center,
            &BLACK,
        )?;

        for (i, r) in rows.iter().enumerate() {
            let y = top + i as i32 * row_h;
            text(
                &root,
                &r.label,
                (x0 - 8, y + row_h / 2),
                13,
                HPos::Right,
                &BLACK,
            )?;
            if let Some(v) = r.value {
                rect(
                    &root,
                    (x0, y + 4),
                    (px(v).max(x0 + 1), y + 16),
                    OURS.filled(),
                )?;
                let note = format!("{}{}", past(v), r.note);
                text(&root, &note, (px(v) + 6, y + 10), 12, HPos::Left, &BLACK)?;
            } else {
                text(&root, &r.note, (x0 + 6, y + 10), 12, HPos::Left, &BLACK)?;
            }
            if let Some(s) = r.tutorial {
                rect(
                    &root,
                    (x0, y + 17),
                    (px(s).max(x0 + 1), y + 29),
                    TUTORIAL.filled(),
                )?;
                text(
                    &root,
                    &r.tutorial_note,
                    (px(s) + 6, y + 23),
                    12,
                    HPos::Left,
                    &RGBColor(90, 90, 90),
                )?;
            }
        }
        for (i, l) in lines.iter().enumerate() {
            dashes(&root, px(l.value), top - 6, plot_bottom, color(3 + i))?;
        }
        root.draw(&PathElement::new(
            vec![(x0, top - 6), (x0, plot_bottom)],
            BLACK,
        ))
        .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// One line of a log-log chart.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub name: String,
    /// Colour number (the sweep gives each lesson one).
    pub color: usize,
    /// Marker number: circle, triangle, square, cross (each variant one).
    pub marker: usize,
    /// Measured points, drawn solid.
    pub measured: Vec<(f64, f64)>,
    /// Estimated points (not run), drawn hollow on a dashed line.
    pub estimated: Vec<(f64, f64)>,
}

/// Lines on log-log axes; `guides` are drawn dashed in black and grey
/// (the ideal).
pub fn loglog(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[Series],
    guides: &[Series],
) -> Result<String> {
    let all: Vec<(f64, f64)> = series
        .iter()
        .chain(guides)
        .flat_map(|s| s.measured.iter().chain(&s.estimated))
        .copied()
        .filter(|(x, y)| *x > 0.0 && *y > 0.0 && x.is_finite() && y.is_finite())
        .collect();
    let span = |v: &mut dyn Iterator<Item = f64>| {
        let (lo, hi) = v.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
        if lo > hi {
            (1.0, 10.0)
        } else {
            (lo / 1.6, hi * 1.6)
        }
    };
    let (xlo, xhi) = span(&mut all.iter().map(|p| p.0));
    let (ylo, yhi) = span(&mut all.iter().map(|p| p.1));

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1100, 640)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        text(&root, title, (550, 20), 18, HPos::Center, &BLACK)?;
        // The chart on the left, the legend in a column of its own on the
        // right, where it cannot hide a point.
        let (plot, legend) = root.split_horizontally(830);
        let mut chart = ChartBuilder::on(&plot)
            .margin(16)
            .margin_top(40)
            .x_label_area_size(46)
            .y_label_area_size(70)
            .build_cartesian_2d((xlo..xhi).log_scale(), (ylo..yhi).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&|v| short_number(*v))
            .y_label_formatter(&|v| short_number(*v))
            .light_line_style(RGBColor(240, 240, 240))
            .draw()
            .map_err(err)?;

        let mut y = 50;
        let mut entry =
            |name: &str, c: RGBColor, kind: Option<usize>, dashed: bool| -> Result<()> {
                if dashed {
                    for x in [0, 10] {
                        legend
                            .draw(&PathElement::new(
                                vec![(x, y), (x + 6, y)],
                                c.stroke_width(2),
                            ))
                            .map_err(err)?;
                    }
                } else {
                    legend
                        .draw(&PathElement::new(vec![(0, y), (18, y)], c.stroke_width(2)))
                        .map_err(err)?;
                }
                if let Some(k) = kind {
                    legend.draw(&mark((9, y), k, c.filled())).map_err(err)?;
                }
                text(&legend, name, (26, y), 12, HPos::Left, &BLACK)?;
                y += 18;
                Ok(())
            };
        for (i, g) in guides.iter().enumerate() {
            let c = if i == 0 {
                BLACK
            } else {
                RGBColor(130, 130, 130)
            };
            chart
                .draw_series(DashedLineSeries::new(
                    g.measured.clone(),
                    6,
                    4,
                    c.stroke_width(2),
                ))
                .map_err(err)?;
            entry(&g.name, c, None, true)?;
        }
        for s in series {
            let c = color(s.color);
            let kind = s.marker;
            chart
                .draw_series(LineSeries::new(s.measured.clone(), c.stroke_width(2)))
                .map_err(err)?;
            entry(&s.name, c, Some(kind), false)?;
            chart
                .draw_series(
                    s.measured
                        .iter()
                        .map(|p| EmptyElement::at(*p) + mark((0, 0), kind, c.filled())),
                )
                .map_err(err)?;
            if !s.estimated.is_empty() {
                let mut dashed: Vec<(f64, f64)> = s.measured.last().copied().into_iter().collect();
                dashed.extend(s.estimated.iter().copied());
                chart
                    .draw_series(DashedLineSeries::new(dashed, 4, 4, c.stroke_width(1)))
                    .map_err(err)?;
                chart
                    .draw_series(
                        s.estimated
                            .iter()
                            .map(|p| EmptyElement::at(*p) + mark((0, 0), kind, c.stroke_width(1))),
                    )
                    .map_err(err)?;
            }
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A marker around `at` (pixels): a circle, triangle, square or cross,
/// filled or hollow as `style` says.
fn mark<DB: DrawingBackend>(
    at: (i32, i32),
    kind: usize,
    style: ShapeStyle,
) -> DynElement<'static, DB, (i32, i32)> {
    let (x, y) = at;
    let outline = |mut points: Vec<(i32, i32)>| {
        if style.filled {
            Polygon::new(points, style).into_dyn()
        } else {
            points.push(points[0]);
            PathElement::new(points, style).into_dyn()
        }
    };
    match kind % 4 {
        0 => Circle::new(at, 4, style).into_dyn(),
        1 => outline(vec![(x, y - 5), (x + 5, y + 4), (x - 5, y + 4)]),
        2 => outline(vec![
            (x - 4, y - 4),
            (x + 4, y - 4),
            (x + 4, y + 4),
            (x - 4, y + 4),
        ]),
        _ => PathElement::new(
            vec![
                (x - 4, y - 4),
                (x + 4, y + 4),
                (x, y),
                (x + 4, y - 4),
                (x - 4, y + 4),
            ],
            style.stroke_width(2),
        )
        .into_dyn(),
    }
}

/// One variant's pages in a timeline.
#[derive(Debug, Clone)]
pub struct Lanes {
    pub name: String,
    pub traces: Vec<Trace>,
}

/// Most pages drawn per variant; a larger run shows an even sample.
const MAX_LANES: usize = 40;

/// A gantt chart: one lane per page from its start to its end, coloured by
/// phase (connecting, waiting for the first byte, reading), one block of
/// lanes per variant, on a shared time axis.
pub fn gantt(title: &str, groups: &[Lanes]) -> Result<String> {
    let (width, label_w, lane_h, top, bottom) = (1000i32, 150i32, 16i32, 84i32, 56i32);
    let shown: Vec<(&Lanes, Vec<&Trace>)> = groups
        .iter()
        .map(|g| {
            let step = g.traces.len().div_ceil(MAX_LANES).max(1);
            (g, g.traces.iter().step_by(step).collect())
        })
        .collect();
    let lanes: i32 = shown.iter().map(|(_, t)| t.len() as i32 + 1).sum();
    let height = top + lanes.max(1) * lane_h + bottom;
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (width as u32, height as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        text(&root, title, (width / 2, 20), 18, HPos::Center, &BLACK)?;

        let end = groups
            .iter()
            .flat_map(|g| &g.traces)
            .filter_map(|t| {
                t.done_ms
                    .or(t.first_byte_ms)
                    .or(t.connected_ms)
                    .or(t.start_ms)
            })
            .fold(1e-3f64, f64::max)
            * 1.02;
        let x0 = label_w;
        let x1 = width - 30;
        let px = |ms: f64| x0 + ((ms.max(0.0) / end) * (x1 - x0) as f64).round() as i32;

        let legend = [
            ("connecting", CONNECTING),
            ("waiting for the first byte", WAITING),
            ("reading", READING),
            ("failed", FAILED),
        ];
        let mut x = x0;
        for (name, c) in legend {
            rect(&root, (x, 42), (x + 14, 54), c.filled())?;
            text(&root, name, (x + 20, 48), 12, HPos::Left, &BLACK)?;
            x += 40 + 7 * name.len() as i32;
        }

        let plot_bottom = top + lanes * lane_h;
        let step = nice_step(end, 8.0);
        let mut tick = 0.0;
        while tick <= end {
            let x = px(tick);
            root.draw(&PathElement::new(
                vec![(x, top - 4), (x, plot_bottom)],
                GRID,
            ))
            .map_err(err)?;
            text(
                &root,
                &format!("{tick:.0}"),
                (x, plot_bottom + 12),
                11,
                HPos::Center,
                &BLACK,
            )?;
            tick += step;
        }
        text(
            &root,
            "ms since the run started",
            ((x0 + x1) / 2, plot_bottom + 34),
            12,
            HPos::Center,
            &BLACK,
        )?;

        let mut row = 0;
        for (g, traces) in &shown {
            let y = top + row * lane_h;
            text(&root, &g.name, (8, y + lane_h / 2), 13, HPos::Left, &BLACK)?;
            if traces.len() < g.traces.len() {
                text(
                    &root,
                    &format!(
                        "every {}th of {} pages",
                        g.traces.len().div_ceil(MAX_LANES),
                        g.traces.len()
                    ),
                    (x0 + 4, y + lane_h / 2),
                    11,
                    HPos::Left,
                    &RGBColor(90, 90, 90),
                )?;
            }
            row += 1;
            for t in traces {
                let y = top + row * lane_h;
                row += 1;
                text(
                    &root,
                    &format!("page {}", t.page),
                    (x0 - 6, y + lane_h / 2),
                    11,
                    HPos::Right,
                    &BLACK,
                )?;
                let Some(start) = t.start_ms else { continue };
                let done = t.done_ms.unwrap_or(end);
                let (a, b) = (y + 3, y + lane_h - 3);
                let phases = [
                    (start, t.connected_ms.unwrap_or(done), CONNECTING),
                    (
                        t.connected_ms.unwrap_or(done),
                        t.first_byte_ms.unwrap_or(done),
                        WAITING,
                    ),
                    (t.first_byte_ms.unwrap_or(done), done, READING),
                ];
                for (from, to, c) in phases {
                    if to > from {
                        rect(
                            &root,
                            (px(from), a),
                            (px(to).max(px(from) + 1), b),
                            c.filled(),
                        )?;
                    }
                }
                if !t.is_ok() {
                    rect(
                        &root,
                        (px(done) - 2, a - 1),
                        (px(done) + 2, b + 1),
                        FAILED.filled(),
                    )?;
                }
            }
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_labels() {
        assert_eq!(nice_step(1.0, 5.0), 0.2);
        assert_eq!(nice_step(1050.0, 8.0), 200.0);
    }

    #[test]
    fn charts_are_written_as_svg() {
        let rows = vec![
            Bar {
                label: "sync_blocking / blocking".into(),
                value: Some(1.0),
                note: "1002 ms".into(),
                tutorial: Some(1.0),
                tutorial_note: "4.5 s".into(),
            },
            Bar {
                label: "not measured".into(),
                value: None,
                note: "filtered out".into(),
                tutorial: None,
                tutorial_note: String::new(),
            },
        ];
        let line = Line {
            label: "N x cpu".into(),
            value: 1.5,
        };
        let svg = bars(
            "t",
            "time / blocking time",
            ["ours", "tutorial"],
            &rows,
            &[line],
            Some(0.5),
        )
        .unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("sync_blocking / blocking"));
        assert!(svg.contains("N x cpu"));
        // past the axis's end: the bar stops there and its note says so
        assert!(svg.contains("→ 1002 ms"), "{svg}");

        let s = Series {
            name: "a / b".into(),
            color: 0,
            marker: 1,
            measured: vec![(10.0, 100.0), (100.0, 110.0)],
            estimated: vec![(1000.0, 1000.0)],
        };
        assert!(loglog("t", "N", "ms", &[s], &[]).unwrap().contains("a / b"));
        // no data at all still draws axes
        assert!(loglog("t", "N", "ms", &[], &[])
            .unwrap()
            .starts_with("<svg"));
    }
}
