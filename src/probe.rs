//! The probe format: what `mcast send --probe` puts in each datagram so that a
//! receiver can measure the path (loss, duplicates, reordering, jitter, delay).
//!
//! Version 1, all fields big-endian (network byte order), 32-byte header,
//! then zero padding up to the datagram size:
//!
//! | offset | size | field         | value                                                      |
//! |-------:|-----:|---------------|------------------------------------------------------------|
//! | 0      | 4    | magic         | `4D 43 53 54`, ASCII `MCST`                                |
//! | 4      | 1    | version       | `1`                                                        |
//! | 5      | 1    | flags         | bit 0 (`0x01`): echo reply; bits 1–7 reserved, sent as 0   |
//! | 6      | 2    | header length | u16, `32` for version 1: where the padding starts          |
//! | 8      | 8    | sender id     | u64, random per sender run                                 |
//! | 16     | 8    | sequence      | u64, +1 per datagram of one sender to one group            |
//! | 24     | 8    | send time     | u64, CLOCK_REALTIME nanoseconds since the Unix epoch       |
//! | 32     | …    | padding       | zeros up to the datagram size; readers ignore its content  |
//!
//! The rules for writers and readers are on [`Probe`] (public, so rustdoc
//! shows them); the README repeats this table for other tools.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The first 4 bytes of every probe: ASCII `MCST`.
pub const PROBE_MAGIC: [u8; 4] = *b"MCST";

/// The probe format version this module writes and reads.
pub const PROBE_VERSION: u8 = 1;

/// The length of a version-1 probe header, and the smallest probe size.
pub const PROBE_HEADER_LEN: usize = 32;

/// Which sender run a probe comes from: a random 64-bit number chosen when the
/// sender starts. Shown as 16 hexadecimal digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SenderId(u64);

impl SenderId {
    /// Wraps a known id (for tests and tools that replay probes).
    pub fn new(id: u64) -> SenderId {
        SenderId(id)
    }

    /// The id as a number.
    pub fn get(self) -> u64 {
        self.0
    }

    /// A fresh id, different on every call and in every process.
    ///
    /// Without a random-number crate: the wall clock in nanoseconds, the
    /// process id, the address of a stack variable (randomised by ASLR) and a
    /// per-process counter are hashed with a [`RandomState`], whose keys the
    /// standard library seeds from the operating system's random source.
    pub fn random() -> SenderId {
        static CALLS: AtomicU64 = AtomicU64::new(0);
        let on_stack = 0u8;
        let mut h = RandomState::new().build_hasher();
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.write_u32(std::process::id());
        h.write_usize(std::ptr::addr_of!(on_stack) as usize);
        h.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
        SenderId(h.finish())
    }
}

impl fmt::Display for SenderId {
    /// 16 lower-case hexadecimal digits, e.g. `0102030405060708`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The flags byte of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ProbeFlags(u8);

impl ProbeFlags {
    /// No flag set: an ordinary probe.
    pub const NONE: ProbeFlags = ProbeFlags(0);

    /// Bit 0: this probe is an echo reply (`mcast ping`).
    pub const ECHO_REPLY: ProbeFlags = ProbeFlags(0x01);

    /// Flags from the raw byte; unknown bits are kept.
    pub fn from_bits(bits: u8) -> ProbeFlags {
        ProbeFlags(bits)
    }

