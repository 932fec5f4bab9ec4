//! nftables: judging one rule against the traffic, and finding the rules
//! and drop policies of a ruleset (`nft -a list ruleset`) that drop it.

use std::collections::HashMap;

use mcast::Family;

use super::matchers::{addr_in, iface_matches, is_mld, Judge};
use super::nft_ruleset::{nft_tokens, nft_values, parse_nft};
use super::{annotate, policy_why, Hit, Scan, Traffic, Verdict};

/// Judges one nft rule (its tokens, verdict removed) against the traffic.
pub(super) fn nft_judge(
    toks: &[String],
    t: &Traffic,
    table_family: &str,
    sets: &HashMap<String, Vec<String>>,
) -> Judge {
    let mut j = Judge::default();
    let v6 = t.family == Family::V6;
    let mut protos: Vec<String> = Vec::new();
    let mut has_dport = false;
    let mut i = 0;
    while i < toks.len() {
        let tok = toks[i].as_str();
        match tok {
            "!=" | "!" => {
                j.excluded = true;
                i += 1;
            }
            // Statements that match nothing.
            "counter" | "log" | "limit" | "over" | "notrack" => i += 1,
            "packets" | "bytes" | "prefix" | "comment" | "level" => i += 2,
            "rate" if toks.get(i + 1).map(String::as_str) == Some("over") => i += 3,
            "rate" => i += 2,
            "burst" => i += 3,
            "dport" => {
                has_dport = true;
                let (vals, next) = nft_values(toks, i + 1, sets);
                i = next;
                j.dport(vals.iter().map(String::as_str), t.port);
            }
            "sport" => {
                let (_, next) = nft_values(toks, i + 1, sets);
                i = next;
                j.conditions += 1;
            }
            "daddr" | "saddr" => {
                let (vals, next) = nft_values(toks, i + 1, sets);
                i = next;
                if tok == "daddr" {
                    j.daddr(vals.iter().map(String::as_str), t);
                } else {
                    match t.peer {
                        Some(p) if vals.iter().any(|v| addr_in(v, p) == Some(true)) => {
                            j.hit(format!("the peer {p}"));
                        }
                        _ if vals.iter().all(|v| addr_in(v, t.group).is_some())
                            && !vals.is_empty() =>
                        {
                            // Other sources: not what we can judge.
                            j.miss();
                        }
                        _ => j.conditions += 1,
                    }
                }
            }
            "pkttype" => {
                let (vals, next) = nft_values(toks, i + 1, sets);
                i = next;
                let want = t.packet_type();
                if vals.iter().any(|v| v == want) {
                    j.hit(format!("{want} packets"));
                } else {
                    j.miss();
                }
            }
            "fib" => {
                // fib daddr type multicast
                let rest: Vec<&str> = toks[i..].iter().take(4).map(String::as_str).collect();
                i += 1;
                if rest.len() >= 4 && rest[1] == "daddr" && rest[2] == "type" {
                    let want = t.packet_type();
                    if rest[3] == want {
                        j.hit(format!("{want} packets"));
                    } else if rest[3] != "{" {
                        j.miss();
                    } else {
                        j.conditions += 1;
                    }
                    i += 3;
                } else {
                    j.conditions += 1;
                }
            }
            "iifname" | "oifname" | "iif" | "oif" => {
                let (vals, next) = nft_values(toks, i + 1, sets);
                i = next;
                if vals.iter().any(|v| iface_matches(v, &t.dev)) {
                    j.hit(format!("everything on {}", t.dev));
                } else if vals.iter().any(|v| v.parse::<u32>().is_ok()) {
                    j.conditions += 1;
                } else {
                    j.miss();
                }
            }
            "ct" => {
                // ct state new / established,related / invalid
                if toks.get(i + 1).map(String::as_str) == Some("state") {
                    let (vals, next) = nft_values(toks, i + 2, sets);
                    i = next;
                    if vals.iter().any(|v| v == "new" || v == "untracked") {
                        j.conditions += 1;
                    } else {
                        j.miss();
                    }
                } else {
                    i += 1;
                    j.conditions += 1;
                }
            }
            "nfproto" => {
                let (vals, next) = nft_values(toks, i + 1, sets);
                i = next;
                let want = if v6 { "ipv6" } else { "ipv4" };
                if vals.iter().any(|v| v == want) {
                    j.conditions += 1;
                } else {
                    j.miss();
                }
            }
            "l4proto" | "protocol" | "nexthdr" => {
                let (vals, next) = nft_values(toks, i + 1, sets);
                i = next;
                protos.extend(vals);
            }
            "udp" | "tcp" | "sctp" | "dccp" | "udplite" | "icmp" | "icmpv6" | "igmp" => {
                protos.push(tok.to_owned());
                i += 1;
                // `icmpv6 type { … }`
                if (tok == "icmpv6" || tok == "icmp" || tok == "igmp")
                    && toks.get(i).map(String::as_str) == Some("type")
                {
                    let (vals, next) = nft_values(toks, i + 1, sets);
                    i = next;
                    if tok == "icmpv6" {
                        if v6 && vals.iter().any(|v| is_mld(v)) {
                            j.hit("MLD");
                        } else {
                            j.miss();
                        }
                        protos.pop();
                    }
                }
            }
            // Family-specific expressions in an inet table.
            "ip" if v6 => {
                j.miss();
                i += 1;
            }
            "ip6" if !v6 => {
                j.miss();
                i += 1;
            }
            "ip" | "ip6" | "meta" | "th" | "type" | "@th" => i += 1,
            _ => {
                j.conditions += 1;
                i += 1;
            }
        }
    }
    let _ = table_family;
    for p in &protos {
        match p.as_str() {
            "udp" if !has_dport => j.hit("all UDP"),
            "udp" => {}
            "igmp" | "2" if !v6 => j.hit("IGMP"),
            "icmpv6" | "ipv6-icmp" | "58" if v6 => j.hit("ICMPv6 (MLD)"),
            _ => j.miss(),
        }
    }
    j
}

