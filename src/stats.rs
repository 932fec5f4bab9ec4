//! Receiver statistics for probe streams: loss, duplicates, reordering, late
//! arrivals, rates, interarrival jitter and one-way delay, per sender and per
//! group. [`StreamStats`] defines the counters and the timing,
//! [`ReceiverStats`] the streams.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;

use crate::group::Group;
use crate::json::Object;
use crate::probe::{DecodeError, Probe, SenderId};

/// How many sequence numbers behind the highest a stream can still tell a
/// reordered probe from a duplicate. A power of two, so it divides 2^64 and
/// the bitmap stays consistent when sequence numbers wrap.
pub const REORDER_WINDOW: u64 = 4096;

const WORDS: usize = (REORDER_WINDOW / 64) as usize;

/// The default limit on streams tracked at once by [`ReceiverStats`].
pub const MAX_STREAMS: usize = 1024;

/// What one probe was to its stream; see [`StreamStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The first probe of the stream.
    First,
    /// The next sequence number.
    InOrder,
    /// A later sequence number, after this many missing ones.
    Gap(u64),
    /// A sequence number already received (within the window).
    Duplicate,
    /// An older sequence number, not received before: it fills a gap.
    Reordered,
    /// Older than the window or than the stream's first probe.
    Late,
}

/// Packet counters of a stream or a group; see [`StreamStats`] for the
/// definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProbeCounts {
    /// Probes that arrived, duplicates and late ones included.
    pub received: u64,
    /// Their UDP payload bytes.
    pub bytes: u64,
    /// Sequence numbers from the first probe to the highest, inclusive.
    pub expected: u64,
    /// Sequence numbers in that span not received (yet).
    pub lost: u64,
    /// Probes whose sequence number had already been received.
    pub duplicates: u64,
    /// Probes that arrived after a higher sequence number and filled a gap.
    pub reordered: u64,
    /// Probes too old to classify.
    pub late: u64,
}

impl ProbeCounts {
    /// `lost / expected × 100`; 0 when nothing is expected.
    pub fn loss_percent(&self) -> f64 {
        if self.expected == 0 {
            0.0
        } else {
            self.lost as f64 * 100.0 / self.expected as f64
        }
    }

    /// Adds another stream's or group's counters to these.
    pub fn add(&mut self, other: &ProbeCounts) {
        self.received = self.received.saturating_add(other.received);
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.expected = self.expected.saturating_add(other.expected);
        self.lost = self.lost.saturating_add(other.lost);
        self.duplicates = self.duplicates.saturating_add(other.duplicates);
        self.reordered = self.reordered.saturating_add(other.reordered);
        self.late = self.late.saturating_add(other.late);
    }

    fn apply(&mut self, arrival: Arrival, bytes: u64) {
        self.received = self.received.saturating_add(1);
        self.bytes = self.bytes.saturating_add(bytes);
        match arrival {
            Arrival::First | Arrival::InOrder => self.expected = self.expected.saturating_add(1),
            Arrival::Gap(missing) => {
                self.expected = self.expected.saturating_add(missing.saturating_add(1));
                self.lost = self.lost.saturating_add(missing);
            }
            Arrival::Duplicate => self.duplicates = self.duplicates.saturating_add(1),
            Arrival::Reordered => {
                self.reordered = self.reordered.saturating_add(1);
                self.lost = self.lost.saturating_sub(1);
            }
            Arrival::Late => self.late = self.late.saturating_add(1),
        }
    }
}

/// Packets and bytes over a time span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Throughput {
    /// Packets in the span.
    pub packets: u64,
    /// Their UDP payload bytes.
    pub bytes: u64,
    /// The span, in nanoseconds.
    pub duration_ns: u64,
}

impl Throughput {
    /// Packets per second; 0 over an empty span.
    pub fn pps(&self) -> f64 {
        if self.duration_ns == 0 {
            0.0
        } else {
            self.packets as f64 * 1e9 / self.duration_ns as f64
        }
    }

    /// Megabits (10^6 bits) of UDP payload per second; 0 over an empty span.
    pub fn mbps(&self) -> f64 {
        if self.duration_ns == 0 {
            0.0
        } else {
            self.bytes as f64 * 8e3 / self.duration_ns as f64
        }
    }
}

