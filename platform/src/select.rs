//! Choosing the interface: the automatic rule, the checks on a named
//! interface, and resolving what a person typed.
//!
//! The rule, as `mcast --help` states it: an interface qualifies if it is up,
//! has the MULTICAST flag (BROADCAST for broadcast), has an address of the
//! group's family and is not loopback. Among those, Wi-Fi names (`wlan*`,
//! `wl*`) come first, then wired (`eth*`, `en*`), then the others, and cellular
//! (`rmnet*`, `ccmni*`, `wwan*`) last. Ties go to an interface with carrier
//! (RUNNING), then to the lowest index. Loopback is used only when named.

use std::fmt;
use std::net::IpAddr;

use crate::interface::{Family, Flags, Interface, Kind};

/// What the interface is for: multicast to a group, or IPv4 broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Join or send to a multicast group (needs the MULTICAST flag).
    Multicast,
    /// Send to or receive a broadcast (needs the BROADCAST flag).
    Broadcast,
}

/// Why an interface cannot be used, or was not picked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// It is administratively down.
    Down,
    /// It lacks the MULTICAST flag.
    NoMulticast,
    /// It lacks the BROADCAST flag or a broadcast address.
    NoBroadcast,
    /// It has no address of the needed family.
    NoAddress(Family),
    /// It is loopback, which is used only when named.
    Loopback,
    /// It qualifies, but the chosen interface ranks higher.
    Outranked {
        /// The name of the interface that was chosen instead.
        chosen: String,
        /// The kind of the chosen interface.
        chosen_kind: Kind,
        /// The kind of this interface.
        kind: Kind,
    },
}

impl Rejection {
    /// Why the interface named `iface` was turned away, in one clause that
    /// follows "wlan0: " or "cannot be used for IPv4 multicast: ". Where a
    /// shell command fixes it, the clause names it for `iface`:
    /// `it is down (bring it up: ip link set wlan0 up)`.
    ///
    /// The text names no option of a program that embeds the library: for
    /// [`Rejection::Loopback`] it says the interface is used only when
    /// named, and the program adds how a person names it.
    pub fn describe(&self, iface: &str) -> String {
        match self {
            Rejection::Down => format!("it is down (bring it up: ip link set {iface} up)"),
            Rejection::NoMulticast => {
                format!("it has no MULTICAST flag (ip link set {iface} multicast on)")
            }
            Rejection::NoBroadcast => "it has no BROADCAST flag or broadcast address".to_owned(),
            Rejection::NoAddress(fam) => format!("it has no {fam} address"),
            Rejection::Loopback => "loopback is used only when named".to_owned(),
            Rejection::Outranked {
                chosen,
                chosen_kind,
                kind,
            } if chosen_kind == kind => format!(
                "{chosen} is also {} and comes first (carrier, then lower index)",
                kind.as_str()
            ),
            Rejection::Outranked {
                chosen,
                chosen_kind,
                kind,
            } => format!(
                "{chosen} ({}) is preferred over {}",
                chosen_kind.as_str(),
                kind.as_str()
            ),
        }
    }
}

/// The outcome of selection for one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// This interface was picked.
    Chosen,
    /// This interface was not picked, and why.
    Rejected(Rejection),
}

/// The result of [`select()`]: the chosen interface, if any, and a verdict for
/// every interface of the list, in list order.
#[derive(Debug, Clone)]
pub struct Selection<'a> {
    verdicts: Vec<(&'a Interface, Verdict)>,
    chosen: Option<&'a Interface>,
    family: Family,
    purpose: Purpose,
}

impl<'a> Selection<'a> {
    /// The picked interface; `None` when no interface qualifies.
    pub fn chosen(&self) -> Option<&'a Interface> {
        self.chosen
    }

    /// Every interface with its verdict, in list order.
    pub fn verdicts(&self) -> &[(&'a Interface, Verdict)] {
        &self.verdicts
    }

    /// Why the chosen interface was picked, in one sentence.
    pub fn reason(&self) -> String {
        match self.chosen {
            Some(i) => format!(
                "{} is the best-ranked {} interface that is up, {} and has an {} address",
                i.name(),
                i.kind().as_str(),
                match self.purpose {
                    Purpose::Multicast => "multicast-capable",
                    Purpose::Broadcast => "broadcast-capable",
                },
                self.family
            ),
            None => "no interface qualifies".to_owned(),
        }
    }
}

