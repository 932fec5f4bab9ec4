//! mcast with real peers in the lab (issue 3, item 5): iperf 2 as a
//! multicast sender, socat as a receiver and as a sender, over IPv4 and
//! IPv6. The peers run in the lab's namespaces like mcast does, so nothing
//! leaves this machine.
//!
//! Peers (Debian 12): iperf 2.1.8, socat 1.7.4.
//! - iperf 2 sends IPv4 multicast from a bound source (`-B`), which Linux
//!   routes out the interface owning it. For IPv6 it has no way to choose
//!   the interface: `-c GROUP%dev` is ignored on the client side (and `-B
//!   ADDR%dev` is refused: "Client cannot set bind device"), it sets no
//!   IPV6_MULTICAST_IF, and a link-local group (ff02) fails with "udp
//!   connect failed: Invalid argument" for want of a scope id. So its IPv6
//!   variant sends ff05 from the board, whose only interface is wlan0
//!   (from the phone it would follow the default route to rmnet_data0),
//!   and there is no ff02 variant for it.
//! - socat 1.7.4 joins IPv6 groups (`ipv6-join-group=[G]:IFACE`) and sends
//!   to `[ff02::…%wlan0]`; it has no IPV6_MULTICAST_IF option (its
//!   `ip-multicast-if` takes an IPv4 address), so its ff05 sender is pinned
//!   with `so-bindtodevice=wlan0`.
//!
//! Run: `cargo test --test interop -- --test-threads=2` (as root).

mod common;
#[path = "common/lab.rs"]
mod lab;

use std::process::{Child, Stdio};
use std::time::Duration;

use common::{Finished, Running};
use lab::{lab_with, Lab, GROUP4, GROUP6, GROUP6_ARG, LL_GROUP6, LL_GROUP6_ARG, PHONE_WIFI_LL};

const T: Duration = Duration::from_secs(30);

fn receiver(lab: &Lab, host: &str, args: &[&str]) -> Running {
    lab.receiver(host, args)
}

