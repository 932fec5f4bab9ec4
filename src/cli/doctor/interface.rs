//! Check 1, `interface`: the interface named (or chosen automatically) can
//! carry the group's traffic, and why it was chosen; it is the interface
//! every other check looks at.

use mcast::{check, find, select, Family, Flags, Interface, Kind, Purpose, Rejection, Verdict};

use super::super::choose::{rejection_text, verdict_list};
use super::super::output::CliError;
use super::Check;

/// How to fix an interface that `check()` rejected.
fn rejection_fix(r: &Rejection, dev: &str) -> Option<String> {
    use Rejection as R;
    match r {
        R::Down => Some(format!("ip link set {dev} up")),
        R::NoMulticast => Some(format!("ip link set {dev} multicast on")),
        R::NoBroadcast => Some(format!(
            "give {dev} an IPv4 address with a broadcast address: ip addr add ADDR/LEN brd + dev {dev}"
        )),
        R::NoAddress(Family::V4) => Some(format!(
            "connect {dev} to its network (DHCP), or: ip addr add ADDR/LEN dev {dev}"
        )),
        R::NoAddress(Family::V6) => Some(format!(
            "enable IPv6 on {dev}: sysctl -w net.ipv6.conf.{dev}.disable_ipv6=0 (a link-local address appears when it is up)"
        )),
        R::Loopback => Some("name it: -i lo".to_owned()),
        _ => None,
    }
}

/// `wlan0 (index 3) is up, multicast, 198.18.1.10/24`
fn describe(iface: &Interface, family: Family, purpose: Purpose) -> String {
    let flags = iface.flags();
    let mut parts = vec![if iface.is_up() { "up" } else { "down" }.to_owned()];
    if flags.contains(Flags::MULTICAST) {
        parts.push("multicast".to_owned());
    } else {
        parts.push("no MULTICAST flag".to_owned());
    }
    if purpose == Purpose::Broadcast {
        parts.push(if flags.contains(Flags::BROADCAST) {
            "broadcast".to_owned()
        } else {
            "no BROADCAST flag".to_owned()
        });
    }
    let addrs: Vec<String> = iface
        .addresses_of(family)
        .map(ToString::to_string)
        .collect();
    if addrs.is_empty() {
        parts.push(format!("no {family} address"));
    } else {
        parts.push(addrs.join(" "));
    }
    format!("{iface} is {}", parts.join(", "))
}

/// Check 1, and the interface the other checks look at.
pub(crate) fn interface_check<'a>(
    spec: Option<&str>,
    list: &'a [Interface],
    family: Family,
    purpose: Purpose,
    menu_choice: Option<&'a Interface>,
) -> Result<(Check, Option<&'a Interface>), CliError> {
    let what = match purpose {
        Purpose::Multicast => format!("{family} multicast"),
        Purpose::Broadcast => "IPv4 broadcast".to_owned(),
    };
    let named = match (spec, menu_choice) {
        (_, Some(i)) => Some(i),
        (Some(spec), None) => Some(find(list, spec).map_err(CliError::usage)?),
        (None, None) => None,
    };
    if let Some(iface) = named {
        let desc = describe(iface, family, purpose);
        return Ok(match check(iface, family, purpose, true) {
            Ok(()) if !iface.is_loopback() && !iface.flags().contains(Flags::RUNNING) => (
                Check::warn(
                    "interface",
                    format!(
                        "{desc}, as named, but has no carrier (not RUNNING): the link is down \
                         below IP (Wi-Fi not associated, cable out), so nothing can arrive"
                    ),
                    Some(format!(
                        "connect {} to its network (Wi-Fi association, cable)",
                        iface.name()
                    )),
                ),
                Some(iface),
            ),
            Ok(()) => (
                Check::pass("interface", format!("{desc}, as named")),
                Some(iface),
            ),
            Err(r) => {
                // The description already says down / no MULTICAST / no address.
                let why = match r {
                    Rejection::Down | Rejection::NoMulticast | Rejection::NoAddress(_) => {
                        String::new()
                    }
                    _ => format!(": {}", rejection_text(&r, iface.name())),
                };
                (
                    Check::fail(
                        "interface",
                        format!("{desc}: it cannot carry {what}{why}"),
                        rejection_fix(&r, iface.name()),
                    ),
                    Some(iface),
                )
            }
        });
    }
    let selection = select(list, family, purpose);
    let Some(chosen) = selection.chosen() else {
        let fix = selection.verdicts().iter().find_map(|(i, v)| match v {
            Verdict::Rejected(r @ (Rejection::Down | Rejection::NoMulticast)) => {
                rejection_fix(r, i.name())
            }
            _ => None,
        });
        return Ok((
            Check::fail(
                "interface",
                format!(
                    "no interface qualifies for {what} ({}); the other checks need one",
                    verdict_list(&selection)
                ),
                Some(fix.map_or_else(
                    || "bring up a Wi-Fi or wired interface with an address, or name one with -i (e.g. -i lo)".to_owned(),
                    |f| format!("{f}, or name an interface with -i"),
                )),
            ),
            None,
        ));
    };
    let desc = describe(chosen, family, purpose);
    // A better kind of interface that was turned away is worth a warning:
    // the automatic choice then falls to cellular, which rarely carries
    // multicast to the local network.
    let better: Vec<(String, Option<String>)> = selection
        .verdicts()
        .iter()
        .filter(|(i, _)| i.kind() < chosen.kind() && !i.is_loopback())
        .filter_map(|(i, v)| match v {
            Verdict::Rejected(r) if !matches!(r, Rejection::Outranked { .. }) => Some((
                format!(
                    "{} was not picked: {}",
                    i.name(),
                    rejection_text(r, i.name())
                ),
                rejection_fix(r, i.name()),
            )),
            _ => None,
        })
        .collect();
    if chosen.kind() == Kind::Cellular && !better.is_empty() {
        let (why, fixes): (Vec<String>, Vec<Option<String>>) = better.into_iter().unzip();
        let fixes: Vec<String> = fixes.into_iter().flatten().collect();
        return Ok((
            Check::warn(
                "interface",
                format!(
                    "{desc}; chosen automatically, but it is cellular, which rarely carries \
                     multicast to the local network: {}",
                    why.join("; ")
                ),
                Some(if fixes.is_empty() {
                    "name the interface on the local network with -i".to_owned()
                } else {
                    format!("{}, or name an interface with -i", fixes.join("; "))
                }),
            ),
            Some(chosen),
        ));
    }
    if !chosen.flags().contains(Flags::RUNNING) {
        return Ok((
            Check::warn(
                "interface",
                format!(
                    "{desc}; chosen automatically ({}), but it has no carrier (not RUNNING): \
                     the link is down below IP",
                    selection.reason()
                ),
                Some(format!(
                    "connect {} to its network (Wi-Fi association, cable), or name another with -i",
                    chosen.name()
                )),
            ),
            Some(chosen),
        ));
    }
    Ok((
        Check::pass(
            "interface",
            format!("{desc}; chosen automatically: {}", selection.reason()),
        ),
        Some(chosen),
    ))
}
