//! Reading the text of `nft [-a] list ruleset`: the tokenizer of one rule,
//! the values of an expression (words, anonymous and named sets), and the
//! parser into tables, their sets and their chains with rules and handles.

use std::collections::HashMap;

/// Splits an nft rule into tokens: words, quoted strings, braces and commas.
pub(super) fn nft_tokens(rule: &str) -> Vec<String> {
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
pub(super) fn nft_values(
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

/// One chain of a table.
#[derive(Debug, Default)]
pub(super) struct NftChain {
    /// The chain's name.
    pub(super) name: String,
    /// The hook of a base chain (`input`, `output`, …); `None` for a chain
    /// that rules jump to.
    pub(super) hook: Option<String>,
    /// Whether its policy is drop.
    pub(super) policy_drop: bool,
    /// Its rules as listed, each with its handle when `-a` gave one.
    pub(super) rules: Vec<(String, Option<u64>)>,
}

/// One table: its family, name, named sets and chains.
#[derive(Debug, Default)]
pub(super) struct NftTable {
    /// `ip`, `ip6`, `inet`, `arp`, `bridge`, `netdev`.
    pub(super) family: String,
    /// The table's name.
    pub(super) name: String,
    /// Named sets and maps with their elements, for `@name`.
    pub(super) sets: HashMap<String, Vec<String>>,
    /// Its chains, in listed order.
    pub(super) chains: Vec<NftChain>,
}

/// Splits the `# handle N` that `nft -a` appends off a line.
fn strip_handle(line: &str) -> (&str, Option<u64>) {
    match line.rsplit_once("# handle ") {
        Some((rest, h)) => (rest.trim_end(), h.trim().parse().ok()),
        None => (line, None),
    }
}

/// How many braces `s` opens, less those it closes.
fn braces(s: &str) -> i64 {
    s.chars().fold(0, |n, c| match c {
        '{' => n + 1,
        '}' => n - 1,
        _ => n,
    })
}

/// Parses `nft [-a] list ruleset` into tables, sets and chains.
pub(super) fn parse_nft(text: &str) -> Vec<NftTable> {
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