    /// The raw byte.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: ProbeFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// These flags with the bits of `other` added.
    #[must_use]
    pub fn with(self, other: ProbeFlags) -> ProbeFlags {
        ProbeFlags(self.0 | other.0)
    }
}

/// The header of one probe datagram: what `mcast send --probe` puts in each
/// datagram so that a receiver can measure the path.
///
/// A probe is a fixed header followed by zero padding up to the datagram size
/// asked for (`--size N`). Every multi-byte field is in network byte order
/// (big-endian). Version 1, 32-byte header:
///
/// | offset | size | field         | value                                                        |
/// |-------:|-----:|---------------|--------------------------------------------------------------|
/// | 0      | 4    | magic         | `4D 43 53 54`, ASCII `MCST`                                  |
/// | 4      | 1    | version       | `1`                                                          |
/// | 5      | 1    | flags         | bit 0 (`0x01`): echo reply; bits 1–7 reserved, sent as 0     |
/// | 6      | 2    | header length | u16, `32` for version 1: where the padding starts            |
/// | 8      | 8    | sender id     | u64, random per sender run                                   |
/// | 16     | 8    | sequence      | u64, +1 per datagram of one sender to one group              |
/// | 24     | 8    | send time     | u64, CLOCK_REALTIME nanoseconds since 1970-01-01T00:00:00Z   |
/// | 32     | …    | padding       | zeros up to the datagram size; readers ignore its content    |
///
/// Rules for writers and readers:
///
/// - The smallest probe is the header: 32 bytes. A size below that is an
///   error ([`ProbeError::SizeTooSmall`]) naming the minimum.
/// - A datagram whose first 4 bytes are not the magic (or that is shorter than
///   4 bytes) is not a probe: receivers count it as "other" traffic.
/// - Readers reject versions they do not know. A version-1 header longer than
///   32 bytes is valid: a later, compatible extension appends fields, and
///   version-1 readers skip them by honouring the header length. A change that
///   old readers could not skip gets a new version number.
/// - The sequence number starts wherever the sender likes (receivers assume no start)
///   and increases by one per datagram to one group; it may wrap around after
///   `u64::MAX`, and receivers compare sequence numbers with serial-number
///   arithmetic (RFC 1982).
/// - A sender that restarts picks a new sender id, so receivers start a new
///   stream with fresh counters instead of reporting a huge gap or duplicates.
/// - The send time is the sender's wall clock. One-way delay (arrival minus
///   send time) is meaningful only when both ends share a clock (the same host,
///   or clocks synchronised by PTP/NTP); jitter (RFC 3550 §6.4.1) is not
///   affected by a constant clock offset.
/// - Flag bit 0 marks an echo reply: `mcast ping` answers a probe by unicast
///   with the same header and this bit set. Unknown flag bits are kept by
///   [`Probe::decode`] and otherwise ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Which sender run sent it.
    pub sender_id: SenderId,
    /// Its sequence number in the sender's stream to this group.
    pub seq: u64,
    /// When it was sent: nanoseconds since the Unix epoch (CLOCK_REALTIME).
    pub sent_ns: u64,
    /// Flags, such as [`ProbeFlags::ECHO_REPLY`].
    pub flags: ProbeFlags,
}

impl Probe {
    /// An ordinary probe (no flags).
    pub fn new(sender_id: SenderId, seq: u64, sent_ns: u64) -> Probe {
        Probe {
            sender_id,
            seq,
            sent_ns,
            flags: ProbeFlags::NONE,
        }
    }

    /// Writes the probe into `buf[..size]`: the header, then zeros up to
    /// `size` bytes. Returns `size`. Allocates nothing, so it can run for
    /// every datagram.
    ///
    /// # Errors
    /// [`ProbeError::SizeTooSmall`] when `size` is below
    /// [`PROBE_HEADER_LEN`], [`ProbeError::BufferTooSmall`] when `buf` is
    /// shorter than `size`.
    pub fn encode_into(&self, buf: &mut [u8], size: usize) -> Result<usize, ProbeError> {
        if size < PROBE_HEADER_LEN {
            return Err(ProbeError::SizeTooSmall {
                size,
                min: PROBE_HEADER_LEN,
            });
        }
        let capacity = buf.len();
        let out = buf
            .get_mut(..size)
            .ok_or(ProbeError::BufferTooSmall { size, capacity })?;
        let (header, padding) = out.split_at_mut(PROBE_HEADER_LEN);
        header[0..4].copy_from_slice(&PROBE_MAGIC);
        header[4] = PROBE_VERSION;
        header[5] = self.flags.bits();
        header[6..8].copy_from_slice(&(PROBE_HEADER_LEN as u16).to_be_bytes());
        header[8..16].copy_from_slice(&self.sender_id.get().to_be_bytes());
        header[16..24].copy_from_slice(&self.seq.to_be_bytes());
        header[24..32].copy_from_slice(&self.sent_ns.to_be_bytes());
        padding.fill(0);
        Ok(size)
    }

