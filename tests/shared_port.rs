//! Several receivers on one host, one port: each gets every datagram of the
//! (group, interface) pairs it joined, and none of the others, whatever the
//! order they start in.
//!
//! With SO_REUSEPORT, Linux hands a multicast datagram to one socket of the
//! port's reuseport group, whatever each joined: with a receiver on `wlan0`
//! and one on `rmnet0`, one of them heard nothing in about half the runs.
//! mcast now shares the port with SO_REUSEADDR alone (and IP_MULTICAST_ALL
//! off, or where that cannot be turned off, by filtering on the interface).
//!
//! The host `rx` has `wlan0` and `rmnet0`, each a veth to a sender namespace
//! of its own (`a` and `b`). Every mcast runs through `Netns::mcast`, so
//! `MCAST_BIN`/`MCAST_RUNNER` apply.

mod common;

use std::time::Duration;

use common::{addr, can_netns, run_limited, topology, Finished, Netns, Running};

const T: Duration = Duration::from_secs(60);

struct Host {
    rx: Netns,
    a: Netns,
    b: Netns,
}

fn host() -> Option<Host> {
    if !can_netns() {
        return None;
    }
    let rx = Netns::new("sprx");
    let a = Netns::new("spa");
    let b = Netns::new("spb");
    topology::link(
        &rx,
        "wlan0",
        "198.18.60.2/24",
        &a,
        "wlan0",
        "198.18.60.1/24",
    );
    topology::link(
        &rx,
        "rmnet0",
        "198.18.61.2/24",
        &b,
        "rmnet0",
        "198.18.61.1/24",
    );
    addr(&rx, "wlan0", "fd6d:6361:7374:60::2/64");
    addr(&a, "wlan0", "fd6d:6361:7374:60::1/64");
    addr(&rx, "rmnet0", "fd6d:6361:7374:61::2/64");
    addr(&b, "rmnet0", "fd6d:6361:7374:61::1/64");
    Some(Host { rx, a, b })
}

#[derive(Debug, Clone, Copy)]
enum Start {
    WlanFirst,
    RmnetFirst,
    Together,
}

/// One run: both receivers on `group`, one per interface, started as
/// `start` says; three datagrams from each link; each receiver must have
/// exactly its own link's three.
fn run(h: &Host, group: &str, start: Start, round: usize) {
    let recv = |dev: &str| {
        h.rx.mcast(&[
            "--json",
            "recv",
            group,
            "-i",
            dev,
            "-c",
            "0",
            "--timeout",
            "30s",
        ])
    };
    // One receiver, started and listening before the next starts.
    let ready = |dev| {
        let mut r = Running::start(recv(dev));
        r.wait_ready();
        r
    };
    let (mut wlan, mut rmnet) = match start {
        Start::WlanFirst => {
            let w = ready("wlan0");
            (w, ready("rmnet0"))
        }
        Start::RmnetFirst => {
            let r = ready("rmnet0");
            (ready("wlan0"), r)
        }
        Start::Together => {
            let mut w = Running::start(recv("wlan0"));
            let mut r = Running::start(recv("rmnet0"));
            w.wait_ready();
            r.wait_ready();
            (w, r)
        }
    };
    // Alternate which link sends first.
    let senders = if round % 2 == 0 {
        [(&h.a, "wlan0", "from-a"), (&h.b, "rmnet0", "from-b")]
    } else {
        [(&h.b, "rmnet0", "from-b"), (&h.a, "wlan0", "from-a")]
    };
    for (ns, dev, text) in senders {
        let s = run_limited(
            ns.mcast(&[
                "send",
                group,
                "-i",
                dev,
                "-c",
                "3",
                "--interval",
                "20ms",
                "-m",
                text,
            ]),
            T,
        );
        assert_eq!(s.code(), 0, "sender: {s:?}");
    }
    wlan.wait_stdout(r#""text":"from-a""#, T);
    rmnet.wait_stdout(r#""text":"from-b""#, T);
    std::thread::sleep(Duration::from_millis(300));
    wlan.signal("INT");
    rmnet.signal("INT");
    let what = format!("{group}, {start:?}, round {round}");
    for (r, mine, other) in [
        (wlan.finish(T), "from-a", "from-b"),
        (rmnet.finish(T), "from-b", "from-a"),
    ] {
        check(&r, mine, other, &what);
    }
}

fn check(r: &Finished, mine: &str, other: &str, what: &str) {
    assert_eq!(r.code(), 130, "{what}: {r:?}");
    let got = |text: &str| r.stdout.matches(&format!(r#""text":"{text}""#)).count();
    assert_eq!(
        got(mine),
        3,
        "{what}: all of its own link's datagrams: {r:?}"
    );
    assert_eq!(got(other), 0, "{what}: none of the other link's: {r:?}");
    assert!(
        r.stdout
            .contains(r#"{"type":"summary","role":"recv","packets":3,"#),
        "{what}: {r:?}"
    );
}

fn every_order(group: &str) {
    let Some(h) = host() else { return };
    let mut runs = 0;
    for round in 0..3 {
        for start in [Start::WlanFirst, Start::RmnetFirst, Start::Together] {
            run(&h, group, start, round);
            runs += 1;
        }
    }
    eprintln!("{group}: {runs} runs, each receiver got exactly its own link's datagrams");
}

#[test]
fn two_receivers_on_two_interfaces_each_get_their_own_ipv4() {
    every_order("239.74.20.30:54321");
}

#[test]
fn two_receivers_on_two_interfaces_each_get_their_own_ipv6() {
    every_order("[ff05::4a14:1e]:54321");
}

/// A program holding the port with SO_REUSEPORT only keeps mcast from
/// binding it (Linux then shares the port only with SO_REUSEPORT sockets);
/// the error says so, and how to find the program.
#[test]
fn a_port_held_with_reuseport_only_is_named_in_the_bind_error() {
    let Some(h) = host() else { return };
    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        common::skip("python3 is not installed (it holds the port for this test)");
        return;
    }
    for (flags, needle) in [
        (
            "socket.SO_REUSEPORT",
            "with SO_REUSEPORT and without SO_REUSEADDR",
        ),
        ("None", "without SO_REUSEADDR, so it cannot be shared"),
    ] {
        let script = format!(
            "import socket, time\n\
             s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
             if {flags}: s.setsockopt(socket.SOL_SOCKET, {flags}, 1)\n\
             s.bind(('0.0.0.0', 54321))\n\
             print('bound', flush=True)\n\
             time.sleep(60)\n"
        );
        let mut cmd = std::process::Command::new("ip");
        cmd.args(["netns", "exec", h.rx.name(), "python3", "-c", &script]);
        let mut holder = Running::start(cmd);
        holder.wait_stdout("bound", T);
        let f = run_limited(h.rx.mcast(&["recv", "-i", "wlan0", "--timeout", "1s"]), T);
        assert_eq!(f.code(), 1, "{f:?}");
        for n in [
            "cannot bind to 239.74.20.30:54321 on wlan0",
            // glibc says "Address already in use", musl "Address in use".
            "(os error 98)",
            needle,
            "ss -ulpn 'sport = :54321'",
        ] {
            assert!(f.stderr.contains(n), "{n}: {f:?}");
        }
        drop(holder);
    }
}
