//! Following the interface with the right purpose: a `recv --broadcast`
//! whose automatically chosen interface disappears switches to another
//! interface fit for broadcast, even when that one cannot do multicast
//! (before the library follower, recv re-selected for multicast and found
//! nothing).
//!
//! The receiver's namespace has wlan0 (chosen first) and eth0 with the
//! MULTICAST flag off, each a veth to its own namespace; all created and
//! deleted by the test (`common::Netns`, unique names), hosts in
//! 198.18.0.0/15. Run as root; without root it skips (or fails under
//! `MCAST_TEST_STRICT=1`).

mod common;

use std::time::Duration;

use common::json::{self, Value};
use common::{addr, veth, Netns, Running};

const PORT: &str = "54329";

/// Any object of the type waited for.
fn any(_: &Value) -> bool {
    true
}

/// An `interface_event` of kind `event`.
fn event(event: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["event"] == event
}

#[test]
fn broadcast_receiver_switches_to_a_broadcast_only_interface() {
    if !common::can_netns() {
        return;
    }
    let rcv = Netns::new("frcv");
    let [wifi, wired] = ["fwifi", "fwired"].map(Netns::new);
    // Link n: the peer's eth0 198.18.6n.1 to the receiver's `dev` 198.18.6n.2.
    for (n, peer, dev) in [(1, &wifi, "wlan0"), (2, &wired, "eth0")] {
        veth(peer, "eth0", &rcv, dev);
        addr(peer, "eth0", &format!("198.18.6{n}.1/24"));
        addr(&rcv, dev, &format!("198.18.6{n}.2/24"));
    }
    // Broadcast works on eth0, multicast does not: the two purposes choose
    // differently once wlan0 is gone.
    rcv.ip(&["link", "set", "eth0", "multicast", "off"]);

    let group = format!("255.255.255.255:{PORT}");
    let mut r = Running::start(rcv.mcast(&[
        "--json",
        "-v",
        "recv",
        "--broadcast",
        &group,
        "-c",
        "0",
        "--timeout",
        "30s",
    ]));
    let joined = r.wait_json("joined", any, Duration::from_secs(20));
    assert_eq!(joined["interface"], "wlan0", "{joined}");
    r.wait_json("watching", any, Duration::from_secs(5));

    rcv.ip(&["link", "del", "wlan0"]);
    let switched = r.wait_json(
        "interface_event",
        event("switched"),
        Duration::from_secs(10),
    );
    let detail = switched["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("wlan0") && detail.contains("eth0"),
        "the switch names both interfaces: {switched}"
    );
    let rejoined = r.wait_json(
        "interface_event",
        event("rejoined"),
        Duration::from_secs(10),
    );
    assert_eq!(rejoined["interface"], "eth0", "{rejoined}");

    // And it receives there: a few broadcasts from eth0's side.
    let sent = common::run_limited(
        wired.mcast(&[
            "send",
            "--broadcast",
            &group,
            "-i",
            "eth0",
            "-c",
            "5",
            "--interval",
            "200ms",
            "--message",
            "hello after the switch",
        ]),
        Duration::from_secs(20),
    );
    assert_eq!(sent.code(), 0, "sender: {}", sent.stderr);
    let message = r.wait_json("message", any, Duration::from_secs(5));
    assert_eq!(message["text"], "hello after the switch", "{message}");
    r.signal("INT");
    let done = r.finish(Duration::from_secs(10));
    assert!(
        !json::objects_in(&done.stdout, "summary").is_empty(),
        "{}",
        done.stdout
    );
}
