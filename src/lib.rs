//! mcast: IP multicast on phones and boards, done properly.
//!
//! The library behind the `mcast` command: choose an interface the way the
//! original mobile example chose an access point, join a group on it, and send
//! and receive datagrams, over IPv4 and IPv6, any-source or source-specific, or
//! IPv4 broadcast. Linux and Android.
//!
//! - [`interfaces()`], [`select()`] and [`find()`] (from `mcast-platform`) list
//!   and choose the interface.
//! - [`Group`] is where datagrams go.
//! - [`Sender`] and [`Receiver`] are built with [`Sender::builder`] and
//!   [`Receiver::builder`], tied to the interface before anything is sent or
//!   joined, with fallbacks for stacks that lack the usual socket options.
//! - [`Probe`] is the probe format; [`ReceiverStats`] counts probes (loss,
//!   duplicates, reordering, jitter, delay) and hands out plain numbers in
//!   [`StreamSnapshot`]s and a [`RunSummary`]; rendering them is up to the
//!   caller (see `examples/receive_stats.rs`).
//! - [`EchoCollector`] and [`answer_probe`] are the echo protocol of `mcast
//!   ping` (see `examples/ping.rs`); [`Follower`] follows an interface
//!   through network changes.
//! - Rarely needed items sit in two modules: [`recording`] (the record of a
//!   run and its analysis) and [`sys`] (batched syscalls and limits for
//!   high-rate loops).
//!
//! Send "hello world" to the default group on the automatically chosen
//! interface:
//!
//! ```no_run
//! use mcast::{Family, Group, Purpose, Sender};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let list = mcast::interfaces()?;
//! let iface = mcast::select(&list, Family::V4, Purpose::Multicast)
//!     .chosen()
//!     .ok_or("no interface qualifies")?
//!     .clone();
//! let sender = Sender::builder(Group::default_group(), iface).build()?;
//! sender.send(b"hello world")?;
//! # Ok(())
//! # }
//! ```
//!
//! Receive ten datagrams on `wlan0`:
//!
//! ```no_run
//! use mcast::{Group, Receiver};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let list = mcast::interfaces()?;
//! let wlan = mcast::find(&list, "wlan0")?.clone();
//! let mut rx = Receiver::builder(Group::default_group(), wlan).build()?;
//! let mut buf = vec![0u8; 65_535];
//! for _ in 0..10 {
//!     if let Some(d) = rx.recv(&mut buf, None)? {
//!         println!("Received {} from {}", mcast::escape_text(&buf[..d.len()]), d.source());
//!     }
//! }
//! rx.leave()?;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs, unreachable_pub)]

mod analysis;
mod basic_rate;
mod cmsg;
mod dtim;
mod duration;
mod echo;
mod error;
mod escape;
mod follow;
mod group;
mod group_list;
mod histogram;
mod limits;
mod mmsg;
mod pace;
mod probe;
mod receiver;
mod record;
mod recvmsg;
mod sender;
mod sendmsg;
mod sockopt;
mod stats;
#[cfg(test)]
mod test_rng;
mod wait;

// Choosing and following an interface (from `mcast-platform`).
pub use follow::{FollowEvent, Follower, Look, RETRY_AFTER};
pub use mcast_platform::{
    changes, check, find, interfaces, is_usable, select, Address, Change, Family, FindError, Flags,
    Interface, InterfaceIndex, Kind, Purpose, Rejection, Selection, Verdict, WatchMechanism,
    Watcher,
};
// Groups, sending and receiving.
pub use error::{Conflict, Error, Operation};
pub use group::{Group, ParseGroupError, Port, Zone};
pub use group_list::{parse_group_list, parse_groups, GroupList, GroupListError, MAX_GROUPS};
pub use pace::{parse_bitrate, parse_rate, Bitrate, Pacer, ParseRateError, Period, Rate, Step};
pub use receiver::{Datagram, JoinMechanism, Receiver, ReceiverBuilder};
pub use sender::{Pin, Sender, SenderBuilder};
// Probes, what a receiver counts of them, and the echo protocol of ping.
pub use echo::{answer_probe, EchoCollector, Reply, ReplySocket, RttStats, UnicastEcho};
pub use probe::{
    is_probe, unix_time_ns, DecodeError, Probe, ProbeError, ProbeFlags, SenderId, PROBE_HEADER_LEN,
    PROBE_MAGIC, PROBE_VERSION,
};
pub use stats::{
    Arrival, GroupStats, OneWayDelay, ProbeCounts, ReceiverStats, RunSummary, StreamKey,
    StreamSnapshot, StreamStats, Throughput, MAX_STREAMS, REORDER_WINDOW,
};
// Durations and text as the command line writes them.
pub use duration::{format_duration, parse_duration, ParseDurationError};
pub use escape::escape_text;

/// Recording a run and analysing the record afterwards: what `recv
/// --record` writes and `mcast report` reads (the record format, its
/// writer and reader), the analysis of a record into figures and a
/// timeline, the DTIM-burst and basic-rate detectors, and histograms.
pub mod recording {
    pub use crate::analysis::{
        DelayMissing, DelayPolicy, Figures, RecordAnalysis, RecordAnalyzer, RecordStream,
        StreamAnalysis, Timeline, TimelineBin, MAX_POINTS, MAX_RECORD_STREAMS, TIMELINE_STREAMS,
    };
    pub use crate::basic_rate::{BasicRateDetector, FlatFinding, RateFinding};
    pub use crate::dtim::{DtimBursts, DtimDetector, BEACON_INTERVAL_NS};
    pub use crate::histogram::{Bucket, Histogram, Percentiles};
    pub use crate::record::{
        RecordError, RecordReader, RecordRow, RecordWriter, RECORD_FLUSH_FILE, RECORD_FLUSH_STDOUT,
        RECORD_HEADER,
    };
}

/// Tools for high-rate loops and many groups, which most applications do
/// not need: batched receiving and sending (`recvmmsg(2)`, `sendmmsg(2)`),
/// `poll(2)` timeouts from deadlines, the open-file limit, the kernel's
/// `IP_MULTICAST_ALL` default. Linux and Android only.
pub mod sys {
    pub use crate::limits::raise_open_files_limit;
    pub use crate::recvmsg::RecvBatch;
    pub use crate::sendmsg::SendBatch;
    pub use crate::sockopt::multicast_all_default;
    pub use crate::wait::{poll_timeout_ms, poll_timeout_until};
}
