//! Receiving a group on one chosen interface: bind, join, receive, leave.
//!
//! [`builder`] configures and opens the sockets, [`bind`] decides where they
//! bind, [`join`] makes the memberships, [`filter`] decides which datagrams
//! are kept, [`datagram`] describes one; this file receives and leaves.

mod bind;
mod builder;
mod datagram;
mod filter;
mod join;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use log::{debug, info};
use mcast_platform::Interface;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use socket2::{InterfaceIndexOrAddress, SockAddr, Socket};

pub use builder::ReceiverBuilder;
pub use datagram::Datagram;
use filter::{Dropped, Filter};
pub use join::JoinMechanism;
use join::{Member, Membership};

use crate::error::{Error, Operation};
use crate::group::Group;
use crate::recvmsg::{self, Meta, RecvBatch};
use crate::sockopt as raw;

/// UDP sockets joined to groups on one interface. Dropping it leaves the
/// groups; [`Receiver::leave`] does so explicitly and reports errors.
///
/// Linux limits the memberships of one socket (20 IPv4 groups by default,
/// and IPv6 groups by socket option memory), so a receiver of many groups
/// holds them on as many sockets as needed ([`Receiver::socket_count`]), and
/// each datagram is received once. Wait on [`Receiver::fds`] with one
/// `poll(2)`, and read a ready one with [`Receiver::recv_batch_on`].
///
/// ```no_run
/// use mcast::{Group, Receiver};
/// use std::time::Duration;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let list = mcast::interfaces()?;
/// let wlan = mcast::find(&list, "wlan0")?.clone();
/// let mut receiver = Receiver::builder(Group::default_group(), wlan).build()?;
/// let mut buf = [0u8; 1500];
/// for _ in 0..10 {
///     if let Some(d) = receiver.recv(&mut buf, Some(Duration::from_secs(5)))? {
///         println!("Received {:?} from {}", &buf[..d.len()], d.source());
///     }
/// }
/// receiver.leave()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Receiver {
    /// The sockets; the first one always receives.
    members: Vec<Member>,
    /// The members that are read, in the order of [`Receiver::fds`].
    readers: Vec<usize>,
    group: Group,
    groups: Vec<Group>,
    iface: Interface,
    /// The checks of every datagram: interface, group, SSM source (where
    /// IP_MULTICAST_ALL stays on, a socket also gets other sources of groups
    /// it did not join), broadcast.
    filter: Filter,
    per_socket: Option<usize>,
    filtered: u64,
    wait_timeout_set: bool,
    /// The reader [`Receiver::recv_batch`] tries first.
    next: usize,
}

