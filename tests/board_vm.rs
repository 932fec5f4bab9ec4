//! mcast on real ARM kernels: the lab's board is an aarch64 or armv7 VM
//! (qemu-system, TCG) booting Debian's arm64 cloud or armhf LPAE kernel,
//! a station of the lab's Wi-Fi bridge through a tap (`lab.sh up --board
//! ARCH`). The VM runs its own mcast (the release build for its
//! architecture, in the image); the phone and the pc are the lab's
//! namespaces running the mcast under test. Unlike qemu-user, which
//! translates syscalls to this machine's x86 kernel, these binaries meet an
//! ARM kernel's network stack, so the first-choice socket options are used
//! (`ip_mreqn`, `IP_MULTICAST_IF`): the tests assert it.
//!
//! The aarch64 VM runs every check; the armv7 one the shorter set. Each
//! test boots one VM and runs its checks in sequence on it.
#![allow(missing_docs)]

mod common;
#[path = "common/lab.rs"]
mod lab;
#[path = "common/vm.rs"]
mod vm;

use std::thread;
use std::time::Duration;

use common::{run_limited, Finished, Running};
use lab::{Lab, BOARD_V4, PHONE_WIFI_V4};
use vm::{exchange, json_num, json_of, json_str, vm_mcast, Remote};

const GROUP: &str = "239.74.20.30";
const RUN: Duration = Duration::from_secs(60);

fn board_lab(arch: &str) -> Option<(Lab, std::sync::MutexGuard<'static, ()>)> {
    if !vm::can_vm(arch) {
        return None;
    }
    let guard = vm::one_at_a_time();
    let lab = Lab::up_with(&["--board", arch]);
    Some((lab, guard))
}

/// `lab.sh link board STATE`, which must succeed.
fn link(lab: &Lab, state: &str) {
    let out = lab.script(&["link", "board", state]);
    assert!(out.status.success(), "lab.sh link board {state}: {out:?}");
}

fn ok(f: &Finished, what: &str) {
    assert_eq!(f.code(), 0, "{what}: {f:#?}");
}

/// The board VM receives three hello worlds from the phone, joined with
/// `ip_mreqn` (the first choice, which qemu-user's aarch64 lacks).
fn hello_phone_to_board(lab: &Lab, arch: &str) {
    let (rx, _) = exchange(
        lab,
        vm_mcast(
            lab,
            "board",
            &["--json", "recv", "-c", "3", "--timeout", "40s"],
        ),
        "port-board",
        GROUP,
        lab.mcast("phone", &["send", "-c", "3", "--interval", "200ms"]),
    );
    let joined = json_of(&rx.stdout, "joined");
    assert_eq!(joined.len(), 1, "{rx:#?}");
    assert_eq!(
        json_str(joined[0], "mechanism").as_deref(),
        Some("ip_mreqn"),
        "on a real {arch} kernel the join uses ip_mreqn: {rx:#?}"
    );
    assert_eq!(json_str(joined[0], "interface").as_deref(), Some("wlan0"));
    let messages = json_of(&rx.stdout, "message");
    assert_eq!(messages.len(), 3, "{rx:#?}");
    for m in messages {
        assert_eq!(json_str(m, "text").as_deref(), Some("hello world"));
        let src = json_str(m, "source").unwrap();
        assert!(src.starts_with(&format!("{PHONE_WIFI_V4}:")), "{m}");
    }
    assert_eq!(json_of(&rx.stdout, "left").len(), 1, "{rx:#?}");
}

/// The board VM sends to the pc, pinned by IP_MULTICAST_IF.
fn hello_board_to_pc(lab: &Lab, arch: &str) {
    let text = "hello from the board";
    let (rx, tx) = exchange(
        lab,
        lab.mcast("pc", &["recv", "-c", "3", "--timeout", "40s"]),
        "port-pc",
        GROUP,
        vm_mcast(
            lab,
            "board",
            &[
                "--json",
                "send",
                "-c",
                "3",
                "--interval",
                "200ms",
                "-m",
                text,
            ],
        ),
    );
    let sending = json_of(&tx.stdout, "sending");
    assert_eq!(sending.len(), 1, "{tx:#?}");
    assert_eq!(
        json_str(sending[0], "pinned_by").as_deref(),
        Some("MULTICAST_IF"),
        "on a real {arch} kernel the sender is pinned by IP_MULTICAST_IF: {tx:#?}"
    );
    let source = json_str(sending[0], "source").unwrap_or_default();
    assert!(source.starts_with(&format!("{BOARD_V4}:")), "{tx:#?}");
    let lines: Vec<&str> = rx.stdout.lines().filter(|l| l.ends_with(text)).collect();
    assert_eq!(lines.len(), 3, "{rx:#?}");
    assert!(
        lines.iter().all(|l| l.contains(&format!(" {BOARD_V4}:"))),
        "{rx:#?}"
    );
}

