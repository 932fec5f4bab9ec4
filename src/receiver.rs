//! Receiving a group on one chosen interface: bind, join, receive, leave.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use log::{debug, info};
use mcast_platform::Interface;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};

use crate::error::{Conflict, Error, Operation};
use crate::group::Group;
use crate::limits;
use crate::recvmsg::{self, Meta, RecvBatch};
use crate::sender::purpose;
use crate::sockopt as raw;

/// The socket call that made a membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinMechanism {
    /// `IP_ADD_MEMBERSHIP` with an `ip_mreqn` naming the interface by index.
    Mreqn,
    /// `IP_ADD_MEMBERSHIP` with an `ip_mreq` naming the interface by its
    /// address: the fallback where `ip_mreqn` is missing or mis-copied.
    Mreq,
    /// `IPV6_JOIN_GROUP` with the interface index.
    Ipv6Mreq,
    /// `MCAST_JOIN_SOURCE_GROUP` (source-specific, interface by index).
    SourceGroup,
    /// `IP_ADD_SOURCE_MEMBERSHIP` (source-specific, interface by address).
    MreqSource,
}

impl JoinMechanism {
    /// A short name for messages and JSON: `ip_mreqn`, `ip_mreq`, …
    pub fn as_str(self) -> &'static str {
        match self {
            JoinMechanism::Mreqn => "ip_mreqn",
            JoinMechanism::Mreq => "ip_mreq",
            JoinMechanism::Ipv6Mreq => "ipv6_mreq",
            JoinMechanism::SourceGroup => "group_source_req",
            JoinMechanism::MreqSource => "ip_mreq_source",
        }
    }
}

impl fmt::Display for JoinMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy)]
struct Membership {
    group: IpAddr,
    source: Option<IpAddr>,
    /// The interface address used by the address-based mechanisms.
    iface_v4: Ipv4Addr,
    how: JoinMechanism,
    /// The kernel joined any-source; mcast drops datagrams from other sources.
    user_filter: bool,
}

/// Builds a [`Receiver`]; see [`Receiver::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ReceiverBuilder {
    group: Group,
    more: Vec<Group>,
    iface: Interface,
    source: Option<IpAddr>,
    broadcast: bool,
    unicast: bool,
    bind_device: bool,
    recv_buffer: Option<usize>,
}

impl ReceiverBuilder {
    /// Makes the membership source-specific (SSM): only datagrams from
    /// `source` are received.
    pub fn source(mut self, source: IpAddr) -> ReceiverBuilder {
        self.source = Some(source);
        self
    }

    /// Receives IPv4 broadcasts to the group's port on the interface instead
    /// of joining a group. The group's address must be the interface's
    /// directed broadcast address or 255.255.255.255.
    pub fn broadcast(mut self, on: bool) -> ReceiverBuilder {
        self.broadcast = on;
        self
    }

    /// Receives datagrams sent by unicast to the interface's own address at
    /// the group's port, instead of joining: how `recv --echo` also answers
    /// unicast probes, so `mcast doctor --peer` can tell a multicast problem
    /// from a path problem. IPv6 binds the interface's first routable address,
    /// else its link-local one.
    pub fn unicast(mut self, on: bool) -> ReceiverBuilder {
        self.unicast = on;
        self
    }

    /// Also binds the socket to the device with `SO_BINDTODEVICE` (Linux
    /// needs root or CAP_NET_RAW for it).
    pub fn bind_device(mut self, on: bool) -> ReceiverBuilder {
        self.bind_device = on;
        self
    }

    /// Also joins `group` with the same socket. Every group of one receiver
    /// has the same port and address family; the socket then binds the
    /// wildcard address and tells the groups apart by destination.
    ///
    /// Any number of groups: they are spread over as many sockets as the
    /// kernel's per-socket limits need (see [`Receiver::socket_count`]).
    pub fn also_join(mut self, group: Group) -> ReceiverBuilder {
        self.more.push(group);
        self
    }

    /// Asks for a receive buffer of `bytes`: `SO_RCVBUFFORCE` where the
    /// process may (CAP_NET_ADMIN), else `SO_RCVBUF`, which the kernel caps at
    /// `net.core.rmem_max`. [`Receiver::recv_buffer_size`] tells what was
    /// granted (Linux reports twice the requested size, for its bookkeeping).
    pub fn recv_buffer(mut self, bytes: usize) -> ReceiverBuilder {
        self.recv_buffer = Some(bytes);
        self
    }

