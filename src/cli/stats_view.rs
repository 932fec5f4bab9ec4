//! How the CLI shows receiver statistics: the `--json` fields of streams and
//! groups (the `stats` and `summary` lines) and the text table of streams.
//! The library's [`mcast::ReceiverStats`] only counts; this file owns the
//! schema and the layout.

use std::fmt::Write as _;

use mcast::recording::{DtimBursts, FlatFinding, RateFinding};
use mcast::{GroupStats, ProbeCounts, ReceiverStats, RunSummary, StreamSnapshot};

use super::json::JsonObject;

/// A stream as a JSON object (without `type`): `group`, `port`, `source`,
/// `sender_id`, `first_seq`, `highest_seq`, `received`, `bytes`, `expected`,
/// `lost`, `loss_pct`, `duplicates`, `reordered`, `late`, `pps`, `mbps`, then
/// `interval_pps` and `interval_mbps` if `with_interval`, then `jitter_ms`
/// and `delay_min_ms`, `delay_avg_ms`, `delay_max_ms`, `delay_p50_ms`,
/// `delay_p90_ms`, `delay_p99_ms`, `delay_p999_ms` (null unless
/// `show_delay`), `gap_p50_ms`, `gap_p99_ms`, `gap_max_ms` (interarrival
/// gaps; null before the second probe), `loss_runs`, `loss_run_max` and
/// `burst_period_ms` (DTIM bunching; null unless found).
fn stream_json(s: &StreamSnapshot, show_delay: bool, with_interval: bool) -> JsonObject {
    let o = JsonObject::new()
        .str("group", &s.key.group.addr().to_string())
        .int("port", s.key.group.port().get())
        .str("source", &s.key.source.to_string())
        .str("sender_id", &s.key.sender.to_string())
        .int("first_seq", s.first_seq)
        .int("highest_seq", s.highest_seq);
    let mut o = counts_json(o, &s.counts)
        .num("pps", round(s.lifetime.pps(), 1))
        .num("mbps", round(s.lifetime.mbps(), 3));
    if with_interval {
        o = o
            .num("interval_pps", round(s.interval.pps(), 1))
            .num("interval_mbps", round(s.interval.mbps(), 3));
    }
    o = o.num("jitter_ms", round(s.jitter_ns / 1e6, 3));
    let delay = s.delay.filter(|_| show_delay);
    let pct = s.delay_percentiles.filter(|_| show_delay);
    let gaps = s.gap_percentiles;
    for (key, v) in [
        ("delay_min_ms", delay.map(|d| d.min_ns as f64)),
        ("delay_avg_ms", delay.map(|d| d.avg_ns)),
        ("delay_max_ms", delay.map(|d| d.max_ns as f64)),
        ("delay_p50_ms", pct.map(|p| p.p50 as f64)),
        ("delay_p90_ms", pct.map(|p| p.p90 as f64)),
        ("delay_p99_ms", pct.map(|p| p.p99 as f64)),
        ("delay_p999_ms", pct.map(|p| p.p999 as f64)),
        ("gap_p50_ms", gaps.map(|p| p.p50 as f64)),
        ("gap_p99_ms", gaps.map(|p| p.p99 as f64)),
        ("gap_max_ms", s.gap_max_ns.map(|n| n as f64)),
    ] {
        o = ms_or_null(o, key, v);
    }
    let o = o
        .int("loss_runs", s.loss_runs)
        .int("loss_run_max", s.loss_run_max);
    ms_or_null(o, "burst_period_ms", s.bursts.map(|b| b.period_ns as f64))
}

/// `key` in milliseconds (3 decimals) from nanoseconds, or null.
pub(crate) fn ms_or_null(o: JsonObject, key: &str, ns: Option<f64>) -> JsonObject {
    match ns {
        Some(ns) => o.num(key, round(ns / 1e6, 3)),
        None => o.raw(key, "null"),
    }
}

/// A group as a JSON object (without `type`): `group`, `port`, `streams`,
/// `senders_seen`, `evicted`, `received`, `bytes`, `expected`, `lost`,
/// `loss_pct`, `duplicates`, `reordered`, `late`, `other`, `other_bytes`,
/// `invalid`.
fn group_json(g: &GroupStats) -> JsonObject {
    let o = JsonObject::new()
        .str("group", &g.group.addr().to_string())
        .int("port", g.group.port().get())
        .int("streams", g.streams)
        .int("senders_seen", g.senders_seen)
        .int("evicted", g.evicted);
    counts_json(o, &g.counts)
        .int("other", g.other)
        .int("other_bytes", g.other_bytes)
        .int("invalid", g.invalid)
}

