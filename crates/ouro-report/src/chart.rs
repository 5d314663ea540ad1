//! Line and grouped-bar charts rendered to PNG bytes.

use anyhow::{anyhow, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::text::TextBitmap;

pub const WIDTH: u32 = 960;
pub const HEIGHT: u32 = 420;

/// Tableau 10: distinguishable, and readable for the common colour blindnesses.
pub const PALETTE: [RGBColor; 10] = [
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

pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
    /// Drawn dashed: the control arm, next to the main arm's solid line.
    pub dashed: bool,
}

/// How the y axis maps and labels values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum YAxis {
    #[default]
    Linear,
    /// Shares in 0..=1 labelled as percentages, as the tables show them.
    Percent,
    /// Base-10 logarithmic: losses that fall by orders of magnitude over
    /// rounds stay readable. Values ≤ 0 are left out.
    Log,
}

/// A line chart; `rounds_on_x` labels only integer x ticks, as `round N`.
#[derive(Debug, Clone)]
pub struct LineChart {
    pub title: String,
    pub x_desc: String,
    pub y_desc: String,
    pub series: Vec<Series>,
    pub rounds_on_x: bool,
    pub y_axis: YAxis,
}

/// Three significant digits, in plain notation from 0.001 up.
fn significant(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        return "0".into();
    }
    if !(1e-3..1e6).contains(&a) {
        return format!("{v:.2e}");
    }
    let decimals = (2 - a.log10().floor() as i32).max(0) as usize;
    format!("{v:.decimals$}")
}

/// A log-axis tick: the value 10^`e`.
fn log_tick(e: &f64) -> String {
    significant(10f64.powf(*e))
}

/// Labels for a linear axis spanning `lo..hi`: enough decimals that
/// neighbouring ticks (about a tenth of the span apart) read differently.
fn linear_tick(lo: f64, hi: f64) -> impl Fn(&f64) -> String {
    let step = ((hi - lo) / 10.0).abs();
    let big = lo.abs().max(hi.abs());
    let decimals = if step > 0.0 {
        (-step.log10().floor()).clamp(0.0, 12.0) as usize
    } else {
        2
    };
    move |v: &f64| {
        if big > 0.0 && big < 1e-3 {
            format!("{v:.2e}")
        } else {
            format!("{v:.decimals$}")
        }
    }
}

/// Whole percents where the tick is one, else a decimal: 7.5% is not 8%.
fn percent_tick(v: &f64) -> String {
    let p = v * 100.0;
    if (p - p.round()).abs() < 1e-6 {
        format!("{:.0}%", p)
    } else {
        format!("{p:.1}%")
    }
}

fn draw_err<E: std::fmt::Debug>(what: &str) -> impl Fn(E) -> anyhow::Error + '_ {
    move |e| anyhow!("drawing {what}: {e:?}")
}

/// Pads a value range so lines do not sit on the frame; a flat range gets
/// a unit-sized window so the chart still has a scale.
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    if (hi - lo).abs() < 1e-12 {
        let d = if lo.abs() > 1e-9 { lo.abs() * 0.1 } else { 0.5 };
        // Rates and counts are never negative: a run where nothing passes
        // draws 0 at the bottom, not an axis from -0.5.
        let bottom = if lo >= 0.0 { (lo - d).max(0.0) } else { lo - d };
        return (bottom, hi + d);
    }
    let pad = (hi - lo) * 0.08;
    let lo2 = if lo >= 0.0 && lo - pad < 0.0 {
        0.0
    } else {
        lo - pad
    };
    (lo2, hi + pad)
}

fn integer_tick(x: &f64) -> String {
    if (x - x.round()).abs() < 1e-6 {
        format!("{}", x.round() as i64)
    } else {
        String::new()
    }
}

/// Steps are whole numbers; keep fractions only for sub-unit spacings.
fn step_tick(x: &f64) -> String {
    if (x - x.round()).abs() < 1e-6 {
        format!("{}", x.round() as i64)
    } else {
        format!("{x:.1}")
    }
}

fn encode_png(buf: &[u8], w: u32, h: u32) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().context("encoding PNG header")?;
        writer.write_image_data(buf).context("encoding PNG data")?;
    }
    Ok(out)
}

fn with_canvas(
    what: &str,
    draw: impl FnOnce(&DrawingArea<TextBitmap<'_>, Shift>) -> Result<()>,
) -> Result<Vec<u8>> {
    let mut buf = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = TextBitmap::with_buffer(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err(what))?;
        draw(&root)?;
        root.present().map_err(draw_err(what))?;
    }
    encode_png(&buf, WIDTH, HEIGHT)
}

