//! Unit tests of the statistics: counting, timing, streams and eviction.

use super::*;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::group::{Group, Port};
use crate::probe::{DecodeError, Probe, SenderId};
use crate::test_rng::Rng;

const MS: u64 = 1_000_000;

/// Feeds sequence numbers (1 ms apart, 100 bytes, 1 ms transit) and
/// returns what each was.
fn feed(s: &mut StreamStats, seqs: &[u64]) -> Vec<Arrival> {
    seqs.iter()
        .map(|&q| {
            let t = s.counts().received * MS;
            s.on_probe(q, t, t + MS, 100)
        })
        .collect()
}

fn counts(
    received: u64,
    expected: u64,
    lost: u64,
    duplicates: u64,
    reordered: u64,
    late: u64,
) -> ProbeCounts {
    ProbeCounts {
        received,
        bytes: received * 100,
        expected,
        lost,
        duplicates,
        reordered,
        late,
    }
}

fn check_invariant(c: &ProbeCounts) {
    assert_eq!(
        c.received,
        c.expected - c.lost + c.duplicates + c.late,
        "{c:?}"
    );
}

use Arrival::*;

#[test]
fn in_order_and_the_first_packet_is_not_a_loss() {
    let mut s = StreamStats::new();
    assert_eq!(s.first_seq(), None);
    assert_eq!(feed(&mut s, &[1000, 1001, 1002]), [First, InOrder, InOrder]);
    assert_eq!(s.counts(), counts(3, 3, 0, 0, 0, 0));
    assert_eq!(s.first_seq(), Some(1000));
    assert_eq!(s.highest_seq(), Some(1002));
    assert_eq!(s.counts().loss_percent(), 0.0);
}

#[test]
fn gaps_are_lost() {
    let mut s = StreamStats::new();
    assert_eq!(
        feed(&mut s, &[1, 2, 5, 6, 10]),
        [First, InOrder, Gap(2), InOrder, Gap(3)]
    );
    assert_eq!(s.counts(), counts(5, 10, 5, 0, 0, 0));
    assert_eq!(s.counts().loss_percent(), 50.0);
    check_invariant(&s.counts());
}

#[test]
fn duplicates() {
    let mut s = StreamStats::new();
    assert_eq!(
        feed(&mut s, &[1, 2, 2, 3, 1, 2, 3]),
        [First, InOrder, Duplicate, InOrder, Duplicate, Duplicate, Duplicate]
    );
    assert_eq!(s.counts(), counts(7, 3, 0, 4, 0, 0));
    check_invariant(&s.counts());
}

#[test]
fn reordering_fills_gaps() {
    let mut s = StreamStats::new();
    assert_eq!(
        feed(&mut s, &[1, 3, 2, 6, 5, 4, 4, 7]),
        [
            First,
            Gap(1),
            Reordered,
            Gap(2),
            Reordered,
            Reordered,
            Duplicate,
            InOrder
        ]
    );
    assert_eq!(s.counts(), counts(8, 7, 0, 1, 3, 0));
    check_invariant(&s.counts());
}

#[test]
fn late_beyond_the_window_or_before_the_start() {
    let mut s = StreamStats::new();
    // Starting at 10: 9 came before the first one seen.
    assert_eq!(feed(&mut s, &[10, 9]), [First, Late]);
    // Jump far ahead; then 11 (lost at the time) is too old to tell.
    let far = 10 + REORDER_WINDOW + 5;
    assert_eq!(feed(&mut s, &[far, 11]), [Gap(REORDER_WINDOW + 4), Late]);
    // Just inside the window: still a reorder.
    assert_eq!(feed(&mut s, &[far - (REORDER_WINDOW - 1)]), [Reordered]);
    assert_eq!(feed(&mut s, &[far - REORDER_WINDOW]), [Late]);
    let c = s.counts();
    assert_eq!(c.late, 3);
    assert_eq!(c.reordered, 1);
    assert_eq!(c.expected, REORDER_WINDOW + 6);
    assert_eq!(c.lost, REORDER_WINDOW + 3);
    check_invariant(&c);
}

