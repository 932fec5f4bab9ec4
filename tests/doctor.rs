//! `mcast doctor` in the lab of `scripts/lab.sh`: one test per condition
//! the doctor must name, each asserting the check (name and status in the
//! `--json` output, key words of its detail and fix) and the exit code, and
//! where the fix is a command, that running it really fixes the condition.
//! A healthy lab passes with exit code 0.
//!
//! Every mcast runs through `Lab::mcast` / `Netns::mcast`, so
//! `MCAST_BIN`/`MCAST_RUNNER` apply: under qemu-user the doctor's local loop
//! test reports the fallback mechanisms (`ip_mreq`, `bound-source`) and still
//! passes.
//!
//! Run: `cargo test --test doctor -- --test-threads=2` (as root; without
//! root they skip, or fail under `MCAST_TEST_STRICT=1`).

mod common;
#[path = "common/lab.rs"]
mod lab;

use std::time::Duration;

use common::json::{self, Value as Json};
use common::{run_limited, Finished, Netns, Running};
use lab::{lab_with, Lab};

/// Upper bound for one doctor run (normally 1 to 3 s).
const T: Duration = Duration::from_secs(60);

/// One `check` object of the doctor's JSON output.
#[derive(Debug, Clone)]
struct Check {
    status: String,
    detail: String,
    fix: Option<String>,
}

/// The doctor's `--json` output, parsed just enough.
#[derive(Debug)]
struct Report {
    out: Finished,
}

/// The string value of `key` in `v`, `None` when absent or null.
fn json_str(v: &Json, key: &str) -> Option<String> {
    v.get(key).and_then(Json::as_str).map(str::to_owned)
}

impl Report {
    fn code(&self) -> i32 {
        self.out.code()
    }

