//! Several groups on one command line: `G1 G2 …`, ranges such as
//! `239.1.1.1+20`, and a port per group. See [`parse_group_list`].

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::group::{parse_port, Group, ParseGroupError, Port};

/// The most groups one command line may name (after removing duplicates).
pub const MAX_GROUPS: usize = 4096;

/// The accepted forms, for error messages.
const FORMS: &str = "accepted forms: ADDR, ADDR:PORT, [ADDR6]:PORT, or a range \
                     ADDR+COUNT or ADDR+COUNT:PORT (COUNT groups from ADDR up), \
                     e.g. 239.1.1.1:5000, [ff05::1]:5000 or 239.1.1.1+20:5000";

/// The groups a command line names, in order, without duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupList {
    groups: Vec<Group>,
    duplicates: Vec<Group>,
}

impl GroupList {
    /// The distinct groups, in the order first written.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// Groups written more than once (one entry per extra mention), which
    /// the list holds once.
    pub fn duplicates(&self) -> &[Group] {
        &self.duplicates
    }

    /// The distinct groups.
    pub fn into_groups(self) -> Vec<Group> {
        self.groups
    }
}

/// A group list argument could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListError {
    input: String,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// The address or port part, as [`Group`] reported it.
    Group(ParseGroupError),
    /// Anything about ranges, ports around them, or the total.
    Other(String),
}

impl GroupListError {
    /// The argument at fault, as written.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl fmt::Display for GroupListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            // Already names the value and the single-group forms.
            Kind::Group(e) if self.input.contains('+') => write!(
                f,
                "invalid group range '{}': {e}; a range is ADDR+COUNT or ADDR+COUNT:PORT",
                self.input
            ),
            Kind::Group(e) => write!(f, "{e}; a range is ADDR+COUNT or ADDR+COUNT:PORT"),
            Kind::Other(problem) => {
                write!(f, "invalid group '{}': {problem}; {FORMS}", self.input)
            }
        }
    }
}

impl std::error::Error for GroupListError {}

/// Parses group arguments with [`Port::DEFAULT`] for groups written without a
/// port; duplicates are dropped with a logged warning. See
/// [`parse_group_list`] for the forms.
///
/// # Errors
/// [`GroupListError`] naming the argument at fault and the accepted forms.
pub fn parse_groups(args: &[String]) -> Result<Vec<Group>, GroupListError> {
    let list = parse_group_list(args, Port::DEFAULT)?;
    for g in list.duplicates() {
        log::warn!("group {g} is listed more than once; using it once");
    }
    Ok(list.into_groups())
}

