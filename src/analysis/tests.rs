use super::*;
use crate::group::Group;
use crate::probe::SenderId;
use crate::test_rng::Rng;

const MS: u64 = 1_000_000;
const T0: u64 = 1_700_000_000_000_000_000;

fn row(source: &str, id: u64, seq: u64, sent: u64, arrival: u64) -> RecordRow {
    RecordRow {
        arrival_unix_ns: arrival,
        source: source.parse().unwrap(),
        group: "239.1.1.1:5000".parse::<Group>().unwrap(),
        sender_id: SenderId::new(id),
        seq,
        send_unix_ns: sent,
        bytes: 100,
    }
}

/// Probes every `step` from T0 with a fixed 2 ms transit, for the given
/// sequence numbers in the given order.
fn feed(a: &mut RecordAnalyzer, source: &str, id: u64, seqs: &[u64], step: u64) {
    for (i, &seq) in seqs.iter().enumerate() {
        let arrival = T0 + i as u64 * step + 2 * MS;
        a.add(&row(source, id, seq, arrival - 2 * MS, arrival));
    }
}

fn local() -> RecordAnalyzer {
    RecordAnalyzer::new(DelayPolicy::SameHost(Vec::new()))
}

fn run_lengths(h: &Histogram) -> Vec<(u64, u64)> {
    h.buckets().map(|b| (b.low, b.count)).collect()
}

/// Whether no bin of the record's total timeline has a delay (`delay`
/// picks the figure looked at).
fn no_bin_has(r: &RecordAnalysis, delay: fn(&TimelineBin) -> Option<u64>) -> bool {
    let t = r.total.timeline.as_ref().unwrap();
    t.bins.iter().all(|b| delay(b).is_none())
}

fn timeline_sums(f: &Figures) -> (u64, u64) {
    let t = f.timeline.as_ref().unwrap();
    (
        t.bins.iter().map(|b| b.received).sum(),
        t.bins.iter().map(|b| b.lost).sum(),
    )
}

#[test]
fn a_steady_stream() {
    let mut a = local();
    let seqs: Vec<u64> = (1..=1000).collect();
    feed(&mut a, "127.0.0.1", 1, &seqs, 5 * MS);
    let r = a.finish();
    assert_eq!(r.rows, 1000);
    assert_eq!(r.streams.len(), 1);
    let f = &r.total;
    assert_eq!((f.counts.received, f.counts.lost), (1000, 0));
    assert_eq!(
        (f.first_arrival_ns, f.last_arrival_ns),
        (T0 + 2 * MS, T0 + 999 * 5 * MS + 2 * MS)
    );
    let d = f.delay.as_ref().unwrap();
    assert_eq!((d.min(), d.max()), (Some(2 * MS), Some(2 * MS)));
    assert_eq!(f.gaps.count(), 999);
    assert_eq!(f.gaps.quantile(0.5), Some(5 * MS));
    assert!(f.loss_runs.is_empty());
    // 5 s: 1 ms intervals merged to 32 ms: 157 of them.
    let t = f.timeline.as_ref().unwrap();
    assert_eq!((t.start_ns, t.bin_ns), (T0 + 2 * MS, 32 * MS));
    assert!((150..=300).contains(&t.bins.len()), "{}", t.bins.len());
    assert_eq!(timeline_sums(f), (1000, 0));
    assert!(t.bins.iter().all(|b| b.delay_p50_ns == Some(2 * MS)));
    let s = &r.streams[0];
    assert_eq!(s.stream.sender_id, SenderId::new(1));
    assert_eq!(s.figures.timeline, f.timeline);
}

#[test]
fn gaps_make_loss_runs() {
    let mut a = local();
    feed(&mut a, "127.0.0.1", 1, &[1, 2, 5, 6, 7, 10, 11, 20, 21], MS);
    let f = a.finish().total;
    assert_eq!(f.counts.lost, 2 + 2 + 8);
    assert_eq!(run_lengths(&f.loss_runs), [(2, 2), (8, 1)]);
    assert_eq!((f.loss_runs.count(), f.loss_runs.max()), (3, Some(8)));
    assert_eq!(timeline_sums(&f), (9, 12));
}