#[test]
fn sequence_numbers_wrap() {
    let mut s = StreamStats::new();
    let m = u64::MAX;
    assert_eq!(
        feed(&mut s, &[m - 2, m - 1, m, 0, 2, 1, m, 4, m - 3]),
        [
            First,
            InOrder,
            InOrder,
            InOrder,
            Gap(1),
            Reordered,
            Duplicate,
            Gap(1),
            Late
        ]
    );
    assert_eq!(s.first_seq(), Some(m - 2));
    assert_eq!(s.highest_seq(), Some(4));
    assert_eq!(s.counts(), counts(9, 8, 1, 1, 1, 1));
    check_invariant(&s.counts());
    // A gap across the wrap.
    let mut s = StreamStats::new();
    assert_eq!(
        feed(&mut s, &[m - 1, 1, m, 0]),
        [First, Gap(2), Reordered, Reordered]
    );
    assert_eq!(s.counts(), counts(4, 4, 0, 0, 2, 0));
    // Exactly half the space away is "behind", hence late.
    let mut s = StreamStats::new();
    assert_eq!(feed(&mut s, &[5, 5 + (1 << 63)]), [First, Late]);
}

#[test]
fn a_window_full_of_reordering() {
    // Every sequence number in the window arrives in reverse order after
    // the highest: all fill gaps, none is late or a duplicate.
    let mut s = StreamStats::new();
    let top = REORDER_WINDOW;
    feed(&mut s, &[0, top]);
    for q in (1..top).rev() {
        assert_eq!(feed(&mut s, &[q]), [Reordered], "{q}");
    }
    assert_eq!(s.counts().lost, 0);
    for q in 0..=top {
        assert_eq!(feed(&mut s, &[q]), [if q == 0 { Late } else { Duplicate }]);
    }
    check_invariant(&s.counts());
}

#[test]
fn bounded_random_sequences_keep_the_books_balanced() {
    // A stream with loss, duplication and reordering, against a model
    // that remembers every sequence number.
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for round in 0..20 {
        let mut s = StreamStats::new();
        let base = if round % 2 == 0 { u64::MAX - 500 } else { 7 };
        let mut seen = std::collections::HashSet::new();
        let mut next = 0u64;
        let mut first: Option<u64> = None;
        let mut highest = 0u64;
        for _ in 0..5000 {
            // Gaps of two, something recent again up to 200 back.
            let off = rng.seq_offset(&mut next, 80, |_| 3, 200);
            let q = base.wrapping_add(off);
            let a = s.on_probe(q, 0, 0, 100);
            // The model.
            let want = match first {
                None => {
                    first = Some(off);
                    highest = off;
                    First
                }
                Some(f) if off < f => Late,
                Some(_) if off > highest => {
                    let gap = off - highest - 1;
                    highest = off;
                    if gap == 0 {
                        InOrder
                    } else {
                        Gap(gap)
                    }
                }
                Some(_) if seen.contains(&off) => Duplicate,
                Some(_) => Reordered,
            };
            seen.insert(off);
            assert_eq!(a, want, "round {round}, offset {off}");
            check_invariant(&s.counts());
        }
        let f = first.unwrap_or(0);
        let distinct = seen.iter().filter(|&&o| o >= f).count() as u64;
        let c = s.counts();
        assert_eq!(c.expected, highest - f + 1);
        assert_eq!(c.lost, c.expected - distinct);
    }
}

#[test]
fn jitter_and_delay_on_a_hand_computed_case() {
    // sent (ms)  arrival (ms)  transit  |D|   J (ns) = J + (|D| - J)/16
    //   0          10           10       -    0
    //  20          32           12       2    0 + (2e6 - 0)/16          = 125000
    //  40          49            9       3    125000 + (3e6 - 125000)/16 = 304687.5
    //  60          70           10       1    304687.5 + (1e6 - 304687.5)/16
    //                                          = 348144.53125
    // A duplicate of the last one changes nothing.
    let mut s = StreamStats::new();
    let mut jitters = Vec::new();
    for (seq, sent, arr) in [
        (1, 0, 10),
        (2, 20, 32),
        (3, 40, 49),
        (4, 60, 70),
        (4, 60, 90),
    ] {
        s.on_probe(seq, sent * MS, arr * MS, 100);
        jitters.push(s.jitter_ns());
    }
    assert_eq!(
        jitters,
        [0.0, 125_000.0, 304_687.5, 348_144.531_25, 348_144.531_25]
    );
    // Delay: 10, 12, 9, 10 ms: min 9, mean 10.25, max 12.
    assert_eq!(
        s.delay(),
        Some(OneWayDelay {
            min_ns: 9 * MS as i64,
            avg_ns: 10.25e6,
            max_ns: 12 * MS as i64
        })
    );
}

