//! The oracles shared by the cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`)
//! and the bounded property test (`tests/parsers_property.rs`, which
//! includes this file with `#[path]`): each function feeds one input to one
//! of mcast's decoders or parsers through the public API and panics if the
//! call panics or if a result breaks an invariant the API documents.
//!
//! Only the public API is used, so the same checks hold for any build of the
//! library, and a fuzzer crash reproduces in `cargo test` by pasting the
//! input into the property test.
#![allow(dead_code)]

use std::collections::HashSet;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

// The CLI's hex dump, compiled in here because it is not library API.
#[path = "../src/cli/hex.rs"]
mod hex;
use hex::hex_dump;

use mcast::{
    escape_text, find, format_duration, is_probe, parse_bitrate, parse_duration, parse_group_list,
    parse_groups, parse_rate, Address, DecodeError, Flags, Group, Interface, InterfaceIndex, Pacer,
    Port, Probe, Rate, Step, MAX_GROUPS, PROBE_HEADER_LEN, PROBE_MAGIC, PROBE_VERSION,
};

/// The largest input any check is given: larger inputs are cut to this
/// many bytes, so every call works on bounded input (libFuzzer's default
/// `-max_len` is 4096 too).
pub const MAX_INPUT: usize = 4096;

/// A year, the longest duration `parse_duration` accepts.
const YEAR: Duration = Duration::from_secs(31_536_000);

fn cut(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.len().min(MAX_INPUT)]
}

/// Fuzzer bytes as text: invalid UTF-8 becomes U+FFFD, so every input
/// reaches the parser.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(cut(bytes)).into_owned()
}

// ---------------------------------------------------------------- probes

/// `Probe::decode` on arbitrary bytes: never panics; the error matches the
/// bytes; a decoded probe re-encodes to the same header and decodes to the
/// same probe.
pub fn probe(bytes: &[u8]) {
    let bytes = cut(bytes);
    match Probe::decode(bytes) {
        Ok(p) => {
            assert!(is_probe(bytes), "decoded without the magic: {bytes:02x?}");
            assert!(
                bytes.len() >= PROBE_HEADER_LEN,
                "decoded {} bytes",
                bytes.len()
            );
            assert_eq!(bytes[4], PROBE_VERSION, "decoded version {}", bytes[4]);
            let header_len = usize::from(u16::from_be_bytes([bytes[6], bytes[7]]));
            assert!(
                (PROBE_HEADER_LEN..=bytes.len()).contains(&header_len),
                "decoded with header length {header_len} in {} bytes",
                bytes.len()
            );
            // Round trip: at the received size and at the smallest size.
            for size in [bytes.len(), PROBE_HEADER_LEN] {
                let mut buf = vec![0xA5u8; size];
                assert_eq!(p.encode_into(&mut buf, size), Ok(size));
                assert_eq!(Probe::decode(&buf), Ok(p), "round trip at {size} bytes");
                // Same magic, version, flags, id, sequence and time as the
                // input; the header length is the writer's own (32).
                assert_eq!(buf[..6], bytes[..6]);
                assert_eq!(buf[8..PROBE_HEADER_LEN], bytes[8..PROBE_HEADER_LEN]);
                assert_eq!(buf[6..8], (PROBE_HEADER_LEN as u16).to_be_bytes());
                assert!(buf[PROBE_HEADER_LEN..].iter().all(|&b| b == 0));
            }
        }
        Err(DecodeError::NotAProbe) => {
            assert!(!is_probe(bytes), "a probe rejected as not a probe");
        }
        Err(e) => {
            assert!(is_probe(bytes), "{e} for bytes without the magic");
            match e {
                DecodeError::Truncated { len, needed } => {
                    assert_eq!(len, bytes.len());
                    assert!(needed > len, "truncated at {len} of {needed}");
                }
                DecodeError::UnsupportedVersion(v) => {
                    assert_eq!(v, bytes[4]);
                    assert_ne!(v, PROBE_VERSION);
                }
                DecodeError::BadHeaderLength(n) => {
                    assert_eq!(n.to_be_bytes(), bytes[6..8]);
                    assert!(usize::from(n) < PROBE_HEADER_LEN);
                }
                DecodeError::NotAProbe => unreachable!(),
            }
            assert!(!e.to_string().is_empty());
        }
    }
    assert_eq!(is_probe(bytes), bytes.starts_with(&PROBE_MAGIC));
}

// ---------------------------------------------------------------- groups

