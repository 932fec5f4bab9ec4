//! Configuring a [`Receiver`]: the builder, the checks of its settings,
//! and opening, binding and joining its sockets.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

use log::{debug, info};
use mcast_platform::Interface;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::bind;
use super::filter::Filter;
use super::join::{join, JoinMechanism, Member};
use super::Receiver;
use crate::error::{Conflict, Error, Operation};
use crate::group::purpose;
use crate::group::Group;
use crate::limits;
use crate::sockopt as raw;

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

crate::sender::setters! {
    ReceiverBuilder {
        /// Receives IPv4 broadcasts to the group's port on the interface instead
        /// of joining a group. The group's address must be the interface's
        /// directed broadcast address or 255.255.255.255.
        broadcast: bool,
        /// Receives datagrams sent by unicast to the interface's own address at
        /// the group's port, instead of joining: how `recv --echo` also answers
        /// unicast probes, so `mcast doctor --peer` can tell a multicast problem
        /// from a path problem. IPv6 binds the interface's first routable address,
        /// else its link-local one.
        unicast: bool,
        /// Also binds the socket to the device with `SO_BINDTODEVICE` (Linux
        /// needs root or CAP_NET_RAW for it).
        bind_device: bool,
    }
}

impl ReceiverBuilder {
    /// Makes the membership source-specific (SSM): only datagrams from
    /// `source` are received.
    pub fn source(mut self, source: IpAddr) -> ReceiverBuilder {
        self.source = Some(source);
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
        let bind_addr = bind::bind_addr(
            &self.group,
            &self.iface,
            groups.len(),
            self.broadcast,
            self.unicast,
        );
        let (first, multicast_all) = self.open(bind_addr, groups.len(), 0)?;
        let mut members = vec![Member::new(first, true)];
        let mut per_socket = None;
        if joins {
            per_socket = self.join_all(&groups, &mut members, bind_addr, multicast_all, v6)?;
        }
        let filter = Filter::new(
            &groups,
            self.iface.index().get(),
            self.source,
            self.broadcast,
        );
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
            filter,
            iface: self.iface,
            per_socket,
            filtered: 0,
            wait_timeout_set: false,
            next: 0,
        })
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
                err.with_hint(bind::port_holder(bind_addr))
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
}