/// IPv6 both ways on a site-local group: IPV6_JOIN_GROUP on the board, and
/// the board's sender pinned by IPV6_MULTICAST_IF.
fn ipv6_both_ways(lab: &Lab) {
    let group = "[ff05::4d:4353]:5400";
    let recv = [
        "--json",
        "recv",
        group,
        "-i",
        "wlan0",
        "-c",
        "2",
        "--timeout",
        "40s",
    ];
    let send = [
        "--json",
        "send",
        group,
        "-i",
        "wlan0",
        "-c",
        "2",
        "--interval",
        "200ms",
    ];
    let (rx, _) = exchange(
        lab,
        vm_mcast(lab, "board", &recv),
        "port-board",
        "ff05::4d:4353",
        lab.mcast("phone", &send),
    );
    assert_eq!(json_of(&rx.stdout, "message").len(), 2, "{rx:#?}");
    assert_eq!(
        json_str(json_of(&rx.stdout, "joined")[0], "mechanism").as_deref(),
        Some("ipv6_mreq"),
        "{rx:#?}"
    );
    let (rx, tx) = exchange(
        lab,
        lab.mcast("pc", &recv),
        "port-pc",
        "ff05::4d:4353",
        vm_mcast(lab, "board", &send),
    );
    assert_eq!(
        json_str(json_of(&tx.stdout, "sending")[0], "pinned_by").as_deref(),
        Some("MULTICAST_IF"),
        "{tx:#?}"
    );
    assert_eq!(json_of(&rx.stdout, "message").len(), 2, "{rx:#?}");
}

/// Probes through the ap's `loss 20`: the board's receiver counts what the
/// ap dropped as lost, and its counters add up.
fn probes_with_loss(lab: &Lab) {
    lab.switch("loss", "20");
    let mut rx = Running::start(vm_mcast(
        lab,
        "board",
        &["--json", "recv", "-c", "0", "--timeout", "15s"],
    ));
    rx.wait_ready();
    lab.wait_member("port-board", GROUP);
    ok(
        &run_limited(
            lab.mcast(
                "phone",
                &["send", "--probe", "--rate", "100", "-c", "400", "-q"],
            ),
            RUN,
        ),
        "phone probes",
    );
    let rx = rx.finish(RUN);
    lab.switch("loss", "off");
    ok(&rx, "board recv of probes");
    let summary = json_of(&rx.stdout, "summary");
    assert_eq!(summary.len(), 1, "{rx:#?}");
    let s = summary[0];
    let expected = json_num(s, "expected").expect("expected");
    let lost = json_num(s, "lost").expect("lost");
    let received = json_num(s, "received").expect("received");
    let loss_pct = json_num(s, "loss_pct").expect("loss_pct");
    assert!((300.0..=400.0).contains(&expected), "{s}");
    assert_eq!(received + lost, expected, "received + lost = expected: {s}");
    // 20 % of ~400 probes: 80 ± 8 (one standard deviation).
    assert!(
        (5.0..=45.0).contains(&loss_pct),
        "loss {loss_pct} % under a 20 % loss switch: {s}"
    );
}

/// `mcast ping` from the phone with the board answering (`recv --echo`),
/// then `mcast doctor --peer` against the board.
fn ping_and_doctor(lab: &Lab) {
    let (echo, cmd) = Remote::command(lab, "board", &["mcast", "recv", "--echo", "-c", "0"]);
    let mut rx = Running::start(cmd);
    rx.wait_ready();
    lab.wait_member("port-board", GROUP);

    let ping = run_limited(
        lab.mcast(
            "phone",
            &["--json", "ping", "-c", "5", "--interval", "200ms"],
        ),
        RUN,
    );
    ok(&ping, "phone ping");
    let replies = json_of(&ping.stdout, "reply");
    assert_eq!(replies.len(), 5, "{ping:#?}");
    assert!(
        replies
            .iter()
            .all(|r| json_str(r, "responder").as_deref() == Some(BOARD_V4)),
        "{ping:#?}"
    );
    let summary = json_of(&ping.stdout, "summary");
    assert_eq!(json_num(summary[0], "answered"), Some(5.0), "{ping:#?}");

    let doctor = run_limited(
        lab.mcast("phone", &["--json", "doctor", "--peer", BOARD_V4]),
        RUN,
    );
    ok(&doctor, "doctor --peer board");
    let peer = json_of(&doctor.stdout, "check")
        .into_iter()
        .find(|c| json_str(c, "name").as_deref() == Some("peer"))
        .unwrap_or_else(|| panic!("no peer check: {doctor:#?}"));
    assert_eq!(json_str(peer, "status").as_deref(), Some("pass"), "{peer}");
    assert!(peer.contains(BOARD_V4), "{peer}");

    echo.signal(lab, "INT");
    let rx = rx.finish(RUN);
    assert_eq!(
        rx.code(),
        130,
        "recv --echo ends on SIGINT with 130: {rx:#?}"
    );
    assert!(rx.stderr.contains("left 239.74.20.30 on wlan0"), "{rx:#?}");
}

