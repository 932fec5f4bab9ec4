//! Sending to a group (or a broadcast address) through one chosen interface.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use log::debug;
use mcast_platform::Interface;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::os::fd::AsFd;

use crate::error::{Error, Operation};
use crate::group::Group;
use crate::sockopt;

/// Datagrams per send(2) with segmentation offload.
const GSO_SEGMENTS: usize = 16;

/// How a [`Sender`] ties its datagrams to the chosen interface.
///
/// `IP_MULTICAST_IF` / `IPV6_MULTICAST_IF` is the normal way. Some stacks lack
/// it (qemu-user 7.2, some phone stacks); then mcast falls back to an
/// equivalent that still pins the interface, and never lets the kernel pick
/// another one silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pin {
    /// `IP_MULTICAST_IF` (with the interface index) or `IPV6_MULTICAST_IF`.
    MulticastIf,
    /// The socket is bound to the interface's IPv4 address; Linux routes
    /// multicast and broadcast from a bound source through the interface that
    /// owns it.
    BoundSource,
    /// The IPv6 destination carries the interface index as its scope id (for
    /// link-local and interface-local groups).
    ScopeId,
    /// The socket is bound to the interface's IPv6 link-local address with its
    /// scope id, which ties the socket to the device.
    BoundLinkLocal,
    /// `SO_BINDTODEVICE` alone.
    BindToDevice,
}

