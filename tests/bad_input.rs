//! Bad input: one clear line on stderr naming the value and what is
//! accepted, exit code 2, before any socket is opened.

mod common;

use std::time::Duration;

use common::{addr, can_netns, mcast_command, run_limited, veth, Finished, Netns};

/// Runs the binary under test directly (no namespace needed: nothing is sent).
fn mcast(args: &[&str]) -> Finished {
    run_limited(mcast_command(args), Duration::from_secs(20))
}

fn assert_usage(f: &Finished, needles: &[&str]) {
    assert_eq!(f.code(), 2, "{f:?}");
    for n in needles {
        assert!(f.stderr.contains(n), "stderr lacks {n:?}: {}", f.stderr);
    }
    assert!(!f.stderr.contains("panicked"), "{}", f.stderr);
    assert!(f.stdout.is_empty(), "nothing on stdout: {}", f.stdout);
}

#[test]
fn group_that_is_not_multicast() {
    for sub in ["send", "recv"] {
        let f = mcast(&[sub, "198.18.0.1:5000", "-i", "lo"]);
        assert_usage(
            &f,
            &[
                "198.18.0.1 is not a multicast group",
                "224.0.0.0/4",
                "--broadcast",
            ],
        );
        assert_eq!(f.stderr.lines().count(), 1, "one line: {}", f.stderr);
    }
}

/// Above the multicast block: once taken for an empty list, which sent to
/// the default group instead (found by the fuzzer).
#[test]
fn addresses_above_the_multicast_block_are_refused() {
    for g in ["240.1.1.1:5000", "255.255.255.255"] {
        let f = mcast(&["send", g, "-i", "lo", "-c", "1"]);
        assert_usage(
            &f,
            &[&format!(
                "{} is not a multicast group",
                g.split(':').next().unwrap()
            )],
        );
    }
}

#[test]
fn unknown_interface_lists_the_available_ones() {
    let f = mcast(&["recv", "-i", "nosuchif9"]);
    assert_usage(
        &f,
        &["unknown interface 'nosuchif9'", "available:", "lo (1)"],
    );
    let f = mcast(&["send", "-i", "4242"]);
    assert_usage(&f, &["unknown interface '4242'"]);
}

#[test]
fn ports_out_of_range() {
    for (g, needle) in [
        ("239.1.2.3:0", "port 0 is out of range"),
        ("239.1.2.3:65536", "port 65536 is out of range"),
        ("[ff05::1]:70000", "port 70000 is out of range"),
    ] {
        let f = mcast(&["recv", g, "-i", "lo"]);
        assert_usage(&f, &[g, needle, "ADDR:PORT"]);
    }
}

#[test]
fn malformed_duration_and_count() {
    let f = mcast(&["send", "-i", "lo", "--interval", "2 weeks"]);
    assert_usage(&f, &["invalid duration '2 weeks'", "100ms"]);
    let f = mcast(&["recv", "-i", "lo", "--timeout=-1s"]);
    assert_usage(&f, &["'-1s'"]);
    let f = mcast(&["recv", "-i", "lo", "-c", "ten"]);
    assert_usage(&f, &["'ten'", "--count"]);
    let f = mcast(&["send", "-i", "lo", "--ttl", "256"]);
    assert_usage(&f, &["'256'", "--ttl"]);
}

#[test]
fn ssm_source_of_the_other_family() {
    let f = mcast(&["recv", "239.1.2.3", "-i", "lo", "--source", "fd00::1"]);
    assert_usage(&f, &["source fd00::1", "different address families"]);
    let f = mcast(&["recv", "-i", "lo", "--source", "not-an-ip"]);
    assert_usage(&f, &["'not-an-ip'", "--source"]);
}

#[test]
fn broadcast_needs_ipv4_and_a_broadcast_address() {
    let f = mcast(&["send", "--broadcast", "239.1.2.3", "-i", "lo"]);
    assert_eq!(f.code(), 2, "{f:?}");
    let f = mcast(&["send", "--broadcast", "-i", "lo"]);
    assert_usage(
        &f,
        &[
            "lo (index 1) cannot be used for IPv4 broadcast",
            "BROADCAST",
        ],
    );
}

#[test]
fn menu_needs_a_terminal() {
    let f = mcast(&["recv", "-i", "?"]);
    assert_usage(&f, &["-i ? shows a menu and needs a terminal"]);
}

/// Interfaces that exist but cannot be used: down, multicast off, no
/// address of the group's family.
#[test]
fn unusable_interfaces() {
    if !can_netns() {
        return;
    }
    let a = Netns::new("bad");
    let b = Netns::new("badpeer");
    veth(&a, "wlan0", &b, "wlan1");
    addr(&a, "wlan0", "198.18.5.1/24");
    let run = |args: &[&str]| run_limited(a.mcast(args), Duration::from_secs(20));

    // No IPv6 address other than link-local? It has one; remove IPv6 entirely.
    a.sh("sysctl -qw net.ipv6.conf.wlan0.disable_ipv6=1");
    let f = run(&["recv", "ff05::1", "-i", "wlan0"]);
    assert_usage(
        &f,
        &[
            "wlan0",
            "cannot be used for IPv6 multicast",
            "no IPv6 address",
        ],
    );

    a.ip(&["link", "set", "wlan0", "multicast", "off"]);
    let f = run(&["send", "-i", "wlan0"]);
    assert_usage(
        &f,
        &[
            "wlan0",
            "no MULTICAST flag",
            "ip link set wlan0 multicast on",
        ],
    );

    a.ip(&["link", "set", "wlan0", "down"]);
    let f = run(&["recv", "-i", "wlan0"]);
    assert_usage(&f, &["wlan0", "is down", "ip link set wlan0 up"]);

    // And with nothing usable, automatic selection says why.
    let f = run(&["recv"]);
    assert_usage(
        &f,
        &[
            "no interface qualifies for IPv4 multicast",
            "wlan0: it is down",
            "-i lo",
        ],
    );
}