/// `Group::from_str` on the whole text, and `parse_groups` /
/// `parse_group_list` on its whitespace-separated words: never panic; a
/// parsed group prints and parses back to itself; a list has at most
/// `MAX_GROUPS` distinct groups; a range is consecutive multicast groups on
/// one port; a word without `+` means what `Group` says it means.
pub fn group(s: &str) {
    single_group(s);
    let words: Vec<String> = s.split_whitespace().map(str::to_owned).collect();
    match parse_groups(&words) {
        Ok(list) => {
            assert!(list.len() <= MAX_GROUPS, "{} groups", list.len());
            let distinct: HashSet<&Group> = list.iter().collect();
            assert_eq!(distinct.len(), list.len(), "duplicates kept: {list:?}");
            assert_eq!(list.is_empty(), words.is_empty());
        }
        Err(e) => {
            assert!(
                words.iter().any(|w| w == e.input()),
                "blamed '{}'",
                e.input()
            );
            let msg = e.to_string();
            assert!(msg.contains("ADDR"), "no forms in: {msg}");
        }
    }
    // The first few words on their own, and the whole text as one argument.
    for w in words.iter().take(8).map(String::as_str).chain([s]) {
        let one = parse_group_list(&[w], Port::DEFAULT);
        match &one {
            Ok(list) if w.contains('+') => range(w, list.groups()),
            _ => {}
        }
        if !w.contains('+') {
            let g = w.parse::<Group>();
            match (&one, &g) {
                (Ok(list), Ok(g)) => assert_eq!(list.groups(), [*g], "'{w}'"),
                (Err(_), Err(_)) => {}
                _ => panic!("'{w}': the list says {one:?}, the group says {g:?}"),
            }
        }
    }
}

fn single_group(s: &str) {
    match Group::from_str(s) {
        Ok(g) => {
            let shown = g.to_string();
            let again: Group = shown
                .parse()
                .unwrap_or_else(|e| panic!("'{s}' parsed as {shown}, which does not parse: {e}"));
            assert_eq!(again, g, "'{s}' -> {shown}");
            assert_eq!(g.socket_addr().port(), g.port().get());
            assert_ne!(g.port().get(), 0);
            if let Some(scope) = g.scope_v6() {
                assert!(g.is_multicast() && scope < 16);
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains("ADDR:PORT"), "no forms in: {msg}");
        }
    }
}

/// A range argument's groups: consecutive addresses, all multicast, one port.
fn range(arg: &str, groups: &[Group]) {
    assert!(!groups.is_empty() && groups.len() <= MAX_GROUPS, "'{arg}'");
    let port = groups[0].port();
    for pair in groups.windows(2) {
        let step = match (pair[0].addr(), pair[1].addr()) {
            (IpAddr::V4(a), IpAddr::V4(b)) => u128::from(u32::from(b)) - u128::from(u32::from(a)),
            (IpAddr::V6(a), IpAddr::V6(b)) => u128::from(b) - u128::from(a),
            _ => panic!("'{arg}': mixed families {pair:?}"),
        };
        assert_eq!(step, 1, "'{arg}': {pair:?} are not consecutive");
    }
    for g in groups {
        assert!(g.is_multicast(), "'{arg}': {g} is not multicast");
        assert_eq!(g.port(), port, "'{arg}': ports differ");
    }
}

// ---------------------------------------------------------------- interfaces

/// A fixed, hand-made interface list: a phone (lo, dummy0, rmnet_data0,
/// wlan0) plus an eth0, and two awkward names: `2` (a name that is another
/// interface's index) and `wlan0.100`.
pub fn interfaces() -> &'static [Interface] {
    static LIST: OnceLock<Vec<Interface>> = OnceLock::new();
    LIST.get_or_init(|| {
        let lan = Flags::UP | Flags::RUNNING | Flags::MULTICAST | Flags::BROADCAST;
        let iface = |index: u32, name: &str, flags: Flags, addrs: &[(&str, u8)]| {
            let index = InterfaceIndex::new(index).expect("index above 0");
            addrs
                .iter()
                .fold(Interface::new(index, name, flags), |i, (a, len)| {
                    i.with_address(Address::new(a.parse().expect("an address"), *len))
                })
        };
        vec![
            iface(
                1,
                "lo",
                Flags::UP | Flags::RUNNING | Flags::LOOPBACK,
                &[("127.0.0.1", 8), ("::1", 128)],
            ),
            iface(
                2,
                "dummy0",
                Flags::UP | Flags::BROADCAST,
                &[("198.18.9.1", 24)],
            ),
            iface(
                3,
                "rmnet_data0",
                Flags::UP | Flags::RUNNING | Flags::MULTICAST | Flags::POINT_TO_POINT,
                &[("198.18.2.10", 30), ("fe80::2", 64)],
            ),
            iface(
                4,
                "wlan0",
                lan,
                &[
                    ("198.18.1.10", 24),
                    ("fe80::6d:63ff:fe00:110", 64),
                    ("fd6d:6361:7374:1::10", 64),
                ],
            ),
            iface(
                5,
                "eth0",
                lan,
                &[("198.18.3.2", 24), ("::ffff:198.18.3.2", 128)],
            ),
            iface(9, "2", lan, &[("198.18.4.2", 24)]),
            iface(10, "wlan0.100", lan, &[]),
        ]
    })
}

