//! Following an interface through network changes: the one follower that
//! `mcast recv` and `mcast send` (and an embedding app) use to know when to
//! re-open their sockets, and on which interface.
//!
//! The follower keeps the last snapshot of the interface, asks the platform
//! [`Watcher`] when to look again, and compares (by name) what it sees with
//! [`changes`]. It re-selects only under automatic selection, when the
//! interface is gone, with the [`Purpose`] it was given (broadcast or
//! multicast). What to re-open is the caller's business; the follower only
//! decides and reports what it saw as [`FollowEvent`]s.

use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use mcast_platform::{
    changes, is_usable, select, Change, Family, Interface, Purpose, WatchMechanism, Watcher,
};

/// How long after a failed re-open (or a fruitless re-selection) the
/// follower asks to try again.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Something the follower saw, about one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FollowEvent {
    /// The interface it is about, as it is now (a recreated one by its new
    /// index; a gone one as it was last seen).
    pub interface: Interface,
    /// What happened: a [`Change::kind`], `switched` (gone, another one
    /// chosen) or `rejoined` (the caller re-opened on it).
    pub kind: &'static str,
    /// The same in words, for a log line.
    pub detail: String,
}

/// What one look at the interfaces found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Look {
    /// What changed since the last look, in order.
    pub events: Vec<FollowEvent>,
    /// The interface to re-open on, when the sockets must be rebuilt.
    pub reopen: Option<Interface>,
}

/// Follows one interface through network changes: keeps its last
/// snapshot, asks the platform [`Watcher`] when to look again, and decides
/// whether to re-open and on which interface ([`Follower::decide`]).
#[derive(Debug)]
pub struct Follower {
    iface: Interface,
    family: Family,
    purpose: Purpose,
    auto: bool,
    watcher: Watcher,
    /// Whether the interface existed at the last look (a gone interface is
    /// reported once, not at every look).
    present: bool,
    /// Set when re-opening failed or nothing could be chosen: look again
    /// then, even without a change.
    retry_at: Option<Instant>,
}

impl Follower {
    /// Follows `iface`, watched by `watcher`. With `auto` (the interface
    /// was chosen automatically), a gone interface is replaced by the one
    /// [`select`] picks for `family` and `purpose`; otherwise the follower
    /// waits for it to come back.
    pub fn new(
        iface: Interface,
        family: Family,
        purpose: Purpose,
        auto: bool,
        watcher: Watcher,
    ) -> Follower {
        Follower {
            iface,
            family,
            purpose,
            auto,
            watcher,
            present: true,
            retry_at: None,
        }
    }

    /// The interface as last seen (or switched to).
    pub fn interface(&self) -> &Interface {
        &self.iface
    }

    /// How the watcher learns of changes.
    pub fn mechanism(&self) -> WatchMechanism {
        self.watcher.mechanism()
    }