/// The probe counters, appended to `o`: `received`, `bytes`, `expected`,
/// `lost`, `loss_pct`, `duplicates`, `reordered`, `late`.
fn counts_json(o: JsonObject, c: &ProbeCounts) -> JsonObject {
    o.int("received", c.received)
        .int("bytes", c.bytes)
        .int("expected", c.expected)
        .int("lost", c.lost)
        .num("loss_pct", round(c.loss_percent(), 3))
        .int("duplicates", c.duplicates)
        .int("reordered", c.reordered)
        .int("late", c.late)
}

/// `streams` and `groups` arrays appended to `obj`.
fn add_arrays(
    obj: JsonObject,
    streams: &[StreamSnapshot],
    groups: &[GroupStats],
    show_delay: bool,
    with_interval: bool,
) -> JsonObject {
    obj.objects(
        "streams",
        streams
            .iter()
            .map(|s| stream_json(s, show_delay, with_interval)),
    )
    .objects("groups", groups.iter().map(group_json))
}

/// The periodic `{"type":"stats","streams":[…],"groups":[…]}` line, with
/// interval rates; starts every stream's next interval at `now_ns`.
pub(crate) fn stats_json(stats: &mut ReceiverStats, now_ns: u64, show_delay: bool) -> JsonObject {
    let streams = stats.interval_snapshot(now_ns);
    add_arrays(
        JsonObject::typed("stats"),
        &streams,
        stats.groups(),
        show_delay,
        true,
    )
}

/// Appends the final `streams` (without interval rates) and `groups` arrays
/// to `obj`, a `summary` object whose own fields come first.
pub(crate) fn add_summary_fields(
    obj: JsonObject,
    summary: &RunSummary,
    show_delay: bool,
) -> JsonObject {
    add_arrays(obj, &summary.streams, &summary.groups, show_delay, false)
}

/// One line per stream, with aligned columns and a header line first:
/// group, source, sender id, received, lost, loss %, dup, reordered, late,
/// pps, Mbit/s (lifetime), jitter ms, p50/p99 ms (of the one-way delay
/// with `show_delay`, else of the interarrival gaps; `-` before there is
/// one) and delay ms min/avg/max (`-` unless `show_delay`).
pub(crate) fn stream_table(streams: &[StreamSnapshot], show_delay: bool) -> Vec<String> {
    const COLUMNS: usize = 14;
    let mut header: [&str; COLUMNS] = [
        "group",
        "source",
        "sender",
        "received",
        "lost",
        "loss%",
        "dup",
        "reordered",
        "late",
        "pps",
        "Mbit/s",
        "jitter ms",
        "gap p50/p99 ms",
        "delay ms min/avg/max",
    ];
    if show_delay {
        header[12] = "delay p50/p99 ms";
    }
    /// The first three columns are text, aligned left; the rest numbers.
    const TEXT_COLUMNS: usize = 3;
    let ms = |ns: f64| format!("{:.3}", ns / 1e6);
    let mut rows: Vec<[String; COLUMNS]> = vec![header.map(String::from)];
    for s in streams {
        let c = &s.counts;
        let delay = match s.delay.filter(|_| show_delay) {
            Some(d) => format!(
                "{}/{}/{}",
                ms(d.min_ns as f64),
                ms(d.avg_ns),
                ms(d.max_ns as f64)
            ),
            None => "-".to_owned(),
        };
        let pct = if show_delay {
            s.delay_percentiles
        } else {
            s.gap_percentiles
        };
        let pct = pct.map_or_else(
            || "-".to_owned(),
            |p| format!("{}/{}", ms(p.p50 as f64), ms(p.p99 as f64)),
        );
        rows.push([
            s.key.group.to_string(),
            s.key.source.to_string(),
            s.key.sender.to_string(),
            c.received.to_string(),
            c.lost.to_string(),
            format!("{:.2}", c.loss_percent()),
            c.duplicates.to_string(),
            c.reordered.to_string(),
            c.late.to_string(),
            format!("{:.1}", s.lifetime.pps()),
            format!("{:.3}", s.lifetime.mbps()),
            ms(s.jitter_ns),
            pct,
            delay,
        ]);
    }
    let mut widths = [0usize; COLUMNS];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (i, (cell, &w)) in row.iter().zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                if i < TEXT_COLUMNS {
                    let _ = write!(line, "{cell:<w$}");
                } else {
                    let _ = write!(line, "{cell:>w$}");
                }
            }
            line
        })
        .collect()
}