#[test]
fn reordering_fills_and_splits_runs() {
    // 3 and 4 are late, 3 arrives: the run 3..=4 becomes 4 alone.
    let mut a = local();
    feed(&mut a, "127.0.0.1", 1, &[1, 2, 5, 3, 6], MS);
    let f = a.finish().total;
    assert_eq!((f.counts.lost, f.counts.reordered), (1, 1));
    assert_eq!(run_lengths(&f.loss_runs), [(1, 1)]);
    assert_eq!(timeline_sums(&f), (5, 1));
    // 2..=9 lost, then 5 arrives: runs 2..=4 and 6..=9.
    let mut a = local();
    feed(&mut a, "127.0.0.1", 1, &[1, 10, 5, 11], MS);
    let f = a.finish().total;
    assert_eq!(f.counts.lost, 7);
    assert_eq!(run_lengths(&f.loss_runs), [(3, 1), (4, 1)]);
    // Both ends of a run, then the whole of it.
    let mut a = local();
    feed(&mut a, "127.0.0.1", 1, &[1, 5, 2, 4, 3, 6], MS);
    let f = a.finish().total;
    assert_eq!(f.counts.lost, 0);
    assert!(f.loss_runs.is_empty());
    assert_eq!(timeline_sums(&f), (6, 0));
    // Duplicates do not make gaps, and are not interarrival gaps.
    let mut a = local();
    feed(&mut a, "127.0.0.1", 1, &[1, 2, 2, 3], MS);
    let f = a.finish().total;
    assert_eq!((f.counts.duplicates, f.gaps.count()), (1, 2));
}

#[test]
fn a_dead_second_is_spread_over_the_second() {
    // 200/s for 10 s; nothing from 5 s to 6 s (200 probes lost).
    let mut a = local();
    for seq in 0..2000u64 {
        if (1000..1200).contains(&seq) {
            continue;
        }
        let t = T0 + seq * 5 * MS;
        a.add(&row("127.0.0.1", 1, seq, t, t + MS));
    }
    let f = a.finish().total;
    assert_eq!(f.counts.lost, 200);
    assert_eq!(run_lengths(&f.loss_runs), [(200, 1)]);
    let t = f.timeline.as_ref().unwrap();
    assert_eq!(t.bin_ns, 64 * MS);
    let lossy: Vec<(usize, u64)> = t
        .bins
        .iter()
        .enumerate()
        .filter(|(_, b)| b.lost > 0)
        .map(|(i, b)| (i, b.lost))
        .collect();
    // 1 s over 64 ms intervals: 16 or 17 of them, about 12.8 each.
    assert!((16..=17).contains(&lossy.len()), "{lossy:?}");
    assert!(lossy.iter().all(|&(_, n)| n <= 13), "{lossy:?}");
    assert_eq!(lossy.iter().map(|l| l.1).sum::<u64>(), 200);
    let first_lossy_time = t.start_ns + lossy[0].0 as u64 * t.bin_ns;
    assert!(first_lossy_time.abs_diff(T0 + 5 * 1000 * MS) < 64 * MS);
    // And the received probes are missing there.
    assert!(lossy[1..lossy.len() - 1]
        .iter()
        .all(|&(i, _)| t.bins[i].received == 0));
}

#[test]
fn long_runs_end_with_150_to_300_intervals() {
    for (secs, rate) in [
        (0.2, 1000u64),
        (1.0, 1000),
        (30.0, 100),
        (600.0, 10),
        (3600.0, 1),
    ] {
        let mut a = local();
        let n = (secs * rate as f64) as u64;
        let step = 1_000_000_000 / rate;
        for seq in 0..n {
            let t = T0 + seq * step;
            a.add(&row("127.0.0.1", 1, seq, t, t));
        }
        let t = a.finish().total.timeline.unwrap();
        assert!(
            (150..=300).contains(&t.bins.len()),
            "{secs} s: {}",
            t.bins.len()
        );
        assert_eq!(t.bin_ns % MS, 0);
        assert!((t.bin_ns / MS).is_power_of_two());
        assert_eq!(t.bins.iter().map(|b| b.received).sum::<u64>(), n);
    }
    // A 10 ms run: 10 intervals of 1 ms.
    let mut a = local();
    feed(&mut a, "127.0.0.1", 1, &(0..10).collect::<Vec<_>>(), MS);
    let t = a.finish().total.timeline.unwrap();
    assert_eq!((t.bins.len(), t.bin_ns), (10, MS));
}

