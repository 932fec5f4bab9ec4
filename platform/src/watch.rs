//! Following an interface while a program runs: Wi-Fi drops and comes back,
//! the phone roams and gets a new address, an interface is deleted and
//! recreated. A [`Watcher`] says *that* something changed; [`changes()`]
//! compares two snapshots of an interface and says *what*.
//!
//! The watcher listens to the kernel's route/link notifications (a
//! `NETLINK_ROUTE` socket bound to the link and address groups) where the
//! process may bind one. Android does not let apps bind one (and an
//! `adb shell` binary inherits similar limits on newer releases), so there,
//! and wherever binding fails, it polls the interface list at a modest
//! interval instead. [`Watcher::mechanism`] tells which is in use.

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::interface::{Address, Flags, Interface, InterfaceIndex};

/// How a [`Watcher`] learns about changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchMechanism {
    /// Kernel notifications on a `NETLINK_ROUTE` socket.
    Netlink,
    /// Re-reading the interface list at this interval.
    Polling(Duration),
}

impl fmt::Display for WatchMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchMechanism::Netlink => f.write_str("netlink route notifications"),
            WatchMechanism::Polling(d) => {
                write!(f, "polling the interface list every {} ms", d.as_millis())
            }
        }
    }
}

/// The polling interval where netlink cannot be used.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Tells when the interfaces may have changed.
#[derive(Debug)]
pub struct Watcher {
    netlink: Option<OwnedFd>,
    mechanism: WatchMechanism,
    next_poll: Instant,
}

impl Watcher {
    /// Netlink where it can be bound (not on Android), else polling every
    /// [`POLL_INTERVAL`]. Never fails: polling always works.
    pub fn new() -> Watcher {
        let netlink = if cfg!(target_os = "android") {
            None
        } else {
            match open_netlink() {
                Ok(fd) => Some(fd),
                Err(e) => {
                    log::debug!("cannot bind a netlink route socket ({e}); polling instead");
                    None
                }
            }
        };
        Watcher::with(netlink)
    }

    /// A watcher that polls, whatever the system allows.
    pub fn polling() -> Watcher {
        Watcher::with(None)
    }

    fn with(netlink: Option<OwnedFd>) -> Watcher {
        let mechanism = match netlink {
            Some(_) => WatchMechanism::Netlink,
            None => WatchMechanism::Polling(POLL_INTERVAL),
        };
        Watcher {
            netlink,
            mechanism,
            next_poll: Instant::now() + POLL_INTERVAL,
        }
    }

    /// Which mechanism is in use.
    pub fn mechanism(&self) -> WatchMechanism {
        self.mechanism
    }

    /// The netlink socket, to wait on with `poll(2)` (readable means "look").
    /// `None` when polling.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.netlink.as_ref().map(AsFd::as_fd)
    }

    /// When to look next without a notification: the next poll, or `None`
    /// with netlink.
    pub fn deadline(&self) -> Option<Instant> {
        match self.mechanism {
            WatchMechanism::Netlink => None,
            WatchMechanism::Polling(_) => Some(self.next_poll),
        }
    }

    /// Whether the interfaces should be looked at again now: a notification
    /// arrived (they are drained), or the polling interval passed.
    pub fn due(&mut self, now: Instant) -> bool {
        match &self.netlink {
            Some(fd) => drain(fd),
            None => {
                if now >= self.next_poll {
                    self.next_poll = now + POLL_INTERVAL;
                    true
                } else {
                    false
                }
            }
        }
    }
}

impl Default for Watcher {
    fn default() -> Watcher {
        Watcher::new()
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn open_netlink() -> std::io::Result<OwnedFd> {
    use nix::sys::socket::{
        bind, socket, AddressFamily, NetlinkAddr, SockFlag, SockProtocol, SockType,
    };
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )?;
    // RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR
    let groups = 0x1 | 0x10 | 0x100;
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &NetlinkAddr::new(0, groups),
    )?;
    Ok(fd)
}

/// Reads every pending notification; true if there was one. The content is
/// not parsed: any notification means "look again", and [`changes()`] on a
/// fresh interface list says what changed.
fn drain(fd: &OwnedFd) -> bool {
    let mut buf = [0u8; 8192];
    let mut any = false;
    // Bounded: a flood of notifications is read in chunks across wake-ups.
    for _ in 0..64 {
        match nix::sys::socket::recv(
            std::os::fd::AsRawFd::as_raw_fd(fd),
            &mut buf,
            nix::sys::socket::MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(0) => break,
            Ok(_) => any = true,
            // ENOBUFS: notifications were lost; look anyway.
            Err(nix::errno::Errno::ENOBUFS) => any = true,
            Err(_) => break,
        }
    }
    any
}

