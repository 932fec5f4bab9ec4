//! The analysis of a record (what `mcast report` draws): in one pass over
//! the rows and in bounded memory, per stream and for the whole record,
//! received and lost probes over time, one-way delay over time, the
//! interarrival-gap distribution and the loss-run lengths.

use std::collections::{HashMap, VecDeque};

use crate::basic_rate::BasicRateDetector;
use crate::dtim::DtimDetector;
use crate::histogram::Histogram;
use crate::record::RecordRow;
use crate::stats::{Arrival, ProbeCounts, StreamStats, REORDER_WINDOW};

/// The most intervals a timeline has (and at least half as many once the
/// run is longer than 150 ms).
pub const MAX_POINTS: usize = 300;

/// How many streams get a timeline of their own (all count in the
/// record's).
pub const TIMELINE_STREAMS: usize = 32;

/// How many streams are kept at once.
pub const MAX_RECORD_STREAMS: usize = 1024;

/// How many recent streams are looked up before the hash map.
const RECENT: usize = 4;

/// The first interval.
const FIRST_BIN_NS: u64 = 1_000_000;

/// The intervals the basic-rate detector is fed, as `recv` counts them.
const RATE_INTERVAL_NS: u64 = 1_000_000_000;

/// A probe that arrives more than this before it was sent shows that the
/// clocks disagree.
const CLOCK_TOLERANCE_NS: i64 = 1_000_000;

mod bins;
mod figures;

use bins::{Bins, Run};
pub use figures::{
    DelayMissing, DelayPolicy, Figures, RecordAnalysis, RecordStream, StreamAnalysis, Timeline,
    TimelineBin,
};

#[derive(Debug, Clone)]
struct StreamState {
    stream: RecordStream,
    stats: StreamStats,
    shows_delay: bool,
    delay: Histogram,
    gaps: Histogram,
    loss_runs: Histogram,
    pending: VecDeque<Run>,
    first_arrival_ns: u64,
    last_arrival_ns: u64,
    /// When the highest sequence number arrived.
    highest_arrival_ns: u64,
    bins: Option<Bins>,
    dtim: DtimDetector,
    rate: BasicRateDetector,
    /// The current 1-second interval: its start and the counters then.
    interval_start_ns: u64,
    interval_counts: ProbeCounts,
    /// The row that created it, and the last row it had.
    created: u64,
    last_seen: u64,
}

impl StreamState {
    fn new(stream: RecordStream, shows_delay: bool, with_timeline: bool) -> StreamState {
        StreamState {
            stream,
            stats: StreamStats::new(),
            shows_delay,
            delay: Histogram::new(),
            gaps: Histogram::new(),
            loss_runs: Histogram::new(),
            pending: VecDeque::new(),
            first_arrival_ns: 0,
            last_arrival_ns: 0,
            highest_arrival_ns: 0,
            bins: with_timeline.then(Bins::default),
            dtim: DtimDetector::new(),
            rate: BasicRateDetector::new(),
            interval_start_ns: 0,
            interval_counts: ProbeCounts::default(),
            created: 0,
            last_seen: 0,
        }
    }

    /// Moves the runs that fell out of the reorder window to the lengths.
    fn settle(&mut self, highest: u64) {
        while let Some(r) = self.pending.front() {
            let last = r.first.wrapping_add(r.len - 1);
            if highest.wrapping_sub(last) < REORDER_WINDOW {
                break;
            }
            self.loss_runs.record(r.len);
            self.pending.pop_front();
        }
    }

    /// A reordered probe fills `seq`: splits its run; returns when that
    /// loss had been counted.
    fn fill(&mut self, seq: u64) -> Option<u64> {
        let i = self
            .pending
            .iter()
            .rposition(|r| seq.wrapping_sub(r.first) < r.len)?;
        let r = self.pending[i];
        let left = seq.wrapping_sub(r.first);
        let right = r.len - left - 1;
        let t = r.time_of(seq);
        match (left, right) {
            (0, 0) => {
                self.pending.remove(i);
            }
            (0, _) => {
                self.pending[i].first = seq.wrapping_add(1);
                self.pending[i].len = right;
            }
            (_, 0) => self.pending[i].len = left,
            _ => {
                self.pending[i].len = left;
                self.pending.insert(
                    i + 1,
                    Run {
                        first: seq.wrapping_add(1),
                        len: right,
                        ..r
                    },
                );
            }
        }
        Some(t)
    }