/// Renders `chart` as PNG bytes.
pub fn line_png(chart: &LineChart) -> Result<Vec<u8>> {
    if chart.y_axis == YAxis::Log {
        // Plot log10(y) on a linear axis and label the ticks with 10^tick.
        let mut linear = chart.clone();
        linear.y_axis = YAxis::Linear;
        for s in &mut linear.series {
            s.points = s
                .points
                .iter()
                .filter(|p| p.1 > 0.0)
                .map(|&(x, y)| (x, y.log10()))
                .collect();
        }
        linear.series.retain(|s| !s.points.is_empty());
        return draw_lines(&linear, Some(&log_tick));
    }
    if chart.y_axis == YAxis::Percent {
        return draw_lines(chart, Some(&percent_tick));
    }
    draw_lines(chart, None)
}

fn draw_lines(chart: &LineChart, y_tick: Option<&dyn Fn(&f64) -> String>) -> Result<Vec<u8>> {
    let what = chart.title.as_str();
    let pts = chart.series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let (x0, x1) = if chart.rounds_on_x {
        (x0 - 0.3, x1 + 0.3)
    } else if x1 > x0 {
        (x0, x1)
    } else {
        (x0 - 1.0, x1 + 1.0)
    };
    let (y0, mut y1) = padded(y0, y1);
    let linear = linear_tick(y0, y1);
    let y_tick: &dyn Fn(&f64) -> String = match y_tick {
        Some(f) => f,
        None => &linear,
    };
    // Headroom for the legend box in the upper right, so it does not cover
    // the latest rounds, which are usually the highest values.
    y1 += (y1 - y0) * 0.09 * chart.series.len() as f64;
    with_canvas(what, |root| {
        let mut c = ChartBuilder::on(root)
            .caption(&chart.title, ("sans-serif", 22))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(draw_err(what))?;
        let mut mesh = c.configure_mesh();
        mesh.x_desc(&chart.x_desc)
            .y_desc(&chart.y_desc)
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .light_line_style(RGBColor(235, 235, 235));
        mesh.y_label_formatter(&y_tick);
        if chart.rounds_on_x {
            // Capped: plotters lays out every label asked for, and a report whose round
            // numbers span 4e9 asked for 1.7e10 of them (minutes, then out of memory).
            let span = (x1 - x0).ceil().min(1e3) as usize;
            mesh.x_labels((span * 4).clamp(4, 40))
                .x_label_formatter(&integer_tick);
        } else {
            mesh.x_label_formatter(&step_tick);
        }
        mesh.draw().map_err(draw_err(what))?;
        for s in &chart.series {
            let style = ShapeStyle::from(&s.color).stroke_width(2);
            let anno = if s.dashed {
                c.draw_series(DashedLineSeries::new(s.points.iter().copied(), 8, 5, style))
                    .map_err(draw_err(what))?
            } else {
                c.draw_series(LineSeries::new(s.points.iter().copied(), style))
                    .map_err(draw_err(what))?
            };
            let color = s.color;
            let dashed = s.dashed;
            anno.label(s.label.as_str()).legend(move |(x, y)| {
                let st = ShapeStyle::from(&color).stroke_width(2);
                if dashed {
                    PathElement::new(vec![(x, y), (x + 8, y)], st)
                } else {
                    PathElement::new(vec![(x, y), (x + 20, y)], st)
                }
            });
            // Markers make single-point series (one round) visible.
            if chart.rounds_on_x || s.points.len() < 3 {
                let fill = if s.dashed {
                    ShapeStyle::from(&WHITE).filled()
                } else {
                    ShapeStyle::from(&s.color).filled()
                };
                c.draw_series(s.points.iter().map(|&p| Circle::new(p, 4, fill)))
                    .map_err(draw_err(what))?;
                c.draw_series(s.points.iter().map(|&p| Circle::new(p, 4, style)))
                    .map_err(draw_err(what))?;
            }
        }
        if chart.series.len() > 1 || chart.series.iter().any(|s| !s.label.is_empty()) {
            c.configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 200, 200))
                .label_font(("sans-serif", 14))
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(draw_err(what))?;
        }
        Ok(())
    })
}