    /// Opens the socket, binds it and joins the group on the interface.
    ///
    /// # Errors
    /// - [`Error::Config`] if the group, source or interface do not fit;
    /// - [`Error::Io`] if a socket call fails, naming the call, the group and
    ///   the interface (`cannot join 239.74.20.30 on wlan0 (index 3): …`).
    pub fn build(self) -> Result<Receiver, Error> {
        self.group
            .check(purpose(self.broadcast), Some(&self.iface))?;
        for g in &self.more {
            g.check(purpose(self.broadcast), Some(&self.iface))?;
            if self.broadcast {
                return Err(Error::Conflict(Conflict::SeveralBroadcastAddresses));
            }
            if g.port() != self.group.port() || g.addr().is_ipv4() != self.group.addr().is_ipv4() {
                return Err(Error::Config(format!(
                    "{g} and {} differ in port or address family; one receiver takes one port and one family",
                    self.group
                )));
            }
        }
        if let Some(src) = self.source {
            if self.broadcast {
                return Err(Error::Conflict(Conflict::SourceWithBroadcast));
            }
            if src.is_ipv4() != self.group.addr().is_ipv4() {
                return Err(Error::Config(format!(
                    "source {src} and group {} are of different address families; give a source of the group's family",
                    self.group.addr()
                )));
            }
            if src.is_multicast() || src.is_unspecified() {
                return Err(Error::Config(format!(
                    "source {src} must be a unicast address of the sender"
                )));
            }
        }
        let v6 = self.group.addr().is_ipv6();
        let mut groups = vec![self.group];
        let mut seen: HashSet<Group> = groups.iter().copied().collect();
        groups.extend(self.more.iter().copied().filter(|g| seen.insert(*g)));
        let joins = !self.broadcast && !self.unicast;
        let bind_addr = self.bind_addr(groups.len());
        let (first, multicast_all) = self.open(bind_addr, groups.len(), 0)?;
        let mut members = vec![Member::new(first, true)];
        let mut per_socket = None;
        if joins {
            per_socket = self.join_all(&groups, &mut members, bind_addr, multicast_all, v6)?;
        }
        let broadcast_dests = if self.broadcast {
            match self.group.addr() {
                IpAddr::V4(b) => vec![b, Ipv4Addr::BROADCAST],
                IpAddr::V6(_) => Vec::new(),
            }
        } else {
            Vec::new()
        };
        let index = if groups.len() > 1 {
            groups
                .iter()
                .enumerate()
                .map(|(i, g)| (g.addr(), i))
                .collect()
        } else {
            HashMap::new()
        };
        let readers = members
            .iter()
            .enumerate()
            .filter(|(_, m)| m.reads)
            .map(|(i, _)| i)
            .collect();
        Ok(Receiver {
            members,
            readers,
            group: self.group,
            groups,
            index,
            iface: self.iface,
            source: self.source,
            per_socket,
            broadcast_dests,
            filtered: 0,
            wait_timeout_set: false,
            next: 0,
        })
    }

