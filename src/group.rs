//! Where datagrams go: a multicast group (or, for broadcast, a broadcast
//! address) and a UDP port, and how a person writes them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU16;
use std::str::FromStr;

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
        Group { addr, port }
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

    /// For IPv6 groups, the multicast scope (RFC 4291 §2.7): 1 interface-local,
    /// 2 link-local, 5 site-local, 8 organisation-local, 14 global.
    pub fn scope_v6(&self) -> Option<u8> {
        match self.addr {
            IpAddr::V6(a) if a.is_multicast() => Some((a.segments()[0] & 0x000f) as u8),
            _ => None,
        }
    }

    /// The socket address (without IPv6 scope id).
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.addr, self.port.get())
    }
}

impl fmt::Display for Group {
    /// `239.74.20.30:54321` or `[ff02::1]:54321`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.socket_addr().fmt(f)
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
             e.g. 239.74.20.30:54321 or [ff02::4a14:1e]:54321",
            self.input, self.problem
        )
    }
}

impl std::error::Error for ParseGroupError {}

impl FromStr for Group {
    type Err = ParseGroupError;

    /// Parses `ADDR`, `ADDR:PORT`, `[ADDR6]` or `[ADDR6]:PORT`; without a
    /// port, [`Port::DEFAULT`] is used.
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
        if addr.is_empty() {
            return Err(err("the address is missing".into()));
        }
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| err(format!("'{addr}' is not an IP address")))?;
        let port = match port {
            None => Port::DEFAULT,
            Some(p) => parse_port(p).map_err(err)?,
        };
        Ok(Group::new(ip, port))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn g(s: &str) -> Group {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn default_group_is_the_articles() {
        let d = Group::default_group();
        assert_eq!(d.to_string(), "239.74.20.30:54321");
        assert!(d.is_multicast());
    }

    #[test]
    fn forms() {
        assert_eq!(
            g("239.1.2.3"),
            Group::new("239.1.2.3".parse().unwrap(), Port::DEFAULT)
        );
        assert_eq!(g("239.1.2.3:5000").port().get(), 5000);
        assert_eq!(g("ff02::1").addr(), "ff02::1".parse::<IpAddr>().unwrap());
        assert_eq!(g("ff02::1").port(), Port::DEFAULT);
        assert_eq!(
            g("[ff05::4a14:1e]:6000").to_string(),
            "[ff05::4a14:1e]:6000"
        );
        assert_eq!(g("[ff05::1]").port(), Port::DEFAULT);
        assert_eq!(g(" 239.1.2.3:65535 ").port().get(), 65535);
        // Broadcast addresses parse; whether they are allowed is the builder's call.
        assert!(!g("198.18.1.255").is_multicast());
    }

    #[test]
    fn scopes() {
        assert_eq!(g("ff02::1").scope_v6(), Some(2));
        assert_eq!(g("ff05::1").scope_v6(), Some(5));
        assert_eq!(g("ff0e::1").scope_v6(), Some(14));
        assert_eq!(g("239.1.1.1").scope_v6(), None);
    }

    #[test]
    fn errors_name_the_value_and_the_forms() {
        for (input, needle) in [
            ("239.1.2.3:0", "port 0 is out of range"),
            ("239.1.2.3:65536", "port 65536 is out of range"),
            ("239.1.2.3:99999999999999999999", "is not a number"),
            ("239.1.2.3:x", "port 'x' is not a number"),
            ("239.1.2.3:+5", "port '+5' is not a number"),
            ("nope", "'nope' is not an IP address"),
            ("[ff02::1", "missing ']'"),
            ("[ff02::1]x", "unexpected 'x'"),
            (":5000", "the address is missing"),
            ("", "the address is missing"),
            ("239.1.2.300", "is not an IP address"),
        ] {
            let e = input.parse::<Group>().unwrap_err().to_string();
            assert!(e.contains(needle), "{input}: {e}");
            assert!(e.contains("ADDR:PORT"), "{e}");
        }
    }
}
