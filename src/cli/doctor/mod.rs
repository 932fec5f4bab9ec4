//! `mcast doctor`: say why multicast does not arrive, and what to do.
//!
//! The checks run in order and each prints one line: pass, warn or fail,
//! with what it means and, for a warn or a fail, the command or setting that
//! fixes it. With `--json` each is a `check` object, and a `summary` object
//! ends the run. Exit code 0 when nothing failed, 1 when a check failed, 2 for
//! bad input (as everywhere).
//!
//! | check | what |
//! |---|---|
//! | `interface` | exists, up, MULTICAST (BROADCAST), an address of the group's family; why it was chosen |
//! | `route` | the kernel's route for the group leaves through the interface (or there is none) |
//! | `rp_filter` | strict reverse-path filtering against the peer's route back (IPv4) |
//! | `kernel` | membership limits, forced IGMP/MLD versions, IP_MULTICAST_ALL |
//! | `firewall` | nftables / iptables rules that drop the group's port, IGMP/MLD or multicast |
//! | `wifi-lock`, `selinux` | Android only: the Wi-Fi multicast filter (MulticastLock), the SELinux context |
//! | `local` | join the group, send probes with TTL 0 and loop on, see them come back |
//! | `peer` | with `--peer`: probes to a `recv --echo` by multicast and by unicast |
//!
//! Unlike `send` and `recv`, the doctor does not refuse an interface that is
//! down or lacks multicast: that is a finding, reported as a failed check.
//! Only an interface name that does not exist is a usage error.

use std::net::{IpAddr, Ipv4Addr};

use mcast::{Family, Group, Interface};

use super::output::{status, CliError};
use super::{choose, Common, DoctorArgs};

mod android;
mod context;
mod firewall;
mod interface;
mod kernel;
mod local;
mod peer;
mod report;
mod route;
mod sysctl;
mod tool;

// The checks' modules take these from here (`super::Check`).
use context::{owner, Ctx, Findings};
use report::{Check, Report, Status};
use sysctl::sysctl_int;
use tool::{run_tool, Tool};

/// The group to check: the default group, or with `--broadcast` the
/// interface's directed broadcast address (or the broadcast address given).
fn group_for(args: &DoctorArgs, iface: Option<&Interface>) -> Result<Group, CliError> {
    let given = args.group.map(Group::without_zone);
    if !args.broadcast {
        return Ok(given.unwrap_or_else(Group::default_group));
    }
    let port = given.map_or(mcast::Port::DEFAULT, |g| g.port());
    let directed = iface.and_then(Interface::broadcast_v4);
    match given.map(|g| g.addr()) {
        None => Ok(Group::new(
            IpAddr::V4(directed.unwrap_or(Ipv4Addr::BROADCAST)),
            port,
        )),
        Some(IpAddr::V4(a)) if a == Ipv4Addr::BROADCAST || Some(a) == directed => {
            Ok(Group::new(IpAddr::V4(a), port))
        }
        Some(a) => Err(CliError::usage(format!(
            "{a} is not a broadcast address{}; use {} or 255.255.255.255",
            iface.map_or(String::new(), |i| format!(" of {i}")),
            directed.map_or("the interface's directed broadcast".to_owned(), |d| d
                .to_string())
        ))),
    }
}

/// Whether this is Android: the NDK build, or a Linux build (the static
/// musl one) running on an Android system.
fn on_android() -> bool {
    cfg!(target_os = "android")
        || std::path::Path::new("/system/bin/dumpsys").exists()
        || std::env::var_os("ANDROID_ROOT").is_some()
}

/// Runs `mcast doctor`: the checks in order, then the summary. `Ok(false)`
/// when nothing failed; a failure (exit code 1) names the failed checks.
pub(crate) fn run(args: &DoctorArgs, common: &Common) -> Result<bool, CliError> {
    let family = if args.broadcast {
        Family::V4
    } else {
        args.group.map_or(Family::V4, |g| Family::of(&g.addr()))
    };
    // Bad groups are bad input, with the messages of send and recv: say so
    // before any socket is opened.
    super::check_groups(
        &[args.group.unwrap_or_else(Group::default_group)],
        args.broadcast && args.group.is_some(),
    )?;
    if let Some(p) = args.peer.map(|p| p.ip) {
        if Family::of(&p) != family {
            return Err(CliError::usage(format!(
                "--peer {p} and the group are of different address families; give the peer's {family} address"
            )));
        }
        if p.is_multicast() || p.is_unspecified() {
            return Err(CliError::usage(format!(
                "--peer {p} must be the unicast address of a host running `mcast recv --echo`"
            )));
        }
    }
    let purpose = choose::purpose(args.broadcast);
    let list = choose::list()?;
    // The group's scope names the interface, like -i (they must agree).
    let by_scope = super::scoped_interface(args.group.as_slice(), &list)?;
    // `-i ?`: the menu, as elsewhere (it only lists usable interfaces).
    let menu_choice = if args.iface.as_deref() == Some("?") {
        let picked = choose::choose(Some("?"), family, purpose)?;
        list.iter().find(|i| i.index() == picked.index())
    } else {
        None
    };
    let spec = args.iface.as_deref().or(by_scope.map(|(i, _)| i.name()));
    let (first, iface) = interface::interface_check(spec, &list, family, purpose, menu_choice)?;
    if let (Some((by_scope, g)), Some(named)) = (by_scope, iface) {
        super::agree(&g, by_scope, named)?;
    }
    let peer = match (args.peer, iface) {
        (Some(p), Some(i)) => Some(p.on("--peer", i)?),
        (p, _) => p.map(|p| p.ip),
    };
    let group = group_for(args, iface)?;
    status(
        common.quiet,
        &format!(
            "checking {group}{} on {}",
            peer.map_or(String::new(), |p| format!(" with peer {p}")),
            iface.map_or("no interface".to_owned(), ToString::to_string)
        ),
    );
    let mut report = Report::new(common);
    report.add(first)?;
    let Some(iface) = iface else {
        return report.finish();
    };
    let ctx = Ctx {
        group,
        iface,
        list: &list,
        family,
        broadcast: args.broadcast,
        peer,
        android: on_android(),
    };
    let mut findings = Findings::default();
    report.add(route::route(&ctx, &mut findings))?;
    report.add(route::rp_filter(&ctx, &mut findings))?;
    report.add(kernel::kernel(&ctx))?;
    report.add(firewall::firewall(&ctx, &mut findings))?;
    if ctx.android {
        for c in android::checks(&ctx, &mut findings) {
            report.add(c)?;
        }
    }
    report.add(local::local(&ctx, &findings))?;
    if let Some(p) = ctx.peer {
        report.add(peer::peer(&ctx, p, &findings))?;
    }
    report.finish()
}
