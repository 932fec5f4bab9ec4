//! mcast in the lab of `scripts/lab.sh` (issue 3): a phone on Wi-Fi and on
//! mobile data at once, a board and a PC on the same Wi-Fi behind a
//! snooping access point, and a cell tower. What the lab must show:
//!
//! 1. the phone picks wlan0 over rmnet_data0 by itself, and its group
//!    reaches the board and the PC at once; with `-i rmnet_data0` only the
//!    cell hears it;
//! 2. on the wire: the group's Ethernet address, the TTL, the source
//!    address, and IGMP/MLD joins and leaves on the chosen interface only;
//! 3. IGMP snooping: a station gets the group only while it is joined;
//! 4. client isolation, a firewall and total loss leave the receiver with
//!    nothing, and it says why; mcast-to-unicast still delivers.
//!
//! Every mcast runs through `Lab::mcast`, so `MCAST_BIN`/`MCAST_RUNNER`
//! apply: the ARM suites run these tests with an emulated binary, whose
//! IPv6 sender may use the link-local source (see `phone_v6_source`).
//!
//! Run: `cargo test --test lab -- --test-threads=2` (as root; without root
//! they skip, or fail under `MCAST_TEST_STRICT=1`).

mod common;
#[path = "common/lab.rs"]
mod lab;

use std::time::{Duration, Instant};

use common::{emulated, run_limited, Finished, Running};
use lab::{
    lab_with, Capture, Lab, BOARD_LL, GROUP4, GROUP6, GROUP6_ARG, PHONE_CELL_LL, PHONE_WIFI_LL,
};

/// Upper bound for any one mcast run (they normally end in well under 1 s).
const T: Duration = Duration::from_secs(30);
/// Capture filter for IGMP and MLD. Not `icmp6`: MLD messages follow a
/// hop-by-hop options header (router alert), which libpcap's `icmp6` does
/// not look past.
const GROUP_MGMT: &str = "igmp or (ip6 and not udp and not tcp)";

/// The `--timeout` of a receiver that must get nothing: long enough for a
/// sender started after it to finish, short enough to keep the suite fast.
fn quiet_timeout() -> &'static str {
    if emulated() {
        "4s"
    } else {
        "2s"
    }
}

/// Starts `mcast ARGS` in `host` and waits until it has joined.
fn receiver(lab: &Lab, host: &str, args: &[&str]) -> Running {
    lab.receiver(host, args)
}

/// Runs `mcast ARGS` in `host` to completion and checks it succeeded.
fn send(lab: &Lab, host: &str, args: &[&str]) -> Finished {
    lab.send_ok(host, args, T)
}

/// The source address (no port, brackets or scope) in a `--json send`'s
/// `sending` line.
fn json_source(s: &Finished) -> String {
    common::json::sending_source_ip(&s.stdout).unwrap_or_else(|| panic!("no source in {s:?}"))
}

/// The IPv6 source the phone's wlan0 sender really uses: its ULA with
/// IPV6_MULTICAST_IF, or its link-local address where that option is
/// missing (qemu-user: mcast then binds to the link-local address). Either
/// way it is a wlan0 address, never the mobile data one.
fn phone_v6_source(s: &Finished) -> String {
    let src = json_source(s);
    if s.stdout.contains(r#""pinned_by":"MULTICAST_IF""#) {
        assert_eq!(src, lab::PHONE_WIFI_V6, "{s:?}");
    } else {
        assert!(
            s.stdout.contains(r#""pinned_by":"bound-link-local""#),
            "{s:?}"
        );
        assert_eq!(src, PHONE_WIFI_LL, "{s:?}");
    }
    src
}

/// How a receiver prints a datagram from `src`: ` 198.18.1.10:PORT` or
/// `[fe80::…%IDX]:PORT` / `[fd6d:…]:PORT`.
fn from(src: &str) -> String {
    if src.contains(':') {
        format!("[{src}")
    } else {
        format!(" {src}:")
    }
}

/// The lines of a receiver's output that are datagrams from `src`.
fn lines_from<'a>(r: &'a Finished, src: &str) -> Vec<&'a str> {
    let needle = from(src);
    r.stdout.lines().filter(|l| l.contains(&needle)).collect()
}