/// What DTIM bunching means, for `recv`'s summary and `doctor`: the
/// sentence with the period measured (one decimal, in ms).
pub(crate) fn bursts_sentence(b: &DtimBursts) -> String {
    let p = b.period_ms();
    format!(
        "arrivals come in bursts every {p:.1} ms: the access point holds multicast until \
         its DTIM beacon (a station is in power save); expect up to {p:.1} ms of added delay"
    )
}

/// Why Wi-Fi loses group traffic above a rate, after a finding.
const BASIC_RATE_WHY: &str = "likely Wi-Fi's multicast basic rate: the access point sends \
     group frames at its lowest basic rate, without retries";

/// What loss that began above a rate means, for `recv`'s summary and
/// `doctor`.
pub(crate) fn rate_sentence(f: &RateFinding) -> String {
    format!(
        "loss began above {} and never below it (lossy from {}, {} got through): {BASIC_RATE_WHY}",
        mbits(f.clean_up_to_bps),
        mbits(f.lossy_from_bps),
        mbits(f.delivered_bps)
    )
}

/// What a delivered rate flat near a basic rate means.
pub(crate) fn flat_sentence(f: &FlatFinding) -> String {
    format!(
        "{} got through, flat, of {} offered: {BASIC_RATE_WHY} ({} Mbit/s here)",
        mbits(f.delivered_bps),
        mbits(f.offered_bps),
        f.basic_rate_bps as f64 / 1e6
    )
}

/// The sentences about a stream's Wi-Fi signatures: DTIM bursts, then the
/// basic rate (loss that began above a rate, else a flat delivered rate).
pub(crate) fn signatures(s: &StreamSnapshot) -> Vec<String> {
    let rate = s
        .rate_finding
        .map(|f| rate_sentence(&f))
        .or_else(|| s.flat_rate.map(|f| flat_sentence(&f)));
    s.bursts
        .map(|b| bursts_sentence(&b))
        .into_iter()
        .chain(rate)
        .collect()
}

/// `0.96 Mbit/s`.
fn mbits(bps: u64) -> String {
    format!("{:.2} Mbit/s", bps as f64 / 1e6)
}

