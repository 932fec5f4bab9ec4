//! The echo protocol, once for every user: how a receiver answers a probe
//! ([`answer_probe`], on top of [`Probe::echo_reply_into`]), how a prober collects
//! the replies to its own probes ([`EchoCollector`]) and the round-trip
//! statistics over them ([`RttStats`]). `mcast recv --echo`, `mcast ping`
//! and `mcast doctor --peer` all use it.
//!
//! A round trip ends at the kernel's receive time of the reply
//! (`SO_TIMESTAMPNS`) where the system gives one, so it does not include
//! the prober's own wake-up; the wall clock only where it does not.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::histogram::{Histogram, Percentiles};
use crate::{
    unix_time_ns, Datagram, Error, Operation, Probe, ProbeFlags, Receiver, Sender, SenderId,
};

/// Sequence numbers remembered per responder to spot duplicates.
const SEEN_WINDOW: u64 = 4096;

/// The longest single wait in [`EchoCollector::wait`], so a caller notices
/// a signal that raced the wait.
const WAIT_SLICE: Duration = Duration::from_millis(500);

/// Answers the probe `payload` that arrived as `d` on `rx`, by unicast to
/// its sender, with the echo-reply flag set. `buf` is scratch room for the
/// reply (as large as the largest datagram). Returns whether a reply went
/// out: replies and datagrams that are not probes are not answered.
///
/// # Errors
/// [`Error::Io`] when the reply cannot be sent.
pub fn answer_probe(
    rx: &Receiver,
    d: &Datagram,
    payload: &[u8],
    buf: &mut [u8],
) -> Result<bool, Error> {
    let Some(n) = Probe::echo_reply_into(payload, buf) else {
        return Ok(false);
    };
    rx.reply(&buf[..n], d.source()).map(|_| true)
}

/// Round-trip statistics of the replies from one responder (or of the first
/// reply to each probe, from anyone): ping(8)'s min/avg/max/mdev, with
/// duplicates counted apart, and percentiles from a [`Histogram`] of the
/// round trips in nanoseconds (within 0.78 %, bounded memory).
#[derive(Debug, Default, Clone)]
pub struct RttStats {
    received: u64,
    hist: Histogram,
    duplicates: u64,
    seen: HashSet<u64>,
    min: f64,
    max: f64,
    sum: f64,
    sum_sq: f64,
}

impl RttStats {
    /// Counts the reply to probe `seq` after `rtt_ms`; returns false (and
    /// counts a duplicate) when that probe was answered before. Memory stays
    /// bounded: only the last few thousand sequence numbers are remembered.
    pub fn add(&mut self, seq: u64, rtt_ms: f64) -> bool {
        if !self.seen.insert(seq) {
            self.duplicates += 1;
            return false;
        }
        if self.seen.len() as u64 > 2 * SEEN_WINDOW {
            self.seen.retain(|s| s + SEEN_WINDOW > seq);
        }
        if self.received == 0 || rtt_ms < self.min {
            self.min = rtt_ms;
        }
        self.max = self.max.max(rtt_ms);
        self.received += 1;
        self.sum += rtt_ms;
        self.sum_sq += rtt_ms * rtt_ms;
        // A float-to-int cast saturates (and takes NaN to 0).
        self.hist.record((rtt_ms * 1e6) as u64);
        true
    }

    /// The percentiles of the round trips, in nanoseconds; `None` before
    /// any reply.
    pub fn percentiles(&self) -> Option<Percentiles> {
        self.hist.percentiles()
    }

    /// Probes answered (duplicates not counted).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Replies to probes that were already answered.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// The shortest round trip in ms (0 before any reply).
    pub fn min(&self) -> f64 {
        self.min
    }

    /// The longest round trip in ms (0 before any reply).
    pub fn max(&self) -> f64 {
        self.max
    }

    /// The mean round trip in ms (0 before any reply).
    pub fn avg(&self) -> f64 {
        self.sum / self.received.max(1) as f64
    }

    /// Mean deviation as ping(8) computes it: `sqrt(E[x²] − E[x]²)`.
    pub fn mdev(&self) -> f64 {
        let n = self.received.max(1) as f64;
        (self.sum_sq / n - (self.sum / n).powi(2)).max(0.0).sqrt()
    }
}

/// One echo reply to one of our probes.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Reply {
    /// Who answered.
    pub responder: IpAddr,
    /// The probe's sequence number.
    pub seq: u64,
    /// The reply's size in bytes.
    pub bytes: usize,
    /// The round trip in ms: the reply's (kernel) receive time minus the
    /// probe's send time.
    pub rtt_ms: f64,
    /// Whether this responder had answered that probe before.
    pub duplicate: bool,
}

/// Where echo replies are read from: a [`Sender`] (replies to multicast
/// probes) or a [`UnicastEcho`] socket (unicast probes to one peer).
pub trait ReplySocket: AsFd {
    /// One waiting reply with its kernel receive time, without blocking;
    /// `None` when nothing is waiting.
    ///
    /// # Errors
    /// [`Error::Io`], such as ECONNREFUSED on a connected socket whose peer
    /// does not listen.
    fn try_recv_reply(&self, buf: &mut [u8]) -> Result<Option<Datagram>, Error>;
}

