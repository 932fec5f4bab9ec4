//! More groups than one socket may join: Linux allows 20 IPv4 memberships
//! per socket (`net.ipv4.igmp_max_memberships`), and IPv6 memberships as
//! far as socket option memory goes (`net.core.optmem_max`). `recv` once
//! failed at the 21st group; now it spreads the groups over as many sockets
//! as needed, and every datagram is counted once, also where
//! IP_MULTICAST_ALL cannot be turned off (qemu-user: there every socket
//! bound to the port would see every group).
//!
//! Two namespaces on a veth pair, `tx` and `rx`, both `wlan0`. Every mcast
//! runs through `Netns::mcast`, so `MCAST_BIN`/`MCAST_RUNNER` apply.

mod common;

use std::process::Command;
use std::time::Duration;

use common::json::{self, Fields};
use common::{mcast_bin, mcast_runner, run_limited, topology, Netns, Running};

const T: Duration = Duration::from_secs(120);

fn pair(tag: &str) -> Option<(Netns, Netns)> {
    topology::wlan_pair(tag, 50, true)
}

/// 4096 groups (the most one command line takes), two probes to each: all
/// 8192 arrive, once each, nothing is filtered.
fn every_group_once(tag: &str, range: &str) {
    let Some((tx, rx)) = pair(tag) else { return };
    let mut r = Running::start(rx.mcast(&[
        "--json",
        "recv",
        range,
        "-i",
        "wlan0",
        "-c",
        "8192",
        "--timeout",
        "90s",
    ]));
    r.wait_ready();
    let s = run_limited(
        tx.mcast(&[
            "send", "--probe", range, "-i", "wlan0", "-c", "2", "--rate", "10",
        ]),
        T,
    );
    assert_eq!(s.code(), 0, "sender: {s:?}");
    assert!(s.stdout.contains("sent 8192 packets"), "{s:?}");
    let r = r.finish(T);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(json::objects_in(&r.stdout, "joined").len(), 4096);
    let summaries = json::objects_in(&r.stdout, "summary");
    let summary = summaries.last().expect("a summary");
    assert_eq!(summary.u("packets"), 8192, "{}", r.stderr);
    // Nothing counted twice, nothing dropped as another group's: where
    // IP_MULTICAST_ALL stays on, only one socket reads.
    assert_eq!(summary.u("filtered"), 0, "{}", r.stderr);
    assert_eq!(summary.u("kernel_drops"), 0, "{}", r.stderr);
    let groups = summary.a_or_empty("groups");
    assert_eq!(groups.len(), 4096);
    for g in groups {
        for (key, want) in [
            ("received", 2),
            ("expected", 2),
            ("lost", 0),
            ("duplicates", 0),
        ] {
            assert_eq!(g.u(key), want, "{key} of {g}");
        }
    }
    // The status line says how many sockets it took.
    let status = r
        .stderr
        .lines()
        .find(|l| l.contains("listening on 4096 groups"))
        .unwrap_or_else(|| panic!("{}", r.stderr));
    assert!(status.contains(" sockets of up to "), "{status}");
    eprintln!("{status}");
}

#[test]
fn four_thousand_ipv4_groups_are_each_received_once() {
    every_group_once("mg4", "239.255.0.1+4096:5004");
}

#[test]
fn four_thousand_ipv6_groups_are_each_received_once() {
    every_group_once("mg6", "[ff05::5:0]+4096:5004");
}

/// `recv GROUPS` under an open-file limit, with prlimit(1).
fn limited(ns: &Netns, nofile: &str, range: &str) -> common::Finished {
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        ns.name(),
        "prlimit",
        &format!("--nofile={nofile}"),
    ]);
    cmd.args(mcast_runner());
    cmd.arg(mcast_bin());
    cmd.args([
        "recv",
        range,
        "-i",
        "wlan0",
        "--timeout",
        "200ms",
        "-c",
        "0",
    ]);
    run_limited(cmd, T)
}

/// Hundreds of sockets need more files than a soft limit of 1024 (or
/// less) allows: mcast raises the soft limit up to the hard one. A hard
/// limit too low is a limit of the whole process, and the error names it.
#[test]
fn the_open_file_limit_is_raised_or_named() {
    let Some((_tx, rx)) = pair("mgnofile") else {
        return;
    };
    if Command::new("prlimit").arg("--version").output().is_err() {
        common::skip("prlimit (util-linux) is not installed");
        return;
    }
    let f = limited(&rx, "100:8192", "239.255.0.1+4096:5004");
    assert_eq!(f.code(), 0, "{f:?}");
    assert!(f.stderr.contains("listening on 4096 groups"), "{f:?}");
    let f = limited(&rx, "60:60", "239.255.0.1+4096:5004");
    assert_eq!(f.code(), 1, "{f:?}");
    assert!(
        // glibc says "Too many open files", musl "No file descriptors
        // available": the error number is the same.
        f.stderr.contains("(os error 24)")
            && f.stderr.contains("RLIMIT_NOFILE")
            && f.stderr.contains("ulimit -n"),
        "{f:?}"
    );
}
