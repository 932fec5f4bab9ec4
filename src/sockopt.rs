//! Socket options that socket2 does not cover, and how to tell "this system
//! does not have that option" from a real failure.
//!
//! Linux and Android only: the structures are the Linux ones (`ip_mreqn`,
//! `group_source_req`), which bionic shares.

use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;

use nix::libc;
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};

/// Whether `err` means "this option is not available here, use the fallback"
/// rather than "this failed". ENOPROTOOPT and EOPNOTSUPP are what kernels and
/// emulators (qemu-user) return for options they lack. ENODEV is what qemu-user
/// 7.2 returns on aarch64 for an `ip_mreqn` it copies wrongly; the fallback
/// then either works or fails with the real reason.
pub(crate) fn is_unsupported(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::ENOPROTOOPT | libc::EOPNOTSUPP | libc::ENOSYS)
    )
}

/// Like [`is_unsupported`], and ENODEV/EINVAL too: for `ip_mreqn` joins,
/// which qemu-user mis-copies.
pub(crate) fn is_unsupported_mreqn(err: &io::Error) -> bool {
    is_unsupported(err) || matches!(err.raw_os_error(), Some(libc::ENODEV | libc::EINVAL))
}

fn setsockopt<T>(
    socket: &Socket,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(mem::size_of::<T>())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `value` is a valid, initialised `T` of `len` bytes that outlives
    // the call, and the fd is owned by `socket`.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (value as *const T).cast::<libc::c_void>(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `IP_MULTICAST_IF` with an `ip_mreqn` that names the interface by index,
/// which is exact even when two interfaces share an address.
/// See [ip(7)](https://man7.org/linux/man-pages/man7/ip.7.html).
pub(crate) fn set_multicast_if_v4_index(socket: &Socket, index: u32) -> io::Result<()> {
    let mreqn = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr { s_addr: 0 },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: libc::c_int::try_from(index)
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?,
    };
    setsockopt(socket, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &mreqn)
}

fn storage_of(addr: IpAddr) -> libc::sockaddr_storage {
    // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    match addr {
        IpAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.octets()),
                },
                // SAFETY: plain data, all-zero is valid.
                ..unsafe { mem::zeroed() }
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe {
                (&mut storage as *mut libc::sockaddr_storage)
                    .cast::<libc::sockaddr_in>()
                    .write(sin)
            };
        }
        IpAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: a.octets(),
                },
                sin6_scope_id: 0,
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe {
                (&mut storage as *mut libc::sockaddr_storage)
                    .cast::<libc::sockaddr_in6>()
                    .write(sin6)
            };
        }
    }
    storage
}

/// Whether an `ip_mreqn` join reaches the interface it names, tried on a
/// throwaway socket: it joins `group` by `index`, then leaves by the
/// interface's address `addr`, which works only if the join went there.
/// qemu-user copies 8 of the 12 bytes of an `ip_mreqn` on 64-bit targets and
/// leaves the index to whatever its stack held: the join then fails
/// (ENODEV), or succeeds on another interface, and nothing arrives.
pub(crate) fn mreqn_reaches(group: Ipv4Addr, index: u32, addr: Ipv4Addr) -> bool {
    let Ok(s) = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)) else {
        return true;
    };
    if s.join_multicast_v4_n(&group, &InterfaceIndexOrAddress::Index(index))
        .is_err()
    {
        // The join itself reports the failure, and falls back.
        return true;
    }
    match s.leave_multicast_v4(&group, &addr) {
        Ok(()) => true,
        Err(e) => {
            log::debug!(
                "an ip_mreqn join by index {index} did not reach the interface of {addr} ({e}): \
                 joining with ip_mreq"
            );
            false
        }
    }
}

/// `IP_MULTICAST_ALL` (Linux ≥ 2.6.31). bionic's libc headers lack the
/// constant, but Android kernels are Linux and have the option.
const IP_MULTICAST_ALL: libc::c_int = 49;
/// `IPV6_MULTICAST_ALL` (Linux ≥ 4.20).
const IPV6_MULTICAST_ALL: libc::c_int = 29;

/// Turns `IP_MULTICAST_ALL` / `IPV6_MULTICAST_ALL` on or off. When on (the
/// Linux default), a socket bound to a port receives every group any socket
/// of the host joined on that port; off, only the groups it joined itself.
pub(crate) fn set_multicast_all(socket: &Socket, v6: bool, on: bool) -> io::Result<()> {
    let value = libc::c_int::from(on);
    if v6 {
        setsockopt(socket, libc::IPPROTO_IPV6, IPV6_MULTICAST_ALL, &value)
    } else {
        setsockopt(socket, libc::IPPROTO_IP, IP_MULTICAST_ALL, &value)
    }
}

/// `UDP_SEGMENT` (Linux ≥ 4.18): generic segmentation offload for UDP.
const UDP_SEGMENT: libc::c_int = 103;

/// Turns UDP segmentation offload on with segments of `size` bytes: one
/// `send(2)` of up to 64 equal datagrams laid end to end leaves as that
/// many datagrams, but goes down the stack once.
pub(crate) fn set_udp_segment(socket: &Socket, size: u16) -> io::Result<()> {
    let value = libc::c_int::from(size);
    setsockopt(socket, libc::SOL_UDP, UDP_SEGMENT, &value)
}

/// `MCAST_JOIN_SOURCE_GROUP` / `MCAST_LEAVE_SOURCE_GROUP` (RFC 3678): a
/// source-specific membership on an interface given by index, for IPv4 and
/// IPv6 alike.
pub(crate) fn source_group(
    socket: &Socket,
    join: bool,
    index: u32,
    group: IpAddr,
    source: IpAddr,
) -> io::Result<()> {
    let req = libc::group_source_req {
        gsr_interface: index,
        gsr_group: storage_of(group),
        gsr_source: storage_of(source),
    };
    let level = match group {
        IpAddr::V4(_) => libc::IPPROTO_IP,
        IpAddr::V6(_) => libc::IPPROTO_IPV6,
    };
    let name = if join {
        libc::MCAST_JOIN_SOURCE_GROUP
    } else {
        libc::MCAST_LEAVE_SOURCE_GROUP
    };
    setsockopt(socket, level, name, &req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::{Domain, Protocol, Type};

    #[test]
    fn unsupported_errors() {
        assert!(is_unsupported(&io::Error::from_raw_os_error(
            libc::ENOPROTOOPT
        )));
        assert!(!is_unsupported(&io::Error::from_raw_os_error(libc::EPERM)));
        assert!(is_unsupported_mreqn(&io::Error::from_raw_os_error(
            libc::ENODEV
        )));
    }

    #[test]
    fn multicast_if_by_index_on_a_real_socket() {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        // Index 1 is loopback in every network namespace.
        match set_multicast_if_v4_index(&s, 1) {
            Ok(()) => {}
            // Emulators without the option are what the fallback is for.
            Err(e) if is_unsupported(&e) => {}
            Err(e) => panic!("{e}"),
        }
        // Linux answers EADDRNOTAVAIL for an index that names no interface.
        let e = set_multicast_if_v4_index(&s, 999_999).unwrap_err();
        assert!(
            matches!(
                e.raw_os_error(),
                Some(libc::EADDRNOTAVAIL | libc::ENODEV | libc::ENOPROTOOPT)
            ),
            "{e}"
        );
    }
}
