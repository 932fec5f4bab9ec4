//! Check 4: kernel limits and protocol versions: how many groups a socket
//! may join, whether an old IGMP/MLD version is forced (no source-specific
//! joins then), the IGMP version in use on the link, and IP_MULTICAST_ALL.

use std::net::IpAddr;

use mcast::sys::multicast_all_default;
use mcast::Family;

use super::{sysctl_int, Check, Ctx, Status};

/// The IGMP version the kernel uses on `dev`, from the device line of
/// `/proc/net/igmp` (`2\twlan0     :     2      V3`).
pub(crate) fn igmp_version(igmp: &str, dev: &str) -> Option<u8> {
    igmp.lines().find_map(|l| {
        if l.starts_with(char::is_whitespace) {
            return None;
        }
        let (head, tail) = l.split_once(':')?;
        let mut h = head.split_whitespace();
        let _idx = h.next()?;
        if h.next()? != dev {
            return None;
        }
        tail.split_whitespace()
            .find_map(|w| w.strip_prefix('V'))
            .and_then(|v| v.parse().ok())
    })
}

/// Check 4.
pub(crate) fn kernel(ctx: &Ctx<'_>) -> Check {
    let dev = ctx.dev();
    let mut notes = Vec::new();
    let mut status = Status::Pass;
    let mut fixes = Vec::new();
    if ctx.broadcast {
        return Check::pass(
            "kernel",
            "broadcast needs no group memberships, so no IGMP limits or versions apply",
        );
    }
    match ctx.family {
        Family::V4 => {
            match sysctl_int("net/ipv4/igmp_max_memberships") {
                Some(0) => {
                    status = status.max(Status::Fail);
                    notes.push(
                        "net.ipv4.igmp_max_memberships = 0: every join fails with ENOBUFS"
                            .to_owned(),
                    );
                    fixes.push("sysctl -w net.ipv4.igmp_max_memberships=20".to_owned());
                }
                Some(n) => notes.push(format!(
                    "net.ipv4.igmp_max_memberships = {n} groups per socket"
                )),
                None => notes.push("net.ipv4.igmp_max_memberships unreadable".to_owned()),
            }
            let all = sysctl_int("net/ipv4/conf/all/force_igmp_version").unwrap_or(0);
            let own = sysctl_int(&format!("net/ipv4/conf/{dev}/force_igmp_version")).unwrap_or(0);
            let forced = if own != 0 { own } else { all };
            if forced != 0 {
                status = status.max(Status::Warn);
                notes.push(format!(
                    "IGMPv{forced} is forced (net.ipv4.conf.all.force_igmp_version = {all}, \
                     net.ipv4.conf.{dev}.force_igmp_version = {own}): no source-specific joins \
                     (SSM) on the wire, and an IGMPv3 querier may not hear this host"
                ));
                fixes.push(format!(
                    "sysctl -w net.ipv4.conf.all.force_igmp_version=0 net.ipv4.conf.{dev}.force_igmp_version=0"
                ));
            } else {
                notes.push("IGMP version not forced".to_owned());
            }
            let in_use = std::fs::read_to_string("/proc/net/igmp")
                .ok()
                .and_then(|t| igmp_version(&t, dev));
            if let Some(v) = in_use {
                let ssm = matches!(ctx.group.addr(), IpAddr::V4(a) if a.octets()[0] == 232);
                if v < 3 && ssm && forced == 0 {
                    status = status.max(Status::Warn);
                    notes.push(format!(
                        "IGMPv{v} in use on {dev} (an IGMPv{v} querier is on the link): {} is a \
                         source-specific group, which needs IGMPv3",
                        ctx.group.addr()
                    ));
                    fixes.push("make the router or access point query with IGMPv3".to_owned());
                } else {
                    notes.push(format!("IGMPv{v} in use on {dev}"));
                }
            }
        }
        Family::V6 => {
            let all = sysctl_int("net/ipv6/conf/all/force_mld_version").unwrap_or(0);
            let own = sysctl_int(&format!("net/ipv6/conf/{dev}/force_mld_version")).unwrap_or(0);
            let forced = if own != 0 { own } else { all };
            if forced == 1 {
                status = status.max(Status::Warn);
                notes.push(format!(
                    "MLDv1 is forced (net.ipv6.conf.all.force_mld_version = {all}, \
                     net.ipv6.conf.{dev}.force_mld_version = {own}): no source-specific joins (SSM)"
                ));
                fixes.push(format!(
                    "sysctl -w net.ipv6.conf.all.force_mld_version=0 net.ipv6.conf.{dev}.force_mld_version=0"
                ));
            } else if forced == 2 {
                notes.push("MLDv2 is forced".to_owned());
            } else {
                notes.push("MLD version not forced".to_owned());
            }
            if let Some(n) = sysctl_int("net/core/optmem_max") {
                notes.push(format!(
                    "IPv6 memberships per socket are bounded by net.core.optmem_max = {n} bytes"
                ));
            }
        }
    }
    let opt = if ctx.family == Family::V6 {
        "IPV6_MULTICAST_ALL"
    } else {
        "IP_MULTICAST_ALL"
    };
    match multicast_all_default(ctx.family) {
        Ok(true) => notes.push(format!(
            "{opt} is on for new sockets (Linux's default: a socket bound to the group's port also \
             gets the groups other sockets on this host joined); mcast turns it off for its own"
        )),
        Ok(false) => notes.push(format!("{opt} is off for new sockets")),
        Err(e) => notes.push(format!(
            "{opt} cannot be read here ({e}; qemu-user lacks it): mcast then drops datagrams of \
             other interfaces itself"
        )),
    }
    let detail = notes.join("; ");
    match status {
        Status::Pass => Check::pass("kernel", detail),
        Status::Warn => Check::warn("kernel", detail, Some(fixes.join("; "))),
        Status::Fail => Check::fail("kernel", detail, Some(fixes.join("; "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn igmp_versions_per_device() {
        let text = "Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n\
                    1\tlo        :     1      V3\n\
                    \t\t\t\t010000E0     1 0:00000000\t\t0\n\
                    2\twlan0     :     2      V2\n\
                    \t\t\t\t1E144AEF     1 0:00000000\t\t0\n";
        assert_eq!(igmp_version(text, "wlan0"), Some(2));
        assert_eq!(igmp_version(text, "lo"), Some(3));
        assert_eq!(igmp_version(text, "eth0"), None);
    }
}