#[test]
fn when_delay_is_shown() {
    let seqs: Vec<u64> = (1..=10).collect();
    let mut a = local();
    feed(&mut a, "198.18.1.10", 1, &seqs, MS);
    let r = a.finish();
    assert_eq!(
        r.total.delay.as_ref().unwrap_err(),
        &DelayMissing::OtherHost
    );
    assert!(no_bin_has(&r, |b| b.delay_p50_ns));
    assert!(format!("{}", DelayMissing::OtherHost).contains("--assume-synced-clocks"));
    for policy in [
        DelayPolicy::SameHost(vec!["198.18.1.10".parse().unwrap()]),
        DelayPolicy::Synced,
    ] {
        let mut a = RecordAnalyzer::new(policy);
        feed(&mut a, "198.18.1.10", 1, &seqs, MS);
        assert!(a.finish().total.delay.is_ok());
    }
    for src in ["::1", "::ffff:127.0.0.1", "127.1.2.3"] {
        let mut a = local();
        feed(&mut a, src, 1, &seqs, MS);
        assert!(a.finish().total.delay.is_ok(), "{src}");
    }
    // A sender 5 ms ahead: the clocks disagree, for the stream and the
    // record, even where the policy says synchronised.
    let mut a = RecordAnalyzer::new(DelayPolicy::Synced);
    feed(&mut a, "127.0.0.1", 2, &seqs, MS);
    for i in 0..10u64 {
        let t = T0 + i * MS;
        a.add(&row("198.18.1.10", 1, i, t + 5 * MS, t));
    }
    let r = a.finish();
    let want = DelayMissing::ClocksDisagree { ahead_ns: 5 * MS };
    assert_eq!(r.streams[1].figures.delay.as_ref().unwrap_err(), &want);
    assert!(r.streams[0].figures.delay.is_ok());
    assert_eq!(r.total.delay.as_ref().unwrap_err(), &want);
    assert!(no_bin_has(&r, |b| b.delay_max_ns));
    assert!(format!("{want}").contains("up to 5.000 ms before they were sent"));
    // Nothing at all.
    let r = local().finish();
    assert_eq!(r.total.delay.unwrap_err(), DelayMissing::NoProbes);
    assert_eq!(r.total.timeline.unwrap().bins.len(), 0);
}

#[test]
fn several_streams_and_their_total() {
    let mut a = local();
    // Interleaved: two senders on one group, one on another host.
    for i in 0..100u64 {
        let t = T0 + i * 10 * MS;
        if i % 10 != 3 {
            a.add(&row("127.0.0.1", 1, i, t, t + MS));
        }
        a.add(&row("127.0.0.1", 2, i, t, t + 3 * MS));
        a.add(&row("198.18.1.10", 3, i, t, t + 9 * MS));
    }
    let r = a.finish();
    assert_eq!(r.streams.len(), 3);
    let ids: Vec<u64> = r.streams.iter().map(|s| s.stream.sender_id.get()).collect();
    assert_eq!(ids, [1, 2, 3]);
    assert_eq!(r.streams[0].figures.counts.lost, 10);
    assert_eq!(r.total.counts.received, 290);
    assert_eq!(r.total.counts.lost, 10);
    assert_eq!(r.total.gaps.count(), 89 + 99 + 99);
    assert_eq!(r.total.loss_runs.count(), 10);
    // The record's delay: the two local streams only (1 and 3 ms).
    let d = r.total.delay.as_ref().unwrap();
    assert_eq!((d.count(), d.min(), d.max()), (190, Some(MS), Some(3 * MS)));
    assert_eq!(
        r.streams[2].figures.delay.as_ref().unwrap_err(),
        &DelayMissing::OtherHost
    );
    assert_eq!(timeline_sums(&r.total), (290, 10));
    let sums: u64 = r.streams.iter().map(|s| timeline_sums(&s.figures).0).sum();
    assert_eq!(sums, 290);
}

