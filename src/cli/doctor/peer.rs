//! Check 7: the path to a peer that runs `mcast recv --echo GROUP`.
//!
//! Probes go to the group by multicast (TTL 1, as `mcast ping`), and to the
//! peer's address at the group's port by unicast. `recv --echo` answers both
//! by unicast (it also listens at its interface's address, see
//! `ReceiverBuilder::unicast`). Comparing the two tells a multicast problem
//! (unicast answers, multicast does not: snooping, a multicast filter, the
//! peer joined elsewhere) from a path problem (nothing answers: isolation,
//! a wrong address, a firewall, no echo running). The unicast socket is
//! connected, so an ICMP port unreachable comes back as ECONNREFUSED: the
//! peer is there, but nothing listens at that address and port.
//!
//! When multicast answers, a ramp of probes (0.25 to 4 Mbit/s, 3 s) looks
//! for Wi-Fi's signatures in the peer's answers: DTIM bunching
//! ([`DtimDetector`], fed with each probe's send time and the arrival of
//! its answer: answers go by unicast, which the access point does not
//! hold, so they come back in the bursts the probes arrived in) and loss
//! that began above a rate ([`BasicRateDetector`], fed per 0.3 s step).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::time::{Duration, Instant};

use mcast::recording::{BasicRateDetector, DtimDetector};
use mcast::{
    unix_time_ns, EchoCollector, Probe, ReplySocket, RttStats, Sender, SenderId, UnicastEcho,
};

use crate::cli::stats_view;

use super::route::{way_to, Way};
use super::{Check, Ctx, Findings};

const PROBES: u64 = 3;
const GAP: Duration = Duration::from_millis(200);
const WAIT: Duration = Duration::from_secs(1);

/// The round trips of the answers from one address, for the report.
fn summary(r: &RttStats) -> String {
    format!(
        "{}/{PROBES} answered, rtt min/avg/max {:.3}/{:.3}/{:.3} ms",
        r.received(),
        r.min(),
        r.avg(),
        r.max()
    )
}

fn probe_bytes(id: SenderId, seq: u64) -> [u8; mcast::PROBE_HEADER_LEN] {
    let mut b = [0u8; mcast::PROBE_HEADER_LEN];
    let _ = Probe::new(id, seq, unix_time_ns()).encode_into(&mut b, mcast::PROBE_HEADER_LEN);
    b
}

/// Takes the replies on `socket` until `until`; errors go to `note` (a
/// connected socket reports ICMP errors as receive errors).
fn collect(
    replies: &mut EchoCollector,
    socket: &impl ReplySocket,
    until: Instant,
    mut note: impl FnMut(&mcast::Error),
) {
    let mut buf = vec![0u8; 2048];
    while Instant::now() < until {
        if let Err(e) = replies.wait(socket, &mut buf, until, |_| Ok::<(), mcast::Error>(())) {
            note(&e);
        }
    }
}

/// The multicast half: answers per responder, or why it could not run.
fn multicast(ctx: &Ctx<'_>) -> Result<BTreeMap<IpAddr, RttStats>, String> {
    let sender = Sender::builder(ctx.group, ctx.iface.clone())
        .ttl(1)
        .loopback(false)
        .broadcast(ctx.broadcast)
        .build()
        .map_err(|e| e.to_string())?;
    let id = SenderId::random();
    let mut replies = EchoCollector::new(id);
    for seq in 1..=PROBES {
        sender
            .send(&probe_bytes(id, seq))
            .map_err(|e| e.to_string())?;
        collect(&mut replies, &sender, Instant::now() + GAP, |_| {});
    }
    collect(&mut replies, &sender, Instant::now() + WAIT, |_| {});
    Ok(replies.responders().clone())
}

/// What to do about Wi-Fi's signatures.
const WIFI_FIX: &str = "for bursts, turn power save off on the stations (`iw dev wlan0 set \
     power_save off`) or set the access point's DTIM period to 1; for loss above a rate, raise the \
     access point's lowest basic rate (or its multicast rate), or send slower than it";

/// The ramp's rates, bits/s of probe payload, each for [`STEP`].
const RAMP_BPS: [u64; 5] = [250_000, 500_000, 1_000_000, 2_000_000, 4_000_000];
const STEP: Duration = Duration::from_millis(600);
/// The intervals the basic-rate detector is fed: two per rate.
const RATE_INTERVAL: Duration = Duration::from_millis(300);
const RAMP_SIZE: usize = 1000;

