//! Check 5: firewall rules that drop the group's traffic.
//!
//! The doctor reads the rules where it can (`nft -a list ruleset`,
//! `iptables-save`, `ip6tables-save`; all need root) and looks for drop and
//! reject rules that concern the group: its UDP port, IGMP (MLD for IPv6),
//! the group's address or a prefix holding it, multicast packets
//! (`pkttype multicast`, `fib daddr type multicast`, `addrtype`), all UDP,
//! or everything on the interface, in the input path (what arrives) and in
//! the output path (what this host sends: a sender gets EPERM for each
//! datagram such a rule drops). It is a pragmatic text match, not an
//! evaluation of the ruleset: a rule that names another port, protocol,
//! address or interface, or uses a negation, is not counted. A base chain on
//! the input or output hook whose policy is drop counts too, unless a rule
//! of that chain (or of a chain it may jump to) accepts the group's port or
//! multicast. Rules that drop at random (`numgen random`, `-m statistic`)
//! are named with their share.

use std::net::IpAddr;
use std::time::Duration;

use mcast::Family;

use super::{run_tool, Check, Ctx, Findings, Tool};

mod iptables;
mod matchers;
mod nft;
mod nft_ruleset;
#[cfg(test)]
mod tests;

use iptables::scan_iptables;
use nft::scan_nft;

/// What traffic the doctor cares about.
#[derive(Debug, Clone)]
pub(crate) struct Traffic {
    /// The group's address family.
    pub(crate) family: Family,
    /// The group's UDP port.
    pub(crate) port: u16,
    /// The group (or broadcast) address.
    pub(crate) group: IpAddr,
    /// The interface's name.
    pub(crate) dev: String,
    /// The peer, whose address a source condition may name.
    pub(crate) peer: Option<IpAddr>,
    /// Broadcast rather than multicast.
    pub(crate) broadcast: bool,
}

/// A rule (or a chain policy) that drops the traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    /// `table inet f chain in (hook input)`.
    pub(crate) place: String,
    /// The rule as listed.
    pub(crate) rule: String,
    /// What about the traffic it matches: `UDP port 54321`, `IGMP`, …
    pub(crate) why: String,
    /// The command that removes it, or the rule that lets the traffic in.
    pub(crate) fix: String,
}

/// Drop and reject rules found, and input policies that drop.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Scan {
    /// What drops the traffic, in listed order.
    pub(crate) drops: Vec<Hit>,
    /// Rules read (to say how much was looked at).
    pub(crate) rules: usize,
}

impl Traffic {
    /// The packet type a rule names for this traffic (`pkttype`,
    /// `fib daddr type`, `--pkt-type`, `--dst-type`).
    fn packet_type(&self) -> &'static str {
        if self.broadcast {
            "broadcast"
        } else {
            "multicast"
        }
    }
}

/// What a rule does with what it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// `drop`, `reject`, `-j DROP`, `-j REJECT`.
    Drop,
    /// `accept`, `-j ACCEPT`.
    Accept,
    /// A jump, a return, a queue, or no verdict.
    Other,
}

/// What a drop policy without an accepting rule drops.
fn policy_why(t: &Traffic, output: bool) -> String {
    let proto = if t.family == Family::V6 {
        "MLD"
    } else {
        "IGMP"
    };
    if output {
        format!(
            "UDP port {} and {proto} (no rule accepts them), in what this host sends",
            t.port
        )
    } else {
        format!(
            "UDP port {} and {proto} (no rule of the table accepts them)",
            t.port
        )
    }
}

/// Adds to a rule's reason where it acts (what this host sends) and how
/// much it drops when it drops at random.
fn annotate(why: String, output: bool, random: Option<String>) -> String {
    let mut why = why;
    if output {
        why.push_str(", in what this host sends");
    }
    if let Some(r) = random {
        why.push_str(", ");
        why.push_str(&r);
    }
    why
}

// ------------------------------------------------------------------- check

