//! What the analysis of a record hands out: the delay policy it was given
//! and the figures, timelines and per-stream results it returns.

use std::fmt;
use std::net::IpAddr;

use crate::basic_rate::RateFinding;
use crate::dtim::DtimBursts;
use crate::group::Group;
use crate::histogram::Histogram;
use crate::probe::SenderId;
use crate::stats::ProbeCounts;

/// Which streams' one-way delay is meaningful.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DelayPolicy {
    /// Senders on this host: loopback sources and these addresses (the
    /// host's own).
    SameHost(Vec<IpAddr>),
    /// Every sender: the clocks are synchronised (PTP, a good NTP).
    Synced,
}

impl DelayPolicy {
    pub(super) fn shows(&self, source: IpAddr) -> bool {
        match self {
            DelayPolicy::Synced => true,
            DelayPolicy::SameHost(local) => {
                source.is_loopback()
                    || local.contains(&source)
                    || matches!(source, IpAddr::V6(a) if a.to_ipv4_mapped()
                        .is_some_and(|v4| v4.is_loopback() || local.contains(&IpAddr::V4(v4))))
            }
        }
    }
}

/// Why the one-way delay is not shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DelayMissing {
    /// The sender is on another host and the clocks were not said to be
    /// synchronised.
    OtherHost,
    /// Probes arrived up to this long before they were sent: the sender's
    /// clock is ahead of the receiver's.
    ClocksDisagree {
        /// How far before its send time the earliest probe arrived, ns.
        ahead_ns: u64,
    },
    /// No probe arrived.
    NoProbes,
}

impl fmt::Display for DelayMissing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DelayMissing::OtherHost => f.write_str(
                "the sender is on another host and its clock may differ from the receiver's \
                 (say --assume-synced-clocks if both are synchronised)",
            ),
            DelayMissing::ClocksDisagree { ahead_ns } => write!(
                f,
                "probes arrived up to {:.3} ms before they were sent: the clocks are not \
                 synchronised",
                *ahead_ns as f64 / 1e6
            ),
            DelayMissing::NoProbes => f.write_str("no probe arrived"),
        }
    }
}

/// Which stream a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct RecordStream {
    /// The group.
    pub group: Group,
    /// The sender's address.
    pub source: IpAddr,
    /// The sender run.
    pub sender_id: SenderId,
}

/// Received and lost probes over time.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Timeline {
    /// When the first interval starts (the record's first arrival), ns
    /// since the Unix epoch.
    pub start_ns: u64,
    /// The length of every interval, ns.
    pub bin_ns: u64,
    /// The intervals, from the first.
    pub bins: Vec<TimelineBin>,
}

/// One interval of a [`Timeline`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TimelineBin {
    /// Probes that arrived in it (duplicates and late ones included).
    pub received: u64,
    /// Probes lost in it (see [`RecordAnalyzer`](super::RecordAnalyzer)).
    pub lost: u64,
    /// UDP payload bytes that arrived in it.
    pub bytes: u64,
    /// The median one-way delay of its probes, ns, where delay is shown
    /// (negative delays count as 0).
    pub delay_p50_ns: Option<u64>,
    /// The largest one-way delay, ns, where delay is shown.
    pub delay_max_ns: Option<u64>,
}

/// The figures of a stream or of the whole record.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Figures {
    /// The probe counters (summed over the streams for the record).
    pub counts: ProbeCounts,
    /// The first and last arrival, ns since the Unix epoch.
    pub first_arrival_ns: u64,
    /// The last arrival.
    pub last_arrival_ns: u64,
    /// One-way delay (ns; negative values count as 0), or why it is not
    /// shown. For the record: the streams that show it.
    pub delay: Result<Histogram, DelayMissing>,
    /// Interarrival gaps (ns) between consecutive probes of a stream at the
    /// receiver (duplicates left out).
    pub gaps: Histogram,
    /// The lengths of the loss runs, in probes: `count()` is the number of
    /// runs, `max()` the longest.
    pub loss_runs: Histogram,
    /// Over time; `None` for streams past the first [`TIMELINE_STREAMS`](super::TIMELINE_STREAMS).
    pub timeline: Option<Timeline>,
}

/// One stream of a record.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StreamAnalysis {
    /// Whose.
    pub stream: RecordStream,
    /// Its figures.
    pub figures: Figures,
    /// DTIM bunching, if its arrivals show it ([`DtimDetector`](crate::recording::DtimDetector)).
    pub bursts: Option<DtimBursts>,
    /// Loss that began above a rate ([`BasicRateDetector`](crate::recording::BasicRateDetector), fed with
    /// 1-second intervals).
    pub basic_rate: Option<RateFinding>,
}

/// What a record holds: each stream and the whole.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecordAnalysis {
    /// Rows read.
    pub rows: u64,
    /// The whole record (every stream, also those forgotten).
    pub total: Figures,
    /// The streams, in order of their first row.
    pub streams: Vec<StreamAnalysis>,
    /// Streams forgotten to make room (see [`MAX_RECORD_STREAMS`](super::MAX_RECORD_STREAMS)).
    pub evicted_streams: u64,
}
