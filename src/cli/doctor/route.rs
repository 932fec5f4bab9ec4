//! Checks 2 and 3: where the kernel routes the group, and reverse-path
//! filtering against the route back to the peer.
//!
//! Both use the same trick, which needs no netlink and no `ip route get`: a
//! UDP socket that names no interface is connected to the destination (no
//! packet is sent), and the source address the kernel picked tells which
//! interface the route leaves through. It honours policy routing (Android's
//! per-network tables) as any program without an interface option would see
//! it. `/proc/net/route` and `/proc/net/ipv6_route` only add detail to the
//! messages (which route matched, its metric).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};

use super::{owner, sysctl_int, Check, Ctx, Findings};
use mcast::{Address, Family};

/// The source address the kernel picks for `dest` from a socket that names
/// no interface: what an unpinned program would use.
pub(crate) fn route_source(dest: SocketAddr, broadcast: bool) -> io::Result<SocketAddr> {
    let bind: SocketAddr = if dest.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = UdpSocket::bind(bind)?;
    if broadcast {
        s.set_broadcast(true)?;
    }
    s.connect(dest)?;
    s.local_addr()
}

/// Where the route to a unicast address leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Way {
    /// Through this interface (its name), with this source address.
    Dev(String, IpAddr),
    /// The source address belongs to no interface we know.
    Unknown(IpAddr),
    /// No route at all (ENETUNREACH).
    Unreachable,
    /// The check itself failed.
    Error(String),
}

/// Where the route to `peer` leaves (a link-local IPv6 peer is always
/// reached through our interface, by its scope id).
pub(crate) fn way_to(ctx: &Ctx<'_>, peer: IpAddr) -> Way {
    let port = ctx.group.port().get();
    let dest = match peer {
        IpAddr::V6(p) if (p.segments()[0] & 0xffc0) == 0xfe80 => {
            SocketAddr::V6(SocketAddrV6::new(p, port, 0, ctx.iface.index().get()))
        }
        p => SocketAddr::new(p, port),
    };
    classify(ctx, route_source(dest, false))
}

fn classify(ctx: &Ctx<'_>, r: io::Result<SocketAddr>) -> Way {
    match r {
        Ok(local) => {
            let scope = match local {
                SocketAddr::V6(v6) => v6.scope_id(),
                SocketAddr::V4(_) => 0,
            };
            match owner(ctx.list, local.ip(), scope) {
                Some(i) => Way::Dev(i.name().to_owned(), local.ip()),
                None => Way::Unknown(local.ip()),
            }
        }
        Err(e) if e.raw_os_error() == Some(nix::libc::ENETUNREACH) => Way::Unreachable,
        Err(e) => Way::Error(e.to_string()),
    }
}

/// One line of `/proc/net/route` (IPv4 main table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route4 {
    pub(crate) dev: String,
    pub(crate) dest: Ipv4Addr,
    pub(crate) prefix: u8,
    pub(crate) gateway: Option<Ipv4Addr>,
    pub(crate) metric: u32,
}

impl Route4 {
    fn describe(&self) -> String {
        let via = self.gateway.map_or(String::new(), |g| format!(" via {g}"));
        if self.prefix == 0 {
            format!("the default route{via} dev {}", self.dev)
        } else {
            format!(
                "the route {}/{}{via} dev {}",
                self.dest, self.prefix, self.dev
            )
        }
    }
}

/// `/proc/net/route` prints each address as the kernel's 32-bit word in
/// hex: the network-order bytes read as a host integer.
fn hex_v4(s: &str) -> Option<Ipv4Addr> {
    u32::from_str_radix(s, 16)
        .ok()
        .map(|v| Ipv4Addr::from(v.to_ne_bytes()))
}

/// Parses `/proc/net/route`.
pub(crate) fn parse_route4(text: &str) -> Vec<Route4> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            let gateway = hex_v4(f[2]).filter(|g| !g.is_unspecified());
            Some(Route4 {
                dev: f[0].to_owned(),
                dest: hex_v4(f[1])?,
                prefix: u8::try_from(u32::from(hex_v4(f[7])?).count_ones()).ok()?,
                gateway,
                metric: f[6].parse().ok()?,
            })
        })
        .collect()
}

/// The main-table route that matches `ip` (longest prefix, then lowest
/// metric).
pub(crate) fn lookup4(routes: &[Route4], ip: Ipv4Addr) -> Option<&Route4> {
    routes
        .iter()
        .filter(|r| Address::new(IpAddr::V4(r.dest), r.prefix).contains(IpAddr::V4(ip)))
        .max_by_key(|r| (r.prefix, std::cmp::Reverse(r.metric)))
}

