use super::*;
use crate::test_rng::Rng;

/// The nearest-rank quantile of sorted data, the rule the histogram follows.
fn exact(sorted: &[u64], q: f64) -> u64 {
    if q <= 0.0 {
        return sorted[0];
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn quantiles() -> Vec<f64> {
    let mut qs: Vec<f64> = (0..=1000).map(|i| f64::from(i) / 1000.0).collect();
    qs.extend([0.0001, 0.001, 0.005, 0.9999, 0.99999, 0.999_999]);
    qs
}

/// Every quantile within 1 % (the bound is 1/128 = 0.78 %), min, max and
/// count exact.
fn check(values: &[u64]) -> Histogram {
    let mut h = Histogram::new();
    for &v in values {
        h.record(v);
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    assert_eq!(h.count(), values.len() as u64);
    assert_eq!(h.min(), sorted.first().copied());
    assert_eq!(h.max(), sorted.last().copied());
    for q in quantiles() {
        let want = exact(&sorted, q);
        let got = h.quantile(q).unwrap();
        let err = (got as f64 - want as f64).abs();
        assert!(
            err <= want as f64 / 128.0,
            "q={q}: got {got}, exact {want}, error {:.4} %",
            err * 100.0 / want as f64
        );
    }
    h
}

#[test]
fn uniform() {
    let mut rng = Rng(1);
    let v: Vec<u64> = (0..100_000).map(|_| rng.next() % 10_000_000).collect();
    check(&v);
    // Every integer 1..=10000 once: the median is 5000 within 0.78 %.
    let v: Vec<u64> = (1..=10_000).collect();
    let h = check(&v);
    assert!(h.quantile(0.5).unwrap().abs_diff(5000) <= 39);
}

#[test]
fn exponential_ish() {
    // Exponential with a 2 ms mean, plus a 50 µs floor: a delay.
    let mut rng = Rng(2);
    let v: Vec<u64> = (0..200_000)
        .map(|_| 50_000 + (-rng.unit().ln() * 2e6) as u64)
        .collect();
    check(&v);
}

#[test]
fn bimodal() {
    // DTIM-like gaps: most near 20 µs, the rest near 200 ms.
    let mut rng = Rng(3);
    let v: Vec<u64> = (0..50_000)
        .map(|i| {
            if i % 40 == 0 {
                200_000_000 + rng.next() % 2_000_000
            } else {
                15_000 + rng.next() % 10_000
            }
        })
        .collect();
    let h = check(&v);
    assert!(h.quantile(0.5).unwrap() < 26_000);
    assert!(h.quantile(0.99).unwrap() > 199_000_000);
}

#[test]
fn constant_one_value_and_zero() {
    let h = check(&[5_000_000; 1000]);
    for q in quantiles() {
        assert_eq!(h.quantile(q), Some(5_000_000), "q={q}");
    }
    let h = check(&[123_456_789]);
    assert_eq!(h.percentiles().map(|p| p.p999), Some(123_456_789));
    let h = check(&[0; 10]);
    assert_eq!(h.quantile(0.5), Some(0));
    // Small values are exact.
    let v: Vec<u64> = (0..128).chain(0..128).collect();
    let h = check(&v);
    for q in quantiles() {
        let mut s = v.clone();
        s.sort_unstable();
        assert_eq!(h.quantile(q), Some(exact(&s, q)));
    }
}

#[test]
fn huge_values() {
    let v = [
        u64::MAX,
        u64::MAX - 1,
        1 << 63,
        (1 << 63) - 1,
        1 << 40,
        3,
        u64::MAX / 3,
    ];
    let h = check(&v);
    assert_eq!(h.quantile(1.0), Some(u64::MAX));
    let mut rng = Rng(4);
    let v: Vec<u64> = (0..10_000).map(|_| rng.next()).collect();
    check(&v);
    // Every power of two and its neighbours: all bucket edges.
    let v: Vec<u64> = (0..64)
        .flat_map(|k| {
            let p = 1u64 << k;
            [p - 1, p, p + 1]
        })
        .collect();
    check(&v);
}

#[test]
fn empty_and_edge_quantiles() {
    let h = Histogram::new();
    assert_eq!((h.quantile(0.5), h.min(), h.max()), (None, None, None));
    assert!(h.percentiles().is_none() && h.is_empty());
    assert_eq!(h.heap_bytes(), 0);
    let mut h = Histogram::new();
    h.record(10);
    h.record(1000);
    assert_eq!(h.quantile(f64::NAN), None);
    assert_eq!(h.quantile(-1.0), Some(10));
    assert_eq!(h.quantile(2.0), Some(1000));
    assert_eq!(h.quantile(0.5), Some(10));
    assert_eq!(h.quantile(0.51), Some(1000));
}

#[test]
fn quantiles_are_monotonic() {
    let mut rng = Rng(5);
    let mut h = Histogram::new();
    for _ in 0..10_000 {
        h.record(rng.next() >> (rng.next() % 64));
    }
    let got: Vec<u64> = quantiles()
        .iter()
        .filter(|q| **q <= 1.0)
        .map(|&q| h.quantile(q).unwrap())
        .collect();
    let mut qs = quantiles();
    qs.retain(|q| *q <= 1.0);
    let mut pairs: Vec<(f64, u64)> = qs.into_iter().zip(got).collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(pairs.windows(2).all(|w| w[0].1 <= w[1].1));
}

#[test]
fn merge_equals_recording_everything() {
    let mut rng = Rng(6);
    let v: Vec<u64> = (0..20_000).map(|_| rng.next() % 1_000_000_000).collect();
    let (a, b) = v.split_at(7_000);
    let mut ha = Histogram::new();
    let mut hb = Histogram::new();
    let mut all = Histogram::new();
    a.iter().for_each(|&x| ha.record(x));
    b.iter().for_each(|&x| hb.record(x));
    v.iter().for_each(|&x| all.record(x));
    ha.merge(&hb);
    ha.merge(&Histogram::new());
    assert_eq!(
        (ha.count(), ha.min(), ha.max()),
        (all.count(), all.min(), all.max())
    );
    assert!(ha.buckets().eq(all.buckets()));
    for q in quantiles() {
        assert_eq!(ha.quantile(q), all.quantile(q));
    }
    // Into an empty one.
    let mut e = Histogram::new();
    e.merge(&all);
    assert!(e.buckets().eq(all.buckets()));
}

#[test]
fn buckets_cover_what_was_recorded() {
    let mut h = Histogram::new();
    for v in [0, 1, 63, 64, 127, 128, 129, 1_000_000, u64::MAX] {
        h.record(v);
    }
    let b: Vec<Bucket> = h.buckets().collect();
    assert_eq!(b.iter().map(|b| b.count).sum::<u64>(), 9);
    assert!(b.windows(2).all(|w| w[0].high < w[1].low));
    assert_eq!(
        b[0],
        Bucket {
            low: 0,
            high: 0,
            count: 1
        }
    );
    // 128 and 129 share a bucket of width 2.
    assert!(b.contains(&Bucket {
        low: 128,
        high: 129,
        count: 2
    }));
    assert_eq!(b.last().map(|b| b.high), Some(u64::MAX));
    let v = 1_000_000u64;
    let hit = b.iter().find(|b| b.low <= v && v <= b.high).unwrap();
    assert!((hit.high - hit.low + 1) as f64 <= v as f64 / 64.0);
}

#[test]
fn memory_is_lazy_and_bounded() {
    // The fixed part is 120 bytes on 64-bit targets (the documentation's
    // table), 104 on 32-bit ARM; each octave that holds values adds 256.
    let fixed = std::mem::size_of::<Histogram>();
    #[cfg(target_pointer_width = "64")]
    assert_eq!(fixed, 120);
    assert!(fixed <= 120);
    let octaves = |h: &Histogram| h.heap_bytes() / 256;
    let spread = |lo: u64, hi: u64| {
        let mut h = Histogram::new();
        let mut rng = Rng(7);
        for _ in 0..100_000 {
            h.record(lo + rng.next() % (hi - lo));
        }
        h.record(lo);
        h.record(hi);
        octaves(&h)
    };
    // The documentation's table: 5, 2 and 15 octaves.
    assert_eq!(spread(200_000, 3_000_000), 5);
    assert_eq!(spread(4_000_000, 6_000_000), 2);
    assert_eq!(spread(10_000, 210_000_000), 15);
    let mut h = Histogram::new();
    for k in 0..64 {
        h.record(1 << k);
    }
    h.record(0);
    assert_eq!(octaves(&h), 59);
    assert_eq!(h.heap_bytes() % 256, 0);
    let mut h = Histogram::new();
    h.record(0);
    for k in 6..42 {
        h.record(1 << k);
    }
    assert_eq!(octaves(&h), 37);
    // Once the octaves are there, recording allocates nothing more.
    let before = h.heap_bytes();
    for v in 0..1_000_000u64 {
        h.record(v * 4_000_000);
    }
    assert_eq!(h.heap_bytes(), before);
}

#[test]
fn a_full_counter_halves_the_scale() {
    let mut h = Histogram::new();
    for v in [10, 20, 30] {
        h.record(v);
    }
    // Fill 20's counter as if 2^32 − 1 values had arrived.
    let (j, sub) = index(20);
    let slot = usize::from(h.slots[j]);
    h.blocks[slot][sub] = u32::MAX;
    h.total = u64::from(u32::MAX) + 2;
    h.record(20);
    assert_eq!(h.shift, 1);
    assert_eq!(h.count(), 4);
    assert_eq!((h.min(), h.max()), (Some(10), Some(30)));
    // 10 and 30 keep a count of one each (rounded up); 200 dominates.
    assert_eq!(h.quantile(0.5), Some(20));
    assert_eq!(h.quantile(0.0), Some(10));
    let counts: Vec<u64> = h.buckets().map(|b| b.count).collect();
    assert_eq!(counts, [2, (1 << 32) + 2, 2]);
    // Merging a histogram at another scale aligns the scales first.
    let mut other = Histogram::new();
    other.record(30);
    other.merge(&h);
    assert_eq!(other.shift, 1);
    assert_eq!(other.count(), 5);
    assert_eq!(other.quantile(0.5), Some(20));
}

#[test]
fn ceil_shr_rounds_up() {
    assert_eq!(ceil_shr(0, 1), 0);
    assert_eq!(ceil_shr(1, 1), 1);
    assert_eq!(ceil_shr(3, 1), 2);
    assert_eq!(ceil_shr(4, 2), 1);
    assert_eq!(ceil_shr(5, 40), 1);
    assert_eq!(ceil_shr(u32::MAX, 1), 1 << 31);
}