/// One-way delay (arrival − send time), in signed nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct OneWayDelay {
    /// The smallest.
    pub min_ns: i64,
    /// The mean.
    pub avg_ns: f64,
    /// The largest.
    pub max_ns: i64,
}

/// One sender's stream to one group: counters, timing and rates. Its size
/// is fixed: nothing it receives makes it grow.
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
/// Rates count UDP payload bytes. The lifetime rate of a stream is measured
/// from its first to its last arrival: the packets after the first over the
/// time between them, which is exact for a steady stream. The interval rate
/// (for a once-a-second status line) is what arrived since the previous
/// interval ended, over the time since then.
#[derive(Debug, Clone)]
pub struct StreamStats {
    started: bool,
    first_seq: u64,
    highest: u64,
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
        }
    }

    /// Counts one probe: its sequence number, its send time, when it arrived
    /// (both in ns since the Unix epoch) and its UDP payload size.
    pub fn on_probe(&mut self, seq: u64, sent_ns: u64, arrival_ns: u64, bytes: usize) -> Arrival {
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        let arrival = self.classify(seq);
        self.counts.apply(arrival, bytes);
        if arrival == Arrival::First {
            self.first_arrival_ns = arrival_ns;
            self.first_bytes = bytes;
            self.interval_start_ns = arrival_ns;
        }
        self.last_arrival_ns = arrival_ns;
        self.interval_packets = self.interval_packets.saturating_add(1);
        self.interval_bytes = self.interval_bytes.saturating_add(bytes);
        if arrival != Arrival::Duplicate {
            self.time(sent_ns, arrival_ns);
        }
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

    fn time(&mut self, sent_ns: u64, arrival_ns: u64) {
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

/// Which stream a probe belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamKey {
    /// The group it was sent to.
    pub group: Group,
    /// The sender's address and port.
    pub source: SocketAddr,
    /// The sender run.
    pub sender: SenderId,
}

/// Everything about one stream at one moment, for output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamSnapshot {
    /// Whose stream.
    pub key: StreamKey,
    /// The counters.
    pub counts: ProbeCounts,
    /// The first sequence number seen.
    pub first_seq: u64,
    /// The highest sequence number seen.
    pub highest_seq: u64,
    /// The rate from the first arrival to the last.
    pub lifetime: Throughput,
    /// The rate in the current (or just ended) interval.
    pub interval: Throughput,
    /// RFC 3550 interarrival jitter, ns.
    pub jitter_ns: f64,
    /// One-way delay; meaningful only with a shared clock.
    pub delay: Option<OneWayDelay>,
}

impl StreamSnapshot {
    fn of(key: StreamKey, s: &StreamStats, interval: Throughput) -> StreamSnapshot {
        StreamSnapshot {
            key,
            counts: s.counts(),
            first_seq: s.first_seq,
            highest_seq: s.highest,
            lifetime: s.lifetime(),
            interval,
            jitter_ns: s.jitter_ns(),
            delay: s.delay(),
        }
    }

    /// The stream as a JSON object (without `type`): `group`, `port`,
    /// `source`, `sender_id`, `first_seq`, `highest_seq`, `received`,
    /// `bytes`, `expected`, `lost`, `loss_pct`, `duplicates`, `reordered`,
    /// `late`, `pps`, `mbps`, then `interval_pps` and `interval_mbps` if
    /// `with_interval`, then `jitter_ms` and `delay_min_ms`, `delay_avg_ms`,
    /// `delay_max_ms` (null unless `show_delay`).
    pub fn to_json(&self, show_delay: bool, with_interval: bool) -> Object {
        let c = &self.counts;
        let mut o = Object::new()
            .str("group", &self.key.group.addr().to_string())
            .int("port", self.key.group.port().get())
            .str("source", &self.key.source.to_string())
            .str("sender_id", &self.key.sender.to_string())
            .int("first_seq", self.first_seq)
            .int("highest_seq", self.highest_seq)
            .int("received", c.received)
            .int("bytes", c.bytes)
            .int("expected", c.expected)
            .int("lost", c.lost)
            .num("loss_pct", round(c.loss_percent(), 3))
            .int("duplicates", c.duplicates)
            .int("reordered", c.reordered)
            .int("late", c.late)
            .num("pps", round(self.lifetime.pps(), 1))
            .num("mbps", round(self.lifetime.mbps(), 3));
        if with_interval {
            o = o
                .num("interval_pps", round(self.interval.pps(), 1))
                .num("interval_mbps", round(self.interval.mbps(), 3));
        }
        o = o.num("jitter_ms", round(self.jitter_ns / 1e6, 3));
        let delay = self.delay.filter(|_| show_delay);
        for (key, v) in [
            ("delay_min_ms", delay.map(|d| d.min_ns as f64)),
            ("delay_avg_ms", delay.map(|d| d.avg_ns)),
            ("delay_max_ms", delay.map(|d| d.max_ns as f64)),
        ] {
            o = match v {
                Some(ns) => o.num(key, round(ns / 1e6, 3)),
                None => o.raw(key, "null"),
            };
        }
        o
    }
}

