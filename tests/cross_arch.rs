//! An ARM board and an ARM phone on one Wi-Fi (issue 4): the armv7 build
//! sends and the aarch64 build receives, and the reverse, over IPv4 and
//! IPv6 (ff02 link-local), in the lab of `scripts/lab.sh`. The phone is on
//! Wi-Fi and on mobile data at once and picks wlan0 by itself; the access
//! point snoops IGMP/MLD, so the emulated receiver's join must be a real
//! membership report for anything to arrive.
//!
//! The binaries and their emulators come from `scripts/test-arm.sh`, which
//! exports, when it has built an aarch64 build and the armv7 build:
//!
//! - `MCAST_BIN_AARCH64`, `MCAST_RUNNER_AARCH64` (e.g. `/usr/bin/qemu-aarch64
//!   -L /usr/aarch64-linux-gnu`; empty on an aarch64 host: run directly)
//! - `MCAST_BIN_ARMV7`, `MCAST_RUNNER_ARMV7`
//!
//! Without them (a plain `cargo test` on the host, which has no ARM builds)
//! the tests print `SKIPPED (runs under scripts/test-arm.sh)` and pass,
//! even under `MCAST_TEST_STRICT=1`: that run legitimately lacks them.
//! With them, anything missing (the other variable, a binary, the
//! emulator) or a binary of the wrong architecture fails the test.

mod common;
#[path = "common/lab.rs"]
mod lab;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{run_limited, Running};
use lab::{Lab, GROUP4, LL_GROUP6, LL_GROUP6_ARG, PHONE_WIFI_LL};

const T: Duration = Duration::from_secs(60);

/// One architecture's build of mcast and how to run it.
struct Arch {
    name: &'static str,
    bin: PathBuf,
    runner: Vec<String>,
}

/// ELF `e_machine` values.
const EM_ARM: u16 = 40;
const EM_AARCH64: u16 = 183;

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Reads `MCAST_BIN_{SUFFIX}` / `MCAST_RUNNER_{SUFFIX}` and checks them;
/// panics on anything wrong (the caller knows they are meant to be set).
fn arch(name: &'static str, suffix: &str, machine: u16) -> Arch {
    let bin_var = format!("MCAST_BIN_{suffix}");
    let runner_var = format!("MCAST_RUNNER_{suffix}");
    let bin = var(&bin_var).unwrap_or_else(|| {
        panic!(
            "{bin_var} is not set, but the other architecture's is: \
             cross-architecture tests need both (scripts/test-arm.sh sets all four)"
        )
    });
    let bin = PathBuf::from(bin);
    let mut head = [0u8; 20];
    std::fs::File::open(&bin)
        .and_then(|mut f| f.read_exact(&mut head))
        .unwrap_or_else(|e| panic!("{bin_var}={}: cannot read it: {e}", bin.display()));
    assert!(
        head.starts_with(b"\x7fELF"),
        "{bin_var}={} is not an ELF file",
        bin.display()
    );
    // e_machine: 2 bytes at offset 18, little endian on both ARM targets.
    let got = u16::from_le_bytes([head[18], head[19]]);
    assert_eq!(
        got,
        machine,
        "{bin_var}={} is not an {name} binary (ELF machine {got})",
        bin.display()
    );
    let runner: Vec<String> = var(&runner_var)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if let Some(emu) = runner.first() {
        let found = if emu.contains('/') {
            std::path::Path::new(emu).is_file()
        } else {
            lab::on_path(emu)
        };
        assert!(found, "{runner_var}: the emulator {emu} is not there");
    }
    Arch { name, bin, runner }
}

/// Both builds, or `None` (after printing why) on a host run without them.
fn arches() -> Option<(Arch, Arch)> {
    if var("MCAST_BIN_AARCH64").is_none() && var("MCAST_BIN_ARMV7").is_none() {
        // Not common::skip(): a host `cargo test` has no ARM builds, and
        // MCAST_TEST_STRICT=1 must not fail it for that.
        eprintln!(
            "SKIPPED (runs under scripts/test-arm.sh): MCAST_BIN_AARCH64 and \
             MCAST_BIN_ARMV7 are not set"
        );
        return None;
    }
    let a64 = arch("aarch64", "AARCH64", EM_AARCH64);
    let a32 = arch("armv7", "ARMV7", EM_ARM);
    if !common::can_netns() {
        return None;
    }
    Some((a64, a32))
}

/// `ip netns exec P-HOST [RUNNER…] BIN ARGS…`, stdin null.
fn mcast(lab: &Lab, host: &str, arch: &Arch, args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &lab.ns(host)])
        .args(&arch.runner)
        .arg(&arch.bin)
        .args(args)
        .stdin(Stdio::null());
    cmd
}

/// One build sends from the phone (automatic choice: wlan0, not mobile
/// data), the other receives on the board.
fn phone_to_board(armv7_sends: bool, v6: bool) {
    let Some((a64, a32)) = arches() else { return };
    let (tx, rx) = if armv7_sends {
        (&a32, &a64)
    } else {
        (&a64, &a32)
    };
    let lab = Lab::up();
    let (group, group_arg) = if v6 {
        (LL_GROUP6, LL_GROUP6_ARG)
    } else {
        (GROUP4, GROUP4)
    };
    let msg = format!("from {}", tx.name);
    let mut r = Running::start(mcast(
        &lab,
        "board",
        rx,
        &[
            "recv",
            group_arg,
            "-i",
            "wlan0",
            "-c",
            "3",
            "--timeout",
            "30s",
        ],
    ));
    r.wait_ready();
    lab.wait_member("port-board", group);
    let s = run_limited(
        mcast(
            &lab,
            "phone",
            tx,
            &[
                "-v",
                "send",
                group_arg,
                "-c",
                "3",
                "--interval",
                "100ms",
                "-m",
                &msg,
            ],
        ),
        T,
    );
    assert_eq!(s.code(), 0, "{} sender: {s:?}", tx.name);
    assert!(s.stderr.contains("selected wlan0"), "{s:?}");
    let r = r.finish(T);
    assert_eq!(r.code(), 0, "{} receiver: {r:?}", rx.name);
    let source = if v6 {
        let idx = lab.sh("board", "cat /sys/class/net/wlan0/ifindex");
        format!("[{PHONE_WIFI_LL}%{}]:", idx.trim())
    } else {
        format!(" {}:", lab::PHONE_WIFI_V4)
    };
    let lines: Vec<&str> = r.stdout.lines().filter(|l| l.contains(&source)).collect();
    assert_eq!(
        lines.len(),
        3,
        "{} → {}, {group}: want 3 datagrams from {source}: {r:?}",
        tx.name,
        rx.name
    );
    for l in lines {
        assert!(l.ends_with(&format!(" {} bytes: {msg}", msg.len())), "{l}");
    }
}

#[test]
fn armv7_sender_aarch64_receiver_ipv4() {
    phone_to_board(true, false);
}

#[test]
fn aarch64_sender_armv7_receiver_ipv4() {
    phone_to_board(false, false);
}

#[test]
fn armv7_sender_aarch64_receiver_ipv6_link_local() {
    phone_to_board(true, true);
}

#[test]
fn aarch64_sender_armv7_receiver_ipv6_link_local() {
    phone_to_board(false, true);
}
