//! Every stream of a receive run, bounded in memory: [`ReceiverStats`] and
//! each group's totals ([`GroupStats`]).

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::group::Group;
use crate::probe::{DecodeError, Probe};

use super::counts::{Arrival, ProbeCounts};
use super::snapshot::{RunSummary, StreamKey, StreamSnapshot};
use super::stream::StreamStats;
use super::MAX_STREAMS;

/// Totals of one group: its probe counters summed over its streams (also the
/// forgotten ones), and the datagrams that were not probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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
}

#[derive(Debug, Clone)]
pub(super) struct Tracked {
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
/// group, source address (address and port) and [`SenderId`](crate::SenderId). A sender that
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
    pub(super) streams: HashMap<StreamKey, Tracked>,
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

    /// Every stream and group at `now_ns`; the intervals keep running.
    pub fn summary(&self, now_ns: u64) -> RunSummary {
        RunSummary {
            streams: self.snapshot(now_ns),
            groups: self.groups.clone(),
            totals: self.totals(),
        }
    }
}