/// Sends the ramp to the group and returns what the peer's answers show:
/// the sentences of `recv`'s summary (DTIM bursts, the basic rate), none
/// when nothing shows (or the probes cannot be sent).
fn signatures(ctx: &Ctx<'_>, peer: IpAddr) -> Vec<String> {
    if ctx.broadcast {
        return Vec::new();
    }
    let Ok(sender) = Sender::builder(ctx.group, ctx.iface.clone())
        .ttl(1)
        .loopback(false)
        .build()
    else {
        return Vec::new();
    };
    let id = SenderId::random();
    let mut replies = EchoCollector::new(id);
    // Per probe (seq − 1): its send time, the interval and the rate.
    let mut sent: Vec<(u64, usize, u64)> = Vec::new();
    // Per seq − 1: the round trip of the peer's answer, ns (from the
    // kernel's receive time, so our own pace does not blur the bursts).
    let mut answered: Vec<Option<u64>> = Vec::new();
    let mut buf = vec![0u8; 2048];
    let mut probe = vec![0u8; RAMP_SIZE];
    let start = Instant::now();
    let mut interval = 0;
    for (step, &bps) in RAMP_BPS.iter().enumerate() {
        let period = Duration::from_nanos(RAMP_SIZE as u64 * 8 * 1_000_000_000 / bps);
        let step_start = start + STEP * step as u32;
        let mut due = step_start;
        while due < step_start + STEP {
            interval = 2 * step + usize::from(due >= step_start + RATE_INTERVAL);
            let seq = sent.len() as u64 + 1;
            let now_ns = unix_time_ns();
            let _ = Probe::new(id, seq, now_ns).encode_into(&mut probe, RAMP_SIZE);
            if sender.send(&probe).is_err() {
                return Vec::new();
            }
            sent.push((now_ns, interval, bps));
            answered.push(None);
            due += period;
            take(&mut replies, &sender, &mut buf, due, peer, &mut answered);
        }
    }
    take(
        &mut replies,
        &sender,
        &mut buf,
        Instant::now() + WAIT,
        peer,
        &mut answered,
    );
    let mut rate = BasicRateDetector::new();
    for i in 0..=interval {
        let mine = || sent.iter().zip(&answered).filter(|((_, k, _), _)| *k == i);
        let expected = mine().count() as u64;
        let lost = mine().filter(|(_, a)| a.is_none()).count() as u64;
        let bps = mine().next().map_or(0, |((_, _, b), _)| *b);
        rate.on_interval(bps, expected, lost);
    }
    let mut dtim = DtimDetector::new();
    for ((sent_ns, _, _), a) in sent.iter().zip(&answered) {
        if let Some(rtt) = a {
            dtim.on_probe(*sent_ns, sent_ns + rtt);
        }
    }
    let rate = rate
        .finding()
        .map(|f| stats_view::rate_sentence(&f))
        .or_else(|| rate.flat().map(|f| stats_view::flat_sentence(&f)));
    dtim.bursts()
        .map(|b| stats_view::bursts_sentence(&b))
        .into_iter()
        .chain(rate)
        .collect()
}

/// Takes the answers until `until`, noting the round trip of each of
/// `peer`'s.
fn take(
    replies: &mut EchoCollector,
    sender: &Sender,
    buf: &mut [u8],
    until: Instant,
    peer: IpAddr,
    answered: &mut [Option<u64>],
) {
    while Instant::now() < until {
        let _ = replies.wait(sender, buf, until, |r| {
            let slot = usize::try_from(r.seq.wrapping_sub(1)).ok();
            if let Some(a) = slot.and_then(|i| answered.get_mut(i)) {
                if r.responder == peer && a.is_none() {
                    *a = Some((r.rtt_ms.max(0.0) * 1e6) as u64);
                }
            }
            Ok::<(), mcast::Error>(())
        });
    }
}

/// How the unicast half went.
#[derive(Debug, Default)]
struct Unicast {
    rtts: RttStats,
    /// An ICMP port unreachable came back: the host is there, the port is closed.
    refused: bool,
    /// The kernel gave up on the next hop (no ARP/ND answer).
    host_unreachable: bool,
    /// It could not even start (no route, no address to send from).
    error: Option<String>,
}