/// Parses group arguments, giving `default_port` to groups written without a
/// port, and reports duplicates instead of logging them.
///
/// Each argument is one of:
///
/// | form | meaning |
/// |---|---|
/// | `ADDR`, `ADDR:PORT`, `[ADDR6]`, `[ADDR6]:PORT` | one group, as [`Group`] parses it |
/// | `ADDR+COUNT`, `[ADDR6]+COUNT` | `COUNT` consecutive groups starting at `ADDR` |
/// | `ADDR+COUNT:PORT`, `[ADDR6]+COUNT:PORT` | the same, all on `PORT` |
/// | `ADDR:PORT+COUNT`, `[ADDR6]:PORT+COUNT` | the same, mcjoin's order |
///
/// An IPv6 address may carry a scope (`ff02::1%wlan0+3`, `[ff02::1%3]:5000`):
/// every group of a range gets it.
///
/// `+COUNT` means COUNT groups in all, the base address included, as in
/// mcjoin (whose `GROUP+NUM` joins NUM groups, and whose manual calls
/// `233.252.0.1+20` "20 consecutive groups"): `239.1.1.1+3` is 239.1.1.1,
/// 239.1.1.2 and 239.1.1.3; `+1` is the base alone; `+0` is an error.
///
/// - A range starts at a multicast group and stays inside the multicast
///   block: IPv4 ranges may not go past 239.255.255.255 (out of
///   224.0.0.0/4); IPv6 ranges count in the 112-bit group ID (RFC 4291 §2.7)
///   and may not carry into the flags and scope bits (mcjoin counts in the
///   low 32 bits only and wraps silently). Crossing is an error that names
///   the address an IPv4 range would end at, or the last group of the IPv6
///   scope.
/// - At most [`MAX_GROUPS`] distinct groups in all; more is an error that names
///   the limit.
/// - Without a port, a group gets `default_port` ([`parse_groups`] uses
///   [`Port::DEFAULT`]). A port written both before and after `+COUNT` is an
///   error.
/// - A group (address and port) listed twice is kept once, at its first
///   place: [`GroupList::duplicates`] tells which were dropped, and
///   [`parse_groups`] logs a warning naming them. The same address on two
///   ports is two groups.
/// - An empty argument list gives an empty list: choosing a default group is
///   the caller's business.
///
/// # Errors
/// [`GroupListError`] naming the argument at fault and the accepted forms.
pub fn parse_group_list<S: AsRef<str>>(
    args: &[S],
    default_port: Port,
) -> Result<GroupList, GroupListError> {
    let mut list = GroupList::default();
    let mut seen = HashSet::new();
    for arg in args {
        let arg = arg.as_ref();
        let (base, count) = parse_one(arg, default_port)?;
        for i in 0..count {
            // parse_one checked that every member of the range exists.
            // The base itself is always kept (a single group need not be
            // multicast: broadcast addresses are the caller's call).
            let member = if i == 0 {
                Some(base.addr())
            } else {
                nth(base.addr(), i)
            };
            let Some(addr) = member else {
                break;
            };
            let g = base.with_addr(addr);
            if !seen.insert(g) {
                list.duplicates.push(g);
                continue;
            }
            if list.groups.len() == MAX_GROUPS {
                return Err(other(
                    arg,
                    format!("too many groups: at most {MAX_GROUPS} in all"),
                ));
            }
            list.groups.push(g);
        }
    }
    Ok(list)
}

fn other(input: &str, problem: String) -> GroupListError {
    GroupListError {
        input: input.to_owned(),
        kind: Kind::Other(problem),
    }
}

/// One argument: the first group and how many groups from it.
fn parse_one(arg: &str, default_port: Port) -> Result<(Group, u64), GroupListError> {
    let t = arg.trim();
    if t.is_empty() {
        return Err(other(arg, "the group is empty".into()));
    }
    let (spec, range) = match t.split_once('+') {
        None => (t, None),
        Some((spec, range)) => (spec, Some(range)),
    };
    let group = |spec: &str, port: Option<Port>| {
        let g: Group = spec.parse().map_err(|e| GroupListError {
            input: arg.to_owned(),
            kind: Kind::Group(e),
        })?;
        let port = port
            .or(has_port(spec).then_some(g.port()))
            .unwrap_or(default_port);
        Ok::<Group, GroupListError>(g.with_port(port))
    };
    let Some(range) = range else {
        return Ok((group(spec, None)?, 1));
    };
    let (count, port) = match range.split_once(':') {
        None => (range, None),
        Some((count, port)) => (count, Some(port)),
    };
    let count = count.trim();
    if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
        return Err(other(
            arg,
            format!("the count after '+' must be a whole number of groups, not '{count}'"),
        ));
    }
    let count: u64 = match count.parse() {
        Ok(n) if n <= MAX_GROUPS as u64 => n,
        _ => {
            return Err(other(
                arg,
                format!("the range of {count} groups is too large: at most {MAX_GROUPS}"),
            ))
        }
    };
    if count == 0 {
        return Err(other(
            arg,
            "a range needs at least 1 group (+1 is the base group alone)".into(),
        ));
    }
    let port = match port {
        None => None,
        Some(_) if has_port(spec) => {
            return Err(other(
                arg,
                "the port is given twice, before and after '+'".into(),
            ))
        }
        Some(p) => Some(parse_port(p.trim()).map_err(|e| other(arg, e))?),
    };
    let base = group(spec, port)?;
    if !base.is_multicast() {
        return Err(other(
            arg,
            format!(
                "a range must start at a multicast group (224.0.0.0/4 or ff00::/8), \
                 and {} is not one",
                base.addr()
            ),
        ));
    }
    if nth(base.addr(), count - 1).is_none() {
        return Err(other(arg, overflow(base.addr(), count)));
    }
    Ok((base, count))
}

