//! One stream's counting and timing: [`StreamStats`], the per-datagram hot
//! path (bounded memory; after warm-up nothing it receives allocates).

use super::counts::{Arrival, OneWayDelay, ProbeCounts, Throughput};
use super::shape::{Shape, ShapeFigures};
use super::REORDER_WINDOW;
use crate::basic_rate::{FlatFinding, RateFinding, RateMeter};
use crate::dtim::DtimBursts;

const WORDS: usize = (REORDER_WINDOW / 64) as usize;

/// One sender's stream to one group: counters, timing, distributions and
/// rates. Its memory is bounded: the counters are fixed, and the two
/// histograms grow by a 256-byte block per octave of time first seen (a
/// few KiB at most; see [`Histogram`](crate::recording::Histogram)).
///
/// # Counting
///
/// Sequence numbers are compared with serial-number arithmetic (RFC 1982) on
/// 64 bits: `b` is *after* `a` when `b - a` (mod 2^64) is between 1 and
/// 2^63 − 1, so a stream may wrap around from `u64::MAX` to 0. A stream
/// remembers the highest sequence number seen and which of the last
/// [`REORDER_WINDOW`] (4096) sequence numbers up to it arrived, in a fixed
/// bitmap: memory per stream is constant whatever arrives.
///
/// Each probe is exactly one [`Arrival`]:
///
/// - [`First`](Arrival::First): the stream's first probe. Counting starts
///   there, whatever its sequence number: it is never a loss.
/// - [`InOrder`](Arrival::InOrder): the highest so far plus one.
/// - [`Gap`](Arrival::Gap): later than that; the sequence numbers skipped are
///   counted as *lost*, provisionally.
/// - [`Reordered`](Arrival::Reordered): older than the highest, within the
///   window, not seen before: it fills a gap, so *lost* goes down by one and
///   *reordered* up by one.
/// - [`Duplicate`](Arrival::Duplicate): a sequence number already received,
///   within the window.
/// - [`Late`](Arrival::Late): older than the window (4096 or more behind the
///   highest) or older than the stream's first probe: too late to tell whether
///   it fills a gap or repeats a probe, so *lost* is left as it is.
///
/// Hence *expected* (the sequence numbers from the first to the highest) and
/// the counters always satisfy
/// `received = (expected − lost) + duplicates + late`, and the loss
/// percentage is `lost / expected × 100`. A jump forwards counts every
/// skipped number as lost, however large (counters saturate).
///
/// # Timing
///
/// Times are nanoseconds on the wall clock (CLOCK_REALTIME since the Unix
/// epoch): `sent_ns` from the probe, `arrival_ns` from the receiver. Every
/// probe but a duplicate updates the timing, in arrival order:
///
/// - Interarrival jitter as in RFC 3550 §6.4.1: with the transit time
///   `T = arrival − sent` and `D = T(i) − T(i−1)`, `J += (|D| − J) / 16`, in
///   nanoseconds as an `f64`. A constant clock offset between sender and
///   receiver cancels out, so jitter is meaningful without synchronised
///   clocks.
/// - One-way delay `arrival − sent`: minimum, mean and maximum. It is
///   meaningful only when both ends share a clock (the same host, or
///   `--assume-synced-clocks`); this type always computes it and the caller
///   decides whether to show it (`show_delay`). With unsynchronised clocks it
///   may be negative; it is kept in signed nanoseconds and never overflows.
///
/// # Distributions and loss runs
///
/// - The one-way delay of every probe but a duplicate goes into a
///   [`Histogram`](crate::recording::Histogram) (negative delays as 0), for its
///   percentiles.
/// - So does every *interarrival gap*: the time from the previous arrival
///   of the stream (duplicates left out) to this one.
/// - A *loss run* is a maximal run of consecutive lost sequence numbers.
///   A [`Gap`](Arrival::Gap) starts one; a reordered probe that fills a run
///   of one ends it, and one that fills the middle of a run splits it in
///   two (its neighbours are looked up in the reorder window). The longest
///   run is the longest as it was first seen: a later split does not
///   shorten it.
/// - Probes in sequence order feed a [`DtimDetector`](crate::recording::DtimDetector)
///   with their send and arrival times.
/// - Each second of arrivals feeds a
///   [`BasicRateDetector`](crate::recording::BasicRateDetector): the rate offered
///   (from the sequence numbers, so lost probes count), expected and lost.
///
/// Rates count UDP payload bytes. The lifetime rate of a stream is measured
/// from its first to its last arrival: the packets after the first over the
/// time between them, which is exact for a steady stream. The interval rate
/// (for a once-a-second status line) is what arrived since the previous
/// interval ended, over the time since then.
#[derive(Debug, Clone)]
pub struct StreamStats {
    started: bool,
    pub(super) first_seq: u64,
    pub(super) highest: u64,
    /// Bit `s % REORDER_WINDOW` is set when sequence number `s`, within the
    /// window below `highest`, has arrived.
    window: [u64; WORDS],
    counts: ProbeCounts,
    first_arrival_ns: u64,
    first_bytes: u64,
    last_arrival_ns: u64,
    last_transit_ns: Option<i128>,
    jitter_ns: f64,
    delay_min_ns: i64,
    delay_max_ns: i64,
    delay_sum_ns: i128,
    delay_count: u64,
    interval_start_ns: u64,
    interval_packets: u64,
    interval_bytes: u64,
    shape: Shape,
    rate: RateMeter,
}

