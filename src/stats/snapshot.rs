//! What the statistics report at one moment: a stream's [`StreamSnapshot`]
//! and a whole run's [`RunSummary`]. Plain numbers; the CLI renders them.

use std::net::SocketAddr;

use crate::basic_rate::{FlatFinding, RateFinding};
use crate::dtim::DtimBursts;
use crate::group::Group;
use crate::histogram::Percentiles;
use crate::probe::SenderId;

use super::counts::{OneWayDelay, ProbeCounts, Throughput};
use super::receiver::GroupStats;
use super::stream::StreamStats;

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
#[non_exhaustive]
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
    /// Percentiles of the one-way delay, ns (negative delays as 0); as
    /// meaningful as `delay`.
    pub delay_percentiles: Option<Percentiles>,
    /// Percentiles of the interarrival gaps, ns.
    pub gap_percentiles: Option<Percentiles>,
    /// The longest interarrival gap, ns.
    pub gap_max_ns: Option<u64>,
    /// Runs of consecutive lost sequence numbers.
    pub loss_runs: u64,
    /// The longest of them, as first seen.
    pub loss_run_max: u64,
    /// DTIM bunching, when the arrivals show it.
    pub bursts: Option<DtimBursts>,
    /// Loss that began above a rate and never below it.
    pub rate_finding: Option<RateFinding>,
    /// The delivered rate flat near a basic rate while more was offered.
    pub flat_rate: Option<FlatFinding>,
}

impl StreamSnapshot {
    pub(super) fn of(key: StreamKey, s: &StreamStats, interval: Throughput) -> StreamSnapshot {
        let shape = s.shape();
        StreamSnapshot {
            key,
            counts: s.counts(),
            first_seq: s.first_seq,
            highest_seq: s.highest,
            lifetime: s.lifetime(),
            interval,
            jitter_ns: s.jitter_ns(),
            delay: s.delay(),
            delay_percentiles: shape.delay,
            gap_percentiles: shape.gaps,
            gap_max_ns: shape.gap_max_ns,
            loss_runs: shape.loss_runs,
            loss_run_max: shape.loss_run_max,
            bursts: s.bursts(),
            rate_finding: s.rate_finding(),
            flat_rate: s.flat_rate(),
        }
    }
}

/// A whole receive run at one moment: every tracked stream and every group.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RunSummary {
    /// Every tracked stream, by group and then by first arrival.
    pub streams: Vec<StreamSnapshot>,
    /// Every group, in the order given and then as first seen.
    pub groups: Vec<GroupStats>,
    /// The counters of all groups together.
    pub totals: ProbeCounts,
}