/// Checks whether `iface` can be used for `purpose` with `family`.
///
/// `named` is true when the person named the interface: loopback is then
/// allowed, and counts as multicast-capable even without the MULTICAST flag,
/// because Linux loops multicast back on `lo` regardless.
///
/// # Errors
/// The first reason the interface cannot be used.
pub fn check(
    iface: &Interface,
    family: Family,
    purpose: Purpose,
    named: bool,
) -> Result<(), Rejection> {
    let flags = iface.flags();
    if !flags.contains(Flags::UP) {
        return Err(Rejection::Down);
    }
    if iface.is_loopback() && !named {
        return Err(Rejection::Loopback);
    }
    match purpose {
        Purpose::Multicast => {
            if !flags.contains(Flags::MULTICAST) && !iface.is_loopback() {
                return Err(Rejection::NoMulticast);
            }
        }
        Purpose::Broadcast => {
            if !flags.contains(Flags::BROADCAST) || iface.broadcast_v4().is_none() {
                return Err(Rejection::NoBroadcast);
            }
        }
    }
    if iface.addresses_of(family).next().is_none() {
        return Err(Rejection::NoAddress(family));
    }
    Ok(())
}

/// Applies the automatic selection rule (see the module documentation) to
/// `list`.
pub fn select(list: &[Interface], family: Family, purpose: Purpose) -> Selection<'_> {
    let rank = |i: &Interface| (i.kind(), !i.flags().contains(Flags::RUNNING), i.index());
    let chosen = list
        .iter()
        .filter(|i| check(i, family, purpose, false).is_ok())
        .min_by_key(|i| rank(i));
    let verdicts = list
        .iter()
        .map(|i| {
            let verdict = match (check(i, family, purpose, false), chosen) {
                (Err(r), _) => Verdict::Rejected(r),
                (Ok(()), Some(c)) if c.index() == i.index() => Verdict::Chosen,
                (Ok(()), c) => {
                    // `chosen` is Some whenever one interface passed the check.
                    let c = c.unwrap_or(i);
                    Verdict::Rejected(Rejection::Outranked {
                        chosen: c.name().to_owned(),
                        chosen_kind: c.kind(),
                        kind: i.kind(),
                    })
                }
            };
            (i, verdict)
        })
        .collect();
    Selection {
        verdicts,
        chosen,
        family,
        purpose,
    }
}

/// `find()` found no interface for what was typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindError {
    spec: String,
    available: Vec<String>,
}

impl fmt::Display for FindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown interface '{}': give a name, an index or one of its addresses; available: {}",
            self.spec,
            if self.available.is_empty() {
                "none".to_owned()
            } else {
                self.available.join(", ")
            }
        )
    }
}

impl std::error::Error for FindError {}