/// `find` over [`interfaces`]: never panics; what it finds is in the list
/// and matches the text by name (first), index or address; what it does not
/// find matches nothing, and the message lists every interface.
pub fn iface(s: &str) {
    let list = interfaces();
    let t = s.trim();
    let named = list.iter().find(|i| i.name() == t);
    let indexed = t.parse::<u32>().ok();
    let bare = t.split(['%', '/']).next().unwrap_or("");
    let addr = bare
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    match find(list, s) {
        Ok(i) => {
            assert!(list.iter().any(|x| std::ptr::eq(x, i)), "not from the list");
            if let Some(n) = named {
                assert!(std::ptr::eq(n, i), "'{s}': a name match must win");
            }
            let by_index = indexed == Some(i.index().get());
            let by_addr = addr.is_some_and(|a| i.addresses().iter().any(|x| x.ip() == a));
            assert!(
                named.is_some() || by_index || by_addr,
                "'{s}' found {} without a reason",
                i.name()
            );
        }
        Err(e) => {
            assert!(named.is_none(), "'{s}' names an interface");
            assert!(
                !list.iter().any(|i| Some(i.index().get()) == indexed),
                "'{s}' is an index"
            );
            assert!(
                !list
                    .iter()
                    .any(|i| addr.is_some_and(|a| i.addresses().iter().any(|x| x.ip() == a))),
                "'{s}' is an address"
            );
            let msg = e.to_string();
            for i in list {
                assert!(
                    msg.contains(i.name()),
                    "'{}' not listed in: {msg}",
                    i.name()
                );
            }
        }
    }
}

// ---------------------------------------------------------------- durations

/// `parse_duration`: never panics; at most a year; what `format_duration`
/// prints parses back to within its rounding (0.05 s).
pub fn duration(s: &str) {
    match parse_duration(s) {
        Ok(d) => {
            assert!(d <= YEAR, "'{s}' -> {d:?}, more than a year");
            let shown = format_duration(d);
            let back = parse_duration(&shown)
                .unwrap_or_else(|e| panic!("'{s}' -> {d:?} -> '{shown}': {e}"));
            assert!(
                back.abs_diff(d) <= Duration::from_millis(50),
                "'{s}' -> {d:?} -> '{shown}' -> {back:?}"
            );
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains("invalid duration"), "{msg}");
        }
    }
}

// ---------------------------------------------------------------- rates

/// `parse_rate` and `parse_bitrate`: never panic; a rate is `max` or a
/// finite positive packet rate of at most 12 integer digits, and a pacer
/// driven by it (a few steps, fake clock) does not panic; a bitrate is at
/// least 1 bit/s, turns into a packet rate for any payload size but 0, and
/// what it prints (`10 Mbit/s`) written back as `10M` parses to itself
/// whenever the printed number is short enough to be accepted.
pub fn rate(s: &str) {
    match parse_rate(s) {
        Ok(Rate::Max) => assert!(s.trim().eq_ignore_ascii_case("max"), "'{s}' -> max"),
        Ok(r @ Rate::Every(p)) => {
            let pps = p.packets_per_second();
            // At most 12 integer digits: below 10^12, which the f64 may round to.
            assert!(
                pps.is_finite() && pps > 0.0 && pps <= 1e12,
                "'{s}' -> {pps} pps"
            );
            let secs = p.as_secs_f64();
            assert!(secs.is_finite() && secs > 0.0, "'{s}' -> period {secs} s");
            assert!(!r.to_string().is_empty());
            pace(r);
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains("invalid rate"), "{msg}");
        }
    }
    match parse_bitrate(s) {
        Ok(b) => {
            let bps = b.bits_per_second();
            assert!(bps >= 1);
            for size in [0usize, 1, 32, 1500, 65_507, usize::MAX] {
                let r = b.packet_rate(size);
                assert_eq!(r.is_none(), size == 0, "'{s}' at {size} bytes: {r:?}");
                if let Some(r) = r {
                    assert!(r.packets_per_second().is_some_and(|x| x > 0.0));
                }
            }
            let shown = b.to_string();
            let written = shown
                .strip_suffix(" Gbit/s")
                .map(|n| format!("{n}G"))
                .or_else(|| shown.strip_suffix(" Mbit/s").map(|n| format!("{n}M")))
                .or_else(|| shown.strip_suffix(" kbit/s").map(|n| format!("{n}k")))
                .or_else(|| shown.strip_suffix(" bit/s").map(str::to_owned))
                .unwrap_or_else(|| panic!("'{s}' prints as '{shown}'"));
            // The parser takes at most 12 integer digits: a bitrate such as
            // u64::MAX bit/s prints with 20, and cannot be written back.
            let digits = written.trim_end_matches(['G', 'M', 'k']).len();
            if digits <= 12 {
                let back = parse_bitrate(&written)
                    .unwrap_or_else(|e| panic!("'{s}' -> '{shown}' -> '{written}': {e}"));
                assert_eq!(back, b, "'{s}' -> '{shown}' -> '{written}'");
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains("invalid bitrate"), "{msg}");
        }
    }
}