/// The board's Wi-Fi goes away for 3 s (`lab.sh link board down`: its
/// bridge port down and its NIC without carrier, through qemu): the
/// board's receiver sees its interface go down and up, re-joins, and
/// probes arrive again; the outage is counted as loss.
fn link_down_and_up(lab: &Lab) {
    let (recv, cmd) = Remote::command(lab, "board", &["mcast", "--json", "recv", "-c", "0"]);
    let mut rx = Running::start(cmd);
    rx.wait_ready();
    lab.wait_member("port-board", GROUP);
    let tx = Running::start(lab.mcast(
        "phone",
        &["send", "--probe", "--rate", "50", "--duration", "14s", "-q"],
    ));
    rx.wait_stdout("\"type\":\"stats\"", Duration::from_secs(20));
    thread::sleep(Duration::from_secs(2));
    // The receiver's output comes over ssh through the same Wi-Fi link, so
    // it arrives only once the link is back.
    link(lab, "down");
    thread::sleep(Duration::from_secs(3));
    link(lab, "up");
    rx.wait_stdout("\"event\":\"rejoined\"", Duration::from_secs(20));
    let tx = tx.finish(RUN);
    ok(&tx, "phone probes");
    recv.signal(lab, "INT");
    let rx = rx.finish(RUN);
    assert_eq!(rx.code(), 130, "{rx:#?}");
    let events: Vec<String> = json_of(&rx.stdout, "interface_event")
        .iter()
        .filter_map(|e| json_str(e, "event"))
        .collect();
    let pos = |e: &str| events.iter().position(|x| x == e);
    assert!(
        matches!((pos("down"), pos("up"), pos("rejoined")), (Some(d), Some(u), Some(r)) if d < u && u < r),
        "events down, up, rejoined in this order: {events:?}"
    );
    // The stats line just before the outage, and the summary.
    let before: f64 = rx
        .stdout
        .lines()
        .take_while(|l| !l.contains("\"event\":\"down\""))
        .filter(|l| l.starts_with("{\"type\":\"stats\""))
        .filter_map(|l| json_num(l, "received"))
        .fold(0.0, f64::max);
    let summary = json_of(&rx.stdout, "summary")[0];
    let received = json_num(summary, "received").expect("received");
    let lost = json_num(summary, "lost").expect("lost");
    assert!(
        received >= before + 100.0,
        "probes arrive again after the link is back (about 5 s at 50/s): {before} before the outage, {received} in all: {summary}"
    );
    assert!(
        lost >= 50.0,
        "a 3 s outage at 50 probes/s is counted as loss: {summary}"
    );
}

#[test]
fn aarch64_board_vm_real_kernel() {
    let Some((lab, _one)) = board_lab("aarch64") else {
        return;
    };
    let uname = run_limited(lab.on("board", &["uname", "-m"]), RUN);
    ok(&uname, "uname on the board VM");
    assert_eq!(uname.stdout.trim(), "aarch64");
    hello_phone_to_board(&lab, "aarch64");
    hello_board_to_pc(&lab, "aarch64");
    ipv6_both_ways(&lab);
    probes_with_loss(&lab);
    ping_and_doctor(&lab);
    link_down_and_up(&lab);
}

#[test]
fn armv7_board_vm_real_kernel() {
    let Some((lab, _one)) = board_lab("armv7") else {
        return;
    };
    let uname = run_limited(lab.on("board", &["uname", "-m"]), RUN);
    ok(&uname, "uname on the board VM");
    assert_eq!(uname.stdout.trim(), "armv7l");
    hello_phone_to_board(&lab, "armv7");
    hello_board_to_pc(&lab, "armv7");
    ping_and_doctor(&lab);
}
