//! DTIM bunching: a Wi-Fi access point that holds group traffic for
//! stations in power save and releases it after every DTIM beacon turns a
//! steady stream into bursts every 102.4 ms × DTIM (beacons every 100 TU,
//! 1 TU = 1024 µs).

/// One beacon interval, 100 TU of 1024 µs.
pub const BEACON_INTERVAL_NS: u64 = 102_400_000;

/// The largest DTIM period (in beacon intervals) recognised.
const MAX_MULTIPLE: usize = 10;

/// A pair is held when the arrival gap is shorter than the send gap by at
/// least this much (and half the send gap).
const MIN_HOLD_NS: u64 = 1_000_000;

/// Evidence needed for a finding.
const MIN_PAIRS: u64 = 20;
const MIN_BURSTS: u32 = 5;

/// Bursts every N beacon intervals, as found by [`DtimDetector`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct DtimBursts {
    /// The period measured: the mean time between burst starts, ns.
    pub period_ns: u64,
    /// The period in beacon intervals of 102.4 ms: the DTIM period, when
    /// the beacons are 100 TU apart.
    pub beacon_intervals: u32,
    /// Bursts seen at that period.
    pub bursts: u32,
}

impl DtimBursts {
    /// The period in milliseconds (`burst_period_ms`).
    pub fn period_ms(&self) -> f64 {
        self.period_ns as f64 / 1e6
    }
}

/// Finds DTIM bunching in one stream, fed probe by probe.
///
/// # The rule
///
/// The detector is fed each probe of a stream in sequence order (duplicates
/// and late probes left out) with its send time and its arrival time, and
/// looks at consecutive pairs:
///
/// - A probe was *held* when it arrived much closer to its predecessor than
///   it was sent: the send gap minus the arrival gap is at least half the
///   send gap and at least 1 ms. Within a DTIM burst, probes sent 5 ms apart
///   arrive back to back. A sender that is itself bursty sends its probes
///   close together and they arrive close together: not held. Random loss
///   widens both gaps alike: not held.
/// - Every probe that was not held starts a burst. The time from one burst's
///   start to the next is compared with the multiples of the beacon
///   interval (1 to 10): within 5 % of one, it counts for that multiple.
///   Burst starts are used, not the silent gaps between bursts, because a
///   burst takes time on the air (at a 1 Mbit/s basic rate, a millisecond
///   per probe), which shortens the silent gap but not the period.
///
/// There is a finding when at least half of the pairs were held, at least
/// 60 % of the time between the first and the last burst start is in
/// intervals of one multiple N × 102.4 ms (at least 5 of them), and their
/// mean is within 1.5 % of N × 102.4 ms: the period is that mean. Memory is
/// fixed (under 200 bytes).
#[derive(Debug, Clone, Default)]
pub struct DtimDetector {
    /// The previous probe's send and arrival times.
    prev: Option<(u64, u64)>,
    pairs: u64,
    held: u64,
    last_start_ns: Option<u64>,
    /// Time between the first and the last burst start.
    span_ns: u64,
    /// Per multiple N (index N − 1): the time in intervals near N beacon
    /// intervals, and how many.
    matched_ns: [u64; MAX_MULTIPLE],
    matched: [u32; MAX_MULTIPLE],
}

impl DtimDetector {
    /// A detector that has seen nothing.
    pub fn new() -> DtimDetector {
        DtimDetector::default()
    }

    /// The next probe of the stream in sequence order: its send time (from
    /// the probe) and its arrival time, ns on any clock each.
    pub fn on_probe(&mut self, sent_ns: u64, arrival_ns: u64) {
        let Some((ps, pa)) = self.prev.replace((sent_ns, arrival_ns)) else {
            self.last_start_ns = Some(arrival_ns);
            return;
        };
        let send_gap = sent_ns.saturating_sub(ps);
        let arrival_gap = arrival_ns.saturating_sub(pa);
        self.pairs += 1;
        if send_gap.saturating_sub(arrival_gap) >= (send_gap / 2).max(MIN_HOLD_NS) {
            self.held += 1;
            return;
        }
        if let Some(start) = self.last_start_ns.replace(arrival_ns) {
            let x = arrival_ns.saturating_sub(start);
            self.span_ns = self.span_ns.saturating_add(x);
            let n = (x + BEACON_INTERVAL_NS / 2) / BEACON_INTERVAL_NS;
            if (1..=MAX_MULTIPLE as u64).contains(&n)
                && x.abs_diff(n * BEACON_INTERVAL_NS) * 20 <= n * BEACON_INTERVAL_NS
            {
                let i = n as usize - 1;
                self.matched_ns[i] = self.matched_ns[i].saturating_add(x);
                self.matched[i] += 1;
            }
        }
    }

