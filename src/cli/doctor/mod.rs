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

use std::fmt;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cli::json::JsonObject;
use mcast::{check, find, interfaces, select, Family, Group, Interface, Purpose};

use super::output::{line, status, CliError};
use super::{choose, Common, DoctorArgs};

mod android;
mod firewall;
mod kernel;
mod local;
mod peer;
mod route;

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        })
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Check {
    pub(crate) name: &'static str,
    pub(crate) status: Status,
    pub(crate) detail: String,
    pub(crate) fix: Option<String>,
}

impl Check {
    pub(crate) fn pass(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Pass,
            detail: detail.into(),
            fix: None,
        }
    }

    pub(crate) fn warn(
        name: &'static str,
        detail: impl Into<String>,
        fix: Option<String>,
    ) -> Check {
        Check {
            name,
            status: Status::Warn,
            detail: detail.into(),
            fix,
        }
    }

    pub(crate) fn fail(
        name: &'static str,
        detail: impl Into<String>,
        fix: Option<String>,
    ) -> Check {
        Check {
            name,
            status: Status::Fail,
            detail: detail.into(),
            fix,
        }
    }

    /// `FAIL  route      no route for …; fix: ip route add …`
    fn text(&self) -> String {
        let mut s = format!("{}  {:<9}  {}", self.status, self.name, self.detail);
        if let Some(f) = &self.fix {
            s.push_str("; fix: ");
            s.push_str(f);
        }
        s
    }

    fn json(&self) -> String {
        JsonObject::typed("check")
            .str("name", self.name)
            .str("status", self.status.as_str())
            .str("detail", &self.detail)
            .opt_str("fix", self.fix.as_deref())
            .finish()
    }
}

/// What the doctor is looking at.
pub(crate) struct Ctx<'a> {
    pub(crate) group: Group,
    pub(crate) iface: &'a Interface,
    pub(crate) list: &'a [Interface],
    pub(crate) family: Family,
    pub(crate) broadcast: bool,
    pub(crate) peer: Option<IpAddr>,
    pub(crate) android: bool,
}

impl Ctx<'_> {
    pub(crate) fn dev(&self) -> &str {
        self.iface.name()
    }

    /// Whether `ip` is inside one of the interface's subnets.
    pub(crate) fn on_link(&self, ip: IpAddr) -> bool {
        self.iface
            .addresses()
            .iter()
            .any(|a| same_prefix(a.ip(), ip, a.prefix_len()))
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

/// Whether `a` and `b` share the first `len` bits (same family only).
pub(crate) fn same_prefix(a: IpAddr, b: IpAddr, len: u8) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let len = u32::from(len.min(32));
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let len = u32::from(len.min(128));
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
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

/// Reads a sysctl file under /proc/sys and returns its trimmed value.
pub(crate) fn sysctl(path: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/sys/{path}"))
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Reads a numeric sysctl.
pub(crate) fn sysctl_int(path: &str) -> Option<i64> {
    sysctl(path).and_then(|s| s.parse().ok())
}

/// What running an external tool gave.
#[derive(Debug)]
pub(crate) enum Tool {
    /// Not installed (not on PATH).
    Missing,
    /// Did not end within the time limit (it was killed).
    TimedOut,
    /// It ran: its exit code (None if killed by a signal) and output.
    Ran {
        ok: bool,
        stdout: String,
        stderr: String,
    },
}

/// Where `program` is: a path as given, else the first executable file of
/// that name in PATH or in the usual system directories (which a user's PATH
/// often lacks: nft and iptables-save live in /usr/sbin, dumpsys in
/// /system/bin). Looked up here rather than by exec, because an emulator
/// (qemu-user) may not report a failed exec as "not found".
fn locate(program: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_exe = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = std::path::PathBuf::from(program);
        return is_exe(&p).then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/system/bin"]
                .iter()
                .map(std::path::PathBuf::from),
        )
        .map(|d| d.join(program))
        .find(|p| is_exe(p))
}

/// Runs `program args…` with stdin closed, collects its output, and kills it
/// (our own child, by its handle) after `limit`.
pub(crate) fn run_tool(program: &str, args: &[&str], limit: Duration) -> Tool {
    let Some(path) = locate(program) else {
        return Tool::Missing;
    };
    let mut child = match Command::new(path)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Tool::Missing,
        Err(e) => {
            return Tool::Ran {
                ok: false,
                stdout: String::new(),
                stderr: e.to_string(),
            }
        }
    };
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut v);
            }
            String::from_utf8_lossy(&v).into_owned()
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    match status {
        None => Tool::TimedOut,
        Some(s) => Tool::Ran {
            ok: s.success(),
            stdout,
            stderr,
        },
    }
}

