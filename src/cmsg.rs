//! The control messages of a received datagram, read with typed helpers
//! (after quinn-udp's `cmsg` module): an iterator over the headers the kernel
//! filled, and a decoder that turns each one mcast asks for into a
//! [`Message`]. The only raw pointer walking of the receive path is here.
//! Linux and Android only.

use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nix::libc;

/// One control message mcast understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Message {
    /// `IP_PKTINFO` / `IPV6_PKTINFO`: the arrival interface and the
    /// destination address.
    PacketInfo {
        /// The interface index (`None` if it does not fit).
        ifindex: Option<u32>,
        /// The destination (the group).
        destination: IpAddr,
    },
    /// `SCM_TIMESTAMPNS`: the kernel's receive time, ns since the Unix
    /// epoch (`None` before 1970).
    TimestampNs(Option<u64>),
    /// `SO_RXQ_OVFL`: the socket's cumulative drop counter.
    Drops(u32),
}

/// The control messages of a `msghdr` the kernel filled, in order.
pub(crate) struct Iter<'a> {
    hdr: &'a libc::msghdr,
    next: *const libc::cmsghdr,
}

impl<'a> Iter<'a> {
    /// # Safety
    /// `hdr` must be a header the kernel just filled: its control pointer
    /// and length describe a valid, initialised buffer that outlives `'a`.
    pub(crate) unsafe fn new(hdr: &'a libc::msghdr) -> Iter<'a> {
        Iter {
            hdr,
            // SAFETY: the caller guarantees the control buffer is valid;
            // CMSG_FIRSTHDR checks msg_controllen.
            next: unsafe { libc::CMSG_FIRSTHDR(hdr) },
        }
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a libc::cmsghdr;

    fn next(&mut self) -> Option<&'a libc::cmsghdr> {
        // SAFETY: `next` is null or a header inside the control buffer that
        // `Iter::new`'s caller vouched for; CMSG_NXTHDR stays within
        // msg_controllen.
        let current = unsafe { self.next.as_ref() }?;
        self.next = unsafe { libc::CMSG_NXTHDR(self.hdr, current) };
        Some(current)
    }
}

/// The payload of `cmsg` as a `T`, when the message is long enough to hold
/// one; read unaligned, since the kernel aligns only to `size_t`.
fn decode<T: Copy>(cmsg: &libc::cmsghdr) -> Option<T> {
    // SAFETY: CMSG_LEN is arithmetic on a size.
    let need = unsafe { libc::CMSG_LEN(mem::size_of::<T>() as _) } as usize;
    // size_t in glibc, socklen_t in musl.
    #[allow(clippy::unnecessary_cast)]
    if (cmsg.cmsg_len as usize) < need {
        return None;
    }
    // SAFETY: the header came from a valid control buffer (see `Iter`) and
    // its length covers a whole `T` after the header; `T` is plain data.
    Some(unsafe { libc::CMSG_DATA(cmsg).cast::<T>().read_unaligned() })
}

/// The message `cmsg` carries, if it is one mcast asks for.
pub(crate) fn parse(cmsg: &libc::cmsghdr) -> Option<Message> {
    match (cmsg.cmsg_level, cmsg.cmsg_type) {
        (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
            let p: libc::in_pktinfo = decode(cmsg)?;
            Some(Message::PacketInfo {
                ifindex: u32::try_from(p.ipi_ifindex).ok(),
                destination: IpAddr::V4(Ipv4Addr::from(u32::from_be(p.ipi_addr.s_addr))),
            })
        }
        (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
            let p: libc::in6_pktinfo = decode(cmsg)?;
            Some(Message::PacketInfo {
                // u32 in glibc, int in bionic.
                ifindex: u32::try_from(i64::from(p.ipi6_ifindex)).ok(),
                destination: IpAddr::V6(Ipv6Addr::from(p.ipi6_addr.s6_addr)),
            })
        }
        (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => {
            let t: libc::timespec = decode(cmsg)?;
            // time_t and c_long are i32 on 32-bit ARM.
            #[allow(clippy::useless_conversion)]
            let (s, ns) = (i64::from(t.tv_sec), i64::from(t.tv_nsec));
            Some(Message::TimestampNs(
                u64::try_from(s * 1_000_000_000 + ns).ok(),
            ))
        }
        (libc::SOL_SOCKET, libc::SO_RXQ_OVFL) => decode(cmsg).map(Message::Drops),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A control buffer holding one message of `level`/`kind` with `data`.
    fn one<T: Copy>(buf: &mut [u64; 16], level: i32, kind: i32, data: T) -> libc::msghdr {
        // SAFETY: plain data; all-zero is valid.
        let mut hdr: libc::msghdr = unsafe { mem::zeroed() };
        hdr.msg_control = buf.as_mut_ptr().cast();
        hdr.msg_controllen = mem::size_of_val(buf) as _;
        // SAFETY: the buffer is large and aligned enough for one header and
        // a `T`; the length is then cut to that one message.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&hdr);
            (*c).cmsg_level = level;
            (*c).cmsg_type = kind;
            #[allow(clippy::unnecessary_cast)]
            {
                (*c).cmsg_len = libc::CMSG_LEN(mem::size_of::<T>() as _) as _;
            }
            libc::CMSG_DATA(c).cast::<T>().write_unaligned(data);
            hdr.msg_controllen = libc::CMSG_SPACE(mem::size_of::<T>() as _) as _;
        }
        hdr
    }

    #[test]
    fn messages_decode_to_their_types() {
        let mut buf = [0u64; 16];
        let hdr = one(&mut buf, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 7u32);
        // SAFETY: `one` filled the buffer as the kernel would.
        let msgs: Vec<_> = unsafe { Iter::new(&hdr) }.filter_map(parse).collect();
        assert_eq!(msgs, [Message::Drops(7)]);
        let info = libc::in_pktinfo {
            ipi_ifindex: 3,
            ipi_spec_dst: libc::in_addr { s_addr: 0 },
            ipi_addr: libc::in_addr {
                s_addr: u32::from(Ipv4Addr::new(239, 1, 2, 3)).to_be(),
            },
        };
        let hdr = one(&mut buf, libc::IPPROTO_IP, libc::IP_PKTINFO, info);
        // SAFETY: as above.
        let msgs: Vec<_> = unsafe { Iter::new(&hdr) }.filter_map(parse).collect();
        assert_eq!(
            msgs,
            [Message::PacketInfo {
                ifindex: Some(3),
                destination: "239.1.2.3".parse().unwrap()
            }]
        );
        let hdr = one(&mut buf, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1u8);
        // SAFETY: as above; the message is too short for a u32.
        assert_eq!(unsafe { Iter::new(&hdr) }.filter_map(parse).count(), 0);
    }
}
