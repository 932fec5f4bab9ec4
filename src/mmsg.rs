//! The arrays a batch system call (`recvmmsg(2)`, `sendmmsg(2)`) hands the
//! kernel, shared by [`RecvBatch`](crate::sys::RecvBatch) and
//! [`SendBatch`](crate::sys::SendBatch): allocated once, and each header set
//! again before every call, because the kernel shrinks the lengths it used.
//! Linux and Android only.

use std::mem;
use std::ptr;

use nix::libc;

/// `count` zeroed `mmsghdr`s and as many empty `iovec`s.
pub(crate) fn arrays(count: usize) -> (Vec<libc::mmsghdr>, Vec<libc::iovec>) {
    let hdrs = (0..count)
        // SAFETY: plain data; all-zero is valid.
        .map(|_| unsafe { mem::zeroed() })
        .collect();
    let iovs = (0..count)
        .map(|_| libc::iovec {
            iov_base: ptr::null_mut(),
            iov_len: 0,
        })
        .collect();
    (hdrs, iovs)
}

/// A `msghdr` of one buffer `iov`, with the address buffer `name` of
/// `name_len` bytes (null and 0 for none) and the control buffer `control`
/// (`None` for none).
pub(crate) fn msghdr(
    name: *mut libc::c_void,
    name_len: libc::socklen_t,
    iov: &mut libc::iovec,
    control: Option<&mut [u64]>,
) -> libc::msghdr {
    // SAFETY: msghdr is plain data (pointers and lengths); all-zero is valid
    // and covers the padding fields some libcs (musl) have.
    let mut hdr: libc::msghdr = unsafe { mem::zeroed() };
    hdr.msg_name = name;
    hdr.msg_namelen = name_len;
    hdr.msg_iov = iov;
    hdr.msg_iovlen = 1;
    if let Some(c) = control {
        hdr.msg_controllen = mem::size_of_val(c) as _;
        hdr.msg_control = c.as_mut_ptr().cast();
    }
    hdr
}
