//! Configuring a [`Sender`]: the builder, and opening, pinning and binding
//! its socket for IPv4 (multicast or broadcast) and IPv6.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV6};

use log::debug;
use mcast_platform::Interface;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::pin::{self, Pin};
use super::Sender;
use crate::error::{Error, Operation};
use crate::group::{purpose, Group};
use crate::sockopt;

/// Builder setters that store their argument in the field of the same
/// name: `setters! { SenderBuilder { /// doc\n ttl: u8, } }`. Used by the
/// sender's and the receiver's builders.
macro_rules! setters {
    ($builder:ident { $( $(#[$doc:meta])* $name:ident: $ty:ty, )* }) => {
        impl $builder {
            $(
                $(#[$doc])*
                pub fn $name(mut self, value: $ty) -> $builder {
                    self.$name = value;
                    self
                }
            )*
        }
    };
}
pub(crate) use setters;

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

crate::sender::setters! {
    SenderBuilder {
        /// The IPv4 TTL or IPv6 hop limit (default 1: the local link only).
        ttl: u8,
        /// Whether this host's own receivers get a copy (`IP_MULTICAST_LOOP`,
        /// default on).
        loopback: bool,
        /// Sends to an IPv4 broadcast address with `SO_BROADCAST` instead of a
        /// multicast group.
        broadcast: bool,
        /// Uses UDP segmentation offload (`UDP_SEGMENT`, Linux ≥ 4.18) for
        /// batches on a connected socket: several datagrams go down the stack in
        /// one `send(2)`. Several times faster on this machine, often faster than
        /// receivers can read: off by default. Where the system lacks or refuses
        /// it, batches go out with `sendmmsg(2)` as without it.
        gso: bool,
        /// Sends from this UDP port (default 0: any free port). A sender that
        /// reopens its socket after a network change keeps its port, so
        /// receivers keep counting it as the same stream.
        source_port: u16,
        /// Connects the socket to the destination, so the kernel looks the route
        /// up once instead of for every datagram: faster at high rates. A
        /// connected socket only receives from the destination, so leave it off
        /// when replies are expected ([`Sender::try_recv_from`]).
        connect: bool,
        /// Also binds the socket to the device with `SO_BINDTODEVICE` (Linux
        /// needs root or CAP_NET_RAW for it).
        bind_device: bool,
    }
}

impl SenderBuilder {
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

    /// The result of setting socket option `name`, as an error naming it.
    fn option(&self, name: &'static str, result: io::Result<()>) -> Result<(), Error> {
        result.map_err(|e| Error::io_on(Operation::SetOption(name), &self.iface, e))
    }

    /// Sets the hop limit (TTL) and loopback with the family's options
    /// `names`, the hop limit first; stops at the first that fails.
    fn hops_and_loop(
        &self,
        names: [&'static str; 2],
        hops: impl FnOnce(u32) -> io::Result<()>,
        looped: impl FnOnce(bool) -> io::Result<()>,
    ) -> Result<(), Error> {
        self.option(names[0], hops(u32::from(self.ttl)))?;
        self.option(names[1], looped(self.loopback))
    }

    fn setup_v4(
        &self,
        socket: &Socket,
        idx: u32,
        on: &str,
    ) -> Result<(Pin, SocketAddr, SocketAddr), Error> {
        let src = self.iface.ipv4().unwrap_or(Ipv4Addr::UNSPECIFIED);
        let pin = if self.broadcast {
            self.option("SO_BROADCAST", socket.set_broadcast(true))?;
            self.option("IP_TTL", socket.set_ttl_v4(u32::from(self.ttl)))?;
            Pin::BoundSource
        } else {
            self.hops_and_loop(
                ["IP_MULTICAST_TTL", "IP_MULTICAST_LOOP"],
                |ttl| socket.set_multicast_ttl_v4(ttl),
                |on| socket.set_multicast_loop_v4(on),
            )?;
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
        self.hops_and_loop(
            ["IPV6_MULTICAST_HOPS", "IPV6_MULTICAST_LOOP"],
            |hops| socket.set_multicast_hops_v6(hops),
            |on| socket.set_multicast_loop_v6(on),
        )?;
        // Interface- and link-local groups need the interface in the scope id.
        let link_scope = self.group.scope_v6().is_some_and(|s| s <= 2);
        let dest_scope = if link_scope { idx } else { 0 };
        let dest = SocketAddr::V6(SocketAddrV6::new(
            group,
            self.group.port().get(),
            0,
            dest_scope,
        ));
        match socket.set_multicast_if_v6(idx) {
            Ok(()) => Ok((
                Pin::MulticastIf,
                pin::source_v6(&self.iface, link_scope),
                dest,
            )),
            Err(e) if sockopt::is_unsupported(&e) => {
                debug!("IPV6_MULTICAST_IF is not supported here ({e}); using a fallback {on}");
                match pin::fallback_v6(&self.iface, link_scope, self.bind_device) {
                    Some((pin, local)) => Ok((pin, local, dest)),
                    None => Err(Error::NotPinned {
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
}
