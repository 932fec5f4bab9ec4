//! Where datagrams go: a multicast group (or, for broadcast, a broadcast
//! address) and a UDP port, and how a person writes them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU16;
use std::str::FromStr;

use mcast_platform::{Interface, Purpose};

use crate::error::Error;

/// A UDP port, never 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port(NonZeroU16);

impl Port {
    /// 54321, the port of the original mobile multicast example.
    pub const DEFAULT: Port = match NonZeroU16::new(54321) {
        Some(p) => Port(p),
        None => unreachable!(),
    };

    /// Wraps a port number; `None` for 0.
    pub fn new(port: u16) -> Option<Port> {
        NonZeroU16::new(port).map(Port)
    }

    /// The port number.
    pub fn get(self) -> u16 {
        self.0.get()
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A destination: an IP address and a UDP port.
///
/// Usually a multicast group; with broadcast, an IPv4 broadcast address.
/// [`Group::is_multicast`] tells which, and the builders of
/// [`Sender`](crate::Sender) and [`Receiver`](crate::Receiver) check that it
/// fits what they were asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Group {
    addr: IpAddr,
    port: Port,
    zone: Option<Zone>,
}

/// The interface an IPv6 address's scope names, as written after `%`: a name
/// (`ff02::1%wlan0`) or an index (`[ff02::1%3]:54321`, as mcast prints a
/// link-local destination). At most 15 bytes, the longest interface name
/// Linux allows (IFNAMSIZ − 1), so a [`Group`] stays `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Zone {
    len: u8,
    bytes: [u8; Zone::MAX_LEN],
}

impl Zone {
    /// The longest scope: Linux interface names have at most 15 bytes.
    pub const MAX_LEN: usize = 15;

    /// The scope as written: an interface name or index.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (see FromStr).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }

    /// The interface index, when the scope is written as one (`%3`).
    pub fn index(&self) -> Option<u32> {
        let s = self.as_str();
        if s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    }

    /// The interface of `list` that the scope names: by name first (as
    /// `ip` does), then by index. `None` when no interface matches.
    pub fn resolve<'a>(&self, list: &'a [Interface]) -> Option<&'a Interface> {
        list.iter().find(|i| i.name() == self.as_str()).or_else(|| {
            let n = self.index()?;
            list.iter().find(|i| i.index().get() == n)
        })
    }
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Zone({:?})", self.as_str())
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Zone {
    type Err = String;

    /// Parses what follows `%`: an interface name or index of 1 to 15
    /// printable ASCII bytes, without `/`, `%`, `[`, `]`, `:` or `+` (which
    /// the group syntax uses, or Linux forbids in names). Index 0 names no
    /// interface.
    fn from_str(s: &str) -> Result<Zone, String> {
        if s.is_empty() {
            return Err(
                "the scope after '%' is empty (give an interface name or index, \
                        e.g. %wlan0 or %3)"
                    .into(),
            );
        }
        let bad = |b: u8| !b.is_ascii_graphic() || b"/%[]:+".contains(&b);
        if s.len() > Zone::MAX_LEN || s.bytes().any(bad) {
            return Err(format!(
                "'{s}' is not an interface name or index (a scope is 1 to {} characters, \
                 e.g. %wlan0 or %3)",
                Zone::MAX_LEN
            ));
        }
        if s.bytes().all(|b| b.is_ascii_digit()) && s.trim_start_matches('0').is_empty() {
            return Err(format!(
                "scope '%{s}' names no interface (indexes start at 1)"
            ));
        }
        let mut bytes = [0; Zone::MAX_LEN];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        Ok(Zone {
            len: s.len() as u8,
            bytes,
        })
    }
}

impl Group {
    /// `239.74.20.30`, whose Ethernet address is 01:00:5e:4a:14:1e, the
    /// destination of the original example's frames.
    pub const DEFAULT_ADDR: Ipv4Addr = Ipv4Addr::new(239, 74, 20, 30);

    /// The default group, `239.74.20.30:54321`.
    pub fn default_group() -> Group {
        Group::new(IpAddr::V4(Group::DEFAULT_ADDR), Port::DEFAULT)
    }

    /// A destination from an address and a port.
    pub fn new(addr: IpAddr, port: Port) -> Group {
        Group {
            addr,
            port,
            zone: None,
        }
    }

    /// The same group with another address (and this one's port and scope).
    #[must_use]
    pub fn with_addr(self, addr: IpAddr) -> Group {
        Group { addr, ..self }
    }

    /// The same group on another port.
    #[must_use]
    pub fn with_port(self, port: Port) -> Group {
        Group { port, ..self }
    }

    /// The interface named by the scope written with the address
    /// (`ff02::1%wlan0`), if any. It chooses the interface, like `-i`.
    pub fn zone(&self) -> Option<Zone> {
        self.zone
    }