    /// Where the sockets bind: one group, its address (so the kernel drops
    /// other groups of the port even where IP_MULTICAST_ALL stays on);
    /// several, the wildcard, and the destination tells them apart.
    fn bind_addr(&self, groups: usize) -> SocketAddr {
        let iface = &self.iface;
        let idx = iface.index().get();
        let port = self.group.port().get();
        match self.group.addr() {
            IpAddr::V4(_) if self.unicast => SocketAddr::new(
                IpAddr::V4(iface.ipv4().unwrap_or(Ipv4Addr::UNSPECIFIED)),
                port,
            ),
            IpAddr::V6(_) if self.unicast => match (iface.ipv6_routable(), iface.ipv6_link_local())
            {
                (Some(a), _) => SocketAddr::new(IpAddr::V6(a), port),
                (None, Some(ll)) => SocketAddr::V6(SocketAddrV6::new(ll, port, 0, idx)),
                (None, None) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
            },
            IpAddr::V4(_) if groups > 1 => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            IpAddr::V6(_) if groups > 1 => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
            // Broadcasts reach only sockets bound to the wildcard (or to the
            // broadcast address); the interface is checked per datagram.
            IpAddr::V4(_) if self.broadcast => {
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)
            }
            IpAddr::V4(g) => SocketAddr::new(IpAddr::V4(g), port),
            IpAddr::V6(g) => {
                let scope = if self.group.scope_v6().is_some_and(|s| s <= 2) {
                    idx
                } else {
                    0
                };
                SocketAddr::V6(SocketAddrV6::new(g, port, 0, scope))
            }
        }
    }

    /// A UDP socket of the group's family; the error names what ran out
    /// when the process or the host has no file left for it.
    fn socket(&self, groups: usize, sockets: usize) -> Result<Socket, Error> {
        let v6 = self.group.addr().is_ipv6();
        Socket::new(
            if v6 { Domain::IPV6 } else { Domain::IPV4 },
            Type::DGRAM,
            Some(Protocol::UDP),
        )
        .map_err(|e| {
            let hint = limits::out_of_files(e.raw_os_error(), groups, sockets);
            let err = Error::io_on(Operation::Open, &self.iface, e);
            match hint {
                Some(h) => err.with_hint(h),
                None => err,
            }
        })
    }

    /// Opens a socket that receives: options, then the bind. Also says
    /// whether IP_MULTICAST_ALL stayed on (it could not be turned off).
    fn open(
        &self,
        bind_addr: SocketAddr,
        groups: usize,
        sockets: usize,
    ) -> Result<(Socket, bool), Error> {
        let iface = &self.iface;
        let v6 = self.group.addr().is_ipv6();
        let socket = self.socket(groups, sockets)?;
        // Several receivers on one host share the port, and each gets the
        // datagrams of its own memberships. Not SO_REUSEPORT: within a
        // reuseport group, Linux hands each multicast datagram to one socket
        // only, whatever groups and interfaces each joined.
        socket
            .set_reuse_address(true)
            .map_err(|e| Error::io_on(Operation::SetOption("SO_REUSEADDR"), iface, e))?;
        let mut multicast_all = false;
        if !self.broadcast && !self.unicast {
            // Only the groups this socket joined, not every group of the host.
            if let Err(e) = raw::set_multicast_all(&socket, v6, false) {
                multicast_all = true;
                debug!(
                    "cannot turn off IP{}_MULTICAST_ALL ({e}); filtering by interface and group instead",
                    if v6 { "V6" } else { "" }
                );
            }
        }
        if let Err(e) = raw::set_recv_pktinfo(&socket, v6) {
            debug!(
                "{} unavailable ({e})",
                if v6 { "IPV6_RECVPKTINFO" } else { "IP_PKTINFO" }
            );
        }
        // Kernel receive times, so jitter and delay do not include our own
        // scheduling; and the socket's drop counter, so losses in this host's
        // buffer are told apart from losses on the path.
        if let Err(e) = raw::set_timestamp_ns(&socket) {
            debug!("SO_TIMESTAMPNS unavailable ({e}); arrival times are taken after receipt");
        }
        if let Err(e) = raw::set_rxq_ovfl(&socket) {
            debug!("SO_RXQ_OVFL unavailable ({e}); drops in this host's buffer cannot be counted");
        }
        if let Some(bytes) = self.recv_buffer {
            // Beyond net.core.rmem_max only with CAP_NET_ADMIN (SO_RCVBUFFORCE);
            // without it, the kernel caps SO_RCVBUF at rmem_max.
            if let Err(e) = raw::set_recv_buffer_force(&socket, bytes) {
                debug!(
                    "SO_RCVBUFFORCE refused ({e}); asking SO_RCVBUF, capped by net.core.rmem_max"
                );
                if let Err(e) = socket.set_recv_buffer_size(bytes) {
                    debug!("SO_RCVBUF {bytes} refused ({e}); keeping the default");
                }
            }
        }
        if self.bind_device {
            socket
                .bind_device(Some(iface.name().as_bytes()))
                .map_err(|e| Error::io_on(Operation::BindDevice, iface, e))?;
        }
        socket.bind(&SockAddr::from(bind_addr)).map_err(|e| {
            let in_use = e.raw_os_error() == Some(nix::libc::EADDRINUSE);
            let err = Error::io_on(Operation::Bind(bind_addr), iface, e);
            if in_use {
                err.with_hint(port_holder(bind_addr))
            } else {
                err
            }
        })?;
        Ok((socket, multicast_all))
    }

    /// Joins every group, spreading them over as many sockets as the
    /// per-socket limit needs: what the kernel reports for IPv4
    /// (`igmp_max_memberships`), else what a failed join reveals (ENOBUFS,
    /// or ENOMEM for IPv6 when option memory is full). Returns the limit
    /// when more than one socket was needed.
    ///
    /// Where IP_MULTICAST_ALL is off, every socket is bound to the port and
    /// read, and gets exactly its own groups. Where it stays on (qemu-user,
    /// kernels before 4.20 for IPv6), the first socket gets every group the
    /// host joined on the port anyway: the others only hold memberships,
    /// unbound, so each datagram arrives once.
    fn join_all(
        &self,
        groups: &[Group],
        members: &mut Vec<Member>,
        bind_addr: SocketAddr,
        multicast_all: bool,
        v6: bool,
    ) -> Result<Option<usize>, Error> {
        let iface = &self.iface;
        let mut limit = if v6 {
            None
        } else {
            limits::igmp_max_memberships().filter(|n| *n > 0)
        };
        let mut mreqn = match (groups[0].addr(), iface.ipv4()) {
            (IpAddr::V4(g), Some(a)) => raw::mreqn_reaches(g, iface.index().get(), a),
            _ => true,
        };
        let more = |members: &mut Vec<Member>| -> Result<(), Error> {
            let socket = if multicast_all {
                self.socket(groups.len(), members.len())?
            } else {
                self.open(bind_addr, groups.len(), members.len())?.0
            };
            members.push(Member::new(socket, !multicast_all));
            Ok(())
        };
        for g in groups {
            let held = members.last().map_or(0, |m| m.memberships.len());
            if limit.is_some_and(|l| held >= l) {
                more(members)?;
            }
            let last = members.len() - 1;
            match join(&members[last].socket, g, self.source, iface, mreqn) {
                Ok(m) => {
                    // Once ip_mreqn failed here, the next joins go straight
                    // to the fallback instead of failing 4,095 times more.
                    mreqn &= m.how != JoinMechanism::Mreq;
                    members[last].memberships.push(m);
                }
                Err(e) if limits::is_socket_full(e.raw_os_error()) => {
                    let held = members[last].memberships.len();
                    if held == 0 {
                        return Err(e.with_hint(limits::no_membership_at_all(v6)));
                    }
                    debug!(
                        "socket {} holds {held} memberships, all it may ({e}); opening another",
                        last + 1
                    );
                    limit = Some(held);
                    more(members)?;
                    let m = join(&members[last + 1].socket, g, self.source, iface, mreqn).map_err(
                        |e| {
                            if limits::is_socket_full(e.raw_os_error()) {
                                e.with_hint(limits::no_membership_at_all(v6))
                            } else {
                                e
                            }
                        },
                    )?;
                    members[last + 1].memberships.push(m);
                }
                Err(e) => return Err(e),
            }
        }
        if members.len() > 1 {
            info!(
                "{} groups on {} sockets of up to {} memberships each",
                groups.len(),
                members.len(),
                limit.unwrap_or(0)
            );
        }
        Ok(limit.filter(|_| members.len() > 1))
    }
}

