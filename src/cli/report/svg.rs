//! The picture of a run: a title with the findings, then four panels
//! (received and lost probes over time, one-way delay over time, the
//! interarrival-gap histogram, the loss-run lengths), as one SVG with no
//! script, no external resource and only generic fonts. Plain string
//! building.
//!
//! Every panel is a `<g>` with an `id` (`timeline`, `delay`, `gaps`,
//! `loss-runs`); data are `polyline`s with a `class` (`received`, `lost`,
//! `delay-p50`, `delay-max`, one point per interval) and `rect`s of class
//! `bar` (one per non-empty bin), so that tests can count them.

use std::fmt::Write as _;

use mcast::recording::{Histogram, RecordAnalysis, Timeline, TimelineBin, BEACON_INTERVAL_NS};

use crate::cli::output::Utc;

mod units;
use units::{duration, escape, nice, num, pow10, rate};

/// The picture's size in pixels.
pub(crate) const WIDTH: f64 = 1200.0;
pub(crate) const HEIGHT: f64 = HEADER + 4.0 * PANEL;
const HEADER: f64 = 118.0;
const PANEL: f64 = 262.0;
const LEFT: f64 = 96.0;
const RIGHT: f64 = 28.0;
/// The plot box within a panel.
const PLOT_TOP: f64 = 34.0;
const PLOT_H: f64 = 170.0;
/// Histogram bins per decade of the log axes.
const PER_DECADE: f64 = 20.0;

const BLUE: &str = "#1f77b4";
const RED: &str = "#d62728";
const GREEN: &str = "#2ca02c";
const ORANGE: &str = "#ff7f0e";
const GREY: &str = "#888888";