    /// Ends the 1-second interval if it is over: feeds the basic-rate
    /// detector the rate offered (the sequence numbers it spans, at the
    /// mean probe size), the probes expected and lost.
    fn interval(&mut self, now_ns: u64) {
        let span = now_ns.saturating_sub(self.interval_start_ns);
        if span < RATE_INTERVAL_NS {
            return;
        }
        let c = self.stats.counts();
        let was = std::mem::replace(&mut self.interval_counts, c);
        self.interval_start_ns = now_ns;
        let received = c.received - was.received;
        let expected = c.expected - was.expected;
        if received == 0 {
            return;
        }
        let bits =
            u128::from(expected) * u128::from(c.bytes - was.bytes) * 8 / u128::from(received);
        let bps = bits * 1_000_000_000 / u128::from(span);
        self.rate.on_interval(
            u64::try_from(bps).unwrap_or(u64::MAX),
            expected,
            c.lost.saturating_sub(was.lost),
        );
    }

    fn figures(mut self, timeline: Option<Timeline>) -> (RecordStream, Figures, bool) {
        for r in self.pending.drain(..) {
            self.loss_runs.record(r.len);
        }
        let min_delay = self.stats.delay().map(|d| d.min_ns);
        let delay = match min_delay {
            None => Err(DelayMissing::NoProbes),
            Some(_) if !self.shows_delay => Err(DelayMissing::OtherHost),
            Some(m) if m < -CLOCK_TOLERANCE_NS => Err(DelayMissing::ClocksDisagree {
                ahead_ns: m.unsigned_abs(),
            }),
            Some(_) => Ok(self.delay),
        };
        let figures = Figures {
            counts: self.stats.counts(),
            first_arrival_ns: self.first_arrival_ns,
            last_arrival_ns: self.stats.last_arrival_ns(),
            delay,
            gaps: self.gaps,
            loss_runs: self.loss_runs,
            timeline,
        };
        (self.stream, figures, self.shows_delay)
    }
}