#[test]
fn random_loss_reordering_and_duplicates_keep_the_books() {
    let mut rng = Rng(0x5eed);
    for round in 0..20 {
        let mut a = local();
        let base = if round % 2 == 0 { u64::MAX - 3000 } else { 1 };
        let mut seqs = Vec::new();
        let mut next = 0u64;
        for _ in 0..5000 {
            // Gaps of 1 to 20, repeats up to 300 back.
            let off = rng.seq_offset(&mut next, 85, |r| 1 + r.next() % 20, 300);
            seqs.push(base.wrapping_add(off));
        }
        for (i, &seq) in seqs.iter().enumerate() {
            let t = T0 + i as u64 * MS;
            a.add(&row("127.0.0.1", 1, seq, t, t + MS));
        }
        let r = a.finish();
        let f = &r.total;
        let lengths: u64 = f.loss_runs.buckets().map(|b| b.low * b.count).sum();
        assert_eq!(lengths, f.counts.lost, "round {round}");
        assert_eq!(timeline_sums(f), (5000, f.counts.lost), "round {round}");
    }
}

#[test]
fn memory_stays_bounded_with_many_streams() {
    let mut a = local();
    let n = MAX_RECORD_STREAMS as u64 + 500;
    for id in 0..n {
        for seq in 0..3 {
            let t = T0 + (id * 3 + seq) * MS;
            a.add(&row("127.0.0.1", id, seq * 2, t, t));
        }
    }
    let r = a.finish();
    assert_eq!(r.streams.len(), MAX_RECORD_STREAMS);
    assert_eq!(r.evicted_streams, 500);
    assert_eq!(r.total.counts.received, n * 3);
    assert_eq!(r.total.counts.lost, n * 2);
    assert_eq!(r.total.loss_runs.count(), n * 2);
    // The first streams were forgotten; the kept ones are the last.
    assert_eq!(r.streams[0].stream.sender_id.get(), 500);
    let with_timeline = r
        .streams
        .iter()
        .filter(|s| s.figures.timeline.is_some())
        .count();
    assert_eq!(
        with_timeline, 0,
        "the first 32 streams, which had one, were forgotten"
    );
    let mut a = local();
    for id in 0..40 {
        feed(&mut a, "127.0.0.1", id, &[1, 2], MS);
    }
    let r = a.finish();
    let with: Vec<bool> = r
        .streams
        .iter()
        .map(|s| s.figures.timeline.is_some())
        .collect();
    assert_eq!(with.iter().filter(|&&w| w).count(), TIMELINE_STREAMS);
    assert!(with[..TIMELINE_STREAMS].iter().all(|&w| w));
}

#[test]
fn wifi_signatures_per_stream() {
    let mut a = local();
    // Stream 1: 200/s held until every second beacon (DTIM 2).
    let period = 2 * crate::dtim::BEACON_INTERVAL_NS;
    for i in 0..4000u64 {
        let sent = T0 + i * 5 * MS;
        let release = sent.div_ceil(period) * period + (i % 41) * 30_000;
        a.add(&row("127.0.0.1", 1, i, sent, release));
    }
    // Stream 2: a ramp of 1000-byte probes from 0.2 to 3 Mbit/s, 5 s a
    // step, through a 1 Mbit/s cap.
    let mut seq = 0u64;
    let mut t = T0;
    for step in 2..=30u64 {
        let pps = step * 100_000 / 8000;
        let carried = 1_000_000 / 8000;
        for _ in 0..5 {
            for k in 0..pps {
                seq += 1;
                let at = t + k * 1_000_000_000 / pps;
                if k < carried {
                    let mut r = row("127.0.0.1", 2, seq, at, at + MS);
                    r.bytes = 1000;
                    a.add(&r);
                }
            }
            t += 1_000_000_000;
        }
    }
    let r = a.finish();
    let b = r.streams[0].bursts.unwrap();
    assert_eq!(b.beacon_intervals, 2);
    assert!((b.period_ms() - 204.8).abs() < 2.0, "{b:?}");
    assert_eq!(r.streams[0].basic_rate, None);
    assert_eq!(r.streams[1].bursts, None);
    let f = r.streams[1].basic_rate.unwrap();
    assert!(f.clean_up_to_bps.abs_diff(1_000_000) < 50_000, "{f:?}");
    assert!(
        f.lossy_from_bps > 1_000_000 && f.lossy_from_bps < 1_200_000,
        "{f:?}"
    );
    assert!(f.delivered_bps.abs_diff(1_000_000) < 100_000, "{f:?}");
}
