//! The multicast basic rate: Wi-Fi sends group frames at the access
//! point's lowest basic rate (1 or 6 Mbit/s, typically) and without
//! retries, so a stream that unicast would carry is lost by multicast once
//! it is faster than that rate. Its signature: loss begins above one
//! offered rate and never happens below it.

use crate::stats::ProbeCounts;

/// Evidence needed for a finding.
const MIN_INTERVALS: u32 = 3;

/// Evidence needed for a [`FlatFinding`]: lossy intervals.
const MIN_FLAT_INTERVALS: u32 = 5;

/// The basic rates of 802.11b/a/g, bits/s: where group frames go.
const BASIC_RATES_BPS: [u64; 7] = [
    1_000_000, 2_000_000, 5_500_000, 6_000_000, 11_000_000, 12_000_000, 24_000_000,
];

/// The intervals [`RateMeter`] feeds the detector: one second, as `recv`
/// counts them.
const RATE_INTERVAL_NS: u64 = 1_000_000_000;

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

/// The delivered rate stayed flat near a basic rate while more was
/// offered: likely the multicast basic rate; see [`BasicRateDetector`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlatFinding {
    /// The mean rate that arrived in the lossy intervals, bits/s.
    pub delivered_bps: u64,
    /// The mean rate offered in them, bits/s.
    pub offered_bps: u64,
    /// The basic rate it is near, bits/s (1, 2, 5.5, 6, 11, 12 or 24 Mbit/s).
    pub basic_rate_bps: u64,
}

/// Lossy intervals whose delivered rate fell in one band.
#[derive(Debug, Clone, Copy)]
struct Delivered {
    key: u16,
    count: u32,
    delivered_bps: u64,
    offered_bps: u64,
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
///
/// # A constant stream above the rate
///
/// A stream offered at one rate above the basic rate loses part of every
/// interval: there is no clean interval below, so no [`RateFinding`]. Its
/// signature is the rate that gets through: [`flat`](BasicRateDetector::flat)
/// finds it when
///
/// - at least 5 intervals are lossy, at least 80 % of all intervals
///   counted are, and their mean loss is at least 10 %;
/// - the delivered rate is flat: at least 80 % of the lossy intervals
///   delivered within one band of 1/8 octave or its two neighbours (±13 %);
/// - it is near a basic rate of 802.11 (1, 2, 5.5, 6, 11, 12 or
///   24 Mbit/s): from 60 % of it (the probes' payload is less than what
///   the air carries: headers, preambles) to 105 %; the smallest such
///   rate is named.
///
/// Random loss of a constant stream delivers a flat rate too; it is taken
/// for the basic rate only when that rate is near one of the seven, hence
/// "likely".
#[derive(Debug, Clone, Default)]
pub struct BasicRateDetector {
    /// Sorted by key.
    bands: Vec<Band>,
    /// The lossy intervals by delivered rate, sorted by key.
    delivered: Vec<Delivered>,
    /// Intervals counted (not ignored), and the lost and expected probes
    /// of the lossy ones.
    intervals: u32,
    lossy_lost: u64,
    lossy_expected: u64,
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
        self.intervals += 1;
        if lost > 0 {
            let delivered =
                u128::from(offered_bps) * u128::from(expected - lost) / u128::from(expected);
            self.delivered(delivered as u64, offered_bps);
            self.lossy_lost += lost;
            self.lossy_expected += expected;
        }
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

    fn delivered(&mut self, delivered_bps: u64, offered_bps: u64) {
        let key = band(delivered_bps);
        let i = match self.delivered.binary_search_by_key(&key, |d| d.key) {
            Ok(i) => i,
            Err(i) => {
                self.delivered.insert(
                    i,
                    Delivered {
                        key,
                        count: 0,
                        delivered_bps: 0,
                        offered_bps: 0,
                    },
                );
                i
            }
        };
        let d = &mut self.delivered[i];
        d.count += 1;
        d.delivered_bps = d.delivered_bps.saturating_add(delivered_bps);
        d.offered_bps = d.offered_bps.saturating_add(offered_bps);
    }