/// Grouped bars: one group per category (`rounds`), one bar per series.
pub fn bars_png(
    title: &str,
    y_desc: &str,
    groups: &[String],
    series: &[(String, Vec<f64>)],
) -> Result<Vec<u8>> {
    let n = groups.len().max(1);
    let ymax = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0f64, f64::max);
    let ymax = if ymax > 0.0 { ymax * 1.12 } else { 1.0 };
    with_canvas(title, |root| {
        let mut c = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 22))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..ymax)
            .map_err(draw_err(title))?;
        let group_label = |x: &f64| -> String {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                groups.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        c.configure_mesh()
            .disable_x_mesh()
            .x_labels(n * 4 + 1)
            .x_label_formatter(&group_label)
            .y_desc(y_desc)
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(draw_err(title))?;
        let k = series.len().max(1) as f64;
        let width = 0.8 / k;
        for (si, (label, values)) in series.iter().enumerate() {
            let col = color(si);
            let bars = values.iter().enumerate().map(|(gi, &v)| {
                let left = gi as f64 - 0.4 + si as f64 * width;
                Rectangle::new([(left, 0.0), (left + width * 0.92, v)], col.filled())
            });
            c.draw_series(bars)
                .map_err(draw_err(title))?
                .label(label.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], col.filled()));
        }
        c.configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font(("sans-serif", 14))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(draw_err(title))?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_say_percent_and_powers_of_ten() {
        assert_eq!(percent_tick(&0.25), "25%");
        assert_eq!(percent_tick(&0.075), "7.5%");
        assert_eq!(log_tick(&0.0), "1.00");
        assert_eq!(log_tick(&2.0), "100");
        assert_eq!(log_tick(&-2.0), "0.0100");
        assert_eq!(significant(0.794), "0.794");
        assert_eq!(significant(2.51), "2.51");
        let lr = linear_tick(0.00018, 0.00023);
        assert_ne!(lr(&0.00019), lr(&0.0002));
        let rate = linear_tick(0.0, 3.5);
        assert_eq!(
            (rate(&0.5), rate(&3.0)),
            ("0.5".to_string(), "3.0".to_string())
        );
    }

    #[test]
    fn a_log_chart_of_non_positive_values_still_draws() {
        let chart = LineChart {
            title: "loss".into(),
            x_desc: "step".into(),
            y_desc: "loss".into(),
            series: vec![Series {
                label: "round 0".into(),
                points: vec![(1.0, 0.0), (2.0, 0.5), (3.0, 0.05)],
                color: color(0),
                dashed: false,
            }],
            rounds_on_x: false,
            y_axis: YAxis::Log,
        };
        assert_eq!(&line_png(&chart).unwrap()[..4], b"\x89PNG");
    }

    #[test]
    fn axes_of_non_negative_values_start_at_zero() {
        assert_eq!(padded(0.0, 0.0), (0.0, 0.5));
        let (lo, hi) = padded(2.0, 2.0);
        assert!((lo - 1.8).abs() < 1e-12 && (hi - 2.2).abs() < 1e-12);
        assert_eq!(padded(0.01, 1.0).0, 0.0);
        let (lo, hi) = padded(-1.0, -1.0);
        assert!((lo + 1.1).abs() < 1e-12 && (hi + 0.9).abs() < 1e-12);
    }

    #[test]
    fn rounds_spanning_the_u32_range_draw_a_bounded_number_of_labels() {
        // Before the cap this asked plotters for 1.7e10 labels: minutes, then out of memory.
        let png = line_png(&LineChart {
            title: "pass@1".into(),
            x_desc: "round".into(),
            y_desc: "pass@1".into(),
            series: vec![Series {
                label: "main".into(),
                points: vec![(0.0, 0.5), (u32::MAX as f64, 0.6)],
                color: color(0),
                dashed: false,
            }],
            rounds_on_x: true,
            y_axis: YAxis::Linear,
        })
        .unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }

    #[test]
    fn a_line_chart_is_a_png_with_ink() {
        let png = line_png(&LineChart {
            title: "loss".into(),
            x_desc: "step".into(),
            y_desc: "loss".into(),
            series: vec![Series {
                label: "round 0".into(),
                points: vec![(1.0, 3.0), (2.0, 2.0), (3.0, 1.5)],
                color: color(0),
                dashed: false,
            }],
            rounds_on_x: false,
            y_axis: YAxis::Linear,
        })
        .unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let dec = png::Decoder::new(&png[..]);
        let mut reader = dec.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        let dark = buf.chunks(3).filter(|p| p.iter().all(|&c| c < 100)).count();
        // Axis lines plus glyphs of the caption, ticks and descriptions.
        assert!(dark > 2000, "only {dark} dark pixels: text did not render");
    }
}