#[test]
fn negative_and_extreme_delays_do_not_panic() {
    let mut s = StreamStats::new();
    // The sender's clock is 5 ms ahead.
    s.on_probe(1, 100 * MS, 95 * MS, 100);
    s.on_probe(2, 101 * MS, 97 * MS, 100);
    let d = s.delay().unwrap();
    assert_eq!((d.min_ns, d.max_ns), (-5 * MS as i64, -4 * MS as i64));
    assert_eq!(d.avg_ns, -4.5e6);
    assert_eq!(s.jitter_ns(), 1e6 / 16.0);
    // Absurd timestamps saturate instead of overflowing.
    s.on_probe(3, u64::MAX, 0, 100);
    s.on_probe(4, 0, u64::MAX, 100);
    let d = s.delay().unwrap();
    assert_eq!((d.min_ns, d.max_ns), (i64::MIN, i64::MAX));
    assert!(s.jitter_ns().is_finite());
}

#[test]
fn rates() {
    let mut s = StreamStats::new();
    let t0 = 1_700_000_000 * 1_000 * MS;
    // 1001 probes of 1250 bytes, 1 ms apart: 1000 pps, 10 Mbit/s.
    for i in 0..=1000u64 {
        s.on_probe(i, t0 + i * MS, t0 + i * MS + 300_000, 1250);
    }
    let l = s.lifetime();
    assert_eq!((l.packets, l.duration_ns), (1000, 1000 * MS));
    assert_eq!(l.pps(), 1000.0);
    assert_eq!(l.mbps(), 10.0);
    // The interval: everything so far, from the first arrival (0.3 ms
    // after t0) to 1.5 s after t0.
    let end = t0 + 1500 * MS;
    let i = s.interval_rates(end);
    assert_eq!(
        (i.packets, i.bytes, i.duration_ns),
        (1001, 1_251_250, 1_499_700_000)
    );
    // The next interval starts empty.
    let i = s.peek_interval(end + 500 * MS);
    assert_eq!((i.packets, i.duration_ns), (0, 500 * MS));
    assert_eq!(i.pps(), 0.0);
    assert_eq!(Throughput::default().mbps(), 0.0);
    // One probe: no span, no rate.
    let mut one = StreamStats::new();
    one.on_probe(1, 0, 0, 100);
    assert_eq!(one.lifetime().pps(), 0.0);
}

fn group(last: u8, port: u16) -> Group {
    Group::new(
        IpAddr::V4(Ipv4Addr::new(239, 1, 1, last)),
        Port::new(port).unwrap(),
    )
}

fn src(last: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)), port)
}

fn probe(id: u64, seq: u64) -> Probe {
    Probe::new(SenderId::new(id), seq, seq.wrapping_mul(MS))
}