/// Resolves `spec` (a name such as `wlan0`, an index such as `3`, or one of
/// the interface's addresses) to an interface of `list`.
///
/// # Errors
/// [`FindError`], whose message lists the available interfaces.
pub fn find<'a>(list: &'a [Interface], spec: &str) -> Result<&'a Interface, FindError> {
    let spec_trim = spec.trim();
    let by_name = list.iter().find(|i| i.name() == spec_trim);
    let by_index = || {
        spec_trim
            .parse::<u32>()
            .ok()
            .and_then(|n| list.iter().find(|i| i.index().get() == n))
    };
    let by_addr = || {
        // Accept `fe80::1%wlan0` and `198.18.1.10/24` too.
        let bare = spec_trim.split(['%', '/']).next().unwrap_or("");
        let bare = bare.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<IpAddr>().ok().and_then(|a| {
            list.iter()
                .find(|i| i.addresses().iter().any(|x| x.ip() == a))
        })
    };
    by_name
        .or_else(by_index)
        .or_else(by_addr)
        .ok_or_else(|| FindError {
            spec: spec.to_owned(),
            available: list
                .iter()
                .map(|i| format!("{} ({})", i.name(), i.index()))
                .collect(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interface::{Address, InterfaceIndex};

    fn iface(index: u32, name: &str, flags: Flags, addrs: &[&str]) -> Interface {
        let mut i = Interface::new(InterfaceIndex::new(index).unwrap(), name, flags);
        for a in addrs {
            let (ip, len) = a.split_once('/').unwrap();
            let mut addr = Address::new(ip.parse().unwrap(), len.parse().unwrap());
            if let Ok(IpAddr::V4(v4)) = ip.parse::<IpAddr>() {
                if !flags.contains(Flags::LOOPBACK) && !flags.contains(Flags::POINT_TO_POINT) {
                    let o = v4.octets();
                    addr = addr.with_broadcast([o[0], o[1], o[2], 255].into());
                }
            }
            i = i.with_address(addr);
        }
        i
    }

    const LAN: Flags = Flags(0b1111); // up, running, multicast, broadcast

    fn lo() -> Interface {
        iface(
            1,
            "lo",
            Flags::UP | Flags::RUNNING | Flags::LOOPBACK,
            &["127.0.0.1/8", "::1/128"],
        )
    }

    /// A phone: loopback, a dummy, cellular data, and Wi-Fi; cellular has the
    /// lower index, as on real handsets where rmnet comes up first.
    fn phone() -> Vec<Interface> {
        vec![
            lo(),
            iface(
                2,
                "dummy0",
                Flags::UP | Flags::RUNNING | Flags::BROADCAST,
                &["198.18.9.1/24"],
            ),
            iface(
                3,
                "rmnet_data0",
                Flags::UP | Flags::RUNNING | Flags::MULTICAST | Flags::POINT_TO_POINT,
                &["198.18.2.10/30", "fe80::2/64"],
            ),
            iface(
                4,
                "wlan0",
                LAN,
                &["198.18.1.10/24", "fe80::10/64", "fd00::10/64"],
            ),
        ]
    }

    fn board() -> Vec<Interface> {
        vec![
            lo(),
            iface(2, "eth0", LAN, &["198.18.3.2/24", "fe80::3/64"]),
            iface(3, "wlan0", LAN, &["198.18.1.20/24", "fe80::20/64"]),
        ]
    }

    fn rejection<'a>(s: &'a Selection<'_>, name: &str) -> &'a Verdict {
        &s.verdicts()
            .iter()
            .find(|(i, _)| i.name() == name)
            .unwrap()
            .1
    }

    /// Why an interface of `kind` was not picked when Wi-Fi `wlan0` was.
    fn wlan0_outranks(kind: Kind) -> Rejection {
        Rejection::Outranked {
            chosen: "wlan0".into(),
            chosen_kind: Kind::Wifi,
            kind,
        }
    }

    #[test]
    fn phone_picks_wifi_over_cellular() {
        let list = phone();
        let s = select(&list, Family::V4, Purpose::Multicast);
        assert_eq!(s.chosen().unwrap().name(), "wlan0");
        assert_eq!(rejection(&s, "lo"), &Verdict::Rejected(Rejection::Loopback));
        assert_eq!(
            rejection(&s, "dummy0"),
            &Verdict::Rejected(Rejection::NoMulticast)
        );
        assert_eq!(
            rejection(&s, "rmnet_data0"),
            &Verdict::Rejected(wlan0_outranks(Kind::Cellular))
        );
        assert_eq!(rejection(&s, "wlan0"), &Verdict::Chosen);
        assert!(s
            .reason()
            .contains("wlan0 is the best-ranked wifi interface"));
    }

    #[test]
    fn phone_without_wifi_falls_back_to_cellular() {
        let mut list = phone();
        list.retain(|i| i.name() != "wlan0");
        let s = select(&list, Family::V4, Purpose::Multicast);
        assert_eq!(s.chosen().unwrap().name(), "rmnet_data0");
    }

    #[test]
    fn phone_ipv6_and_broadcast() {
        let list = phone();
        assert_eq!(
            select(&list, Family::V6, Purpose::Multicast)
                .chosen()
                .unwrap()
                .name(),
            "wlan0"
        );
        let b = select(&list, Family::V4, Purpose::Broadcast);
        assert_eq!(b.chosen().unwrap().name(), "wlan0");
        assert_eq!(
            rejection(&b, "rmnet_data0"),
            &Verdict::Rejected(Rejection::NoBroadcast)
        );
        // dummy0 has BROADCAST but no MULTICAST: fine for broadcast, outranked.
        assert!(matches!(
            rejection(&b, "dummy0"),
            Verdict::Rejected(Rejection::Outranked {
                kind: Kind::Other,
                ..
            })
        ));
    }

    #[test]
    fn board_prefers_wifi_over_wired() {
        let list = board();
        let s = select(&list, Family::V4, Purpose::Multicast);
        assert_eq!(s.chosen().unwrap().name(), "wlan0");
        assert_eq!(
            rejection(&s, "eth0"),
            &Verdict::Rejected(wlan0_outranks(Kind::Wired))
        );
    }

    #[test]
    fn board_with_wifi_down_uses_wired() {
        let mut list = board();
        list[2] = iface(
            3,
            "wlan0",
            Flags::MULTICAST | Flags::BROADCAST,
            &["198.18.1.20/24"],
        );
        let s = select(&list, Family::V4, Purpose::Multicast);
        assert_eq!(s.chosen().unwrap().name(), "eth0");
        assert_eq!(rejection(&s, "wlan0"), &Verdict::Rejected(Rejection::Down));
    }

    #[test]
    fn carrier_breaks_ties_then_index() {
        let list = vec![
            iface(5, "wlan1", LAN, &["198.18.1.21/24"]),
            iface(
                4,
                "wlan0",
                Flags::UP | Flags::MULTICAST,
                &["198.18.1.20/24"],
            ),
            iface(6, "wlan2", LAN, &["198.18.1.22/24"]),
        ];
        let s = select(&list, Family::V4, Purpose::Multicast);
        assert_eq!(s.chosen().unwrap().name(), "wlan1");
        let Verdict::Rejected(r) = rejection(&s, "wlan2") else {
            panic!()
        };
        assert!(r.describe("wlan2").contains("also wifi"));
    }

    #[test]
    fn host_with_only_loopback_has_no_choice() {
        let list = vec![lo()];
        let s = select(&list, Family::V4, Purpose::Multicast);
        assert!(s.chosen().is_none());
        assert_eq!(s.reason(), "no interface qualifies");
        // Named, loopback is fine even without the MULTICAST flag.
        assert_eq!(
            check(&list[0], Family::V4, Purpose::Multicast, true),
            Ok(())
        );
        assert_eq!(
            check(&list[0], Family::V4, Purpose::Broadcast, true),
            Err(Rejection::NoBroadcast)
        );
    }

    #[test]
    fn missing_family_is_rejected() {
        let list = vec![iface(2, "wlan0", LAN, &["198.18.1.20/24"])];
        let s = select(&list, Family::V6, Purpose::Multicast);
        assert!(s.chosen().is_none());
        assert_eq!(
            rejection(&s, "wlan0"),
            &Verdict::Rejected(Rejection::NoAddress(Family::V6))
        );
        assert!(Rejection::NoAddress(Family::V6)
            .describe("wlan0")
            .contains("no IPv6 address"));
    }

    #[test]
    fn rejections_name_the_interface_and_no_flag() {
        assert_eq!(
            Rejection::Down.describe("wlan0"),
            "it is down (bring it up: ip link set wlan0 up)"
        );
        assert_eq!(
            Rejection::NoMulticast.describe("dummy0"),
            "it has no MULTICAST flag (ip link set dummy0 multicast on)"
        );
        assert_eq!(
            Rejection::Loopback.describe("lo"),
            "loopback is used only when named"
        );
        let outranked = wlan0_outranks(Kind::Cellular);
        assert_eq!(
            outranked.describe("rmnet_data0"),
            "wlan0 (wifi) is preferred over cellular"
        );
        for r in [
            Rejection::Down,
            Rejection::NoMulticast,
            Rejection::NoBroadcast,
            Rejection::NoAddress(Family::V4),
            Rejection::Loopback,
            outranked,
        ] {
            let text = r.describe("wlan0");
            assert!(!text.contains("DEV") && !text.contains(" -i"), "{text}");
        }
    }

    #[test]
    fn find_by_name_index_and_address() {
        let list = phone();
        assert_eq!(find(&list, "wlan0").unwrap().index().get(), 4);
        assert_eq!(find(&list, "3").unwrap().name(), "rmnet_data0");
        assert_eq!(find(&list, "198.18.1.10").unwrap().name(), "wlan0");
        assert_eq!(find(&list, "fe80::10%wlan0").unwrap().name(), "wlan0");
        assert_eq!(find(&list, "[fd00::10]").unwrap().name(), "wlan0");
        let err = find(&list, "wlan9").unwrap_err().to_string();
        assert!(err.contains("unknown interface 'wlan9'"), "{err}");
        assert!(
            err.contains("wlan0 (4)") && err.contains("rmnet_data0 (3)"),
            "{err}"
        );
        assert!(find(&list, "99").is_err());
        assert!(find(&list, "").is_err());
    }
}
