//! The receive path's system calls: `recvmsg(2)` and `recvmmsg(2)` with the
//! ancillary data mcast asks for (`IP_PKTINFO`/`IPV6_PKTINFO`: the interface
//! and the destination; `SO_TIMESTAMPNS`: the kernel's arrival time;
//! `SO_RXQ_OVFL`: datagrams the kernel dropped for this socket).
//!
//! The control messages are read by [`crate::cmsg`]. Written against libc
//! directly, because the batch API must reset every
//! header before each call (the kernel shrinks `msg_controllen` and
//! `msg_namelen` to what it used), and must not allocate per datagram.
//! Linux and Android only.

use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

use nix::libc;

use crate::cmsg::{self, Message};
use crate::mmsg;

/// Room for the control messages of one datagram: a pktinfo (the IPv6 one is
/// the larger), a timespec and a drop counter, each with its header, and
/// slack. In u64 words, so the buffer is aligned for `cmsghdr`.
const CMSG_WORDS: usize = 16;

/// What the kernel said about one datagram besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    /// The sender's address and port.
    pub(crate) source: SocketAddr,
    /// The index of the interface it arrived on.
    pub(crate) ifindex: Option<u32>,
    /// The destination address (the group).
    pub(crate) destination: Option<IpAddr>,
    /// The kernel's receive time, ns since the Unix epoch.
    pub(crate) kernel_time_ns: Option<u64>,
    /// The socket's cumulative drop counter (`SO_RXQ_OVFL`), when nonzero.
    pub(crate) drops: Option<u32>,
    /// The real size of the datagram (larger than the buffer when truncated).
    pub(crate) size: usize,
}

fn source_of(storage: &libc::sockaddr_storage) -> SocketAddr {
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, and
            // sockaddr_storage is large enough and aligned for it.
            let sin =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            ))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            ))
        }
        _ => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
    }
}

/// Reads the control messages of a received `msghdr`.
///
/// # Safety
/// `hdr` must be a header the kernel just filled: its control pointer and
/// length describe a valid buffer.
unsafe fn parse(hdr: &libc::msghdr, storage: &libc::sockaddr_storage, size: usize) -> Meta {
    let mut meta = Meta {
        source: source_of(storage),
        ifindex: None,
        destination: None,
        kernel_time_ns: None,
        drops: None,
        size,
    };
    // SAFETY: the caller guarantees the kernel just filled `hdr`.
    for msg in unsafe { cmsg::Iter::new(hdr) }.filter_map(cmsg::parse) {
        match msg {
            Message::PacketInfo {
                ifindex,
                destination,
            } => {
                meta.ifindex = ifindex;
                meta.destination = Some(destination);
            }
            Message::TimestampNs(t) => meta.kernel_time_ns = t,
            Message::Drops(n) => meta.drops = Some(n),
        }
    }
    meta
}

fn name_of(storage: &mut libc::sockaddr_storage) -> (*mut libc::c_void, libc::socklen_t) {
    (
        (storage as *mut libc::sockaddr_storage).cast(),
        mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
    )
}

/// One `recvmsg(2)` with `MSG_TRUNC | MSG_DONTWAIT`.
pub(crate) fn recv_one(fd: RawFd, buf: &mut [u8]) -> io::Result<Meta> {
    // SAFETY: plain data; all-zero is valid.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let mut cmsg = [0u64; CMSG_WORDS];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let (name, name_len) = name_of(&mut storage);
    let mut hdr = mmsg::msghdr(name, name_len, &mut iov, Some(&mut cmsg));
    // SAFETY: every pointer in `hdr` points to a live buffer of the stated
    // length for the duration of the call.
    let n = unsafe { libc::recvmsg(fd, &mut hdr, libc::MSG_TRUNC | libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just filled `hdr`.
    Ok(unsafe { parse(&hdr, &storage, n as usize) })
}

/// Buffers for receiving many datagrams with one `recvmmsg(2)` call, reused
/// from call to call: no allocation on the receive path.
///
/// Each slot holds a whole datagram (64 KiB), so nothing is ever cut; the
/// pages of a slot are only touched as far as datagrams fill them, so small
/// datagrams keep the resident memory small.
pub struct RecvBatch {
    buf: Vec<u8>,
    slot: usize,
    hdrs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    names: Vec<libc::sockaddr_storage>,
    cmsgs: Vec<[u64; CMSG_WORDS]>,
    pub(crate) metas: Vec<Meta>,
    pub(crate) kept: Vec<(usize, crate::Datagram)>,
}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("capacity", &self.hdrs.len())
            .field("slot", &self.slot)
            .field("kept", &self.kept.len())
            .finish()
    }
}