    /// The bursts, if the stream shows DTIM bunching so far.
    pub fn bursts(&self) -> Option<DtimBursts> {
        if self.pairs < MIN_PAIRS || self.held * 2 < self.pairs {
            return None;
        }
        let i = (0..MAX_MULTIPLE).max_by_key(|&i| self.matched_ns[i])?;
        let (time, count) = (self.matched_ns[i], self.matched[i]);
        if count < MIN_BURSTS || u128::from(time) * 10 < u128::from(self.span_ns) * 6 {
            return None;
        }
        let period_ns = time / u64::from(count);
        let nominal = (i as u64 + 1) * BEACON_INTERVAL_NS;
        (period_ns.abs_diff(nominal) * 1000 <= nominal * 15).then_some(DtimBursts {
            period_ns,
            beacon_intervals: i as u32 + 1,
            bursts: count,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    const MS: u64 = 1_000_000;

    /// A 200/s stream for `secs` seconds through an access point that
    /// releases group frames after every `dtim`-th beacon, up to 2 ms late
    /// (contention), then one frame per `airtime` with up to 200 µs of
    /// jitter each.
    fn dtim_stream(dtim: u64, airtime: u64, secs: u64, seed: u64) -> DtimDetector {
        let mut rng = Rng(seed);
        let mut d = DtimDetector::new();
        let period = dtim * BEACON_INTERVAL_NS;
        let phase = rng.below(period);
        let mut queued = 0u64;
        let mut release = 0u64;
        let mut late = 0u64;
        for i in 0..secs * 200 {
            let sent = i * 5 * MS;
            // The first DTIM beacon after the probe reached the AP.
            let beacon = (sent + phase).div_ceil(period) * period - phase;
            if beacon != release {
                release = beacon;
                queued = 0;
                late = rng.below(2 * MS);
            }
            let arrival = beacon + late + queued * airtime + rng.below(200_000);
            queued += 1;
            d.on_probe(sent, arrival.max(sent));
        }
        d
    }

    #[test]
    fn dtim_1_2_3_at_200_per_second() {
        for (dtim, airtime) in [(1, 50_000), (2, 50_000), (3, 50_000), (2, MS), (1, MS)] {
            for seed in 1..=5 {
                let b = dtim_stream(dtim, airtime, 20, seed)
                    .bursts()
                    .unwrap_or_else(|| panic!("DTIM {dtim}, airtime {airtime}, seed {seed}"));
                let want = dtim * BEACON_INTERVAL_NS;
                assert_eq!(b.beacon_intervals, dtim as u32);
                assert!(
                    b.period_ns.abs_diff(want) * 100 <= want,
                    "DTIM {dtim}: {} ms",
                    b.period_ms()
                );
                assert!(b.bursts >= 20 / dtim as u32 * 9);
            }
        }
        let b = dtim_stream(2, 50_000, 20, 9).bursts().unwrap();
        assert!((b.period_ms() - 204.8).abs() < 2.0, "{}", b.period_ms());
    }

    #[test]
    fn a_steady_stream_with_jitter() {
        let mut rng = Rng(11);
        let mut d = DtimDetector::new();
        for i in 0..4000u64 {
            let sent = i * 5 * MS;
            d.on_probe(sent, sent + 3 * MS + rng.below(3 * MS));
        }
        assert_eq!(d.bursts(), None);
    }

    #[test]
    fn random_loss() {
        let mut rng = Rng(12);
        let mut d = DtimDetector::new();
        for i in 0..4000u64 {
            if rng.below(10) == 0 {
                continue;
            }
            let sent = i * 5 * MS;
            d.on_probe(sent, sent + 2 * MS + rng.below(MS));
        }
        assert_eq!(d.bursts(), None);
    }

    #[test]
    fn a_sender_that_bursts_every_200_ms() {
        // 40 probes back to back every 204.8 ms and every 200 ms: the send
        // times show the bursts, so it is not the network.
        for period in [200 * MS, 2 * BEACON_INTERVAL_NS] {
            let mut rng = Rng(13);
            let mut d = DtimDetector::new();
            for burst in 0..100u64 {
                for k in 0..40u64 {
                    let sent = burst * period + k * 20_000;
                    d.on_probe(sent, sent + 2 * MS + rng.below(200_000));
                }
            }
            assert_eq!(d.bursts(), None, "period {period}");
        }
    }

    #[test]
    fn bursts_at_a_period_that_is_no_beacon_multiple() {
        // Held and released like DTIM, but every 150, 250 or 300 ms.
        for period_ms in [150u64, 250, 300, 60] {
            let mut d = DtimDetector::new();
            let period = period_ms * MS;
            for i in 0..4000u64 {
                let sent = i * 5 * MS;
                let release = sent.div_ceil(period) * period;
                d.on_probe(sent, release + (sent % period) / 100);
            }
            assert_eq!(d.bursts(), None, "{period_ms} ms");
        }
    }

    #[test]
    fn too_little_evidence() {
        // Two bursts only.
        let d = dtim_stream(2, 50_000, 0, 1);
        assert_eq!(d.bursts(), None);
        let mut d = DtimDetector::new();
        for i in 0..100u64 {
            let sent = i * 5 * MS;
            d.on_probe(sent, sent.div_ceil(204_800_000) * 204_800_000);
        }
        assert_eq!(d.bursts(), None, "two bursts in 0.5 s");
        assert!(std::mem::size_of::<DtimDetector>() < 200);
    }
}