    /// The watcher's socket, to wait on with `poll(2)` ([`Watcher::fd`]).
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.watcher.fd()
    }

    /// When to look next without a notification ([`Watcher::deadline`]).
    pub fn deadline(&self) -> Option<Instant> {
        self.watcher.deadline()
    }

    /// Whether the watcher says the interfaces may have changed
    /// ([`Watcher::due`]).
    pub fn changed(&mut self, now: Instant) -> bool {
        self.watcher.due(now)
    }

    /// Whether a retry asked for by [`Follower::failed`] (or a fruitless
    /// re-selection) is due.
    pub fn retry_due(&self, now: Instant) -> bool {
        self.retry_at.is_some_and(|t| now >= t)
    }

    /// Lists the interfaces and decides ([`Follower::decide`]); an empty
    /// [`Look`] when they cannot be listed.
    pub fn look(&mut self, force: bool) -> Look {
        match mcast_platform::interfaces() {
            Ok(list) => self.decide(&list, force),
            Err(e) => {
                log::debug!("cannot list the interfaces: {e}");
                Look::default()
            }
        }
    }

    /// Compares the interface with its entry in `list` (by name) and
    /// decides whether to re-open and where. The sockets are rebuilt when
    /// the interface changed in a way other than going down or away, when a
    /// retry was pending, or with `force` (the caller's sockets failed); and
    /// only onto an interface that is up with carrier. Gone under automatic
    /// selection: another one is chosen with the follower's [`Purpose`].
    pub fn decide(&mut self, list: &[Interface], force: bool) -> Look {
        let retrying = self.retry_at.take().is_some();
        let now = list.iter().find(|i| i.name() == self.iface.name()).cloned();
        let seen = if self.present || now.is_some() {
            changes(Some(&self.iface), now.as_ref())
        } else {
            Vec::new()
        };
        self.present = now.is_some();
        if let Some(n) = &now {
            self.iface = n.clone();
        }
        let mut look = Look {
            events: seen
                .iter()
                .map(|c| self.event(c.kind(), c.to_string()))
                .collect(),
            reopen: None,
        };
        if now.is_some() {
            let rebuild = force
                || retrying
                || seen
                    .iter()
                    .any(|c| !matches!(c, Change::Down | Change::Gone));
            look.reopen = (rebuild && is_usable(&self.iface)).then(|| self.iface.clone());
        } else if self.auto {
            let pick = select(list, self.family, self.purpose);
            match pick.chosen() {
                Some(alt) => {
                    let detail = format!(
                        "{} is gone; switching to {alt}: {}",
                        self.iface.name(),
                        pick.reason()
                    );
                    look.events.push(self.event("switched", detail));
                    self.iface = alt.clone();
                    look.reopen = Some(alt.clone());
                }
                None => self.retry_at = Some(Instant::now() + RETRY_AFTER),
            }
        }
        // Named and gone: wait for it to come back (the old snapshot keeps
        // its name, so its return shows up as a change).
        look
    }

    /// The caller could not re-open on the interface (no address yet, say):
    /// look again after [`RETRY_AFTER`].
    pub fn failed(&mut self) {
        self.retry_at = Some(Instant::now() + RETRY_AFTER);
    }

    /// The caller re-opened on the interface: no retry pending; the
    /// `rejoined` event to report.
    pub fn rejoined(&mut self) -> FollowEvent {
        self.retry_at = None;
        let detail = format!("re-joined on {}", self.iface);
        self.event("rejoined", detail)
    }

    fn event(&self, kind: &'static str, detail: String) -> FollowEvent {
        FollowEvent {
            interface: self.iface.clone(),
            kind,
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcast_platform::{Address, Flags, InterfaceIndex};

    fn iface(index: u32, name: &str, flags: Flags, addr: &str) -> Interface {
        Interface::new(InterfaceIndex::new(index).unwrap(), name, flags).with_address(
            Address::new(addr.parse().unwrap(), 24).with_broadcast(
                addr.rsplit_once('.')
                    .map(|(n, _)| format!("{n}.255"))
                    .unwrap()
                    .parse()
                    .unwrap(),
            ),
        )
    }

    fn up() -> Flags {
        Flags::UP | Flags::RUNNING
    }

    /// wlan0 (followed) does multicast and broadcast, eth1 only multicast,
    /// bcast0 only broadcast: the purpose decides which replaces wlan0.
    fn list() -> Vec<Interface> {
        vec![
            iface(2, "eth1", up() | Flags::MULTICAST, "198.18.2.1"),
            iface(5, "bcast0", up() | Flags::BROADCAST, "198.18.5.1"),
        ]
    }

    fn follower(purpose: Purpose, auto: bool) -> Follower {
        let wlan = iface(
            3,
            "wlan0",
            up() | Flags::MULTICAST | Flags::BROADCAST,
            "198.18.1.10",
        );
        Follower::new(wlan, Family::V4, purpose, auto, Watcher::polling())
    }

    #[test]
    fn a_gone_interface_is_replaced_by_one_fit_for_the_purpose() {
        let mut f = follower(Purpose::Broadcast, true);
        let look = f.decide(&list(), false);
        let kinds: Vec<&str> = look.events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["gone", "switched"]);
        assert_eq!(look.events[1].interface.name(), "wlan0", "named as it was");
        assert_eq!(look.reopen.as_ref().map(Interface::name), Some("bcast0"));
        assert_eq!(f.interface().name(), "bcast0");

        let mut f = follower(Purpose::Multicast, true);
        let look = f.decide(&list(), false);
        assert_eq!(look.reopen.as_ref().map(Interface::name), Some("eth1"));
    }

    #[test]
    fn a_named_interface_is_waited_for() {
        let mut f = follower(Purpose::Multicast, false);
        let look = f.decide(&list(), false);
        assert_eq!(look.events.len(), 1, "gone, once");
        assert_eq!(look.reopen, None);
        assert_eq!(f.decide(&list(), false), Look::default(), "not again");
        // It comes back (recreated, with a new index), and is re-opened on.
        let mut back = list();
        back.push(iface(9, "wlan0", up() | Flags::MULTICAST, "198.18.1.10"));
        let look = f.decide(&back, false);
        let kinds: Vec<&str> = look.events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["recreated"]);
        assert_eq!(look.reopen.map(|i| i.index().get()), Some(9));
    }

    #[test]
    fn down_is_reported_and_waited_out_and_force_reopens() {
        let mut f = follower(Purpose::Multicast, true);
        let mut l = list();
        l.push(iface(
            3,
            "wlan0",
            Flags::UP | Flags::MULTICAST | Flags::BROADCAST,
            "198.18.1.10",
        ));
        let look = f.decide(&l, false);
        assert_eq!(
            look.events.iter().map(|e| e.kind).collect::<Vec<_>>(),
            ["down"]
        );
        assert_eq!(look.reopen, None, "nothing to re-open on while it is down");
        l[2] = iface(
            3,
            "wlan0",
            up() | Flags::MULTICAST | Flags::BROADCAST,
            "198.18.1.10",
        );
        assert_eq!(f.decide(&l, false).reopen.map(|i| i.index().get()), Some(3));
        // No change, but the caller's sockets failed, or a retry is due.
        assert_eq!(f.decide(&l, false).reopen, None);
        assert!(f.decide(&l, true).reopen.is_some());
        f.failed();
        assert!(f.decide(&l, false).reopen.is_some());
        assert_eq!(f.rejoined().kind, "rejoined");
    }

    #[test]
    fn nothing_to_switch_to_retries() {
        let mut f = follower(Purpose::Multicast, true);
        let look = f.decide(&[], false);
        assert_eq!(look.reopen, None);
        assert!(f.retry_at.is_some());
    }
}