    /// The finding of a constant stream above the basic rate: the delivered
    /// rate flat near a basic rate while more was offered (see the type's
    /// documentation).
    pub fn flat(&self) -> Option<FlatFinding> {
        let lossy: u32 = self.delivered.iter().map(|d| d.count).sum();
        if lossy < MIN_FLAT_INTERVALS
            || lossy * 5 < self.intervals * 4
            || self.lossy_lost * 10 < self.lossy_expected
        {
            return None;
        }
        // The three adjacent bands that hold the most lossy intervals.
        let (count, delivered, offered) = (0..self.delivered.len())
            .map(|i| {
                self.delivered
                    .iter()
                    .filter(|d| d.key.abs_diff(self.delivered[i].key) <= 1)
                    .fold((0u32, 0u64, 0u64), |(c, s, o), d| {
                        (c + d.count, s + d.delivered_bps, o + d.offered_bps)
                    })
            })
            .max_by_key(|&(c, _, _)| c)?;
        if count * 5 < lossy * 4 {
            return None;
        }
        let delivered_bps = delivered / u64::from(count);
        let offered_bps = offered / u64::from(count);
        let basic_rate_bps = *BASIC_RATES_BPS
            .iter()
            .find(|&&r| delivered_bps * 100 >= r * 60 && delivered_bps * 100 <= r * 105)?;
        Some(FlatFinding {
            delivered_bps,
            offered_bps,
            basic_rate_bps,
        })
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

/// Cuts one stream's arrivals into intervals of one second and feeds a
/// [`BasicRateDetector`] the rate offered in each (the sequence numbers it
/// spans, at the mean probe size, so lost probes count), the probes
/// expected and those lost. Fixed size but for the detector's bands.
#[derive(Debug, Clone, Default)]
pub(crate) struct RateMeter {
    detector: BasicRateDetector,
    started: bool,
    start_ns: u64,
    /// The stream's counters when the interval began.
    at_start: ProbeCounts,
}

impl RateMeter {
    /// A probe arrived at `now_ns` and the stream's counters are now
    /// `counts`: ends the interval if a second has passed.
    pub(crate) fn on_probe(&mut self, now_ns: u64, counts: &ProbeCounts) {
        if !self.started {
            self.started = true;
            self.start_ns = now_ns;
            self.at_start = *counts;
            return;
        }
        let span = now_ns.saturating_sub(self.start_ns);
        if span < RATE_INTERVAL_NS {
            return;
        }
        let was = std::mem::replace(&mut self.at_start, *counts);
        self.start_ns = now_ns;
        let received = counts.received.saturating_sub(was.received);
        let expected = counts.expected.saturating_sub(was.expected);
        if received == 0 {
            return;
        }
        let bits = u128::from(expected) * u128::from(counts.bytes.saturating_sub(was.bytes)) * 8
            / u128::from(received);
        let bps = bits * 1_000_000_000 / u128::from(span);
        self.detector.on_interval(
            u64::try_from(bps).unwrap_or(u64::MAX),
            expected,
            counts.lost.saturating_sub(was.lost),
        );
    }

    /// The detector.
    pub(crate) fn detector(&self) -> &BasicRateDetector {
        &self.detector
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
    fn a_constant_stream_over_a_cap_is_flat_near_the_basic_rate() {
        let mut rng = Rng(4);
        // 2 Mbit/s through a 1 Mbit/s cap (of frames: 960 kbit/s of
        // payload gets through), 10 s.
        let mut d = BasicRateDetector::new();
        for _ in 0..10 {
            second(&mut d, &mut rng, 2_000_000, 960_000, 0);
        }
        assert_eq!(d.finding(), None, "no clean interval below");
        let f = d.flat().unwrap();
        assert_eq!(f.basic_rate_bps, 1_000_000);
        assert_eq!(f.offered_bps, 2_000_000);
        assert!(f.delivered_bps.abs_diff(960_000) < 10_000, "{f:?}");
        // 16 Mbit/s through an 11 Mbit/s cap (9.5 of payload), with 1 %
        // random loss besides.
        let mut d = BasicRateDetector::new();
        for _ in 0..10 {
            second(&mut d, &mut rng, 16_000_000, 9_500_000, 1);
        }
        assert_eq!(d.flat().map(|f| f.basic_rate_bps), Some(11_000_000));
    }

    #[test]
    fn flat_needs_loss_flatness_and_a_basic_rate() {
        let mut rng = Rng(5);
        // Too few intervals.
        let mut d = BasicRateDetector::new();
        for _ in 0..4 {
            second(&mut d, &mut rng, 2_000_000, 960_000, 0);
        }
        assert_eq!(d.flat(), None);
        // Mostly clean: a stream that loses now and then.
        let mut d = BasicRateDetector::new();
        for i in 0..20 {
            let cap = if i % 3 == 0 { 960_000 } else { u64::MAX };
            second(&mut d, &mut rng, 2_000_000, cap, 0);
        }
        assert_eq!(d.flat(), None);
        // 5 % loss: not enough to be a rate limit.
        let mut d = BasicRateDetector::new();
        for _ in 0..10 {
            second(&mut d, &mut rng, 1_000_000, 950_000, 0);
        }
        assert_eq!(d.flat(), None);
        // Delivered all over the place: no flat rate.
        let mut d = BasicRateDetector::new();
        for i in 0..10u64 {
            second(&mut d, &mut rng, 4_000_000, 400_000 * (1 + i % 5), 0);
        }
        assert_eq!(d.flat(), None);
        // Flat, but at 3.2 Mbit/s: far from every basic rate.
        let mut d = BasicRateDetector::new();
        for _ in 0..10 {
            second(&mut d, &mut rng, 8_000_000, 3_200_000, 0);
        }
        assert_eq!(d.flat(), None);
    }

    #[test]
    fn the_meter_cuts_seconds() {
        // 250 probes/s of 1000 bytes (2 Mbit/s), every other one lost.
        let mut m = RateMeter::default();
        let mut c = ProbeCounts::default();
        for i in 0..2_500u64 {
            let t = i * 4_000_000;
            if i % 2 == 1 {
                continue;
            }
            c.received += 1;
            c.bytes += 1000;
            c.expected = i + 1;
            c.lost = i / 2;
            m.on_probe(t, &c);
        }
        let f = m.detector().flat().unwrap();
        assert_eq!(f.basic_rate_bps, 1_000_000);
        assert!(f.offered_bps.abs_diff(2_000_000) < 20_000, "{f:?}");
        assert!(f.delivered_bps.abs_diff(1_000_000) < 20_000, "{f:?}");
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
