//! One received datagram as the kernel described it.

use std::net::{IpAddr, SocketAddr};

use crate::recvmsg::Meta;

/// One received datagram; its bytes are in the buffer given to
/// [`Receiver::recv`](crate::Receiver::recv).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram {
    len: usize,
    size: usize,
    source: SocketAddr,
    ifindex: Option<u32>,
    destination: Option<IpAddr>,
    kernel_time_ns: Option<u64>,
}

impl Datagram {
    /// A datagram as the kernel described it, `len` bytes of it stored.
    pub(crate) fn from_meta(meta: &Meta, len: usize) -> Datagram {
        Datagram {
            len,
            size: meta.size,
            source: meta.source,
            ifindex: meta.ifindex,
            destination: meta.destination,
            kernel_time_ns: meta.kernel_time_ns,
        }
    }

    /// The number of bytes stored in the buffer.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the datagram was empty.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// The real size of the datagram on the wire (larger than [`len`](Self::len)
    /// when truncated).
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether the datagram was larger than the buffer (`MSG_TRUNC`).
    pub fn truncated(&self) -> bool {
        self.size > self.len
    }

    /// The sender's address and port.
    pub fn source(&self) -> SocketAddr {
        self.source
    }

    /// The index of the interface it arrived on, where the system reports it.
    pub fn interface_index(&self) -> Option<u32> {
        self.ifindex
    }

    /// When the kernel received it (`SO_TIMESTAMPNS`), in ns since the Unix
    /// epoch, where the system reports it: arrival times that do not include
    /// this program's scheduling.
    pub fn kernel_time_ns(&self) -> Option<u64> {
        self.kernel_time_ns
    }

    /// The destination address (the group), where the system reports it.
    pub fn destination(&self) -> Option<IpAddr> {
        self.destination
    }
}
