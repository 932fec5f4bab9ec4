//! Interface enumeration on Linux and Android, through `getifaddrs(3)`.
//!
//! `getifaddrs` returns one entry per address plus one `AF_PACKET` entry per
//! interface (which carries the index), so interfaces without any IP address
//! are listed too. Bionic has it from API level 24.

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;

use nix::ifaddrs::getifaddrs;
use nix::net::if_::{if_nametoindex, InterfaceFlags};
use nix::sys::socket::SockaddrStorage;

use crate::interface::{Address, Flags, Interface, InterfaceIndex};

pub(crate) fn interfaces() -> io::Result<Vec<Interface>> {
    let entries: Vec<_> = getifaddrs().map_err(io::Error::from)?.collect();
    let mut by_index: BTreeMap<u32, Interface> = BTreeMap::new();
    let mut index_of: BTreeMap<String, u32> = BTreeMap::new();

    // First the link entries: every interface, with its index and flags.
    for e in &entries {
        if let Some(link) = e.address.as_ref().and_then(SockaddrStorage::as_link_addr) {
            let Some(index) = u32::try_from(link.ifindex())
                .ok()
                .and_then(InterfaceIndex::new)
            else {
                continue;
            };
            index_of.insert(e.interface_name.clone(), index.get());
            by_index
                .entry(index.get())
                .or_insert_with(|| Interface::new(index, e.interface_name.clone(), flags(e.flags)));
        }
    }

    // Then the addresses. IPv4 entries carry the address label (`eth0:1`),
    // which names no interface: map it back to the device.
    for e in &entries {
        let Some(addr) = e.address.as_ref().and_then(ip_of) else {
            continue;
        };
        let dev = e
            .interface_name
            .split(':')
            .next()
            .unwrap_or(&e.interface_name);
        let index = match index_of.get(dev) {
            Some(i) => *i,
            None => match if_nametoindex(dev) {
                Ok(i) => i,
                // Gone between the two calls: skip it.
                Err(_) => continue,
            },
        };
        let Some(idx) = InterfaceIndex::new(index) else {
            continue;
        };
        let prefix_len = e.netmask.as_ref().and_then(ip_of).map_or(
            match addr {
                IpAddr::V4(_) => 32,
                IpAddr::V6(_) => 128,
            },
            prefix_len,
        );
        let mut address = Address::new(addr, prefix_len);
        // glibc fills the broadcast slot with the address itself when the
        // address has no broadcast configured (`ip addr add` without `brd`);
        // that is no broadcast address at all.
        if let Some(IpAddr::V4(b)) = e.broadcast.as_ref().and_then(ip_of) {
            if e.flags.contains(InterfaceFlags::IFF_BROADCAST)
                && IpAddr::V4(b) != addr
                && !b.is_unspecified()
            {
                address = address.with_broadcast(b);
            }
        }
        by_index
            .entry(index)
            .or_insert_with(|| Interface::new(idx, dev.to_owned(), flags(e.flags)))
            .push_address(address);
    }
    Ok(by_index.into_values().collect())
}

fn ip_of(s: &SockaddrStorage) -> Option<IpAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(IpAddr::V4(v4.ip()));
    }
    s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
}

fn prefix_len(mask: IpAddr) -> u8 {
    let ones = match mask {
        IpAddr::V4(m) => u32::from(m).count_ones(),
        IpAddr::V6(m) => u128::from(m).count_ones(),
    };
    // At most 128, so it fits.
    u8::try_from(ones).unwrap_or(u8::MAX)
}

fn flags(f: InterfaceFlags) -> Flags {
    let map = [
        (InterfaceFlags::IFF_UP, Flags::UP),
        (InterfaceFlags::IFF_RUNNING, Flags::RUNNING),
        (InterfaceFlags::IFF_MULTICAST, Flags::MULTICAST),
        (InterfaceFlags::IFF_BROADCAST, Flags::BROADCAST),
        (InterfaceFlags::IFF_LOOPBACK, Flags::LOOPBACK),
        (InterfaceFlags::IFF_POINTOPOINT, Flags::POINT_TO_POINT),
    ];
    map.iter()
        .filter(|(sys, _)| f.contains(*sys))
        .fold(Flags::NONE, |acc, (_, ours)| acc | *ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_loopback_with_its_address() {
        let list = interfaces().expect("getifaddrs");
        let lo = list
            .iter()
            .find(|i| i.is_loopback())
            .expect("a loopback interface");
        assert!(
            lo.addresses().iter().any(|a| a.ip().is_loopback()),
            "{lo:?}"
        );
        assert!(list.windows(2).all(|w| w[0].index() < w[1].index()));
    }

    #[test]
    fn prefix_lengths() {
        assert_eq!(prefix_len("255.255.255.0".parse().unwrap()), 24);
        assert_eq!(prefix_len("ffff:ffff:ffff:ffff::".parse().unwrap()), 64);
        assert_eq!(prefix_len("0.0.0.0".parse().unwrap()), 0);
    }
}
