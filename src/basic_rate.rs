//! The multicast basic rate: Wi-Fi sends group frames at the access
//! point's lowest basic rate (1 or 6 Mbit/s, typically) and without
//! retries, so a stream that unicast would carry is lost by multicast once
//! it is faster than that rate. Its signature: loss begins above one
//! offered rate and never happens below it.

/// Evidence needed for a finding.
const MIN_INTERVALS: u32 = 3;

/// Loss began above a rate and never below it; see [`BasicRateDetector`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateFinding {
    /// The highest rate offered without loss, below every lossy one,
    /// bits/s.
    pub clean_up_to_bps: u64,
    /// The lowest rate offered with loss, bits/s.
    pub lossy_from_bps: u64,
    /// The mean rate that arrived in the lossy intervals, bits/s.
    pub delivered_bps: u64,
}

/// What the intervals of one band were.
#[derive(Debug, Clone, Copy)]
struct Band {
    key: u16,
    clean: u32,
    lossy: u32,
    max_clean_bps: u64,
    min_lossy_bps: u64,
    /// Sum of the delivered rates of the lossy intervals.
    delivered_bps: u64,
}

/// Finds loss that begins above a rate, fed interval by interval.
///
/// # The rule
///
/// The detector is fed intervals of one stream (e.g. one a second): the
/// rate offered (bits/s of probe payload, from the sequence numbers and
/// sizes, so lost probes count), the probes expected and the probes lost.
/// An interval is *clean* without loss, *lossy* with at least 1 % loss;
/// one with less is ignored. Rates are kept in bands of 1/8 octave (9 %).
/// There is a finding when, with L the lowest offered rate of a lossy
/// interval:
///
/// - at least 3 clean intervals were offered less than L (in lower bands),
///   and none of them was lossy (by the choice of L);
/// - at least 3 intervals at L or above are lossy, and at least 80 % of the
///   intervals there are.
///
/// Random loss at every rate gives no clean interval below L, and loss now
/// and then gives clean intervals above it: neither is a finding. The
/// finding carries the highest clean rate below L (where "loss began
/// above"), L, and the mean rate that got through in the lossy intervals
/// (near the basic rate's capacity). Memory: a few dozen bytes per band
/// used (at most 512 bands).
#[derive(Debug, Clone, Default)]
pub struct BasicRateDetector {
    /// Sorted by key.
    bands: Vec<Band>,
}

/// The band of a rate: 8 per octave.
fn band(bps: u64) -> u16 {
    if bps < 8 {
        return bps as u16;
    }
    let k = 63 - bps.leading_zeros();
    (k * 8 + ((bps >> (k - 3)) & 7) as u32) as u16
}

impl BasicRateDetector {
    /// A detector that has seen nothing.
    pub fn new() -> BasicRateDetector {
        BasicRateDetector::default()
    }

    /// One interval: the rate offered (bits/s), the probes expected in it
    /// and the probes of those lost.
    pub fn on_interval(&mut self, offered_bps: u64, expected: u64, lost: u64) {
        let lost = lost.min(expected);
        if expected == 0 || (lost > 0 && lost * 100 < expected) {
            return;
        }
        let key = band(offered_bps);
        let i = match self.bands.binary_search_by_key(&key, |b| b.key) {
            Ok(i) => i,
            Err(i) => {
                self.bands.insert(
                    i,
                    Band {
                        key,
                        clean: 0,
                        lossy: 0,
                        max_clean_bps: 0,
                        min_lossy_bps: u64::MAX,
                        delivered_bps: 0,
                    },
                );
                i
            }
        };
        let b = &mut self.bands[i];
        if lost == 0 {
            b.clean += 1;
            b.max_clean_bps = b.max_clean_bps.max(offered_bps);
        } else {
            b.lossy += 1;
            b.min_lossy_bps = b.min_lossy_bps.min(offered_bps);
            let delivered =
                u128::from(offered_bps) * u128::from(expected - lost) / u128::from(expected);
            b.delivered_bps = b.delivered_bps.saturating_add(delivered as u64);
        }
    }

