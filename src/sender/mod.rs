//! Sending to a group (or a broadcast address) through one chosen interface.
//!
//! [`builder`] configures and opens the socket, [`pin`] decides how it is
//! tied to the interface; this file sends, one datagram or a batch, and
//! receives the replies.

mod builder;
mod pin;

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;

use log::debug;
use mcast_platform::Interface;
use socket2::{SockAddr, Socket};

pub(crate) use builder::setters;
pub use builder::SenderBuilder;
pub use pin::Pin;

use crate::error::{Error, Operation};
use crate::sockopt;

/// Datagrams per send(2) with segmentation offload.
const GSO_SEGMENTS: usize = 16;

/// A UDP socket that sends to one group through one interface.
///
/// ```no_run
/// use mcast::{Group, Sender};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let list = mcast::interfaces()?;
/// let wlan = mcast::find(&list, "wlan0")?.clone();
/// let sender = Sender::builder(Group::default_group(), wlan).ttl(1).build()?;
/// let n = sender.send(b"hello world")?;
/// println!("Message sent ({n} bytes)");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Sender {
    socket: Socket,
    dest: SocketAddr,
    dest_sockaddr: SockAddr,
    local: SocketAddr,
    pin: Pin,
    connected: bool,
    /// The segment size while UDP segmentation offload is on.
    gso: std::cell::Cell<Option<usize>>,
    gso_refused: std::cell::Cell<bool>,
    bind_device: bool,
    iface: Interface,
}

