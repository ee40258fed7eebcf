//! Line charts with a title, axis labels, tick labels and a legend, shared
//! by the examples that write PNGs (`train_mlp`, `lorenz_fit`, `rnn`).
//!
//! plotters draws text through its `ab_glyph` feature with a font that the
//! program registers, so no system fonts are needed: the font is a subset of
//! DejaVu Sans bundled in `examples/assets/` (licence beside it).

// Each example uses a part of this module.
#![allow(dead_code)]

use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::error::Error;
use std::sync::Once;

/// The font family name the charts use.
pub const FONT: &str = "sans-serif";

/// The bundled font: DejaVu Sans, printable ASCII, Greek and a few symbols.
static FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans-subset.ttf");

/// Registers the bundled font with plotters (once per process).
pub fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is bundled and known to parse; a failure would only
        // leave the charts without text, which the caller cannot fix.
        if plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_err() {
            eprintln!("warning: the bundled font did not load; plots will have no text");
        }
    });
}

/// How a series is drawn.
#[derive(Clone, Copy)]
pub enum Mark {
    /// A polyline of the given stroke width.
    Line(u32),
    /// Filled dots of the given radius.
    Dots(u32),
}

/// One named series of a chart.
pub struct Series {
    /// The legend entry (no legend when every series' label is empty).
    pub label: String,
    /// The points, in x order for lines.
    pub points: Vec<(f64, f64)>,
    /// Its colour.
    pub color: RGBColor,
    /// Lines or dots.
    pub mark: Mark,
}

impl Series {
    /// A line series.
    pub fn line(label: &str, points: Vec<(f64, f64)>, color: RGBColor, width: u32) -> Series {
        Series {
            label: label.to_string(),
            points,
            color,
            mark: Mark::Line(width),
        }
    }

    /// A dot series.
    pub fn dots(label: &str, points: Vec<(f64, f64)>, color: RGBColor, radius: u32) -> Series {
        Series {
            label: label.to_string(),
            points,
            color,
            mark: Mark::Dots(radius),
        }
    }
}

/// The text of one chart.
pub struct Labels<'a> {
    /// Drawn above the chart.
    pub title: &'a str,
    /// Under the x axis.
    pub x: &'a str,
    /// Beside the y axis.
    pub y: &'a str,
}

/// The y axis: linear, or logarithmic (base 10) for positive data such as
/// losses.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum YScale {
    /// Linear.
    Linear,
    /// Logarithmic; values ≤ 0 are left out.
    Log,
}

/// Draws `series` as one chart filling `area`, with the title, axis
/// labels, tick labels and (for named series) a legend.
pub fn line_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    labels: &Labels<'_>,
    series: &[Series],
    scale: YScale,
) -> Result<(), Box<dyn Error>>
where
    DB::ErrorType: 'static,
{
    register_font();
    let keep = |p: &&(f64, f64)| {
        p.0.is_finite() && p.1.is_finite() && (scale == YScale::Linear || p.1 > 0.0)
    };
    let pts = || series.iter().flat_map(|s| s.points.iter()).filter(keep);
    let (mut x0, mut x1) = pts().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (mut y0, mut y1) = pts().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 1.0, 2.0);
    }
    if x1 - x0 <= 0.0 {
        x1 = x0 + 1.0;
    }
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(labels.title, (FONT, 20))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(62);
    match scale {
        YScale::Linear => {
            let pad = ((y1 - y0) * 0.05).max(1e-9);
            let chart = builder.build_cartesian_2d(x0..x1, y0 - pad..y1 + pad)?;
            draw_chart(chart, labels, series, keep)
        }
        YScale::Log => {
            let (lo, hi) = if y1 / y0 < 1.5 {
                (y0 / 1.25, y1 * 1.25)
            } else {
                (y0 / 1.1, y1 * 1.1)
            };
            let (bold, light) = log_ticks(lo, hi);
            let y = (lo..hi)
                .log_scale()
                .with_key_points(bold)
                .with_light_points(light);
            let chart = builder.build_cartesian_2d(x0..x1, y)?;
            draw_chart(chart, labels, series, keep)
        }
    }
}

/// The mesh, the series and the legend of [`line_chart`], for either y axis.
fn draw_chart<'a, DB, Y>(
    mut chart: ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    labels: &Labels<'_>,
    series: &[Series],
    keep: impl Fn(&&(f64, f64)) -> bool,
) -> Result<(), Box<dyn Error>>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let fmt = |v: &f64| format_tick(*v);
    chart
        .configure_mesh()
        .x_desc(labels.x)
        .y_desc(labels.y)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 15))
        .max_light_lines(2)
        .light_line_style(RGBColor(238, 238, 238))
        .x_label_formatter(&fmt)
        .y_label_formatter(&fmt)
        .draw()?;

    for s in series {
        let color = s.color;
        let pts: Vec<(f64, f64)> = s.points.iter().filter(&keep).copied().collect();
        let drawn = match s.mark {
            Mark::Line(w) => chart.draw_series(LineSeries::new(pts, color.stroke_width(w)))?,
            Mark::Dots(r) => chart.draw_series(
                pts.into_iter()
                    .map(move |p| Circle::new(p, r, color.filled())),
            )?,
        };
        if !s.label.is_empty() {
            let mark = s.mark;
            drawn.label(s.label.as_str()).legend(move |(x, y)| {
                // One element type for both marks: a line (or nothing) and a dot (or nothing).
                let (w, r, dot) = match mark {
                    Mark::Line(w) => (w, 0, color.mix(0.0)),
                    Mark::Dots(r) => (0, r.max(2), color.to_rgba()),
                };
                let line = if w > 0 {
                    color.to_rgba()
                } else {
                    color.mix(0.0)
                };
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (18, 0)], line.stroke_width(w.max(1)))
                    + Circle::new((9, 0), r, dot.filled())
            });
        }
    }
    if series.iter().any(|s| !s.label.is_empty()) {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(160, 160, 160))
            .draw()?;
    }
    Ok(())
}

/// Tick marks for a log axis over `lo..hi`: labelled ones at 1, 2 and 5
/// times the powers of ten (only the powers when the range spans more than
/// three decades), and grid lines at every integer multiple.
pub fn log_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    let mults: &[f64] = if hi / lo > 1e3 {
        &[1.0]
    } else {
        &[1.0, 2.0, 5.0]
    };
    let (mut bold, mut light) = (Vec::new(), Vec::new());
    let mut decade = 10f64.powf(lo.log10().floor());
    while decade <= hi {
        for m in 1..10 {
            let v = decade * m as f64;
            if (lo..=hi).contains(&v) {
                if mults.contains(&(m as f64)) {
                    bold.push(v);
                } else {
                    light.push(v);
                }
            }
        }
        decade *= 10.0;
    }
    if bold.len() < 2 {
        // A narrow range: label every multiple, or failing that the ends.
        bold.append(&mut light);
        bold.sort_by(f64::total_cmp);
        if bold.len() < 2 {
            bold = vec![lo, hi];
        }
    }
    (bold, light)
}

/// A short tick label: at most 4 significant digits, no trailing zeros.
pub fn format_tick(v: f64) -> String {
    // Key points computed as sums can miss zero by a rounding error.
    if v.abs() < 1e-12 {
        return "0".to_string();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        let e = format!("{v:.1e}");
        return e.replace(".0e", "e");
    }
    let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}
