//! SVG charts drawn on the server: vertical and horizontal (optionally diverging) bar charts,
//! histograms over numeric bins, line charts (linear or log scale, with an optional diagonal),
//! scatter plots and heat maps.
//!
//! Every chart is a `<figure class="chart" id="chart-<id>">` with a caption and one inline
//! `<svg>`; every data mark (bar, point, cell, line) has class `mark` and a `<title>` with its
//! label and value, so a browser shows it on hover and a test can count marks against the
//! data. The `<svg>` carries `data-marks` with the number of marks drawn. All text is escaped.
//! No styles are inline (the page's Content-Security-Policy forbids them): colours and fonts
//! come from the stylesheet through classes.

use super::layout::esc;
use std::fmt::Write as _;

const W: f64 = 640.0;
const H: f64 = 300.0;

/// Plot area margins: left, right, top, bottom.
#[derive(Debug, Clone, Copy)]
struct Margins(f64, f64, f64, f64);

const DEFAULT_MARGINS: Margins = Margins(60.0, 16.0, 14.0, 52.0);

/// A linear (or log10) map from data to pixels.
#[derive(Debug, Clone, Copy)]
struct Scale {
    d0: f64,
    d1: f64,
    r0: f64,
    r1: f64,
    log: bool,
}

impl Scale {
    fn new(d0: f64, d1: f64, r0: f64, r1: f64) -> Self {
        let (d0, d1) = if d1 > d0 { (d0, d1) } else { (d0 - 0.5, d0 + 0.5) };
        Scale { d0, d1, r0, r1, log: false }
    }

    fn log(d0: f64, d1: f64, r0: f64, r1: f64) -> Self {
        let (a, b) = (d0.max(1e-9).log10().floor(), d1.max(1e-9).log10().ceil());
        Scale { d0: a, d1: if b > a { b } else { a + 1.0 }, r0, r1, log: true }
    }

    fn map(&self, v: f64) -> f64 {
        let v = if self.log { v.max(1e-9).log10() } else { v };
        self.r0 + (v - self.d0) / (self.d1 - self.d0) * (self.r1 - self.r0)
    }

    fn ticks(&self, n: usize) -> Vec<f64> {
        if self.log {
            return (self.d0 as i32..=self.d1 as i32).map(|e| 10f64.powi(e)).collect();
        }
        nice_ticks(self.d0, self.d1, n)
    }
}

/// Round tick values (steps of 1, 2 or 5 × 10^k) covering `[lo, hi]`.
pub fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo || n == 0 {
        return vec![lo];
    }
    let raw = (hi - lo) / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// A tick label without trailing zeros.
