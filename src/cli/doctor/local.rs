//! Check 6: the local loop test. Join the group on the interface, send a
//! few probes to it with TTL (hop limit) 0 and IP_MULTICAST_LOOP on, and see
//! them come back: the join, the send path and this host's own filters work,
//! and nothing leaves the host.
//!
//! TTL 0 works because Linux hands the looped copy to local receivers
//! before it looks at the TTL: `ip_mc_output()` clones the packet for local
//! delivery when loop is on, then drops the original "Multicasts with ttl 0
//! must not go beyond the host"; IPv6's `ip6_finish_output2()` does the
//! same with hop limit 0. The looped copy arrives on the interface it was
//! sent through (its `IP_PKTINFO` index is the interface's), so the
//! receiver's interface filter keeps it. The lab tests check this on the
//! host kernel, natively and under qemu-user (where the fallbacks `ip_mreq`
//! and `bound-source` are used). Broadcasts have no such TTL (`IP_TTL` 0 is
//! invalid), so with `--broadcast` the probes are sent with TTL 1 and also
//! reach the link.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use mcast::{unix_time_ns, JoinMechanism, Pin, Probe, Receiver, Sender, SenderId};

use super::{Check, Ctx, Findings};

/// Probes sent, and how long to wait for them.
const PROBES: u64 = 3;
const WAIT: Duration = Duration::from_secs(1);

/// Whether `/proc/net/igmp` lists `group` under the device line of `dev`.
/// The kernel prints the group as its 32-bit word in hex, so 239.74.20.30
/// reads `1E144AEF` on a little-endian machine; both byte orders are
/// accepted.
pub(crate) fn igmp_member(igmp: &str, dev: &str, group: Ipv4Addr) -> bool {
    let le = format!("{:08X}", u32::from_le_bytes(group.octets()));
    let be = format!("{:08X}", u32::from_be_bytes(group.octets()));
    let mut in_dev = false;
    for l in igmp.lines() {
        if l.trim().is_empty() {
            continue;
        }
        if !l.starts_with(char::is_whitespace) {
            // `2\twlan0     :     2      V3` (or the header line).
            in_dev = l
                .split(':')
                .next()
                .and_then(|h| h.split_whitespace().nth(1))
                == Some(dev);
            continue;
        }
        if in_dev {
            if let Some(hex) = l.split_whitespace().next() {
                if hex.eq_ignore_ascii_case(&le) || hex.eq_ignore_ascii_case(&be) {
                    return true;
                }
            }
        }
    }
    false
}

/// Whether `/proc/net/igmp6` lists `group` on `dev`
/// (`3    wlan0           ff05000000000000000000004a14001e     1 00000004 0`).
pub(crate) fn igmp6_member(igmp6: &str, dev: &str, group: Ipv6Addr) -> bool {
    let want: String = group.octets().iter().map(|b| format!("{b:02x}")).collect();
    igmp6.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() >= 3 && f[1] == dev && f[2].eq_ignore_ascii_case(&want)
    })
}

/// What `/proc/net/igmp(6)` says about the membership.
fn membership(ctx: &Ctx<'_>) -> Result<bool, String> {
    let path = match ctx.group.addr() {
        IpAddr::V4(_) => "/proc/net/igmp",
        IpAddr::V6(_) => "/proc/net/igmp6",
    };
    std::fs::read_to_string(path)
        .map(|t| match ctx.group.addr() {
            IpAddr::V4(g) => igmp_member(&t, ctx.dev(), g),
            IpAddr::V6(g) => igmp6_member(&t, ctx.dev(), g),
        })
        .map_err(|e| format!("cannot read {path}: {e}"))
}

fn mechanism_note(join: Option<JoinMechanism>, pin: Pin) -> String {
    let fallback_join = matches!(join, Some(JoinMechanism::Mreq | JoinMechanism::MreqSource));
    let fallback_pin = !matches!(pin, Pin::MulticastIf);
    if fallback_join || fallback_pin {
        " (fallbacks: this system lacks the usual option, as qemu-user does, and mcast used an \
         equivalent that still pins the interface)"
            .to_owned()
    } else {
        String::new()
    }
}