fn round(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    use mcast::{Group, Port, Probe, SenderId};

    const MS: u64 = 1_000_000;

    fn sample() -> ReceiverStats {
        let g = Group::new(
            IpAddr::V4(Ipv4Addr::new(239, 1, 1, 1)),
            Port::new(5000).unwrap(),
        );
        let mut r = ReceiverStats::new(&[g]);
        let s = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)), 40000);
        let t0 = 1_000 * MS;
        for seq in [1u64, 2, 4, 3, 5] {
            // 1 ms apart; transit 2 ms, except seq 3 (4 ms).
            let transit = if seq == 3 { 4 } else { 2 };
            let p = Probe::new(SenderId::new(0x0123_4567_89ab_cdef), seq, t0 + seq * MS);
            r.on_probe(g, s, &p, t0 + (seq + transit) * MS, 1000);
        }
        r
    }

    fn summary_json(r: &ReceiverStats, now: u64, show_delay: bool) -> String {
        let obj = JsonObject::typed("summary").str("role", "recv");
        add_summary_fields(obj, &r.summary(now), show_delay).finish()
    }

    #[test]
    fn json() {
        let mut r = sample();
        let now = 1_010 * MS;
        let line = summary_json(&r, now, true);
        assert!(line.starts_with(r#"{"type":"summary","role":"recv","streams":[{"group":"239.1.1.1","port":5000,"source":"192.0.2.10:40000","sender_id":"0123456789abcdef","first_seq":1,"highest_seq":5,"received":5,"bytes":5000,"expected":5,"lost":0,"loss_pct":0,"duplicates":0,"reordered":1,"late":0,"#), "{line}");
        assert!(
            line.contains(r#""delay_min_ms":2,"delay_avg_ms":2.4,"delay_max_ms":4,"delay_p50_ms":2.007,"delay_p90_ms":4,"delay_p99_ms":4,"delay_p999_ms":4,"gap_p50_ms":1.004,"gap_p99_ms":2,"gap_max_ms":2,"loss_runs":0,"loss_run_max":1,"burst_period_ms":null}]"#),
            "{line}"
        );
        assert!(line.contains(r#""groups":[{"group":"239.1.1.1","port":5000,"streams":1,"senders_seen":1,"evicted":0,"received":5"#), "{line}");
        assert!(!line.contains("interval_pps"));
        // Without a shared clock, no delay.
        let line = summary_json(&r, now, false);
        assert!(
            line.contains(r#""delay_min_ms":null,"delay_avg_ms":null,"delay_max_ms":null,"delay_p50_ms":null,"delay_p90_ms":null,"delay_p99_ms":null,"delay_p999_ms":null,"gap_p50_ms":1.004,"#),
            "{line}"
        );
        // The periodic line has interval rates, and resets them.
        let line = stats_json(&mut r, now, false).finish();
        assert!(
            line.starts_with(r#"{"type":"stats","streams":[{"#),
            "{line}"
        );
        assert!(line.contains(r#""interval_pps":"#), "{line}");
        let s = r.snapshot(now + 1000 * MS);
        assert_eq!(s[0].interval.packets, 0);
        // Caller-built objects keep their own fields first.
        let obj = JsonObject::typed("summary")
            .str("role", "recv")
            .int("packets", 5u32);
        let line = add_summary_fields(obj, &r.summary(now), false).finish();
        assert!(line.starts_with(r#"{"type":"summary","role":"recv","packets":5,"streams":["#));
    }

    #[test]
    fn the_bursts_sentence() {
        let mut d = mcast::recording::DtimDetector::new();
        // 200/s, released every 204.8 ms: 41 probes a burst, 20 µs apart.
        let mut sent = 0u64;
        for burst in 0..20u64 {
            for i in 0..41u64 {
                d.on_probe(sent, burst * 204_800_000 + 180_000_000 + i * 20_000);
                sent += 5 * MS;
            }
        }
        let b = d.bursts().expect("bursts");
        assert_eq!(
            bursts_sentence(&b),
            "arrivals come in bursts every 204.8 ms: the access point holds multicast until its \
             DTIM beacon (a station is in power save); expect up to 204.8 ms of added delay"
        );
    }

    #[test]
    fn the_basic_rate_sentences() {
        let mut d = mcast::recording::BasicRateDetector::new();
        for _ in 0..5 {
            d.on_interval(2_000_000, 250, 130);
        }
        assert_eq!(d.finding(), None);
        assert_eq!(
            flat_sentence(&d.flat().unwrap()),
            "0.96 Mbit/s got through, flat, of 2.00 Mbit/s offered: likely Wi-Fi's multicast \
             basic rate: the access point sends group frames at its lowest basic rate, without \
             retries (1 Mbit/s here)"
        );
        for _ in 0..5 {
            d.on_interval(500_000, 62, 0);
        }
        assert_eq!(
            rate_sentence(&d.finding().unwrap()),
            "loss began above 0.50 Mbit/s and never below it (lossy from 2.00 Mbit/s, 0.96 \
             Mbit/s got through): likely Wi-Fi's multicast basic rate: the access point sends \
             group frames at its lowest basic rate, without retries"
        );
    }

    #[test]
    fn table() {
        let r = sample();
        let lines = stream_table(&r.snapshot(1_010 * MS), true);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), lines[1].len(), "{lines:#?}");
        assert!(lines[0].starts_with("group  "), "{}", lines[0]);
        assert!(lines[1].starts_with("239.1.1.1:5000  192.0.2.10:40000  0123456789abcdef"));
        assert!(lines[1].ends_with("2.000/2.400/4.000"), "{}", lines[1]);
        assert!(lines[0].contains("delay p50/p99 ms"), "{}", lines[0]);
        let cols: Vec<&str> = lines[1].split_whitespace().collect();
        // received, lost, loss%, dup, reordered, late, pps, Mbit/s, jitter.
        assert_eq!(
            cols[3..12],
            ["5", "0", "0.00", "0", "1", "0", "1000.0", "8.000", "0.242"]
        );
        // The delay's p50/p99 (2.007 is the midpoint of 2 ms's bucket).
        assert_eq!(cols[12], "2.007/4.000");
        let lines = stream_table(&r.snapshot(1_010 * MS), false);
        assert!(lines[1].ends_with(" -"), "{}", lines[1]);
        // Without the delay, the gaps' p50/p99.
        assert!(lines[0].contains("gap p50/p99 ms"), "{}", lines[0]);
        let cols: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(cols[12..], ["1.004/2.000", "-"]);
        assert!(lines.iter().all(|l| !l.ends_with(' ')));
        // No streams: just the header.
        assert_eq!(stream_table(&[], false).len(), 1);
    }
}