impl std::os::fd::AsFd for Sender {
    /// The socket, to wait for replies with `poll(2)`.
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl Sender {
    /// Sends one datagram; returns the number of bytes sent.
    ///
    /// # Errors
    /// [`Error::Io`] naming the destination and the interface.
    pub fn send(&self, payload: &[u8]) -> Result<usize, Error> {
        loop {
            match self.socket.send_to(payload, &self.dest_sockaddr) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.send_error(e)),
            }
        }
    }

    /// Sends every datagram queued in `batch` with `sendmmsg(2)` (as many
    /// calls as the kernel needs), then empties the batch. Returns how many
    /// were sent, and the error that kept the others back, if any.
    ///
    /// A datagram this host refuses ([`Error::is_refused_here`]: a firewall
    /// rule of the output path, a full queue) is skipped, and the rest of the
    /// batch still goes, so a rule that drops one datagram in ten loses one in
    /// ten. A refused datagram is never sent again (a random rule would let
    /// it through the second time). The kernel does not say why it stopped
    /// part way through a batch: that datagram is skipped too, and the error
    /// is known only when a call fails at its first datagram. Any other error
    /// ends the batch.
    pub fn send_batch(&self, batch: &mut crate::sendmsg::SendBatch) -> (usize, Option<Error>) {
        let mut done = 0;
        let mut sent = 0;
        let mut error = None;
        let total = batch.len();
        // With segmentation offload: one send(2) per up to 64 datagrams (and
        // at most 64 KiB), which the kernel splits after going down the stack
        // once. Anything the offload refuses goes the sendmmsg way below.
        if self.connected && total > 1 {
            let slot = batch.slot();
            let max = (65_000 / slot.max(1)).min(GSO_SEGMENTS);
            if max > 1 && self.gso_on(slot) {
                while done < total {
                    let Some(buf) = batch.contiguous(done, max) else {
                        break;
                    };
                    let n = buf.len() / slot;
                    match self.socket.send(buf) {
                        Ok(_) => {
                            done += n;
                            sent += n;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            let err = self.send_error(e);
                            if err.is_refused_here() {
                                done += n;
                                error = Some(err);
                                continue;
                            }
                            if err.is_transient() {
                                batch.clear();
                                return (sent, Some(err));
                            }
                            debug!("UDP segmentation offload refused ({err}); using sendmmsg");
                            self.gso.set(None);
                            let _ = sockopt::set_udp_segment(&self.socket, 0);
                            self.gso_refused.set(true);
                            break;
                        }
                    }
                }
            }
        }
        while done < total {
            let dest = (!self.connected).then_some(&self.dest_sockaddr);
            match batch.send_from(self.socket.as_fd(), done, dest) {
                Ok(n) => {
                    done += n;
                    sent += n;
                    if done < total {
                        // sendmmsg stopped at a datagram it could not send,
                        // and its error is lost: skip that one.
                        debug!("sendmmsg stopped after {n} datagrams; skipping the next one");
                        done += 1;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let err = self.send_error(e);
                    let refused = err.is_refused_here();
                    error = Some(err);
                    if !refused {
                        break;
                    }
                    done += 1;
                }
            }
        }
        batch.clear();
        (sent, error)
    }

    /// Turns segmentation offload on for `slot`-byte datagrams, once; false
    /// where the system lacks it (before Linux 4.18, qemu-user) or refused it.
    fn gso_on(&self, slot: usize) -> bool {
        if self.gso.get() == Some(slot) {
            return true;
        }
        if self.gso_refused.get() {
            return false;
        }
        match u16::try_from(slot).map(|s| sockopt::set_udp_segment(&self.socket, s)) {
            Ok(Ok(())) => {
                debug!("UDP segmentation offload on, {slot}-byte segments");
                self.gso.set(Some(slot));
                true
            }
            _ => {
                self.gso_refused.set(true);
                false
            }
        }
    }

    /// A send error naming the destination and the interface, with the
    /// route that fixes ENETUNREACH, and the likely cause of EPERM.
    fn send_error(&self, e: io::Error) -> Error {
        let err = Error::io_on(Operation::Send(self.dest), &self.iface, e);
        match err.raw_os_error() {
            Some(nix::libc::ENETUNREACH) => err.with_hint(self.no_route_hint()),
            Some(nix::libc::EPERM) => err.with_hint(
                "a firewall on this host refuses it: a drop or reject rule in an output chain \
                 of nftables or iptables",
            ),
            _ => err,
        }
    }

    fn no_route_hint(&self) -> String {
        let dev = self.iface.name();
        match self.dest {
            SocketAddr::V4(_) => format!(
                "{dev} is down, or there is no route for the group: add one, e.g. \
                 `ip route add 224.0.0.0/4 dev {dev}`"
            ),
            SocketAddr::V6(_) => format!(
                "{dev} is down, or it has no IPv6 multicast route: add one, e.g. \
                 `ip -6 route add multicast ff00::/8 dev {dev} table local`"
            ),
        }
    }

    /// Receives one datagram sent back to this socket, with the kernel's
    /// receive time where the system gives it (`SO_TIMESTAMPNS`), so a round
    /// trip measured with it does not include this program's own wake-up.
    /// Without blocking; `None` when nothing is waiting.
    ///
    /// # Errors
    /// [`Error::Io`] naming the interface.
    pub fn try_recv_reply(&self, buf: &mut [u8]) -> Result<Option<crate::Datagram>, Error> {
        let meta = crate::recvmsg::recv_one(std::os::fd::AsRawFd::as_raw_fd(&self.socket), buf);
        let len = buf.len();
        self.reply_or_none(meta.map(|m| crate::Datagram::from_meta(&m, m.size.min(len))))
    }

    /// Receives one unicast datagram sent back to this socket (the replies of
    /// `recv --echo` to `mcast ping`) if one is waiting, without blocking.
    /// Wait for readiness with `poll(2)` on its [`AsFd`](std::os::fd::AsFd).
    ///
    /// # Errors
    /// [`Error::Io`] naming the interface.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> Result<Option<(usize, SocketAddr)>, Error> {
        // SAFETY: u8 and MaybeUninit<u8> have the same layout, and recv only
        // writes initialised bytes into the slice.
        let uninit = unsafe { &mut *(buf as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) };
        let len = buf.len();
        let got = self
            .socket
            .recv_from_with_flags(uninit, nix::libc::MSG_DONTWAIT)
            .map(|(n, addr)| addr.as_socket().map(|a| (n.min(len), a)));
        self.reply_or_none(got).map(Option::flatten)
    }

    /// A reply, or `None` when nothing was waiting (or a signal came).
    fn reply_or_none<T>(&self, got: io::Result<T>) -> Result<Option<T>, Error> {
        match got {
            Ok(t) => Ok(Some(t)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(Error::io_on(Operation::ReceiveReplies, &self.iface, e)),
        }
    }

    /// How the socket is tied to the interface.
    pub fn pinned_by(&self) -> Pin {
        self.pin
    }

    /// Whether `SO_BINDTODEVICE` is set as well.
    pub fn bound_to_device(&self) -> bool {
        self.bind_device
    }

    /// The source address and port datagrams carry.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The destination (with the scope id used, for IPv6).
    pub fn destination(&self) -> SocketAddr {
        self.dest
    }

    /// The interface.
    pub fn interface(&self) -> &Interface {
        &self.iface
    }
}