/// A receiver that had to get nothing: exit 1 and the explanation.
fn assert_nothing_arrived(r: &Finished, what: &str) {
    assert_eq!(r.code(), 1, "{what}: the receiver must get nothing: {r:?}");
    assert!(!r.stdout.contains("hello world"), "{what}: {r:?}");
    for needle in ["nothing arrived", "firewall", "isolates clients"] {
        assert!(
            r.stderr.contains(needle),
            "{what}: the message lacks {needle:?}: {r:?}"
        );
    }
}

/// Every IGMPv3 (or, `v6`, MLDv2) group record in a capture:
/// `(sender address, group, record type)`. A report may carry several
/// records; tshark joins their fields with `,`, in the same order.
fn records(cap: &mut Capture, v6: bool) -> Vec<(String, String, String)> {
    let rows = if v6 {
        cap.fields(
            "icmpv6.type == 143",
            &[
                "ipv6.src",
                "icmpv6.mldr.mar.multicast_address",
                "icmpv6.mldr.mar.record_type",
            ],
        )
    } else {
        cap.fields(
            "igmp.type == 0x22",
            &["ip.src", "igmp.maddr", "igmp.record_type"],
        )
    };
    let mut out = Vec::new();
    for row in rows {
        for (g, t) in row[1].split(',').zip(row[2].split(',')) {
            out.push((row[0].clone(), g.to_owned(), t.to_owned()));
        }
    }
    out
}

/// How many IGMP/MLD packets in a capture mention `group` at all (reports,
/// leaves, group-specific queries; any version).
fn mentions(cap: &mut Capture, group: &str) -> usize {
    if group.contains(':') {
        cap.count(&format!(
            "icmpv6.mldr.mar.multicast_address == {group} || icmpv6.mld.multicast_address == {group}"
        ))
    } else {
        cap.count(&format!("igmp.maddr == {group}"))
    }
}

/// Waits until the bridge no longer forwards `group` to `port` (after a
/// leave: the ap's group-specific queries go unanswered, ~0.5 s).
fn wait_not_member(lab: &Lab, port: &str, group: &str) {
    let needle = format!("port {port} grp {group} ");
    lab::wait_for(
        &format!("{port} to leave {group} in the bridge's mdb"),
        Duration::from_secs(10),
        || (!lab.mdb().lines().any(|l| format!("{l} ").contains(&needle))).then_some(()),
    );
}

// ---------------------------------------------------------------------------
// 1. Selection, and who hears the phone.