/// Totals of one group: its probe counters summed over its streams (also the
/// forgotten ones), and the datagrams that were not probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupStats {
    /// The group.
    pub group: Group,
    /// Probe counters summed over the group's streams.
    pub counts: ProbeCounts,
    /// Datagrams without the probe magic.
    pub other: u64,
    /// Their bytes.
    pub other_bytes: u64,
    /// Datagrams with the probe magic that could not be read (truncated, an
    /// unknown version, a bad header length).
    pub invalid: u64,
    /// Streams tracked now.
    pub streams: u64,
    /// Streams seen since the start (sender runs, per source address).
    pub senders_seen: u64,
    /// Streams forgotten to make room for new ones.
    pub evicted: u64,
}

impl GroupStats {
    fn new(group: Group) -> GroupStats {
        GroupStats {
            group,
            counts: ProbeCounts::default(),
            other: 0,
            other_bytes: 0,
            invalid: 0,
            streams: 0,
            senders_seen: 0,
            evicted: 0,
        }
    }

    /// The group as a JSON object (without `type`): `group`, `port`,
    /// `streams`, `senders_seen`, `evicted`, `received`, `bytes`, `expected`,
    /// `lost`, `loss_pct`, `duplicates`, `reordered`, `late`, `other`,
    /// `other_bytes`, `invalid`.
    pub fn to_json(&self) -> Object {
        let c = &self.counts;
        Object::new()
            .str("group", &self.group.addr().to_string())
            .int("port", self.group.port().get())
            .int("streams", self.streams)
            .int("senders_seen", self.senders_seen)
            .int("evicted", self.evicted)
            .int("received", c.received)
            .int("bytes", c.bytes)
            .int("expected", c.expected)
            .int("lost", c.lost)
            .num("loss_pct", round(c.loss_percent(), 3))
            .int("duplicates", c.duplicates)
            .int("reordered", c.reordered)
            .int("late", c.late)
            .int("other", self.other)
            .int("other_bytes", self.other_bytes)
            .int("invalid", self.invalid)
    }
}

#[derive(Debug, Clone)]
struct Tracked {
    stats: StreamStats,
    group_index: usize,
    /// When it was created and last seen, in probes counted by the receiver.
    created: u64,
    last_seen: u64,
}

/// Statistics of a whole receive run: every group, every stream, bounded in
/// memory.
///
/// # Streams
///
/// A *stream* is what one sender run sends to one group: probes with the same
/// group, source address (address and port) and [`SenderId`]. A sender that
/// restarts picks a new id, so it starts a new stream with fresh counters
/// instead of showing a huge gap or a burst of duplicates. [`ReceiverStats`]
/// tracks at most [`MAX_STREAMS`] streams (or the number given to
/// [`ReceiverStats::with_max_streams`]); when a new one arrives and the table
/// is full, the stream seen least recently is forgotten (its packets stay in
/// its group's totals, and [`GroupStats::evicted`] counts it). The sender is
/// expected to number each group's probes separately (n, n + 1, … per group).
#[derive(Debug, Clone)]
pub struct ReceiverStats {
    groups: Vec<GroupStats>,
    group_index: HashMap<Group, usize>,
    streams: HashMap<StreamKey, Tracked>,
    max_streams: usize,
    /// Counts probes; orders streams by creation and by last use.
    tick: u64,
}

impl ReceiverStats {
    /// Statistics for these groups (listed even if nothing arrives), with
    /// room for [`MAX_STREAMS`] streams.
    pub fn new(groups: &[Group]) -> ReceiverStats {
        let mut s = ReceiverStats {
            groups: Vec::new(),
            group_index: HashMap::new(),
            streams: HashMap::new(),
            max_streams: MAX_STREAMS,
            tick: 0,
        };
        for g in groups {
            s.group(*g);
        }
        s
    }