/// Where the doctor writes its results.
struct Report<'a> {
    common: &'a Common,
    checks: Vec<Check>,
}

impl Report<'_> {
    fn add(&mut self, c: Check) -> Result<(), CliError> {
        if self.common.json {
            line(&c.json())?;
        } else if !self.common.quiet || c.status != Status::Pass {
            line(&c.text())?;
        }
        self.checks.push(c);
        Ok(())
    }

    fn count(&self, s: Status) -> usize {
        self.checks.iter().filter(|c| c.status == s).count()
    }

    /// The summary line or object; an error (exit code 1) when a check failed.
    fn finish(self) -> Result<bool, CliError> {
        let (pass, warn, fail) = (
            self.count(Status::Pass),
            self.count(Status::Warn),
            self.count(Status::Fail),
        );
        if self.common.json {
            line(
                &JsonObject::typed("summary")
                    .str("role", "doctor")
                    .int("pass", pass as u64)
                    .int("warn", warn as u64)
                    .int("fail", fail as u64)
                    .finish(),
            )?;
        } else {
            let plural = |n: usize, one: &str, many: &str| {
                format!("{n} {}", if n == 1 { one } else { many })
            };
            line(&format!(
                "doctor: {}, {}, {}",
                plural(pass, "passed", "passed"),
                plural(warn, "warning", "warnings"),
                plural(fail, "failed", "failed")
            ))?;
        }
        if fail == 0 {
            return Ok(false);
        }
        let names: Vec<&str> = self
            .checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| c.name)
            .collect();
        Err(CliError::failure(format!(
            "{} failed: {} (see the fix on each FAIL line)",
            if fail == 1 {
                "1 check".to_owned()
            } else {
                format!("{fail} checks")
            },
            names.join(", ")
        )))
    }
}

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