impl ReplySocket for Sender {
    fn try_recv_reply(&self, buf: &mut [u8]) -> Result<Option<Datagram>, Error> {
        Sender::try_recv_reply(self, buf)
    }
}

/// A UDP socket connected to one peer's address, to send it probes by
/// unicast and read its echo replies with kernel receive times. Because it
/// is connected, an ICMP port unreachable comes back as ECONNREFUSED.
#[derive(Debug)]
pub struct UnicastEcho {
    socket: UdpSocket,
    peer: SocketAddr,
}

impl UnicastEcho {
    /// Binds to `local` and connects to `peer`.
    ///
    /// # Errors
    /// The system's error when the socket cannot be bound or connected (no
    /// route, no such local address).
    pub fn connect(local: SocketAddr, peer: SocketAddr) -> io::Result<UnicastEcho> {
        let socket = UdpSocket::bind(local)?;
        socket.connect(peer)?;
        if let Err(e) = nix::sys::socket::setsockopt(
            &socket,
            nix::sys::socket::sockopt::ReceiveTimestampns,
            &true,
        ) {
            log::debug!("SO_TIMESTAMPNS unavailable ({e}); reply times are taken after receipt");
        }
        Ok(UnicastEcho { socket, peer })
    }

    /// Sends one datagram to the peer.
    ///
    /// # Errors
    /// The system's error, such as ECONNREFUSED for an earlier probe.
    pub fn send(&self, payload: &[u8]) -> io::Result<usize> {
        self.socket.send(payload)
    }
}

impl AsFd for UnicastEcho {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl ReplySocket for UnicastEcho {
    fn try_recv_reply(&self, buf: &mut [u8]) -> Result<Option<Datagram>, Error> {
        let meta = match crate::recvmsg::recv_one(self.socket.as_raw_fd(), buf) {
            Ok(meta) => meta,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(Error::io(Operation::ReceiveEchoFrom(self.peer), e)),
        };
        Ok(Some(Datagram::from_meta(&meta, meta.size.min(buf.len()))))
    }
}

/// Collects the echo replies to the probes of one prober (one
/// [`SenderId`]): per responder, and "answered by anyone" per probe.
#[derive(Debug)]
pub struct EchoCollector {
    id: SenderId,
    responders: BTreeMap<IpAddr, RttStats>,
    answered: RttStats,
}

impl EchoCollector {
    /// A collector for the replies to probes sent with `id`.
    pub fn new(id: SenderId) -> EchoCollector {
        EchoCollector {
            id,
            responders: BTreeMap::new(),
            answered: RttStats::default(),
        }
    }

    /// Takes one received datagram: `Some` when it is an echo reply to one
    /// of our probes, timed from its send time to `arrival_ns`.
    pub fn take(&mut self, payload: &[u8], from: SocketAddr, arrival_ns: u64) -> Option<Reply> {
        let p = Probe::decode(payload).ok()?;
        if p.sender_id != self.id || !p.flags.contains(ProbeFlags::ECHO_REPLY) {
            return None;
        }
        let rtt_ms = arrival_ns.saturating_sub(p.sent_ns) as f64 / 1e6;
        let fresh = self
            .responders
            .entry(from.ip())
            .or_default()
            .add(p.seq, rtt_ms);
        self.answered.add(p.seq, rtt_ms);
        Some(Reply {
            responder: from.ip(),
            seq: p.seq,
            bytes: payload.len(),
            rtt_ms,
            duplicate: !fresh,
        })
    }