    /// Tracks at most `max` streams at once (at least 1).
    #[must_use]
    pub fn with_max_streams(mut self, max: usize) -> ReceiverStats {
        self.max_streams = max.max(1);
        self
    }

    /// The index of a group, added if new.
    fn group(&mut self, group: Group) -> usize {
        if let Some(&i) = self.group_index.get(&group) {
            return i;
        }
        self.groups.push(GroupStats::new(group));
        self.group_index.insert(group, self.groups.len() - 1);
        self.groups.len() - 1
    }

    /// Counts one datagram received on `group` from `source`: a probe goes to
    /// its stream, anything without the probe magic counts as other traffic,
    /// and a probe that cannot be read counts as invalid.
    ///
    /// # Errors
    /// The [`DecodeError`] when the datagram is not a readable probe (it has
    /// been counted already).
    pub fn on_datagram(
        &mut self,
        group: Group,
        source: SocketAddr,
        payload: &[u8],
        arrival_ns: u64,
    ) -> Result<Arrival, DecodeError> {
        match Probe::decode(payload) {
            Ok(p) => Ok(self.on_probe(group, source, &p, arrival_ns, payload.len())),
            Err(e) => {
                let gi = self.group(group);
                if e == DecodeError::NotAProbe {
                    self.on_other(group, payload.len());
                } else {
                    self.groups[gi].invalid += 1;
                }
                Err(e)
            }
        }
    }

    /// Counts a probe of `bytes` UDP payload bytes, received on `group` from
    /// `source` at `arrival_ns` (ns since the Unix epoch).
    pub fn on_probe(
        &mut self,
        group: Group,
        source: SocketAddr,
        probe: &Probe,
        arrival_ns: u64,
        bytes: usize,
    ) -> Arrival {
        self.tick += 1;
        let gi = self.group(group);
        let key = StreamKey {
            group,
            source,
            sender: probe.sender_id,
        };
        if !self.streams.contains_key(&key) {
            if self.streams.len() >= self.max_streams {
                self.evict_least_recent();
            }
            let g = &mut self.groups[gi];
            g.streams += 1;
            g.senders_seen += 1;
        }
        let tick = self.tick;
        let t = self.streams.entry(key).or_insert_with(|| Tracked {
            stats: StreamStats::new(),
            group_index: gi,
            created: tick,
            last_seen: tick,
        });
        t.last_seen = tick;
        let arrival = t
            .stats
            .on_probe(probe.seq, probe.sent_ns, arrival_ns, bytes);
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        self.groups[gi].counts.apply(arrival, bytes);
        arrival
    }

    /// Counts a datagram that is not a probe.
    pub fn on_other(&mut self, group: Group, bytes: usize) {
        let gi = self.group(group);
        let g = &mut self.groups[gi];
        g.other += 1;
        g.other_bytes = g
            .other_bytes
            .saturating_add(u64::try_from(bytes).unwrap_or(u64::MAX));
    }

    /// Forgets the stream seen least recently: a scan, done only when a new
    /// stream arrives while the table is full.
    fn evict_least_recent(&mut self) {
        let oldest = self
            .streams
            .iter()
            .min_by_key(|(_, t)| t.last_seen)
            .map(|(k, t)| (*k, t.group_index));
        if let Some((key, gi)) = oldest {
            self.streams.remove(&key);
            let g = &mut self.groups[gi];
            g.streams = g.streams.saturating_sub(1);
            g.evicted += 1;
        }
    }

    /// The groups, in the order given to [`new`](ReceiverStats::new) and
    /// then as first seen.
    pub fn groups(&self) -> &[GroupStats] {
        &self.groups
    }

    /// The counters of all groups together.
    pub fn totals(&self) -> ProbeCounts {
        let mut t = ProbeCounts::default();
        for g in &self.groups {
            t.add(&g.counts);
        }
        t
    }

    /// How many streams are tracked now.
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// One stream's statistics.
    pub fn stream(&self, key: &StreamKey) -> Option<&StreamStats> {
        self.streams.get(key).map(|t| &t.stats)
    }