impl Receiver {
    /// Waits up to `timeout` (forever with `None`) for one datagram of the
    /// groups on the interface, and stores it in `buf`.
    ///
    /// Returns `Ok(None)` when the time is up or a signal interrupted the
    /// wait, so the caller can check for Ctrl-C. Datagrams that arrive on
    /// another interface (possible where `IP_MULTICAST_ALL` cannot be turned
    /// off) are dropped and counted in [`Receiver::filtered`].
    ///
    /// # Errors
    /// [`Error::Io`] naming the group and the interface.
    pub fn recv(
        &mut self,
        buf: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<Option<Datagram>, Error> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let wait = match deadline {
                None => PollTimeout::NONE,
                Some(d) => PollTimeout::try_from(crate::wait::poll_timeout_until(d, Duration::MAX))
                    .unwrap_or(PollTimeout::MAX),
            };
            let mut fds: Vec<PollFd<'_>> = self
                .fds()
                .map(|fd| PollFd::new(fd, PollFlags::POLLIN))
                .collect();
            let ready: Vec<usize> = match poll(&mut fds, wait) {
                Ok(0) => return Ok(None),
                Ok(_) => fds
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| f.revents().is_some_and(|r| !r.is_empty()))
                    .map(|(i, _)| i)
                    .collect(),
                Err(nix::errno::Errno::EINTR) => return Ok(None),
                Err(e) => return Err(self.io_err(Operation::Wait(self.group), io::Error::from(e))),
            };
            for i in ready {
                match self.recv_one(i, buf) {
                    Ok(Some(d)) => return Ok(Some(d)),
                    Ok(None) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(None),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(self.io_err(Operation::Receive(self.group), e)),
                }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
        }
    }

    fn io_err(&self, op: Operation, e: io::Error) -> Error {
        Error::io_on(op, &self.iface, e)
    }

    /// One `recvmsg` on reader `i`; `None` when the datagram was filtered out.
    fn recv_one(&mut self, i: usize, buf: &mut [u8]) -> io::Result<Option<Datagram>> {
        let m = self.readers[i];
        let meta = recvmsg::recv_one(self.members[m].socket.as_raw_fd(), buf)?;
        let len = meta.size.min(buf.len());
        Ok(self.accept(m, len, meta))
    }

    /// Receives up to [`RecvBatch::capacity`] datagrams with one
    /// `recvmmsg(2)` call, without blocking; returns how many were kept
    /// (datagrams that fail the interface, group, source or broadcast checks
    /// are dropped and counted in [`Receiver::filtered`]). Read them with
    /// [`RecvBatch::iter`]. With several sockets, it reads the next one that
    /// has datagrams; [`Receiver::recv_batch_on`] reads the one a `poll(2)`
    /// found ready.
    ///
    /// # Errors
    /// [`Error::Io`] naming the group and the interface.
    pub fn recv_batch(&mut self, batch: &mut RecvBatch) -> Result<usize, Error> {
        let n = self.readers.len();
        for k in 0..n {
            let i = (self.next + k) % n;
            let kept = self.batch(i, batch, false)?;
            if batch.received() > 0 {
                self.next = (i + 1) % n;
                return Ok(kept);
            }
        }
        Ok(0)
    }

    /// Like [`Receiver::recv_batch`], on the socket of [`Receiver::fds`] at
    /// position `i` (for callers that poll them).
    ///
    /// # Errors
    /// [`Error::Io`] naming the group and the interface; a `Config` error
    /// for an `i` beyond the sockets.
    pub fn recv_batch_on(&mut self, i: usize, batch: &mut RecvBatch) -> Result<usize, Error> {
        if i >= self.readers.len() {
            return Err(Error::Config(format!(
                "socket {i} of {} does not exist",
                self.readers.len()
            )));
        }
        self.batch(i, batch, false)
    }

    /// Like [`Receiver::recv_batch`], but waits for the first datagram:
    /// returns when at least one arrived, a signal came, or 100 ms passed,
    /// whichever is first. With one socket that is one system call per batch
    /// (the socket's `SO_RCVTIMEO`); with several, one `poll(2)` over all of
    /// them first.
    ///
    /// # Errors
    /// [`Error::Io`] naming the group and the interface.
    pub fn recv_batch_wait(&mut self, batch: &mut RecvBatch) -> Result<usize, Error> {
        if self.readers.len() > 1 {
            batch.clear();
            let mut fds: Vec<PollFd<'_>> = self
                .fds()
                .map(|fd| PollFd::new(fd, PollFlags::POLLIN))
                .collect();
            match poll(&mut fds, PollTimeout::from(100u8)) {
                Ok(0) | Err(nix::errno::Errno::EINTR) => return Ok(0),
                Ok(_) => {}
                Err(e) => return Err(self.io_err(Operation::Wait(self.group), io::Error::from(e))),
            }
            return self.recv_batch(batch);
        }
        if !self.wait_timeout_set {
            self.wait_timeout_set = true;
            if let Err(e) = self.members[0]
                .socket
                .set_read_timeout(Some(Duration::from_millis(100)))
            {
                debug!("SO_RCVTIMEO refused ({e}); waiting without a timeout");
            }
        }
        self.batch(0, batch, true)
    }

    fn batch(&mut self, i: usize, batch: &mut RecvBatch, wait: bool) -> Result<usize, Error> {
        batch.kept.clear();
        let m = self.readers[i];
        match batch.receive(self.members[m].socket.as_raw_fd(), wait) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                return Ok(0);
            }
            Err(e) => return Err(self.io_err(Operation::Receive(self.group), e)),
        }
        let slot = batch.slot();
        for k in 0..batch.metas.len() {
            let meta = batch.metas[k];
            if let Some(d) = self.accept(m, meta.size.min(slot), meta) {
                batch.kept.push((k, d));
            }
        }
        Ok(batch.kept.len())
    }

    /// Applies the checks to one datagram that member `m` received.
    fn accept(&mut self, m: usize, len: usize, meta: Meta) -> Option<Datagram> {
        if let Some(n) = meta.drops {
            let member = &mut self.members[m];
            member.kernel_drops = member.kernel_drops.max(u64::from(n));
        }
        let source = meta.source;
        match self.filter.check(source, meta.ifindex, meta.destination) {
            Ok(()) => return Some(Datagram::from_meta(&meta, len)),
            Err(Dropped::OtherInterface(i)) => debug!(
                "dropped a datagram from {source} that arrived on interface index {i}, not {}",
                self.iface
            ),
            Err(Dropped::OtherSource(_)) => debug!(
                "dropped a datagram from {source}: not the source {}",
                self.filter
                    .source()
                    .map_or(String::new(), |s| s.to_string())
            ),
            Err(Dropped::OtherGroup(dst)) => {
                debug!("dropped a datagram from {source} to {dst}: not one of our groups")
            }
            Err(Dropped::NotBroadcast(dst)) => {
                debug!("dropped a datagram from {source} to {dst}: not a broadcast")
            }
        }
        self.filtered += 1;
        None
    }

    /// Leaves the groups (explicitly, so the IGMP/MLD leaves go out now).
    /// Calling it again does nothing.
    ///
    /// # Errors
    /// [`Error::Io`] naming the group and the interface (the first that
    /// failed; the others are still left).
    pub fn leave(&mut self) -> Result<(), Error> {
        let mut first_error = None;
        for i in 0..self.members.len() {
            for m in std::mem::take(&mut self.members[i].memberships) {
                if let Err(e) = self.leave_one(&self.members[i].socket, m) {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn leave_one(&self, socket: &Socket, m: Membership) -> Result<(), Error> {
        let idx = self.iface.index().get();
        let source = if m.user_filter { None } else { m.source };
        let result = match (m.group, source, m.how) {
            (IpAddr::V4(g), _, JoinMechanism::Mreqn) => {
                socket.leave_multicast_v4_n(&g, &InterfaceIndexOrAddress::Index(idx))
            }
            (IpAddr::V4(g), _, JoinMechanism::Mreq) => socket.leave_multicast_v4(&g, &m.iface_v4),
            (IpAddr::V4(g), Some(IpAddr::V4(s)), JoinMechanism::MreqSource) => {
                socket.leave_ssm_v4(&s, &g, &m.iface_v4)
            }
            (g, Some(s), JoinMechanism::SourceGroup) => raw::source_group(socket, false, idx, g, s),
            (IpAddr::V6(g), _, _) => socket.leave_multicast_v6(&g, idx),
            _ => Ok(()),
        };
        result.map_err(|e| Error::io_on(Operation::Leave(m.group), &self.iface, e))?;
        info!("left {} on {}", m.group, self.iface);
        Ok(())
    }

    fn first_membership(&self) -> Option<&Membership> {
        self.members.iter().find_map(|m| m.memberships.first())
    }

    /// How the memberships were made (`None` for broadcast, or after
    /// leaving).
    pub fn mechanism(&self) -> Option<JoinMechanism> {
        self.first_membership().map(|m| m.how)
    }

    /// Where a source filter (SSM) is applied: `Some("kernel")` when the
    /// membership is source-specific, `Some("mcast")` when the system lacks
    /// source-specific joins and mcast drops other sources itself, `None`
    /// without a source filter.
    pub fn source_filter_by(&self) -> Option<&'static str> {
        match self.first_membership() {
            Some(Membership {
                source: Some(_),
                user_filter: true,
                ..
            }) => Some("mcast"),
            Some(Membership {
                source: Some(_), ..
            }) => Some("kernel"),
            _ => None,
        }
    }

    /// Datagrams the kernel dropped for these sockets because their receive
    /// buffers were full (`SO_RXQ_OVFL`): lost on this host, not on the path.
    pub fn kernel_drops(&self) -> u64 {
        self.members.iter().map(|m| m.kernel_drops).sum()
    }

    /// Datagrams dropped because they arrived on another interface, to
    /// another group or from another source, or were not broadcasts.
    pub fn filtered(&self) -> u64 {
        self.filtered
    }

    /// How many sockets hold the memberships: more than one when the groups
    /// are more than one socket may join.
    pub fn socket_count(&self) -> usize {
        self.members.len()
    }

    /// The memberships each socket held, when the groups needed more than
    /// one: the kernel's per-socket limit (`net.ipv4.igmp_max_memberships`,
    /// or what socket option memory allowed).
    pub fn memberships_per_socket(&self) -> Option<usize> {
        self.per_socket
    }

    /// The sockets that receive, to wait for with one `poll(2)` (with
    /// [`Receiver::recv_batch_on`] for a ready one). Where
    /// `IP_MULTICAST_ALL` cannot be turned off, one socket receives every
    /// group and the others only hold memberships.
    pub fn fds(&self) -> impl ExactSizeIterator<Item = BorrowedFd<'_>> + '_ {
        self.readers
            .iter()
            .map(move |&m| self.members[m].socket.as_fd())
    }

    /// The address and port the socket is bound to.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.members[0]
            .socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
    }

    /// Sends `payload` by unicast to `to` from this receiver's first socket:
    /// how `recv --echo` answers a probe. The source address is the one the
    /// kernel routes from (the interface's address on the link to `to`).
    ///
    /// # Errors
    /// [`Error::Io`] naming the destination and the interface.
    pub fn reply(&self, payload: &[u8], to: SocketAddr) -> Result<usize, Error> {
        loop {
            match self.members[0].socket.send_to(payload, &SockAddr::from(to)) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io_on(Operation::Reply(to), &self.iface, e)),
            }
        }
    }

    /// The (first) group.
    pub fn group(&self) -> &Group {
        &self.group
    }

    /// Every group of this receiver, in the order they were joined.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The group a received datagram was sent to: by its destination where
    /// the system reports it, else the first group.
    pub fn group_of(&self, d: &Datagram) -> Group {
        d.destination()
            .and_then(|dst| self.filter.group_index(dst))
            .map_or(self.group, |i| self.groups[i])
    }

    /// Receives one datagram if one is waiting, without blocking: for callers
    /// that poll several receivers (see [`Receiver::fds`]).
    /// `Ok(None)` when nothing is waiting, or what was waiting was filtered.
    ///
    /// # Errors
    /// [`Error::Io`] naming the group and the interface.
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<Option<Datagram>, Error> {
        for i in 0..self.readers.len() {
            match self.recv_one(i, buf) {
                Ok(Some(d)) => return Ok(Some(d)),
                Ok(None) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(self.io_err(Operation::Receive(self.group), e)),
            }
        }
        Ok(None)
    }

    /// The interface.
    pub fn interface(&self) -> &Interface {
        &self.iface
    }

    /// The receive buffer size the kernel granted (`SO_RCVBUF`), per socket.
    pub fn recv_buffer_size(&self) -> Option<usize> {
        self.members[0].socket.recv_buffer_size().ok()
    }
}

impl AsFd for Receiver {
    /// The first socket. With several ([`Receiver::socket_count`]), wait on
    /// all of [`Receiver::fds`].
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.members[0].socket.as_fd()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Err(e) = self.leave() {
            debug!("{e}");
        }
    }
}