    /// Waits once for replies on `socket`, until `until` but at most half a
    /// second (call it again until the deadline), and takes every reply that
    /// arrived, handing each to `on_reply`. Returns early, with nothing
    /// taken, when a signal interrupts the wait. `buf` holds one datagram.
    ///
    /// # Errors
    /// [`Error::Io`] when waiting or receiving fails (a connected socket
    /// reports ICMP errors here), or what `on_reply` returns.
    pub fn wait<S, E>(
        &mut self,
        socket: &S,
        buf: &mut [u8],
        until: Instant,
        mut on_reply: impl FnMut(&Reply) -> Result<(), E>,
    ) -> Result<(), E>
    where
        S: ReplySocket,
        E: From<Error>,
    {
        let ms = crate::wait::poll_timeout_until(until, WAIT_SLICE);
        let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLIN)];
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(Error::io(Operation::WaitEchoReplies, e.into()).into()),
        }
        while let Some(d) = socket.try_recv_reply(buf)? {
            // The kernel's receive time: the round trip without our wake-up.
            let arrival = d.kernel_time_ns().unwrap_or_else(unix_time_ns);
            if let Some(r) = self.take(&buf[..d.len()], d.source(), arrival) {
                on_reply(&r)?;
            }
        }
        Ok(())
    }

    /// The statistics per responder, by address.
    pub fn responders(&self) -> &BTreeMap<IpAddr, RttStats> {
        &self.responders
    }

    /// The first reply to each probe, whoever sent it: how many probes got
    /// an answer at all.
    pub fn answered(&self) -> &RttStats {
        &self.answered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(id: SenderId, seq: u64, sent_ns: u64, size: usize) -> Vec<u8> {
        let mut b = vec![0u8; size];
        Probe::new(id, seq, sent_ns)
            .encode_into(&mut b, size)
            .unwrap();
        b
    }

    #[test]
    fn statistics() {
        let mut r = RttStats::default();
        assert!(r.add(1, 1.0));
        assert!(r.add(2, 3.0));
        assert!(!r.add(2, 9.0), "a duplicate");
        assert_eq!((r.received(), r.duplicates()), (2, 1));
        assert_eq!((r.min(), r.max(), r.avg()), (1.0, 3.0, 2.0));
        assert!((r.mdev() - 1.0).abs() < 1e-9);
        let p = r.percentiles().unwrap();
        // The midpoints of the buckets of 1 ms and 3 ms (within 0.78 %).
        assert_eq!((p.p50, p.p90, p.p99), (1_003_520, 2_998_272, 2_998_272));
        assert_eq!(RttStats::default().percentiles(), None);
        // The window keeps memory bounded on an endless run.
        for s in 3..100_000 {
            r.add(s, 1.0);
        }
        assert!(r.seen.len() as u64 <= 2 * SEEN_WINDOW + 1);
    }

    #[test]
    fn a_reply_is_the_probe_with_the_flag_set() {
        let id = SenderId::new(7);
        let p = probe(id, 3, 1_000, 100);
        let mut out = vec![0u8; 200];
        assert_eq!(Probe::echo_reply_into(&p, &mut out), Some(100));
        let r = Probe::decode(&out[..100]).unwrap();
        assert!(r.flags.contains(ProbeFlags::ECHO_REPLY));
        assert_eq!((r.sender_id, r.seq, r.sent_ns), (id, 3, 1_000));
        assert_eq!(out[6..100], p[6..100], "all but the flags is copied");
        // Replies are not answered, nor is other traffic, nor what does not fit.
        assert_eq!(Probe::echo_reply_into(&out[..100], &mut [0u8; 200]), None);
        assert_eq!(Probe::echo_reply_into(b"hello world", &mut out), None);
        assert_eq!(Probe::echo_reply_into(&p, &mut [0u8; 50]), None);
    }

    #[test]
    fn the_collector_takes_only_replies_to_its_own_probes() {
        let id = SenderId::new(1);
        let mut c = EchoCollector::new(id);
        let a: SocketAddr = "198.18.0.2:4321".parse().unwrap();
        let b: SocketAddr = "198.18.0.3:4321".parse().unwrap();
        let mut reply = vec![0u8; 64];
        let n = Probe::echo_reply_into(&probe(id, 1, 1_000_000, 64), &mut reply).unwrap();
        assert_eq!(c.take(&probe(id, 1, 0, 64), a, 0), None, "not a reply");
        let mut other = vec![0u8; 64];
        Probe::echo_reply_into(&probe(SenderId::new(2), 1, 0, 64), &mut other).unwrap();
        assert_eq!(c.take(&other, a, 0), None, "someone else's");
        let r = c.take(&reply[..n], a, 3_500_000).unwrap();
        assert_eq!(
            (r.responder, r.seq, r.bytes, r.duplicate),
            (a.ip(), 1, 64, false)
        );
        assert!((r.rtt_ms - 2.5).abs() < 1e-9);
        assert!(c.take(&reply[..n], a, 4_000_000).unwrap().duplicate);
        assert!(!c.take(&reply[..n], b, 5_000_000).unwrap().duplicate);
        assert_eq!(c.responders().len(), 2);
        assert_eq!(c.responders()[&a.ip()].received(), 1);
        assert_eq!(c.answered().received(), 1, "one probe, answered");
        assert_eq!(c.answered().duplicates(), 2);
    }

    #[test]
    fn replies_over_loopback_carry_kernel_times() {
        let Ok(rx) = UdpSocket::bind("127.0.0.1:0") else {
            eprintln!("skipped: cannot bind a loopback socket");
            return;
        };
        let e =
            UnicastEcho::connect("127.0.0.1:0".parse().unwrap(), rx.local_addr().unwrap()).unwrap();
        rx.connect(e.socket.local_addr().unwrap()).unwrap();
        let id = SenderId::new(9);
        let mut c = EchoCollector::new(id);
        let mut out = vec![0u8; 64];
        let sent = unix_time_ns();
        let n = Probe::echo_reply_into(&probe(id, 5, sent, 64), &mut out).unwrap();
        rx.send(&out[..n]).unwrap();
        let mut buf = vec![0u8; 2048];
        let until = Instant::now() + Duration::from_secs(2);
        let mut got = Vec::new();
        while got.is_empty() && Instant::now() < until {
            c.wait(&e, &mut buf, until, |r| {
                got.push(*r);
                Ok::<(), Error>(())
            })
            .unwrap();
        }
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].seq, 5);
        assert!(got[0].rtt_ms >= 0.0 && got[0].rtt_ms < 2_000.0);
    }
}