fn tick(v: f64) -> String {
    if v.abs() >= 1e6 {
        return format!("{:.1}M", v / 1e6).replace(".0M", "M");
    }
    if v.abs() >= 1e4 {
        return format!("{:.0}k", v / 1e3);
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".to_string() } else { s.to_string() }
}

/// A value in a mark's title.
fn val(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{v:.0}") } else { format!("{v:.4}") }
}

/// An SVG under construction.
struct Svg {
    id: String,
    title: String,
    body: String,
    marks: usize,
    m: Margins,
    h: f64,
}

impl Svg {
    fn new(id: &str, title: &str, m: Margins) -> Self {
        Svg { id: id.to_string(), title: title.to_string(), body: String::new(), marks: 0, m, h: H }
    }

    fn with_height(mut self, h: f64) -> Self {
        self.h = h;
        self
    }

    fn x0(&self) -> f64 {
        self.m.0
    }
    fn x1(&self) -> f64 {
        W - self.m.1
    }
    fn y0(&self) -> f64 {
        self.h - self.m.3
    }
    fn y1(&self) -> f64 {
        self.m.2
    }

    fn rect(&mut self, class: &str, x: f64, y: f64, w: f64, h: f64, label: &str) {
        self.marks += 1;
        let _ = write!(
            self.body,
            "<rect class=\"{class}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\"><title>{}</title></rect>",
            esc(label)
        );
    }

    fn circle(&mut self, x: f64, y: f64, r: f64, label: &str) {
        self.marks += 1;
        let _ = write!(
            self.body,
            "<circle class=\"mark\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{r}\"><title>{}</title></circle>",
            esc(label)
        );
    }

    fn text(&mut self, class: &str, x: f64, y: f64, anchor: &str, s: &str) {
        let _ = write!(
            self.body,
            "<text class=\"{class}\" x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\">{}</text>",
            esc(s)
        );
    }

    fn line(&mut self, class: &str, x1: f64, y1: f64, x2: f64, y2: f64) {
        let _ =
            write!(self.body, "<line class=\"{class}\" x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\"/>");
    }

    /// Horizontal grid lines and labels for `ys`, and the axis titles.
    fn y_axis(&mut self, s: &Scale, label: &str) {
        for t in s.ticks(5) {
            let y = s.map(t);
            let (x0, x1) = (self.x0(), self.x1());
            self.line("grid", x0, y, x1, y);
            self.text("tick", x0 - 6.0, y + 4.0, "end", &tick(t));
        }
        let (x, y) = (14.0, (self.y0() + self.y1()) / 2.0);
        let _ = write!(
            self.body,
            "<text class=\"axis-label\" x=\"{x}\" y=\"{y:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 {x} {y:.1})\">{}</text>",
            esc(label)
        );
    }

    fn x_axis_numeric(&mut self, s: &Scale, label: &str) {
        let y0 = self.y0();
        for t in s.ticks(6) {
            let x = s.map(t);
            self.line("tickmark", x, y0, x, y0 + 4.0);
            self.text("tick", x, y0 + 16.0, "middle", &tick(t));
        }
        self.x_title(label);
    }

    fn x_title(&mut self, label: &str) {
        let (x, y) = ((self.x0() + self.x1()) / 2.0, self.h - 8.0);
        self.text("axis-label", x, y, "middle", label);
    }

    fn frame(&mut self) {
        let (x0, x1, y0, y1) = (self.x0(), self.x1(), self.y0(), self.y1());
        self.line("axis", x0, y0, x1, y0);
        self.line("axis", x0, y0, x0, y1);
    }

    fn finish(self) -> String {
        format!(
            "<figure class=\"chart\" id=\"chart-{id}\"><figcaption>{t}</figcaption>\
             <svg viewBox=\"0 0 {W} {h}\" width=\"{W}\" height=\"{h}\" role=\"img\" aria-label=\"{t}\" data-marks=\"{n}\">\
             {body}</svg></figure>",
            h = self.h,
            id = esc(&self.id),
            t = esc(&self.title),
            n = self.marks,
            body = self.body,
        )
    }
}

/// The "no data" stand-in for a chart.
fn empty(id: &str, title: &str, why: &str) -> String {
    format!(
        "<figure class=\"chart empty\" id=\"chart-{}\"><figcaption>{}</figcaption><p class=\"muted\">{}</p></figure>",
        esc(id),
        esc(title),
        esc(why)
    )
}

/// Vertical bars over categories, from zero.
pub fn bars(id: &str, title: &str, x_label: &str, y_label: &str, data: &[(String, f64)]) -> String {
    if data.is_empty() {
        return empty(id, title, "no data");
    }
    let mut svg = Svg::new(id, title, DEFAULT_MARGINS);
    let max = data.iter().map(|d| d.1).fold(0.0, f64::max);
    let ys = Scale::new(0.0, if max > 0.0 { max } else { 1.0 }, svg.y0(), svg.y1());
    svg.y_axis(&ys, y_label);
    let band = (svg.x1() - svg.x0()) / data.len() as f64;
    let every = (data.len() as f64 / 16.0).ceil().max(1.0) as usize;
    for (i, (label, v)) in data.iter().enumerate() {
        let x = svg.x0() + band * i as f64;
        let (y, base) = (ys.map(*v), ys.map(0.0));
        svg.rect("mark", x + band * 0.1, y.min(base), band * 0.8, (base - y).abs(), &format!("{label}: {}", val(*v)));
        if i % every == 0 {
            let y0 = svg.y0();
            svg.text("tick", x + band / 2.0, y0 + 16.0, "middle", label);
        }
    }
    svg.x_title(x_label);
    svg.frame();
    svg.finish()
}

/// Horizontal bars, one per label; negative values extend left of zero (diverging).
pub fn hbars(id: &str, title: &str, x_label: &str, data: &[(String, f64)]) -> String {
    if data.is_empty() {
        return empty(id, title, "no data");
    }
    let height = (data.len() as f64 * 20.0 + 60.0).max(H);
    let mut svg = Svg::new(id, title, Margins(170.0, 20.0, 10.0, 40.0)).with_height(height);
    let lo = data.iter().map(|d| d.1).fold(0.0, f64::min);
    let hi = data.iter().map(|d| d.1).fold(0.0, f64::max);
    let xs = Scale::new(lo, if hi > lo { hi } else { lo + 1.0 }, svg.x0(), svg.x1());
    let (top, bottom) = (svg.y1(), svg.y0());
    for t in xs.ticks(5) {
        let x = xs.map(t);
        svg.line("grid", x, top, x, bottom);
        svg.text("tick", x, bottom + 14.0, "middle", &tick(t));
    }
    let band = (bottom - top) / data.len() as f64;
    let zero = xs.map(0.0);
    for (i, (label, v)) in data.iter().enumerate() {
        let y = top + band * i as f64;
        let x = xs.map(*v);
        let class = if *v < 0.0 { "mark neg" } else { "mark" };
        svg.rect(
            class,
            x.min(zero),
            y + band * 0.15,
            (x - zero).abs().max(0.5),
            band * 0.7,
            &format!("{label}: {}", val(*v)),
        );
        let lx = svg.x0() - 6.0;
        svg.text("tick", lx, y + band / 2.0 + 4.0, "end", label);
    }
    svg.line("axis", zero, top, zero, bottom);
    svg.x_title(x_label);
    svg.finish()
}

/// Bars over numeric bins (`edges` has one more entry than `counts`).
pub fn histogram(id: &str, title: &str, x_label: &str, y_label: &str, edges: &[f64], counts: &[u64]) -> String {
    if counts.is_empty() || edges.len() != counts.len() + 1 {
        return empty(id, title, "no data");
    }
    let mut svg = Svg::new(id, title, DEFAULT_MARGINS);
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let ys = Scale::new(0.0, max, svg.y0(), svg.y1());
    let xs = Scale::new(edges[0], edges[edges.len() - 1], svg.x0(), svg.x1());
    svg.y_axis(&ys, y_label);
    for (i, c) in counts.iter().enumerate() {
        let (a, b) = (xs.map(edges[i]), xs.map(edges[i + 1]));
        let y = ys.map(*c as f64);
        let label = format!("[{}, {}): {c}", tick(edges[i]), tick(edges[i + 1]));
        svg.rect("mark", a + 0.5, y, (b - a - 1.0).max(0.5), ys.map(0.0) - y, &label);
    }
    svg.x_axis_numeric(&xs, x_label);
    svg.frame();
    svg.finish()
}

/// Options of [`lines`].
#[derive(Debug, Clone, Default)]
pub struct LineOpts {
    /// Log10 y axis (values must be positive).
    pub log_y: bool,
    /// Draw the y = x diagonal (ROC, predicted vs actual).
    pub diagonal: bool,
    /// Fixed x domain.
    pub x_domain: Option<(f64, f64)>,
    /// Fixed y domain.
    pub y_domain: Option<(f64, f64)>,
    /// Category labels at x positions, instead of numeric ticks.
    pub x_labels: Vec<(f64, String)>,
    /// Also draw each point as a circle mark.
    pub dots: bool,
}

/// A polyline through `points` (one mark; plus one per point with `dots`).
pub fn lines(id: &str, title: &str, x_label: &str, y_label: &str, points: &[(f64, f64)], opts: &LineOpts) -> String {
    let points: Vec<(f64, f64)> =
        points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite() && (!opts.log_y || *y > 0.0)).collect();
    if points.is_empty() {
        return empty(id, title, "no data");
    }
    let mut svg = Svg::new(id, title, DEFAULT_MARGINS);
    let (xl, xh) = opts.x_domain.unwrap_or_else(|| extent(points.iter().map(|p| p.0)));
    let (yl, yh) = opts.y_domain.unwrap_or_else(|| {
        let (lo, hi) = extent(points.iter().map(|p| p.1));
        if opts.log_y { (lo, hi) } else { (lo.min(0.0), hi) }
    });
    let xs = Scale::new(xl, xh, svg.x0(), svg.x1());
    let ys = if opts.log_y { Scale::log(yl, yh, svg.y0(), svg.y1()) } else { Scale::new(yl, yh, svg.y0(), svg.y1()) };
    svg.y_axis(&ys, y_label);
    if opts.x_labels.is_empty() {
        svg.x_axis_numeric(&xs, x_label);
    } else {
        let y0 = svg.y0();
        for (x, l) in &opts.x_labels {
            let px = xs.map(*x);
            svg.line("tickmark", px, y0, px, y0 + 4.0);
            svg.text("tick", px, y0 + 16.0, "middle", l);
        }
        svg.x_title(x_label);
    }
    if opts.diagonal {
        let (a, b) = (xl.max(yl), xh.min(yh));
        svg.line("diagonal", xs.map(a), ys.map(a), xs.map(b), ys.map(b));
    }
    let mut path = String::new();
    for (x, y) in &points {
        let _ = write!(path, "{:.1},{:.1} ", xs.map(*x), ys.map(*y));
    }
    svg.marks += 1;
    let _ = write!(
        svg.body,
        "<polyline class=\"mark line\" points=\"{}\"><title>{} ({} points)</title></polyline>",
        path.trim_end(),
        esc(title),
        points.len()
    );
    if opts.dots {
        for (x, y) in &points {
            let label = opts
                .x_labels
                .iter()
                .find(|(lx, _)| lx == x)
                .map_or_else(|| format!("({}, {})", val(*x), val(*y)), |(_, l)| format!("{l}: {}", val(*y)));
            svg.circle(xs.map(*x), ys.map(*y), 2.5, &label);
        }
    }
    svg.frame();
    svg.finish()
}

