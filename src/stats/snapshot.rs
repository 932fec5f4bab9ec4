//! What the statistics report at one moment: a stream's [`StreamSnapshot`]
//! and a whole run's [`RunSummary`]. Plain numbers; the CLI renders them.

use std::net::SocketAddr;

use crate::group::Group;
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
}

impl StreamSnapshot {
    pub(super) fn of(key: StreamKey, s: &StreamStats, interval: Throughput) -> StreamSnapshot {
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