impl RecvBatch {
    /// Room for `count` datagrams (at least 1) of any size.
    pub fn new(count: usize) -> RecvBatch {
        let count = count.max(1);
        let slot = 65_536;
        let (hdrs, iovs) = mmsg::arrays(count);
        RecvBatch {
            buf: vec![0u8; count * slot],
            slot,
            hdrs,
            iovs,
            // SAFETY: plain data; all-zero is valid.
            names: (0..count).map(|_| unsafe { mem::zeroed() }).collect(),
            cmsgs: vec![[0u64; CMSG_WORDS]; count],
            metas: Vec::with_capacity(count),
            kept: Vec::with_capacity(count),
        }
    }

    /// How many datagrams one call can take.
    pub fn capacity(&self) -> usize {
        self.hdrs.len()
    }

    /// The datagrams kept by the last [`Receiver::recv_batch`](crate::Receiver::recv_batch),
    /// each with its bytes (at most 64 KiB: a whole UDP datagram).
    pub fn iter(&self) -> impl Iterator<Item = (&crate::Datagram, &[u8])> {
        self.kept.iter().map(move |(i, d)| {
            let start = i * self.slot;
            (d, &self.buf[start..start + d.len()])
        })
    }

    /// How many datagrams the last call kept.
    pub fn len(&self) -> usize {
        self.kept.len()
    }

    /// How many datagrams the last call read, the filtered ones included:
    /// 0 means the socket had nothing waiting.
    pub fn received(&self) -> usize {
        self.metas.len()
    }

    /// Whether the last call kept none.
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// Forgets what the last call read.
    pub(crate) fn clear(&mut self) {
        self.metas.clear();
        self.kept.clear();
    }

    pub(crate) fn slot(&self) -> usize {
        self.slot
    }

    /// One `recvmmsg(2)` with `MSG_TRUNC` and either `MSG_DONTWAIT` or, with
    /// `wait`, `MSG_WAITFORONE` (block until the first datagram, then take
    /// what is there); fills `metas`.
    pub(crate) fn receive(&mut self, fd: RawFd, wait: bool) -> io::Result<usize> {
        self.metas.clear();
        let base = self.buf.as_mut_ptr();
        for i in 0..self.hdrs.len() {
            // Every field the kernel may have changed is set again.
            self.iovs[i] = libc::iovec {
                // SAFETY: i * slot is within `buf` (count * slot bytes).
                iov_base: unsafe { base.add(i * self.slot) }.cast(),
                iov_len: self.slot,
            };
            let (name, name_len) = name_of(&mut self.names[i]);
            let hdr = mmsg::msghdr(name, name_len, &mut self.iovs[i], Some(&mut self.cmsgs[i]));
            self.hdrs[i].msg_hdr = hdr;
            self.hdrs[i].msg_len = 0;
        }
        // SAFETY: every header points to live buffers owned by `self`, of the
        // stated lengths, for the duration of the call; the count is the
        // number of headers.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                self.hdrs.len() as _,
                (libc::MSG_TRUNC
                    | if wait {
                        libc::MSG_WAITFORONE
                    } else {
                        libc::MSG_DONTWAIT
                    }) as _,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for i in 0..n {
            let size = self.hdrs[i].msg_len as usize;
            // SAFETY: the kernel filled the first `n` headers.
            let meta = unsafe { parse(&self.hdrs[i].msg_hdr, &self.names[i], size) };
            self.metas.push(meta);
        }
        Ok(n)
    }
}
