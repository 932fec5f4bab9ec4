//! Receiver statistics for probe streams: loss, duplicates, reordering, late
//! arrivals, rates, interarrival jitter and one-way delay, per sender and per
//! group.
//!
//! [`StreamStats`] counts one stream on the per-datagram hot path,
//! [`ReceiverStats`] tracks the streams of a run, and snapshots
//! ([`StreamSnapshot`], [`RunSummary`]) hand the numbers out; rendering them
//! (JSON, tables) is the CLI's business.

mod counts;
mod receiver;
mod shape;
mod snapshot;
mod stream;
#[cfg(test)]
mod tests;

pub use counts::{Arrival, OneWayDelay, ProbeCounts, Throughput};
pub use receiver::{GroupStats, ReceiverStats};
pub use snapshot::{RunSummary, StreamKey, StreamSnapshot};
pub use stream::StreamStats;

/// How many sequence numbers behind the highest a stream can still tell a
/// reordered probe from a duplicate. A power of two, so it divides 2^64 and
/// the bitmap stays consistent when sequence numbers wrap.
pub const REORDER_WINDOW: u64 = 4096;

/// The default limit on streams tracked at once by [`ReceiverStats`].
pub const MAX_STREAMS: usize = 1024;