/// Reads a record's rows one at a time and gives their [`RecordAnalysis`].
///
/// # Streams and loss
///
/// A stream is one group, source address and sender id (a record has no
/// source port). Its probes are counted as [`StreamStats`] counts them
/// (the same serial-number arithmetic, reorder window and counters, so
/// `lost` here is `lost` in `recv`'s summary). A *loss run* is a maximal
/// range of consecutive sequence numbers that never arrived: a gap of 3
/// is one run of length 3; a reordered probe that fills the middle of a
/// gap splits it in two. Runs are final once they fall out of the reorder
/// window; their lengths add up to `lost`.
///
/// # Time
///
/// The timeline starts at the record's first arrival with 1 ms intervals;
/// whenever a row falls past [`MAX_POINTS`] intervals, neighbouring
/// intervals are merged pairwise (the interval doubles), so a run of any
/// length ends with 150 to 300 intervals (fewer only for a run shorter than
/// 150 ms). An interval counts the probes that arrived in it and the
/// probes lost in it: the probes of a gap are spread evenly over the time
/// between the arrivals on either side of it (a dead second shows as a
/// second of loss, not a spike at its end).
///
/// # One-way delay
///
/// Delay (arrival − send time) needs the two clocks to agree. It is shown
/// for a stream whose source is a loopback address or one of the addresses
/// given as this host's ([`DelayPolicy::SameHost`]: one clock), or for every
/// stream with [`DelayPolicy::Synced`] (the user says the clocks are
/// synchronised, `--assume-synced-clocks`). Even then it is withdrawn when a
/// probe arrived more than 1 ms before it was sent: the clocks disagree.
/// Otherwise [`DelayMissing`] says why it is missing.
///
/// # Wi-Fi signatures
///
/// Each stream feeds a [`DtimDetector`] (its probes in sequence order) and a
/// [`BasicRateDetector`] (1-second intervals of arrival time: the rate
/// offered over the sequence numbers the interval spans, the probes
/// expected and lost in it).
///
/// # Memory
///
/// Per stream: the counters (about 600 bytes), two [`Histogram`]s (gaps
/// and delay, typically 0.5–4 KiB each), the loss-run lengths and the gaps
/// not yet final (within the 4096-probe reorder window: typically none,
/// at most 2048 of 48 bytes), and for the first [`TIMELINE_STREAMS`]
/// streams a timeline (at most 300 intervals of 32 bytes, plus a delay
/// histogram per interval where delay is shown, typically 0.4–1 KiB). At
/// most [`MAX_RECORD_STREAMS`] streams are kept; the one seen least recently
/// makes room for a new one (its figures stay in the record's totals).
///
/// # Example
///
///
/// ```
/// use mcast::recording::{DelayPolicy, RecordAnalyzer, RecordReader};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let csv = "arrival_unix_ns,source,group,port,sender_id,seq,send_unix_ns,bytes\n\
///            1000200000,127.0.0.1,239.1.1.1,5000,00000000000000aa,1,1000000000,32\n\
///            1010200000,127.0.0.1,239.1.1.1,5000,00000000000000aa,3,1010000000,32\n";
/// let mut analyzer = RecordAnalyzer::new(DelayPolicy::SameHost(Vec::new()));
/// for row in RecordReader::new(csv.as_bytes())? {
///     analyzer.add(&row?);
/// }
/// let a = analyzer.finish();
/// assert_eq!((a.total.counts.received, a.total.counts.lost), (2, 1));
/// assert_eq!(a.total.delay.unwrap().max(), Some(200_000));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RecordAnalyzer {
    policy: DelayPolicy,
    rows: u64,
    start_ns: Option<u64>,
    bin_ns: u64,
    total_bins: Bins,
    streams: Vec<StreamState>,
    index: HashMap<RecordStream, usize>,
    /// The streams of the last rows, most recent first: interleaved
    /// streams skip the hash map.
    recent: [Option<(RecordStream, usize)>; RECENT],
    timelines_given: usize,
    /// What forgotten streams leave in the totals.
    evicted: Option<Figures>,
    /// Whether one of them showed delay with clocks that disagree.
    evicted_clocks_disagree: Option<DelayMissing>,
    evicted_count: u64,
}

impl RecordAnalyzer {
    /// An analyzer that shows delay as `policy` says.
    pub fn new(policy: DelayPolicy) -> RecordAnalyzer {
        RecordAnalyzer {
            policy,
            rows: 0,
            start_ns: None,
            bin_ns: FIRST_BIN_NS,
            total_bins: Bins::default(),
            streams: Vec::new(),
            index: HashMap::new(),
            recent: [None; RECENT],
            timelines_given: 0,
            evicted: None,
            evicted_clocks_disagree: None,
            evicted_count: 0,
        }
    }

    /// The interval of time `t`, merging intervals until it fits.
    fn bin_of(&mut self, t: u64) -> usize {
        let start = *self.start_ns.get_or_insert(t);
        loop {
            let i = t.saturating_sub(start) / self.bin_ns;
            if i < MAX_POINTS as u64 {
                return i as usize;
            }
            self.bin_ns = self.bin_ns.saturating_mul(2);
            self.total_bins.halve();
            for s in &mut self.streams {
                if let Some(b) = &mut s.bins {
                    b.halve();
                }
            }
        }
    }