#[test]
fn two_senders_on_one_group_and_a_restart() {
    let g = group(1, 5000);
    let mut r = ReceiverStats::new(&[g, group(2, 5000)]);
    // Two senders interleaved, each numbering from 1: no loss.
    for seq in 1..=100 {
        assert_ne!(
            r.on_probe(g, src(1, 4000), &probe(0xA, seq), seq * MS, 100),
            Late
        );
        r.on_probe(g, src(2, 4000), &probe(0xB, seq), seq * MS, 100);
    }
    // Sender A restarts: new id, new port, back to 1. A new stream, no
    // loss, no duplicates.
    assert_eq!(
        r.on_probe(g, src(1, 4001), &probe(0xC, 1), 200 * MS, 100),
        First
    );
    assert_eq!(
        r.on_probe(g, src(1, 4001), &probe(0xC, 2), 201 * MS, 100),
        InOrder
    );
    assert_eq!(r.stream_count(), 3);
    let gs = r.groups()[0];
    assert_eq!(gs.counts, counts(202, 202, 0, 0, 0, 0));
    assert_eq!((gs.streams, gs.senders_seen, gs.evicted), (3, 3, 0));
    // The other group is listed, empty.
    assert_eq!(r.groups()[1].counts, ProbeCounts::default());
    assert_eq!(r.totals(), gs.counts);
    // The same id from another source is another stream.
    r.on_probe(g, src(9, 4000), &probe(0xA, 50), 300 * MS, 100);
    assert_eq!(r.stream_count(), 4);
    let snaps = r.snapshot(400 * MS);
    let ids: Vec<u64> = snaps.iter().map(|s| s.key.sender.get()).collect();
    assert_eq!(ids, [0xA, 0xB, 0xC, 0xA]);
    // Group counters are the sums of the stream counters.
    let mut sum = ProbeCounts::default();
    for s in &snaps {
        sum.add(&s.counts);
    }
    assert_eq!(sum, r.groups()[0].counts);
}

#[test]
fn other_and_invalid_datagrams() {
    let g = group(1, 5000);
    let mut r = ReceiverStats::new(&[g]);
    let s = src(1, 4000);
    assert_eq!(
        r.on_datagram(g, s, b"hello world", 0),
        Err(DecodeError::NotAProbe)
    );
    assert!(matches!(
        r.on_datagram(g, s, b"MCST\x01\x00\x00\x20", 0),
        Err(DecodeError::Truncated { .. })
    ));
    let mut buf = [0u8; 64];
    probe(7, 1).encode_into(&mut buf, 64).unwrap();
    assert_eq!(r.on_datagram(g, s, &buf, 5 * MS), Ok(First));
    let gs = r.groups()[0];
    assert_eq!((gs.other, gs.other_bytes, gs.invalid), (1, 11, 1));
    assert_eq!((gs.counts.received, gs.counts.bytes), (1, 64));
    // A group not given up front is added when traffic arrives.
    r.on_other(group(9, 5000), 3);
    assert_eq!(r.groups().len(), 2);
    assert_eq!(r.groups()[1].other, 1);
}

#[test]
fn hostile_input_does_not_grow_memory() {
    // Every probe from a new sender id with a random sequence number.
    let g = group(1, 5000);
    let mut r = ReceiverStats::new(&[g]).with_max_streams(64);
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    for i in 0..50_000u64 {
        let id = rng.next();
        let seq = rng.next();
        let port = 1 + (rng.next() % 65_535) as u16;
        assert_eq!(r.on_probe(g, src(1, port), &probe(id, seq), i, 1), First);
        assert!(r.stream_count() <= 64);
    }
    // The table never holds more than the limit; with the slots that
    // removals leave behind, its allocation stays within a small multiple.
    assert!(r.streams.capacity() <= 4 * 64, "{}", r.streams.capacity());
    let gs = r.groups()[0];
    assert_eq!(gs.streams, 64);
    assert_eq!(gs.senders_seen, gs.evicted + 64);
    // One stream fed random 64-bit sequence numbers: fixed size, no panic.
    let mut r = ReceiverStats::new(&[g]);
    for i in 0..100_000u64 {
        r.on_probe(g, src(1, 1), &probe(1, rng.next()), i, 1);
    }
    assert_eq!(r.stream_count(), 1);
    assert_eq!(r.groups()[0].counts.received, 100_000);
    // The per-stream state: a fixed part (the window, counters, the
    // histograms' indexes, the DTIM detector) and histogram blocks that are
    // bounded by the octaves of time (see histogram.rs).
    assert!(
        std::mem::size_of::<StreamStats>() < 1536,
        "{}",
        std::mem::size_of::<StreamStats>()
    );
}