/// Whether a single-group spec carries its own port, by the rule
/// [`Group`]'s parser follows: `[ADDR6]:PORT`, or exactly one colon.
fn has_port(spec: &str) -> bool {
    let t = spec.trim();
    match t.strip_prefix('[') {
        Some(rest) => rest
            .split_once(']')
            .is_some_and(|(_, a)| a.starts_with(':')),
        None => t.matches(':').count() == 1,
    }
}

/// The IPv6 group ID: the low 112 bits (RFC 4291 §2.7).
const V6_GROUP_ID: u128 = (1 << 112) - 1;
/// The last IPv4 multicast address.
const V4_LAST: u32 = 0xEFFF_FFFF;

/// The address `i` steps after `base`, if it stays inside the multicast block
/// (for IPv6, inside the group ID).
fn nth(base: IpAddr, i: u64) -> Option<IpAddr> {
    match base {
        IpAddr::V4(a) => {
            let x = u32::from(a).checked_add(u32::try_from(i).ok()?)?;
            (x <= V4_LAST).then(|| IpAddr::V4(Ipv4Addr::from(x)))
        }
        IpAddr::V6(a) => {
            let x = u128::from(a);
            let id = (x & V6_GROUP_ID).checked_add(u128::from(i))?;
            (id <= V6_GROUP_ID).then(|| IpAddr::V6(Ipv6Addr::from((x & !V6_GROUP_ID) | id)))
        }
    }
}