    /// The index of the row's stream, added if new.
    fn stream(&mut self, key: RecordStream) -> usize {
        if let Some(pos) = self
            .recent
            .iter()
            .position(|r| r.is_some_and(|(k, _)| k == key))
        {
            // Most recent first.
            self.recent[..=pos].rotate_right(1);
            return self.recent[0].map_or(0, |(_, i)| i);
        }
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                if self.streams.len() >= MAX_RECORD_STREAMS {
                    self.evict();
                }
                let with_timeline = self.timelines_given < TIMELINE_STREAMS;
                self.timelines_given += usize::from(with_timeline);
                let shows = self.policy.shows(key.source);
                let mut s = StreamState::new(key, shows, with_timeline);
                s.created = self.rows;
                self.streams.push(s);
                self.index.insert(key, self.streams.len() - 1);
                self.streams.len() - 1
            }
        };
        self.recent.rotate_right(1);
        self.recent[0] = Some((key, i));
        i
    }

    fn evict(&mut self) {
        let Some(i) = (0..self.streams.len()).min_by_key(|&i| self.streams[i].last_seen) else {
            return;
        };
        let s = self.streams.swap_remove(i);
        self.index.remove(&s.stream);
        if let Some(moved) = self.streams.get(i) {
            self.index.insert(moved.stream, i);
        }
        self.recent = [None; RECENT];
        self.evicted_count += 1;
        let (_, f, shows) = s.figures(None);
        if let (true, Err(e @ DelayMissing::ClocksDisagree { .. })) = (shows, &f.delay) {
            let e = *e;
            self.evicted_clocks_disagree.get_or_insert(e);
        }
        // Only what the totals need, merged into one.
        match &mut self.evicted {
            Some(acc) => merge_into(acc, &f),
            None => self.evicted = Some(f),
        }
    }

    /// Counts one row.
    pub fn add(&mut self, row: &RecordRow) {
        self.rows += 1;
        let key = RecordStream {
            group: row.group,
            source: row.source,
            sender_id: row.sender_id,
        };
        let t = row.arrival_unix_ns;
        let bin = self.bin_of(t);
        let si = self.stream(key);
        let rows = self.rows;
        let s = &mut self.streams[si];
        s.last_seen = rows;
        let arrival = s
            .stats
            .on_probe(row.seq, row.send_unix_ns, t, row.bytes as usize);
        let delay = (s.shows_delay && arrival != Arrival::Duplicate).then(|| {
            let d = i128::from(t) - i128::from(row.send_unix_ns);
            u64::try_from(d.max(0)).unwrap_or(u64::MAX)
        });
        if let Some(d) = delay {
            s.delay.record(d);
        }
        if !matches!(arrival, Arrival::First | Arrival::Duplicate) {
            s.gaps.record(t.saturating_sub(s.last_arrival_ns));
        }
        if arrival != Arrival::Duplicate {
            s.last_arrival_ns = t;
        }
        if arrival == Arrival::First {
            s.first_arrival_ns = t;
            s.interval_start_ns = t;
        }
        if matches!(arrival, Arrival::First | Arrival::InOrder | Arrival::Gap(_)) {
            s.dtim.on_probe(row.send_unix_ns, t);
        }
        let mut lost_at: Option<Run> = None;
        let mut filled_at: Option<u64> = None;
        match arrival {
            Arrival::First | Arrival::InOrder => s.highest_arrival_ns = t,
            Arrival::Gap(n) => {
                let run = Run {
                    first: row.seq.wrapping_sub(n),
                    len: n,
                    seq_a: row.seq.wrapping_sub(n + 1),
                    t_a: s.highest_arrival_ns.min(t),
                    seq_b: row.seq,
                    t_b: t,
                };
                s.pending.push_back(run);
                lost_at = Some(run);
                s.highest_arrival_ns = t;
            }
            Arrival::Reordered => filled_at = s.fill(row.seq),
            Arrival::Duplicate | Arrival::Late => {}
        }
        if matches!(arrival, Arrival::InOrder | Arrival::Gap(_)) {
            s.settle(row.seq);
        }
        s.interval(t);
        // The timelines.
        let bytes = u64::from(row.bytes);
        let start = self.start_ns.unwrap_or(t);
        let bin_ns = self.bin_ns;
        let bin_of = |t: u64| (t.saturating_sub(start) / bin_ns) as usize;
        let targets = [self.streams[si].bins.as_mut(), Some(&mut self.total_bins)];
        for bins in targets.into_iter().flatten() {
            let b = bins.at(bin);
            b.received += 1;
            b.bytes += bytes;
            if let Some(d) = delay {
                b.delay.get_or_insert_with(Default::default).record(d);
            }
            if let Some(run) = &lost_at {
                spread(bins, run, start, bin_ns);
            }
            if let Some(t) = filled_at {
                let b = bins.at(bin_of(t));
                b.lost = b.lost.saturating_sub(1);
            }
        }
    }

    /// The analysis of everything added.
    pub fn finish(self) -> RecordAnalysis {
        let start = self.start_ns.unwrap_or(0);
        let len = self.total_bins.0.len();
        let mut total = Figures {
            counts: ProbeCounts::default(),
            first_arrival_ns: u64::MAX,
            last_arrival_ns: 0,
            delay: Err(DelayMissing::NoProbes),
            gaps: Histogram::new(),
            loss_runs: Histogram::new(),
            timeline: Some(self.total_bins.timeline(start, self.bin_ns, len)),
        };
        // The first reason a stream's delay is missing, and whether a
        // stream whose delays are in the record's intervals turned out to
        // have clocks that disagree.
        let mut missing = None;
        let mut disagree = self.evicted_clocks_disagree;
        if let Some(f) = &self.evicted {
            merge_into(&mut total, f);
        }
        let mut streams = Vec::new();
        let mut kept = self.streams;
        kept.sort_unstable_by_key(|s| s.created);
        for s in kept {
            let timeline = s.bins.as_ref().map(|b| b.timeline(start, self.bin_ns, len));
            let (bursts, basic_rate) = (s.dtim.bursts(), s.rate.finding());
            let (stream, f, shows) = s.figures(timeline);
            if let Err(e) = f.delay {
                if shows && matches!(e, DelayMissing::ClocksDisagree { .. }) {
                    disagree.get_or_insert(e);
                }
                missing.get_or_insert(e);
            }
            merge_into(&mut total, &f);
            streams.push(StreamAnalysis {
                stream,
                figures: f,
                bursts,
                basic_rate,
            });
        }
        if total.first_arrival_ns == u64::MAX {
            total.first_arrival_ns = 0;
        }
        if let Some(e) = disagree {
            total.delay = Err(e);
            if let Some(t) = &mut total.timeline {
                for b in &mut t.bins {
                    b.delay_p50_ns = None;
                    b.delay_max_ns = None;
                }
            }
        } else if total.delay.is_err() {
            total.delay = Err(missing.unwrap_or(DelayMissing::NoProbes));
        }
        RecordAnalysis {
            rows: self.rows,
            total,
            streams,
            evicted_streams: self.evicted_count,
        }
    }
}