    /// The finding, if loss so far began above a rate and never below it.
    pub fn finding(&self) -> Option<RateFinding> {
        let first = self.bands.iter().position(|b| b.lossy > 0)?;
        let (below, above) = self.bands.split_at(first);
        let clean_below: u32 = below.iter().map(|b| b.clean).sum();
        let lossy: u32 = above.iter().map(|b| b.lossy).sum();
        let clean_above: u32 = above.iter().map(|b| b.clean).sum();
        if clean_below < MIN_INTERVALS || lossy < MIN_INTERVALS || lossy < 4 * clean_above {
            return None;
        }
        let delivered: u64 = above.iter().map(|b| b.delivered_bps).sum();
        Some(RateFinding {
            clean_up_to_bps: below.iter().map(|b| b.max_clean_bps).max()?,
            lossy_from_bps: above[0].min_lossy_bps,
            delivered_bps: delivered / u64::from(lossy),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    const PROBE_BITS: u64 = 1000 * 8;

    /// One second at `bps` of 1000-byte probes through a link that carries
    /// at most `cap` bits/s, plus random loss of `random_pct` %.
    fn second(d: &mut BasicRateDetector, rng: &mut Rng, bps: u64, cap: u64, random_pct: u64) {
        let expected = bps / PROBE_BITS;
        let mut lost = expected.saturating_sub(cap / PROBE_BITS);
        for _ in 0..expected - lost {
            if rng.next() % 100 < random_pct {
                lost += 1;
            }
        }
        d.on_interval(expected * PROBE_BITS, expected, lost);
    }

    /// 200 kbit/s to 3 Mbit/s in 100 kbit/s steps, 5 s each, through
    /// [`second`].
    fn ramp(d: &mut BasicRateDetector, rng: &mut Rng, cap: u64, random_pct: u64) {
        for step in 2..=30u64 {
            for _ in 0..5 {
                second(d, rng, step * 100_000, cap, random_pct);
            }
        }
    }

    #[test]
    fn a_ramp_over_a_1_mbit_cap() {
        // 200 kbit/s to 3 Mbit/s in 100 kbit/s steps, 5 s each.
        let mut rng = Rng(1);
        let mut d = BasicRateDetector::new();
        ramp(&mut d, &mut rng, 1_000_000, 0);
        let f = d.finding().unwrap();
        assert_eq!(f.clean_up_to_bps, 1_000_000);
        assert_eq!(f.lossy_from_bps, 1_096_000);
        assert!(f.delivered_bps.abs_diff(1_000_000) < 20_000, "{f:?}");
        // Coming down again changes nothing.
        for step in (2..=30u64).rev() {
            second(&mut d, &mut rng, step * 100_000, 1_000_000, 0);
        }
        assert_eq!(d.finding().map(|f| f.clean_up_to_bps), Some(1_000_000));
        // A 6 Mbit/s cap, 1 to 12 Mbit/s, with 0.5 % random loss besides
        // (under 1 %: ignored below the cap).
        let mut d = BasicRateDetector::new();
        for step in 1..=12u64 {
            for _ in 0..5 {
                let bps = step * 1_000_000;
                let expected = bps / PROBE_BITS;
                let random = expected / 200;
                let lost = expected.saturating_sub(6_000_000 / PROBE_BITS) + random;
                d.on_interval(bps, expected, lost);
            }
        }
        // Only 1 Mbit/s (125 probes a second) lost none; 2-6 Mbit/s lost
        // 0.4-0.5 %, neither clean nor lossy.
        let f = d.finding().unwrap();
        assert_eq!(
            (f.clean_up_to_bps, f.lossy_from_bps),
            (1_000_000, 7_000_000)
        );
    }

    #[test]
    fn random_loss_at_every_rate() {
        let mut rng = Rng(2);
        let mut d = BasicRateDetector::new();
        ramp(&mut d, &mut rng, u64::MAX, 10);
        assert_eq!(d.finding(), None);
        // Loss now and then, at any rate: clean intervals above the lowest
        // lossy one.
        let mut d = BasicRateDetector::new();
        for i in 0..300u64 {
            let bps = (2 + i % 29) * 100_000;
            let lost = u64::from(rng.next() % 10 == 0) * 5;
            d.on_interval(bps, bps / PROBE_BITS, lost);
        }
        assert_eq!(d.finding(), None);
    }

    #[test]
    fn no_loss_or_no_lower_rate() {
        let mut rng = Rng(3);
        let mut d = BasicRateDetector::new();
        for step in 2..=30u64 {
            second(&mut d, &mut rng, step * 100_000, u64::MAX, 0);
        }
        assert_eq!(d.finding(), None);
        // Only above the cap: nothing says loss began at a rate.
        let mut d = BasicRateDetector::new();
        for _ in 0..30 {
            second(&mut d, &mut rng, 2_000_000, 1_000_000, 0);
        }
        assert_eq!(d.finding(), None);
        // Empty intervals and tiny loss are ignored.
        d.on_interval(0, 0, 0);
        d.on_interval(500_000, 1000, 5);
        assert_eq!(d.bands.len(), 1);
    }

    #[test]
    fn bands() {
        assert_eq!(band(0), 0);
        assert_eq!(band(7), 7);
        assert_eq!(band(8), 24);
        assert_eq!(band(15), 31);
        assert_eq!(band(16), 32);
        assert!(band(u64::MAX) < 512);
        let mut last = 0;
        for k in 0..2000u64 {
            let b = band(k * 1_000_003);
            assert!(b >= last);
            last = b;
        }
    }
}
