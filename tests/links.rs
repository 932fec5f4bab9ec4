//! Between hosts: namespaces joined by veth pairs (and a bridge), addresses
//! in 198.18.0.0/15. IPv4, IPv6 link-local and site-local, SSM, broadcast,
//! and a receiver with two links that hears only the one it joined on.

mod common;

use std::time::Duration;

use common::{addr, can_netns, run_limited, topology, veth, Hub, Netns, Running};

const T: Duration = Duration::from_secs(30);

/// Two hosts on one link: `tx` 198.18.10.1 and `rx` 198.18.10.2, both `wlan0`.
fn pair(tag: &str) -> Option<(Netns, Netns)> {
    topology::wlan_pair(tag, 10, true)
}

/// Starts a receiver, runs a sender to completion, and returns the receiver's result.
fn exchange(rx: &Netns, rx_args: &[&str], tx: &Netns, tx_args: &[&str]) -> common::Finished {
    let mut r = Running::start(rx.mcast(rx_args));
    r.wait_ready();
    let s = run_limited(tx.mcast(tx_args), T);
    assert_eq!(s.code(), 0, "sender: {s:?}");
    r.finish(T)
}

/// [`exchange`] of two datagrams on `wlan0`: `recv RX_WHAT -i wlan0 -c 2`
/// against `send TX_WHAT -i wlan0 -c 2`, 100 ms apart.
fn two_on_wlan0(rx: &Netns, rx_what: &[&str], tx: &Netns, tx_what: &[&str]) -> common::Finished {
    let mut rx_args = vec!["recv"];
    rx_args.extend_from_slice(rx_what);
    rx_args.extend(["-i", "wlan0", "-c", "2", "--timeout", "20s"]);
    let mut tx_args = vec!["send"];
    tx_args.extend_from_slice(tx_what);
    tx_args.extend(["-i", "wlan0", "-c", "2", "--interval", "100ms"]);
    exchange(rx, &rx_args, tx, &tx_args)
}

#[test]
fn ipv4_over_a_link_with_the_right_source() {
    let Some((tx, rx)) = pair("v4") else { return };
    let r = exchange(
        &rx,
        &["recv", "-c", "3", "--timeout", "20s"],
        &tx,
        &["send", "-c", "3", "--interval", "100ms"],
    );
    assert_eq!(r.code(), 0, "{r:?}");
    assert_eq!(r.stdout.matches(" 198.18.10.1:").count(), 3, "{r:?}");
    assert_eq!(r.stdout.matches("hello world").count(), 3, "{r:?}");
    // Automatic selection found wlan0 (the only eligible interface).
    assert!(r.stderr.contains("joined on wlan0"), "{r:?}");
}

#[test]
fn ipv6_link_local_group() {
    let Some((tx, rx)) = pair("ll") else { return };
    let tx_ll = tx.link_local("wlan0");
    let r = two_on_wlan0(&rx, &["[ff02::4a14:1e]:54321"], &tx, &["ff02::4a14:1e"]);
    assert_eq!(r.code(), 0, "{r:?}");
    let idx = rx.ifindex("wlan0");
    // The source is the sender's link-local address, with the receiver's scope.
    let want = format!("[{tx_ll}%{idx}]:");
    assert_eq!(r.stdout.matches(&want).count(), 2, "want {want}: {r:?}");
}

/// The destination the sender prints (`[ff02::4a14:1e%3]:54321`) is
/// accepted back as a GROUP, and a scope by name works too: it chooses the
/// interface, and must agree with `-i`.
#[test]
fn scoped_groups_are_accepted_back_and_choose_the_interface() {
    let Some((tx, rx)) = pair("sc") else { return };
    // A second interface on the sender, so the scope really chooses.
    let other = Netns::new("sco");
    veth(&tx, "eth1", &other, "eth1");
    addr(&tx, "eth1", "198.18.11.1/24");
    let first = run_limited(tx.mcast(&["send", "ff02::4a14:1e%wlan0", "-c", "1"]), T);
    assert_eq!(first.code(), 0, "{first:?}");
    let idx = tx.ifindex("wlan0");
    let printed = format!("[ff02::4a14:1e%{idx}]:54321");
    assert!(
        first
            .stdout
            .contains(&format!("Message sent (11 bytes) to {printed}")),
        "{first:?}"
    );
    // What it printed, given back: by index, then by name, with -i agreeing.
    let r = exchange(
        &rx,
        &["recv", "ff02::4a14:1e%wlan0", "-c", "2", "--timeout", "20s"],
        &tx,
        &["send", &printed, "-c", "2", "--interval", "50ms"],
    );
    assert_eq!(r.code(), 0, "{r:?}");
    assert_eq!(r.stdout.matches("hello world").count(), 2, "{r:?}");
    assert!(r.stderr.contains("joined on wlan0"), "{r:?}");
    let r = exchange(
        &rx,
        &[
            "recv",
            "[ff02::4a14:1e%wlan0]:54321",
            "-i",
            "wlan0",
            "-c",
            "1",
            "--timeout",
            "20s",
        ],
        &tx,
        &["send", &printed, "-i", "wlan0", "-c", "1"],
    );
    assert_eq!(r.code(), 0, "{r:?}");
    // Scope and -i disagree: bad input, for every subcommand.
    for args in [
        &["send", printed.as_str(), "-i", "eth1", "-c", "1"][..],
        &["ping", printed.as_str(), "-i", "eth1", "-c", "1"],
        &["doctor", printed.as_str(), "-i", "eth1"],
        &[
            "recv",
            "ff02::4a14:1e%wlan0",
            "-i",
            "eth1",
            "--timeout",
            "1s",
        ],
    ] {
        let f = run_limited(tx.mcast(args), T);
        assert_eq!(f.code(), 2, "{args:?}: {f:?}");
        assert!(
            f.stderr.contains("is scoped to wlan0") && f.stderr.contains("but -i names eth1"),
            "{args:?}: {f:?}"
        );
    }
    let f = run_limited(
        tx.mcast(&[
            "send",
            "ff02::4a14:1e%wlan0",
            "ff02::4a14:1f%eth1",
            "-c",
            "1",
        ]),
        T,
    );
    assert_eq!(f.code(), 2, "{f:?}");
    assert!(f.stderr.contains("scoped to different interfaces"), "{f:?}");
    // A source scoped to another interface than the receiver's.
    let f = run_limited(
        rx.mcast(&[
            "recv",
            "ff02::4a14:1e%wlan0",
            "--source",
            "fe80::1%lo",
            "--timeout",
            "1s",
        ]),
        T,
    );
    assert_eq!(f.code(), 2, "{f:?}");
    assert!(
        f.stderr.contains("source fe80::1%lo is scoped to lo"),
        "{f:?}"
    );
}