/// The SVG of an analysis of the record `name`.
pub(crate) fn render(a: &RecordAnalysis, name: &str) -> String {
    let mut s = Svg(String::with_capacity(64 * 1024));
    let _ = write!(
        s.0,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"DejaVu Sans, Arial, Helvetica, sans-serif\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    header(&mut s, a, name);
    let t = &a.total;
    match &t.timeline {
        Some(tl) if !tl.bins.is_empty() => {
            timeline(&mut s, tl);
            delay(&mut s, tl, t.delay.as_ref().err().map(|e| e.to_string()));
        }
        _ => {
            let p = s.panel(0, "timeline", "Received and lost probes");
            s.note(&p, "No probe in the record.");
            s.end();
            let p = s.panel(1, "delay", "One-way delay");
            s.note(&p, "No probe in the record.");
            s.end();
        }
    }
    let p = s.panel(
        2,
        "gaps",
        "Interarrival gaps (time between consecutive probes of a stream)",
    );
    if t.gaps.is_empty() {
        s.note(&p, "Fewer than two probes in every stream: no gap to show.");
    } else {
        log_bars(&mut s, &p, &t.gaps, BLUE, true);
    }
    s.end();
    let p = s.panel(3, "loss-runs", "Loss runs (consecutive probes lost)");
    if t.loss_runs.is_empty() {
        s.note(&p, "No loss: every probe arrived.");
    } else {
        log_bars(&mut s, &p, &t.loss_runs, RED, false);
    }
    s.end();
    s.0.push_str("</svg>\n");
    s.0
}

fn header(s: &mut Svg, a: &RecordAnalysis, name: &str) {
    let t = &a.total;
    let title = match a.streams.as_slice() {
        [one] => format!(
            "{}:{} from {} (sender {})",
            one.stream.group.addr(),
            one.stream.group.port(),
            one.stream.source,
            one.stream.sender_id
        ),
        [] => "no probes".to_owned(),
        many => {
            let mut groups: Vec<String> = many.iter().map(|m| m.stream.group.to_string()).collect();
            let mut sources: Vec<String> =
                many.iter().map(|m| m.stream.source.to_string()).collect();
            groups.sort_unstable();
            groups.dedup();
            sources.sort_unstable();
            sources.dedup();
            format!(
                "{} streams: {} from {}",
                many.len() as u64 + a.evicted_streams,
                list(&groups),
                list(&sources)
            )
        }
    };
    s.text(LEFT, 32.0, 21.0, "start", true, &title);
    let c = &t.counts;
    let span = t.last_arrival_ns.saturating_sub(t.first_arrival_ns) as f64 / 1e9;
    let mut lines = vec![if c.received == 0 {
        format!("record {name}: no probe")
    } else {
        format!(
            "{} to {} ({span:.1} s), record {name}",
            Utc::from_unix_ns(t.first_arrival_ns).rfc3339(),
            Utc::from_unix_ns(t.last_arrival_ns).rfc3339(),
        )
    }];
    lines.push(format!(
        "{} probes received, {} lost ({:.3} %), {} duplicates, {} reordered, {} late; {} loss runs{}",
        c.received,
        c.lost,
        c.loss_percent(),
        c.duplicates,
        c.reordered,
        c.late,
        t.loss_runs.count(),
        t.loss_runs
            .max()
            .map_or(String::new(), |m| format!(", the longest {m} probes"))
    ));
    let label = |i: usize| {
        if a.streams.len() > 1 {
            let st = &a.streams[i].stream;
            format!("{} from {}: ", st.group, st.source)
        } else {
            String::new()
        }
    };
    for (i, st) in a.streams.iter().enumerate() {
        if let Some(b) = st.bursts {
            lines.push(format!(
                "{}arrivals come in bursts every {:.1} ms ({} beacon interval{}): the access point \
                 holds multicast until its DTIM beacon (a station is in power save)",
                label(i),
                b.period_ms(),
                b.beacon_intervals,
                if b.beacon_intervals == 1 { "" } else { "s" }
            ));
        }
        if let Some(r) = st.basic_rate {
            lines.push(format!(
                "{}loss began above {} and never below it (lossy from {}, about {} got \
                 through): Wi-Fi sends multicast at the access point's basic rate, without retries",
                label(i),
                rate(r.clean_up_to_bps),
                rate(r.lossy_from_bps),
                rate(r.delivered_bps)
            ));
        }
    }
    let shown = lines.len().min(4);
    for (k, l) in lines.iter().take(shown).enumerate() {
        s.text(LEFT, 56.0 + 19.0 * k as f64, 14.0, "start", false, l);
    }
    if lines.len() > shown {
        let more = format!("… and {} more findings", lines.len() - shown);
        s.text(WIDTH - RIGHT, 32.0, 13.0, "end", false, &more);
    }
}

/// At most three items, then "and N more".
fn list(items: &[String]) -> String {
    let mut s = items[..items.len().min(3)].join(", ");
    if items.len() > 3 {
        let _ = write!(s, " and {} more", items.len() - 3);
    }
    s
}

fn timeline(s: &mut Svg, t: &Timeline) {
    let bin_s = t.bin_ns as f64 / 1e9;
    let title = format!(
        "Received and lost probes per {} interval",
        duration(t.bin_ns as f64)
    );
    let p = s.panel(0, "timeline", &title);
    let n = t.bins.len();
    let x_max = n as f64 * bin_s;
    let y_max = t
        .bins
        .iter()
        .map(|b| b.received.max(b.lost))
        .max()
        .unwrap_or(0) as f64;
    let ys = s.linear_y(&p, y_max, "probes");
    s.linear_x(&p, x_max, "time since the first arrival (s)");
    for (class, color, pick) in [
        (
            "received",
            BLUE,
            (|b: &TimelineBin| b.received) as fn(&TimelineBin) -> u64,
        ),
        ("lost", RED, |b| b.lost),
    ] {
        let pts: Vec<(f64, f64)> = t
            .bins
            .iter()
            .enumerate()
            .map(|(i, b)| (p.x((i as f64 + 0.5) / n as f64), p.y(pick(b) as f64 / ys)))
            .collect();
        s.polyline(class, color, &pts);
    }
    s.legend(&p, &[(BLUE, "received"), (RED, "lost")]);
    s.end();
}

fn delay(s: &mut Svg, t: &Timeline, missing: Option<String>) {
    let title = format!("One-way delay per {} interval", duration(t.bin_ns as f64));
    let p = s.panel(1, "delay", &title);
    if let Some(why) = missing {
        s.note(&p, &format!("One-way delay is not shown: {why}."));
        s.end();
        return;
    }
    let n = t.bins.len();
    let y_max = t
        .bins
        .iter()
        .filter_map(|b| b.delay_max_ns)
        .max()
        .unwrap_or(0) as f64
        / 1e6;
    let ys = s.linear_y(&p, y_max, "delay (ms)");
    s.linear_x(
        &p,
        n as f64 * t.bin_ns as f64 / 1e9,
        "time since the first arrival (s)",
    );
    for (class, color, pick) in [
        (
            "delay-max",
            ORANGE,
            (|b: &TimelineBin| b.delay_max_ns) as fn(&TimelineBin) -> Option<u64>,
        ),
        ("delay-p50", GREEN, |b| b.delay_p50_ns),
    ] {
        // One line per run of intervals with probes.
        let mut pts = Vec::new();
        for (i, b) in t.bins.iter().enumerate() {
            match pick(b) {
                Some(ns) => pts.push((p.x((i as f64 + 0.5) / n as f64), p.y(ns as f64 / 1e6 / ys))),
                None if !pts.is_empty() => s.polyline(class, color, &std::mem::take(&mut pts)),
                None => {}
            }
        }
        if !pts.is_empty() {
            s.polyline(class, color, &pts);
        }
    }
    s.legend(&p, &[(GREEN, "median"), (ORANGE, "maximum")]);
    s.end();
}

/// A histogram as bars on log-log axes, 20 bins per decade; `ns`: the
/// values are durations in nanoseconds (else counts of probes).
fn log_bars(s: &mut Svg, p: &Plot, h: &Histogram, color: &str, ns: bool) {
    // Bin k holds log10(value) in [k/20, (k+1)/20); 0 goes with 1.
    let mut bins: Vec<(i64, u64)> = Vec::new();
    for b in h.buckets() {
        let mid = (b.low + (b.high - b.low) / 2).max(1) as f64;
        let k = (mid.log10() * PER_DECADE + 1e-9).floor() as i64;
        match bins.last_mut() {
            Some((last, c)) if *last == k => *c += b.count,
            _ => bins.push((k, b.count)),
        }
    }
    let (first, last) = (bins[0].0, bins[bins.len() - 1].0);
    // Durations from 100 ns at least (smaller ones go in the first bin),
    // 1 µs at most; run lengths from 1.
    let lo = if ns {
        (first as f64 / PER_DECADE).floor().clamp(2.0, 3.0)
    } else {
        0.0
    };
    let hi = ((last + 1) as f64 / PER_DECADE).ceil().max(lo + 1.0);
    let max_count = bins.iter().map(|b| b.1).max().unwrap_or(1);
    let top = (max_count as f64).log10().ceil().max(1.0) + 1.0;
    let fx = |e: f64| p.x((e - lo) / (hi - lo));
    // Axes: decades.
    for d in lo as i64..=hi as i64 {
        let label = if ns {
            duration(pow10(d as i32))
        } else {
            num(pow10(d as i32))
        };
        s.tick_x(p, fx(d as f64), &label);
    }
    s.axis_title_x(
        p,
        if ns {
            "gap (log scale)"
        } else {
            "run length, probes (log scale)"
        },
    );
    for d in 0..top as i64 {
        s.tick_y(p, p.y((d as f64 + 1.0) / top), &num(pow10(d as i32)));
    }
    s.axis_title_y(p, if ns { "gaps (log)" } else { "runs (log)" });
    if ns {
        for n in 1..=3u64 {
            let e = ((n * BEACON_INTERVAL_NS) as f64).log10();
            if e > lo && e < hi {
                let x = fx(e);
                let _ = writeln!(
                    s.0,
                    "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{GREY}\" \
                     stroke-dasharray=\"4 3\"/>",
                    p.top,
                    p.top + p.h
                );
            }
        }
    }
    for (k, c) in bins {
        let k = k.max((lo * PER_DECADE) as i64);
        let x0 = fx(k as f64 / PER_DECADE);
        let x1 = fx((k + 1) as f64 / PER_DECADE);
        let y = p.y(((c as f64).log10() + 1.0) / top);
        let _ = writeln!(
            s.0,
            "<rect class=\"bar\" x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" \
             fill=\"{color}\"><title>{c}</title></rect>",
            (x1 - x0 - 1.0).max(1.0),
            p.top + p.h - y
        );
    }
    let label = if ns { "gaps" } else { "loss runs" };
    let legend = if ns {
        vec![(color, label), (GREY, "102.4, 204.8, 307.2 ms (beacons)")]
    } else {
        vec![(color, label)]
    };
    s.legend(p, &legend);
}

/// A plot box, in pixels.
struct Plot {
    left: f64,
    top: f64,
    w: f64,
    h: f64,
}

impl Plot {
    /// The x of a fraction of the width.
    fn x(&self, f: f64) -> f64 {
        self.left + f.clamp(0.0, 1.0) * self.w
    }

    /// The y of a fraction of the height, from the bottom.
    fn y(&self, f: f64) -> f64 {
        self.top + self.h - f.clamp(0.0, 1.0) * self.h
    }
}

struct Svg(String);

impl Svg {
    fn text(&mut self, x: f64, y: f64, size: f64, anchor: &str, bold: bool, t: &str) {
        let _ = writeln!(
            self.0,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"{size}\" text-anchor=\"{anchor}\"{}>{}</text>",
            if bold { " font-weight=\"bold\"" } else { "" },
            escape(t)
        );
    }

    /// Opens panel `i` (a `<g>`), draws its title and frame.
    fn panel(&mut self, i: usize, id: &str, title: &str) -> Plot {
        let y0 = HEADER + PANEL * i as f64;
        let _ = writeln!(self.0, "<g id=\"{id}\">");
        self.text(
            LEFT,
            y0 + 20.0,
            16.0,
            "start",
            true,
            &format!("{}. {title}", i + 1),
        );
        let p = Plot {
            left: LEFT,
            top: y0 + PLOT_TOP,
            w: WIDTH - LEFT - RIGHT,
            h: PLOT_H,
        };
        let _ = writeln!(
            self.0,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"#444\"/>",
            p.left, p.top, p.w, p.h
        );
        p
    }

    fn end(&mut self) {
        self.0.push_str("</g>\n");
    }

    fn note(&mut self, p: &Plot, t: &str) {
        self.text(
            p.left + p.w / 2.0,
            p.top + p.h / 2.0,
            15.0,
            "middle",
            false,
            t,
        );
    }

    fn polyline(&mut self, class: &str, color: &str, pts: &[(f64, f64)]) {
        let _ = write!(
            self.0,
            "<polyline class=\"{class}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.6\" points=\""
        );
        for (i, (x, y)) in pts.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            let _ = write!(self.0, "{sep}{x:.1},{y:.1}");
        }
        self.0.push_str("\"/>\n");
    }

    fn tick_x(&mut self, p: &Plot, x: f64, label: &str) {
        let b = p.top + p.h;
        let _ = writeln!(
            self.0,
            "<line x1=\"{x:.1}\" y1=\"{b:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#444\"/>",
            b + 5.0
        );
        self.text(x, b + 18.0, 12.0, "middle", false, label);
    }

    fn tick_y(&mut self, p: &Plot, y: f64, label: &str) {
        let _ = writeln!(
            self.0,
            "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>",
            p.left,
            p.left + p.w
        );
        self.text(p.left - 6.0, y + 4.0, 12.0, "end", false, label);
    }

    fn axis_title_x(&mut self, p: &Plot, t: &str) {
        self.text(
            p.left + p.w / 2.0,
            p.top + p.h + 36.0,
            13.0,
            "middle",
            false,
            t,
        );
    }

    fn axis_title_y(&mut self, p: &Plot, t: &str) {
        let (x, y) = (p.left - 62.0, p.top + p.h / 2.0);
        let _ = writeln!(
            self.0,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"13\" text-anchor=\"middle\" \
             transform=\"rotate(-90 {x:.1} {y:.1})\">{}</text>",
            escape(t)
        );
    }

    /// A linear y axis from 0 to about `max`; returns the value at the top.
    fn linear_y(&mut self, p: &Plot, max: f64, title: &str) -> f64 {
        let (step, top) = nice(max);
        let mut v = 0.0;
        while v <= top + step / 2.0 {
            self.tick_y(p, p.y(v / top), &num(v));
            v += step;
        }
        self.axis_title_y(p, title);
        top
    }

    fn linear_x(&mut self, p: &Plot, max: f64, title: &str) {
        let (step, _) = nice(max);
        let mut v = 0.0;
        while v <= max * (1.0 + 1e-9) {
            self.tick_x(p, p.x(v / max), &num(v));
            v += step;
        }
        self.axis_title_x(p, title);
    }

    fn legend(&mut self, p: &Plot, items: &[(&str, &str)]) {
        let mut x = p.left + p.w - 8.0;
        for (color, label) in items.iter().rev() {
            let w = 30.0 + 7.5 * label.chars().count() as f64;
            x -= w;
            let y = p.top - 12.0;
            let _ = writeln!(
                self.0,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"18\" height=\"10\" fill=\"{color}\"/>",
                y - 9.0
            );
            self.text(x + 23.0, y, 13.0, "start", false, label);
        }
    }
}