impl Default for StreamStats {
    fn default() -> StreamStats {
        StreamStats::new()
    }
}

impl StreamStats {
    /// A stream with nothing received yet.
    pub fn new() -> StreamStats {
        StreamStats {
            started: false,
            first_seq: 0,
            highest: 0,
            window: [0; WORDS],
            counts: ProbeCounts::default(),
            first_arrival_ns: 0,
            first_bytes: 0,
            last_arrival_ns: 0,
            last_transit_ns: None,
            jitter_ns: 0.0,
            delay_min_ns: 0,
            delay_max_ns: 0,
            delay_sum_ns: 0,
            delay_count: 0,
            interval_start_ns: 0,
            interval_packets: 0,
            interval_bytes: 0,
            shape: Shape::default(),
            rate: RateMeter::default(),
        }
    }

    /// Counts one probe: its sequence number, its send time, when it arrived
    /// (both in ns since the Unix epoch) and its UDP payload size.
    pub fn on_probe(&mut self, seq: u64, sent_ns: u64, arrival_ns: u64, bytes: usize) -> Arrival {
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        let arrival = self.classify(seq);
        self.counts.apply(arrival, bytes);
        self.rate.on_probe(arrival_ns, &self.counts);
        if arrival == Arrival::First {
            self.first_arrival_ns = arrival_ns;
            self.first_bytes = bytes;
            self.interval_start_ns = arrival_ns;
        }
        self.last_arrival_ns = arrival_ns;
        self.interval_packets = self.interval_packets.saturating_add(1);
        self.interval_bytes = self.interval_bytes.saturating_add(bytes);
        let delay = if arrival == Arrival::Duplicate {
            0
        } else {
            self.time(sent_ns, arrival_ns)
        };
        self.shape.on_probe(arrival, sent_ns, arrival_ns, delay);
        arrival
    }

    fn classify(&mut self, seq: u64) -> Arrival {
        if !self.started {
            self.started = true;
            self.first_seq = seq;
            self.highest = seq;
            self.set(seq);
            return Arrival::First;
        }
        let ahead = seq.wrapping_sub(self.highest);
        if ahead == 0 {
            return Arrival::Duplicate;
        }
        if ahead < 1 << 63 {
            self.clear_after_highest(ahead);
            self.set(seq);
            self.highest = seq;
            return if ahead == 1 {
                Arrival::InOrder
            } else {
                Arrival::Gap(ahead - 1)
            };
        }
        // Behind the highest by 1..=2^63.
        let behind = self.highest.wrapping_sub(seq);
        if behind >= REORDER_WINDOW || behind >= self.counts.expected {
            Arrival::Late
        } else if self.is_set(seq) {
            Arrival::Duplicate
        } else {
            // The first probe's predecessor was never expected.
            let before = seq == self.first_seq || self.is_set(seq.wrapping_sub(1));
            let after = self.is_set(seq.wrapping_add(1));
            self.shape.filled(before, after);
            self.set(seq);
            Arrival::Reordered
        }
    }

    fn slot(seq: u64) -> (usize, u64) {
        let i = (seq % REORDER_WINDOW) as usize;
        (i / 64, 1 << (i % 64))
    }

    fn set(&mut self, seq: u64) {
        let (w, bit) = StreamStats::slot(seq);
        self.window[w] |= bit;
    }

    fn is_set(&self, seq: u64) -> bool {
        let (w, bit) = StreamStats::slot(seq);
        self.window[w] & bit != 0
    }