impl Pin {
    /// A short name for messages and JSON: `IP_MULTICAST_IF`, `bound-source`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Pin::MulticastIf => "MULTICAST_IF",
            Pin::BoundSource => "bound-source",
            Pin::ScopeId => "scope-id",
            Pin::BoundLinkLocal => "bound-link-local",
            Pin::BindToDevice => "SO_BINDTODEVICE",
        }
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Builds a [`Sender`]; see [`Sender::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct SenderBuilder {
    group: Group,
    iface: Interface,
    ttl: u8,
    loopback: bool,
    broadcast: bool,
    bind_device: bool,
    connect: bool,
    source_port: u16,
    gso: bool,
}

impl SenderBuilder {
    /// The IPv4 TTL or IPv6 hop limit (default 1: the local link only).
    pub fn ttl(mut self, ttl: u8) -> SenderBuilder {
        self.ttl = ttl;
        self
    }

    /// Whether this host's own receivers get a copy (`IP_MULTICAST_LOOP`,
    /// default on).
    pub fn loopback(mut self, on: bool) -> SenderBuilder {
        self.loopback = on;
        self
    }

    /// Sends to an IPv4 broadcast address with `SO_BROADCAST` instead of a
    /// multicast group.
    pub fn broadcast(mut self, on: bool) -> SenderBuilder {
        self.broadcast = on;
        self
    }

    /// Uses UDP segmentation offload (`UDP_SEGMENT`, Linux ≥ 4.18) for
    /// batches on a connected socket: several datagrams go down the stack in
    /// one `send(2)`. Several times faster on this machine, often faster than
    /// receivers can read: off by default. Where the system lacks or refuses
    /// it, batches go out with `sendmmsg(2)` as without it.
    pub fn gso(mut self, on: bool) -> SenderBuilder {
        self.gso = on;
        self
    }

    /// Sends from this UDP port (default 0: any free port). A sender that
    /// reopens its socket after a network change keeps its port, so
    /// receivers keep counting it as the same stream.
    pub fn source_port(mut self, port: u16) -> SenderBuilder {
        self.source_port = port;
        self
    }

    /// Connects the socket to the destination, so the kernel looks the route
    /// up once instead of for every datagram: faster at high rates. A
    /// connected socket only receives from the destination, so leave it off
    /// when replies are expected ([`Sender::try_recv_from`]).
    pub fn connect(mut self, on: bool) -> SenderBuilder {
        self.connect = on;
        self
    }

    /// Also binds the socket to the device with `SO_BINDTODEVICE` (Linux
    /// needs root or CAP_NET_RAW for it).
    pub fn bind_device(mut self, on: bool) -> SenderBuilder {
        self.bind_device = on;
        self
    }

    /// Opens and configures the socket.
    ///
    /// # Errors
    /// - [`Error::Config`] if the group does not fit (not multicast without
    ///   broadcast, broadcast over IPv6, no address of the group's family on
    ///   the interface);
    /// - [`Error::Io`] if a socket call fails, naming the call and the interface;
    /// - [`Error::NotPinned`] if nothing this system supports can tie the
    ///   socket to the interface.
    pub fn build(self) -> Result<Sender, Error> {
        self.group
            .check(purpose(self.broadcast), Some(&self.iface))?;
        let iface = &self.iface;
        let on = format!("on {iface}");
        let v6 = self.group.addr().is_ipv6();
        let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
        let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))
            .map_err(|e| Error::io(Operation::Open, e))?;
        let idx = iface.index().get();
        if self.bind_device {
            socket
                .bind_device(Some(iface.name().as_bytes()))
                .map_err(|e| Error::io_on(Operation::BindDevice, iface, e))?;
        }
        let (pin, local, dest) = if v6 {
            self.setup_v6(&socket, idx, &on)?
        } else {
            self.setup_v4(&socket, idx, &on)?
        };
        let mut local = local;
        local.set_port(self.source_port);
        socket
            .bind(&SockAddr::from(local))
            .map_err(|e| Error::io_on(Operation::Bind(local), iface, e))?;
        let local = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .unwrap_or(local);
        // Replies (mcast ping) carry the kernel's receive time.
        if let Err(e) = sockopt::set_timestamp_ns(&socket) {
            debug!("SO_TIMESTAMPNS unavailable ({e}); reply times are taken after receipt");
        }
        if self.connect {
            socket
                .connect(&SockAddr::from(dest))
                .map_err(|e| Error::io_on(Operation::Connect(dest), iface, e))?;
        }
        debug!("sender to {dest} {on}: pinned by {pin}, source {local}");
        Ok(Sender {
            socket,
            dest,
            dest_sockaddr: SockAddr::from(dest),
            local,
            pin,
            connected: self.connect,
            gso: std::cell::Cell::new(None),
            gso_refused: std::cell::Cell::new(!self.gso),
            bind_device: self.bind_device,
            iface: self.iface,
        })
    }

    fn setup_v4(
        &self,
        socket: &Socket,
        idx: u32,
        on: &str,
    ) -> Result<(Pin, SocketAddr, SocketAddr), Error> {
        let src = self.iface.ipv4().unwrap_or(Ipv4Addr::UNSPECIFIED);
        let pin = if self.broadcast {
            socket
                .set_broadcast(true)
                .map_err(|e| Error::io_on(Operation::SetOption("SO_BROADCAST"), &self.iface, e))?;
            socket
                .set_ttl_v4(u32::from(self.ttl))
                .map_err(|e| Error::io_on(Operation::SetOption("IP_TTL"), &self.iface, e))?;
            Pin::BoundSource
        } else {
            socket
                .set_multicast_ttl_v4(u32::from(self.ttl))
                .map_err(|e| {
                    Error::io_on(Operation::SetOption("IP_MULTICAST_TTL"), &self.iface, e)
                })?;
            socket.set_multicast_loop_v4(self.loopback).map_err(|e| {
                Error::io_on(Operation::SetOption("IP_MULTICAST_LOOP"), &self.iface, e)
            })?;
            match sockopt::set_multicast_if_v4_index(socket, idx) {
                Ok(()) => Pin::MulticastIf,
                Err(e) if sockopt::is_unsupported(&e) => {
                    debug!("IP_MULTICAST_IF is not supported here ({e}); pinning {on} by binding to {src}");
                    Pin::BoundSource
                }
                Err(e) => {
                    return Err(Error::io_on(
                        Operation::SetOption("IP_MULTICAST_IF"),
                        &self.iface,
                        e,
                    ))
                }
            }
        };
        // Binding to the interface's address fixes the source address too,
        // which IP_MULTICAST_IF alone does not (on a host with no route it
        // would be 0.0.0.0).
        let local = SocketAddr::new(IpAddr::V4(src), 0);
        Ok((pin, local, self.group.socket_addr()))
    }

    fn setup_v6(
        &self,
        socket: &Socket,
        idx: u32,
        on: &str,
    ) -> Result<(Pin, SocketAddr, SocketAddr), Error> {
        let IpAddr::V6(group) = self.group.addr() else {
            unreachable!("checked by check_group")
        };
        socket
            .set_multicast_hops_v6(u32::from(self.ttl))
            .map_err(|e| {
                Error::io_on(Operation::SetOption("IPV6_MULTICAST_HOPS"), &self.iface, e)
            })?;
        socket.set_multicast_loop_v6(self.loopback).map_err(|e| {
            Error::io_on(Operation::SetOption("IPV6_MULTICAST_LOOP"), &self.iface, e)
        })?;
        // Interface- and link-local groups need the interface in the scope id.
        let link_scope = self.group.scope_v6().is_some_and(|s| s <= 2);
        let dest_scope = if link_scope { idx } else { 0 };
        let dest = SocketAddr::V6(SocketAddrV6::new(
            group,
            self.group.port().get(),
            0,
            dest_scope,
        ));
        let link_local = self.iface.ipv6_link_local();
        let routable = self.iface.ipv6_routable();
        let bind_ll = |ll: Ipv6Addr| SocketAddr::V6(SocketAddrV6::new(ll, 0, 0, idx));
        match socket.set_multicast_if_v6(idx) {
            Ok(()) => {
                let local = match (link_scope, link_local, routable) {
                    (true, Some(ll), _) | (false, Some(ll), None) => bind_ll(ll),
                    (_, _, Some(r)) => SocketAddr::new(IpAddr::V6(r), 0),
                    (_, None, None) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
                };
                Ok((Pin::MulticastIf, local, dest))
            }
            Err(e) if sockopt::is_unsupported(&e) => {
                debug!("IPV6_MULTICAST_IF is not supported here ({e}); using a fallback {on}");
                match (link_scope, link_local) {
                    (true, Some(ll)) => Ok((Pin::ScopeId, bind_ll(ll), dest)),
                    (true, None) => Ok((
                        Pin::ScopeId,
                        SocketAddr::new(IpAddr::V6(routable.unwrap_or(Ipv6Addr::UNSPECIFIED)), 0),
                        dest,
                    )),
                    (false, Some(ll)) => Ok((Pin::BoundLinkLocal, bind_ll(ll), dest)),
                    (false, None) if self.bind_device => Ok((
                        Pin::BindToDevice,
                        SocketAddr::new(IpAddr::V6(routable.unwrap_or(Ipv6Addr::UNSPECIFIED)), 0),
                        dest,
                    )),
                    (false, None) => Err(Error::NotPinned {
                        interface: self.iface.to_string(),
                        detail: format!(
                            "IPV6_MULTICAST_IF is not supported ({e}), {group} is not link-local \
                             so a scope id is ignored, and the interface has no link-local address \
                             to bind to"
                        ),
                    }),
                }
            }
            Err(e) => Err(Error::io_on(
                Operation::SetOption("IPV6_MULTICAST_IF"),
                &self.iface,
                e,
            )),
        }
    }
}

/// The purpose a builder's broadcast switch stands for.
pub(crate) fn purpose(broadcast: bool) -> mcast_platform::Purpose {
    if broadcast {
        mcast_platform::Purpose::Broadcast
    } else {
        mcast_platform::Purpose::Multicast
    }
}

/// A UDP socket that sends to one group through one interface.
///
/// ```no_run
/// use mcast::{Group, Sender};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let list = mcast::interfaces()?;
/// let wlan = mcast::find(&list, "wlan0")?.clone();
/// let sender = Sender::builder(Group::default_group(), wlan).ttl(1).build()?;
/// let n = sender.send(b"hello world")?;
/// println!("Message sent ({n} bytes)");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Sender {
    socket: Socket,
    dest: SocketAddr,
    dest_sockaddr: SockAddr,
    local: SocketAddr,
    pin: Pin,
    connected: bool,
    /// The segment size while UDP segmentation offload is on.
    gso: std::cell::Cell<Option<usize>>,
    gso_refused: std::cell::Cell<bool>,
    bind_device: bool,
    iface: Interface,
}

