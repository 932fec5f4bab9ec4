//! The data model: an interface, its index, flags and addresses.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::ops::BitOr;

/// A kernel interface index (`if_nametoindex(3)`); never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InterfaceIndex(NonZeroU32);

impl InterfaceIndex {
    /// Wraps a raw index; `None` for 0, which names no interface.
    pub fn new(raw: u32) -> Option<InterfaceIndex> {
        NonZeroU32::new(raw).map(InterfaceIndex)
    }

    /// The raw index, as socket options want it.
    pub fn get(self) -> u32 {
        self.0.get()
    }
}

impl fmt::Display for InterfaceIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family of `addr`.
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

/// Interface flags, as in `SIOCGIFFLAGS` (`IFF_*`), reduced to the ones that
/// matter for multicast. Combine with `|`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Flags(pub(crate) u32);

impl Flags {
    /// No flag.
    pub const NONE: Flags = Flags(0);
    /// `IFF_UP`: administratively up.
    pub const UP: Flags = Flags(1);
    /// `IFF_RUNNING`: the link has carrier.
    pub const RUNNING: Flags = Flags(1 << 1);
    /// `IFF_MULTICAST`: the interface supports multicast.
    pub const MULTICAST: Flags = Flags(1 << 2);
    /// `IFF_BROADCAST`: the interface has a broadcast address.
    pub const BROADCAST: Flags = Flags(1 << 3);
    /// `IFF_LOOPBACK`.
    pub const LOOPBACK: Flags = Flags(1 << 4);
    /// `IFF_POINTOPOINT`: a point-to-point link (cellular, tunnels).
    pub const POINT_TO_POINT: Flags = Flags(1 << 5);

    const NAMES: [(Flags, &'static str); 6] = [
        (Flags::UP, "up"),
        (Flags::RUNNING, "running"),
        (Flags::MULTICAST, "multicast"),
        (Flags::BROADCAST, "broadcast"),
        (Flags::LOOPBACK, "loopback"),
        (Flags::POINT_TO_POINT, "point-to-point"),
    ];

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The names of the set flags, lower case (`up`, `multicast`, …).
    pub fn names(self) -> Vec<&'static str> {
        Flags::NAMES
            .iter()
            .filter(|(f, _)| self.contains(*f))
            .map(|(_, n)| *n)
            .collect()
    }
}

impl BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

/// One address of an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Address {
    addr: IpAddr,
    prefix_len: u8,
    broadcast: Option<Ipv4Addr>,
}

impl Address {
    /// An address with its prefix length (`198.18.1.10/24`).
    pub fn new(addr: IpAddr, prefix_len: u8) -> Address {
        Address {
            addr,
            prefix_len,
            broadcast: None,
        }
    }

    /// Sets the IPv4 directed broadcast address of this address's subnet.
    #[must_use]
    pub fn with_broadcast(mut self, broadcast: Ipv4Addr) -> Address {
        self.broadcast = Some(broadcast);
        self
    }