/// Drives a pacer at `r` for at most 8 steps with a fake clock.
fn pace(r: Rate) {
    let start = Instant::now();
    let mut pacer = Pacer::new(r, start).count(4).duration(YEAR);
    let mut now = start;
    for _ in 0..8 {
        match pacer.next(now) {
            Step::Send => {}
            Step::Wait(d) => match now.checked_add(d) {
                Some(t) => now = t,
                None => break,
            },
            Step::Done => break,
        }
    }
    assert!(pacer.sent() <= 4);
}

// ---------------------------------------------------------------- escaping

/// Characters that `escape_text` promises to escape besides the C0 and C1
/// controls: bidi overrides and isolates, zero-width and line/paragraph
/// separators, the BOM.
pub fn is_escaped_format_char(c: char) -> bool {
    matches!(c as u32, 0x200b..=0x200f | 0x2028..=0x202e | 0x2066..=0x2069 | 0xfeff)
}

/// `escape_text` and `hex_dump` on arbitrary bytes: never panic; the text
/// has no control or terminal-changing character and is lossless (unescaping
/// it gives the bytes back); every hex-dump line has the xxd layout.
pub fn escape(bytes: &[u8]) {
    let bytes = cut(bytes);
    let out = escape_text(bytes);
    if let Some(c) = out
        .chars()
        .find(|&c| c.is_control() || is_escaped_format_char(c))
    {
        panic!(
            "escape_text({bytes:02x?}) let U+{:04X} through: {out:?}",
            c as u32
        );
    }
    assert_eq!(
        unescape(&out),
        bytes,
        "escape_text is not lossless: {out:?}"
    );
    if bytes.is_ascii() && !bytes.iter().any(|b| b.is_ascii_control() || *b == b'\\') {
        assert_eq!(out.as_bytes(), bytes, "plain text changed");
    }

    let lines = hex_dump(bytes);
    assert_eq!(lines.len(), bytes.len().div_ceil(16));
    for (n, (line, chunk)) in lines.iter().zip(bytes.chunks(16)).enumerate() {
        assert!(line.is_ascii(), "line {n}: {line:?}");
        assert_eq!(line.len(), 51 + chunk.len(), "line {n}: {line:?}");
        assert_eq!(
            line[..10],
            format!("{:08x}: ", n * 16),
            "line {n}: {line:?}"
        );
        // 8 groups of 2 bytes, each group followed by a space; then a space.
        let hex: String = line[10..50].split(' ').collect();
        let want: String = chunk.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex.trim_end(), want, "line {n}: {line:?}");
        assert_eq!(&line[50..51], " ", "line {n}: {line:?}");
        for (c, b) in line[51..].bytes().zip(chunk) {
            let want = if b.is_ascii_graphic() || *b == b' ' {
                *b
            } else {
                b'.'
            };
            assert_eq!(c, want, "line {n}: {line:?}");
        }
    }
}

/// The inverse of `escape_text`: `\\`, `\n`, `\r`, `\t`, `\xNN` (one byte)
/// and `\u{X}` (one character); anything else stands for itself. Panics on
/// an escape `escape_text` never writes.
pub fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut b = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            continue;
        }
        match chars.next() {
            Some('\\') => out.push(b'\\'),
            Some('n') => out.push(b'\n'),
            Some('r') => out.push(b'\r'),
            Some('t') => out.push(b'\t'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                let b = u8::from_str_radix(&hex, 16)
                    .unwrap_or_else(|_| panic!("bad \\x escape {hex:?} in {s:?}"));
                out.push(b);
            }
            Some('u') => {
                assert_eq!(chars.next(), Some('{'), "bad \\u escape in {s:?}");
                let hex: String = chars.by_ref().take_while(|&c| c != '}').collect();
                let c = u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or_else(|| panic!("bad \\u escape {hex:?} in {s:?}"));
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
            other => panic!("unknown escape \\{other:?} in {s:?}"),
        }
    }
    out
}
