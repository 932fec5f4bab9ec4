//! Which received datagrams a [`Receiver`](crate::Receiver) keeps: those
//! that arrived on its interface, from its source (SSM), to one of its
//! groups, and, for a broadcast receiver, to a broadcast address. Where the
//! kernel filters (`IP_MULTICAST_ALL` off, source-specific joins) these
//! checks pass; where it cannot, they are what keeps other traffic out.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::group::Group;

/// Why a datagram was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dropped {
    /// It arrived on the interface of this index.
    OtherInterface(u32),
    /// It came from another source than the one asked for.
    OtherSource(IpAddr),
    /// It was sent to an address that is none of the groups.
    OtherGroup(IpAddr),
    /// A broadcast receiver got it, but it was not sent to a broadcast address.
    NotBroadcast(Ipv4Addr),
}

/// The checks of one receiver.
#[derive(Debug, Clone)]
pub(super) struct Filter {
    ifindex: u32,
    source: Option<IpAddr>,
    /// Where each group's address is in the receiver's list, when there
    /// are several.
    index: HashMap<IpAddr, usize>,
    /// The addresses a broadcast receiver takes (empty otherwise).
    broadcast: Vec<Ipv4Addr>,
}

impl Filter {
    /// The checks for `groups` on the interface of index `ifindex`, from
    /// `source` if given; `broadcast` when the (first) group is a broadcast
    /// address, which then also takes 255.255.255.255.
    pub(super) fn new(
        groups: &[Group],
        ifindex: u32,
        source: Option<IpAddr>,
        broadcast: bool,
    ) -> Filter {
        let index = if groups.len() > 1 {
            groups
                .iter()
                .enumerate()
                .map(|(i, g)| (g.addr(), i))
                .collect()
        } else {
            HashMap::new()
        };
        let broadcast = match groups.first().map(Group::addr) {
            Some(IpAddr::V4(b)) if broadcast => vec![b, Ipv4Addr::BROADCAST],
            _ => Vec::new(),
        };
        Filter {
            ifindex,
            source,
            index,
            broadcast,
        }
    }

    /// The source asked for (SSM), if any.
    pub(super) fn source(&self) -> Option<IpAddr> {
        self.source
    }

    /// Where the group sent to `destination` is in the receiver's list,
    /// when it has several groups.
    pub(super) fn group_index(&self, destination: IpAddr) -> Option<usize> {
        self.index.get(&destination).copied()
    }

    /// Whether to keep a datagram from `source` that arrived on `ifindex`
    /// for `destination` (each `None` where the system does not say, which
    /// passes that check).
    pub(super) fn check(
        &self,
        source: SocketAddr,
        ifindex: Option<u32>,
        destination: Option<IpAddr>,
    ) -> Result<(), Dropped> {
        if let Some(i) = ifindex.filter(|i| *i != self.ifindex) {
            return Err(Dropped::OtherInterface(i));
        }
        if self.source.is_some_and(|want| source.ip() != want) {
            return Err(Dropped::OtherSource(source.ip()));
        }
        if let Some(dst) = destination {
            if !self.index.is_empty() && !self.index.contains_key(&dst) {
                return Err(Dropped::OtherGroup(dst));
            }
            if let IpAddr::V4(d) = dst {
                if !self.broadcast.is_empty() && !self.broadcast.contains(&d) {
                    return Err(Dropped::NotBroadcast(d));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(s: &str) -> Group {
        s.parse().unwrap()
    }

    fn from(s: &str) -> SocketAddr {
        SocketAddr::new(s.parse().unwrap(), 40_000)
    }

    #[test]
    fn interface_and_source_are_checked() {
        let f = Filter::new(
            &[g("239.1.2.3:5000")],
            3,
            Some("10.0.0.9".parse().unwrap()),
            false,
        );
        let dst = Some("239.1.2.3".parse().unwrap());
        assert_eq!(f.check(from("10.0.0.9"), Some(3), dst), Ok(()));
        assert_eq!(f.check(from("10.0.0.9"), None, None), Ok(()));
        assert_eq!(
            f.check(from("10.0.0.9"), Some(4), dst),
            Err(Dropped::OtherInterface(4))
        );
        assert_eq!(
            f.check(from("10.0.0.8"), Some(3), dst),
            Err(Dropped::OtherSource("10.0.0.8".parse().unwrap()))
        );
    }

    #[test]
    fn several_groups_keep_only_theirs() {
        let f = Filter::new(&[g("239.1.2.3:5000"), g("239.1.2.4:5000")], 1, None, false);
        let to = |s: &str| Some(s.parse().unwrap());
        assert_eq!(f.check(from("10.0.0.1"), Some(1), to("239.1.2.4")), Ok(()));
        assert_eq!(f.group_index("239.1.2.4".parse().unwrap()), Some(1));
        assert_eq!(
            f.check(from("10.0.0.1"), Some(1), to("239.9.9.9")),
            Err(Dropped::OtherGroup("239.9.9.9".parse().unwrap()))
        );
        // One group: the bind address already filters, the destination is not checked.
        let one = Filter::new(&[g("239.1.2.3:5000")], 1, None, false);
        assert_eq!(
            one.check(from("10.0.0.1"), Some(1), to("239.9.9.9")),
            Ok(())
        );
        assert_eq!(one.group_index("239.1.2.3".parse().unwrap()), None);
    }

    #[test]
    fn a_broadcast_receiver_takes_broadcasts_only() {
        let f = Filter::new(&[g("192.168.1.255:5000")], 2, None, true);
        let to = |s: &str| Some(s.parse().unwrap());
        assert_eq!(
            f.check(from("192.168.1.7"), Some(2), to("192.168.1.255")),
            Ok(())
        );
        assert_eq!(
            f.check(from("192.168.1.7"), Some(2), to("255.255.255.255")),
            Ok(())
        );
        assert_eq!(
            f.check(from("192.168.1.7"), Some(2), to("192.168.1.8")),
            Err(Dropped::NotBroadcast("192.168.1.8".parse().unwrap()))
        );
    }
}