/// Points, one circle mark each.
pub fn scatter(id: &str, title: &str, x_label: &str, y_label: &str, points: &[(f64, f64)], diagonal: bool) -> String {
    let points: Vec<(f64, f64)> = points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
    if points.is_empty() {
        return empty(id, title, "no data");
    }
    let mut svg = Svg::new(id, title, DEFAULT_MARGINS);
    let (lo, hi) = extent(points.iter().flat_map(|p| [p.0, p.1]));
    let xs = Scale::new(lo, hi, svg.x0(), svg.x1());
    let ys = Scale::new(lo, hi, svg.y0(), svg.y1());
    svg.y_axis(&ys, y_label);
    svg.x_axis_numeric(&xs, x_label);
    if diagonal {
        svg.line("diagonal", xs.map(lo), ys.map(lo), xs.map(hi), ys.map(hi));
    }
    for (x, y) in &points {
        svg.circle(xs.map(*x), ys.map(*y), 2.0, &format!("actual {}, predicted {}", val(*x), val(*y)));
    }
    svg.frame();
    svg.finish()
}

/// A matrix of cells shaded by value (rows × columns), each with its value written in.
pub fn heatmap(id: &str, title: &str, rows: &[String], cols: &[String], values: &[Vec<f64>]) -> String {
    if rows.is_empty() || cols.is_empty() || values.len() != rows.len() || values.iter().any(|r| r.len() != cols.len())
    {
        return empty(id, title, "no data");
    }
    let mut svg = Svg::new(id, title, Margins(140.0, 40.0, 30.0, 52.0));
    let max = values.iter().flatten().copied().fold(0.0, f64::max).max(1e-12);
    let cw = (svg.x1() - svg.x0()) / cols.len() as f64;
    let ch = (svg.y0() - svg.y1()) / rows.len() as f64;
    for (j, c) in cols.iter().enumerate() {
        let x = svg.x0() + cw * (j as f64 + 0.5);
        let y = svg.y1() - 8.0;
        svg.text("tick", x, y, "middle", c);
    }
    for (i, r) in rows.iter().enumerate() {
        let y = svg.y1() + ch * i as f64;
        let lx = svg.x0() - 8.0;
        svg.text("tick", lx, y + ch / 2.0 + 4.0, "end", r);
        for (j, v) in values[i].iter().enumerate() {
            let x = svg.x0() + cw * j as f64;
            let level = ((v / max) * 4.0).round().clamp(0.0, 4.0) as u8;
            svg.rect(
                &format!("mark cell l{level}"),
                x + 1.0,
                y + 1.0,
                cw - 2.0,
                ch - 2.0,
                &format!("{r} / {c}: {}", val(*v), c = cols[j]),
            );
            let class = if level >= 3 { "cell-value dark" } else { "cell-value" };
            svg.text(class, x + cw / 2.0, y + ch / 2.0 + 5.0, "middle", &val(*v));
        }
    }
    svg.finish()
}