    /// The address.
    pub fn ip(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The IPv4 directed broadcast address, when the kernel reports one.
    pub fn broadcast(&self) -> Option<Ipv4Addr> {
        self.broadcast
    }

    /// The address family.
    pub fn family(&self) -> Family {
        Family::of(&self.addr)
    }

    /// Whether `ip` lies inside this address's prefix: the same family and
    /// the same first [`prefix_len`](Address::prefix_len) bits
    /// (`198.18.1.10/24` contains `198.18.1.200`, not `198.18.2.1`). A
    /// prefix length of 0 contains every address of the family; one longer
    /// than the family's width counts as the full width.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix_len.min(32)))
                    .unwrap_or(0);
                u32::from(a) & mask == u32::from(b) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix_len.min(128)))
                    .unwrap_or(0);
                u128::from(a) & mask == u128::from(b) & mask
            }
            _ => false,
        }
    }

    /// Whether this is an IPv6 link-local (`fe80::/10`) address.
    pub fn is_link_local_v6(&self) -> bool {
        matches!(self.addr, IpAddr::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// What kind of link an interface is, guessed from its name and flags.
///
/// The order of the variants is the order of preference of automatic
/// selection: Wi-Fi first (the access point is where the multicast peers
/// are), then wired, then anything else, then cellular (carriers rarely
/// forward multicast), then loopback (used only when named).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `wlan*`, `wl*` (wlp2s0, wlx…), `swlan*`.
    Wifi,
    /// `eth*`, `en*` (enp3s0, eno1, enx…).
    Wired,
    /// Any other name (bridges, veth, usb0, tun0, …).
    Other,
    /// `rmnet*` (Qualcomm), `ccmni*` (MediaTek), `wwan*`, and
    /// `v4-rmnet*` (Android's 464XLAT tunnel over cellular).
    Cellular,
    /// The loopback interface.
    Loopback,
}

impl Kind {
    /// Classifies an interface by name and flags.
    pub fn classify(name: &str, flags: Flags) -> Kind {
        if flags.contains(Flags::LOOPBACK) {
            return Kind::Loopback;
        }
        let cellular = [
            "rmnet", "ccmni", "wwan", "v4-rmnet", "v4-ccmni", "seth_lte", "pdp",
        ];
        if cellular.iter().any(|p| name.starts_with(p)) {
            Kind::Cellular
        } else if name.starts_with("wl") || name.starts_with("swlan") {
            Kind::Wifi
        } else if name.starts_with("eth") || name.starts_with("en") {
            Kind::Wired
        } else {
            Kind::Other
        }
    }

    /// A lower-case name: `wifi`, `wired`, `other`, `cellular`, `loopback`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Wifi => "wifi",
            Kind::Wired => "wired",
            Kind::Other => "other",
            Kind::Cellular => "cellular",
            Kind::Loopback => "loopback",
        }
    }
}

/// A network interface: index, name, flags and addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    index: InterfaceIndex,
    name: String,
    flags: Flags,
    addresses: Vec<Address>,
}

impl Interface {
    /// An interface with no address; add them with [`Interface::with_address`].
    pub fn new(index: InterfaceIndex, name: impl Into<String>, flags: Flags) -> Interface {
        Interface {
            index,
            name: name.into(),
            flags,
            addresses: Vec::new(),
        }
    }

    /// Adds an address.
    #[must_use]
    pub fn with_address(mut self, address: Address) -> Interface {
        self.push_address(address);
        self
    }

    pub(crate) fn push_address(&mut self, address: Address) {
        if !self.addresses.contains(&address) {
            self.addresses.push(address);
        }
    }

    /// The kernel index.
    pub fn index(&self) -> InterfaceIndex {
        self.index
    }

    /// The name (`wlan0`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The flags.
    pub fn flags(&self) -> Flags {
        self.flags
    }

    /// Every address, IPv4 and IPv6, in the order the kernel lists them.
    pub fn addresses(&self) -> &[Address] {
        &self.addresses
    }

    /// The addresses of one family.
    pub fn addresses_of(&self, family: Family) -> impl Iterator<Item = &Address> {
        self.addresses.iter().filter(move |a| a.family() == family)
    }

