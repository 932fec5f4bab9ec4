//! iptables: judging one rule of `iptables-save` (`ip6tables-save`)
//! against the traffic, and finding the rules and chain policies that drop
//! it.

use mcast::Family;

use super::matchers::{addr_in, iface_matches, is_mld, Judge};
use super::{annotate, policy_why, Hit, Scan, Traffic, Verdict};

/// `-m statistic --mode random --probability 0.1` or `--mode nth --every 10`.
fn ipt_random(args: &[&str]) -> Option<String> {
    let value = |opt: &str| {
        args.iter()
            .position(|a| *a == opt)
            .and_then(|i| args.get(i + 1).copied())
    };
    match value("--mode")? {
        "random" => {
            let p: f64 = value("--probability")?.parse().ok()?;
            Some(format!("at random, about {:.0} %", p * 100.0))
        }
        "nth" => Some(format!("1 in {}", value("--every")?)),
        _ => None,
    }
}

// ---------------------------------------------------------------- iptables

/// Judges one `-A CHAIN …` rule of iptables-save against the traffic.
fn ipt_judge(args: &[&str], t: &Traffic) -> (Verdict, Judge) {
    let mut j = Judge::default();
    let mut verdict = Verdict::Other;
    let v6 = t.family == Family::V6;
    let mut proto: Option<&str> = None;
    let mut has_dport = false;
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        let val = args.get(i + 1).copied().unwrap_or("");
        match a {
            "!" => {
                j.excluded = true;
                i += 1;
            }
            "-j" | "--jump" => {
                verdict = match val {
                    "DROP" | "REJECT" => Verdict::Drop,
                    "ACCEPT" => Verdict::Accept,
                    _ => Verdict::Other,
                };
                // The target's own options follow (--reject-with …).
                i = args.len();
            }
            "-g" | "--goto" => {
                verdict = Verdict::Other;
                i = args.len();
            }
            "-m" | "--match" => i += 2,
            "-c" => i += 3,
            "--comment" | "--log-prefix" | "--limit" | "--limit-burst" => i += 2,
            "-p" | "--protocol" => {
                proto = Some(val);
                i += 2;
            }
            "--dport" | "--destination-port" | "--dports" | "--destination-ports" => {
                has_dport = true;
                j.dport(val.split(','), t.port);
                i += 2;
            }
            "-d" | "--destination" | "--dst" => {
                j.daddr(val.split(','), t);
                i += 2;
            }
            "-s" | "--source" | "--src" => {
                match t.peer {
                    Some(p) if val.split(',').any(|v| addr_in(v, p) == Some(true)) => {
                        j.hit(format!("the peer {p}"));
                    }
                    _ => j.miss(),
                }
                i += 2;
            }
            "-i" | "--in-interface" | "-o" | "--out-interface" => {
                if iface_matches(val, &t.dev) {
                    j.hit(format!("everything on {}", t.dev));
                } else {
                    j.miss();
                }
                i += 2;
            }
            "--pkt-type" => {
                let want = t.packet_type();
                if val.eq_ignore_ascii_case(want) {
                    j.hit(format!("{want} packets"));
                } else {
                    j.miss();
                }
                i += 2;
            }
            "--dst-type" => {
                let want = t.packet_type();
                if val.split(',').any(|v| v.eq_ignore_ascii_case(want)) {
                    j.hit(format!("{want} packets"));
                } else {
                    j.miss();
                }
                i += 2;
            }
            "--ctstate" | "--state" => {
                if val.split(',').any(|v| v == "NEW" || v == "UNTRACKED") {
                    j.conditions += 1;
                } else {
                    j.miss();
                }
                i += 2;
            }
            "--icmpv6-type" => {
                if v6 && is_mld(val.split('/').next().unwrap_or(val)) {
                    j.hit("MLD");
                } else {
                    j.miss();
                }
                proto = Some("mld");
                i += 2;
            }
            s if s.starts_with('-') => {
                // An option we do not know, with its value.
                j.conditions += 1;
                i += if val.starts_with('-') || val.is_empty() {
                    1
                } else {
                    2
                };
            }
            _ => i += 1,
        }
    }
    match proto {
        None | Some("all") | Some("mld") => {}
        Some("udp") | Some("17") if !has_dport => j.hit("all UDP"),
        Some("udp") | Some("17") => {}
        Some("igmp") | Some("2") if !v6 => j.hit("IGMP"),
        Some("ipv6-icmp") | Some("icmpv6") | Some("58") if v6 => j.hit("ICMPv6 (MLD)"),
        Some(_) => j.miss(),
    }
    (verdict, j)
}