/// Why `base+count` does not fit, naming the last address it would need.
fn overflow(base: IpAddr, count: u64) -> String {
    match base {
        IpAddr::V4(a) => {
            let last = u64::from(u32::from(a)) + count - 1;
            let shown = u32::try_from(last).map_or_else(
                |_| format!("{last} (past 255.255.255.255)"),
                |x| Ipv4Addr::from(x).to_string(),
            );
            format!(
                "{count} groups from {a} would end at {shown}, outside 224.0.0.0/4 \
                 (the last IPv4 group is 239.255.255.255)"
            )
        }
        IpAddr::V6(a) => format!(
            "{count} groups from {a} would run past the 112-bit group ID into the flags \
             and scope bits (the last group of this scope is {})",
            Ipv6Addr::from(u128::from(a) | V6_GROUP_ID)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    fn parse(args: &[&str]) -> Vec<String> {
        parse_groups(&strings(args))
            .map(|g| shown(&g))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    /// Each spec parses to the groups given beside it.
    fn each_parses(cases: &[(&str, &[&str])]) {
        for (spec, want) in cases {
            assert_eq!(parse(&[spec]), *want, "{spec}");
        }
    }

    fn shown(groups: &[Group]) -> Vec<String> {
        groups.iter().map(Group::to_string).collect()
    }

    fn err(args: &[&str]) -> String {
        parse_groups(&strings(args))
            .map(|g| format!("unexpectedly parsed {g:?}"))
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn single_groups_delegate_to_group() {
        assert_eq!(
            parse(&["239.1.1.1", "239.1.1.2:5000", "[ff05::1]:6000", "ff02::1"]),
            [
                "239.1.1.1:54321",
                "239.1.1.2:5000",
                "[ff05::1]:6000",
                "[ff02::1]:54321"
            ]
        );
        assert!(parse(&[]).is_empty());
        // Broadcast addresses pass; whether they are allowed is the caller's call.
        assert_eq!(parse(&["198.18.1.255"]), ["198.18.1.255:54321"]);
    }

    #[test]
    fn ranges_count_the_base() {
        each_parses(&[
            (
                "239.1.1.1+3",
                &["239.1.1.1:54321", "239.1.1.2:54321", "239.1.1.3:54321"],
            ),
            ("239.1.1.1+1", &["239.1.1.1:54321"]),
            // Carries across octets.
            ("239.1.1.255+2", &["239.1.1.255:54321", "239.1.2.0:54321"]),
            // Up to the very last IPv4 group.
            (
                "239.255.255.254+2",
                &["239.255.255.254:54321", "239.255.255.255:54321"],
            ),
        ]);
        let twenty = parse(&["239.1.1.1+20"]);
        assert_eq!(twenty.len(), 20);
        assert_eq!(twenty[19], "239.1.1.20:54321");
    }

    #[test]
    fn ports_on_ranges() {
        let want: &[&str] = &["239.1.1.1:5000", "239.1.1.2:5000"];
        let v6: &[&str] = &["[ff05::1]:7000", "[ff05::2]:7000"];
        each_parses(&[
            ("239.1.1.1+2:5000", want),
            ("239.1.1.1:5000+2", want),
            (" 239.1.1.1 + 2 : 5000 ", want),
            ("[ff05::1]+2:7000", v6),
            ("[ff05::1]:7000+2", v6),
            ("ff05::1+2", &["[ff05::1]:54321", "[ff05::2]:54321"]),
            ("ff05::1+2:7000", v6),
            ("[ff05::1]+1", &["[ff05::1]:54321"]),
        ]);
    }

    #[test]
    fn ipv6_ranges_count_in_the_group_id() {
        each_parses(&[
            ("ff05::ffff+2", &["[ff05::ffff]:54321", "[ff05::1:0]:54321"]),
            (
                "ff05::ffff:ffff:ffff+2",
                &["[ff05::ffff:ffff:ffff]:54321", "[ff05::1:0:0:0]:54321"],
            ),
        ]);
        assert_eq!(
            parse(&["ff0e:ffff:ffff:ffff:ffff:ffff:ffff:fffe+2"]).len(),
            2
        );
        let e = err(&["ff0e:ffff:ffff:ffff:ffff:ffff:ffff:fffe+3"]);
        assert!(e.contains("112-bit group ID"), "{e}");
        assert!(e.contains("ff0e:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), "{e}");
    }

    #[test]
    fn a_scope_goes_to_every_group_of_a_range() {
        assert_eq!(
            parse(&["ff02::5%wlan0+2:7000", "[ff02::9%3]:7000+2"]),
            [
                "[ff02::5%wlan0]:7000",
                "[ff02::6%wlan0]:7000",
                "[ff02::9%3]:7000",
                "[ff02::a%3]:7000"
            ]
        );
        assert_eq!(parse(&["[ff02::5%wlan0]"]), ["[ff02::5%wlan0]:54321"]);
        let e = err(&["239.1.1.1%wlan0+2"]);
        assert!(e.contains("belongs to IPv6"), "{e}");
    }

    #[test]
    fn the_default_port_is_the_callers() {
        let port = Port::new(9000).unwrap();
        let list = parse_group_list(
            &[
                "239.1.1.1",
                "239.1.1.2:5000",
                "239.1.1.3+2",
                "[ff05::1]",
                "ff05::2",
            ],
            port,
        )
        .unwrap();
        assert_eq!(
            shown(list.groups()),
            [
                "239.1.1.1:9000",
                "239.1.1.2:5000",
                "239.1.1.3:9000",
                "239.1.1.4:9000",
                "[ff05::1]:9000",
                "[ff05::2]:9000"
            ]
        );
        // An explicit default port stays explicit.
        let list = parse_group_list(&["239.1.1.1:54321"], port).unwrap();
        assert_eq!(list.groups()[0].port(), Port::DEFAULT);
    }

    #[test]
    fn duplicates_are_kept_once_and_reported() {
        let list = parse_group_list(
            &["239.1.1.1+3", "239.1.1.2", "239.1.1.2:5000", "239.1.1.1+2"],
            Port::DEFAULT,
        )
        .unwrap();
        assert_eq!(
            shown(list.groups()),
            [
                "239.1.1.1:54321",
                "239.1.1.2:54321",
                "239.1.1.3:54321",
                "239.1.1.2:5000"
            ]
        );
        assert_eq!(
            shown(list.duplicates()),
            ["239.1.1.2:54321", "239.1.1.1:54321", "239.1.1.2:54321"]
        );
        assert_eq!(parse(&["239.1.1.1", "239.1.1.1"]), ["239.1.1.1:54321"]);
        // Duplicates do not count towards the limit.
        let big = format!("239.1.0.0+{MAX_GROUPS}");
        assert_eq!(parse(&[&big, &big]).len(), MAX_GROUPS);
    }

    #[test]
    fn limits() {
        assert_eq!(parse(&["239.1.0.0+4096"]).len(), 4096);
        let e = err(&["239.1.0.0+4097"]);
        assert!(
            e.contains("'239.1.0.0+4097'") && e.contains("at most 4096"),
            "{e}"
        );
        let e = err(&["239.1.0.0+99999999999999999999999"]);
        assert!(e.contains("at most 4096"), "{e}");
        let e = err(&["239.1.0.0+4000", "239.2.0.0+97"]);
        assert!(
            e.contains("'239.2.0.0+97'") && e.contains("at most 4096"),
            "{e}"
        );
        assert_eq!(parse(&["239.1.0.0+4000", "239.2.0.0+96"]).len(), 4096);
    }

    #[test]
    fn errors_name_the_value_and_the_forms() {
        for (input, needle) in [
            (
                "239.255.255.255+5",
                "would end at 240.0.0.3, outside 224.0.0.0/4",
            ),
            ("239.255.255.250+4096", "outside 224.0.0.0/4"),
            ("239.1.1.1+0", "at least 1 group"),
            ("239.1.1.1+", "whole number of groups, not ''"),
            ("239.1.1.1+x", "not 'x'"),
            ("239.1.1.1+-3", "not '-3'"),
            ("239.1.1.1+2+3", "not '2+3'"),
            ("239.1.1.1:5000+2:6000", "the port is given twice"),
            ("[ff05::1]:5000+2:6000", "the port is given twice"),
            ("239.1.1.1+2:0", "port 0 is out of range"),
            ("239.1.1.1+2:x", "port 'x' is not a number"),
            ("10.0.0.1+2", "must start at a multicast group"),
            ("ff05::1+2:", "port '' is not a number"),
            ("", "the group is empty"),
            ("  ", "the group is empty"),
        ] {
            let e = err(&[input]);
            assert!(e.contains(&format!("'{input}'")), "{input}: {e}");
            assert!(e.contains(needle), "{input}: {e}");
            assert!(e.contains("ADDR+COUNT"), "{input}: {e}");
        }
        // Address errors come from the group parser, with the range forms added.
        for (input, needle) in [
            ("nope", "'nope' is not an IP address"),
            ("nope+3", "'nope' is not an IP address"),
            ("239.1.1.1:0", "port 0 is out of range"),
            ("+3", "the address is missing"),
            ("[ff05::1+3", "missing ']'"),
        ] {
            let e = err(&[input]);
            assert!(e.contains(needle), "{input}: {e}");
            assert!(e.contains(&format!("'{input}'")), "{input}: {e}");
            assert!(e.contains("ADDR:PORT") && e.contains("ADDR+COUNT"), "{e}");
        }
        let e = parse_groups(&strings(&["239.1.1.1", "bad"])).unwrap_err();
        assert_eq!(e.input(), "bad");
    }
}
