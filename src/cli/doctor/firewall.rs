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

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use mcast::Family;

use super::{run_tool, same_prefix, Check, Ctx, Findings, Tool};

/// What traffic the doctor cares about.
#[derive(Debug, Clone)]
pub(crate) struct Traffic {
    pub(crate) family: Family,
    pub(crate) port: u16,
    pub(crate) group: IpAddr,
    pub(crate) dev: String,
    pub(crate) peer: Option<IpAddr>,
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
    pub(crate) drops: Vec<Hit>,
    /// Rules read (to say how much was looked at).
    pub(crate) rules: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Drop,
    Accept,
    Other,
}

/// How a rule relates to the traffic.
#[derive(Debug, Default)]
struct Judge {
    /// Some condition cannot match the traffic (other port, protocol,
    /// address, interface), or the rule uses a negation.
    excluded: bool,
    /// Conditions that match the traffic.
    positive: Vec<String>,
    /// Number of match conditions (0: the rule matches everything).
    conditions: usize,
}

impl Judge {
    fn hit(&mut self, why: impl Into<String>) {
        self.positive.push(why.into());
        self.conditions += 1;
    }

    fn miss(&mut self) {
        self.excluded = true;
        self.conditions += 1;
    }

    /// Whether a drop rule with this judgement drops the traffic.
    fn drops(&self, base_chain: bool) -> Option<String> {
        if self.excluded {
            return None;
        }
        if !self.positive.is_empty() {
            return Some(self.positive.join(", "));
        }
        (self.conditions == 0 && base_chain).then(|| "everything".to_owned())
    }

    /// Whether an accept rule with this judgement lets the traffic in.
    fn accepts(&self) -> bool {
        !self.excluded && (!self.positive.is_empty() || self.conditions == 0)
    }
}

/// A port or port range such as `54321`, `5000-60000` (nft) or
/// `5000:60000` (iptables); `None` when it is not numeric (a service name).
fn port_in(value: &str, port: u16) -> Option<bool> {
    let named = match value {
        "domain" => Some(53),
        "mdns" => Some(5353),
        "ssdp" => Some(1900),
        _ => None,
    };
    if let Some(p) = named {
        return Some(p == port);
    }
    match value.split_once(['-', ':']) {
        Some((a, b)) => {
            let (a, b) = (a.parse::<u16>().ok()?, b.parse::<u16>().ok()?);
            Some((a..=b).contains(&port))
        }
        None => value.parse::<u16>().ok().map(|p| p == port),
    }
}

/// An address, a prefix (`224.0.0.0/4`) or a range (`a-b`) holding `ip`;
/// `None` when it is not an address of the same family.
fn addr_in(value: &str, ip: IpAddr) -> Option<bool> {
    if let Some((a, len)) = value.split_once('/') {
        let a: IpAddr = a.parse().ok()?;
        if a.is_ipv4() != ip.is_ipv4() {
            return None;
        }
        let len: u8 = len.parse().ok()?;
        return Some(same_prefix(a, ip, len));
    }
    if let Some((a, b)) = value.split_once('-') {
        let (a, b): (IpAddr, IpAddr) = (a.parse().ok()?, b.parse().ok()?);
        return match (a, b, ip) {
            (IpAddr::V4(a), IpAddr::V4(b), IpAddr::V4(x)) => Some((a..=b).contains(&x)),
            (IpAddr::V6(a), IpAddr::V6(b), IpAddr::V6(x)) => Some((a..=b).contains(&x)),
            _ => None,
        };
    }
    let a: IpAddr = value.parse().ok()?;
    (a.is_ipv4() == ip.is_ipv4()).then_some(a == ip)
}

/// `wlan0` against an interface pattern (`wlan*` in nft, `wlan+` in
/// iptables).
fn iface_matches(pattern: &str, dev: &str) -> bool {
    match pattern.strip_suffix(['*', '+']) {
        Some(prefix) => dev.starts_with(prefix),
        None => pattern == dev,
    }
}

/// MLD message names and numbers (queries, reports, done).
fn is_mld(v: &str) -> bool {
    matches!(
        v,
        "mld-listener-query"
            | "mld-listener-report"
            | "mld-listener-done"
            | "mld-listener-reduction"
            | "mld2-listener-report"
            | "130"
            | "131"
            | "132"
            | "143"
    )
}