#[test]
fn phone_picks_wlan0_over_mobile_data() {
    let Some(lab) = lab_with(&[]) else { return };
    let out = run_limited(lab.mcast("phone", &["--json", "ifaces"]), T);
    assert_eq!(out.code(), 0, "{out:?}");
    let line = |name: &str| -> String {
        out.stdout
            .lines()
            .find(|l| l.contains(&format!(r#""name":"{name}""#)))
            .unwrap_or_else(|| panic!("no {name} in {out:?}"))
            .to_owned()
    };
    let wlan = line("wlan0");
    assert!(wlan.starts_with(r#"{"type":"interface""#), "{wlan}");
    assert!(wlan.contains(r#""selected":true"#), "{wlan}");
    assert!(wlan.contains(r#""kind":"wifi""#), "{wlan}");
    let cell = line("rmnet_data0");
    assert!(cell.contains(r#""selected":false"#), "{cell}");
    assert!(cell.contains(r#""kind":"cellular""#), "{cell}");
    let reason = cell
        .split(r#""reason":""#)
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_default();
    assert!(
        reason.contains("wlan0") || reason.contains("cellular"),
        "rmnet_data0 needs a reason that explains the choice: {cell}"
    );
    assert_eq!(
        out.stdout.matches(r#""selected":true"#).count(),
        1,
        "{out:?}"
    );

    // The same choice when sending, IPv4 and IPv6, logged at -v.
    for group in [GROUP4, GROUP6_ARG] {
        let s = send(
            &lab,
            "phone",
            &["-v", "send", group, "-c", "1", "-m", "probe"],
        );
        assert!(s.stderr.contains("selected wlan0"), "{group}: {s:?}");
        assert!(!s.stderr.contains("selected rmnet"), "{group}: {s:?}");
    }
}

#[test]
fn phone_reaches_board_and_pc_at_once() {
    let Some(lab) = lab_with(&[]) else { return };
    for (group, mdb_group) in [(GROUP4, GROUP4), (GROUP6_ARG, GROUP6)] {
        // Two receivers on one group, started together.
        let args = ["recv", group, "-c", "3", "--timeout", "20s"];
        let mut board = Running::start(lab.mcast("board", &args));
        let mut pc = Running::start(lab.mcast("pc", &args));
        board.wait_ready();
        pc.wait_ready();
        lab.wait_member("port-board", mdb_group);
        lab.wait_member("port-pc", mdb_group);
        let s = send(
            &lab,
            "phone",
            &["--json", "send", group, "-c", "3", "--interval", "100ms"],
        );
        let src = if group == GROUP4 {
            assert_eq!(json_source(&s), lab::PHONE_WIFI_V4, "{s:?}");
            lab::PHONE_WIFI_V4.to_owned()
        } else {
            phone_v6_source(&s)
        };
        for (host, r) in [("board", board.finish(T)), ("pc", pc.finish(T))] {
            assert_eq!(r.code(), 0, "{host}, {group}: {r:?}");
            let got = lines_from(&r, &src);
            assert_eq!(got.len(), 3, "{host}, {group}, from {src}: {r:?}");
            assert!(
                got.iter().all(|l| l.ends_with(" 11 bytes: hello world")),
                "{host}: {r:?}"
            );
        }
    }
}

#[test]
fn mobile_data_reaches_only_the_cell() {
    let Some(lab) = lab_with(&[]) else { return };
    let quiet = ["recv", "-c", "1", "--timeout", quiet_timeout()];
    let mut board = Running::start(lab.mcast("board", &quiet));
    let mut pc = Running::start(lab.mcast("pc", &quiet));
    let mut cell = Running::start(lab.mcast("cell", &["recv", "-c", "3", "--timeout", "20s"]));
    board.wait_ready();
    pc.wait_ready();
    cell.wait_ready();
    lab.wait_member("port-board", GROUP4);
    lab.wait_member("port-pc", GROUP4);
    send(
        &lab,
        "phone",
        &[
            "send",
            "-i",
            "rmnet_data0",
            "-c",
            "3",
            "--interval",
            "100ms",
        ],
    );
    let cell = cell.finish(T);
    assert_eq!(cell.code(), 0, "{cell:?}");
    assert_eq!(lines_from(&cell, lab::PHONE_CELL_V4).len(), 3, "{cell:?}");
    assert_nothing_arrived(&board.finish(T), "board, phone on mobile data");
    assert_nothing_arrived(&pc.finish(T), "pc, phone on mobile data");
}

// ---------------------------------------------------------------------------
// 2. On the wire.

#[test]
fn wire_group_mac_ttl_and_source() {
    let Some(lab) = lab_with(&["tcpdump", "tshark"]) else {
        return;
    };
    // br0 sees every frame entering the bridge, whether anyone joined or not.
    let mut cap = lab.capture("ap", "br0", "udp port 54321");
    send(
        &lab,
        "phone",
        &[
            "send",
            "-c",
            "2",
            "--interval",
            "100ms",
            "-m",
            "ttl-default",
        ],
    );
    let s = send(
        &lab,
        "phone",
        &[
            "--json",
            "send",
            "-c",
            "2",
            "--interval",
            "100ms",
            "--ttl",
            "3",
            "-m",
            "ttl-3",
        ],
    );
    assert!(s.stdout.contains(r#""ttl":3"#), "{s:?}");
    let s6 = send(
        &lab,
        "phone",
        &[
            "--json",
            "send",
            GROUP6_ARG,
            "-c",
            "2",
            "--interval",
            "100ms",
            "--ttl",
            "3",
        ],
    );
    let src6 = phone_v6_source(&s6);

    let v4 = cap.fields(
        "ip && udp.dstport == 54321",
        &["eth.dst", "eth.src", "ip.src", "ip.dst", "ip.ttl"],
    );
    let want = |ttl: &str| {
        vec![
            "01:00:5e:4a:14:1e".to_owned(),
            lab::PHONE_WIFI_MAC.to_owned(),
            lab::PHONE_WIFI_V4.to_owned(),
            GROUP4.to_owned(),
            ttl.to_owned(),
        ]
    };
    assert_eq!(
        v4,
        vec![want("1"), want("1"), want("3"), want("3")],
        "the default group's frames: MAC, source, TTL 1 then --ttl 3"
    );
    let v6 = cap.fields(
        "ipv6 && udp.dstport == 54321",
        &["eth.dst", "ipv6.src", "ipv6.dst", "ipv6.hlim"],
    );
    let want6 = vec![
        "33:33:4a:14:00:1e".to_owned(),
        src6.clone(),
        GROUP6.to_owned(),
        "3".to_owned(),
    ];
    assert_eq!(v6, vec![want6.clone(), want6], "IPv6 frames");
}

/// A receiver in the phone joined on `iface` (wlan0 or rmnet_data0): its
/// join and its leave (count reached) go out that interface and nowhere
/// else. IPv4 (IGMPv3) and IPv6 (MLDv2).
fn join_and_leave_on(iface: &str, v6: bool) {
    let Some(lab) = lab_with(&["tcpdump", "tshark"]) else {
        return;
    };
    let (group, group_arg) = if v6 {
        (GROUP6, GROUP6_ARG)
    } else {
        (GROUP4, GROUP4)
    };
    let wifi = iface == "wlan0";
    let at_wifi = lab.capture("ap", "port-phone", GROUP_MGMT);
    let at_cell = lab.capture("cell", "rmnet0", GROUP_MGMT);

    let r = receiver(
        &lab,
        "phone",
        &[
            "recv",
            group_arg,
            "-i",
            iface,
            "-c",
            "1",
            "--timeout",
            "20s",
        ],
    );
    // Something to receive, from the other end of that link.
    let (peer, peer_if) = if wifi {
        ("board", "wlan0")
    } else {
        ("cell", "rmnet0")
    };
    if wifi {
        lab.wait_member("port-phone", group);
    } else {
        // The kernel sends the join report a few ms after the join (a
        // timer). A leave before that cancels it: the group's state never
        // changed as far as the link is concerned, and no join is reported.
        // The cell has no snooping bridge to ask, so give it time.
        std::thread::sleep(Duration::from_millis(300));
    }
    send(
        &lab,
        peer,
        &["send", group_arg, "-i", peer_if, "-c", "1", "-m", "once"],
    );
    let r = r.finish(T);
    assert_eq!(r.code(), 0, "{r:?}");
    assert!(r.stdout.contains("once"), "{r:?}");
    assert!(
        r.stderr.contains(&format!("left {group} on {iface}")),
        "{r:?}"
    );
    // The leave is sent at once; give it a moment to cross the link.
    std::thread::sleep(Duration::from_millis(300));

    let (mut on, mut off) = if wifi {
        (at_wifi, at_cell)
    } else {
        (at_cell, at_wifi)
    };
    // The phone's address on that link (MLD reports come from the
    // link-local address).
    let phone_src = match (wifi, v6) {
        (true, false) => lab::PHONE_WIFI_V4,
        (false, false) => lab::PHONE_CELL_V4,
        (true, true) => PHONE_WIFI_LL,
        (false, true) => PHONE_CELL_LL,
    };
    let recs = records(&mut on, v6);
    let ours: Vec<&String> = recs
        .iter()
        .filter(|(s, g, _)| s == phone_src && g == group)
        .map(|(_, _, t)| t)
        .collect();
    // Record types (RFC 3376 / 3810): 4 CHANGE_TO_EXCLUDE = join,
    // 3 CHANGE_TO_INCLUDE = leave (6 BLOCK_OLD_SOURCES for SSM).
    assert!(
        ours.iter().any(|t| *t == "4"),
        "no join of {group} on {iface}: {recs:?}"
    );
    assert!(
        ours.iter().any(|t| *t == "3" || *t == "6"),
        "no leave of {group} on {iface}: {recs:?}"
    );
    // The join comes before the leave.
    let first_join = ours.iter().position(|t| *t == "4").unwrap();
    let last_leave = ours.iter().rposition(|t| *t == "3" || *t == "6").unwrap();
    assert!(first_join < last_leave, "{recs:?}");
    let elsewhere = mentions(&mut off, group);
    assert_eq!(
        elsewhere, 0,
        "joined on {iface}, yet IGMP/MLD about {group} went out the other link"
    );
}

#[test]
fn igmp_join_and_leave_only_on_wlan0() {
    join_and_leave_on("wlan0", false);
}

#[test]
fn igmp_join_and_leave_only_on_mobile_data() {
    join_and_leave_on("rmnet_data0", false);
}

#[test]
fn mld_join_and_leave_only_on_wlan0() {
    join_and_leave_on("wlan0", true);
}

#[test]
fn mld_join_and_leave_only_on_mobile_data() {
    join_and_leave_on("rmnet_data0", true);
}

/// Ctrl-C: the receiver leaves (IGMPv3 / MLDv2 change-to-include), prints
/// its summary and exits 130.
#[test]
fn sigint_sends_a_leave() {
    let Some(lab) = lab_with(&["tcpdump", "tshark"]) else {
        return;
    };
    let mut cap = lab.capture("ap", "port-board", GROUP_MGMT);
    for (group, group_arg) in [(GROUP4, GROUP4), (GROUP6, GROUP6_ARG)] {
        let r = receiver(&lab, "board", &["recv", group_arg, "-c", "0"]);
        lab.wait_member("port-board", group);
        r.signal("INT");
        let r = r.finish(T);
        assert_eq!(r.code(), 130, "{r:?}");
        assert!(
            r.stderr.contains(&format!("left {group} on wlan0")),
            "{r:?}"
        );
        assert!(r.stdout.contains("received 0 packets"), "{r:?}");
    }
    std::thread::sleep(Duration::from_millis(300));
    for (v6, group, src) in [(false, GROUP4, lab::BOARD_V4), (true, GROUP6, BOARD_LL)] {
        let recs = records(&mut cap, v6);
        let leaves = recs
            .iter()
            .filter(|(s, g, t)| s == src && g == group && (t == "3" || t == "6"))
            .count();
        assert!(leaves >= 1, "no leave of {group} from {src}: {recs:?}");
    }
}

/// Waits until board's kernel follows the ap's older queries: IGMPv2
/// (`/proc/net/igmp` says V2 for wlan0) and MLDv1 (an MLDv1 query, 24
/// bytes after an 8-byte hop-by-hop header, has just arrived).
fn wait_old_versions(lab: &Lab) {
    lab::wait_for("board in IGMPv2 mode", Duration::from_secs(5), || {
        let igmp = lab.sh("board", "cat /proc/net/igmp");
        igmp.lines()
            .any(|l| l.contains("wlan0") && l.trim_end().ends_with("V2"))
            .then_some(())
    });
    let out = lab.sh_output(
        "board",
        "timeout 5 tcpdump -n -c 1 -i wlan0 \
         'ip6[6] == 0 and ip6[40] == 58 and ip6[48] == 130 and ip6[4:2] == 32'",
    );
    assert!(
        out.status.success(),
        "no MLDv1 query reached board: {out:?}"
    );
    std::thread::sleep(Duration::from_millis(100));
}

/// With IGMPv2 / MLDv1 queriers, the leave is an IGMPv2 leave (0x17) or an
/// MLDv1 done (132): on count reached, and on Ctrl-C.
#[test]
fn old_versions_leave_with_igmpv2_leave_and_mldv1_done() {
    let Some(lab) = lab_with(&["tcpdump", "tshark"]) else {
        return;
    };
    lab.switch("igmp-version", "2");
    lab.switch("mld-version", "1");
    wait_old_versions(&lab);
    let mut cap = lab.capture("ap", "port-board", GROUP_MGMT);
    for (group, group_arg) in [(GROUP4, GROUP4), (GROUP6, GROUP6_ARG)] {
        // Count reached.
        let r = receiver(
            &lab,
            "board",
            &["recv", group_arg, "-c", "1", "--timeout", "20s"],
        );
        lab.wait_member("port-board", group);
        send(&lab, "phone", &["send", group_arg, "-c", "1"]);
        let r = r.finish(T);
        assert_eq!(r.code(), 0, "{r:?}");
        wait_not_member(&lab, "port-board", group);
        // Ctrl-C.
        let r = receiver(&lab, "board", &["recv", group_arg, "-c", "0"]);
        lab.wait_member("port-board", group);
        r.signal("INT");
        let r = r.finish(T);
        assert_eq!(r.code(), 130, "{r:?}");
    }
    std::thread::sleep(Duration::from_millis(300));
    let v2 = cap.fields(
        &format!("igmp.maddr == {GROUP4} && ip.src == {}", lab::BOARD_V4),
        &["igmp.type"],
    );
    let types: Vec<&str> = v2.iter().map(|r| r[0].as_str()).collect();
    assert!(types.contains(&"0x16"), "no IGMPv2 report: {types:?}");
    assert!(
        types.iter().filter(|t| **t == "0x17").count() >= 2,
        "one IGMPv2 leave per receiver: {types:?}"
    );
    assert!(
        !types.contains(&"0x22"),
        "IGMPv3 despite the v2 querier: {types:?}"
    );
    let v1 = cap.fields(
        &format!("icmpv6.mld.multicast_address == {GROUP6} && ipv6.src == {BOARD_LL}"),
        &["icmpv6.type"],
    );
    let types: Vec<&str> = v1.iter().map(|r| r[0].as_str()).collect();
    assert!(types.contains(&"131"), "no MLDv1 report: {types:?}");
    assert!(
        types.iter().filter(|t| **t == "132").count() >= 2,
        "one MLDv1 done per receiver: {types:?}"
    );
}

// ---------------------------------------------------------------------------
// 3. IGMP snooping.

#[test]
fn snooping_sends_the_group_to_pc_only_while_joined() {
    let Some(lab) = lab_with(&["tcpdump", "tshark"]) else {
        return;
    };
    let board = receiver(&lab, "board", &["--json", "recv", "-c", "0"]);
    let pc = receiver(&lab, "pc", &["recv", "-c", "3", "--timeout", "20s"]);
    lab.wait_member("port-board", GROUP4);
    lab.wait_member("port-pc", GROUP4);
    // The phone keeps sending (bounded: 80 × 100 ms; stopped below).
    let phone = Running::start(lab.mcast(
        "phone",
        &["send", "-c", "80", "--interval", "100ms", "-m", "stream"],
    ));
    let started = Instant::now();
    let pc = pc.finish(T);
    assert_eq!(pc.code(), 0, "pc, joined, gets the group: {pc:?}");
    assert_eq!(lines_from(&pc, lab::PHONE_WIFI_V4).len(), 3, "{pc:?}");
    // pc has left: the bridge stops forwarding the group to it.
    wait_not_member(&lab, "port-pc", GROUP4);
    lab.wait_member("port-board", GROUP4);
    let mut at_pc = lab.capture("pc", "wlan0", "udp port 54321");
    let mut at_board = lab.capture("ap", "port-board", "udp port 54321");
    std::thread::sleep(Duration::from_millis(1000));
    at_pc.stop();
    at_board.stop();
    assert!(
        started.elapsed() < Duration::from_secs(7),
        "the window must fall within the phone's 8 s of sending"
    );
    let to_board = at_board.count("");
    assert!(
        to_board >= 5,
        "the phone kept sending and board, still joined, got it ({to_board} in 1 s)"
    );
    assert_eq!(
        at_pc.count(""),
        0,
        "pc left the group, yet the bridge still sends it there"
    );
    phone.signal("INT");
    let phone = phone.finish(T);
    assert_eq!(phone.code(), 130, "{phone:?}");
    // Let board read the last datagram before it is stopped.
    std::thread::sleep(Duration::from_millis(300));
    board.signal("INT");
    let board = board.finish(T);
    assert_eq!(board.code(), 130, "{board:?}");
    let sent = phone.stdout.matches("Message sent").count();
    let got = board.stdout.matches(r#""text":"stream""#).count();
    // board was joined throughout: it got every datagram the phone sent.
    assert_eq!(got, sent, "board: {board:?}\nphone: {phone:?}");
}

// ---------------------------------------------------------------------------
// 4. Isolation, firewall, loss, mcast-to-unicast.

/// With `switch` on, a board receiver gets nothing from the phone and says
/// what is likely wrong.
fn nothing_with(lab: &Lab, switch: &str, value: &str) {
    lab.switch(switch, value);
    let r = receiver(
        lab,
        "board",
        &["recv", "-c", "1", "--timeout", quiet_timeout()],
    );
    lab.wait_member("port-board", GROUP4);
    send(lab, "phone", &["send", "-c", "3", "--interval", "100ms"]);
    assert_nothing_arrived(&r.finish(T), &format!("{switch} {value}"));
}

#[test]
fn client_isolation_leaves_the_receiver_with_nothing() {
    let Some(lab) = lab_with(&[]) else { return };
    nothing_with(&lab, "isolate", "on");
}

#[test]
fn firewall_leaves_the_receiver_with_nothing() {
    let Some(lab) = lab_with(&["nft"]) else {
        return;
    };
    nothing_with(&lab, "firewall", "on");
}

#[test]
fn total_loss_leaves_the_receiver_with_nothing() {
    let Some(lab) = lab_with(&["nft"]) else {
        return;
    };
    nothing_with(&lab, "loss", "100");
    // And it comes back once the loss is gone.
    lab.switch("loss", "off");
    let r = receiver(&lab, "board", &["recv", "-c", "2", "--timeout", "20s"]);
    lab.wait_member("port-board", GROUP4);
    send(&lab, "phone", &["send", "-c", "2", "--interval", "100ms"]);
    let r = r.finish(T);
    assert_eq!(r.code(), 0, "{r:?}");
}

#[test]
fn mcast_to_unicast_still_delivers() {
    let Some(lab) = lab_with(&["tcpdump", "tshark"]) else {
        return;
    };
    lab.switch("mcast-to-unicast", "on");
    let mut at_board = lab.capture("ap", "port-board", "udp port 54321");
    let r = receiver(&lab, "board", &["recv", "-c", "2", "--timeout", "20s"]);
    lab.wait_member("port-board", GROUP4);
    send(&lab, "phone", &["send", "-c", "2", "--interval", "100ms"]);
    let r = r.finish(T);
    assert_eq!(r.code(), 0, "{r:?}");
    assert_eq!(lines_from(&r, lab::PHONE_WIFI_V4).len(), 2, "{r:?}");
    let rows = at_board.fields("", &["eth.dst", "ip.dst"]);
    assert_eq!(
        rows,
        vec![vec![lab::BOARD_MAC.to_owned(), GROUP4.to_owned()]; 2],
        "the ap delivered the group as unicast frames"
    );
}