/// Finds the rules of `iptables-save` (or `ip6tables-save` when `v6`) that
/// drop the traffic.
pub(super) fn scan_iptables(text: &str, t: &Traffic, v6: bool) -> Scan {
    let tool = if v6 { "ip6tables" } else { "iptables" };
    let mut scan = Scan::default();
    // Per table: chain policies, and the chains with a rule that accepts the
    // traffic (a user chain may be jumped to from any, so it counts for all).
    let mut table = String::from("filter");
    let mut policies: Vec<(String, String)> = Vec::new();
    let mut accepting: Vec<String> = Vec::new();
    let flush = |table: &str,
                 policies: &mut Vec<(String, String)>,
                 accepting: &mut Vec<String>,
                 scan: &mut Scan| {
        let user_accepts = accepting.iter().any(|c| !is_base_chain(c));
        for (chain, _) in policies
            .drain(..)
            .filter(|(c, p)| (c == "INPUT" || c == "OUTPUT") && p == "DROP")
        {
            if user_accepts || accepting.contains(&chain) {
                continue;
            }
            let proto = if v6 {
                "-p ipv6-icmp --icmpv6-type 130"
            } else {
                "-p igmp"
            };
            scan.drops.push(Hit {
                place: format!("{tool} table {table} chain {chain}"),
                rule: format!(":{chain} DROP (policy)"),
                why: policy_why(t, chain == "OUTPUT"),
                fix: format!(
                    "{tool} -t {table} -A {chain} -p udp --dport {} -j ACCEPT; {tool} -t {table} -A {chain} {proto} -j ACCEPT",
                    t.port
                ),
            });
        }
    };
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('*') {
            flush(&table, &mut policies, &mut accepting, &mut scan);
            table = name.to_owned();
            accepting.clear();
        } else if let Some(rest) = line.strip_prefix(':') {
            let mut w = rest.split_whitespace();
            if let (Some(chain), Some(policy)) = (w.next(), w.next()) {
                policies.push((chain.to_owned(), policy.to_owned()));
            }
        } else if let Some(rest) = line.strip_prefix("-A ") {
            scan.rules += 1;
            let args: Vec<&str> = rest.split_whitespace().collect();
            let Some((&chain, opts)) = args.split_first() else {
                continue;
            };
            let (verdict, j) = ipt_judge(opts, t);
            let base = is_base_chain(chain);
            match verdict {
                Verdict::Accept if j.accepts() => accepting.push(chain.to_owned()),
                Verdict::Drop => {
                    if let Some(why) = j.drops(base) {
                        scan.drops.push(Hit {
                            place: format!("{tool} table {table} chain {chain}"),
                            rule: line.to_owned(),
                            why: annotate(
                                why,
                                matches!(chain, "OUTPUT" | "POSTROUTING"),
                                ipt_random(opts),
                            ),
                            fix: format!("{tool} -t {table} -D {rest}"),
                        });
                    }
                }
                _ => {}
            }
        } else if line == "COMMIT" {
            flush(&table, &mut policies, &mut accepting, &mut scan);
        }
    }
    flush(&table, &mut policies, &mut accepting, &mut scan);
    scan
}

/// The chains iptables itself feeds packets to.
fn is_base_chain(chain: &str) -> bool {
    matches!(
        chain,
        "INPUT" | "FORWARD" | "OUTPUT" | "PREROUTING" | "POSTROUTING"
    )
}