    /// Reads a probe header from a received datagram. Never panics, whatever
    /// the bytes.
    ///
    /// # Errors
    /// [`DecodeError::NotAProbe`] when the magic is missing (the datagram is
    /// other traffic), [`DecodeError::Truncated`] when it ends inside the
    /// header, [`DecodeError::UnsupportedVersion`] for a version other than
    /// [`PROBE_VERSION`], [`DecodeError::BadHeaderLength`] for a version-1
    /// header length below 32.
    pub fn decode(bytes: &[u8]) -> Result<Probe, DecodeError> {
        if !is_probe(bytes) {
            return Err(DecodeError::NotAProbe);
        }
        // Magic, version, flags and header length come first.
        let (&version, &flags, len_hi, len_lo) = match bytes {
            [_, _, _, _, v, f, h, l, ..] => (v, f, h, l),
            _ => {
                return Err(DecodeError::Truncated {
                    len: bytes.len(),
                    needed: 8,
                })
            }
        };
        if version != PROBE_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let header_len = u16::from_be_bytes([*len_hi, *len_lo]);
        if usize::from(header_len) < PROBE_HEADER_LEN {
            return Err(DecodeError::BadHeaderLength(header_len));
        }
        if bytes.len() < usize::from(header_len) {
            return Err(DecodeError::Truncated {
                len: bytes.len(),
                needed: usize::from(header_len),
            });
        }
        Ok(Probe {
            sender_id: SenderId(be_u64(bytes, 8)),
            seq: be_u64(bytes, 16),
            sent_ns: be_u64(bytes, 24),
            flags: ProbeFlags(flags),
        })
    }

    /// Writes the echo reply to the probe datagram `payload` into `out`: the
    /// same bytes (header, any later header fields and the padding) with
    /// [`ProbeFlags::ECHO_REPLY`] added, so the prober matches it by sender
    /// id and sequence and times it by the send time it wrote. Returns the
    /// reply's length.
    ///
    /// `None` when `payload` is not a probe this module reads, is itself an
    /// echo reply (replies are never answered, so two echoers cannot loop),
    /// or does not fit in `out`.
    pub fn echo_reply_into(payload: &[u8], out: &mut [u8]) -> Option<usize> {
        let p = Probe::decode(payload).ok()?;
        if p.flags.contains(ProbeFlags::ECHO_REPLY) {
            return None;
        }
        let reply = out.get_mut(..payload.len())?;
        reply.copy_from_slice(payload);
        // Byte 5 holds the flags (see the probe format).
        reply[5] = p.flags.with(ProbeFlags::ECHO_REPLY).bits();
        Some(payload.len())
    }
}

/// The big-endian u64 at `at`; 0 if the slice is too short (callers check the
/// length first, so that never happens).
fn be_u64(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
        .map_or(0, u64::from_be_bytes)
}

/// Whether a datagram starts with the probe magic `MCST`. It may still be a
/// version this module cannot read; [`Probe::decode`] tells.
pub fn is_probe(bytes: &[u8]) -> bool {
    bytes.starts_with(&PROBE_MAGIC)
}

/// The wall clock (CLOCK_REALTIME) in nanoseconds since the Unix epoch, the
/// time base of [`Probe::sent_ns`]; 0 if the clock is set before 1970.
pub fn unix_time_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A probe could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeError {
    /// The datagram size asked for is smaller than the probe header.
    SizeTooSmall {
        /// The size asked for.
        size: usize,
        /// The smallest size a probe can have.
        min: usize,
    },
    /// The buffer is shorter than the datagram size asked for.
    BufferTooSmall {
        /// The size asked for.
        size: usize,
        /// The buffer's length.
        capacity: usize,
    },
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ProbeError::SizeTooSmall { size, min } => write!(
                f,
                "probe size {size} is too small: the probe header takes {min} bytes, \
                 so the size must be at least {min}"
            ),
            ProbeError::BufferTooSmall { size, capacity } => write!(
                f,
                "a {size}-byte probe does not fit in a {capacity}-byte buffer"
            ),
        }
    }
}

impl std::error::Error for ProbeError {}

