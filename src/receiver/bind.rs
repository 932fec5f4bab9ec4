//! Where a receiver's sockets bind, and why a bind found the port taken.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use mcast_platform::Interface;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::group::Group;

/// Where the sockets of a receiver of `groups` groups (the first is
/// `group`) on `iface` bind. One group: its address, so the kernel drops
/// other groups of the port even where IP_MULTICAST_ALL stays on; several:
/// the wildcard, and the destination tells them apart. A broadcast receiver
/// binds the wildcard, a unicast one the interface's own address.
pub(super) fn bind_addr(
    group: &Group,
    iface: &Interface,
    groups: usize,
    broadcast: bool,
    unicast: bool,
) -> SocketAddr {
    let idx = iface.index().get();
    let port = group.port().get();
    match group.addr() {
        IpAddr::V4(_) if unicast => SocketAddr::new(
            IpAddr::V4(iface.ipv4().unwrap_or(Ipv4Addr::UNSPECIFIED)),
            port,
        ),
        IpAddr::V6(_) if unicast => match (iface.ipv6_routable(), iface.ipv6_link_local()) {
            (Some(a), _) => SocketAddr::new(IpAddr::V6(a), port),
            (None, Some(ll)) => SocketAddr::V6(SocketAddrV6::new(ll, port, 0, idx)),
            (None, None) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
        },
        IpAddr::V4(_) if groups > 1 => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
        IpAddr::V6(_) if groups > 1 => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
        // Broadcasts reach only sockets bound to the wildcard (or to the
        // broadcast address); the interface is checked per datagram.
        IpAddr::V4(_) if broadcast => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
        IpAddr::V4(g) => SocketAddr::new(IpAddr::V4(g), port),
        IpAddr::V6(g) => {
            let scope = if group.scope_v6().is_some_and(|s| s <= 2) {
                idx
            } else {
                0
            };
            SocketAddr::V6(SocketAddrV6::new(g, port, 0, scope))
        }
    }
}

/// Why a bind found the port taken: mcast shares a port with any socket
/// that set SO_REUSEADDR, so the holder did not. If a socket with
/// SO_REUSEPORT can bind it, the holder set SO_REUSEPORT only.
pub(super) fn port_holder(addr: SocketAddr) -> String {
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
#[cfg(test)]
mod tests {
    use super::*;
    use mcast_platform::{Address, Flags, InterfaceIndex};

    fn wlan() -> Interface {
        Interface::new(InterfaceIndex::new(3).unwrap(), "wlan0", Flags::UP)
            .with_address(Address::new("10.0.0.2".parse().unwrap(), 24))
            .with_address(Address::new("fe80::2".parse().unwrap(), 64))
    }

    fn at(g: &str, groups: usize, broadcast: bool, unicast: bool) -> String {
        let g: Group = g.parse().unwrap();
        bind_addr(&g, &wlan(), groups, broadcast, unicast).to_string()
    }

    #[test]
    fn one_group_binds_its_address_several_the_wildcard() {
        assert_eq!(at("239.1.2.3:5000", 1, false, false), "239.1.2.3:5000");
        assert_eq!(at("239.1.2.3:5000", 2, false, false), "0.0.0.0:5000");
        assert_eq!(at("[ff05::1]:5000", 2, false, false), "[::]:5000");
        assert_eq!(at("[ff05::1]:5000", 1, false, false), "[ff05::1]:5000");
        // A link-local group needs the interface in the scope id.
        assert_eq!(at("[ff02::1]:5000", 1, false, false), "[ff02::1%3]:5000");
    }

    #[test]
    fn broadcast_binds_the_wildcard_unicast_the_interface() {
        assert_eq!(at("10.0.0.255:5000", 1, true, false), "0.0.0.0:5000");
        assert_eq!(at("239.1.2.3:5000", 1, false, true), "10.0.0.2:5000");
        // No routable IPv6 address: the link-local one, with its scope.
        assert_eq!(at("[ff05::1]:5000", 1, false, true), "[fe80::2%3]:5000");
    }
}