fn unicast(ctx: &Ctx<'_>, peer: IpAddr) -> Unicast {
    let mut u = Unicast::default();
    let idx = ctx.iface.index().get();
    let port = ctx.group.port().get();
    let link_local =
        |ip: &IpAddr| matches!(ip, IpAddr::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80);
    let local: Option<SocketAddr> = match peer {
        IpAddr::V4(_) => ctx.iface.ipv4().map(|a| SocketAddr::new(IpAddr::V4(a), 0)),
        p @ IpAddr::V6(_) if link_local(&p) => ctx
            .iface
            .ipv6_link_local()
            .map(|ll| SocketAddr::V6(SocketAddrV6::new(ll, 0, 0, idx))),
        IpAddr::V6(_) => ctx
            .iface
            .ipv6_routable()
            .map(|a| SocketAddr::new(IpAddr::V6(a), 0))
            .or_else(|| {
                ctx.iface
                    .ipv6_link_local()
                    .map(|ll| SocketAddr::V6(SocketAddrV6::new(ll, 0, 0, idx)))
            }),
    };
    let Some(local) = local else {
        u.error = Some(format!(
            "{} has no {} address to send from",
            ctx.iface, ctx.family
        ));
        return u;
    };
    let dest = match peer {
        IpAddr::V6(p) if link_local(&peer) => SocketAddr::V6(SocketAddrV6::new(p, port, 0, idx)),
        p => SocketAddr::new(p, port),
    };
    let sock = match UnicastEcho::connect(local, dest) {
        Ok(s) => s,
        Err(e) => {
            u.error = Some(format!("cannot send from {} to {dest}: {e}", local.ip()));
            return u;
        }
    };
    let id = SenderId::random();
    let mut replies = EchoCollector::new(id);
    let note = |errno: Option<i32>, u: &mut Unicast| match errno {
        Some(nix::libc::ECONNREFUSED) => u.refused = true,
        Some(nix::libc::EHOSTUNREACH) | Some(nix::libc::ENETUNREACH) => u.host_unreachable = true,
        _ => {}
    };
    for seq in 1..=PROBES {
        if let Err(e) = sock.send(&probe_bytes(id, seq)) {
            note(e.raw_os_error(), &mut u);
        }
        collect(&mut replies, &sock, Instant::now() + GAP, |e| {
            note(e.raw_os_error(), &mut u)
        });
    }
    collect(&mut replies, &sock, Instant::now() + WAIT, |e| {
        note(e.raw_os_error(), &mut u)
    });
    u.rtts = replies.answered().clone();
    u
}

/// From `/proc/net/arp`: whether the peer's link-layer address is known on
/// `dev` (Some(true)), was asked for without an answer (Some(false)), or
/// was never looked up (None).
pub(crate) fn arp_state(arp: &str, ip: IpAddr, dev: &str) -> Option<bool> {
    arp.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 6 || f[0].parse::<IpAddr>().ok()? != ip || f[5] != dev {
            return None;
        }
        let flags = u32::from_str_radix(f[2].trim_start_matches("0x"), 16).ok()?;
        // ATF_COM (0x2): the entry is complete.
        Some(flags & 0x2 != 0)
    })
}