fn extent(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks(svg: &str) -> usize {
        svg.matches("class=\"mark").count()
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(nice_ticks(0.0, 10.0, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(nice_ticks(0.5, 5.0, 5), vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(nice_ticks(0.0, 0.9, 3), vec![0.0, 0.5]);
        assert_eq!(tick(2.50), "2.5");
        assert_eq!(tick(25_000.0), "25k");
        assert_eq!(tick(-0.0), "0");
    }

    #[test]
    fn one_mark_per_datum_with_escaped_titles() {
        let data = vec![("<script>".to_string(), 3.0), ("b".to_string(), 5.0), ("c".to_string(), 0.0)];
        let b = bars("x", "T<", "x", "y", &data);
        assert_eq!(marks(&b), 3);
        assert!(b.contains("data-marks=\"3\"") && b.contains("id=\"chart-x\""));
        assert!(b.contains("&lt;script&gt;: 3") && !b.contains("<script>"));
        assert!(b.contains("<figcaption>T&lt;</figcaption>"));
        let h = hbars("h", "t", "x", &[("up".into(), 0.4), ("down".into(), -0.2)]);
        assert_eq!(marks(&h), 2);
        assert_eq!(h.matches("class=\"mark neg\"").count(), 1);
        let s = scatter("s", "t", "x", "y", &[(1.0, 2.0), (3.0, f64::NAN), (4.0, 4.0)], true);
        assert_eq!(marks(&s), 2, "non-finite points are skipped");
        let hm =
            heatmap("c", "t", &["0".into(), "1".into()], &["0".into(), "1".into()], &[vec![5.0, 1.0], vec![2.0, 7.0]]);
        assert_eq!(marks(&hm), 4);
        let hist = histogram("r", "t", "x", "y", &[0.0, 1.0, 2.0], &[3, 4]);
        assert_eq!(marks(&hist), 2);
        assert!(histogram("r", "t", "x", "y", &[0.0, 1.0], &[3, 4]).contains("no data"));
        let l = lines(
            "l",
            "t",
            "x",
            "y",
            &[(0.0, 1.0), (1.0, 10.0), (2.0, 0.0)],
            &LineOpts { log_y: true, dots: true, ..LineOpts::default() },
        );
        assert_eq!(marks(&l), 3, "one line and two dots: zero has no log");
        assert!(bars("e", "t", "x", "y", &[]).contains("no data"));
    }

    #[test]
    fn scales_map_domains_to_pixels() {
        let s = Scale::new(0.0, 10.0, 100.0, 200.0);
        assert_eq!((s.map(0.0), s.map(5.0), s.map(10.0)), (100.0, 150.0, 200.0));
        let l = Scale::log(3.0, 800.0, 0.0, 300.0);
        assert_eq!((l.map(1.0), l.map(1000.0)), (0.0, 300.0));
        assert_eq!(l.ticks(5), vec![1.0, 10.0, 100.0, 1000.0]);
        let flat = Scale::new(2.0, 2.0, 0.0, 10.0);
        assert_eq!(flat.map(2.0), 5.0, "a one-value domain is centred");
    }
}