/// A `multicast ff00::/8` route from `/proc/net/ipv6_route`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mroute6 {
    pub(crate) dev: String,
    pub(crate) metric: u32,
}

/// The `ff00::/8` routes of `/proc/net/ipv6_route` (every table; on Linux
/// they live in the local table, one per interface with IPv6, metric 256).
pub(crate) fn parse_mroutes6(text: &str) -> Vec<Mroute6> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 10
                || !f[0].eq_ignore_ascii_case("ff000000000000000000000000000000")
                || f[1] != "08"
            {
                return None;
            }
            Some(Mroute6 {
                dev: f[9].to_owned(),
                metric: u32::from_str_radix(f[5], 16).ok()?,
            })
        })
        .collect()
}

/// The fix that makes `dev` the interface for IPv6 multicast: a `multicast
/// ff00::/8` route in the local table with a lower metric than the others
/// (tried in the lab: without `metric`, `ip -6 route add` gives 1024, which
/// loses to the kernel's 256 and to any route such as Android's).
pub(crate) fn v6_fix(routes: &[Mroute6], dev: &str) -> String {
    let best_other = routes
        .iter()
        .filter(|r| r.dev != dev)
        .min_by_key(|r| r.metric);
    match best_other {
        Some(r) if r.metric <= 1 => format!(
            "ip -6 route del multicast ff00::/8 dev {} table local metric {}; \
             ip -6 route add multicast ff00::/8 dev {dev} table local metric 1",
            r.dev, r.metric
        ),
        Some(r) => format!(
            "ip -6 route add multicast ff00::/8 dev {dev} table local metric {}",
            r.metric - 1
        ),
        None => format!("ip -6 route add multicast ff00::/8 dev {dev} table local metric 1"),
    }
}

/// The fix that routes an IPv4 group through `dev`: a 224.0.0.0/4 route,
/// more specific than a default route, or a replacement of the route that
/// matched if that one is already as specific.
fn v4_fix(matched: Option<&Route4>, dev: &str) -> String {
    match matched {
        Some(r) if r.prefix >= 4 => format!("ip route replace {}/{} dev {dev}", r.dest, r.prefix),
        _ => format!("ip route add 224.0.0.0/4 dev {dev}"),
    }
}

/// Check 2: the kernel's route for the group.
pub(crate) fn route(ctx: &Ctx<'_>, findings: &mut Findings) -> Check {
    let dev = ctx.dev();
    let target = ctx.group.addr();
    if ctx.group.scope_v6().is_some_and(|s| s <= 2) {
        return Check::pass(
            "route",
            format!(
                "{target} is link-local (scope {}): senders give the interface in the scope id \
                 ({target}%{dev}), so no route is needed",
                ctx.group.scope_v6().unwrap_or(2)
            ),
        );
    }
    let routes4 = std::fs::read_to_string("/proc/net/route")
        .map(|t| parse_route4(&t))
        .unwrap_or_default();
    let mroutes6 = std::fs::read_to_string("/proc/net/ipv6_route")
        .map(|t| parse_mroutes6(&t))
        .unwrap_or_default();
    let matched4 = match target {
        IpAddr::V4(t) => lookup4(&routes4, t),
        IpAddr::V6(_) => None,
    };
    let fix = match ctx.family {
        Family::V4 if ctx.broadcast => format!("ip route add {target}/32 dev {dev}"),
        Family::V4 => v4_fix(matched4, dev),
        Family::V6 => v6_fix(&mroutes6, dev),
    };
    let way = classify(ctx, route_source(ctx.group.socket_addr(), ctx.broadcast));
    let how = |other: &str| -> String {
        match ctx.family {
            Family::V4 => matched4
                .filter(|r| r.dev == other)
                .map_or(String::new(), |r| format!(" ({})", r.describe())),
            Family::V6 => {
                let mut rs: Vec<&Mroute6> = mroutes6.iter().collect();
                rs.sort_by_key(|r| r.metric);
                if rs.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (multicast ff00::/8 routes: {})",
                        rs.iter()
                            .map(|r| format!("{} metric {}", r.dev, r.metric))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            }
        }
    };
    match way {
        Way::Dev(d, src) if d == dev => Check::pass(
            "route",
            format!("{target} is routed through {dev} (source {src}), the interface checked"),
        ),
        Way::Dev(other, src) => {
            findings.route_elsewhere = Some(other.clone());
            let android = if ctx.android && ctx.family == Family::V6 {
                format!(
                    "; on Android the ff00::/8 route of the default network points at {other}, \
                     and only root can change it"
                )
            } else {
                String::new()
            };
            Check::warn(
                "route",
                format!(
                    "the kernel routes {target} through {other}{}, not {dev} (source {src}): mcast \
                     pins {dev}, so mcast works, but programs that do not choose an interface (and \
                     the kernel's default for unpinned sockets) send to {target} through {other}{android}",
                    how(&other)
                ),
                Some(fix),
            )
        }
        Way::Unknown(src) => Check::warn(
            "route",
            format!(
                "the kernel routes {target} with source {src}, which no interface owns, not through {dev}"
            ),
            Some(fix),
        ),
        Way::Unreachable => {
            findings.route_elsewhere = None;
            let what = match ctx.family {
                Family::V4 => "this host has no default route and no 224.0.0.0/4 route",
                Family::V6 => "this host has no multicast ff00::/8 route",
            };
            Check::fail(
                "route",
                format!(
                    "no route for {target} (Network is unreachable): {what}, as on phones without \
                     mobile data and in emulators; programs that do not choose an interface cannot \
                     send to the group (mcast pins {dev} and can)"
                ),
                Some(match ctx.family {
                    Family::V4 if ctx.broadcast => format!("ip route add {target}/32 dev {dev}"),
                    Family::V4 => format!("ip route add 224.0.0.0/4 dev {dev}"),
                    Family::V6 => format!("ip -6 route add multicast ff00::/8 dev {dev} table local"),
                }),
            )
        }
        Way::Error(e) => Check::warn(
            "route",
            format!("cannot tell where {target} is routed: connecting a test socket failed: {e}"),
            None,
        ),
    }
}

