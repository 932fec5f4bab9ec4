//! Stacks without the usual socket options. qemu-user 7.2 (Debian's
//! qemu-user) returns ENOPROTOOPT for IP_MULTICAST_IF, IPV6_MULTICAST_IF and
//! IP_MULTICAST_ALL, and ENODEV for ip_mreqn joins, for every guest
//! architecture, x86_64 included. So running the binary under qemu-user shows
//! that the fallbacks work, which mechanism was used, and that the interface
//! is still pinned: nothing leaves through the default route.
//!
//! Under the ARM suites (MCAST_RUNNER set to qemu-aarch64 or qemu-arm) the
//! same tests run with that emulator; on the host they use qemu-x86_64.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{can_netns, mcast_bin, mcast_runner, run_limited, skip, Finished, Netns, Running};

const T: Duration = Duration::from_secs(60);

/// The emulator prefix: MCAST_RUNNER, or qemu-x86_64 for the host build.
fn emulator() -> Option<Vec<String>> {
    let r = mcast_runner();
    if !r.is_empty() {
        return Some(r);
    }
    let found = Command::new("qemu-x86_64")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        skip("qemu-x86_64 is not installed (apt-get install qemu-user)");
        return None;
    }
    Some(vec!["qemu-x86_64".to_owned()])
}

/// `mcast ARGS…` under the emulator in `ns`.
fn emulated(ns: &Netns, emu: &[String], args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns.name()]);
    cmd.args(emu);
    cmd.arg(mcast_bin());
    cmd.args(args);
    cmd.stdin(std::process::Stdio::null());
    cmd
}

/// `count` datagrams from the phone's `wlan0` (to `group`, or the default
/// group when it is empty), 200 ms apart, under the emulator `emu`.
fn send_on_wlan(phone: &Netns, emu: &[String], group: &[&str], count: &str) -> Finished {
    let mut args = vec!["--json", "send"];
    args.extend_from_slice(group);
    args.extend(["-i", "wlan0", "-c", count, "--interval", "200ms"]);
    run_limited(emulated(phone, emu, &args), T)
}

/// A phone (`wlan0` to `wifi`, `rmnet_data0` to `cell`, default route via
/// cell) and its two peers.
fn phone() -> (Netns, Netns, Netns) {
    common::topology::phone("fb", 20, 21)
}

#[test]
fn ipv4_fallbacks_pin_the_interface() {
    if !can_netns() {
        return;
    }
    let Some(emu) = emulator() else { return };
    let (phone, wifi, cell) = phone();
    let mut w = Running::start(emulated(
        &wifi,
        &emu,
        &[
            "--json",
            "recv",
            "-i",
            "wlan0",
            "-c",
            "3",
            "--timeout",
            "40s",
        ],
    ));
    let mut c = Running::start(cell.mcast(&["recv", "-i", "rmnet0", "-c", "1", "--timeout", "3s"]));
    w.wait_stdout(r#""type":"joined""#, T);
    c.wait_ready();
    let s = send_on_wlan(&phone, &emu, &[], "3");
    assert_eq!(s.code(), 0, "{s:?}");
    assert!(s.stdout.contains(r#""source":"198.18.20.10:"#), "{s:?}");
    let pinned = s.stdout.lines().next().unwrap_or_default().to_owned();
    let w = w.finish(T);
    assert_eq!(w.code(), 0, "{w:?}");
    assert_eq!(
        w.stdout.matches(r#""source":"198.18.20.10:"#).count(),
        3,
        "{w:?}"
    );
    let c = c.finish(T);
    assert_eq!(
        c.code(),
        1,
        "the default route's link must hear nothing: {c:?}"
    );
    // Which mechanisms were used, for the record (and for the ARM suites,
    // where the kernel options may or may not be emulated).
    let joined = w.stdout.lines().next().unwrap_or_default();
    eprintln!("emulator {emu:?}: sender {pinned}\nreceiver {joined}");
    assert!(
        joined.contains(r#""mechanism":"ip_mreq""#) || joined.contains(r#""mechanism":"ip_mreqn""#),
        "{joined}"
    );
    assert!(
        pinned.contains(r#""pinned_by":"bound-source""#)
            || pinned.contains(r#""pinned_by":"MULTICAST_IF""#),
        "{pinned}"
    );
    if emu[0].ends_with("qemu-x86_64") {
        // qemu-user 7.2 lacks both options on every architecture.
        assert!(joined.contains(r#""mechanism":"ip_mreq""#), "{joined}");
        assert!(pinned.contains(r#""pinned_by":"bound-source""#), "{pinned}");
    }
}

#[test]
fn ipv6_fallbacks_pin_the_interface() {
    if !can_netns() {
        return;
    }
    let Some(emu) = emulator() else { return };
    let (phone, wifi, cell) = phone();
    phone.ip(&[
        "-6",
        "route",
        "add",
        "default",
        "via",
        &cell.link_local("rmnet0"),
        "dev",
        "rmnet_data0",
    ]);
    let phone_ll = phone.link_local("wlan0");
    for (group, expect) in [
        ("[ff02::4a14:1e]:6010", "scope-id"),
        ("[ff05::4a14:1e]:6011", "bound-link-local"),
    ] {
        let mut w = Running::start(wifi.mcast(&[
            "recv",
            group,
            "-i",
            "wlan0",
            "-c",
            "2",
            "--timeout",
            "40s",
        ]));
        let mut c = Running::start(cell.mcast(&[
            "recv",
            group,
            "-i",
            "rmnet0",
            "-c",
            "1",
            "--timeout",
            "3s",
        ]));
        w.wait_ready();
        c.wait_ready();
        let s = send_on_wlan(&phone, &emu, &[group], "2");
        assert_eq!(s.code(), 0, "{s:?}");
        let first = s.stdout.lines().next().unwrap_or_default().to_owned();
        eprintln!("emulator {emu:?}: {first}");
        if emu[0].ends_with("qemu-x86_64") {
            assert!(
                first.contains(&format!(r#""pinned_by":"{expect}""#)),
                "{first}"
            );
        }
        let w = w.finish(T);
        assert_eq!(w.code(), 0, "{group}: {w:?}");
        assert_eq!(
            w.stdout.matches(&format!("[{phone_ll}%")).count(),
            2,
            "{group}: {w:?}"
        );
        let c = c.finish(T);
        assert_eq!(
            c.code(),
            1,
            "{group}: the cellular link must hear nothing: {c:?}"
        );
    }
}
