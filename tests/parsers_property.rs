//! Bounded property tests for the probe decoder and the parsers of GROUP,
//! IFACE, durations and rates, through the public API: they must never
//! panic, whatever the input, and what they accept must satisfy the
//! invariants in `fuzz/checks.rs` (shared with the cargo-fuzz targets in
//! `fuzz/`).
//!
//! Inputs come from a small xorshift generator (no crate needed): random
//! bytes, random strings from an alphabet biased towards each grammar
//! (digits, `.`, `:`, `[`, `]`, `%`, `+`, units, letters, non-ASCII digits,
//! bidi controls, very long numbers, the empty string), mutations of valid
//! inputs (truncations, insertions, deletions, duplications, swaps), and
//! fixed edge values (u16/u64/u128 limits, 2^64, NaN, `1e309s`, …). Every
//! input is at most 4 KiB. The whole file runs in well under 5 s in a debug
//! build; nothing is timed.
//!
//! The seed is fixed; set `MCAST_PROPTEST_SEED` (decimal or 0x-hex) to try
//! others. A failure prints the seed, the case number and the input.

use std::panic::{self, AssertUnwindSafe};

use mcast::{Probe, ProbeFlags, SenderId, PROBE_HEADER_LEN, PROBE_MAGIC};

#[path = "../fuzz/checks.rs"]
#[allow(unreachable_pub)]
mod checks;

use checks::MAX_INPUT;

/// The default seed: "mcast_pr" in ASCII.
const DEFAULT_SEED: u64 = 0x6d63_6173_745f_7072;

/// Cases of each kind (random, grammar, mutation) per parser.
const CASES: usize = 2_000;

