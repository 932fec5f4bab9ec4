//! Tests of `scripts/lab.sh` itself, through `tests/common/lab.rs`: the
//! topology it builds, its switches, its clean-up, and that its bridge
//! behaves like a snooping Wi-Fi access point. They use socat, tcpdump and
//! tshark rather than mcast, so they check the lab, not the tool.
//!
//! Run: `cargo test --test lab_script -- --test-threads=2` (as root; without
//! root they skip, or fail under `MCAST_TEST_STRICT=1`).

mod common;
#[path = "common/lab.rs"]
mod lab;
#[path = "common/vm.rs"]
mod vm;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use lab::{alive, wait_gone, Lab};

const GROUP: &str = "239.74.20.30";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn lab_namespaces(prefix: &str) -> Vec<String> {
    let p = format!("{prefix}-");
    lab::netns_list()
        .into_iter()
        .filter(|n| n.starts_with(&p))
        .collect()
}

fn pings(lab: &Lab, from: &str, to: &str) -> bool {
    lab.sh_output(from, &format!("ping -c 1 -W 2 {to}"))
        .status
        .success()
}

/// Starts a socat receiver for GROUP:54321 on `host`'s wlan0 and waits
/// until the bridge has learned the membership.
fn join(lab: &Lab, host: &str) -> std::process::Child {
    let child = lab
        .exec(
            host,
            &[
                "socat",
                "-u",
                &format!("UDP4-RECV:54321,ip-add-membership={GROUP}:wlan0,reuseaddr"),
                "STDOUT",
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start socat");
    lab.wait_member(&format!("port-{host}"), GROUP);
    child
}

/// Sends `n` datagrams to GROUP:54321 from the phone's wlan0.
fn send_from_phone(lab: &Lab, n: u32) {
    lab.sh(
        "phone",
        &format!(
            "i=0; while [ $i -lt {n} ]; do echo \"hello $i\" | \
             socat -u - UDP4-DATAGRAM:{GROUP}:54321,ip-multicast-if={}; \
             i=$((i + 1)); sleep 0.05; done",
            lab::PHONE_WIFI_V4
        ),
    );
}

/// Ends a receiver (ours, by its PID) and returns the lines it printed.
fn received(mut child: std::process::Child) -> Vec<String> {
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait for socat");
    text(&out.stdout).lines().map(str::to_owned).collect()
}

#[test]
fn usage_errors_exit_2_and_help_needs_no_root() {
    let run = |args: &[&str]| {
        lab::run_bounded(
            {
                let mut c = std::process::Command::new("bash");
                c.arg(lab::script()).args(args);
                c
            },
            Duration::from_secs(30),
        )
    };
    let help = run(&["--help"]);
    assert!(help.status.success(), "{help:?}");
    for word in [
        "up",
        "down",
        "status",
        "exec",
        "isolate",
        "firewall",
        "loss",
        "mcast-to-unicast",
        "querier",
        "snooping",
        "link",
        "dtim",
        "beacon",
        "mcast-rate",
        "--board",
        "--phone",
        "aarch64",
        "armv7",
    ] {
        assert!(
            text(&help.stdout).contains(word),
            "--help does not mention {word}"
        );
    }
    for args in [
        &["--prefix", "Bad-Name", "status"][..],
        &["--prefix", "waytoolongprefix", "status"],
        &["--prefix", "", "status"],
        &["frobnicate"],
        &[],
        &["--prefix", "x1", "loss", "101"],
        &["--prefix", "x1", "loss", "abc"],
        &["--prefix", "x1", "isolate", "maybe"],
        &["--prefix", "x1", "exec", "router", "true"],
        &["--prefix", "x1", "exec", "board"],
        &["--prefix", "x1", "up", "extra"],
        &["--bogus", "status"],
        &["--prefix", "x1", "up", "--board", "riscv"],
        &["--prefix", "x1", "up", "--phone", "armv7"],
        &["--prefix", "x1", "up", "--board"],
        &["--prefix", "x1", "--board", "aarch64", "status"],
        &["--prefix", "x1", "link"],
        &["--prefix", "x1", "link", "router", "down"],
        &["--prefix", "x1", "link", "board", "sideways"],
        &["--prefix", "x1", "dtim"],
        &["--prefix", "x1", "dtim", "0"],
        &["--prefix", "x1", "dtim", "256"],
        &["--prefix", "x1", "dtim", "two"],
        &["--prefix", "x1", "dtim", "2", "beacon"],
        &["--prefix", "x1", "dtim", "2", "beacon", "0"],
        &["--prefix", "x1", "dtim", "2", "beacon", "fast"],
        &["--prefix", "x1", "dtim", "2", "interval", "100"],
        &["--prefix", "x1", "dtim", "off", "beacon", "100"],
        &["--prefix", "x1", "mcast-rate"],
        &["--prefix", "x1", "mcast-rate", "fast"],
        &["--prefix", "x1", "mcast-rate", "1X"],
        &["--prefix", "x1", "mcast-rate", "10"],
        &["--prefix", "x1", "mcast-rate", "-1M"],
        &["--prefix", "x1", "mcast-rate", "1M", "2M"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "lab.sh {args:?}: {out:?}");
        assert!(
            !out.stderr.is_empty(),
            "lab.sh {args:?} says nothing on stderr"
        );
    }
}

#[test]
fn up_builds_five_hosts_with_their_addresses() {
    if !common::can_netns() {
        return;
    }
    let lab = Lab::up();
    let mut names = lab_namespaces(lab.prefix());
    names.sort();
    let mut want: Vec<String> = lab::HOSTS.iter().map(|h| lab.ns(h)).collect();
    want.sort();
    assert_eq!(names, want);

    for (host, dev, v4, v6) in [
        ("ap", "br0", lab::AP_V4, lab::AP_V6),
        ("phone", "wlan0", lab::PHONE_WIFI_V4, lab::PHONE_WIFI_V6),
        (
            "phone",
            "rmnet_data0",
            lab::PHONE_CELL_V4,
            lab::PHONE_CELL_V6,
        ),
        ("board", "wlan0", lab::BOARD_V4, lab::BOARD_V6),
        ("pc", "wlan0", lab::PC_V4, lab::PC_V6),
        ("cell", "rmnet0", lab::CELL_V4, lab::CELL_V6),
    ] {
        let out = lab.sh(
            host,
            &format!("ip -o addr show dev {dev}; cat /sys/class/net/{dev}/operstate"),
        );
        assert!(
            out.contains(&format!("inet {v4}/24 ")),
            "{host} {dev}: {out}"
        );
        assert!(
            out.contains(&format!("inet6 {v6}/64 ")),
            "{host} {dev}: {out}"
        );
        assert!(
            out.contains("inet6 fe80::"),
            "{host} {dev} has no link-local address: {out}"
        );
        assert!(!out.contains("tentative"), "{host} {dev}: {out}");
        assert!(
            out.trim_end().ends_with("up"),
            "{host} {dev} is not up: {out}"
        );
    }
    let mac = lab.sh("board", "cat /sys/class/net/wlan0/address");
    assert_eq!(mac.trim(), lab::BOARD_MAC);

    let ports = lab.sh("ap", "ip -o link show master br0");
    for p in ["port-phone", "port-board", "port-pc"] {
        assert!(
            ports.contains(&format!(" {p}@")),
            "{p} is not on br0: {ports}"
        );
    }
    let br = lab.sh("ap", "ip -d link show br0");
    assert!(
        br.contains("mcast_snooping 1") && br.contains("mcast_querier 1"),
        "{br}"
    );

    // The phone's mobile data is its default route, multicast included.
    let r = lab.sh(
        "phone",
        &format!("ip route get {GROUP}; ip -6 route get ff05::4a:141e"),
    );
    assert_eq!(r.matches("dev rmnet_data0").count(), 2, "{r}");
    let r = lab.sh("board", "ip route show default; ip -6 route show default");
    assert!(
        r.contains("via 198.18.1.1 dev wlan0") && r.contains("via fd6d:6361:7374:1::1 dev wlan0"),
        "{r}"
    );
    // Nothing appeared in this machine's own namespace.
    let host_links = text(
        &std::process::Command::new("ip")
            .args(["-o", "link"])
            .output()
            .unwrap()
            .stdout,
    );
    for name in [
        "port-phone",
        "port-board",
        "port-pc",
        "rmnet_data0",
        "rmnet0",
    ] {
        assert!(
            !host_links.contains(&format!(" {name}@"))
                && !host_links.contains(&format!(" {name}:")),
            "{name} leaked: {host_links}"
        );
    }

    let st = lab.status();
    assert!(st.status.success(), "{st:?}");
    let s = text(&st.stdout);
    assert!(s.contains(lab.prefix()), "{s}");
    for line in [
        "isolate           off",
        "firewall          off",
        "loss              off",
        "dtim              off",
        "mcast-rate        off",
        "mcast-to-unicast  off",
        "querier           on",
        "snooping          on",
    ] {
        assert!(s.contains(line), "status lacks {line:?}: {s}");
    }
    assert!(
        s.contains(lab::PHONE_CELL_V4) && s.contains(lab::PC_V6),
        "{s}"
    );
}

#[test]
fn ping_crosses_the_bridge_unless_isolated() {
    if !common::can_netns() || !lab::have(&["ping"]) {
        return;
    }
    let lab = Lab::up();
    assert!(pings(&lab, "board", lab::PC_V4), "board cannot ping pc");
    assert!(
        pings(&lab, "board", lab::PC_V6),
        "board cannot ping pc over IPv6"
    );
    assert!(pings(&lab, "phone", lab::CELL_V4), "phone cannot ping cell");

    assert_eq!(lab.switch("isolate", "on").trim(), "isolate: on");
    assert_eq!(lab.switch("isolate", "on").trim(), "isolate: on");
    assert!(
        !pings(&lab, "board", lab::PC_V4),
        "isolation let board reach pc"
    );
    assert!(
        !pings(&lab, "board", lab::PC_V6),
        "isolation let board reach pc over IPv6"
    );
    assert!(
        pings(&lab, "board", lab::AP_V4),
        "isolation cut board off the ap itself"
    );
    assert!(text(&lab.status().stdout).contains("isolate           on"));

    assert_eq!(lab.switch("isolate", "off").trim(), "isolate: off");
    assert!(
        pings(&lab, "board", lab::PC_V4),
        "board cannot ping pc after isolate off"
    );
    assert!(text(&lab.status().stdout).contains("isolate           off"));
}

#[test]
fn down_removes_everything_and_can_repeat() {
    if !common::can_netns() {
        return;
    }
    let mut lab = Lab::up();
    let prefix = lab.prefix().to_owned();
    assert_eq!(lab_namespaces(&prefix).len(), 5);
    // A process left running inside the lab is ended by `down`.
    let mut sleeper = lab
        .exec("pc", &["sleep", "60"])
        .spawn()
        .expect("start sleep");
    lab.down();
    assert!(
        lab_namespaces(&prefix).is_empty(),
        "{:?}",
        lab_namespaces(&prefix)
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if sleeper.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() >= deadline {
            let _ = sleeper.kill();
            let _ = sleeper.wait();
            panic!("down left a process running in the lab");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Twice is fine, and so is a lab that never existed.
    let again = lab.script(&["down"]);
    assert!(again.status.success(), "{again:?}");
    let st = lab.status();
    assert_eq!(
        st.status.code(),
        Some(1),
        "status of a lab that is down: {st:?}"
    );
    let never = lab::unique_lab_prefix();
    let out = lab::run_bounded(
        {
            let mut c = std::process::Command::new("bash");
            c.arg(lab::script()).args(["--prefix", &never, "down"]);
            c
        },
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "down of a lab that never existed: {out:?}"
    );

    // `up` over an existing lab replaces it.
    let lab2 = Lab::up_with_prefix(&prefix);
    let again = lab2.script(&["up"]);
    assert!(again.status.success(), "{again:?}");
    assert!(
        text(&again.stderr).contains("tearing it down first"),
        "{again:?}"
    );
    assert_eq!(lab_namespaces(&prefix).len(), 5);
    drop(lab2);
    assert!(lab_namespaces(&prefix).is_empty());
}

#[test]
fn two_labs_coexist() {
    if !common::can_netns() {
        return;
    }
    let a = Lab::up();
    let b = Lab::up();
    assert_ne!(a.prefix(), b.prefix());
    assert_eq!(lab_namespaces(a.prefix()).len(), 5);
    assert_eq!(lab_namespaces(b.prefix()).len(), 5);
    assert!(a.status().status.success());
    assert!(b.status().status.success());
    // A switch in one lab does not touch the other.
    a.switch("isolate", "on");
    assert!(text(&a.status().stdout).contains("isolate           on"));
    assert!(text(&b.status().stdout).contains("isolate           off"));
    if lab::on_path("ping") {
        assert!(pings(&b, "board", lab::PC_V4));
        assert!(!pings(&a, "board", lab::PC_V4));
    }
    let b_prefix = b.prefix().to_owned();
    drop(b);
    assert!(lab_namespaces(&b_prefix).is_empty());
    assert!(a.status().status.success(), "taking b down hurt a");
}

#[test]
fn snooping_sends_a_group_only_to_its_members() {
    if !common::can_netns() || !lab::have(&["socat", "tcpdump", "tshark"]) {
        return;
    }
    let lab = Lab::up();
    let mut on_br0 = lab.capture("ap", "br0", "igmp or udp port 54321");
    let started = std::time::Instant::now();
    let mut at_pc = lab.capture("pc", "wlan0", "udp port 54321");
    let board = join(&lab, "board");
    send_from_phone(&lab, 3);
    std::thread::sleep(Duration::from_millis(300));
    // The querier asks once a second: keep capturing long enough to see a
    // query however fast the rest went.
    std::thread::sleep(
        (started + Duration::from_millis(2500))
            .saturating_duration_since(std::time::Instant::now()),
    );
    let got = received(board);
    assert_eq!(got, ["hello 0", "hello 1", "hello 2"]);
    assert_eq!(at_pc.count(""), 0, "pc, which did not join, got the group");

    let data = on_br0.fields(
        "udp.dstport == 54321",
        &["eth.dst", "ip.src", "ip.dst", "ip.ttl"],
    );
    assert_eq!(data.len(), 3, "{data:?}");
    for row in &data {
        assert_eq!(row, &["01:00:5e:4a:14:1e", lab::PHONE_WIFI_V4, GROUP, "1"]);
    }
    let reports = on_br0.fields(
        &format!("igmp.type == 0x22 && ip.src == {}", lab::BOARD_V4),
        &["igmp.maddr", "igmp.record_type"],
    );
    assert!(
        reports
            .iter()
            .any(|r| r[0].contains(GROUP) && r[1].contains('4')),
        "no IGMPv3 join of {GROUP} from board: {reports:?}"
    );
    let queries = on_br0.fields("igmp.type == 0x11", &["ip.src"]);
    assert!(
        queries.iter().any(|r| r[0] == lab::AP_V4),
        "the ap sent no query: {queries:?}"
    );
}

#[test]
fn a_sender_without_an_interface_uses_mobile_data() {
    if !common::can_netns() || !lab::have(&["socat", "tcpdump", "tshark"]) {
        return;
    }
    let lab = Lab::up();
    let mut at_cell = lab.capture("cell", "rmnet0", "udp port 54321");
    let mut on_wifi = lab.capture("ap", "br0", "udp port 54321");
    lab.sh(
        "phone",
        &format!("echo naive | socat -u - UDP4-DATAGRAM:{GROUP}:54321"),
    );
    let rows = at_cell.fields("", &["ip.src", "ip.dst", "eth.dst"]);
    assert_eq!(rows, [[lab::PHONE_CELL_V4, GROUP, "01:00:5e:4a:14:1e"]]);
    assert_eq!(on_wifi.count(""), 0);
}

#[test]
fn switches_are_idempotent_and_take_effect() {
    if !common::can_netns() || !lab::have(&["nft", "socat"]) {
        return;
    }
    let lab = Lab::up();
    let status = || text(&lab.status().stdout);

    // firewall: multicast data stops at the bridge, IGMP still builds state.
    assert_eq!(lab.switch("firewall", "on").trim(), "firewall: on");
    assert_eq!(lab.switch("firewall", "on").trim(), "firewall: on");
    assert!(status().contains("firewall          on"));
    let board = join(&lab, "board");
    send_from_phone(&lab, 2);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        received(board).is_empty(),
        "the firewall let multicast through"
    );
    assert_eq!(lab.switch("firewall", "off").trim(), "firewall: off");
    assert_eq!(lab.switch("firewall", "off").trim(), "firewall: off");
    let board = join(&lab, "board");
    send_from_phone(&lab, 2);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(received(board).len(), 2);

    // loss: 100 % drops every UDP datagram, and ARP/IGMP still work.
    assert_eq!(lab.switch("loss", "100").trim(), "loss: 100%");
    assert_eq!(lab.switch("loss", "35").trim(), "loss: 35%");
    assert!(status().contains("loss              35%"));
    lab.switch("loss", "100");
    let board = join(&lab, "board");
    send_from_phone(&lab, 2);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        received(board).is_empty(),
        "loss 100 let a datagram through"
    );
    assert_eq!(lab.switch("loss", "off").trim(), "loss: off");
    assert_eq!(lab.switch("loss", "0").trim(), "loss: off");

    assert_eq!(
        lab.switch("mcast-to-unicast", "on").trim(),
        "mcast-to-unicast: on"
    );
    assert!(status().contains("mcast-to-unicast  on"));
    assert_eq!(
        lab.switch("mcast-to-unicast", "off").trim(),
        "mcast-to-unicast: off"
    );
    assert_eq!(lab.switch("querier", "off").trim(), "querier: off");
    assert!(status().contains("querier           off"));
    assert_eq!(lab.switch("querier", "on").trim(), "querier: on");
    assert_eq!(lab.switch("snooping", "off").trim(), "snooping: off");
    assert!(status().contains("snooping          off"));
    assert_eq!(lab.switch("snooping", "on").trim(), "snooping: on");
    assert_eq!(lab.switch("igmp-version", "2").trim(), "igmp-version: 2");
    assert_eq!(lab.switch("mld-version", "1").trim(), "mld-version: 1");
    assert!(status().contains("igmp-version      2"));
}

#[test]
fn mcast_to_unicast_rewrites_the_destination_mac() {
    if !common::can_netns() || !lab::have(&["socat", "tcpdump", "tshark"]) {
        return;
    }
    let lab = Lab::up();
    lab.switch("mcast-to-unicast", "on");
    let mut at_board = lab.capture("ap", "port-board", "udp port 54321");
    let board = join(&lab, "board");
    send_from_phone(&lab, 2);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(received(board).len(), 2);
    let rows = at_board.fields("", &["eth.dst", "ip.dst"]);
    assert_eq!(rows, [[lab::BOARD_MAC, GROUP], [lab::BOARD_MAC, GROUP]]);
}

/// The PID qemu wrote for HOST's VM in lab PREFIX, once it is there.
fn vm_pid(prefix: &str, host: &str) -> Option<u32> {
    std::fs::read_to_string(format!("/run/mcast-lab/{prefix}/{host}.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[test]
fn vm_board_exec_link_and_down_after_a_crash() {
    if !vm::can_vm("aarch64") {
        return;
    }
    let _one = vm::one_at_a_time();

    // A crash: `up` killed (SIGKILL, no clean-up) while its VM boots.
    let prefix = lab::unique_lab_prefix();
    let mut up = std::process::Command::new("bash");
    up.arg(lab::script())
        .args(["--prefix", &prefix, "up", "--board", "aarch64"])
        .env("MCAST_VM_NO_BUILD", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut up = up.spawn().expect("start lab.sh up");
    let pid = lab::wait_for("qemu's PID file", Duration::from_secs(60), || {
        vm_pid(&prefix, "board").filter(|p| alive(*p))
    });
    let _ = up.kill();
    let _ = up.wait();
    assert!(alive(pid), "the VM runs on after lab.sh was killed");
    let lab = Lab::take_down(&prefix);
    wait_gone(pid, "the VM to be stopped by down");
    assert!(!Path::new(&format!("/run/mcast-lab/{prefix}")).exists());
    assert!(
        lab_namespaces(&prefix).is_empty(),
        "{:?}",
        lab_namespaces(&prefix)
    );
    drop(lab);

    // A VM board: exec passes arguments and the exit status through.
    let lab = Lab::up_with(&["--board", "aarch64"]);
    assert!(
        lab.up_log().contains("board: aarch64 VM booted in"),
        "{}",
        lab.up_log()
    );
    let st = text(&lab.status().stdout);
    assert!(st.contains("board  aarch64 VM: qemu PID"), "{st}");
    assert!(st.contains("198.18.1.20/24"), "{st}");
    let out = lab
        .on(
            "board",
            &[
                "sh",
                "-c",
                "printf '%s|' \"$@\"; exit 7",
                "sh",
                "a b",
                "it's",
                "$HOME",
                "",
            ],
        )
        .output()
        .expect("lab.sh exec board");
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    assert_eq!(text(&out.stdout), "a b|it's|$HOME||");
    let out = lab.on("board", &["uname", "-m"]).output().expect("exec");
    assert_eq!(text(&out.stdout).trim(), "aarch64");

    // link: the VM loses its carrier; a namespace station too.
    let operstate = |host: &str| {
        let out = lab
            .on(host, &["cat", "/sys/class/net/wlan0/operstate"])
            .output()
            .expect("exec");
        text(&out.stdout).trim().to_owned()
    };
    assert_eq!(operstate("board"), "up");
    let out = lab.script(&["link", "pc", "down"]);
    assert!(text(&out.stdout).contains("pc down"), "{out:?}");
    assert_ne!(operstate("pc"), "up");
    lab.script(&["link", "pc", "up"]);
    assert_eq!(operstate("pc"), "up");
    let out = lab.script(&["link", "board", "down"]);
    assert!(text(&out.stdout).contains("board down"), "{out:?}");
    assert!(text(&lab.status().stdout).contains("board down"));
    lab.script(&["link", "board", "up"]);
    // The VM's only NIC carries exec too: back once the link is up.
    assert_eq!(operstate("board"), "up");

    let pid = vm_pid(lab.prefix(), "board").expect("PID file");
    let prefix = lab.prefix().to_owned();
    drop(lab);
    wait_gone(pid, "the VM to be stopped by down");
    assert!(!Path::new(&format!("/run/mcast-lab/{prefix}")).exists());
}