    /// The check called `name`; fails the test if it is missing.
    fn check(&self, name: &str) -> Check {
        let check = self
            .checks()
            .into_iter()
            .find(|c| json_str(c, "name").as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no {name} check in {:#?}", self.out));
        Check {
            status: json_str(&check, "status").expect("status"),
            detail: json_str(&check, "detail").expect("detail"),
            fix: json_str(&check, "fix"),
        }
    }

    /// The `check` objects, in order.
    fn checks(&self) -> Vec<Json> {
        json::objects_in(&self.out.stdout, "check")
    }

    /// Whether a check called `name` was reported.
    fn has(&self, name: &str) -> bool {
        self.checks()
            .iter()
            .any(|c| json_str(c, "name").as_deref() == Some(name))
    }

    /// The names of the checks with `status`.
    fn with_status(&self, status: &str) -> Vec<String> {
        self.checks()
            .iter()
            .filter(|c| json_str(c, "status").as_deref() == Some(status))
            .filter_map(|c| json_str(c, "name"))
            .collect()
    }

    /// Asserts that exactly the checks `names` failed, that the summary
    /// counts them, and the exit code that goes with it.
    fn assert_failed(&self, names: &[&str]) {
        assert_eq!(self.with_status("fail"), names, "{:#?}", self.out);
        let summary = self
            .out
            .stdout
            .lines()
            .last()
            .unwrap_or_else(|| panic!("no output: {:#?}", self.out));
        assert!(
            summary.starts_with(r#"{"type":"summary","role":"doctor","pass":"#)
                && summary.ends_with(&format!(r#","fail":{}}}"#, names.len())),
            "{summary}"
        );
        assert_eq!(
            self.code(),
            if names.is_empty() { 0 } else { 1 },
            "{:#?}",
            self.out
        );
        if !names.is_empty() {
            assert!(
                self.out
                    .stderr
                    .contains(&format!("failed: {}", names.join(", "))),
                "{:#?}",
                self.out
            );
        }
    }
}

/// `mcast --json doctor ARGS…` in `host`.
fn doctor(lab: &Lab, host: &str, args: &[&str]) -> Report {
    let mut full = vec!["--json", "doctor"];
    full.extend_from_slice(args);
    Report {
        out: run_limited(lab.mcast(host, &full), T),
    }
}

/// Asserts that `hay` contains every one of `needles`.
fn has_all(what: &str, hay: &str, needles: &[&str]) {
    for n in needles {
        assert!(hay.contains(n), "{what} lacks {n:?}: {hay}");
    }
}

/// Starts `mcast recv --echo ARGS…` in `host` and waits until it listens.
fn echo(lab: &Lab, host: &str, args: &[&str]) -> Running {
    let mut full = vec!["recv", "--echo", "-c", "0"];
    full.extend_from_slice(args);
    let mut r = Running::start(lab.mcast(host, &full));
    r.wait_stderr("answering unicast probes", Duration::from_secs(20));
    r
}

/// `TcpExt: IPReversePathFilter` of /proc/net/netstat in `host`: packets
/// the kernel dropped for failing the reverse-path check.
fn rp_drops(lab: &Lab, host: &str) -> u64 {
    let text = lab.sh(host, "cat /proc/net/netstat");
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "IPReversePathFilter")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("no IPReversePathFilter in {text}"))
}

// ---------------------------------------------------------------------------

#[test]
fn healthy_lab_passes_and_nothing_leaves_the_host_in_the_loop_test() {
    let Some(lab) = lab_with(&["tcpdump", "tshark"]) else {
        return;
    };
    let board = echo(&lab, "board", &[]);
    let r = doctor(&lab, "phone", &["--peer", lab::BOARD_V4]);
    r.assert_failed(&[]);
    let iface = r.check("interface");
    assert_eq!(iface.status, "pass", "{iface:?}");
    has_all(
        "interface",
        &iface.detail,
        &["wlan0", "chosen automatically"],
    );
    // The phone's default route is its mobile data: a warning, not a failure.
    let route = r.check("route");
    assert_eq!(route.status, "warn", "{route:?}");
    has_all("route", &route.detail, &["rmnet_data0", "mcast pins wlan0"]);
    assert_eq!(
        route.fix.as_deref(),
        Some("ip route add 224.0.0.0/4 dev wlan0")
    );
    for name in ["rp_filter", "kernel", "firewall", "local", "peer"] {
        assert_eq!(r.check(name).status, "pass", "{name}: {:#?}", r.out);
    }
    has_all(
        "peer",
        &r.check("peer").detail,
        &[
            lab::BOARD_V4,
            "multicast to 239.74.20.30:54321: 3/3 answered",
            "unicast to 198.18.1.20:54321: 3/3 answered",
        ],
    );
    let local = r.check("local").detail;
    has_all(
        "local",
        &local,
        &[
            "joined 239.74.20.30 on wlan0",
            "3 of 3 probes",
            "TTL 0",
            "/proc/net/igmp",
        ],
    );
    if common::mcast_runner().is_empty() {
        has_all("local", &local, &["ip_mreqn", "MULTICAST_IF"]);
    } else {
        // qemu-user lacks ip_mreqn and IP_MULTICAST_IF: the fallbacks work.
        has_all("local", &local, &["ip_mreq", "bound-source", "fallbacks"]);
    }
    assert!(
        !r.has("wifi-lock") && !r.has("selinux"),
        "not Android: {:#?}",
        r.out
    );
    drop(board);

    // The text form, while a capture on the phone's Wi-Fi shows that the
    // loop test's TTL-0 probes never leave the host.
    let mut cap = lab.capture("phone", "wlan0", "udp and dst host 239.74.20.30");
    let text = run_limited(lab.mcast("phone", &["doctor", "-i", "wlan0"]), T);
    assert_eq!(text.code(), 0, "{text:?}");
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(lines.len(), 7, "{text:?}");
    assert!(
        lines[0].starts_with("PASS  interface  wlan0 (index "),
        "{text:?}"
    );
    assert!(
        lines[1].starts_with("WARN  route      ")
            && lines[1].contains("; fix: ip route add 224.0.0.0/4 dev wlan0"),
        "{text:?}"
    );
    assert!(lines[5].starts_with("PASS  local      "), "{text:?}");
    assert_eq!(
        lines[6], "doctor: 5 passed, 1 warning, 0 failed",
        "{text:?}"
    );
    assert!(
        text.stderr.contains("checking 239.74.20.30:54321 on wlan0"),
        "{text:?}"
    );
    assert_eq!(
        cap.count(""),
        0,
        "a TTL-0 probe left the phone: {:?}",
        cap.log()
    );
}

#[test]
fn an_interface_with_multicast_off_fails() {
    let Some(lab) = lab_with(&[]) else { return };
    lab.sh("phone", "ip link set wlan0 multicast off");
    let r = doctor(&lab, "phone", &["-i", "wlan0"]);
    r.assert_failed(&["interface"]);
    let c = r.check("interface");
    has_all(
        "interface",
        &c.detail,
        &["wlan0", "no MULTICAST flag", "cannot carry IPv4 multicast"],
    );
    assert_eq!(c.fix.as_deref(), Some("ip link set wlan0 multicast on"));

    // Automatic selection then falls to mobile data, and says why.
    let auto = doctor(&lab, "phone", &[]);
    let c = auto.check("interface");
    assert_eq!(c.status, "warn", "{c:?}");
    has_all(
        "interface",
        &c.detail,
        &[
            "rmnet_data0",
            "cellular",
            "wlan0 was not picked",
            "no MULTICAST flag",
        ],
    );
    assert!(
        c.fix
            .as_deref()
            .unwrap_or("")
            .contains("ip link set wlan0 multicast on"),
        "{c:?}"
    );

    // The fix fixes it.
    lab.sh(
        "phone",
        c.fix.as_deref().unwrap().split(',').next().unwrap(),
    );
    let again = doctor(&lab, "phone", &["-i", "wlan0"]);
    again.assert_failed(&[]);
    assert_eq!(again.check("interface").status, "pass");
}

#[test]
fn no_route_for_the_group_fails_and_the_fix_routes_it() {
    let Some(lab) = lab_with(&[]) else { return };
    // The cell tower has connected routes only: no default, no 224.0.0.0/4.
    let r = doctor(&lab, "cell", &[]);
    r.assert_failed(&["route"]);
    let c = r.check("route");
    has_all(
        "route",
        &c.detail,
        &[
            "no route for 239.74.20.30",
            "Network is unreachable",
            "no default route",
        ],
    );
    assert_eq!(
        c.fix.as_deref(),
        Some("ip route add 224.0.0.0/4 dev rmnet0")
    );
    // mcast itself pins the interface, so its loop test still works.
    assert_eq!(r.check("local").status, "pass", "{:#?}", r.out);

    lab.sh("cell", c.fix.as_deref().unwrap());
    let fixed = doctor(&lab, "cell", &[]);
    fixed.assert_failed(&[]);
    let c = fixed.check("route");
    assert_eq!(c.status, "pass", "{c:?}");
    has_all("route", &c.detail, &["routed through rmnet0"]);
}

#[test]
fn the_ipv6_route_fix_really_moves_the_group() {
    let Some(lab) = lab_with(&[]) else { return };
    // The phone's local table sends ff00::/8 to mobile data (metric 100).
    let r = doctor(&lab, "phone", &["[ff05::4a14:1e]:54321"]);
    r.assert_failed(&[]);
    let c = r.check("route");
    assert_eq!(c.status, "warn", "{c:?}");
    has_all(
        "route",
        &c.detail,
        &["ff05::4a14:1e", "rmnet_data0 metric 100"],
    );
    let fix = c.fix.expect("a fix");
    assert_eq!(
        fix,
        "ip -6 route add multicast ff00::/8 dev wlan0 table local metric 99"
    );
    assert_eq!(r.check("rp_filter").status, "pass");
    has_all(
        "local",
        &r.check("local").detail,
        &["/proc/net/igmp6", "hop limit 0", "3 of 3"],
    );
    lab.sh("phone", &fix);
    let fixed = doctor(&lab, "phone", &["[ff05::4a14:1e]:54321"]);
    let c = fixed.check("route");
    assert_eq!(c.status, "pass", "{c:?}");
    has_all("route", &c.detail, &["routed through wlan0"]);
}

#[test]
fn strict_rp_filter_with_an_asymmetric_path_fails() {
    let Some(lab) = lab_with(&[]) else { return };
    // The board answers from 198.18.3.20, an address outside the Wi-Fi
    // subnet: the phone's route back to it is its default route, through
    // rmnet_data0. Strict rp_filter on the phone then drops every answer
    // arriving on wlan0 (the kernel counts them in IPReversePathFilter).
    // Strict rp_filter also drops the board's ARP requests from that source
    // (no counter for those), so the board is told the phone's MAC address:
    // then its answers are IP packets, dropped and counted.
    lab.sh(
        "board",
        &format!(
            "ip addr add 198.18.3.20/24 dev wlan0 && ip route replace 198.18.1.0/24 dev wlan0 src 198.18.3.20 \
             && ip neigh replace {} lladdr {} dev wlan0 nud permanent",
            lab::PHONE_WIFI_V4,
            lab::PHONE_WIFI_MAC
        ),
    );
    lab.sh("phone", "sysctl -qw net.ipv4.conf.all.rp_filter=1");
    let board = echo(&lab, "board", &[]);

    // Without a peer the doctor can only warn.
    let unknown = doctor(&lab, "phone", &[]);
    let c = unknown.check("rp_filter");
    assert_eq!(c.status, "warn", "{c:?}");
    has_all("rp_filter", &c.detail, &["strict", "--peer"]);

    let before = rp_drops(&lab, "phone");
    let r = doctor(&lab, "phone", &["--peer", "198.18.3.20"]);
    let c = r.check("rp_filter");
    assert_eq!(c.status, "fail", "{c:?}");
    has_all(
        "rp_filter",
        &c.detail,
        &[
            "strict",
            "net.ipv4.conf.all.rp_filter = 1",
            "198.18.3.20",
            "route back",
            "rmnet_data0",
            "wlan0",
        ],
    );
    let fix = c.fix.clone().expect("a fix");
    assert!(
        fix.starts_with("sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.wlan0.rp_filter=2"),
        "{fix}"
    );
    // The answers were really dropped by the reverse-path filter.
    assert!(
        rp_drops(&lab, "phone") > before,
        "no reverse-path drops counted"
    );
    // Nothing answered, and the peer check names rp_filter first.
    let p = r.check("peer");
    assert_eq!(p.status, "fail", "{p:?}");
    has_all(
        "peer",
        &p.detail,
        &["strict rp_filter here drops everything from 198.18.3.20"],
    );
    r.assert_failed(&["rp_filter", "peer"]);

    // Loose mode, as the fix says: the multicast answers arrive. (Unicast
    // to 198.18.3.20 still leaves through mobile data: a warning.)
    lab.sh("phone", fix.split(" (loose)").next().unwrap());
    let loose = doctor(&lab, "phone", &["--peer", "198.18.3.20"]);
    assert_eq!(loose.check("rp_filter").status, "pass", "{:#?}", loose.out);
    let p = loose.check("peer");
    assert_eq!(p.status, "warn", "{p:?}");
    has_all("peer", &p.detail, &["multicast works", "rmnet_data0"]);
    loose.assert_failed(&[]);
    drop(board);
}

#[test]
fn an_nftables_rule_dropping_the_port_fails() {
    let Some(lab) = lab_with(&["nft"]) else {
        return;
    };
    lab.sh(
        "phone",
        "nft add table inet f && nft add chain inet f in '{ type filter hook input priority 0; }' \
         && nft add rule inet f in udp dport 54321 drop",
    );
    let r = doctor(&lab, "phone", &[]);
    let c = r.check("firewall");
    assert_eq!(c.status, "fail", "{c:?}");
    has_all(
        "firewall",
        &c.detail,
        &[
            "table inet f chain in (hook input)",
            "`udp dport 54321 drop`",
            "UDP port 54321",
        ],
    );
    let fix = c.fix.expect("a fix");
    assert!(
        fix.starts_with("nft delete rule inet f in handle "),
        "{fix}"
    );
    // The rule drops the loop test's own probes too, and the doctor says why.
    let local = r.check("local");
    assert_eq!(local.status, "fail", "{local:?}");
    has_all("local", &local.detail, &["none of 3 probes", "firewall"]);
    r.assert_failed(&["firewall", "local"]);

    lab.sh("phone", &fix);
    let fixed = doctor(&lab, "phone", &[]);
    fixed.assert_failed(&[]);
    has_all(
        "firewall",
        &fixed.check("firewall").detail,
        &["no rule drops UDP port 54321", "nftables (0 rules)"],
    );
}

#[test]
fn client_isolation_fails_the_peer_check() {
    let Some(lab) = lab_with(&[]) else { return };
    let board = echo(&lab, "board", &[]);
    lab.switch("isolate", "on");
    let r = doctor(&lab, "phone", &["--peer", lab::BOARD_V4]);
    r.assert_failed(&["peer"]);
    let c = r.check("peer");
    has_all(
        "peer",
        &c.detail,
        &[
            "neither by multicast nor by unicast",
            "never answered ARP",
            "client (AP) isolation",
        ],
    );
    assert!(
        c.fix.as_deref().unwrap_or("").contains("isolation off"),
        "{c:?}"
    );
    // Everything on the phone itself is fine.
    assert_eq!(r.check("local").status, "pass");

    lab.switch("isolate", "off");
    let open = doctor(&lab, "phone", &["--peer", lab::BOARD_V4]);
    open.assert_failed(&[]);
    drop(board);
}

#[test]
fn group_joined_on_one_link_while_the_packets_come_on_the_other() {
    let Some(lab) = lab_with(&[]) else { return };
    // The phone's echo is joined on its mobile data link, rmnet_data0, while
    // the board's probes come on its Wi-Fi, wlan0: the access point does not
    // forward the group to a station that never joined it there, and the
    // phone would drop it anyway (joined on the other interface). Its echo
    // answers unicast only at rmnet_data0's address, so the unicast probe
    // to 198.18.1.10 is refused (ICMP port unreachable): the phone is
    // there, but not listening on this link. Deterministic, and exactly the
    // mistake of starting `recv` on the wrong interface.
    let phone = echo(&lab, "phone", &["-i", "rmnet_data0"]);
    let r = doctor(&lab, "board", &["--peer", lab::PHONE_WIFI_V4]);
    r.assert_failed(&["peer"]);
    let c = r.check("peer");
    has_all(
        "peer",
        &c.detail,
        &[
            "no answer to 3 multicast probes",
            "refused",
            "is reachable",
            "joined on another interface",
        ],
    );
    assert!(c.fix.as_deref().unwrap_or("").contains("-i IFACE"), "{c:?}");
    drop(phone);

    // Joined on the right link, the same check passes.
    let phone = echo(&lab, "phone", &["-i", "wlan0"]);
    let ok = doctor(&lab, "board", &["--peer", lab::PHONE_WIFI_V4]);
    ok.assert_failed(&[]);
    assert_eq!(ok.check("peer").status, "pass", "{:#?}", ok.out);
    drop(phone);
}

#[test]
fn multicast_blocked_but_unicast_open_names_the_multicast_suspects() {
    let Some(lab) = lab_with(&["nft"]) else {
        return;
    };
    let board = echo(&lab, "board", &[]);
    // The ap drops multicast data crossing the bridge; unicast passes.
    lab.switch("firewall", "on");
    let r = doctor(&lab, "phone", &["--peer", lab::BOARD_V4]);
    r.assert_failed(&["peer"]);
    has_all(
        "peer",
        &r.check("peer").detail,
        &[
            "unicast works but multicast does not",
            "3/3 answered",
            "IGMP snooping",
            "joined on another interface",
        ],
    );
    drop(board);
}

#[test]
fn bad_input_exits_2() {
    if !common::can_netns() {
        return;
    }
    let ns = Netns::new("dr");
    for (args, needle) in [
        (
            &["doctor", "-i", "nosuch0"][..],
            "unknown interface 'nosuch0'",
        ),
        (&["doctor", "10.1.2.3"][..], "is not a multicast group"),
        (
            &["doctor", "-i", "lo", "--peer", "::1"][..],
            "different address families",
        ),
        (
            &["doctor", "-i", "lo", "--peer", "239.1.1.1"][..],
            "must be the unicast address",
        ),
    ] {
        let out = run_limited(ns.mcast(args), T);
        assert_eq!(out.code(), 2, "{args:?}: {out:?}");
        assert!(out.stderr.contains(needle), "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
    }
    // Loopback, named: the loop test works there too.
    let out = run_limited(ns.mcast(&["--json", "doctor", "-i", "lo"]), T);
    assert!(
        out.stdout.contains(r#""name":"local","status":"pass""#),
        "{out:?}"
    );
}
