//! The socket options socket2 does not have, set through one pair of
//! functions ([`set`] and [`get`]) that retry `EINTR` once and sort
//! "this system does not have that option" ([`is_unsupported`]) from a
//! real failure (callers match it and fall back, as quinn-udp's
//! `set_socket_option_supported` does): `IP_PKTINFO`/`IPV6_RECVPKTINFO`, `SO_TIMESTAMPNS`,
//! `SO_RXQ_OVFL`, `SO_RCVBUFFORCE`, `IP(V6)_MULTICAST_ALL` (socket2 has it
//! on Linux only, not Android), `UDP_SEGMENT`, `IP_MULTICAST_IF` with an
//! `ip_mreqn`, and `MCAST_JOIN_SOURCE_GROUP`. Options socket2 has are set
//! with socket2.
//!
//! Linux and Android only: the structures are the Linux ones (`ip_mreqn`,
//! `group_source_req`), which bionic shares.

use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;

use nix::libc;
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};

use mcast_platform::Family;

/// Whether `err` means "this option is not available here, use the fallback"
/// rather than "this failed". ENOPROTOOPT and EOPNOTSUPP are what kernels and
/// emulators (qemu-user) return for options they lack, ENOSYS what some
/// emulators return for calls they lack.
pub(crate) fn is_unsupported(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::ENOPROTOOPT | libc::EOPNOTSUPP | libc::ENOSYS)
    )
}

/// Like [`is_unsupported`], and ENODEV/EINVAL too: for `ip_mreqn` joins,
/// which qemu-user 7.2 mis-copies on aarch64; the fallback then either
/// works or fails with the real reason.
pub(crate) fn is_unsupported_mreqn(err: &io::Error) -> bool {
    is_unsupported(err) || matches!(err.raw_os_error(), Some(libc::ENODEV | libc::EINVAL))
}

/// Runs `f` again once if a signal interrupted it (`EINTR`), as quinn-udp's
/// `retry_if_interrupted` does: a signal during a socket call is not its
/// failure.
pub(crate) fn retry_if_interrupted<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    match f() {
        Err(e) if e.kind() == io::ErrorKind::Interrupted => f(),
        other => other,
    }
}

fn len_of<T>() -> io::Result<libc::socklen_t> {
    libc::socklen_t::try_from(mem::size_of::<T>())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// `setsockopt(2)` of one plain-data value, `EINTR` retried once.
fn set<T: Copy>(
    socket: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    let len = len_of::<T>()?;
    retry_if_interrupted(|| {
        // SAFETY: `value` is a valid, initialised `T` of `len` bytes that
        // outlives the call, and the fd is borrowed from a live socket.
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
    })
}

/// `getsockopt(2)` of one `int`, `EINTR` retried once.
fn get_int(socket: &impl AsRawFd, level: libc::c_int, name: libc::c_int) -> io::Result<i32> {
    retry_if_interrupted(|| {
        let mut value: libc::c_int = 0;
        let mut len = len_of::<libc::c_int>()?;
        // SAFETY: `value` and `len` are valid for writes for the whole call,
        // and `len` holds the size of `value`.
        let rc = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                level,
                name,
                (&mut value as *mut libc::c_int).cast::<libc::c_void>(),
                &mut len,
            )
        };
        if rc == 0 {
            Ok(value)
        } else {
            Err(io::Error::last_os_error())
        }
    })
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
    set(socket, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &mreqn)
}

/// `IP_PKTINFO` / `IPV6_RECVPKTINFO`: each datagram comes with the interface
/// it arrived on and its destination (the group).
/// See [ip(7)](https://man7.org/linux/man-pages/man7/ip.7.html), [ipv6(7)](https://man7.org/linux/man-pages/man7/ipv6.7.html).
pub(crate) fn set_recv_pktinfo(socket: &Socket, v6: bool) -> io::Result<()> {
    if v6 {
        set(socket, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, &1)
    } else {
        set(socket, libc::IPPROTO_IP, libc::IP_PKTINFO, &1)
    }
}

/// `SO_TIMESTAMPNS`: each datagram comes with the kernel's receive time.
/// See [socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html).
pub(crate) fn set_timestamp_ns(socket: &Socket) -> io::Result<()> {
    set(socket, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, &1)
}

/// `SO_RXQ_OVFL`: each datagram comes with the socket's drop counter.
/// See [socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html).
pub(crate) fn set_rxq_ovfl(socket: &Socket) -> io::Result<()> {
    set(socket, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, &1)
}