/// `ifaces` checks its group as send, recv, ping and doctor do, with the
/// same message (it once listed the interfaces and exited 0).
#[test]
fn ifaces_checks_its_group_like_the_others() {
    let not_multicast = "10.0.0.1 is not a multicast group (IPv4 224.0.0.0/4, IPv6 ff00::/8)";
    let v6_broadcast = "broadcast is IPv4 only, but ff05::1 is IPv6";
    for args in [
        &["ifaces", "10.0.0.1"][..],
        &["send", "10.0.0.1", "-i", "lo", "-c", "1"],
        &["recv", "10.0.0.1", "-i", "lo"],
        &["ping", "10.0.0.1", "-i", "lo"],
        &["doctor", "10.0.0.1", "-i", "lo"],
    ] {
        let f = mcast(args);
        assert_usage(&f, &[not_multicast, "add --broadcast"]);
    }
    for args in [
        &["ifaces", "--broadcast", "ff05::1"][..],
        &["send", "--broadcast", "ff05::1", "-i", "lo", "-c", "1"],
        &["recv", "--broadcast", "ff05::1", "-i", "lo"],
        &["doctor", "--broadcast", "ff05::1", "-i", "lo"],
    ] {
        let f = mcast(args);
        assert_usage(&f, &[v6_broadcast, "drop --broadcast"]);
    }
}

/// Values that mean nothing (or, for --interval 0, a flood) are refused,
/// naming the value and the range.
#[test]
fn degenerate_values_are_refused() {
    for (args, flag, hint) in [
        (
            &["send", "-i", "lo", "-c", "1", "--interval", "0"][..],
            "--interval",
            "--rate max",
        ),
        (
            &["send", "-i", "lo", "--interval", "0ms", "-c", "1"],
            "--interval",
            "more than 0",
        ),
        (
            &["ping", "-i", "lo", "--interval", "0", "-c", "1"],
            "--interval",
            "more than 0",
        ),
        (
            &["send", "-i", "lo", "--duration", "0"],
            "--duration",
            "more than 0",
        ),
        (
            &["recv", "-i", "lo", "--timeout", "0s"],
            "--timeout",
            "more than 0",
        ),
        (
            &["recv", "-i", "lo", "--rcvbuf", "0"],
            "--rcvbuf",
            "4096 to 1073741824",
        ),
        (
            &["recv", "-i", "lo", "--rcvbuf", "99999999999"],
            "--rcvbuf",
            "4096 to 1073741824",
        ),
    ] {
        let f = mcast(args);
        let value = args[args.iter().position(|a| *a == flag).unwrap() + 1];
        assert_usage(&f, &[&format!("'{value}'"), flag, hint]);
    }
}

/// `--source fe80::1%nosuch` once had its scope ignored.
#[test]
fn an_unknown_scope_is_bad_input() {
    let f = mcast(&[
        "recv",
        "ff05::1",
        "-i",
        "lo",
        "--source",
        "fe80::1%nosuch",
        "--timeout",
        "1s",
    ]);
    assert_usage(
        &f,
        &["fe80::1%nosuch names no interface", "available:", "lo (1)"],
    );
    let f = mcast(&["recv", "-i", "lo", "--source", "198.18.0.1%lo"]);
    assert_usage(&f, &["'198.18.0.1%lo'", "belongs to IPv6"]);
    let f = mcast(&["send", "ff02::4a14:1e%nosuch", "-c", "1"]);
    assert_usage(
        &f,
        &[
            "the scope of [ff02::4a14:1e%nosuch]:54321 names no interface",
            "lo (1)",
        ],
    );
    let f = mcast(&["doctor", "ff05::1%nosuch"]);
    assert_usage(&f, &["names no interface"]);
    let f = mcast(&["ifaces", "ff05::1%nosuch"]);
    assert_usage(&f, &["names no interface"]);
}

/// Reserved groups are allowed, with a warning that says what they are for.
#[test]
fn reserved_groups_warn_what_they_are_for() {
    if !can_netns() {
        return;
    }
    let ns = Netns::new("resv");
    for (group, what) in [
        ("224.0.0.1", "all-hosts group"),
        ("224.0.0.251", "mDNS"),
        ("224.0.0.0", "base address"),
        ("ff02::1", "all-nodes group"),
        ("ff02::2", "all-routers group"),
    ] {
        let f = run_limited(
            ns.mcast(&["send", group, "-i", "lo", "-c", "1"]),
            Duration::from_secs(20),
        );
        assert!(
            f.stderr.contains(&format!("{group} is reserved (")) && f.stderr.contains(what),
            "{group}: {f:?}"
        );
        assert!(f.stderr.contains("warn"), "{f:?}");
    }
    // An ordinary group gets no warning.
    let f = run_limited(
        ns.mcast(&["send", "239.74.20.30", "-i", "lo", "-c", "1"]),
        Duration::from_secs(20),
    );
    assert_eq!(f.code(), 0, "{f:?}");
    assert!(!f.stderr.contains("reserved"), "{f:?}");
}