/// What changed about an interface between two snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// It no longer exists.
    Gone,
    /// It exists again (or for the first time), with this index.
    Appeared(InterfaceIndex),
    /// It was deleted and recreated: same name, new index.
    IndexChanged {
        /// The index before.
        old: InterfaceIndex,
        /// The index now.
        new: InterfaceIndex,
    },
    /// It went down or lost its carrier.
    Down,
    /// It is up with carrier again.
    Up,
    /// It gained an address.
    AddressAdded(Address),
    /// It lost an address.
    AddressRemoved(Address),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Gone => f.write_str("gone"),
            Change::Appeared(i) => write!(f, "appeared with index {i}"),
            Change::IndexChanged { old, new } => write!(f, "recreated: index {old} is now {new}"),
            Change::Down => f.write_str("down"),
            Change::Up => f.write_str("up"),
            Change::AddressAdded(a) => write!(f, "gained {a}"),
            Change::AddressRemoved(a) => write!(f, "lost {a}"),
        }
    }
}

impl Change {
    /// A one-word name for logs and JSON: `gone`, `appeared`, `recreated`,
    /// `down`, `up`, `address-added`, `address-removed`.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Gone => "gone",
            Change::Appeared(_) => "appeared",
            Change::IndexChanged { .. } => "recreated",
            Change::Down => "down",
            Change::Up => "up",
            Change::AddressAdded(_) => "address-added",
            Change::AddressRemoved(_) => "address-removed",
        }
    }
}

/// Whether an interface can carry traffic: up, with carrier.
pub fn is_usable(iface: &Interface) -> bool {
    iface.flags().contains(Flags::UP | Flags::RUNNING)
}

/// What changed from `old` to `new` (snapshots of one interface, by name;
/// `None` when it did not exist).
pub fn changes(old: Option<&Interface>, new: Option<&Interface>) -> Vec<Change> {
    match (old, new) {
        (None, None) => Vec::new(),
        (Some(_), None) => vec![Change::Gone],
        (None, Some(n)) => {
            let mut v = vec![Change::Appeared(n.index())];
            if is_usable(n) {
                v.push(Change::Up);
            }
            v
        }
        (Some(o), Some(n)) => {
            let mut v = Vec::new();
            if o.index() != n.index() {
                v.push(Change::IndexChanged {
                    old: o.index(),
                    new: n.index(),
                });
            }
            match (is_usable(o), is_usable(n)) {
                (true, false) => v.push(Change::Down),
                (false, true) => v.push(Change::Up),
                _ => {}
            }
            for a in n.addresses() {
                if !o.addresses().contains(a) {
                    v.push(Change::AddressAdded(*a));
                }
            }
            for a in o.addresses() {
                if !n.addresses().contains(a) {
                    v.push(Change::AddressRemoved(*a));
                }
            }
            v
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wlan(index: u32, flags: Flags, addrs: &[&str]) -> Interface {
        let mut i = Interface::new(InterfaceIndex::new(index).unwrap(), "wlan0", flags);
        for a in addrs {
            let (ip, len) = a.split_once('/').unwrap();
            i = i.with_address(Address::new(ip.parse().unwrap(), len.parse().unwrap()));
        }
        i
    }

    const UP: Flags = Flags(0b111); // up, running, multicast

    #[test]
    fn down_up_and_gone() {
        let a = wlan(3, UP, &["198.18.1.10/24"]);
        let down = wlan(3, Flags::UP | Flags::MULTICAST, &["198.18.1.10/24"]);
        assert_eq!(changes(Some(&a), Some(&down)), vec![Change::Down]);
        assert_eq!(changes(Some(&down), Some(&a)), vec![Change::Up]);
        assert_eq!(changes(Some(&a), Some(&a)), vec![]);
        assert_eq!(changes(Some(&a), None), vec![Change::Gone]);
        assert_eq!(changes(None, None), vec![]);
    }

    #[test]
    fn recreated_with_a_new_index_and_address() {
        let a = wlan(3, UP, &["198.18.1.10/24"]);
        let b = wlan(9, UP, &["198.18.1.11/24"]);
        let c = changes(Some(&a), Some(&b));
        assert_eq!(
            c[0],
            Change::IndexChanged {
                old: a.index(),
                new: b.index()
            }
        );
        assert_eq!(c[1].kind(), "address-added");
        assert_eq!(c[2].kind(), "address-removed");
        assert_eq!(c[1].to_string(), "gained 198.18.1.11/24");
        assert_eq!(
            changes(None, Some(&b)),
            vec![Change::Appeared(b.index()), Change::Up]
        );
    }

    #[test]
    fn polling_watcher_is_due_after_the_interval() {
        let mut w = Watcher::polling();
        assert_eq!(w.mechanism(), WatchMechanism::Polling(POLL_INTERVAL));
        assert!(w.fd().is_none());
        let now = Instant::now();
        assert!(!w.due(now));
        assert!(w.due(now + POLL_INTERVAL * 2));
        assert!(!w.due(now + POLL_INTERVAL * 2));
    }

    #[test]
    fn netlink_watcher_opens_where_allowed() {
        let w = Watcher::new();
        // Either works; which one must be reported truthfully.
        match w.mechanism() {
            WatchMechanism::Netlink => assert!(w.fd().is_some() && w.deadline().is_none()),
            WatchMechanism::Polling(_) => assert!(w.fd().is_none() && w.deadline().is_some()),
        }
    }
}
