//! The numbers a stream or a group reports: what one probe was
//! ([`Arrival`]), the packet counters ([`ProbeCounts`]), rates
//! ([`Throughput`]) and one-way delay ([`OneWayDelay`]).

/// What one probe was to its stream; see [`StreamStats`](super::StreamStats).
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

/// Packet counters of a stream or a group; see [`StreamStats`](super::StreamStats) for the
/// definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
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
        per(self.lost, 100.0, self.expected)
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

    pub(super) fn apply(&mut self, arrival: Arrival, bytes: u64) {
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
        per(self.packets, 1e9, self.duration_ns)
    }

    /// Megabits (10^6 bits) of UDP payload per second; 0 over an empty span.
    pub fn mbps(&self) -> f64 {
        per(self.bytes, 8e3, self.duration_ns)
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

/// `num × scale / den`; 0 when `den` is 0.
fn per(num: u64, scale: f64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 * scale / den as f64
    }
}