/// Check 6.
pub(crate) fn local(ctx: &Ctx<'_>, findings: &Findings) -> Check {
    let group = ctx.group;
    let dev = ctx.dev();
    let iface = ctx.iface;
    let mut rx = match Receiver::builder(group, iface.clone())
        .broadcast(ctx.broadcast)
        .build()
    {
        Ok(rx) => rx,
        Err(e) => {
            return Check::fail(
                "local",
                format!(
                    "cannot {} {} on {iface}: {e}",
                    if ctx.broadcast { "listen for" } else { "join" },
                    group
                ),
                Some("fix what the error names (see the interface and kernel checks)".to_owned()),
            )
        }
    };
    let ttl = u8::from(ctx.broadcast);
    let tx = match Sender::builder(group, iface.clone())
        .ttl(ttl)
        .loopback(true)
        .broadcast(ctx.broadcast)
        .build()
    {
        Ok(tx) => tx,
        Err(e) => {
            return Check::fail(
                "local",
                format!("cannot open a sender to {group} on {iface}: {e}"),
                Some("fix what the error names (see the interface and route checks)".to_owned()),
            )
        }
    };
    let joined = rx
        .mechanism()
        .map_or("no join (broadcast)".to_owned(), |m| {
            format!("joined {} on {iface} with {m}", group.addr())
        });
    let pin = tx.pinned_by();
    let mech = rx.mechanism();
    let id = SenderId::random();
    let mut probe = [0u8; mcast::PROBE_HEADER_LEN];
    let mut buf = vec![0u8; 2048];
    let mut got: HashSet<u64> = HashSet::new();
    let mut best_us: Option<u64> = None;
    let start = Instant::now();
    let mut take = |rx: &mut Receiver, until: Instant, got: &mut HashSet<u64>| {
        while got.len() < PROBES as usize {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let Ok(Some(d)) = rx.recv(&mut buf, Some(left)) else {
                // Timed out, interrupted, or failed: stop waiting.
                break;
            };
            let now = unix_time_ns();
            if let Ok(p) = Probe::decode(&buf[..d.len()]) {
                if p.sender_id == id && got.insert(p.seq) {
                    let us = now.saturating_sub(p.sent_ns) / 1000;
                    best_us = Some(best_us.map_or(us, |b| b.min(us)));
                }
            }
        }
    };
    for seq in 1..=PROBES {
        let p = Probe::new(id, seq, unix_time_ns());
        if p.encode_into(&mut probe, mcast::PROBE_HEADER_LEN).is_ok() {
            if let Err(e) = tx.send(&probe) {
                return Check::fail(
                    "local",
                    format!("{joined}, but sending to {group} failed: {e}"),
                    Some("fix what the error names (see the route and firewall checks)".to_owned()),
                );
            }
        }
        take(
            &mut rx,
            Instant::now() + Duration::from_millis(50),
            &mut got,
        );
    }
    take(&mut rx, start + WAIT, &mut got);
    let member = if ctx.broadcast {
        Ok(true)
    } else {
        membership(ctx)
    };
    let filtered = rx.filtered();
    drop(rx);
    let proc_file = if ctx.family == mcast::Family::V4 {
        "/proc/net/igmp"
    } else {
        "/proc/net/igmp6"
    };
    let listed = match &member {
        _ if ctx.broadcast => String::new(),
        Ok(true) => format!(" (listed under {dev} in {proc_file})"),
        Ok(false) => format!(" (but NOT listed under {dev} in {proc_file})"),
        Err(e) => format!(" ({e})"),
    };
    let (how, tail) = if ctx.broadcast {
        (
            format!("with TTL 1 (sender pinned by {pin})"),
            "; broadcasts have no TTL 0, so these also reached the link",
        )
    } else {
        (
            format!(
                "with {} 0 and loop on (sender pinned by {pin})",
                if ctx.family == mcast::Family::V4 {
                    "TTL"
                } else {
                    "hop limit"
                }
            ),
            "; nothing left this host",
        )
    };
    // A broadcast sender is always pinned by its bound source: no fallback.
    let note = if ctx.broadcast {
        String::new()
    } else {
        mechanism_note(mech, pin)
    };
    let n = got.len();
    let other = if filtered > 0 {
        format!("; {filtered} arrived on another interface and were dropped")
    } else {
        String::new()
    };
    if n == 0 {
        let (why, fix) = if findings.firewall_drops {
            (
                "this host's firewall drops them (see firewall)".to_owned(),
                "remove the rules listed under firewall".to_owned(),
            )
        } else {
            (
                "this host drops its own multicast: a firewall or security policy in the output \
                 or input path, or the group is not joined on the interface the probes use"
                    .to_owned(),
                "look for drop rules: nft list ruleset; iptables -L -n -v".to_owned(),
            )
        };
        return Check::fail(
            "local",
            format!(
                "{joined}{listed}, but none of {PROBES} probes sent {how} came back within {} s{other}: {why}{note}",
                WAIT.as_secs()
            ),
            Some(fix),
        );
    }
    let rtt = best_us.map_or(String::new(), |us| {
        format!(", the fastest in {:.3} ms", us as f64 / 1000.0)
    });
    let detail = format!(
        "{joined}{listed}; {n} of {PROBES} probes sent {how} came back{rtt}{tail}{other}{note}"
    );
    if n < PROBES as usize {
        return Check::warn(
            "local",
            detail,
            Some(
                "run it again; if it persists, look for rate limits (nft list ruleset)".to_owned(),
            ),
        );
    }
    if matches!(member, Ok(false)) {
        return Check::warn(
            "local",
            detail,
            Some(format!("compare with `ip maddr show dev {dev}`")),
        );
    }
    Check::pass("local", detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    // /proc/net/igmp of the lab's phone while the doctor is joined.
    const IGMP: &str = "Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter
1\tlo        :     1      V3
\t\t\t\t010000E0     1 0:00000000\t\t0
2\twlan0     :     2      V3
\t\t\t\t1E144AEF     1 0:00000000\t\t0
\t\t\t\t010000E0     1 0:00000000\t\t0
3\trmnet_data0:     1      V3
\t\t\t\t010000E0     1 0:00000000\t\t0
";

    #[test]
    fn proc_net_igmp() {
        let g = Ipv4Addr::new(239, 74, 20, 30);
        assert!(igmp_member(IGMP, "wlan0", g));
        assert!(!igmp_member(IGMP, "rmnet_data0", g));
        assert!(!igmp_member(IGMP, "lo", g));
        assert!(igmp_member(
            IGMP,
            "rmnet_data0",
            Ipv4Addr::new(224, 0, 0, 1)
        ));
        // Big-endian machines print the bytes in order.
        let be = IGMP.replace("1E144AEF", "EF4A141E");
        assert!(igmp_member(&be, "wlan0", g));
        assert!(!igmp_member("", "wlan0", g));
    }

    #[test]
    fn proc_net_igmp6() {
        let text = "\
1    lo              ff020000000000000000000000000001     1 0000000C 0
1    lo              ff010000000000000000000000000001     1 00000008 0
3    wlan0           ff05000000000000000000004a14001e     1 00000004 0
3    wlan0           ff0200000000000000000001ff000110     1 00000004 0
4    rmnet_data0     ff020000000000000000000000000001     1 0000000C 0
";
        let g: Ipv6Addr = "ff05::4a14:1e".parse().unwrap();
        assert!(igmp6_member(text, "wlan0", g));
        assert!(!igmp6_member(text, "rmnet_data0", g));
        assert!(igmp6_member(
            text,
            "rmnet_data0",
            "ff02::1".parse().unwrap()
        ));
    }

    #[test]
    fn fallback_note() {
        assert!(mechanism_note(Some(JoinMechanism::Mreqn), Pin::MulticastIf).is_empty());
        assert!(mechanism_note(Some(JoinMechanism::Mreq), Pin::BoundSource).contains("fallbacks"));
    }
}