/// Why a bind found the port taken: mcast shares a port with any socket
/// that set SO_REUSEADDR, so the holder did not. If a socket with
/// SO_REUSEPORT can bind it, the holder set SO_REUSEPORT only.
fn port_holder(addr: SocketAddr) -> String {
    let port = addr.port();
    let with_reuseport = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .and_then(|s| {
            s.set_reuse_address(true)?;
            s.set_reuse_port(true)?;
            s.bind(&SockAddr::from(addr))
        })
        .is_ok();
    let find = format!("`ss -ulpn 'sport = :{port}'` shows which");
    if with_reuseport {
        format!(
            "another program holds UDP port {port} with SO_REUSEPORT and without \
             SO_REUSEADDR: Linux then shares the port only with sockets that set \
             SO_REUSEPORT too, and mcast does not, because within such a group Linux hands \
             each multicast datagram to just one socket, whatever groups and interfaces each \
             joined; stop that program, or have it set SO_REUSEADDR as well ({find})"
        )
    } else {
        format!(
            "another program holds UDP port {port} without SO_REUSEADDR, so it cannot be \
             shared; stop that program or use another port ({find})"
        )
    }
}

/// One socket of a receiver and the memberships it holds.
#[derive(Debug)]
struct Member {
    socket: Socket,
    memberships: Vec<Membership>,
    /// Bound to the port and read (else it only holds memberships).
    reads: bool,
    /// The socket's cumulative drop counter (`SO_RXQ_OVFL`).
    kernel_drops: u64,
}