#[test]
fn ipv6_site_local_group_uses_the_ula_source() {
    let Some((tx, rx)) = pair("sl") else { return };
    let mut r = Running::start(rx.mcast(&[
        "recv",
        "[ff05::4a14:1e]:6001",
        "-c",
        "2",
        "--timeout",
        "20s",
    ]));
    r.wait_ready();
    let s = run_limited(
        tx.mcast(&[
            "--json",
            "send",
            "[ff05::4a14:1e]:6001",
            "-c",
            "2",
            "--interval",
            "100ms",
        ]),
        T,
    );
    assert_eq!(s.code(), 0, "sender: {s:?}");
    let r = r.finish(T);
    assert_eq!(r.code(), 0, "{r:?}");
    if s.stdout.contains(r#""pinned_by":"MULTICAST_IF""#) {
        assert_eq!(
            r.stdout.matches("[fd6d:6361:7374:10::1]:").count(),
            2,
            "{r:?}"
        );
    } else {
        // Without IPV6_MULTICAST_IF (qemu-user), the sender pins the interface
        // by binding to its link-local address, which is then the source.
        assert!(
            s.stdout.contains(r#""pinned_by":"bound-link-local""#),
            "{s:?}"
        );
        let ll = tx.link_local("wlan0");
        assert_eq!(r.stdout.matches(&format!("[{ll}%")).count(), 2, "{r:?}");
    }
}

#[test]
fn ssm_filters_out_the_other_sender() {
    if !can_netns() {
        return;
    }
    let mut hub = Hub::new();
    let s1 = Netns::new("ssm1");
    let s2 = Netns::new("ssm2");
    let rx = Netns::new("ssmr");
    for (ns, a) in [
        (&s1, "198.18.11.1/24"),
        (&s2, "198.18.11.2/24"),
        (&rx, "198.18.11.3/24"),
    ] {
        hub.attach(ns, "wlan0");
        addr(ns, "wlan0", a);
    }
    for v6 in [false, true] {
        let (group, expected_source) = if v6 {
            addr(&s1, "wlan0", "fd6d:6361:7374:11::1/64");
            addr(&s2, "wlan0", "fd6d:6361:7374:11::2/64");
            addr(&rx, "wlan0", "fd6d:6361:7374:11::3/64");
            ("[ff35::8000:1]:6002", "fd6d:6361:7374:11::1")
        } else {
            ("232.1.1.1:6002", "198.18.11.1")
        };
        // The source s1 really uses: under qemu-user, without
        // IPV6_MULTICAST_IF, it is the link-local address it binds to.
        let probe = run_limited(
            s1.mcast(&["--json", "send", group, "-c", "1", "-m", "probe"]),
            T,
        );
        let source =
            common::json::sending_source_ip(&probe.stdout).unwrap_or_else(|| panic!("{probe:?}"));
        if source != expected_source {
            eprintln!("v6={v6}: the sender's source is {source}, not {expected_source}");
        }
        let source = source.as_str();
        let mut r = Running::start(rx.mcast(&[
            "recv",
            group,
            "--source",
            source,
            "-c",
            "3",
            "--timeout",
            "20s",
        ]));
        r.wait_ready();
        let other = Running::start(s2.mcast(&[
            "send",
            group,
            "-m",
            "from-s2",
            "--interval",
            "50ms",
            "-c",
            "40",
        ]));
        let good = run_limited(
            s1.mcast(&[
                "send",
                group,
                "-m",
                "from-s1",
                "-c",
                "3",
                "--interval",
                "300ms",
            ]),
            T,
        );
        assert_eq!(good.code(), 0, "{good:?}");
        let r = r.finish(T);
        other.signal("INT");
        let other = other.finish(T);
        assert!(
            other.stdout.contains("Message sent"),
            "the other sender did send: {other:?}"
        );
        assert_eq!(r.code(), 0, "v6={v6}: {r:?}");
        assert_eq!(r.stdout.matches("from-s1").count(), 3, "v6={v6}: {r:?}");
        assert!(
            !r.stdout.contains("from-s2"),
            "v6={v6}: not the source, filtered out: {r:?}"
        );
        assert!(
            r.stderr.contains(&format!("from source {source} only")),
            "{r:?}"
        );
    }
}

#[test]
fn broadcast_on_the_selected_interface() {
    let Some((tx, rx)) = pair("bc") else { return };
    let r = two_on_wlan0(&rx, &["--broadcast"], &tx, &["--broadcast"]);
    assert_eq!(r.code(), 0, "{r:?}");
    assert!(
        r.stderr
            .contains("listening for broadcasts to 198.18.10.255:54321 on wlan0"),
        "{r:?}"
    );
    assert_eq!(r.stdout.matches(" 198.18.10.1:").count(), 2, "{r:?}");
    // The limited broadcast reaches it too.
    let r = exchange(
        &rx,
        &[
            "recv",
            "--broadcast",
            "-i",
            "wlan0",
            "-c",
            "1",
            "--timeout",
            "20s",
        ],
        &tx,
        &[
            "send",
            "--broadcast",
            "255.255.255.255",
            "-i",
            "wlan0",
            "-c",
            "1",
        ],
    );
    assert_eq!(r.code(), 0, "{r:?}");
}

/// The receiver has link A (`wlan0`, to host A) and link B (`eth1`, to
/// host B). Joined on B, it hears nothing A sends; joined on A, it does.
#[test]
fn joined_on_one_link_hears_nothing_from_the_other() {
    if !can_netns() {
        return;
    }
    let a = Netns::new("linka");
    let b = Netns::new("linkb");
    let rx = Netns::new("links");
    topology::link(
        &a,
        "wlan0",
        "198.18.12.1/24",
        &rx,
        "wlan0",
        "198.18.12.2/24",
    );
    topology::link(&b, "eth0", "198.18.13.1/24", &rx, "eth1", "198.18.13.2/24");

    let mut on_b = Running::start(rx.mcast(&["recv", "-i", "eth1", "-c", "1", "--timeout", "2s"]));
    on_b.wait_ready();
    let s = run_limited(
        a.mcast(&[
            "send",
            "-i",
            "wlan0",
            "-c",
            "5",
            "--interval",
            "100ms",
            "-m",
            "from-a",
        ]),
        T,
    );
    assert_eq!(s.code(), 0, "{s:?}");
    let on_b = on_b.finish(T);
    assert_eq!(on_b.code(), 1, "nothing may arrive on link B: {on_b:?}");
    assert!(!on_b.stdout.contains("from-a"), "{on_b:?}");
    assert!(on_b.stderr.contains("nothing arrived"), "{on_b:?}");

    let on_a = exchange(
        &rx,
        &["recv", "-i", "wlan0", "-c", "2", "--timeout", "20s"],
        &a,
        &[
            "send",
            "-i",
            "wlan0",
            "-c",
            "2",
            "--interval",
            "100ms",
            "-m",
            "from-a",
        ],
    );
    assert_eq!(on_a.code(), 0, "{on_a:?}");
    assert_eq!(on_a.stdout.matches("from-a").count(), 2, "{on_a:?}");
    // And it is really link A's: the source is host A.
    assert!(on_a.stdout.contains(" 198.18.12.1:"), "{on_a:?}");
}

/// A sender with two links sends out of the one it was told, not the
/// default route's.
#[test]
fn sender_uses_the_named_link_not_the_default_route() {
    if !can_netns() {
        return;
    }
    // Like a phone: the default route is cellular.
    let (phone, wifi, cell) = topology::phone("", 14, 15);

    let mut w = Running::start(wifi.mcast(&["recv", "-c", "2", "--timeout", "20s"]));
    let mut c = Running::start(cell.mcast(&["recv", "-c", "1", "--timeout", "2s"]));
    w.wait_ready();
    c.wait_ready();
    // Automatic selection picks wlan0 over rmnet_data0 despite the default route.
    let s = run_limited(
        phone.mcast(&["-v", "send", "-c", "2", "--interval", "100ms"]),
        T,
    );
    assert_eq!(s.code(), 0, "{s:?}");
    assert!(s.stderr.contains("selected wlan0"), "{s:?}");
    let w = w.finish(T);
    assert_eq!(w.code(), 0, "{w:?}");
    assert!(w.stdout.contains(" 198.18.14.10:"), "{w:?}");
    let c = c.finish(T);
    assert_eq!(c.code(), 1, "cellular must hear nothing: {c:?}");
}
