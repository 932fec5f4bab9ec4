//! Which socket options mcast ends up using, per stack. A real kernel
//! (this machine's, or the ARM kernels of the lab's VMs: see
//! `tests/board_vm.rs`) takes the first choices: `ip_mreqn` joins and
//! `IP_MULTICAST_IF`. Debian's qemu-user 7.2, which runs the ARM builds in
//! `scripts/test-arm.sh`, lacks IP_MULTICAST_IF on every target and
//! mis-copies `ip_mreqn` on aarch64, so there mcast must take the
//! fallbacks (`bound-source`, and `ip_mreq` on aarch64). This suite runs in
//! both places, so each run checks the mechanisms of its own stack.
#![allow(missing_docs)]

mod common;

use std::time::Duration;

use common::{addr, run_limited, veth, Netns, Running};

/// What the join and the sender should use under MCAST_RUNNER.
fn expected() -> (&'static str, &'static str, &'static str) {
    let runner = common::mcast_runner().join(" ");
    if runner.contains("qemu-aarch64") {
        ("qemu-user, aarch64", "ip_mreq", "bound-source")
    } else if runner.contains("qemu-arm") {
        ("qemu-user, armv7", "ip_mreqn", "bound-source")
    } else if runner.is_empty() {
        ("this machine's kernel", "ip_mreqn", "MULTICAST_IF")
    } else {
        panic!("unknown MCAST_RUNNER {runner:?}: say which mechanisms it should give")
    }
}

fn field(line: &str, key: &str) -> String {
    line.split(&format!("\"{key}\":\""))
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        .to_owned()
}

#[test]
fn join_and_send_mechanisms_match_the_stack() {
    if !common::can_netns() {
        return;
    }
    let (stack, join, pin) = expected();
    let a = Netns::new("mecha");
    let b = Netns::new("mechb");
    veth(&a, "eth0", &b, "eth0");
    addr(&a, "eth0", "198.18.9.1/24");
    addr(&b, "eth0", "198.18.9.2/24");
    let group = "239.74.9.9:5009";
    let mut rx = Running::start(b.mcast(&[
        "--json",
        "recv",
        group,
        "-i",
        "eth0",
        "-c",
        "1",
        "--timeout",
        "30s",
    ]));
    rx.wait_ready();
    let tx = run_limited(
        a.mcast(&["--json", "send", group, "-i", "eth0", "-c", "1"]),
        Duration::from_secs(30),
    );
    assert_eq!(tx.code(), 0, "{tx:#?}");
    let rx = rx.finish(Duration::from_secs(30));
    assert_eq!(rx.code(), 0, "{rx:#?}");
    let joined = rx
        .stdout
        .lines()
        .find(|l| l.starts_with("{\"type\":\"joined\""))
        .unwrap_or_else(|| panic!("no joined line: {rx:#?}"));
    let sending = tx
        .stdout
        .lines()
        .find(|l| l.starts_with("{\"type\":\"sending\""))
        .unwrap_or_else(|| panic!("no sending line: {tx:#?}"));
    assert_eq!(
        field(joined, "mechanism"),
        join,
        "join on {stack}: {joined}"
    );
    assert_eq!(
        field(sending, "pinned_by"),
        pin,
        "sender on {stack}: {sending}"
    );
}