/// Runs `mcast ARGS` in `host` to completion and checks it succeeded.
fn send(lab: &Lab, host: &str, args: &[&str]) -> Finished {
    lab.send_ok(host, args, T)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The `"hex"` payloads of the `message` lines of `mcast --json recv`.
fn payloads(r: &Finished) -> Vec<Vec<u8>> {
    r.stdout
        .lines()
        .filter(|l| l.starts_with(r#"{"type":"message""#))
        .map(|l| {
            let hex = l
                .split(r#""hex":""#)
                .nth(1)
                .and_then(|h| h.split('"').next())
                .unwrap_or_else(|| panic!("no hex in {l}"));
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect()
        })
        .collect()
}

/// iperf 2's `[  1] Sent N datagrams`.
fn iperf_sent(out: &str) -> usize {
    out.lines()
        .find_map(|l| {
            let rest = l.split("Sent ").nth(1)?;
            rest.strip_suffix(" datagrams")?.trim().parse().ok()
        })
        .unwrap_or_else(|| panic!("no 'Sent N datagrams' in iperf's output: {out}"))
}

/// iperf 2 as the sender, `mcast --json recv -c 0` as the receiver.
///
/// What iperf 2.1.8 does (seen on the wire and with strace): it writes D
/// datagrams whose first 4 bytes are the packet id 1, 2, …, D (big
/// endian), then one final datagram (the "FIN") with id -(D+1). To a
/// multicast group it sends that FIN once (for unicast it repeats it until
/// the server's report comes back; a group sends no report). It then
/// reports "Sent N datagrams" with N = D + 2, one more than it wrote (N is
/// the FIN's |id| + 1). So, exactly: mcast receives N - 1 datagrams (the D
/// data datagrams in order, then the FIN), which is also what crossed the
/// access point to the receiver's station.
fn iperf_to_mcast(v6: bool) {
    let Some(lab) = lab_with(&["iperf", "tcpdump", "tshark"]) else {
        return;
    };
    // IPv6 from the board (see the module's doc), IPv4 from the phone.
    let (tx, rx, port, group, group_arg, iperf_args, source) = if v6 {
        (
            "board",
            "pc",
            "port-pc",
            GROUP6,
            GROUP6_ARG,
            vec!["-c", GROUP6, "-V", "-B", lab::BOARD_V6],
            format!("\"[{}]:", lab::BOARD_V6),
        )
    } else {
        (
            "phone",
            "board",
            "port-board",
            GROUP4,
            GROUP4,
            vec!["-c", GROUP4, "-B", lab::PHONE_WIFI_V4],
            format!("\"{}:", lab::PHONE_WIFI_V4),
        )
    };
    let mut wire = lab.capture("ap", port, "udp port 54321");
    let r = receiver(&lab, rx, &["--json", "recv", group_arg, "-c", "0"]);
    lab.wait_member(port, group);
    // 20 datagrams of 100 bytes at 100 per second: 0.2 s.
    let mut cmd = vec!["iperf"];
    cmd.extend(iperf_args);
    cmd.extend([
        "-u", "-p", "54321", "-T", "1", "-l", "100", "-b", "100pps", "-n", "2000",
    ]);
    let out = lab::run_bounded(lab.exec(tx, &cmd), T);
    let out_text = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{cmd:?}: {out_text}");
    let n = iperf_sent(&out_text);
    std::thread::sleep(Duration::from_millis(300));
    r.signal("INT");
    let r = r.finish(T);
    assert_eq!(r.code(), 130, "{r:?}");

    let got = payloads(&r);
    assert!(
        n >= 3,
        "iperf sent too few datagrams to check ({n}): {out_text}"
    );
    assert_eq!(
        got.len(),
        n - 1,
        "iperf 2 reported 'Sent {n} datagrams' (it writes N - 1: N - 2 data, \
         1 FIN); mcast got {}: {r:?}\niperf: {out_text}",
        got.len()
    );
    let ids: Vec<i32> = got
        .iter()
        .map(|p| {
            assert_eq!(p.len(), 100, "an iperf datagram is 100 bytes");
            i32::from_be_bytes([p[0], p[1], p[2], p[3]])
        })
        .collect();
    let d = (n - 2) as i32;
    let mut want: Vec<i32> = (1..=d).collect();
    want.push(-(d + 1));
    assert_eq!(ids, want, "iperf's packet ids as mcast received them");
    let sources = r
        .stdout
        .lines()
        .filter(|l| l.starts_with(r#"{"type":"message""#))
        .filter(|l| l.contains(&format!(r#""source":{source}"#)))
        .count();
    assert_eq!(sources, n - 1, "every datagram from {source}: {r:?}");
    assert!(
        r.stdout
            .contains(&format!(r#""packets":{},"bytes":{}"#, n - 1, 100 * (n - 1))),
        "{r:?}"
    );
    // And that is exactly what reached the receiver's station.
    assert_eq!(wire.count(""), n - 1, "datagrams on {port}");
}

#[test]
fn iperf2_sender_ipv4() {
    iperf_to_mcast(false);
}

#[test]
fn iperf2_sender_ipv6() {
    iperf_to_mcast(true);
}

/// Starts socat in `host` receiving `address` (a UDP4-RECV or UDP6-RECV
/// address with a join) and writing what arrives to its stdout.
fn socat_receiver(lab: &Lab, host: &str, address: &str) -> Child {
    lab.exec(host, &["socat", "-u", address, "STDOUT"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start socat")
}

/// Ends a socat receiver (our child, by its PID) and returns its output.
fn socat_output(mut child: Child) -> (String, String) {
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait for socat");
    (text(&out.stdout), text(&out.stderr))
}

fn mcast_to_socat(group: &str, group_arg: &str, address: &str) {
    let Some(lab) = lab_with(&["socat"]) else {
        return;
    };
    let socat = socat_receiver(&lab, "board", address);
    lab.wait_member("port-board", group);
    send(
        &lab,
        "phone",
        &["send", group_arg, "-c", "3", "--interval", "100ms"],
    );
    std::thread::sleep(Duration::from_millis(200));
    let (out, err) = socat_output(socat);
    // UDP*-RECV writes each datagram as it is, without a separator.
    assert_eq!(
        out, "hello worldhello worldhello world",
        "socat in board, {group}; stderr: {err}"
    );
}

#[test]
fn socat_receives_mcast_ipv4() {
    mcast_to_socat(
        GROUP4,
        GROUP4,
        &format!("UDP4-RECV:54321,ip-add-membership={GROUP4}:wlan0,reuseaddr"),
    );
}

#[test]
fn socat_receives_mcast_ipv6() {
    mcast_to_socat(
        GROUP6,
        GROUP6_ARG,
        &format!("UDP6-RECV:54321,ipv6-join-group=[{GROUP6}]:wlan0,reuseaddr"),
    );
}

#[test]
fn socat_receives_mcast_ipv6_link_local() {
    mcast_to_socat(
        LL_GROUP6,
        LL_GROUP6_ARG,
        &format!("UDP6-RECV:54321,ipv6-join-group=[{LL_GROUP6}]:wlan0,reuseaddr"),
    );
}

/// socat in the phone sends `payload` to `address`; mcast in board gets
/// it, from one of `sources`.
fn socat_to_mcast(group: &str, group_arg: &str, address: &str, sources: &[&str]) {
    let Some(lab) = lab_with(&["socat"]) else {
        return;
    };
    let r = receiver(
        &lab,
        "board",
        &["recv", group_arg, "-c", "2", "--timeout", "20s"],
    );
    lab.wait_member("port-board", group);
    for i in 1..=2 {
        lab.sh(
            "phone",
            &format!("printf 'from socat {i}' | socat -u - '{address}'"),
        );
    }
    let r = r.finish(T);
    assert_eq!(r.code(), 0, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().filter(|l| l.contains("bytes:")).collect();
    assert_eq!(lines.len(), 2, "{r:?}");
    for (i, l) in lines.iter().enumerate() {
        assert!(
            l.ends_with(&format!(" 12 bytes: from socat {}", i + 1)),
            "{l}"
        );
        assert!(
            sources.iter().any(|s| l.contains(s)),
            "{l}: the source must be one of {sources:?}"
        );
    }
}

#[test]
fn socat_sends_to_mcast_ipv4() {
    socat_to_mcast(
        GROUP4,
        GROUP4,
        &format!(
            "UDP4-DATAGRAM:{GROUP4}:54321,ip-multicast-if={},ip-multicast-ttl=1",
            lab::PHONE_WIFI_V4
        ),
        &[&format!(" {}:", lab::PHONE_WIFI_V4)],
    );
}

#[test]
fn socat_sends_to_mcast_ipv6() {
    socat_to_mcast(
        GROUP6,
        GROUP6_ARG,
        &format!(
            "UDP6-DATAGRAM:[{GROUP6}]:54321,so-bindtodevice=wlan0,bind=[{}]",
            lab::PHONE_WIFI_V6
        ),
        &[&format!("[{}]:", lab::PHONE_WIFI_V6)],
    );
}

#[test]
fn socat_sends_to_mcast_ipv6_link_local() {
    // The receiver shows a link-local source with its own scope (index).
    socat_to_mcast(
        LL_GROUP6,
        LL_GROUP6_ARG,
        &format!("UDP6-DATAGRAM:[{LL_GROUP6}%wlan0]:54321"),
        &[&format!("[{PHONE_WIFI_LL}%")],
    );
}