    fn ordered_keys(&self) -> Vec<StreamKey> {
        let mut keys: Vec<(usize, u64, StreamKey)> = self
            .streams
            .iter()
            .map(|(k, t)| (t.group_index, t.created, *k))
            .collect();
        keys.sort_unstable_by_key(|&(g, c, _)| (g, c));
        keys.into_iter().map(|(_, _, k)| k).collect()
    }

    /// Every tracked stream at `now_ns`, by group and then by first arrival;
    /// the intervals keep running.
    pub fn snapshot(&self, now_ns: u64) -> Vec<StreamSnapshot> {
        self.ordered_keys()
            .into_iter()
            .filter_map(|k| {
                let t = self.streams.get(&k)?;
                Some(StreamSnapshot::of(
                    k,
                    &t.stats,
                    t.stats.peek_interval(now_ns),
                ))
            })
            .collect()
    }

    /// Like [`snapshot`](ReceiverStats::snapshot), and ends every stream's
    /// interval at `now_ns`: call it once per status line.
    pub fn interval_snapshot(&mut self, now_ns: u64) -> Vec<StreamSnapshot> {
        let keys = self.ordered_keys();
        keys.into_iter()
            .filter_map(|k| {
                let t = self.streams.get_mut(&k)?;
                let interval = t.stats.interval_rates(now_ns);
                Some(StreamSnapshot::of(k, &t.stats, interval))
            })
            .collect()
    }

    /// Appends the periodic statistics to `obj`: `streams` (an array of
    /// [`StreamSnapshot::to_json`] with the interval rates) and `groups` (an
    /// array of [`GroupStats::to_json`]), and starts the next interval.
    pub fn add_stats_fields(&mut self, obj: Object, now_ns: u64, show_delay: bool) -> Object {
        let streams = self.interval_snapshot(now_ns);
        obj.objects(
            "streams",
            streams.iter().map(|s| s.to_json(show_delay, true)),
        )
        .objects("groups", self.groups.iter().map(GroupStats::to_json))
    }

    /// The periodic `{"type":"stats","streams":[…],"groups":[…]}` object; see
    /// [`add_stats_fields`](ReceiverStats::add_stats_fields).
    pub fn stats_json(&mut self, now_ns: u64, show_delay: bool) -> Object {
        self.add_stats_fields(Object::typed("stats"), now_ns, show_delay)
    }

    /// Appends the final statistics to `obj` (a `summary` object): `streams`
    /// (an array of [`StreamSnapshot::to_json`] without interval rates) and
    /// `groups` (an array of [`GroupStats::to_json`]).
    pub fn add_summary_fields(&self, obj: Object, now_ns: u64, show_delay: bool) -> Object {
        let streams = self.snapshot(now_ns);
        obj.objects(
            "streams",
            streams.iter().map(|s| s.to_json(show_delay, false)),
        )
        .objects("groups", self.groups.iter().map(GroupStats::to_json))
    }

    /// A `{"type":"summary","role":"recv","streams":[…],"groups":[…]}`
    /// object; see [`add_summary_fields`](ReceiverStats::add_summary_fields).
    pub fn summary_json(&self, now_ns: u64, show_delay: bool) -> Object {
        self.add_summary_fields(
            Object::typed("summary").str("role", "recv"),
            now_ns,
            show_delay,
        )
    }

    /// The text table of every stream; see [`stream_table`].
    pub fn table(&self, now_ns: u64, show_delay: bool) -> Vec<String> {
        stream_table(&self.snapshot(now_ns), show_delay)
    }
}

/// One line per stream, with aligned columns and a header line first:
/// group, source, sender id, received, lost, loss %, dup, reordered, late,
/// pps, Mbit/s (lifetime), jitter ms, and delay ms min/avg/max (`-` unless
/// `show_delay`).
pub fn stream_table(streams: &[StreamSnapshot], show_delay: bool) -> Vec<String> {
    const HEADER: [&str; 13] = [
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
        "delay ms min/avg/max",
    ];
    /// The first three columns are text, aligned left; the rest numbers.
    const TEXT_COLUMNS: usize = 3;
    let ms = |ns: f64| format!("{:.3}", ns / 1e6);
    let mut rows: Vec<[String; 13]> = vec![HEADER.map(String::from)];
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
            delay,
        ]);
    }
    let mut widths = [0usize; 13];
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