/// A datagram could not be read as a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// It does not start with the magic `MCST`: other traffic, not a probe.
    NotAProbe,
    /// It starts like a probe but ends inside the header.
    Truncated {
        /// The datagram's length.
        len: usize,
        /// How many bytes the header needs.
        needed: usize,
    },
    /// A probe of a version this module cannot read.
    UnsupportedVersion(u8),
    /// A version-1 header whose length field is below 32.
    BadHeaderLength(u16),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::NotAProbe => {
                f.write_str("not an mcast probe: it does not start with the magic 'MCST'")
            }
            DecodeError::Truncated { len, needed } => write!(
                f,
                "truncated probe: {len} bytes, but the header needs {needed}"
            ),
            DecodeError::UnsupportedVersion(v) => write!(
                f,
                "probe version {v} is not supported (this mcast reads version {PROBE_VERSION})"
            ),
            DecodeError::BadHeaderLength(n) => write!(
                f,
                "bad probe header length {n}: version {PROBE_VERSION} headers take at least \
                 {PROBE_HEADER_LEN} bytes"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_rng::Rng;

    fn sample() -> Probe {
        Probe {
            sender_id: SenderId::new(0x0102_0304_0506_0708),
            seq: 0x1112_1314_1516_1718,
            sent_ns: 1_700_000_000_123_456_789,
            flags: ProbeFlags::NONE,
        }
    }

    #[test]
    fn golden_vector() {
        let mut buf = [0xAAu8; 64];
        assert_eq!(sample().encode_into(&mut buf, 40), Ok(40));
        // 1_700_000_000_123_456_789 = 0x1797_9CFE_3D85_CD15.
        let expected: [u8; 40] = [
            0x4D, 0x43, 0x53, 0x54, // magic "MCST"
            0x01, // version
            0x00, // flags
            0x00, 0x20, // header length 32
            0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // sender id
            0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, // sequence
            0x17, 0x97, 0x9C, 0xFE, 0x3D, 0x85, 0xCD, 0x15, // send time, ns
            0, 0, 0, 0, 0, 0, 0, 0, // padding
        ];
        assert_eq!(buf[..40], expected);
        // Nothing past the size is touched.
        assert!(buf[40..].iter().all(|&b| b == 0xAA));
        assert_eq!(Probe::decode(&expected), Ok(sample()));
    }

    #[test]
    fn round_trip() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut buf = vec![0u8; 1500];
        for _ in 0..10_000 {
            let p = Probe {
                sender_id: SenderId::new(rng.next()),
                seq: rng.next(),
                sent_ns: rng.next(),
                flags: ProbeFlags::from_bits(rng.next() as u8),
            };
            let size = PROBE_HEADER_LEN + (rng.next() % 1000) as usize;
            assert_eq!(p.encode_into(&mut buf, size), Ok(size));
            assert!(is_probe(&buf[..size]));
            assert_eq!(Probe::decode(&buf[..size]), Ok(p));
            assert!(buf[PROBE_HEADER_LEN..size].iter().all(|&b| b == 0));
        }
        let echo = Probe {
            flags: ProbeFlags::NONE.with(ProbeFlags::ECHO_REPLY),
            ..sample()
        };
        let mut b = [0u8; 32];
        echo.encode_into(&mut b, 32).unwrap();
        assert_eq!(b[5], 0x01);
        assert!(Probe::decode(&b)
            .unwrap()
            .flags
            .contains(ProbeFlags::ECHO_REPLY));
        assert!(!sample().flags.contains(ProbeFlags::ECHO_REPLY));
    }

    #[test]
    fn encode_errors_name_the_minimum() {
        let mut buf = [0u8; 64];
        let e = sample().encode_into(&mut buf, 20).unwrap_err();
        assert_eq!(e, ProbeError::SizeTooSmall { size: 20, min: 32 });
        let msg = e.to_string();
        assert!(msg.contains("20") && msg.contains("at least 32"), "{msg}");
        let e = sample().encode_into(&mut buf, 65).unwrap_err();
        assert_eq!(
            e,
            ProbeError::BufferTooSmall {
                size: 65,
                capacity: 64
            }
        );
        assert!(e.to_string().contains("65"));
        assert_eq!(sample().encode_into(&mut buf, 32), Ok(32));
        assert_eq!(sample().encode_into(&mut buf, 64), Ok(64));
    }

    #[test]
    fn decode_errors() {
        let mut good = [0u8; 40];
        sample().encode_into(&mut good, 40).unwrap();

        assert_eq!(Probe::decode(b""), Err(DecodeError::NotAProbe));
        assert_eq!(Probe::decode(b"MCS"), Err(DecodeError::NotAProbe));
        assert_eq!(Probe::decode(b"hello world"), Err(DecodeError::NotAProbe));
        assert!(!is_probe(b"MCS"));
        assert!(is_probe(b"MCST"));

        // Every truncation of a valid probe.
        for n in 0..good.len() {
            let r = Probe::decode(&good[..n]);
            match n {
                0..=3 => assert_eq!(r, Err(DecodeError::NotAProbe), "{n}"),
                4..=7 => assert_eq!(r, Err(DecodeError::Truncated { len: n, needed: 8 })),
                8..=31 => assert_eq!(r, Err(DecodeError::Truncated { len: n, needed: 32 })),
                _ => assert_eq!(r, Ok(sample())),
            }
        }

        // Every version byte.
        for v in 0..=255u8 {
            let mut b = good;
            b[4] = v;
            let r = Probe::decode(&b);
            if v == PROBE_VERSION {
                assert_eq!(r, Ok(sample()));
            } else {
                assert_eq!(r, Err(DecodeError::UnsupportedVersion(v)));
                assert!(r.unwrap_err().to_string().contains(&format!("{v}")));
            }
        }

        // Header lengths: below 32 is bad, longer headers are skipped when the
        // datagram holds them, and truncated otherwise.
        for len in 0..=u16::MAX {
            let mut b = good;
            b[6..8].copy_from_slice(&len.to_be_bytes());
            let r = Probe::decode(&b);
            match len {
                0..=31 => assert_eq!(r, Err(DecodeError::BadHeaderLength(len))),
                32..=40 => assert_eq!(r, Ok(sample())),
                _ => assert_eq!(
                    r,
                    Err(DecodeError::Truncated {
                        len: 40,
                        needed: usize::from(len)
                    })
                ),
            }
        }
        for e in [
            DecodeError::NotAProbe,
            DecodeError::Truncated { len: 5, needed: 8 },
            DecodeError::BadHeaderLength(3),
        ] {
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn decoder_never_panics_on_arbitrary_bytes() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let mut good = [0u8; 200];
        sample().encode_into(&mut good, 200).unwrap();
        let mut buf = [0u8; 200];
        let mut decoded = 0;
        for i in 0..100_000u32 {
            let len = (rng.next() % 200) as usize;
            for b in buf.iter_mut().take(len) {
                *b = rng.next() as u8;
            }
            // A third of the inputs keep the magic (and often the version and
            // header length) so the decoder gets past its first check.
            match i % 3 {
                1 => {
                    let k = len.min(4);
                    buf[..k].copy_from_slice(&PROBE_MAGIC[..k]);
                }
                2 => {
                    let k = len.min(8);
                    buf[..k].copy_from_slice(&good[..k]);
                }
                _ => {}
            }
            let bytes = &buf[..len];
            match Probe::decode(bytes) {
                Ok(_) => {
                    decoded += 1;
                    assert!(len >= PROBE_HEADER_LEN && is_probe(bytes));
                }
                Err(DecodeError::NotAProbe) => assert!(!is_probe(bytes)),
                Err(e) => {
                    assert!(is_probe(bytes));
                    let _ = e.to_string();
                }
            }
        }
        assert!(decoded > 0, "the generator never produced a valid header");
    }

    #[test]
    fn sender_ids_differ() {
        let ids: std::collections::HashSet<SenderId> =
            (0..1000).map(|_| SenderId::random()).collect();
        assert_eq!(ids.len(), 1000);
        assert_eq!(
            SenderId::new(0x0102_0304_0506_0708).to_string(),
            "0102030405060708"
        );
        assert_eq!(SenderId::new(0xff).to_string(), "00000000000000ff");
    }

    #[test]
    fn clock_is_after_2020() {
        assert!(unix_time_ns() > 1_577_836_800_000_000_000);
    }
}
