//! What the doctor looks at ([`Ctx`]: the group, the interface, the peer),
//! what earlier checks found for the advice of later ones ([`Findings`]),
//! and which interface owns an address.

use std::net::IpAddr;

use mcast::{Family, Group, Interface};

/// What the doctor is looking at.
pub(crate) struct Ctx<'a> {
    /// The group (or broadcast address) and port.
    pub(crate) group: Group,
    /// The interface every check looks at.
    pub(crate) iface: &'a Interface,
    /// Every interface of the host.
    pub(crate) list: &'a [Interface],
    /// The group's address family.
    pub(crate) family: Family,
    /// `--broadcast`: IPv4 broadcast instead of multicast.
    pub(crate) broadcast: bool,
    /// `--peer`: a host running `mcast recv --echo`.
    pub(crate) peer: Option<IpAddr>,
    /// Whether this is Android (the Android-only checks run).
    pub(crate) android: bool,
}

impl Ctx<'_> {
    /// The interface's name, as `ip` and the firewall tools want it.
    pub(crate) fn dev(&self) -> &str {
        self.iface.name()
    }

    /// Whether `ip` is inside one of the interface's subnets.
    pub(crate) fn on_link(&self, ip: IpAddr) -> bool {
        self.iface.addresses().iter().any(|a| a.contains(ip))
    }
}

/// What earlier checks found, for the advice of later ones.
#[derive(Debug, Default, Clone)]
pub(crate) struct Findings {
    /// The interface the kernel routes the group through, when not ours.
    pub(crate) route_elsewhere: Option<String>,
    /// Strict rp_filter and the route back to the peer uses another interface.
    pub(crate) rp_drops_peer: bool,
    /// The firewall check found rules that drop the group's traffic.
    pub(crate) firewall_drops: bool,
    /// Android: no Wi-Fi multicast lock is held (the Wi-Fi filters multicast).
    pub(crate) no_multicast_lock: bool,
}

/// The interface that owns `ip` (for an IPv6 link-local address, the one
/// whose index is `scope`, when given).
pub(crate) fn owner(list: &[Interface], ip: IpAddr, scope: u32) -> Option<&Interface> {
    let mut owners = list
        .iter()
        .filter(|i| i.addresses().iter().any(|a| a.ip() == ip));
    let first = owners.next()?;
    if scope != 0 && first.index().get() != scope {
        return owners.find(|i| i.index().get() == scope).or(Some(first));
    }
    Some(first)
}