    /// The first IPv4 address, which mcast uses as the source of IPv4 sends.
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        self.addresses.iter().find_map(|a| match a.ip() {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
    }

    /// The IPv6 link-local address, if any.
    pub fn ipv6_link_local(&self) -> Option<std::net::Ipv6Addr> {
        self.addresses
            .iter()
            .filter(|a| a.is_link_local_v6())
            .find_map(|a| match a.ip() {
                IpAddr::V6(v6) => Some(v6),
                IpAddr::V4(_) => None,
            })
    }

    /// The first IPv6 address that is not link-local (global or ULA).
    pub fn ipv6_routable(&self) -> Option<std::net::Ipv6Addr> {
        self.addresses
            .iter()
            .filter(|a| !a.is_link_local_v6())
            .find_map(|a| match a.ip() {
                IpAddr::V6(v6) => Some(v6),
                IpAddr::V4(_) => None,
            })
    }

    /// The IPv4 directed broadcast address of the first IPv4 address that has one.
    pub fn broadcast_v4(&self) -> Option<Ipv4Addr> {
        self.addresses.iter().find_map(Address::broadcast)
    }

    /// Whether the interface is administratively up.
    pub fn is_up(&self) -> bool {
        self.flags.contains(Flags::UP)
    }

    /// Whether it is the loopback interface.
    pub fn is_loopback(&self) -> bool {
        self.flags.contains(Flags::LOOPBACK)
    }

    /// What kind of link this is.
    pub fn kind(&self) -> Kind {
        Kind::classify(&self.name, self.flags)
    }
}

impl fmt::Display for Interface {
    /// `wlan0 (index 3)`, the form used in every message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (index {})", self.name, self.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_names() {
        let up = Flags::UP;
        assert_eq!(Kind::classify("wlan0", up), Kind::Wifi);
        assert_eq!(Kind::classify("wlp2s0", up), Kind::Wifi);
        assert_eq!(Kind::classify("eth0", up), Kind::Wired);
        assert_eq!(Kind::classify("enp3s0", up), Kind::Wired);
        assert_eq!(Kind::classify("rmnet_data0", up), Kind::Cellular);
        assert_eq!(Kind::classify("ccmni1", up), Kind::Cellular);
        assert_eq!(Kind::classify("wwan0", up), Kind::Cellular);
        assert_eq!(Kind::classify("v4-rmnet_data0", up), Kind::Cellular);
        assert_eq!(Kind::classify("dummy0", up), Kind::Other);
        assert_eq!(Kind::classify("lo", up | Flags::LOOPBACK), Kind::Loopback);
    }

    #[test]
    fn flags_combine_and_name() {
        let f = Flags::UP | Flags::MULTICAST;
        assert!(f.contains(Flags::UP));
        assert!(!f.contains(Flags::BROADCAST));
        assert_eq!(f.names(), vec!["up", "multicast"]);
        assert!(InterfaceIndex::new(0).is_none());
    }

    #[test]
    fn prefix_containment() {
        let net = |s: &str, len| Address::new(s.parse().unwrap(), len);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let a = net("198.18.1.10", 24);
        assert!(a.contains(ip("198.18.1.200")));
        assert!(!a.contains(ip("198.18.2.1")));
        assert!(net("198.18.1.10", 0).contains(ip("1.2.3.4")));
        assert!(!net("198.18.1.10", 0).contains(ip("::1")));
        assert!(net("198.18.1.10", 32).contains(ip("198.18.1.10")));
        assert!(!net("198.18.1.10", 32).contains(ip("198.18.1.11")));
        assert!(net("224.0.0.0", 4).contains(ip("239.74.20.30")));
        let b = net("fd6d:6361:7374:1::10", 64);
        assert!(b.contains(ip("fd6d:6361:7374:1::20")));
        assert!(!b.contains(ip("fd6d:6361:7374:2::20")));
        assert!(!b.contains(ip("198.18.1.10")));
        assert!(net("ff00::", 8).contains(ip("ff05::4a14:1e")));
        assert!(net("::", 0).contains(ip("fe80::1")));
        assert!(net("fe80::1", 200).contains(ip("fe80::1")));
    }

    #[test]
    fn address_helpers() {
        let i = Interface::new(InterfaceIndex::new(2).unwrap(), "wlan0", Flags::UP)
            .with_address(Address::new("fe80::1".parse().unwrap(), 64))
            .with_address(Address::new("fd00::1".parse().unwrap(), 64))
            .with_address(
                Address::new("198.18.1.10".parse().unwrap(), 24)
                    .with_broadcast("198.18.1.255".parse().unwrap()),
            );
        assert_eq!(i.ipv4(), Some("198.18.1.10".parse().unwrap()));
        assert_eq!(i.ipv6_link_local(), Some("fe80::1".parse().unwrap()));
        assert_eq!(i.ipv6_routable(), Some("fd00::1".parse().unwrap()));
        assert_eq!(i.broadcast_v4(), Some("198.18.1.255".parse().unwrap()));
        assert_eq!(i.to_string(), "wlan0 (index 2)");
        assert_eq!(i.addresses_of(Family::V6).count(), 2);
    }
}