/// `SO_RCVBUFFORCE`: a receive buffer beyond `net.core.rmem_max`, for a
/// process with CAP_NET_ADMIN.
/// See [socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html).
pub(crate) fn set_recv_buffer_force(socket: &Socket, bytes: usize) -> io::Result<()> {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    set(socket, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &value)
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

fn multicast_all_option(v6: bool) -> (libc::c_int, libc::c_int) {
    if v6 {
        (libc::IPPROTO_IPV6, IPV6_MULTICAST_ALL)
    } else {
        (libc::IPPROTO_IP, IP_MULTICAST_ALL)
    }
}

/// Turns `IP_MULTICAST_ALL` / `IPV6_MULTICAST_ALL` on or off. When on (the
/// Linux default), a socket bound to a port receives every group any socket
/// of the host joined on that port; off, only the groups it joined itself.
pub(crate) fn set_multicast_all(socket: &Socket, v6: bool, on: bool) -> io::Result<()> {
    let (level, name) = multicast_all_option(v6);
    set(socket, level, name, &libc::c_int::from(on))
}

/// Whether a new UDP socket of `family` gets `IP_MULTICAST_ALL` (IPv4) or
/// `IPV6_MULTICAST_ALL` (IPv6) on, as Linux's default is: a socket bound to
/// a group's port then also receives the groups other sockets of the host
/// joined. mcast turns it off for its own receivers.
///
/// Linux and Android only; see
/// [ip(7)](https://man7.org/linux/man-pages/man7/ip.7.html).
///
/// # Errors
/// The error of `socket(2)` or `getsockopt(2)`: ENOPROTOOPT where the
/// kernel or an emulator (qemu-user) lacks the option.
pub fn multicast_all_default(family: Family) -> io::Result<bool> {
    let v6 = family == Family::V6;
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    let (level, name) = multicast_all_option(v6);
    get_int(&socket, level, name).map(|v| v != 0)
}

/// `UDP_SEGMENT` (Linux ≥ 4.18): generic segmentation offload for UDP.
const UDP_SEGMENT: libc::c_int = 103;

/// Turns UDP segmentation offload on with segments of `size` bytes: one
/// `send(2)` of up to 64 equal datagrams laid end to end leaves as that
/// many datagrams, but goes down the stack once.
/// See [udp(7)](https://man7.org/linux/man-pages/man7/udp.7.html).
pub(crate) fn set_udp_segment(socket: &Socket, size: u16) -> io::Result<()> {
    set(socket, libc::SOL_UDP, UDP_SEGMENT, &libc::c_int::from(size))
}

fn storage_of(addr: IpAddr) -> libc::sockaddr_storage {
    let mut storage = SockAddr::from(std::net::SocketAddr::new(addr, 0)).as_storage();
    // SAFETY: socket2's storage is a transparent wrapper of sockaddr_storage.
    unsafe { *storage.view_as::<libc::sockaddr_storage>() }
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
    set(socket, level, name, &req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_errors() {
        let e = io::Error::from_raw_os_error;
        assert!(is_unsupported(&e(libc::ENOPROTOOPT)));
        assert!(!is_unsupported(&e(libc::EPERM)));
        assert!(is_unsupported_mreqn(&e(libc::ENODEV)));
        assert!(is_unsupported(&e(libc::EOPNOTSUPP)));
    }

    #[test]
    fn an_interrupted_call_is_tried_once_more() {
        let mut calls = 0;
        let r = retry_if_interrupted(|| {
            calls += 1;
            Err::<(), _>(io::Error::from_raw_os_error(libc::EINTR))
        });
        assert_eq!(calls, 2);
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::Interrupted);
        let mut calls = 0;
        retry_if_interrupted(|| {
            calls += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(calls, 1);
    }

    #[test]
    fn source_group_addresses_keep_their_family_and_bytes() {
        let s = storage_of("192.0.2.1".parse().unwrap());
        assert_eq!(i32::from(s.ss_family), libc::AF_INET);
        let s = storage_of("ff05::1".parse().unwrap());
        assert_eq!(i32::from(s.ss_family), libc::AF_INET6);
    }

    #[test]
    fn multicast_all_is_readable_or_unsupported() {
        // On Linux the default is on; under qemu-user the option is missing.
        match multicast_all_default(Family::V4) {
            Ok(v) => assert!(v),
            Err(e) => assert!(is_unsupported(&e), "{e}"),
        }
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