/// xorshift64*: small, fast, deterministic, good enough for test inputs.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // xorshift must not start at 0.
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` above 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn token<'a>(&mut self, tokens: &[&'a str]) -> &'a str {
        tokens[self.below(tokens.len())]
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = self.below(max_len + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// The seed: `MCAST_PROPTEST_SEED` if set, else [`DEFAULT_SEED`].
fn seed() -> u64 {
    match std::env::var("MCAST_PROPTEST_SEED") {
        Ok(s) if !s.trim().is_empty() => {
            let s = s.trim();
            let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => s.parse(),
            };
            parsed.unwrap_or_else(|_| {
                panic!("MCAST_PROPTEST_SEED='{s}' is not a u64 (decimal or 0x-hex)")
            })
        }
        _ => DEFAULT_SEED,
    }
}

/// Runs `check` on `input`; if it panics, fails with the seed, the case
/// number and the input, so that the failure can be replayed.
fn run<I: std::fmt::Debug + ?Sized>(
    what: &str,
    seed: u64,
    case: usize,
    input: &I,
    check: impl FnOnce(),
) {
    if let Err(e) = panic::catch_unwind(AssertUnwindSafe(check)) {
        let msg = e
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| e.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        panic!(
            "{what}: case {case} failed with MCAST_PROPTEST_SEED={seed:#x} \
             (replay: MCAST_PROPTEST_SEED={seed:#x} cargo test --test parsers_property)\n\
             input: {input:?}\n{msg}"
        );
    }
}

/// Cuts `s` to at most [`MAX_INPUT`] bytes, at a character boundary.
fn bounded(mut s: String) -> String {
    if s.len() > MAX_INPUT {
        let mut end = MAX_INPUT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// Fragments every grammar shares: digits, punctuation, letters, unicode
/// look-alikes and controls.
const COMMON: &[&str] = &[
    "0", "1", "2", "5", "9", "00", "255", "256", "65535", "65536", ".", "..", ":", "::", "[", "]",
    "%", "+", "-", "/", " ", "\t", "\n", "e", "E", "x", "a", "f", "z", "_", ",", "\u{0}", "é", "µ",
    "٣", "１", "\u{202e}", "\u{200b}", "\u{ffff}", "💥", "NaN", "inf",
];

/// Fragments of group arguments.
const GROUP_TOKENS: &[&str] = &[
    "239.",
    "224.",
    "240.",
    "198.18.1.255",
    "239.255.255.255",
    "ff05::",
    "ff02::1",
    "ff0e:",
    "ffff:",
    "::ffff:",
    "fe80::",
    "%wlan0",
    "[ff05::1]",
    ":5000",
    ":0",
    ":54321",
    "+1",
    "+0",
    "+4096",
    "+4097",
    "+20",
    "+18446744073709551616",
];

/// Fragments of interface specs.
const IFACE_TOKENS: &[&str] = &[
    "lo",
    "wlan0",
    "eth0",
    "rmnet_data0",
    "dummy0",
    "wlan0.100",
    "127.0.0.1",
    "198.18.1.10",
    "fe80::2",
    "fe80::6d:63ff:fe00:110",
    "::1",
    "%rmnet_data0",
    "/24",
    "/128",
    "4294967295",
    "4294967296",
];

/// Fragments of durations.
const DURATION_TOKENS: &[&str] = &[
    "us",
    "µs",
    "ms",
    "s",
    "sec",
    "m",
    "min",
    "h",
    "d",
    "1e309",
    "31536000",
    "525600",
    "8760",
    "0.0000001",
    "999999999999",
];

/// Fragments of rates and bitrates.
const RATE_TOKENS: &[&str] = &[
    "pps",
    "PPS",
    "max",
    "MAX",
    "k",
    "K",
    "M",
    "m",
    "G",
    "g",
    "T",
    "999999999999",
    "0.000000001",
    "1.0000000001",
    "18446744073",
    "709551615",
];

/// A string from the grammar's alphabet; now and then a very long number.
fn grammar_string(rng: &mut Rng, tokens: &[&str]) -> String {
    let mut s = String::new();
    let pieces = rng.below(12);
    for _ in 0..pieces {
        match rng.below(10) {
            0..=3 => s.push_str(rng.token(COMMON)),
            4..=8 => s.push_str(rng.token(tokens)),
            _ => {
                // A long run of digits: up to 400, past any integer type.
                let n = 1 + rng.below(400);
                for _ in 0..n {
                    s.push(char::from(b'0' + rng.below(10) as u8));
                }
            }
        }
    }
    bounded(s)
}

/// A random mutation of a valid input.
fn mutate(rng: &mut Rng, valid: &str, tokens: &[&str]) -> String {
    let mut s: Vec<char> = valid.chars().collect();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(s.len() + 1);
        match rng.below(7) {
            // Truncate.
            0 => s.truncate(at),
            // Insert a fragment.
            1 | 2 => {
                let frag = if rng.chance(2) {
                    rng.token(COMMON)
                } else {
                    rng.token(tokens)
                };
                s.splice(at..at, frag.chars());
            }
            // Delete a range.
            3 => {
                let end = (at + rng.below(4)).min(s.len());
                s.drain(at..end);
            }
            // Duplicate a slice in place.
            4 => {
                let end = (at + 1 + rng.below(8)).min(s.len());
                let copy: Vec<char> = s[at..end].to_vec();
                s.splice(at..at, copy);
            }
            // Swap two characters.
            5 if s.len() >= 2 => {
                let (last, other) = (s.len() - 1, rng.below(s.len()));
                s.swap(at.min(last), other);
            }
            // Repeat the whole input, separated by a space or nothing.
            _ => {
                let copy = s.clone();
                if rng.chance(2) {
                    s.push(' ');
                }
                s.extend(copy);
            }
        }
    }
    bounded(s.into_iter().collect())
}

/// Edge values every text parser gets.
fn common_edges() -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        " ",
        "\t\n",
        "\u{0}",
        "0",
        "-0",
        "+1",
        "-1",
        "1e309",
        "1e309s",
        "1E3",
        "0x10",
        "NaN",
        "nan",
        "NaNs",
        "inf",
        "infinity",
        "-inf",
        "1_000",
        "1,5",
        "1.5.5",
        ".",
        ":",
        "[]",
        "[",
        "]",
        "%",
        "+",
        "٣",
        "１２３",
        "\u{202e}1",
        "1\u{200b}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for n in [
        u128::from(u16::MAX),
        u128::from(u16::MAX) + 1,
        u128::from(u32::MAX),
        u128::from(u32::MAX) + 1,
        u128::from(u64::MAX),
        u128::from(u64::MAX) + 1,
        u128::MAX,
    ] {
        v.push(n.to_string());
    }
    v.push("9".repeat(400));
    v.push("0".repeat(400) + "1");
    v.push("1".to_string() + &"0".repeat(MAX_INPUT - 1));
    v.push("0.".to_string() + &"0".repeat(400) + "1");
    v
}

/// Runs `check` on the edge values, random text, grammar strings and
/// mutations of `valid`; returns how many inputs it checked.
fn strings(
    what: &str,
    seed: u64,
    valid: &[&str],
    tokens: &[&str],
    edges: &[String],
    check: fn(&str),
) -> usize {
    // A stream per parser: the seed mixed with the parser's name.
    let salt = what
        .bytes()
        .fold(0u64, |h, b| h.rotate_left(8) ^ u64::from(b));
    let mut rng = Rng::new(seed ^ salt);
    let mut case = 0;
    let mut one = |s: &str| {
        assert!(s.len() <= MAX_INPUT, "generator bug: {} bytes", s.len());
        run(what, seed, case, s, || check(s));
        case += 1;
    };
    for s in valid
        .iter()
        .copied()
        .chain(edges.iter().map(String::as_str))
    {
        one(s);
    }
    for e in common_edges() {
        one(&e);
        // Each edge value also inside each valid input, at every position.
        for v in valid.iter().take(4) {
            for (i, _) in v.char_indices().step_by(3) {
                one(&bounded(format!("{}{e}{}", &v[..i], &v[i..])));
            }
        }
    }
    for _ in 0..CASES {
        one(&checks::text(&rng.bytes(64)));
        one(&grammar_string(&mut rng, tokens));
        let v = *rng.pick(valid);
        one(&mutate(&mut rng, v, tokens));
    }
    case
}

#[test]
fn groups_never_panic_and_round_trip() {
    let seed = seed();
    let valid = [
        "239.74.20.30:54321",
        "239.1.2.3",
        "[ff05::4a14:1e]:6000",
        "ff02::1",
        "[ff05::1]",
        "239.1.1.1+20:5000",
        "239.1.1.1:5000+2",
        "[ff05::1]+2:7000",
        "ff05::ffff+2",
        "239.1.1.1 239.1.1.2:5000 ff05::1+3",
        "239.255.255.254+2",
        "ff0e:ffff:ffff:ffff:ffff:ffff:ffff:fffe+2",
        "198.18.1.255",
        "::ffff:239.1.2.3",
    ];
    let mut edges = Vec::new();
    for port in [
        "0",
        "1",
        "65535",
        "65536",
        "4294967296",
        "18446744073709551616",
        "+5",
        "-1",
    ] {
        edges.push(format!("239.1.2.3:{port}"));
        edges.push(format!("[ff05::1]:{port}"));
        edges.push(format!("239.1.1.1+2:{port}"));
    }
    for count in [
        "0",
        "1",
        "4095",
        "4096",
        "4097",
        "18446744073709551616",
        "",
        "+1",
        "-1",
    ] {
        edges.push(format!("239.1.0.0+{count}"));
        edges.push(format!("239.255.255.255+{count}"));
        edges.push(format!("ff0e:ffff:ffff:ffff:ffff:ffff:ffff:ffff+{count}"));
        edges.push(format!("[ff05::1]+{count}:5000"));
    }
    // The group limit, across arguments.
    edges.push("239.1.0.0+4000 239.2.0.0+96".into());
    edges.push("239.1.0.0+4000 239.2.0.0+97".into());
    edges.push(["239.1.0.0+4096"; 8].join(" "));
    edges.push("[ff05::1%wlan0]:5000".into());
    edges.push("[[ff05::1]]:5000".into());
    edges.push("239.1.1.1:5000:6000".into());
    let n = strings("group", seed, &valid, GROUP_TOKENS, &edges, checks::group);
    eprintln!("group: {n} inputs, seed {seed:#x}");
}

/// Found by the `group` fuzz target: a single address above the IPv4
/// multicast block (240.0.0.0 and up, the limited broadcast included) must
/// stay in the list, as `Group` parses it, for the caller to accept (as a
/// broadcast address) or reject (as "not a multicast group"); it must not
/// vanish and leave an empty list, which the command line would replace
/// with the default group.
#[test]
fn single_addresses_above_the_multicast_block_are_kept() {
    for s in [
        "240.0.0.0",
        "240.1.1.1:5000",
        "255.255.255.255",
        "255.255.255.255:5000",
        "239.255.255.255",
    ] {
        let want: mcast::Group = s.parse().expect("a group");
        let got = mcast::parse_groups(&[s.to_string()]).expect("a list");
        assert_eq!(got, [want], "parse_groups([\"{s}\"])");
        run("group", 0, 0, s, || checks::group(s));
    }
}

#[test]
fn iface_specs_never_panic_and_find_what_they_name() {
    let seed = seed();
    let valid = [
        "wlan0",
        "lo",
        "3",
        "2",
        "9",
        " eth0 ",
        "198.18.1.10",
        "198.18.1.10/24",
        "fe80::2%rmnet_data0",
        "[fe80::6d:63ff:fe00:110]",
        "::1",
        "::ffff:198.18.3.2",
        "wlan0.100",
    ];
    let mut edges: Vec<String> = checks::interfaces()
        .iter()
        .flat_map(|i| {
            let mut specs = vec![i.name().to_string(), i.index().get().to_string()];
            specs.extend(i.addresses().iter().map(|a| a.to_string()));
            specs
        })
        .collect();
    edges.extend(
        [
            "0",
            "4294967295",
            "4294967296",
            "-1",
            "+4",
            "04",
            "wlan",
            "WLAN0",
        ]
        .map(String::from),
    );
    let n = strings("iface", seed, &valid, IFACE_TOKENS, &edges, checks::iface);
    eprintln!("iface: {n} inputs, seed {seed:#x}");
}

#[test]
fn durations_never_panic_and_stay_within_a_year() {
    let seed = seed();
    let valid = [
        "100ms", "2s", "1.5s", "1m", "1h", "250us", "250µs", "3", "0s", "10min", "5sec", " 2s ",
    ];
    let mut edges: Vec<String> = [
        "31536000",
        "31536000s",
        "31536000.000001s",
        "525600m",
        "525601m",
        "8760h",
        "8761h",
        "1e309s",
        "1e9s",
        "9999999999h",
        "0.0000000001ns",
        "0.0000000001us",
        "18446744073709551615s",
        "18446744073709551616ms",
        "-1s",
        "1.s",
        ".5s",
        ".s",
        "1 s",
        "1s ",
        "1ss",
        "1µ",
        "µs",
    ]
    .map(String::from)
    .to_vec();
    edges.push("9".repeat(309) + "us");
    edges.push("0.".to_string() + &"9".repeat(400) + "h");
    let n = strings(
        "duration",
        seed,
        &valid,
        DURATION_TOKENS,
        &edges,
        checks::duration,
    );
    eprintln!("duration: {n} inputs, seed {seed:#x}");
}

#[test]
fn rates_never_panic() {
    let seed = seed();
    let valid = [
        "1000",
        "0.5",
        ".5",
        "2.",
        "1000pps",
        "max",
        " MAX ",
        "64000",
        "500k",
        "10M",
        "1.5G",
        "0.001k",
        "18000000000G",
    ];
    let edges: Vec<String> = [
        "0",
        "0.000",
        "0.000000001",
        "0.0000000001",
        "999999999999",
        "9999999999999",
        "999999999999.999999999",
        "999999999999.999999999G",
        "18446744073.709551615G",
        "18446744073.709551616G",
        "18446744073709551615",
        "19000000000G",
        "1T",
        "1e6",
        "10 M",
        "10Mbit",
        "pps",
        "max pps",
        "maxpps",
        "k",
        "1kk",
        "-1M",
        "+1M",
    ]
    .map(String::from)
    .to_vec();
    let n = strings("rate", seed, &valid, RATE_TOKENS, &edges, checks::rate);
    eprintln!("rate: {n} inputs, seed {seed:#x}");
}

#[test]
fn escape_and_hex_dump_never_panic_and_are_safe() {
    let seed = seed();
    let mut rng = Rng::new(seed ^ 0xE5C);
    let mut case = 0;
    let mut one = |b: &[u8]| {
        run("escape", seed, case, b, || checks::escape(b));
        case += 1;
    };
    // Every byte alone; every code point up to U+2FFF and the BOM and
    // specials, alone and between letters.
    for b in 0..=255u8 {
        one(&[b]);
    }
    for c in (0..0x3000u32)
        .chain(0xfe00..0x10000)
        .filter_map(char::from_u32)
    {
        one(format!("a{c}b").as_bytes());
    }
    // Malformed UTF-8: truncated sequences, overlongs, encoded surrogates,
    // past U+10FFFF, lone continuation bytes.
    for bad in [
        &b"\xe2\x82"[..],
        b"\xe2\x82\xac\xe2",
        b"\xc0\x80",
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
        b"\x80\x80\x80",
        b"\xf0\x9f\x92",
        b"\\x41\\u{202e}\\",
    ] {
        one(bad);
    }
    one(&[0u8; MAX_INPUT]);
    one(&[0xffu8; MAX_INPUT]);
    for _ in 0..CASES {
        one(&rng.bytes(300));
        // Mostly text with controls and escapes mixed in.
        let mut s = String::new();
        for _ in 0..rng.below(40) {
            s.push_str(rng.token(COMMON));
            if rng.chance(4) {
                s.push_str(rng.token(&["\\", "\\x", "\\u{", "\x1b[2J", "\u{9b}", "\r\n"]));
            }
        }
        let mut b = s.into_bytes();
        if rng.chance(3) && !b.is_empty() {
            let at = rng.below(b.len());
            b[at] = rng.next() as u8;
        }
        one(&b);
    }
    eprintln!("escape: {case} inputs, seed {seed:#x}");
}

#[test]
fn probe_decoder_never_panics_and_round_trips() {
    let seed = seed();
    let mut rng = Rng::new(seed ^ 0x9B0BE);
    let mut case = 0;
    let mut one = |b: &[u8]| {
        run("probe_decode", seed, case, b, || checks::probe(b));
        case += 1;
    };
    let probe = Probe {
        sender_id: SenderId::new(0x0102_0304_0506_0708),
        seq: u64::MAX,
        sent_ns: 1_700_000_000_123_456_789,
        flags: ProbeFlags::ECHO_REPLY,
    };
    let mut good = [0u8; 64];
    probe.encode_into(&mut good, 64).expect("64 bytes fit");
    // Every truncation of a valid probe.
    for n in 0..=good.len() {
        one(&good[..n]);
    }
    // Every version byte, every flags byte, and header lengths around the
    // edges (0..=64, the u16 limit) and at random.
    for v in 0..=255u8 {
        let mut b = good;
        b[4] = v;
        one(&b);
        let mut b = good;
        b[5] = v;
        one(&b);
    }
    let random_lengths: Vec<u16> = (0..200).map(|_| rng.next() as u16).collect();
    for len in (0..=70u16)
        .chain([u16::MAX - 1, u16::MAX])
        .chain(random_lengths)
    {
        let mut b = good;
        b[6..8].copy_from_slice(&len.to_be_bytes());
        one(&b);
        one(&b[..PROBE_HEADER_LEN]);
    }
    // Arbitrary bytes; a third keep the magic, a third the first 8 bytes of
    // a valid probe, so the decoder gets past its first checks.
    for i in 0..CASES * 3 {
        let mut b = rng.bytes(200);
        match i % 3 {
            1 => {
                let k = b.len().min(4);
                b[..k].copy_from_slice(&PROBE_MAGIC[..k]);
            }
            2 => {
                let k = b.len().min(8);
                b[..k].copy_from_slice(&good[..k]);
            }
            _ => {}
        }
        one(&b);
    }
    one(&[0u8; MAX_INPUT]);
    let mut big = vec![0u8; MAX_INPUT];
    big[..64].copy_from_slice(&good);
    one(&big);
    eprintln!("probe_decode: {case} inputs, seed {seed:#x}");
}

#[test]
fn the_generator_is_deterministic() {
    let (mut a, mut b) = (Rng::new(7), Rng::new(7));
    let xs: Vec<u64> = (0..100).map(|_| a.next()).collect();
    let ys: Vec<u64> = (0..100).map(|_| b.next()).collect();
    assert_eq!(xs, ys);
    assert!(xs.iter().any(|&x| x != xs[0]));
    assert_eq!(bounded("é".repeat(MAX_INPUT)).len(), MAX_INPUT);
}