impl std::os::fd::AsFd for Sender {
    /// The socket, to wait for replies with `poll(2)`.
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl Sender {
    /// Starts configuring a sender to `group` through `iface`. Defaults: TTL 1,
    /// loopback on, multicast (not broadcast), no `SO_BINDTODEVICE`.
    pub fn builder(group: Group, iface: Interface) -> SenderBuilder {
        SenderBuilder {
            group,
            iface,
            ttl: 1,
            loopback: true,
            broadcast: false,
            bind_device: false,
            connect: false,
            source_port: 0,
            gso: false,
        }
    }

    /// Sends one datagram; returns the number of bytes sent.
    ///
    /// # Errors
    /// [`Error::Io`] naming the destination and the interface.
    pub fn send(&self, payload: &[u8]) -> Result<usize, Error> {
        loop {
            match self.socket.send_to(payload, &self.dest_sockaddr) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.send_error(e)),
            }
        }
    }

    /// Sends every datagram queued in `batch` with `sendmmsg(2)` (as many
    /// calls as the kernel needs), then empties the batch. Returns how many
    /// were sent, and the error that kept the others back, if any.
    ///
    /// A datagram this host refuses ([`Error::is_refused_here`]: a firewall
    /// rule of the output path, a full queue) is skipped, and the rest of the
    /// batch still goes, so a rule that drops one datagram in ten loses one in
    /// ten. A refused datagram is never sent again (a random rule would let
    /// it through the second time). The kernel does not say why it stopped
    /// part way through a batch: that datagram is skipped too, and the error
    /// is known only when a call fails at its first datagram. Any other error
    /// ends the batch.
    pub fn send_batch(&self, batch: &mut crate::SendBatch) -> (usize, Option<Error>) {
        let mut done = 0;
        let mut sent = 0;
        let mut error = None;
        let total = batch.len();
        // With segmentation offload: one send(2) per up to 64 datagrams (and
        // at most 64 KiB), which the kernel splits after going down the stack
        // once. Anything the offload refuses goes the sendmmsg way below.
        if self.connected && total > 1 {
            let slot = batch.slot();
            let max = (65_000 / slot.max(1)).min(GSO_SEGMENTS);
            if max > 1 && self.gso_on(slot) {
                while done < total {
                    let Some(buf) = batch.contiguous(done, max) else {
                        break;
                    };
                    let n = buf.len() / slot;
                    match self.socket.send(buf) {
                        Ok(_) => {
                            done += n;
                            sent += n;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            let err = self.send_error(e);
                            if err.is_refused_here() {
                                done += n;
                                error = Some(err);
                                continue;
                            }
                            if err.is_transient() {
                                batch.clear();
                                return (sent, Some(err));
                            }
                            debug!("UDP segmentation offload refused ({err}); using sendmmsg");
                            self.gso.set(None);
                            let _ = sockopt::set_udp_segment(&self.socket, 0);
                            self.gso_refused.set(true);
                            break;
                        }
                    }
                }
            }
        }
        while done < total {
            let dest = (!self.connected).then_some(&self.dest_sockaddr);
            match batch.send_from(self.socket.as_fd(), done, dest) {
                Ok(n) => {
                    done += n;
                    sent += n;
                    if done < total {
                        // sendmmsg stopped at a datagram it could not send,
                        // and its error is lost: skip that one.
                        debug!("sendmmsg stopped after {n} datagrams; skipping the next one");
                        done += 1;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let err = self.send_error(e);
                    let refused = err.is_refused_here();
                    error = Some(err);
                    if !refused {
                        break;
                    }
                    done += 1;
                }
            }
        }
        batch.clear();
        (sent, error)
    }

    /// Turns segmentation offload on for `slot`-byte datagrams, once; false
    /// where the system lacks it (before Linux 4.18, qemu-user) or refused it.
    fn gso_on(&self, slot: usize) -> bool {
        if self.gso.get() == Some(slot) {
            return true;
        }
        if self.gso_refused.get() {
            return false;
        }
        match u16::try_from(slot).map(|s| sockopt::set_udp_segment(&self.socket, s)) {
            Ok(Ok(())) => {
                debug!("UDP segmentation offload on, {slot}-byte segments");
                self.gso.set(Some(slot));
                true
            }
            _ => {
                self.gso_refused.set(true);
                false
            }
        }
    }

    /// A send error naming the destination and the interface, with the
    /// route that fixes ENETUNREACH, and the likely cause of EPERM.
    fn send_error(&self, e: io::Error) -> Error {
        let err = Error::io_on(Operation::Send(self.dest), &self.iface, e);
        match err.raw_os_error() {
            Some(nix::libc::ENETUNREACH) => err.with_hint(self.no_route_hint()),
            Some(nix::libc::EPERM) => err.with_hint(
                "a firewall on this host refuses it: a drop or reject rule in an output chain \
                 of nftables or iptables",
            ),
            _ => err,
        }
    }

    fn no_route_hint(&self) -> String {
        let dev = self.iface.name();
        match self.dest {
            SocketAddr::V4(_) => format!(
                "{dev} is down, or there is no route for the group: add one, e.g. \
                 `ip route add 224.0.0.0/4 dev {dev}`"
            ),
            SocketAddr::V6(_) => format!(
                "{dev} is down, or it has no IPv6 multicast route: add one, e.g. \
                 `ip -6 route add multicast ff00::/8 dev {dev} table local`"
            ),
        }
    }

    /// Receives one datagram sent back to this socket, with the kernel's
    /// receive time where the system gives it (`SO_TIMESTAMPNS`), so a round
    /// trip measured with it does not include this program's own wake-up.
    /// Without blocking; `None` when nothing is waiting.
    ///
    /// # Errors
    /// [`Error::Io`] naming the interface.
    pub fn try_recv_reply(&self, buf: &mut [u8]) -> Result<Option<crate::Datagram>, Error> {
        match crate::recvmsg::recv_one(std::os::fd::AsRawFd::as_raw_fd(&self.socket), buf) {
            Ok(meta) => Ok(Some(crate::Datagram::from_meta(
                &meta,
                meta.size.min(buf.len()),
            ))),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(Error::io_on(Operation::ReceiveReplies, &self.iface, e)),
        }
    }

    /// Receives one unicast datagram sent back to this socket (the replies of
    /// `recv --echo` to `mcast ping`) if one is waiting, without blocking.
    /// Wait for readiness with `poll(2)` on its [`AsFd`](std::os::fd::AsFd).
    ///
    /// # Errors
    /// [`Error::Io`] naming the interface.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> Result<Option<(usize, SocketAddr)>, Error> {
        // SAFETY: u8 and MaybeUninit<u8> have the same layout, and recv only
        // writes initialised bytes into the slice.
        let uninit = unsafe { &mut *(buf as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) };
        match self
            .socket
            .recv_from_with_flags(uninit, nix::libc::MSG_DONTWAIT)
        {
            Ok((n, addr)) => Ok(addr.as_socket().map(|a| (n.min(buf.len()), a))),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(Error::io_on(Operation::ReceiveReplies, &self.iface, e)),
        }
    }

    /// How the socket is tied to the interface.
    pub fn pinned_by(&self) -> Pin {
        self.pin
    }

    /// Whether `SO_BINDTODEVICE` is set as well.
    pub fn bound_to_device(&self) -> bool {
        self.bind_device
    }

    /// The source address and port datagrams carry.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The destination (with the scope id used, for IPv6).
    pub fn destination(&self) -> SocketAddr {
        self.dest
    }

    /// The interface.
    pub fn interface(&self) -> &Interface {
        &self.iface
    }
}
