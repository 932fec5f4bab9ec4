//! What a firewall rule's conditions say about the traffic, shared by the
//! nftables and the iptables readers: the [`Judge`] that counts matching
//! and excluding conditions, and the matchers of ports, addresses,
//! interface patterns and MLD message types.

use std::net::IpAddr;

use mcast::Address;

use super::Traffic;

/// How a rule relates to the traffic.
#[derive(Debug, Default)]
pub(super) struct Judge {
    /// Some condition cannot match the traffic (other port, protocol,
    /// address, interface), or the rule uses a negation.
    pub(super) excluded: bool,
    /// Conditions that match the traffic.
    pub(super) positive: Vec<String>,
    /// Number of match conditions (0: the rule matches everything).
    pub(super) conditions: usize,
}

impl Judge {
    /// A condition that matches the traffic, and what it matches.
    pub(super) fn hit(&mut self, why: impl Into<String>) {
        self.positive.push(why.into());
        self.conditions += 1;
    }

    /// A condition that cannot match the traffic.
    pub(super) fn miss(&mut self) {
        self.excluded = true;
        self.conditions += 1;
    }

    /// Whether a drop rule with this judgement drops the traffic.
    pub(super) fn drops(&self, base_chain: bool) -> Option<String> {
        if self.excluded {
            return None;
        }
        if !self.positive.is_empty() {
            return Some(self.positive.join(", "));
        }
        (self.conditions == 0 && base_chain).then(|| "everything".to_owned())
    }

    /// A destination-port condition: `values` are the ports and ranges
    /// listed (`dport { 53, 5353 }`, `--dports 53,5353`). It matches when
    /// one holds the traffic's port, excludes when all are numbers that do
    /// not, and is left undecided when one is a name we cannot resolve.
    pub(super) fn dport<'v>(&mut self, values: impl IntoIterator<Item = &'v str>, port: u16) {
        let r: Vec<Option<bool>> = values.into_iter().map(|v| port_in(v, port)).collect();
        if r.contains(&Some(true)) {
            self.hit(format!("UDP port {port}"));
        } else if !r.is_empty() && r.iter().all(Option::is_some) {
            self.miss();
        } else {
            self.conditions += 1;
        }
    }

    /// A destination-address condition (`daddr`, `-d`), decided like
    /// [`Judge::dport`] over the addresses, prefixes and ranges listed.
    pub(super) fn daddr<'v>(&mut self, values: impl IntoIterator<Item = &'v str>, t: &Traffic) {
        let r: Vec<Option<Result<String, ()>>> =
            values.into_iter().map(|v| dest_reason(t, v)).collect();
        if let Some(Some(Ok(why))) = r.iter().find(|x| matches!(x, Some(Ok(_)))) {
            self.hit(why.clone());
        } else if !r.is_empty() && r.iter().all(Option::is_some) {
            self.miss();
        } else {
            self.conditions += 1;
        }
    }

    /// Whether an accept rule with this judgement lets the traffic in.
    pub(super) fn accepts(&self) -> bool {
        !self.excluded && (!self.positive.is_empty() || self.conditions == 0)
    }
}

/// A port or port range such as `54321`, `5000-60000` (nft) or
/// `5000:60000` (iptables); `None` when it is not numeric (a service name).
pub(super) fn port_in(value: &str, port: u16) -> Option<bool> {
    let named = match value {
        "domain" => Some(53),
        "mdns" => Some(5353),
        "ssdp" => Some(1900),
        _ => None,
    };
    if let Some(p) = named {
        return Some(p == port);
    }
    match value.split_once(['-', ':']) {
        Some((a, b)) => {
            let (a, b) = (a.parse::<u16>().ok()?, b.parse::<u16>().ok()?);
            Some((a..=b).contains(&port))
        }
        None => value.parse::<u16>().ok().map(|p| p == port),
    }
}

/// An address, a prefix (`224.0.0.0/4`) or a range (`a-b`) holding `ip`;
/// `None` when it is not an address of the same family.
pub(super) fn addr_in(value: &str, ip: IpAddr) -> Option<bool> {
    if let Some((a, len)) = value.split_once('/') {
        let a: IpAddr = a.parse().ok()?;
        if a.is_ipv4() != ip.is_ipv4() {
            return None;
        }
        let len: u8 = len.parse().ok()?;
        return Some(Address::new(a, len).contains(ip));
    }
    if let Some((a, b)) = value.split_once('-') {
        let (a, b): (IpAddr, IpAddr) = (a.parse().ok()?, b.parse().ok()?);
        return match (a, b, ip) {
            (IpAddr::V4(a), IpAddr::V4(b), IpAddr::V4(x)) => Some((a..=b).contains(&x)),
            (IpAddr::V6(a), IpAddr::V6(b), IpAddr::V6(x)) => Some((a..=b).contains(&x)),
            _ => None,
        };
    }
    let a: IpAddr = value.parse().ok()?;
    (a.is_ipv4() == ip.is_ipv4()).then_some(a == ip)
}

/// `wlan0` against an interface pattern (`wlan*` in nft, `wlan+` in
/// iptables).
pub(super) fn iface_matches(pattern: &str, dev: &str) -> bool {
    match pattern.strip_suffix(['*', '+']) {
        Some(prefix) => dev.starts_with(prefix),
        None => pattern == dev,
    }
}

/// MLD message names and numbers (queries, reports, done).
pub(super) fn is_mld(v: &str) -> bool {
    matches!(
        v,
        "mld-listener-query"
            | "mld-listener-report"
            | "mld-listener-done"
            | "mld-listener-reduction"
            | "mld2-listener-report"
            | "130"
            | "131"
            | "132"
            | "143"
    )
}

/// The address the traffic goes to, for `daddr` / `-d`.
fn dest_reason(t: &Traffic, value: &str) -> Option<Result<String, ()>> {
    let r = addr_in(value, t.group)?;
    Some(if r {
        Ok(if value.contains('/') || value.contains('-') {
            format!("{} ({value})", t.group)
        } else {
            t.group.to_string()
        })
    } else {
        Err(())
    })
}