/// How to fix an interface that `check()` rejected.
fn rejection_fix(r: &mcast::Rejection, dev: &str) -> Option<String> {
    use mcast::Rejection as R;
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
    if flags.contains(mcast::Flags::MULTICAST) {
        parts.push("multicast".to_owned());
    } else {
        parts.push("no MULTICAST flag".to_owned());
    }
    if purpose == Purpose::Broadcast {
        parts.push(if flags.contains(mcast::Flags::BROADCAST) {
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
fn interface_check<'a>(
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
            Ok(()) if !iface.is_loopback() && !iface.flags().contains(mcast::Flags::RUNNING) => (
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
                    mcast::Rejection::Down
                    | mcast::Rejection::NoMulticast
                    | mcast::Rejection::NoAddress(_) => String::new(),
                    _ => format!(": {}", r.to_string().replace("DEV", iface.name())),
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
        let why: Vec<String> = selection
            .verdicts()
            .iter()
            .map(|(i, v)| match v {
                mcast::Verdict::Rejected(r) => {
                    format!("{}: {}", i.name(), r.to_string().replace("DEV", i.name()))
                }
                mcast::Verdict::Chosen => i.name().to_owned(),
            })
            .collect();
        let fix = selection.verdicts().iter().find_map(|(i, v)| match v {
            mcast::Verdict::Rejected(
                r @ (mcast::Rejection::Down | mcast::Rejection::NoMulticast),
            ) => rejection_fix(r, i.name()),
            _ => None,
        });
        return Ok((
            Check::fail(
                "interface",
                format!(
                    "no interface qualifies for {what} ({}); the other checks need one",
                    why.join("; ")
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
            mcast::Verdict::Rejected(r) if !matches!(r, mcast::Rejection::Outranked { .. }) => {
                Some((
                    format!(
                        "{} was not picked: {}",
                        i.name(),
                        r.to_string().replace("DEV", i.name())
                    ),
                    rejection_fix(r, i.name()),
                ))
            }
            _ => None,
        })
        .collect();
    if chosen.kind() == mcast::Kind::Cellular && !better.is_empty() {
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
    if !chosen.flags().contains(mcast::Flags::RUNNING) {
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

/// Whether this is Android: the NDK build, or a Linux build (the static
/// musl one) running on an Android system.
fn on_android() -> bool {
    cfg!(target_os = "android")
        || std::path::Path::new("/system/bin/dumpsys").exists()
        || std::env::var_os("ANDROID_ROOT").is_some()
}

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
    let purpose = if args.broadcast {
        Purpose::Broadcast
    } else {
        Purpose::Multicast
    };
    let list = interfaces()
        .map_err(|e| CliError::failure(format!("cannot list the network interfaces: {e}")))?;
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
    let (first, iface) = interface_check(spec, &list, family, purpose, menu_choice)?;
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
    let mut report = Report {
        common,
        checks: Vec::new(),
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        let a: IpAddr = "198.18.1.10".parse().unwrap();
        assert!(same_prefix(a, "198.18.1.200".parse().unwrap(), 24));
        assert!(!same_prefix(a, "198.18.2.1".parse().unwrap(), 24));
        assert!(same_prefix(a, "1.2.3.4".parse().unwrap(), 0));
        assert!(!same_prefix(a, "::1".parse().unwrap(), 0));
        let b: IpAddr = "fd6d:6361:7374:1::10".parse().unwrap();
        assert!(same_prefix(b, "fd6d:6361:7374:1::20".parse().unwrap(), 64));
        assert!(!same_prefix(b, "fd6d:6361:7374:2::20".parse().unwrap(), 64));
    }

    #[test]
    fn check_lines() {
        let c = Check::fail(
            "route",
            "no route for 239.74.20.30",
            Some("ip route add 224.0.0.0/4 dev wlan0".into()),
        );
        assert_eq!(
            c.text(),
            "FAIL  route      no route for 239.74.20.30; fix: ip route add 224.0.0.0/4 dev wlan0"
        );
        assert_eq!(
            c.json(),
            r#"{"type":"check","name":"route","status":"fail","detail":"no route for 239.74.20.30","fix":"ip route add 224.0.0.0/4 dev wlan0"}"#
        );
        assert_eq!(
            Check::pass("kernel", "ok").json(),
            r#"{"type":"check","name":"kernel","status":"pass","detail":"ok","fix":null}"#
        );
    }

    #[test]
    fn tools_that_are_missing_or_slow() {
        assert!(matches!(
            run_tool("mcast-no-such-tool-here", &[], Duration::from_secs(1)),
            Tool::Missing
        ));
        assert!(matches!(
            run_tool("sleep", &["5"], Duration::from_millis(100)),
            Tool::TimedOut
        ));
        match run_tool(
            "sh",
            &["-c", "echo out; echo err >&2; exit 3"],
            Duration::from_secs(5),
        ) {
            Tool::Ran { ok, stdout, stderr } => {
                assert!(!ok);
                assert_eq!((stdout.as_str(), stderr.as_str()), ("out\n", "err\n"));
            }
            other => panic!("{other:?}"),
        }
    }
}