    /// Clears the bits of `highest + 1 ..= highest + n`, a word at a time.
    fn clear_after_highest(&mut self, n: u64) {
        if n >= REORDER_WINDOW {
            self.window = [0; WORDS];
            return;
        }
        let mut seq = self.highest.wrapping_add(1);
        let mut left = n;
        while left > 0 {
            let i = (seq % REORDER_WINDOW) as usize;
            let (w, b) = (i / 64, (i % 64) as u64);
            let k = left.min(64 - b);
            let mask = if k == 64 { !0 } else { ((1u64 << k) - 1) << b };
            self.window[w] &= !mask;
            seq = seq.wrapping_add(k);
            left -= k;
        }
    }

    /// Updates jitter and delay; returns the delay.
    fn time(&mut self, sent_ns: u64, arrival_ns: u64) -> i64 {
        let transit = i128::from(arrival_ns) - i128::from(sent_ns);
        if let Some(prev) = self.last_transit_ns {
            let d = (transit - prev).unsigned_abs() as f64;
            self.jitter_ns += (d - self.jitter_ns) / 16.0;
        }
        self.last_transit_ns = Some(transit);
        let delay = i64::try_from(transit).unwrap_or(if transit < 0 { i64::MIN } else { i64::MAX });
        if self.delay_count == 0 {
            self.delay_min_ns = delay;
            self.delay_max_ns = delay;
        } else {
            self.delay_min_ns = self.delay_min_ns.min(delay);
            self.delay_max_ns = self.delay_max_ns.max(delay);
        }
        self.delay_sum_ns = self.delay_sum_ns.saturating_add(i128::from(delay));
        self.delay_count = self.delay_count.saturating_add(1);
        delay
    }

    /// The counters.
    pub fn counts(&self) -> ProbeCounts {
        self.counts
    }

    /// The first sequence number seen, once something arrived.
    pub fn first_seq(&self) -> Option<u64> {
        self.started.then_some(self.first_seq)
    }

    /// The highest sequence number seen (in serial-number order).
    pub fn highest_seq(&self) -> Option<u64> {
        self.started.then_some(self.highest)
    }

    /// When the last probe arrived (ns since the Unix epoch); 0 before any.
    pub fn last_arrival_ns(&self) -> u64 {
        self.last_arrival_ns
    }

    /// The RFC 3550 interarrival jitter, in nanoseconds.
    pub fn jitter_ns(&self) -> f64 {
        self.jitter_ns
    }

    /// The one-way delay, once something arrived. Meaningful only with a
    /// shared clock.
    pub fn delay(&self) -> Option<OneWayDelay> {
        (self.delay_count > 0).then(|| OneWayDelay {
            min_ns: self.delay_min_ns,
            avg_ns: self.delay_sum_ns as f64 / self.delay_count as f64,
            max_ns: self.delay_max_ns,
        })
    }

    /// Percentiles of delay and gaps, and the loss runs.
    pub(super) fn shape(&self) -> ShapeFigures {
        self.shape.figures()
    }

    /// DTIM bunching, if the arrivals show it so far.
    pub fn bursts(&self) -> Option<DtimBursts> {
        self.shape.bursts()
    }

    /// Loss that began above a rate and never below it, so far.
    pub fn rate_finding(&self) -> Option<RateFinding> {
        self.rate.detector().finding()
    }

    /// A delivered rate flat near a basic rate while more was offered, so
    /// far.
    pub fn flat_rate(&self) -> Option<FlatFinding> {
        self.rate.detector().flat()
    }

    /// The rate over the stream's lifetime: the probes after the first, over
    /// the time from the first arrival to the last.
    pub fn lifetime(&self) -> Throughput {
        Throughput {
            packets: self.counts.received.saturating_sub(1),
            bytes: self.counts.bytes.saturating_sub(self.first_bytes),
            duration_ns: self.last_arrival_ns.saturating_sub(self.first_arrival_ns),
        }
    }

    /// What arrived in the current interval (since the last
    /// [`interval_rates`](StreamStats::interval_rates), or the first
    /// arrival) up to `now_ns`, without ending it.
    pub fn peek_interval(&self, now_ns: u64) -> Throughput {
        Throughput {
            packets: self.interval_packets,
            bytes: self.interval_bytes,
            duration_ns: now_ns.saturating_sub(self.interval_start_ns),
        }
    }

    /// Like [`peek_interval`](StreamStats::peek_interval), and starts the
    /// next interval at `now_ns`: call it once per status line.
    pub fn interval_rates(&mut self, now_ns: u64) -> Throughput {
        let t = self.peek_interval(now_ns);
        self.interval_start_ns = now_ns.max(self.interval_start_ns);
        self.interval_packets = 0;
        self.interval_bytes = 0;
        t
    }
}