fn round(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    use crate::group::Port;

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

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
        let mut rng = XorShift(0x1234_5678_9abc_def1);
        for round in 0..20 {
            let mut s = StreamStats::new();
            let base = if round % 2 == 0 { u64::MAX - 500 } else { 7 };
            let mut seen = std::collections::HashSet::new();
            let mut next = 0u64;
            let mut first: Option<u64> = None;
            let mut highest = 0u64;
            for _ in 0..5000 {
                let r = rng.next() % 100;
                let off = if r < 70 {
                    next += 1;
                    next - 1
                } else if r < 80 {
                    next += 3; // a gap of two
                    next - 1
                } else {
                    // Something recent again (up to 200 back).
                    next.saturating_sub(1 + rng.next() % 200)
                };
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
        let mut rng = XorShift(0xdead_beef_cafe_f00d);
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
        // The per-stream state is a fixed-size value.
        assert!(std::mem::size_of::<StreamStats>() < 1024);
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

    fn sample() -> ReceiverStats {
        let g = group(1, 5000);
        let mut r = ReceiverStats::new(&[g]);
        let s = src(10, 40000);
        let t0 = 1_000 * MS;
        for seq in [1u64, 2, 4, 3, 5] {
            // 1 ms apart; transit 2 ms, except seq 3 (4 ms).
            let transit = if seq == 3 { 4 } else { 2 };
            let p = Probe::new(SenderId::new(0x0123_4567_89ab_cdef), seq, t0 + seq * MS);
            r.on_probe(g, s, &p, t0 + (seq + transit) * MS, 1000);
        }
        r
    }

    #[test]
    fn json() {
        let mut r = sample();
        let now = 1_010 * MS;
        let line = r.summary_json(now, true).finish();
        assert!(line.starts_with(r#"{"type":"summary","role":"recv","streams":[{"group":"239.1.1.1","port":5000,"source":"192.0.2.10:40000","sender_id":"0123456789abcdef","first_seq":1,"highest_seq":5,"received":5,"bytes":5000,"expected":5,"lost":0,"loss_pct":0,"duplicates":0,"reordered":1,"late":0,"#), "{line}");
        assert!(
            line.contains(r#""delay_min_ms":2,"delay_avg_ms":2.4,"delay_max_ms":4}]"#),
            "{line}"
        );
        assert!(line.contains(r#""groups":[{"group":"239.1.1.1","port":5000,"streams":1,"senders_seen":1,"evicted":0,"received":5"#), "{line}");
        assert!(!line.contains("interval_pps"));
        // Without a shared clock, no delay.
        let line = r.summary_json(now, false).finish();
        assert!(
            line.contains(r#""delay_min_ms":null,"delay_avg_ms":null,"delay_max_ms":null"#),
            "{line}"
        );
        // The periodic line has interval rates, and resets them.
        let line = r.stats_json(now, false).finish();
        assert!(
            line.starts_with(r#"{"type":"stats","streams":[{"#),
            "{line}"
        );
        assert!(line.contains(r#""interval_pps":"#), "{line}");
        let s = r.snapshot(now + 1000 * MS);
        assert_eq!(s[0].interval.packets, 0);
        // Caller-built objects keep their own fields first.
        let line = r
            .add_summary_fields(
                Object::typed("summary")
                    .str("role", "recv")
                    .int("packets", 5u32),
                now,
                false,
            )
            .finish();
        assert!(line.starts_with(r#"{"type":"summary","role":"recv","packets":5,"streams":["#));
    }

    #[test]
    fn table() {
        let r = sample();
        let lines = r.table(1_010 * MS, true);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), lines[1].len(), "{lines:#?}");
        assert!(lines[0].starts_with("group  "), "{}", lines[0]);
        assert!(lines[1].starts_with("239.1.1.1:5000  192.0.2.10:40000  0123456789abcdef"));
        assert!(lines[1].ends_with("2.000/2.400/4.000"), "{}", lines[1]);
        let cols: Vec<&str> = lines[1].split_whitespace().collect();
        // received, lost, loss%, dup, reordered, late, pps, Mbit/s, jitter.
        assert_eq!(
            cols[3..12],
            ["5", "0", "0.00", "0", "1", "0", "1000.0", "8.000", "0.242"]
        );
        let lines = r.table(1_010 * MS, false);
        assert!(lines[1].ends_with(" -"), "{}", lines[1]);
        assert!(lines.iter().all(|l| !l.ends_with(' ')));
        // No streams: just the header.
        assert_eq!(stream_table(&[], false).len(), 1);
    }
}
