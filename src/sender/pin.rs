//! How a sender ties its datagrams to the interface ([`Pin`]), and the
//! choice of the IPv6 source address and of the fallback where
//! `IPV6_MULTICAST_IF` is missing: plain decisions over the interface's
//! addresses.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};

use mcast_platform::Interface;

/// How a [`Sender`](crate::Sender) ties its datagrams to the chosen interface.
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

/// The address an IPv6 sender pinned by `IPV6_MULTICAST_IF` binds on
/// `iface`: for a link-scope group (`link_scope`) the link-local address,
/// else a routable one, else the link-local one, else any.
pub(super) fn source_v6(iface: &Interface, link_scope: bool) -> SocketAddr {
    let bind_ll = |ll: Ipv6Addr| SocketAddr::V6(SocketAddrV6::new(ll, 0, 0, iface.index().get()));
    match (link_scope, iface.ipv6_link_local(), iface.ipv6_routable()) {
        (true, Some(ll), _) | (false, Some(ll), None) => bind_ll(ll),
        (_, _, Some(r)) => SocketAddr::new(IpAddr::V6(r), 0),
        (_, None, None) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    }
}

/// Where `IPV6_MULTICAST_IF` is missing, what else pins an IPv6 sender to
/// `iface`, and the address it then binds: the scope id for a link-scope
/// group, else binding the link-local address, else `SO_BINDTODEVICE`
/// when it is set (`bind_device`). `None`: nothing pins it.
pub(super) fn fallback_v6(
    iface: &Interface,
    link_scope: bool,
    bind_device: bool,
) -> Option<(Pin, SocketAddr)> {
    let any_or_routable = SocketAddr::new(
        IpAddr::V6(iface.ipv6_routable().unwrap_or(Ipv6Addr::UNSPECIFIED)),
        0,
    );
    let bind_ll = |ll: Ipv6Addr| SocketAddr::V6(SocketAddrV6::new(ll, 0, 0, iface.index().get()));
    match (link_scope, iface.ipv6_link_local()) {
        (true, Some(ll)) => Some((Pin::ScopeId, bind_ll(ll))),
        (true, None) => Some((Pin::ScopeId, any_or_routable)),
        (false, Some(ll)) => Some((Pin::BoundLinkLocal, bind_ll(ll))),
        (false, None) if bind_device => Some((Pin::BindToDevice, any_or_routable)),
        (false, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcast_platform::{Address, Flags, InterfaceIndex};

    fn iface(addrs: &[&str]) -> Interface {
        addrs.iter().fold(
            Interface::new(InterfaceIndex::new(3).unwrap(), "wlan0", Flags::UP),
            |i, a| i.with_address(Address::new(a.parse().unwrap(), 64)),
        )
    }

    #[test]
    fn the_source_follows_the_group_scope() {
        let both = iface(&["fe80::2", "2001:db8::2"]);
        assert_eq!(source_v6(&both, true).to_string(), "[fe80::2%3]:0");
        assert_eq!(source_v6(&both, false).to_string(), "[2001:db8::2]:0");
        assert_eq!(
            source_v6(&iface(&["fe80::2"]), false).to_string(),
            "[fe80::2%3]:0"
        );
        assert_eq!(source_v6(&iface(&[]), true).to_string(), "[::]:0");
    }

    #[test]
    fn without_multicast_if_the_fallback_still_pins_or_says_none() {
        let ll = iface(&["fe80::2"]);
        let routable = iface(&["2001:db8::2"]);
        let pin = |i: &Interface, link: bool, dev: bool| fallback_v6(i, link, dev).map(|(p, _)| p);
        assert_eq!(pin(&ll, true, false), Some(Pin::ScopeId));
        assert_eq!(pin(&routable, true, false), Some(Pin::ScopeId));
        assert_eq!(pin(&ll, false, false), Some(Pin::BoundLinkLocal));
        assert_eq!(pin(&routable, false, true), Some(Pin::BindToDevice));
        assert_eq!(pin(&routable, false, false), None);
        assert_eq!(
            fallback_v6(&routable, true, false).unwrap().1.to_string(),
            "[2001:db8::2]:0"
        );
    }
}