/// Check 7.
pub(crate) fn peer(ctx: &Ctx<'_>, peer: IpAddr, findings: &Findings) -> Check {
    let dev = ctx.dev();
    let group = ctx.group;
    let port = group.port().get();
    let echo = format!(
        "mcast recv --echo {}{group}",
        if ctx.broadcast { "--broadcast " } else { "" }
    );
    let answers = match multicast(ctx) {
        Ok(a) => a,
        Err(e) => {
            return Check::fail(
                "peer",
                format!("cannot send probes to {group} on {}: {e}", ctx.iface),
                Some("fix what the error names (see the checks above)".to_owned()),
            )
        }
    };
    let m = answers.get(&peer).cloned();
    let others: Vec<String> = answers
        .keys()
        .filter(|a| **a != peer)
        .map(ToString::to_string)
        .collect();
    let others_note = if others.is_empty() {
        String::new()
    } else {
        format!(
            "; other responders answered the multicast probes: {} (multicast works on this link; is {peer} the peer's address here?)",
            others.join(", ")
        )
    };
    // Broadcast echoers listen at the port on every address but take only
    // broadcasts, so there is no unicast half to compare with.
    let u = (!ctx.broadcast).then(|| unicast(ctx, peer));
    let route = way_to(ctx, peer);
    let elsewhere = match &route {
        Way::Dev(d, _) if d != dev => Some(d.clone()),
        _ => None,
    };
    let off_link = !ctx.on_link(peer);
    let what = if ctx.broadcast {
        "broadcast"
    } else {
        "multicast"
    };
    let m_text = m.as_ref().map_or(
        format!("no answer to {PROBES} {what} probes to {group}"),
        |r| format!("{what} to {group}: {}", summary(r)),
    );
    let u_ok = u.as_ref().is_some_and(|u| u.rtts.received() > 0);
    let u_text = match &u {
        None => String::new(),
        Some(u) if u.rtts.received() > 0 => {
            format!("; unicast to {peer}:{port}: {}", summary(&u.rtts))
        }
        Some(u) if u.refused => {
            format!("; unicast to {peer}:{port} was refused (ICMP port unreachable)")
        }
        Some(Unicast { error: Some(e), .. }) => format!("; unicast not tried: {e}"),
        Some(_) => format!("; no answer to {PROBES} unicast probes to {peer}:{port}"),
    };
    let wifi = if m.is_some() {
        signatures(ctx, peer)
    } else {
        Vec::new()
    };
    let wifi_text: String = wifi.iter().map(|w| format!("; {w}")).collect();
    match (m.is_some(), u_ok, &u) {
        (true, true, _) | (true, false, None) if !wifi.is_empty() => Check::warn(
            "peer",
            format!("{peer} answered: {m_text}{u_text}{others_note}{wifi_text}"),
            Some(WIFI_FIX.to_owned()),
        ),
        (true, true, _) | (true, false, None) => Check::pass(
            "peer",
            format!("{peer} answered: {m_text}{u_text}{others_note}"),
        ),
        (true, false, Some(_)) => {
            let why = match &elsewhere {
                Some(d) => format!(
                    "the unicast probes left through {d} (the route to {peer}), not {dev}, so they                      never reached the peer on this link"
                ),
                None => format!(
                    "the peer's mcast may predate unicast answers, or a firewall drops unicast to port {port}"
                ),
            };
            Check::warn(
                "peer",
                format!("{peer} answered the multicast probes ({m_text}){u_text}: multicast works; {why}{wifi_text}"),
                Some(match &elsewhere {
                    Some(_) => format!("route {peer} through {dev} if it is on that link: ip route add {peer}/32 dev {dev}"),
                    None => format!("update mcast on the peer, or allow UDP port {port} in its firewall"),
                }),
            )
        }
        (false, true, _) => {
            let mut causes = Vec::new();
            if findings.firewall_drops {
                causes.push(
                    "this host's firewall drops the group's traffic (see firewall)".to_owned(),
                );
            }
            if off_link {
                causes.push(format!(
                    "the peer may be joined on another interface: its echo answers at {peer}, which is \
                     not on {dev}'s network, so it probably runs on an interface that does not face this link"
                ));
            } else {
                causes.push(format!(
                    "the peer may be joined on another interface than the one facing this link \
                     (`mcast ifaces` there, then `{echo} -i IFACE`)"
                ));
            }
            causes.push(
                "IGMP snooping in the access point or switch without a querier (it stops forwarding \
                 the group a few minutes after the join)"
                    .to_owned(),
            );
            causes.push(
                "the access point filters or rate-limits multicast, or converts it to unicast only \
                 for members it knows"
                    .to_owned(),
            );
            causes.push("a firewall on the peer drops multicast or IGMP/MLD".to_owned());
            causes.push(
                "Wi-Fi power save: multicast goes out only after DTIM beacons, at the lowest rate, and \
                 a sleeping station can miss it"
                    .to_owned(),
            );
            causes.push(
                "if the peer is an Android phone, no app there holds a Wi-Fi MulticastLock"
                    .to_owned(),
            );
            Check::fail(
                "peer",
                format!(
                    "unicast works but multicast does not: {m_text}{u_text}{others_note}. Likely causes: {}",
                    causes.join("; ")
                ),
                Some(format!(
                    "on the peer: `mcast ifaces`, then `{echo} -i IFACE` with the interface on this link; on \
                     the access point: turn on its IGMP querier (or turn IGMP snooping off) and any \
                     multicast filtering or 'multicast to unicast' feature off"
                )),
            )
        }
        (false, false, _) => {
            let refused = u.as_ref().is_some_and(|u| u.refused);
            if refused {
                return Check::fail(
                    "peer",
                    format!(
                        "{m_text}{u_text}: {peer} is reachable, but no `{echo}` listens at {peer}:{port}: \
                         it is not running there, it uses another port, or the peer is joined on another \
                         interface (its echo answers unicast only at the address of the interface it \
                         joined on){others_note}"
                    ),
                    Some(format!(
                        "on the peer: `{echo} -i IFACE` with IFACE the interface that has {peer}"
                    )),
                );
            }
            let mut causes = Vec::new();
            if findings.rp_drops_peer {
                causes.push(format!(
                    "strict rp_filter here drops everything from {peer} (see rp_filter)"
                ));
            }
            if let Some(d) = &elsewhere {
                causes.push(format!(
                    "the route to {peer} leaves through {d}, not {dev}: the peer is not on {dev}'s \
                     network (and TTL-1 multicast does not cross routers)"
                ));
            } else if matches!(route, Way::Unreachable) {
                causes.push(format!("there is no route to {peer}"));
            }
            if findings.firewall_drops {
                causes.push(
                    "this host's firewall drops the group's traffic (see firewall)".to_owned(),
                );
            }
            let arp = match peer {
                IpAddr::V4(_) if !off_link => std::fs::read_to_string("/proc/net/arp")
                    .ok()
                    .and_then(|t| arp_state(&t, peer, dev)),
                _ => None,
            };
            let unreachable = u.as_ref().is_some_and(|u| u.host_unreachable);
            if arp == Some(false) || unreachable {
                causes.push(format!(
                    "{peer} never answered ARP/neighbour discovery on {dev}: client (AP) isolation \
                     (stations of the access point cannot reach each other; guest networks do it), or \
                     {peer} is not the peer's address on this network, or the peer is off"
                ));
            } else {
                causes.push(
                    "client (AP) isolation: stations of the access point cannot reach each other \
                     (guest networks do it)"
                        .to_owned(),
                );
                if arp == Some(true) {
                    causes.push(format!(
                        "{peer}'s link-layer address is in the ARP cache (it answered at some point): \
                         a firewall on the peer drops UDP port {port}, or it does not run `{echo}`"
                    ));
                } else {
                    causes.push(format!("{peer} is not the peer's address on this network"));
                    causes.push(format!("a firewall on the peer drops UDP port {port}"));
                    causes.push(format!("the peer does not run `{echo}`"));
                }
            }
            Check::fail(
                "peer",
                format!(
                    "nothing answered, neither by multicast nor by unicast: {m_text}{u_text}{others_note}. \
                     Likely causes: {}",
                    causes.join("; ")
                ),
                Some(if findings.rp_drops_peer {
                    "apply the rp_filter fix above, then run the doctor again".to_owned()
                } else if let Some(d) = &elsewhere {
                    format!(
                        "give the peer's address on {dev}'s network (`mcast ifaces` on the peer), or                          check on the interface that reaches it: -i {d}"
                    )
                } else {
                    format!(
                        "turn client/AP isolation off on the access point (or use a network without it), \
                         check the peer's address (`mcast ifaces` on the peer) and run `{echo}` there"
                    )
                }),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_arp() {
        let text = "\
IP address       HW type     Flags       HW address            Mask     Device
198.18.1.20      0x1         0x2         02:6d:63:00:01:20     *        wlan0
198.18.1.30      0x1         0x0         00:00:00:00:00:00     *        wlan0
198.18.2.1       0x1         0x2         02:6d:63:00:02:01     *        rmnet_data0
";
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(arp_state(text, ip("198.18.1.20"), "wlan0"), Some(true));
        assert_eq!(arp_state(text, ip("198.18.1.30"), "wlan0"), Some(false));
        assert_eq!(arp_state(text, ip("198.18.2.1"), "wlan0"), None);
        assert_eq!(arp_state(text, ip("198.18.1.40"), "wlan0"), None);
    }

    #[test]
    fn rtt_summary() {
        let mut r = RttStats::default();
        r.add(1, 0.5);
        r.add(1, 9.0);
        r.add(2, 1.5);
        assert_eq!(
            summary(&r),
            "2/3 answered, rtt min/avg/max 0.500/1.000/1.500 ms"
        );
    }
}