/// Splits a rule into its match part and its verdict.
fn nft_verdict(toks: &[String]) -> (Verdict, usize) {
    for (i, t) in toks.iter().enumerate() {
        match t.as_str() {
            "drop" | "reject" => return (Verdict::Drop, i),
            "accept" => return (Verdict::Accept, i),
            "jump" | "goto" | "return" | "queue" | "continue" => return (Verdict::Other, i),
            _ => {}
        }
    }
    (Verdict::Other, toks.len())
}

/// Finds the nft rules that drop the traffic.
pub(super) fn scan_nft(text: &str, t: &Traffic) -> Scan {
    let mut scan = Scan::default();
    let v6 = t.family == Family::V6;
    for table in parse_nft(text) {
        let fam = table.family.as_str();
        if (fam == "ip" && v6) || (fam == "ip6" && !v6) || fam == "arp" {
            continue;
        }
        // Chains with a rule that accepts the traffic; a chain without a
        // hook may be jumped to from any base chain, so it counts for all.
        let accepts: Vec<bool> = table
            .chains
            .iter()
            .map(|chain| {
                chain.rules.iter().any(|(rule, _)| {
                    let toks = nft_tokens(rule);
                    let (verdict, at) = nft_verdict(&toks);
                    verdict == Verdict::Accept
                        && nft_judge(&toks[..at], t, fam, &table.sets).accepts()
                })
            })
            .collect();
        let jumped_to_accepts = table
            .chains
            .iter()
            .zip(&accepts)
            .any(|(c, a)| c.hook.is_none() && *a);
        for (chain, accepting) in table.chains.iter().zip(&accepts) {
            let place = format!(
                "table {fam} {} chain {}{}",
                table.name,
                chain.name,
                chain
                    .hook
                    .as_deref()
                    .map_or(String::new(), |h| format!(" (hook {h})"))
            );
            let output = matches!(chain.hook.as_deref(), Some("output" | "postrouting"));
            for (rule, handle) in &chain.rules {
                scan.rules += 1;
                let toks = nft_tokens(rule);
                let (verdict, at) = nft_verdict(&toks);
                if verdict != Verdict::Drop {
                    continue;
                }
                if let Some(why) =
                    nft_judge(&toks[..at], t, fam, &table.sets).drops(chain.hook.is_some())
                {
                    scan.drops.push(Hit {
                        place: place.clone(),
                        rule: rule.clone(),
                        why: annotate(why, output, nft_random(&toks[..at])),
                        fix: match handle {
                            Some(h) => format!("nft delete rule {fam} {} {} handle {h}", table.name, chain.name),
                            None => format!(
                                "find the rule's handle with `nft -a list ruleset`, then nft delete rule {fam} {} {} handle N",
                                table.name, chain.name
                            ),
                        },
                    });
                }
            }
            let hook = chain.hook.as_deref();
            if chain.policy_drop
                && matches!(hook, Some("input" | "output"))
                && !accepting
                && !jumped_to_accepts
            {
                let proto = if v6 {
                    "icmpv6 type { mld-listener-query, mld2-listener-report } accept".to_owned()
                } else {
                    "ip protocol igmp accept".to_owned()
                };
                scan.drops.push(Hit {
                    place: place.clone(),
                    rule: "policy drop".to_owned(),
                    why: policy_why(t, output),
                    fix: format!(
                        "nft add rule {fam} {} {} udp dport {} accept; nft add rule {fam} {} {} {proto}",
                        table.name, chain.name, t.port, table.name, chain.name
                    ),
                });
            }
        }
    }
    scan
}

/// `numgen random mod 10 0`: a rule that matches some packets at random.
fn nft_random(toks: &[String]) -> Option<String> {
    let at = toks
        .windows(3)
        .position(|w| w[0] == "numgen" && w[1] == "random" && w[2] == "mod")?;
    let n: u64 = toks.get(at + 3)?.parse().ok()?;
    let one_value = toks.get(at + 4).is_some_and(|v| v.parse::<u64>().is_ok());
    Some(if one_value {
        format!("at random, about 1 in {n}")
    } else {
        "at random, some of them".to_owned()
    })
}