/// Adds a stream's figures (not its timeline) to `acc`.
fn merge_into(acc: &mut Figures, f: &Figures) {
    acc.counts.add(&f.counts);
    if f.counts.received > 0 {
        acc.first_arrival_ns = acc.first_arrival_ns.min(f.first_arrival_ns);
        acc.last_arrival_ns = acc.last_arrival_ns.max(f.last_arrival_ns);
    }
    acc.gaps.merge(&f.gaps);
    acc.loss_runs.merge(&f.loss_runs);
    if let Ok(d) = &f.delay {
        match &mut acc.delay {
            Ok(a) => a.merge(d),
            Err(_) => acc.delay = Ok(d.clone()),
        }
    }
}

/// Adds the probes of a new gap to the intervals they are spread over.
fn spread(bins: &mut Bins, run: &Run, start: u64, bin_ns: u64) {
    let n = run.len;
    let span = u128::from(run.t_b.saturating_sub(run.t_a));
    let first = (run.t_a.saturating_sub(start) / bin_ns) as usize;
    let last = (run.t_b.saturating_sub(start) / bin_ns) as usize;
    let mut counted = 0u64;
    for i in first..=last {
        // Probes k = 1..=n of the gap are lost at t_a + span·k/(n+1): those
        // before the interval's end.
        let below = if i == last {
            n
        } else {
            let end = start + (i as u64 + 1) * bin_ns;
            let m = u128::from(end - run.t_a) * (u128::from(n) + 1);
            (m - 1)
                .checked_div(span)
                .map_or(n, |k| k.min(u128::from(n)) as u64)
        };
        let here = below - counted;
        if here > 0 {
            let b = bins.at(i);
            b.lost = b.lost.saturating_add(here);
        }
        counted = below;
    }
}

#[cfg(test)]
mod tests;