/// Check 3: strict reverse-path filtering drops packets whose source is not
/// routed back through the interface they arrived on.
pub(crate) fn rp_filter(ctx: &Ctx<'_>, findings: &mut Findings) -> Check {
    if ctx.family == Family::V6 {
        return Check::pass(
            "rp_filter",
            "not applicable to IPv6 (Linux has no IPv6 rp_filter; an nftables `fib saddr . iif` \
             rule would do the same, see firewall)",
        );
    }
    let dev = ctx.dev();
    let all = sysctl_int("net/ipv4/conf/all/rp_filter");
    let own = sysctl_int(&format!("net/ipv4/conf/{dev}/rp_filter"));
    let show = |v: Option<i64>| v.map_or("unreadable".to_owned(), |v| v.to_string());
    let values = format!(
        "net.ipv4.conf.all.rp_filter = {}, net.ipv4.conf.{dev}.rp_filter = {}",
        show(all),
        show(own)
    );
    let Some(effective) = all.max(own) else {
        return Check::warn(
            "rp_filter",
            format!("cannot read the rp_filter settings ({values})"),
            None,
        );
    };
    let loose = format!("sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.{dev}.rp_filter=2");
    match effective {
        0 => Check::pass(
            "rp_filter",
            format!("off ({values}): sources are not checked against the routes"),
        ),
        2 => Check::pass(
            "rp_filter",
            format!("loose ({values}): a source is accepted if any interface routes back to it"),
        ),
        1 => {
            let Some(peer) = ctx.peer else {
                let default_dev = findings
                    .route_elsewhere
                    .as_deref()
                    .map_or(String::new(), |d| {
                        format!(
                            ", such as anything outside {dev}'s subnets while routes lead to {d}"
                        )
                    });
                return Check::warn(
                    "rp_filter",
                    format!(
                        "strict ({values}, the higher counts): multicast from a sender whose route back \
                         does not leave through {dev} is dropped{default_dev}; give --peer ADDR to check a sender"
                    ),
                    Some(format!("{loose} (loose)")),
                );
            };
            match way_to(ctx, peer) {
                Way::Dev(d, _) if d == dev => Check::pass(
                    "rp_filter",
                    format!(
                        "strict ({values}), and the route back to {peer} leaves through {dev}, so its \
                         packets pass"
                    ),
                ),
                Way::Dev(other, _) => {
                    findings.rp_drops_peer = true;
                    Check::fail(
                        "rp_filter",
                        format!(
                            "strict ({values}, the higher counts): packets from {peer} arriving on \
                             {dev} are dropped, because the route back to {peer} leaves through \
                             {other} (an asymmetric path): its multicast and its answers never reach \
                             a socket"
                        ),
                        Some(format!(
                            "{loose} (loose), or if {peer} is on {dev}'s link, route it back that way: \
                             ip route add {peer}/32 dev {dev}"
                        )),
                    )
                }
                Way::Unreachable => {
                    findings.rp_drops_peer = true;
                    Check::fail(
                        "rp_filter",
                        format!(
                            "strict ({values}): there is no route back to {peer} at all, so \
                             everything from it is dropped"
                        ),
                        Some(format!("{loose} (loose), or add a route to {peer}")),
                    )
                }
                Way::Unknown(src) => Check::warn(
                    "rp_filter",
                    format!(
                        "strict ({values}); the route back to {peer} uses source {src}, which no \
                         interface owns, so it may not leave through {dev}"
                    ),
                    Some(format!("{loose} (loose)")),
                ),
                Way::Error(e) => Check::warn(
                    "rp_filter",
                    format!("strict ({values}); cannot tell where the route back to {peer} leaves: {e}"),
                    Some(format!("{loose} (loose)")),
                ),
            }
        }
        v => Check::warn(
            "rp_filter",
            format!("unknown value {v} ({values})"),
            Some(loose),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // /proc/net/route of the lab's phone (little-endian words).
    const PHONE_ROUTE: &str = "\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
rmnet_data0\t00000000\t010212C6\t0003\t0\t0\t0\t00000000\t0\t0\t0
wlan0\t000112C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
rmnet_data0\t000212C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
";

    #[test]
    fn proc_net_route() {
        let r = parse_route4(PHONE_ROUTE);
        assert_eq!(r.len(), 3);
        assert_eq!(
            r[0],
            Route4 {
                dev: "rmnet_data0".into(),
                dest: Ipv4Addr::UNSPECIFIED,
                prefix: 0,
                gateway: Some(Ipv4Addr::new(198, 18, 2, 1)),
                metric: 0
            }
        );
        assert_eq!((r[1].dest, r[1].prefix), (Ipv4Addr::new(198, 18, 1, 0), 24));
        let g = lookup4(&r, Ipv4Addr::new(239, 74, 20, 30)).unwrap();
        assert_eq!(g.dev, "rmnet_data0");
        assert_eq!(
            g.describe(),
            "the default route via 198.18.2.1 dev rmnet_data0"
        );
        assert_eq!(
            v4_fix(Some(g), "wlan0"),
            "ip route add 224.0.0.0/4 dev wlan0"
        );
        assert_eq!(
            lookup4(&r, Ipv4Addr::new(198, 18, 1, 20)).unwrap().dev,
            "wlan0"
        );
        // A multicast route through the wrong interface is replaced.
        let mut with = r.clone();
        with.push(Route4 {
            dev: "rmnet_data0".into(),
            dest: Ipv4Addr::new(224, 0, 0, 0),
            prefix: 4,
            gateway: None,
            metric: 0,
        });
        let m = lookup4(&with, Ipv4Addr::new(239, 74, 20, 30)).unwrap();
        assert_eq!(
            v4_fix(Some(m), "wlan0"),
            "ip route replace 224.0.0.0/4 dev wlan0"
        );
        // No route at all.
        assert!(lookup4(&r[1..], Ipv4Addr::new(239, 74, 20, 30)).is_none());
    }

    #[test]
    fn proc_net_ipv6_route_and_the_fix() {
        let text = "\
ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000064 00000003 00000000 00000001 rmnet_data0
ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000003 00000000 00000001    wlan0
ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001 rmnet_data0
fd6d6361737400010000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001    wlan0
";
        let r = parse_mroutes6(text);
        let routes: Vec<(&str, u32)> = r.iter().map(|m| (m.dev.as_str(), m.metric)).collect();
        // The ULA route is not a multicast route.
        assert_eq!(
            routes,
            [("rmnet_data0", 100), ("wlan0", 256), ("rmnet_data0", 256)]
        );
        assert_eq!(
            v6_fix(&r, "wlan0"),
            "ip -6 route add multicast ff00::/8 dev wlan0 table local metric 99"
        );
        assert_eq!(
            v6_fix(&[], "wlan0"),
            "ip -6 route add multicast ff00::/8 dev wlan0 table local metric 1"
        );
        let low = [Mroute6 {
            dev: "rmnet0".into(),
            metric: 1,
        }];
        assert!(v6_fix(&low, "wlan0").starts_with("ip -6 route del multicast ff00::/8 dev rmnet0"));
    }
}