    /// The same group without its scope, once the interface is chosen.
    #[must_use]
    pub fn without_zone(self) -> Group {
        Group { zone: None, ..self }
    }

    /// The address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The port.
    pub fn port(&self) -> Port {
        self.port
    }

    /// Whether the address is a multicast group (224.0.0.0/4, ff00::/8).
    pub fn is_multicast(&self) -> bool {
        self.addr.is_multicast()
    }

    /// What an interface needs for this group: [`Purpose::Multicast`] for a
    /// multicast group, [`Purpose::Broadcast`] for a broadcast address (the
    /// only other kind that passes [`Group::check`]).
    pub fn purpose(&self) -> Purpose {
        purpose(!self.is_multicast())
    }

    /// For IPv6 groups, the multicast scope (RFC 4291 §2.7): 1 interface-local,
    /// 2 link-local, 5 site-local, 8 organisation-local, 14 global.
    pub fn scope_v6(&self) -> Option<u8> {
        match self.addr {
            IpAddr::V6(a) if a.is_multicast() => Some((a.segments()[0] & 0x000f) as u8),
            _ => None,
        }
    }

    /// Checks that the group fits `purpose`, and, given an interface, that
    /// it fits that interface too. One rule for every subcommand and for
    /// [`Sender`](crate::Sender) and [`Receiver`](crate::Receiver):
    ///
    /// - multicast: the address is in 224.0.0.0/4 or ff00::/8;
    /// - broadcast: the address is IPv4 and not multicast, and on an
    ///   interface it is that interface's directed broadcast address or
    ///   255.255.255.255;
    /// - on an interface: it has an address of the group's family.
    ///
    /// # Errors
    /// [`Error::Config`] saying what does not fit and what would.
    pub fn check(&self, purpose: Purpose, iface: Option<&Interface>) -> Result<(), Error> {
        let addr = self.addr;
        match purpose {
            Purpose::Multicast if !addr.is_multicast() => {
                return Err(Error::Config(format!(
                    "{addr} is not a multicast group (IPv4 224.0.0.0/4, IPv6 ff00::/8), e.g. \
                     239.74.20.30 or ff05::4a14:1e; to use a broadcast address, add --broadcast"
                )))
            }
            Purpose::Multicast => {}
            Purpose::Broadcast if addr.is_ipv6() => {
                return Err(Error::Config(format!(
                    "broadcast is IPv4 only, but {addr} is IPv6; IPv6 uses multicast instead: \
                     drop --broadcast and give a group such as ff02::4a14:1e"
                )))
            }
            Purpose::Broadcast if addr.is_multicast() => {
                return Err(Error::Config(format!(
                    "{addr} is a multicast group, not a broadcast address; drop --broadcast"
                )))
            }
            Purpose::Broadcast => {}
        }
        let Some(iface) = iface else {
            return Ok(());
        };
        let family = mcast_platform::Family::of(&addr);
        if iface.addresses_of(family).next().is_none() {
            return Err(Error::Config(format!(
                "{iface} has no {family} address, which {addr} needs"
            )));
        }
        if let (Purpose::Broadcast, IpAddr::V4(a)) = (purpose, addr) {
            let directed = iface.broadcast_v4();
            if a != Ipv4Addr::BROADCAST && Some(a) != directed {
                return Err(Error::Config(format!(
                    "{a} is not a broadcast address of {iface}; use {} or 255.255.255.255",
                    directed.map_or("its directed broadcast".to_owned(), |d| d.to_string())
                )));
            }
        }
        Ok(())
    }

    /// What a reserved group is for, when it is one: the IPv4 Local Network
    /// Control Block 224.0.0.0/24 (RFC 5771: routing and discovery protocols
    /// of the link, never forwarded), and the IPv6 all-nodes and all-routers
    /// groups ff02::1 and ff02::2 (RFC 4291 §2.7.1). Sending to them reaches
    /// every host (or router) on the link, and what arrives there is not
    /// only yours: mcast allows them, with a warning.
    pub fn reserved_use(&self) -> Option<&'static str> {
        match self.addr {
            IpAddr::V4(a) if a.octets()[..3] == [224, 0, 0] => Some(match a.octets()[3] {
                0 => "the reserved base address of 224.0.0.0/4, assigned to no group",
                1 => "the all-hosts group: every multicast host on the link is a member",
                2 => "the all-routers group of the link",
                4 => "DVMRP routers",
                5 => "OSPF routers (AllSPFRouters)",
                6 => "OSPF designated routers (AllDRouters)",
                9 => "RIPv2 routers",
                10 => "EIGRP routers",
                13 => "PIM routers",
                18 => "VRRP",
                22 => "IGMPv3 membership reports",
                102 => "HSRPv2 and GLBP",
                107 => "PTP peer delay messages",
                251 => "multicast DNS, mDNS",
                252 => "LLMNR name resolution",
                _ => {
                    "the Local Network Control Block 224.0.0.0/24, kept for routing and \
                      discovery protocols of the link"
                }
            }),
            IpAddr::V6(a) if a == Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1) => {
                Some("the IPv6 all-nodes group: every host on the link is a member")
            }
            IpAddr::V6(a) if a == Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2) => {
                Some("the IPv6 all-routers group of the link")
            }
            _ => None,
        }
    }

    /// The socket address (without IPv6 scope id).
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.addr, self.port.get())
    }
}