/// How reading one tool went.
enum Source {
    /// It ran, and this is what its rules drop.
    Read(Scan),
    /// It failed (not root) or hung: why.
    Denied(String),
    /// It is not installed.
    Absent,
}

/// Runs `tool args…` and scans what it prints with `scan`.
fn read(tool: &str, args: &[&str], scan: impl Fn(&str) -> Scan) -> Source {
    match run_tool(tool, args, Duration::from_secs(5)) {
        Tool::Missing => Source::Absent,
        Tool::TimedOut => Source::Denied(format!("`{tool}` did not answer within 5 s")),
        Tool::Ran {
            ok: true, stdout, ..
        } => Source::Read(scan(&stdout)),
        Tool::Ran { stderr, .. } => Source::Denied(format!(
            "`{tool} {}` failed: {}",
            args.join(" "),
            stderr.lines().next().unwrap_or("").trim()
        )),
    }
}

/// Check 5.
pub(crate) fn firewall(ctx: &Ctx<'_>, findings: &mut Findings) -> Check {
    let t = Traffic {
        family: ctx.family,
        port: ctx.group.port().get(),
        group: ctx.group.addr(),
        dev: ctx.dev().to_owned(),
        peer: ctx.peer,
        broadcast: ctx.broadcast,
    };
    let v6 = ctx.family == Family::V6;
    let save = if v6 {
        "ip6tables-save"
    } else {
        "iptables-save"
    };
    let sources = [
        (
            "nftables",
            read("nft", &["-a", "list", "ruleset"], |s| scan_nft(s, &t)),
        ),
        (
            if v6 { "ip6tables" } else { "iptables" },
            read(save, &[], |s| scan_iptables(s, &t, v6)),
        ),
    ];
    let mut drops = Vec::new();
    let mut read_ok = Vec::new();
    let mut denied = Vec::new();
    for (name, s) in sources {
        match s {
            Source::Read(scan) => {
                read_ok.push(format!("{name} ({} rules)", scan.rules));
                drops.extend(scan.drops);
            }
            Source::Denied(why) => denied.push(why),
            Source::Absent => {}
        }
    }
    let traffic = if ctx.broadcast {
        format!("UDP port {} or broadcasts to {}", t.port, t.group)
    } else {
        format!(
            "UDP port {}, {} or multicast to {}",
            t.port,
            if v6 { "MLD" } else { "IGMP" },
            t.group
        )
    };
    if !drops.is_empty() {
        findings.firewall_drops = true;
        let shown: Vec<String> = drops
            .iter()
            .take(5)
            .map(|h| format!("{}: `{}` drops {}", h.place, h.rule, h.why))
            .collect();
        let more = if drops.len() > 5 {
            format!(" (and {} more)", drops.len() - 5)
        } else {
            String::new()
        };
        let fixes: Vec<String> = drops.iter().take(5).map(|h| h.fix.clone()).collect();
        return Check::fail(
            "firewall",
            format!(
                "{} rule{} here drop{} the group's traffic: {}{more}",
                drops.len(),
                if drops.len() == 1 { "" } else { "s" },
                if drops.len() == 1 { "s" } else { "" },
                shown.join("; ")
            ),
            Some(fixes.join("; ")),
        );
    }
    if !denied.is_empty() {
        return Check::warn(
            "firewall",
            format!(
                "could not read the firewall rules ({}): it needs root{}",
                denied.join("; "),
                if read_ok.is_empty() {
                    String::new()
                } else {
                    format!("; {} had no rule dropping {traffic}", read_ok.join(", "))
                }
            ),
            Some(format!(
                "run the doctor as root, or look yourself: sudo nft list ruleset; sudo {save}"
            )),
        );
    }
    if read_ok.is_empty() {
        return Check::pass(
            "firewall",
            format!("neither nft nor {save} is installed, so no firewall rules were read"),
        );
    }
    Check::pass(
        "firewall",
        format!("no rule drops {traffic}: read {}", read_ok.join(", ")),
    )
}