/// The address the traffic goes to, for `daddr` / `-d`.
fn dest_reason(t: &Traffic, value: &str) -> Option<Result<String, ()>> {
    let r = addr_in(value, t.group)?;
    Some(if r {
        Ok(if value.contains('/') || value.contains('-') {
            format!("{} ({value})", t.group)
        } else {
            t.group.to_string()
        })
    } else {
        Err(())
    })
}

// ---------------------------------------------------------------- nftables

/// Splits an nft rule into tokens: words, quoted strings, braces and commas.
fn nft_tokens(rule: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in rule.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            c if quoted => cur.push(c),
            '{' | '}' | ',' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(c.to_string());
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The values of the expression at `toks[i]`: one word, an anonymous set
/// `{ a, b }` or a named set `@name`. Returns them and the index after.
fn nft_values(
    toks: &[String],
    i: usize,
    sets: &HashMap<String, Vec<String>>,
) -> (Vec<String>, usize) {
    match toks.get(i).map(String::as_str) {
        Some("{") => {
            let mut vals = Vec::new();
            let mut j = i + 1;
            while j < toks.len() && toks[j] != "}" {
                if toks[j] != "," {
                    vals.push(toks[j].clone());
                }
                j += 1;
            }
            (vals, j + 1)
        }
        Some(v) if v.starts_with('@') => (
            sets.get(&v[1..])
                .cloned()
                .unwrap_or_else(|| vec![v.to_owned()]),
            i + 1,
        ),
        Some(v) => {
            // `a,b` lists without braces (ct state established,related).
            let mut vals = vec![v.trim_matches('"').to_owned()];
            let mut j = i + 1;
            while toks.get(j).map(String::as_str) == Some(",") {
                if let Some(w) = toks.get(j + 1) {
                    vals.push(w.trim_matches('"').to_owned());
                }
                j += 2;
            }
            (vals, j)
        }
        None => (Vec::new(), i),
    }
}

/// Judges one nft rule (its tokens, verdict removed) against the traffic.
fn nft_judge(
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
                let r: Vec<Option<bool>> = vals.iter().map(|v| port_in(v, t.port)).collect();
                if r.contains(&Some(true)) {
                    j.hit(format!("UDP port {}", t.port));
                } else if r.iter().all(Option::is_some) && !r.is_empty() {
                    j.miss();
                } else {
                    j.conditions += 1;
                }
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
                    let r: Vec<Option<Result<String, ()>>> =
                        vals.iter().map(|v| dest_reason(t, v)).collect();
                    if let Some(Some(Ok(why))) = r.iter().find(|x| matches!(x, Some(Ok(_)))) {
                        j.hit(why.clone());
                    } else if r.iter().all(Option::is_some) && !r.is_empty() {
                        j.miss();
                    } else {
                        j.conditions += 1;
                    }
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
                let want = if t.broadcast {
                    "broadcast"
                } else {
                    "multicast"
                };
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
                    let want = if t.broadcast {
                        "broadcast"
                    } else {
                        "multicast"
                    };
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

#[derive(Debug, Default)]
struct NftChain {
    name: String,
    hook: Option<String>,
    policy_drop: bool,
    rules: Vec<(String, Option<u64>)>,
}

#[derive(Debug, Default)]
struct NftTable {
    family: String,
    name: String,
    sets: HashMap<String, Vec<String>>,
    chains: Vec<NftChain>,
}

fn strip_handle(line: &str) -> (&str, Option<u64>) {
    match line.rsplit_once("# handle ") {
        Some((rest, h)) => (rest.trim_end(), h.trim().parse().ok()),
        None => (line, None),
    }
}

fn braces(s: &str) -> i64 {
    s.chars().fold(0, |n, c| match c {
        '{' => n + 1,
        '}' => n - 1,
        _ => n,
    })
}

/// Parses `nft [-a] list ruleset` into tables, sets and chains.
fn parse_nft(text: &str) -> Vec<NftTable> {
    #[derive(PartialEq)]
    enum In {
        Top,
        Table,
        Chain,
        Set,
        Other(i64),
    }
    let mut tables: Vec<NftTable> = Vec::new();
    let mut state = In::Top;
    let mut pending = String::new();
    let mut set_name = String::new();
    for raw in text.lines() {
        let (line, handle) = strip_handle(raw.trim());
        if line.is_empty() && pending.is_empty() {
            continue;
        }
        match state {
            In::Top => {
                let w: Vec<&str> = line.split_whitespace().collect();
                if w.first() == Some(&"table") && w.len() >= 3 {
                    let (family, name) = if w.len() >= 4 {
                        (w[1], w[2])
                    } else {
                        ("ip", w[1])
                    };
                    tables.push(NftTable {
                        family: family.to_owned(),
                        name: name.to_owned(),
                        ..NftTable::default()
                    });
                    state = In::Table;
                }
            }
            In::Table => {
                let Some(table) = tables.last_mut() else {
                    continue;
                };
                let w: Vec<&str> = line.split_whitespace().collect();
                if line == "}" {
                    state = In::Top;
                } else if w.first() == Some(&"chain") && line.ends_with('{') {
                    table.chains.push(NftChain {
                        name: w.get(1).copied().unwrap_or("").to_owned(),
                        ..NftChain::default()
                    });
                    state = In::Chain;
                } else if matches!(w.first(), Some(&"set") | Some(&"map")) && line.ends_with('{') {
                    set_name = w.get(1).copied().unwrap_or("").to_owned();
                    state = In::Set;
                } else if line.ends_with('{') {
                    state = In::Other(braces(line));
                }
            }
            In::Set => {
                if pending.is_empty() && line == "}" {
                    state = In::Table;
                    continue;
                }
                pending.push(' ');
                pending.push_str(line);
                if braces(&pending) > 0 {
                    continue;
                }
                let logical = std::mem::take(&mut pending);
                if let Some(rest) = logical.trim().strip_prefix("elements = ") {
                    let toks = nft_tokens(rest);
                    let vals: Vec<String> = toks
                        .into_iter()
                        .filter(|t| t != "{" && t != "}" && t != ",")
                        .collect();
                    if let Some(table) = tables.last_mut() {
                        table.sets.insert(set_name.clone(), vals);
                    }
                }
            }
            In::Chain => {
                let Some(chain) = tables.last_mut().and_then(|t| t.chains.last_mut()) else {
                    continue;
                };
                if pending.is_empty() && line == "}" {
                    state = In::Table;
                    continue;
                }
                if pending.is_empty() && line.starts_with("type ") {
                    let w: Vec<&str> = line
                        .split(|c: char| c.is_whitespace() || c == ';')
                        .collect();
                    chain.hook = w
                        .iter()
                        .position(|x| *x == "hook")
                        .and_then(|p| w.get(p + 1))
                        .map(|s| (*s).to_owned());
                    chain.policy_drop = line.contains("policy drop");
                    continue;
                }
                if pending.is_empty() && line.starts_with("policy ") {
                    chain.policy_drop = line.contains("policy drop");
                    continue;
                }
                if !pending.is_empty() {
                    pending.push(' ');
                }
                pending.push_str(line);
                if braces(&pending) > 0 {
                    continue;
                }
                let rule = std::mem::take(&mut pending);
                chain.rules.push((rule, handle));
            }
            In::Other(depth) => {
                let d = depth + braces(line);
                state = if d <= 0 { In::Table } else { In::Other(d) };
            }
        }
    }
    tables
}

/// Finds the nft rules that drop the traffic.
pub(crate) fn scan_nft(text: &str, t: &Traffic) -> Scan {
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
                let r: Vec<Option<bool>> = val.split(',').map(|v| port_in(v, t.port)).collect();
                if r.contains(&Some(true)) {
                    j.hit(format!("UDP port {}", t.port));
                } else if r.iter().all(Option::is_some) {
                    j.miss();
                } else {
                    j.conditions += 1;
                }
                i += 2;
            }
            "-d" | "--destination" | "--dst" => {
                let r: Vec<Option<Result<String, ()>>> =
                    val.split(',').map(|v| dest_reason(t, v)).collect();
                if let Some(Some(Ok(why))) = r.iter().find(|x| matches!(x, Some(Ok(_)))) {
                    j.hit(why.clone());
                } else if r.iter().all(Option::is_some) {
                    j.miss();
                } else {
                    j.conditions += 1;
                }
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
                let want = if t.broadcast {
                    "broadcast"
                } else {
                    "multicast"
                };
                if val.eq_ignore_ascii_case(want) {
                    j.hit(format!("{want} packets"));
                } else {
                    j.miss();
                }
                i += 2;
            }
            "--dst-type" => {
                let want = if t.broadcast {
                    "BROADCAST"
                } else {
                    "MULTICAST"
                };
                if val.split(',').any(|v| v.eq_ignore_ascii_case(want)) {
                    j.hit(format!("{} packets", want.to_lowercase()));
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
pub(crate) fn scan_iptables(text: &str, t: &Traffic, v6: bool) -> Scan {
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

// ------------------------------------------------------------------- check

/// How reading one tool went.
enum Source {
    Read(Scan),
    Denied(String),
    Absent,
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn traffic() -> Traffic {
        Traffic {
            family: Family::V4,
            port: 54321,
            group: "239.74.20.30".parse().unwrap(),
            dev: "wlan0".into(),
            peer: Some("198.18.1.20".parse().unwrap()),
            broadcast: false,
        }
    }

    fn traffic6() -> Traffic {
        Traffic {
            family: Family::V6,
            group: "ff05::4a14:1e".parse().unwrap(),
            peer: None,
            ..traffic()
        }
    }

    // `nft -a list ruleset` after the commands of the doctor's lab test,
    // plus rules that must not count.
    const NFT: &str = r#"table inet f { # handle 1
	set blocked { # handle 4
		type inet_service
		flags interval
		elements = { 9000-9100,
			     54321 }
	}
	chain in { # handle 1
		type filter hook input priority filter; policy accept;
		ct state established,related accept # handle 7
		udp dport 54321 drop # handle 2
		tcp dport 22 drop # handle 3
		udp dport { 53, 5353 } drop # handle 5
		iifname "eth0" drop # handle 6
		ip daddr 224.0.0.0/4 meta pkttype multicast counter packets 0 bytes 0 reject with icmp port-unreachable # handle 8
		ip6 daddr ff00::/8 drop # handle 9
		ip saddr 10.0.0.0/8 drop # handle 10
		udp dport != 54321 drop # handle 11
		udp dport @blocked counter packets 3 bytes 120 drop # handle 12
		ip protocol igmp drop # handle 13
		udp dport { 1, 2,
			    3 } drop # handle 14
	}
	chain out { # handle 15
		type filter hook output priority filter; policy accept;
		oifname "wlan*" log prefix "out " drop # handle 16
	}
}
table ip6 only6 { # handle 2
	chain in { # handle 1
		type filter hook input priority 0; policy accept;
		udp dport 54321 drop # handle 2
	}
}
"#;

    #[test]
    fn nft_rules_that_drop_the_group() {
        let s = scan_nft(NFT, &traffic());
        let handles: Vec<&str> = s
            .drops
            .iter()
            .map(|h| h.fix.rsplit(' ').next().unwrap())
            .collect();
        assert_eq!(handles, ["2", "8", "12", "13", "16"], "{s:#?}");
        assert_eq!(s.drops[0].fix, "nft delete rule inet f in handle 2");
        assert_eq!(s.drops[0].rule, "udp dport 54321 drop");
        assert_eq!(s.drops[0].place, "table inet f chain in (hook input)");
        assert_eq!(s.drops[0].why, "UDP port 54321");
        assert!(
            s.drops[1].why.contains("239.74.20.30 (224.0.0.0/4)"),
            "{:?}",
            s.drops[1]
        );
        assert!(
            s.drops[1].why.contains("multicast packets"),
            "{:?}",
            s.drops[1]
        );
        assert_eq!(s.drops[3].why, "IGMP");
        assert_eq!(
            s.drops[4].why,
            "everything on wlan0, in what this host sends"
        );
        assert_eq!(s.rules, 13);
    }

    #[test]
    fn nft_ipv6_sees_only_ipv6_rules() {
        let s = scan_nft(NFT, &traffic6());
        let handles: Vec<&str> = s
            .drops
            .iter()
            .map(|h| h.fix.rsplit(' ').next().unwrap())
            .collect();
        // 2 (inet, port), 9 (ip6 daddr ff00::/8), 12 (set), 16 (oifname),
        // and the ip6 table's rule; never the `ip …` ones.
        assert_eq!(handles, ["2", "9", "12", "16", "2"], "{s:#?}");
        assert_eq!(s.drops[4].fix, "nft delete rule ip6 only6 in handle 2");
    }

    #[test]
    fn nft_input_policy_drop_without_an_accept() {
        let closed = "table inet fw {\n\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n\t\tct state established,related accept\n\t\ttcp dport 22 accept\n\t}\n}\n";
        let s = scan_nft(closed, &traffic());
        assert_eq!(s.drops.len(), 1, "{s:#?}");
        assert_eq!(s.drops[0].rule, "policy drop");
        assert!(s.drops[0]
            .fix
            .contains("nft add rule inet fw input udp dport 54321 accept"));
        assert!(s.drops[0].fix.contains("ip protocol igmp accept"));
        let open = closed.replace("tcp dport 22 accept", "udp dport 54321 accept");
        assert!(scan_nft(&open, &traffic()).drops.is_empty());
        // An empty ruleset, and the lab access point's bridge firewall
        // (multicast crossing the bridge, not this host's input).
        assert_eq!(scan_nft("", &traffic()), Scan::default());
    }

    /// What the issue's reproduction put on the sender: a rule in an output
    /// chain that drops one datagram in ten, and a closed output policy.
    #[test]
    fn nft_output_rules_and_policies() {
        let text = "table ip t { # handle 2
	chain out { # handle 1
		type filter hook output priority filter; policy accept;
		ip daddr 239.74.20.30 numgen random mod 10 0 drop # handle 2
		ip daddr 239.74.20.31 drop # handle 3
	}
}
table inet f2 { # handle 3
	chain o2 { # handle 1
		type filter hook output priority filter; policy drop;
		tcp dport 22 accept # handle 2
	}
	chain i2 { # handle 3
		type filter hook input priority filter; policy accept;
		udp dport 54321 accept # handle 4
	}
}
";
        let s = scan_nft(text, &traffic());
        assert_eq!(s.drops.len(), 2, "{s:#?}");
        assert_eq!(s.drops[0].place, "table ip t chain out (hook output)");
        assert_eq!(
            s.drops[0].why,
            "239.74.20.30, in what this host sends, at random, about 1 in 10"
        );
        assert_eq!(s.drops[0].fix, "nft delete rule ip t out handle 2");
        // The accept rule of the input chain does not open the output policy.
        assert_eq!(s.drops[1].rule, "policy drop");
        assert_eq!(s.drops[1].place, "table inet f2 chain o2 (hook output)");
        assert!(s.drops[1].why.contains("in what this host sends"), "{s:#?}");
        assert!(s.drops[1]
            .fix
            .starts_with("nft add rule inet f2 o2 udp dport 54321 accept"));
        let open = text.replace("tcp dport 22 accept", "udp dport 54321 accept");
        assert_eq!(scan_nft(&open, &traffic()).drops.len(), 1);
    }

    #[test]
    fn iptables_output_rules_and_policies() {
        let text = "*filter\n:INPUT ACCEPT [0:0]\n:OUTPUT DROP [0:0]\n\
                    -A INPUT -p udp --dport 54321 -j ACCEPT\n\
                    -A OUTPUT -d 239.74.20.30/32 -m statistic --mode random --probability 0.1 -j DROP\n\
                    -A OUTPUT -p udp --dport 54321 -m statistic --mode nth --every 4 --packet 0 -j REJECT\n\
                    COMMIT\n";
        let s = scan_iptables(text, &traffic(), false);
        let whys: Vec<&str> = s.drops.iter().map(|h| h.why.as_str()).collect();
        assert_eq!(
            whys,
            [
                "239.74.20.30 (239.74.20.30/32), in what this host sends, at random, about 10 %",
                "UDP port 54321, in what this host sends, 1 in 4",
                "UDP port 54321 and IGMP (no rule accepts them), in what this host sends",
            ],
            "{s:#?}"
        );
        assert_eq!(s.drops[2].rule, ":OUTPUT DROP (policy)");
        assert!(s.drops[2]
            .fix
            .starts_with("iptables -t filter -A OUTPUT -p udp --dport 54321 -j ACCEPT"));
        assert!(s.drops[0]
            .fix
            .starts_with("iptables -t filter -D OUTPUT -d 239.74.20.30/32"));
    }

    const IPTABLES: &str = "\
# Generated by iptables-save v1.8.9 (nf_tables) on Mon Jan  1 00:00:00 2026
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:ufw-user-input - [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p udp -m udp --dport 54321 -j DROP
-A INPUT -p tcp -m tcp --dport 22 -j DROP
-A INPUT -d 224.0.0.0/4 -j DROP
-A INPUT -p igmp -j REJECT --reject-with icmp-port-unreachable
-A INPUT -m pkttype --pkt-type multicast -j DROP
-A INPUT -i eth0 -j DROP
-A INPUT ! -d 224.0.0.0/4 -j DROP
-A INPUT -s 198.18.1.20/32 -j DROP
-A ufw-user-input -p udp -m multiport --dports 5000:60000 -j DROP
-A ufw-user-input -p udp -m multiport --dports 53,5353 -j DROP
-A ufw-user-input -j DROP
-A INPUT -j DROP
COMMIT
# Completed on Mon Jan  1 00:00:00 2026
";

    #[test]
    fn iptables_rules_that_drop_the_group() {
        let s = scan_iptables(IPTABLES, &traffic(), false);
        let rules: Vec<&str> = s.drops.iter().map(|h| h.rule.as_str()).collect();
        assert_eq!(
            rules,
            [
                "-A INPUT -p udp -m udp --dport 54321 -j DROP",
                "-A INPUT -d 224.0.0.0/4 -j DROP",
                "-A INPUT -p igmp -j REJECT --reject-with icmp-port-unreachable",
                "-A INPUT -m pkttype --pkt-type multicast -j DROP",
                "-A INPUT -s 198.18.1.20/32 -j DROP",
                "-A ufw-user-input -p udp -m multiport --dports 5000:60000 -j DROP",
                "-A INPUT -j DROP",
            ],
            "{s:#?}"
        );
        assert_eq!(
            s.drops[0].fix,
            "iptables -t filter -D INPUT -p udp -m udp --dport 54321 -j DROP"
        );
        assert_eq!(s.drops[4].why, "the peer 198.18.1.20");
        assert_eq!(s.drops[6].why, "everything");
        assert_eq!(s.rules, 13);
    }

    #[test]
    fn iptables_input_policy_drop() {
        let ufw = "*filter\n:INPUT DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\n-A INPUT -d 224.0.0.251/32 -p udp -m udp --dport 5353 -j ACCEPT\nCOMMIT\n";
        let s = scan_iptables(ufw, &traffic(), false);
        assert_eq!(s.drops.len(), 1, "{s:#?}");
        assert_eq!(s.drops[0].rule, ":INPUT DROP (policy)");
        assert!(s.drops[0]
            .fix
            .starts_with("iptables -t filter -A INPUT -p udp --dport 54321 -j ACCEPT"));
        let open = ufw
            .replace("--dport 5353", "--dport 54321")
            .replace(" -d 224.0.0.251/32", "");
        assert!(scan_iptables(&open, &traffic(), false).drops.is_empty());
    }

    #[test]
    fn ip6tables_mld() {
        let text = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 143 -j DROP\n-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j DROP\n-A INPUT -d ff00::/8 -j DROP\nCOMMIT\n";
        let s = scan_iptables(text, &traffic6(), true);
        let whys: Vec<&str> = s.drops.iter().map(|h| h.why.as_str()).collect();
        assert_eq!(whys, ["MLD", "ff05::4a14:1e (ff00::/8)"], "{s:#?}");
        assert!(s.drops[0].fix.starts_with("ip6tables -t filter -D INPUT"));
    }

    #[test]
    fn values() {
        assert_eq!(port_in("54321", 54321), Some(true));
        assert_eq!(port_in("5000-60000", 54321), Some(true));
        assert_eq!(port_in("5000:6000", 54321), Some(false));
        assert_eq!(port_in("http", 54321), None);
        let g: IpAddr = "239.74.20.30".parse().unwrap();
        assert_eq!(addr_in("224.0.0.0/4", g), Some(true));
        assert_eq!(addr_in("239.74.20.30", g), Some(true));
        assert_eq!(addr_in("232.0.0.0/8", g), Some(false));
        assert_eq!(addr_in("ff00::/8", g), None);
        assert_eq!(addr_in("239.0.0.0-239.255.255.255", g), Some(true));
        assert!(iface_matches("wlan*", "wlan0") && iface_matches("wlan+", "wlan0"));
        assert!(!iface_matches("eth0", "wlan0"));
    }
}