impl fmt::Display for Group {
    /// `239.74.20.30:54321`, `[ff02::1]:54321`, or with a scope
    /// `[ff02::1%wlan0]:54321`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.addr, self.zone) {
            (IpAddr::V6(a), Some(z)) => write!(f, "[{a}%{z}]:{}", self.port),
            _ => self.socket_addr().fmt(f),
        }
    }
}

/// A group as written could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseGroupError {
    input: String,
    problem: String,
}

impl fmt::Display for ParseGroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid group '{}': {}; accepted forms: ADDR, ADDR:PORT or [ADDR6]:PORT, \
             with an optional IPv6 scope (ADDR6%IFACE, [ADDR6%IFACE]:PORT), \
             e.g. 239.74.20.30:54321 or [ff02::4a14:1e%wlan0]:54321",
            self.input, self.problem
        )
    }
}

impl std::error::Error for ParseGroupError {}

impl FromStr for Group {
    type Err = ParseGroupError;

    /// Parses `ADDR`, `ADDR:PORT`, `[ADDR6]` or `[ADDR6]:PORT`; without a
    /// port, [`Port::DEFAULT`] is used. An IPv6 address may carry a scope,
    /// an interface name or index: `ff02::1%wlan0`, `[ff02::1%3]:54321`
    /// (see [`Group::zone`]).
    fn from_str(s: &str) -> Result<Group, ParseGroupError> {
        let err = |problem: String| ParseGroupError {
            input: s.to_owned(),
            problem,
        };
        let t = s.trim();
        let (addr, port) = if let Some(rest) = t.strip_prefix('[') {
            let (addr, after) = rest
                .split_once(']')
                .ok_or_else(|| err("missing ']' after the IPv6 address".into()))?;
            match after {
                "" => (addr, None),
                _ => (
                    addr,
                    Some(
                        after
                            .strip_prefix(':')
                            .ok_or_else(|| err(format!("unexpected '{after}' after ']'")))?,
                    ),
                ),
            }
        } else if t.matches(':').count() > 1 {
            // Bare IPv6: every colon belongs to the address.
            (t, None)
        } else {
            match t.split_once(':') {
                Some((a, p)) => (a, Some(p)),
                None => (t, None),
            }
        };
        let (addr, zone) = match addr.split_once('%') {
            Some((a, z)) => (a, Some(z)),
            None => (addr, None),
        };
        if addr.is_empty() {
            return Err(err("the address is missing".into()));
        }
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| err(format!("'{addr}' is not an IP address")))?;
        let zone = match zone {
            None => None,
            Some(z) if ip.is_ipv4() => {
                return Err(err(format!(
                    "a scope (%{z}) belongs to IPv6 addresses; choose the interface of an \
                     IPv4 group with -i"
                )))
            }
            Some(z) => Some(z.parse::<Zone>().map_err(err)?),
        };
        let port = match port {
            None => Port::DEFAULT,
            Some(p) => parse_port(p).map_err(err)?,
        };
        Ok(Group {
            addr: ip,
            port,
            zone,
        })
    }
}

/// Parses a port number, 1–65535.
///
/// # Errors
/// A sentence naming the value and the accepted range.
pub(crate) fn parse_port(p: &str) -> Result<Port, String> {
    if !p.bytes().all(|b| b.is_ascii_digit()) || p.is_empty() {
        return Err(format!("port '{p}' is not a number (use 1-65535)"));
    }
    let n: u64 = p
        .parse()
        .map_err(|_| format!("port '{p}' is not a number (use 1-65535)"))?;
    u16::try_from(n)
        .ok()
        .and_then(Port::new)
        .ok_or_else(|| format!("port {n} is out of range (use 1-65535)"))
}

/// The purpose `--broadcast` (or the builders' `broadcast(true)`) asks for:
/// what [`Group::check`] checks a group and an interface against.
pub(crate) fn purpose(broadcast: bool) -> Purpose {
    if broadcast {
        Purpose::Broadcast
    } else {
        Purpose::Multicast
    }
}

#[cfg(test)]
mod tests;