impl Member {
    fn new(socket: Socket, reads: bool) -> Member {
        Member {
            socket,
            memberships: Vec::new(),
            reads,
            kernel_drops: 0,
        }
    }
}

/// Joins `group` on `iface` with `socket`. `mreqn` says whether `ip_mreqn`
/// joins may be trusted here (see [`raw::mreqn_reaches`]); if not, IPv4
/// any-source joins go straight to `ip_mreq`.
fn join(
    socket: &Socket,
    group: &Group,
    source: Option<IpAddr>,
    iface: &Interface,
    mreqn: bool,
) -> Result<Membership, Error> {
    let idx = iface.index().get();
    let iface_v4 = iface.ipv4().unwrap_or(Ipv4Addr::UNSPECIFIED);
    let what = |e| {
        let op = Operation::Join {
            group: group.addr(),
            source,
        };
        Error::io_on(op, iface, e)
    };
    let how = match (group.addr(), source) {
        (IpAddr::V4(g), None) if !mreqn => {
            socket
                .join_multicast_v4(&g, &iface_v4)
                .map_err(|e| what(e).tried(format!("ip_mreq with {iface_v4}")))?;
            JoinMechanism::Mreq
        }
        (IpAddr::V4(g), None) => {
            match socket.join_multicast_v4_n(&g, &InterfaceIndexOrAddress::Index(idx)) {
                Ok(()) => JoinMechanism::Mreqn,
                Err(e) if raw::is_unsupported_mreqn(&e) => {
                    debug!("ip_mreqn join failed ({e}); joining with ip_mreq and {iface_v4}");
                    socket.join_multicast_v4(&g, &iface_v4).map_err(|e2| {
                        what(e2).tried(format!("ip_mreqn: {e}; ip_mreq with {iface_v4}"))
                    })?;
                    JoinMechanism::Mreq
                }
                Err(e) => return Err(what(e)),
            }
        }
        (IpAddr::V4(g), Some(IpAddr::V4(s))) => {
            match raw::source_group(socket, true, idx, group.addr(), IpAddr::V4(s)) {
                Ok(()) => JoinMechanism::SourceGroup,
                Err(e) if raw::is_unsupported_mreqn(&e) => {
                    debug!("MCAST_JOIN_SOURCE_GROUP failed ({e}); using IP_ADD_SOURCE_MEMBERSHIP with {iface_v4}");
                    match socket.join_ssm_v4(&s, &g, &iface_v4) {
                        Ok(()) => JoinMechanism::MreqSource,
                        Err(e2) if raw::is_unsupported(&e2) => {
                            debug!("IP_ADD_SOURCE_MEMBERSHIP unsupported ({e2}); joining any-source and filtering {s} in mcast");
                            let asm = join(socket, group, None, iface, mreqn)?;
                            return Ok(Membership {
                                user_filter: true,
                                source,
                                ..asm
                            });
                        }
                        Err(e2) => {
                            return Err(what(e2).tried(format!(
                                "MCAST_JOIN_SOURCE_GROUP: {e}; IP_ADD_SOURCE_MEMBERSHIP"
                            )))
                        }
                    }
                }
                Err(e) => return Err(what(e)),
            }
        }
        (IpAddr::V6(g), None) => {
            socket.join_multicast_v6(&g, idx).map_err(what)?;
            JoinMechanism::Ipv6Mreq
        }
        (IpAddr::V6(_), Some(s @ IpAddr::V6(_))) => {
            match raw::source_group(socket, true, idx, group.addr(), s) {
                Ok(()) => JoinMechanism::SourceGroup,
                Err(e) if raw::is_unsupported(&e) => {
                    // Linux has no other IPv6 source-specific option. Join
                    // any-source and let the receiver drop other sources.
                    debug!("MCAST_JOIN_SOURCE_GROUP unsupported ({e}); joining any-source and filtering {s} in mcast");
                    let asm = join(socket, group, None, iface, mreqn)?;
                    return Ok(Membership {
                        user_filter: true,
                        source,
                        ..asm
                    });
                }
                Err(e) => return Err(what(e)),
            }
        }
        (_, Some(_)) => unreachable!("families checked by build()"),
    };
    info!("joined {} on {iface} with {how}", group.addr());
    Ok(Membership {
        group: group.addr(),
        source,
        iface_v4,
        how,
        user_filter: false,
    })
}

