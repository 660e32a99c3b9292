//! The benchmarks' plots, as SVG files beside their tables: a timeline of
//! the client's replies around a failure (which node answered when), and a
//! strip chart of every run's value per case. Written by hand: two chart
//! shapes do not justify a plotting library and its font stack.

use std::fmt::Write as _;

/// One lane of a timeline: the replies a client got, by time from the
/// failure (milliseconds) and the name of who answered.
pub struct Lane {
    /// What the lane shows (a setup, and the run it is).
    pub label: String,
    /// (milliseconds from the failure, who answered).
    pub replies: Vec<(f64, String)>,
}

/// The colours of the answering nodes, in the order they first appear.
const PALETTE: [&str; 6] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];

const WIDTH: f64 = 900.0;
const LEFT: f64 = 300.0;
const RIGHT: f64 = 30.0;
const ROW: f64 = 38.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;

/// A timeline of `lanes` around the failure (at 0, a red line), one panel
/// per range of `ranges` (milliseconds from, to: a close look and the whole
/// story): a dot per reply, coloured by who answered; the gap after the
/// line is the outage.
pub fn timeline(title: &str, lanes: &[Lane], ranges: &[(f64, f64)]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for (_, name) in lanes.iter().flat_map(|l| &l.replies) {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    let colour = |name: &str| PALETTE[names.iter().position(|n| *n == name).unwrap_or(0) % PALETTE.len()];
    let panel = ROW * lanes.len() as f64 + BOTTOM;
    let height = TOP + panel * ranges.len() as f64 + 20.0;
    let mut svg = open(title, height);
    for (p, &(from_ms, to_ms)) in ranges.iter().enumerate() {
        let top = TOP + panel * p as f64;
        let x = |ms: f64| LEFT + (ms - from_ms) / (to_ms - from_ms) * (WIDTH - LEFT - RIGHT);
        for (i, lane) in lanes.iter().enumerate() {
            let y = top + ROW * (i as f64 + 0.5);
            label(&mut svg, y, &lane.label);
            let _ = writeln!(
                svg,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/>"##,
                WIDTH - RIGHT
            );
            for (ms, name) in lane.replies.iter().filter(|(ms, _)| (from_ms..=to_ms).contains(ms)) {
                let _ = writeln!(
                    svg,
                    r#"<circle cx="{:.1}" cy="{y:.1}" r="2.5" fill="{}"/>"#,
                    x(*ms),
                    colour(name)
                );
            }
        }
        let bottom = top + ROW * lanes.len() as f64;
        let _ = writeln!(
            svg,
            r##"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{bottom}" stroke="#d62728" stroke-width="1.5"/><text x="{0:.1}" y="{2}" text-anchor="middle" fill="#d62728">leader killed</text>"##,
            x(0.0),
            top - 4.0,
            top - 8.0
        );
        axis(&mut svg, bottom, &ticks(from_ms, to_ms), x, "milliseconds from the failure");
    }
    for (i, name) in names.iter().enumerate() {
        let lx = LEFT + 110.0 * i as f64;
        let ly = height - 14.0;
        let _ = writeln!(
            svg,
            r#"<circle cx="{lx}" cy="{ly}" r="4" fill="{}"/><text x="{}" y="{ly}" dominant-baseline="middle">{}</text>"#,
            colour(name),
            lx + 8.0,
            escape(name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// A row's label, right-aligned before the plot; what follows ` (` goes on a
/// second, smaller line.
fn label(svg: &mut String, y: f64, text: &str) {
    let x = LEFT - 10.0;
    let (first, second) = match text.split_once(" (") {
        Some((first, rest)) => (first, Some(format!("({rest}"))),
        None => (text, None),
    };
    match second {
        Some(second) => {
            let _ = writeln!(
                svg,
                r#"<text x="{x}" y="{:.1}" text-anchor="end">{}</text>"#,
                y - 2.0,
                escape(first)
            );
            let _ = writeln!(
                svg,
                r##"<text x="{x}" y="{:.1}" text-anchor="end" font-size="10" fill="#555">{}</text>"##,
                y + 10.0,
                escape(&second)
            );
        }
        None => {
            let _ = writeln!(
                svg,
                r#"<text x="{x}" y="{y:.1}" text-anchor="end" dominant-baseline="middle">{}</text>"#,
                escape(text)
            );
        }
    }
}

/// One row of a strip chart: its label and every run's value.
pub struct Strip {
    /// The case (setup, shape...).
    pub label: String,
    /// One value per run.
    pub values: Vec<f64>,
}

/// A strip chart: a dot per run and a bar at the median, per row, on a
/// logarithmic axis of `unit` (the cases differ by orders of magnitude).
pub fn strips(title: &str, unit: &str, rows: &[Strip]) -> String {
    let finite = || rows.iter().flat_map(|r| &r.values).copied().filter(|v| v.is_finite() && *v > 0.0);
    let low = finite().fold(f64::INFINITY, f64::min);
    let high = finite().fold(0.0, f64::max);
    let (low, high) = if low.is_finite() { (low / 1.5, high * 1.5) } else { (1.0, 10.0) };
    let (from, to) = (low.log10().floor(), high.log10().ceil().max(low.log10().floor() + 1.0));
    let x = |v: f64| LEFT + (v.max(1e-9).log10() - from) / (to - from) * (WIDTH - LEFT - RIGHT);
    let height = TOP + ROW * rows.len() as f64 + BOTTOM;
    let mut svg = open(title, height);
    for (i, row) in rows.iter().enumerate() {
        let y = TOP + ROW * (i as f64 + 0.5);
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{y:.1}" text-anchor="end" dominant-baseline="middle">{}</text>"#,
            LEFT - 10.0,
            escape(&row.label)
        );
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/>"##,
            WIDTH - RIGHT
        );
        let mut values: Vec<f64> = row.values.iter().copied().filter(|v| v.is_finite() && *v > 0.0).collect();
        for v in &values {
            let _ = writeln!(
                svg,
                r##"<circle cx="{:.1}" cy="{y:.1}" r="3" fill="#1f77b4" fill-opacity="0.6"/>"##,
                x(*v)
            );
        }
        values.sort_by(f64::total_cmp);
        if let Some(median) = values.get(values.len() / 2) {
            let _ = writeln!(
                svg,
                r##"<line x1="{0:.1}" y1="{1:.1}" x2="{0:.1}" y2="{2:.1}" stroke="#d62728" stroke-width="2"/>"##,
                x(*median),
                y - 9.0,
                y + 9.0
            );
        }
    }
    let bottom = TOP + ROW * rows.len() as f64;
    let decades: Vec<f64> = (from as i32..=to as i32).map(|e| 10f64.powi(e)).collect();
    axis(&mut svg, bottom, &decades, x, &format!("{unit} (log scale; dots: runs, red: median)"));
    svg.push_str("</svg>\n");
    svg
}

fn open(title: &str, height: f64) -> String {
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, "\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    svg
}

/// The x axis at `y`, a tick at each of `ticks` (placed by `x`), and its name.
fn axis(svg: &mut String, y: f64, ticks: &[f64], x: impl Fn(f64) -> f64, name: &str) {
    let _ = writeln!(svg, r##"<line x1="{LEFT}" y1="{y}" x2="{}" y2="{y}" stroke="#333"/>"##, WIDTH - RIGHT);
    for &t in ticks {
        let _ = writeln!(
            svg,
            r##"<line x1="{0:.1}" y1="{y}" x2="{0:.1}" y2="{1}" stroke="#333"/><text x="{0:.1}" y="{2}" text-anchor="middle">{3}</text>"##,
            x(t),
            y + 4.0,
            y + 16.0,
            number(t)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        (LEFT + WIDTH - RIGHT) / 2.0,
        y + 32.0,
        escape(name)
    );
}

/// About ten round ticks from `from` to `to`.
fn ticks(from: f64, to: f64) -> Vec<f64> {
    let raw = (to - from) / 10.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(raw);
    let first = (from / step).ceil() as i64;
    let last = (to / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

fn number(v: f64) -> String {
    if v.abs() >= 1.0 || v == 0.0 { format!("{v:.0}") } else { format!("{v}") }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeline_has_a_dot_per_reply_in_range_coloured_by_node_and_escapes_labels() {
        let lanes = [
            Lane {
                label: "ferrolb <defaults> & more".into(),
                replies: vec![(-20.0, "node1".into()), (-10.0, "node1".into()), (60.0, "node2".into())],
            },
            Lane {
                label: "keepalived".into(),
                replies: vec![(-10.0, "node1".into()), (9000.0, "node3".into())],
            },
        ];
        let svg = timeline("L2 failover", &lanes, &[(-100.0, 500.0)]);
        assert_eq!(
            svg.matches("<circle").count(),
            4 + 3,
            "4 replies in range and a legend dot per node:\n{svg}"
        );
        assert!(svg.contains("ferrolb &lt;defaults&gt; &amp; more"), "{svg}");
        assert_eq!(svg.matches(PALETTE[1]).count(), 2, "node2's reply and legend:\n{svg}");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        // A second, wider panel shows the late reply too.
        let svg = timeline("L2 failover", &lanes, &[(-100.0, 500.0), (-100.0, 10000.0)]);
        assert_eq!(svg.matches("<circle").count(), 4 + 5 + 3, "{svg}");
    }

    #[test]
    fn a_strip_chart_marks_every_run_and_the_median_on_a_log_axis() {
        let rows = [
            Strip { label: "BFD 50 ms".into(), values: vec![190.0, 200.0, 210.0] },
            Strip { label: "hold time".into(), values: vec![8000.0, f64::INFINITY] },
        ];
        let svg = strips("BGP failover", "milliseconds", &rows);
        assert_eq!(svg.matches("<circle").count(), 4, "an infinite run has no dot:\n{svg}");
        assert_eq!(svg.matches(r##"stroke="#d62728""##).count(), 2, "a median per row:\n{svg}");
        for decade in [">100<", ">1000<", ">10000<"] {
            assert!(svg.contains(decade), "{decade} tick missing:\n{svg}");
        }
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(
            ticks(-500.0, 500.0),
            vec![-500.0, -400.0, -300.0, -200.0, -100.0, 0.0, 100.0, 200.0, 300.0, 400.0, 500.0]
        );
        assert_eq!(ticks(0.0, 4000.0).len(), 9);
    }
}
