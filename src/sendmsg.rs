//! The send path's batch system call: `sendmmsg(2)`, which hands the kernel
//! many datagrams at once, so a fast sender spends its time in the network
//! stack rather than in system call entry and exit. Linux and Android only.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::libc;
use socket2::SockAddr;

use crate::mmsg;

/// Datagrams waiting to be sent with one `sendmmsg(2)` call, in buffers
/// reused from call to call.
pub struct SendBatch {
    buf: Vec<u8>,
    slot: usize,
    lens: Vec<usize>,
    hdrs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
}

impl std::fmt::Debug for SendBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendBatch")
            .field("capacity", &self.hdrs.len())
            .field("slot", &self.slot)
            .field("queued", &self.lens.len())
            .finish()
    }
}

impl SendBatch {
    /// Room for `count` datagrams (at least 1) of up to `slot` bytes each.
    pub fn new(count: usize, slot: usize) -> SendBatch {
        let count = count.max(1);
        let (hdrs, iovs) = mmsg::arrays(count);
        SendBatch {
            buf: vec![0u8; count * slot],
            slot,
            lens: Vec::with_capacity(count),
            hdrs,
            iovs,
        }
    }

    /// Reserves the next datagram, `len` bytes long, and returns its buffer to
    /// fill; `None` when the batch is full or `len` exceeds the slot size.
    pub fn next_slot(&mut self, len: usize) -> Option<&mut [u8]> {
        let i = self.lens.len();
        if i >= self.hdrs.len() || len > self.slot {
            return None;
        }
        self.lens.push(len);
        let start = i * self.slot;
        Some(&mut self.buf[start..start + len])
    }

    /// How many datagrams are queued.
    pub fn len(&self) -> usize {
        self.lens.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    /// Whether no more datagrams fit.
    pub fn is_full(&self) -> bool {
        self.lens.len() >= self.hdrs.len()
    }

    /// Forgets the queued datagrams.
    pub fn clear(&mut self) {
        self.lens.clear();
    }

    /// The queued datagrams `[from..]` as one contiguous buffer, when they
    /// all fill their slot (what UDP segmentation offload needs: equal
    /// segments laid end to end), at most `max` of them.
    pub(crate) fn contiguous(&self, from: usize, max: usize) -> Option<&[u8]> {
        let n = self.lens.len().saturating_sub(from).min(max);
        if n == 0 || self.lens[from..from + n].iter().any(|l| *l != self.slot) {
            return None;
        }
        Some(&self.buf[from * self.slot..(from + n) * self.slot])
    }

    /// The size of every slot.
    pub(crate) fn slot(&self) -> usize {
        self.slot
    }

    /// Sends the queued datagrams `[from..]` to `dest` (`None` on a
    /// connected socket) with one `sendmmsg(2)`; returns how many the kernel
    /// took (maybe fewer).
    pub(crate) fn send_from(
        &mut self,
        fd: BorrowedFd<'_>,
        from: usize,
        dest: Option<&SockAddr>,
    ) -> io::Result<usize> {
        let n = self.lens.len().saturating_sub(from);
        if n == 0 {
            return Ok(0);
        }
        let base = self.buf.as_mut_ptr();
        for k in 0..n {
            let i = from + k;
            self.iovs[k] = libc::iovec {
                // SAFETY: slot i lies within `buf` (capacity × slot bytes).
                iov_base: unsafe { base.add(i * self.slot) }.cast(),
                iov_len: self.lens[i],
            };
            // The kernel only reads the address of a send.
            let (name, name_len) = dest.map_or((std::ptr::null_mut(), 0), |d| {
                (d.as_ptr().cast_mut().cast(), d.len())
            });
            self.hdrs[k].msg_hdr = mmsg::msghdr(name, name_len, &mut self.iovs[k], None);
            self.hdrs[k].msg_len = 0;
        }
        // SAFETY: the first `n` headers point to live buffers owned by `self`
        // and to the caller's destination address, valid during the call.
        let sent =
            unsafe { libc::sendmmsg(fd.as_raw_fd(), self.hdrs.as_mut_ptr(), n as _, 0 as _) };
        if sent < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(sent as usize)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_fill_and_clear() {
        let mut b = SendBatch::new(2, 8);
        assert!(b.next_slot(9).is_none(), "larger than a slot");
        b.next_slot(3).unwrap().copy_from_slice(b"abc");
        b.next_slot(8).unwrap()[0] = 1;
        assert!(b.is_full() && b.next_slot(1).is_none());
        assert_eq!(b.len(), 2);
        b.clear();
        assert!(b.is_empty());
    }
}