/// One received datagram; its bytes are in the buffer given to
/// [`Receiver::recv`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram {
    len: usize,
    size: usize,
    source: SocketAddr,
    ifindex: Option<u32>,
    destination: Option<IpAddr>,
    kernel_time_ns: Option<u64>,
}

impl Datagram {
    /// A datagram as the kernel described it, `len` bytes of it stored.
    pub(crate) fn from_meta(meta: &Meta, len: usize) -> Datagram {
        Datagram {
            len,
            size: meta.size,
            source: meta.source,
            ifindex: meta.ifindex,
            destination: meta.destination,
            kernel_time_ns: meta.kernel_time_ns,
        }
    }

    /// The number of bytes stored in the buffer.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the datagram was empty.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// The real size of the datagram on the wire (larger than [`len`](Self::len)
    /// when truncated).
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether the datagram was larger than the buffer (`MSG_TRUNC`).
    pub fn truncated(&self) -> bool {
        self.size > self.len
    }

    /// The sender's address and port.
    pub fn source(&self) -> SocketAddr {
        self.source
    }

    /// The index of the interface it arrived on, where the system reports it.
    pub fn interface_index(&self) -> Option<u32> {
        self.ifindex
    }

    /// When the kernel received it (`SO_TIMESTAMPNS`), in ns since the Unix
    /// epoch, where the system reports it: arrival times that do not include
    /// this program's scheduling.
    pub fn kernel_time_ns(&self) -> Option<u64> {
        self.kernel_time_ns
    }

    /// The destination address (the group), where the system reports it.
    pub fn destination(&self) -> Option<IpAddr> {
        self.destination
    }
}

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
    /// Where each group's address is in `groups`, when there are several.
    index: HashMap<IpAddr, usize>,
    iface: Interface,
    /// The SSM source, checked on every datagram (where IP_MULTICAST_ALL
    /// stays on, a socket also gets other sources of groups it did not join).
    source: Option<IpAddr>,
    per_socket: Option<usize>,
    broadcast_dests: Vec<Ipv4Addr>,
    filtered: u64,
    wait_timeout_set: bool,
    /// The reader [`Receiver::recv_batch`] tries first.
    next: usize,
}

impl Receiver {
    /// Starts configuring a receiver of `group` on `iface`.
    pub fn builder(group: Group, iface: Interface) -> ReceiverBuilder {
        ReceiverBuilder {
            group,
            more: Vec::new(),
            iface,
            source: None,
            broadcast: false,
            unicast: false,
            bind_device: false,
            recv_buffer: None,
        }
    }

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
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    // Round up so a 0.4 ms remainder does not spin.
                    let ms = left.as_micros().div_ceil(1000);
                    PollTimeout::try_from(ms.min(i32::MAX as u128) as i32)
                        .unwrap_or(PollTimeout::MAX)
                }
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
        let Meta {
            source,
            ifindex,
            destination,
            kernel_time_ns,
            drops,
            size,
        } = meta;
        if let Some(n) = drops {
            let member = &mut self.members[m];
            member.kernel_drops = member.kernel_drops.max(u64::from(n));
        }
        let d = Datagram {
            len,
            size,
            source,
            ifindex,
            destination,
            kernel_time_ns,
        };
        if let Some(i) = ifindex {
            if i != self.iface.index().get() {
                self.filtered += 1;
                debug!(
                    "dropped a datagram from {source} that arrived on interface index {i}, not {}",
                    self.iface
                );
                return None;
            }
        }
        if let Some(want) = self.source {
            if source.ip() != want {
                self.filtered += 1;
                debug!("dropped a datagram from {source}: not the source {want}");
                return None;
            }
        }
        if self.groups.len() > 1 {
            if let Some(dst) = destination {
                if !self.index.contains_key(&dst) {
                    self.filtered += 1;
                    debug!("dropped a datagram from {source} to {dst}: not one of our groups");
                    return None;
                }
            }
        }
        if !self.broadcast_dests.is_empty() {
            if let Some(IpAddr::V4(dst)) = destination {
                if !self.broadcast_dests.contains(&dst) {
                    self.filtered += 1;
                    debug!("dropped a datagram from {source} to {dst}: not a broadcast");
                    return None;
                }
            }
        }
        Some(d)
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
            .and_then(|dst| self.index.get(&dst))
            .map_or(self.group, |&i| self.groups[i])
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