#[test]
fn the_least_recently_seen_stream_is_evicted() {
    let g = group(1, 5000);
    let mut r = ReceiverStats::new(&[g]).with_max_streams(2);
    r.on_probe(g, src(1, 1), &probe(1, 1), 0, 10);
    r.on_probe(g, src(2, 1), &probe(2, 1), 0, 10);
    r.on_probe(g, src(1, 1), &probe(1, 2), 0, 10); // 1 is now the most recent
    r.on_probe(g, src(3, 1), &probe(3, 1), 0, 10); // evicts 2
    let ids: Vec<u64> = r.snapshot(0).iter().map(|s| s.key.sender.get()).collect();
    assert_eq!(ids, [1, 3]);
    let gs = r.groups()[0];
    assert_eq!((gs.evicted, gs.streams, gs.counts.received), (1, 2, 4));
    // Sender 2 again: a fresh stream, its first probe not a loss.
    assert_eq!(r.on_probe(g, src(2, 1), &probe(2, 9), 0, 10), First);
    assert_eq!(r.groups()[0].counts.lost, 0);
}

#[test]
fn loss_runs_are_counted_and_split_by_reordering() {
    let mut s = StreamStats::new();
    // Runs: 3, then 6–7, then 11–14.
    feed(&mut s, &[1, 2, 4, 5, 8, 9, 10, 15]);
    let f = s.shape();
    assert_eq!((f.loss_runs, f.loss_run_max), (3, 4));
    // 12 splits 11–14 into 11 and 13–14.
    feed(&mut s, &[12]);
    assert_eq!(s.shape().loss_runs, 4);
    // 3 fills its run of one; 6 shortens 6–7; 11 fills its run of one.
    feed(&mut s, &[3, 6, 11]);
    let f = s.shape();
    assert_eq!((f.loss_runs, f.loss_run_max), (2, 4));
    assert_eq!(s.counts().lost, 3);
    // Duplicates and late probes change nothing.
    feed(&mut s, &[9, 0]);
    assert_eq!(s.shape().loss_runs, 2);
    // No loss, no runs.
    let mut s = StreamStats::new();
    feed(&mut s, &[7, 8, 9]);
    assert_eq!((s.shape().loss_runs, s.shape().loss_run_max), (0, 0));
}

#[test]
fn gap_and_delay_percentiles_are_exact_below_128_ns() {
    let mut s = StreamStats::new();
    assert_eq!(s.shape(), Default::default());
    // 100 gaps of 10 ns, then one of 100 ns; transit 5 ns, every 10th 50 ns.
    let mut t = 1_000;
    for seq in 0..=100u64 {
        let transit = if seq % 10 == 9 { 50 } else { 5 };
        s.on_probe(seq, t - transit, t, 100);
        t += 10;
    }
    s.on_probe(101, t + 90 - 5, t + 90, 100);
    // A duplicate is not a gap.
    s.on_probe(101, t, t + 95, 100);
    let f = s.shape();
    let g = f.gaps.unwrap();
    assert_eq!((g.p50, g.p90, g.p99, g.p999), (10, 10, 10, 100));
    assert_eq!(f.gap_max_ns, Some(100));
    let d = f.delay.unwrap();
    // 92 of 102 delays are 5 ns, 10 are 50 ns: rank 92 is still 5.
    assert_eq!((d.p50, d.p90, d.p99, d.p999), (5, 5, 50, 50));
    // Negative delays (clocks that disagree) count as 0.
    let mut s = StreamStats::new();
    s.on_probe(1, 2_000, 1_000, 100);
    assert_eq!(s.shape().delay.unwrap().p50, 0);
    assert_eq!(s.shape().gaps, None);
}

#[test]
fn snapshots_carry_the_shape() {
    let g = group(1, 5000);
    let mut r = ReceiverStats::new(&[g]);
    for seq in [1u64, 2, 5, 6] {
        r.on_probe(g, src(10, 4000), &probe(1, seq), seq * MS, 100);
    }
    let s = r.snapshot(10 * MS)[0];
    assert_eq!((s.loss_runs, s.loss_run_max), (1, 2));
    assert_eq!(s.gap_max_ns, Some(3 * MS));
    // 1 ms is in the bucket 999,424–1,007,615 ns: its midpoint.
    assert_eq!(s.gap_percentiles.unwrap().p50, 1_003_520);
    assert_eq!(s.bursts, None);
}
