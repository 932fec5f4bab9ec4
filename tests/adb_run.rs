//! Tests of `scripts/adb-run.sh`.
//!
//! Real: against Debian's adbd 34 (bookworm-backports) in the lab's phone VM
//! (`lab.sh up --phone aarch64`: an arm64 VM with a real ARM kernel, see
//! `tests/common/vm.rs`), reached by Debian's adb 34 from the lab's pc
//! namespace with `adb connect` over the lab's Wi-Fi: the adb transport,
//! the ABI choice, the push to /data/local/tmp, `adb shell` passing the exit
//! status through, the multicast-lock warning, Ctrl-C through adb (mcast on
//! the phone prints its summary and leaves), multicast between the phone
//! VM and the board VM both ways, and the vsock check that comes before
//! anything talks to adbd.
//! Stand-ins there: Android's `getprop` and `dumpsys` do not exist on
//! Linux, so the phone VM has small scripts that answer in Android's formats
//! (`scripts/vm/getprop`, `scripts/vm/dumpsys`; the lock `dumpsys wifi`
//! reports is what the test writes to /data/local/tmp/.multicast-locks).
//! The phone's shell is busybox sh, not Android's mksh.
//!
//! Stand-in adb (`tests/data/fake-adb/adb`, put first on `PATH`), for what
//! the VM cannot show: an NDK build, a 32-bit phone, an x86 emulator,
//! several or unauthorized devices, the `dumpsys wifi` formats of other
//! Android versions, CRLF output of old adb versions, usage errors. It
//! answers like a phone (ABI, attached devices, `dumpsys wifi`), keeps a log
//! of every invocation, and "runs" pushed programs on this machine; the
//! pushed "binaries" are small shell scripts that print their arguments.
#![allow(missing_docs)]

mod common;
#[path = "common/lab.rs"]
mod lab;
#[path = "common/vm.rs"]
mod vm;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::run_limited;
use common::scratch::Scratch;
use lab::{Lab, BOARD_V4, PHONE_WIFI_V4};

const SEP: char = '\u{1f}';

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A fake phone: a target directory with fake builds, the stand-in adb's
/// file system and log, and its settings.
struct Phone {
    dir: Scratch,
    env: Vec<(String, String)>,
}

const ANDROID_ARM64: &str = "aarch64-linux-android";
const ANDROID_ARMV7: &str = "armv7-linux-androideabi";
const MUSL_ARM64: &str = "aarch64-unknown-linux-musl";

impl Phone {
    fn new(tag: &str) -> Phone {
        let dir = Scratch::new(tag);
        std::fs::create_dir_all(dir.path().join("phone")).unwrap();
        std::fs::create_dir_all(dir.path().join("target")).unwrap();
        Phone {
            dir,
            env: Vec::new(),
        }
    }

    fn set(mut self, key: &str, value: &str) -> Phone {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    fn abi(self, abi: &str) -> Phone {
        self.set("FAKE_ADB_ABI", abi)
    }

    fn devices(self, devices: &str) -> Phone {
        self.set("FAKE_ADB_DEVICES", devices)
    }

    /// Makes `dumpsys wifi` print `text`.
    fn dumpsys(self, text: &str) -> Phone {
        let f = self.dir.path().join("dumpsys-wifi.txt");
        std::fs::write(&f, text).unwrap();
        let f = f.to_string_lossy().into_owned();
        self.set("FAKE_ADB_DUMPSYS", &f)
    }

    /// Puts a fake `mcast` for `target` where cargo would build it. It prints
    /// which build it is and each argument on its own line.
    fn with_build(self, target: &str) -> Phone {
        let dir = self.dir.path().join("target").join(target).join("release");
        std::fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("mcast");
        std::fs::write(
            &bin,
            format!(
                "#!/bin/sh\n\
                 echo \"FAKE-MCAST build={target}\"\n\
                 echo \"FAKE-MCAST running\" >&2\n\
                 for a in \"$@\"; do printf 'arg=[%s]\\n' \"$a\"; done\n\
                 exit ${{FAKE_MCAST_EXIT:-0}}\n"
            ),
        )
        .unwrap();
        // Not executable on purpose: the script must chmod it on the phone.
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o644)).unwrap();
        self
    }

    fn build_path(&self, target: &str) -> String {
        self.dir
            .path()
            .join("target")
            .join(target)
            .join("release")
            .join("mcast")
            .to_string_lossy()
            .into_owned()
    }

    fn run(&self, args: &[&str]) -> Run {
        let fake_adb_dir = repo().join("tests/data/fake-adb");
        let path = format!(
            "{}:{}",
            fake_adb_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("bash");
        cmd.arg(repo().join("scripts/adb-run.sh"))
            .args(args)
            .env("PATH", path)
            .env_remove("ANDROID_SERIAL")
            .env_remove("ADB")
            .env_remove("MCAST_REMOTE_PATH")
            .env("MCAST_TARGET_DIR", self.dir.path().join("target"))
            .env("FAKE_ADB_ROOT", self.dir.path().join("phone"))
            .env("FAKE_ADB_LOG", self.dir.path().join("adb.log"))
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out: Output = cmd.output().expect("run scripts/adb-run.sh");
        let log = std::fs::read_to_string(self.dir.path().join("adb.log")).unwrap_or_default();
        Run {
            code: out.status.code().expect("adb-run.sh killed by a signal"),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            calls: log
                .lines()
                .map(|l| l.split(SEP).map(str::to_owned).collect())
                .collect(),
        }
    }
}

/// What one run of the script did.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    /// Every adb invocation, as its argument list.
    calls: Vec<Vec<String>>,
}

impl Run {
    /// The adb calls whose arguments, after `-s SERIAL`, start with `prefix`.
    fn calls_to(&self, prefix: &[&str]) -> Vec<&Vec<String>> {
        self.calls
            .iter()
            .filter(|c| {
                let rest: &[String] = if c.first().map(String::as_str) == Some("-s") {
                    &c[2.min(c.len())..]
                } else {
                    &c[..]
                };
                rest.len() >= prefix.len() && rest.iter().zip(prefix).all(|(a, b)| a == b)
            })
            .collect()
    }

    fn pushed_source(&self) -> Option<String> {
        self.calls_to(&["push"])
            .first()
            .map(|c| c[c.len() - 2].clone())
    }

    fn assert_code(&self, code: i32) {
        assert_eq!(self.code, code, "unexpected exit code: {self:#?}");
    }
}

const NO_LOCK_DUMP: &str = "\
Wi-Fi is enabled
Stay-awake conditions: 0

Locks held:

mMulticastEnabled 2
mMulticastDisabled 2
Active lock owners: {}
Inactive lock owners: {}
Multicast Locks held:

WifiScoreCard:
";

const LOCK_HELD_DUMP: &str = "\
Wi-Fi is enabled

mMulticastEnabled 3
mMulticastDisabled 2
Active lock owners: {10123=1}
Inactive lock owners: {}
Multicast Locks held:
    Multicaster{mdns-discovery uid=10123}

WifiScoreCard:
";

const LOCK_WARNING: &str = "no app holds a Wi-Fi multicast lock";

// --- ABI mapping and binary choice ------------------------------------------

#[test]
fn stand_in_adb_arm64_phone_prefers_the_android_build() {
    let phone = Phone::new("prefer")
        .abi("arm64-v8a")
        .with_build(MUSL_ARM64)
        .with_build(ANDROID_ARM64);
    let run = phone.run(&["ifaces"]);
    run.assert_code(0);
    assert_eq!(
        run.pushed_source().as_deref(),
        Some(phone.build_path(ANDROID_ARM64).as_str())
    );
    assert!(
        run.stdout
            .contains(&format!("FAKE-MCAST build={ANDROID_ARM64}")),
        "{run:#?}"
    );
}

#[test]
fn stand_in_adb_armv7_phone_gets_the_android_armv7_build() {
    let phone = Phone::new("armv7")
        .abi("armeabi-v7a")
        .with_build(MUSL_ARM64)
        .with_build(ANDROID_ARM64)
        .with_build(ANDROID_ARMV7);
    let run = phone.run(&["ifaces"]);
    run.assert_code(0);
    assert_eq!(
        run.pushed_source().as_deref(),
        Some(phone.build_path(ANDROID_ARMV7).as_str())
    );
}

#[test]
fn stand_in_adb_armv7_phone_without_android_build_fails_with_a_hint() {
    // The arm64 musl build must not be pushed to a 32-bit phone.
    let phone = Phone::new("armv7-none")
        .abi("armeabi-v7a")
        .with_build(MUSL_ARM64);
    let run = phone.run(&["ifaces"]);
    run.assert_code(1);
    assert!(run.stderr.contains("no static armv7 build"), "{run:#?}");
    assert!(
        run.stderr
            .contains("cargo ndk -t armeabi-v7a --platform 24"),
        "{run:#?}"
    );
    assert!(
        run.calls_to(&["push"]).is_empty(),
        "pushed something: {run:#?}"
    );
}

#[test]
fn stand_in_adb_arm64_phone_without_any_build_fails_with_a_hint() {
    let phone = Phone::new("nobuild").abi("arm64-v8a");
    let run = phone.run(&["ifaces"]);
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("cargo build --release --target aarch64-unknown-linux-musl"),
        "{run:#?}"
    );
    assert!(run.calls_to(&["push"]).is_empty());
}

#[test]
fn stand_in_adb_x86_emulator_is_refused() {
    let phone = Phone::new("x86").abi("x86_64").with_build(MUSL_ARM64);
    let run = phone.run(&["ifaces"]);
    run.assert_code(1);
    assert!(run.stderr.contains("x86_64"), "{run:#?}");
    assert!(run.calls_to(&["push"]).is_empty());
}

#[test]
fn stand_in_adb_abi_with_crlf_line_ending_is_understood() {
    // Older adb versions answer through a pty with "\r\n".
    let phone = Phone::new("crlf")
        .abi("arm64-v8a")
        .set("FAKE_ADB_CRLF", "1")
        .with_build(MUSL_ARM64);
    let run = phone.run(&["ifaces"]);
    run.assert_code(0);
    assert_eq!(
        run.pushed_source().as_deref(),
        Some(phone.build_path(MUSL_ARM64).as_str())
    );
}

// --- Arguments and exit code ------------------------------------------------

#[test]
fn stand_in_adb_options_after_double_dash_go_to_mcast() {
    let phone = Phone::new("dashdash").with_build(MUSL_ARM64);
    let run = phone.run(&["--", "-s", "x", "--help"]);
    run.assert_code(0);
    assert!(
        run.stdout.contains("arg=[-s]\narg=[x]\narg=[--help]"),
        "{run:#?}"
    );
}

// --- Devices ------------------------------------------------------------------

#[test]
fn stand_in_adb_several_devices_without_serial_is_an_error() {
    let phone = Phone::new("several")
        .devices("PHONE_A:device PHONE_B:device")
        .with_build(MUSL_ARM64);
    let run = phone.run(&["ifaces"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("PHONE_A") && run.stderr.contains("PHONE_B"),
        "{run:#?}"
    );
    assert!(run.stderr.contains("-s SERIAL"), "{run:#?}");
    assert_eq!(run.calls.len(), 1, "only `adb devices` may run: {run:#?}");
}

#[test]
fn stand_in_adb_several_devices_with_serial_uses_that_device() {
    let phone = Phone::new("serial")
        .devices("PHONE_A:device PHONE_B:device")
        .with_build(MUSL_ARM64);
    let run = phone.run(&["-s", "PHONE_B", "ifaces"]);
    run.assert_code(0);
    for call in &run.calls[1..] {
        assert_eq!(&call[..2], ["-s", "PHONE_B"], "{run:#?}");
    }
    assert!(run.stderr.contains("logcat -s mcast"), "{run:#?}");
}

#[test]
fn stand_in_adb_android_serial_variable_selects_the_device() {
    let phone = Phone::new("envserial")
        .devices("PHONE_A:device PHONE_B:device")
        .set("ANDROID_SERIAL", "PHONE_A")
        .with_build(MUSL_ARM64);
    let run = phone.run(&["ifaces"]);
    run.assert_code(0);
    assert!(
        run.calls[1..].iter().all(|c| c[..2] == ["-s", "PHONE_A"]),
        "{run:#?}"
    );
}

#[test]
fn stand_in_adb_unknown_serial_is_an_error() {
    let phone = Phone::new("badserial")
        .devices("PHONE_A:device")
        .with_build(MUSL_ARM64);
    let run = phone.run(&["-s", "NOPE", "ifaces"]);
    run.assert_code(1);
    assert!(
        run.stderr.contains("'NOPE'") && run.stderr.contains("PHONE_A"),
        "{run:#?}"
    );
}

#[test]
fn stand_in_adb_no_device_is_an_error() {
    let phone = Phone::new("nodev").devices("").with_build(MUSL_ARM64);
    let run = phone.run(&["ifaces"]);
    run.assert_code(1);
    assert!(run.stderr.contains("no device"), "{run:#?}");
}

#[test]
fn stand_in_adb_unauthorized_device_is_explained() {
    let phone = Phone::new("unauth")
        .devices("PHONE_A:unauthorized")
        .with_build(MUSL_ARM64);
    let run = phone.run(&["ifaces"]);
    run.assert_code(1);
    assert!(run.stderr.contains("PHONE_A (unauthorized)"), "{run:#?}");
    assert!(run.stderr.contains("USB debugging"), "{run:#?}");
}

#[test]
fn stand_in_adb_one_ready_device_among_unauthorized_ones_is_used() {
    let phone = Phone::new("oneready")
        .devices("PHONE_A:unauthorized PHONE_B:device PHONE_C:offline")
        .with_build(MUSL_ARM64);
    let run = phone.run(&["ifaces"]);
    run.assert_code(0);
    assert!(
        run.calls[1..].iter().all(|c| c[..2] == ["-s", "PHONE_B"]),
        "{run:#?}"
    );
}

// --- Multicast lock check -----------------------------------------------------

#[test]
fn stand_in_adb_recv_after_global_options_is_still_checked() {
    let phone = Phone::new("nolock2")
        .dumpsys(NO_LOCK_DUMP)
        .with_build(MUSL_ARM64);
    let run = phone.run(&["--", "-v", "recv", "239.1.2.3:5000"]);
    run.assert_code(0);
    assert!(run.stderr.contains(LOCK_WARNING), "{run:#?}");
}

#[test]
fn stand_in_adb_lock_check_handles_crlf_dumpsys_output() {
    let phone = Phone::new("lockcrlf")
        .dumpsys(LOCK_HELD_DUMP)
        .set("FAKE_ADB_CRLF", "1")
        .with_build(MUSL_ARM64);
    let run = phone.run(&["recv", "239.1.2.3:5000"]);
    run.assert_code(0);
    assert!(!run.stderr.contains(LOCK_WARNING), "{run:#?}");
    assert!(
        run.stderr.contains("multicast lock held by 1 app"),
        "{run:#?}"
    );
}

#[test]
fn stand_in_adb_lock_check_counts_several_locks_in_old_format() {
    // Android 5-7 printed the list straight after the Wi-Fi locks.
    let dump = "\
Locks held:
Multicast Locks held:
    Multicaster{CastDiscovery uid=10950}
    Multicaster{mdns uid=10700}

WifiStateMachine:
";
    let phone = Phone::new("oldfmt").dumpsys(dump).with_build(MUSL_ARM64);
    let run = phone.run(&["recv", "239.1.2.3:5000"]);
    run.assert_code(0);
    assert!(
        run.stderr.contains("multicast lock held by 2 app"),
        "{run:#?}"
    );
}

#[test]
fn stand_in_adb_recv_with_unreadable_dumpsys_warns_that_it_cannot_tell() {
    // The stand-in's default dump has no multicast section.
    let phone = Phone::new("nodump").with_build(MUSL_ARM64);
    let run = phone.run(&["recv", "239.1.2.3:5000"]);
    run.assert_code(0);
    assert!(run.stderr.contains("cannot tell"), "{run:#?}");
}

// --- Help, usage errors, log hint -----------------------------------------------

#[test]
fn stand_in_adb_help_exits_zero() {
    let phone = Phone::new("help");
    for flag in ["--help", "-h"] {
        let run = phone.run(&[flag]);
        run.assert_code(0);
        assert!(run.stdout.contains("Usage: scripts/adb-run.sh"), "{run:#?}");
        assert!(run.stdout.contains("adb logcat -s mcast"), "{run:#?}");
    }
}

#[test]
fn stand_in_adb_usage_errors_exit_two() {
    let phone = Phone::new("usage").with_build(MUSL_ARM64);
    for args in [&[][..], &["-s"][..], &["-s", "X"][..], &["--binary"][..]] {
        let run = phone.run(args);
        run.assert_code(2);
        assert!(run.stderr.contains("--help"), "{run:#?}");
    }
}

#[test]
fn stand_in_adb_binary_option_pushes_the_given_file() {
    let phone = Phone::new("binopt").with_build(ANDROID_ARMV7);
    let given = phone.build_path(ANDROID_ARMV7);
    let run = phone.run(&["--binary", &given, "ifaces"]);
    run.assert_code(0);
    assert_eq!(run.pushed_source().as_deref(), Some(given.as_str()));
}

#[test]
fn stand_in_adb_prints_how_to_read_the_log() {
    let phone = Phone::new("logcat").with_build(ANDROID_ARM64);
    let run = phone.run(&["ifaces"]);
    run.assert_code(0);
    assert!(run.stderr.contains("logcat -s mcast"), "{run:#?}");
}

// --- Against a real adbd in the phone VM ----------------------------------------

const GROUP: &str = "239.74.20.30";
const LIMIT: Duration = Duration::from_secs(90);
const PHONE: &str = "198.18.1.10:5555";

/// The host adb's state (its key, in ~/.android) stays in a scratch HOME.
struct Adb {
    home: Scratch,
}

impl Adb {
    /// `adb ARGS…` in the pc namespace.
    fn cmd(&self, lab: &Lab, args: &[&str]) -> Command {
        let mut cmd = lab.exec(
            "pc",
            &[
                "env",
                &format!("HOME={}", self.home.path().display()),
                "adb",
            ],
        );
        cmd.args(args);
        cmd
    }

    /// `scripts/adb-run.sh -s PHONE ARGS…` in the pc namespace.
    fn run(&self, lab: &Lab, args: &[&str]) -> Command {
        let mut cmd = lab.exec(
            "pc",
            &["env", &format!("HOME={}", self.home.path().display())],
        );
        cmd.arg(repo().join("scripts/adb-run.sh"))
            .args(["-s", PHONE])
            .args(args);
        cmd
    }
}

fn board_run(lab: &Lab, args: &[&str]) -> Command {
    let mut cmd = lab.exec(
        "pc",
        &[
            "env",
            &format!("SSH_OPTS=-F /run/mcast-lab/{}/ssh_config", lab.prefix()),
        ],
    );
    cmd.arg(repo().join("scripts/board-run.sh"))
        .arg("board")
        .args(args);
    cmd
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn real_adbd_in_the_phone_vm() {
    if !vm::can_adb() {
        return;
    }
    let musl = repo().join("target").join(MUSL_ARM64).join("release/mcast");
    assert!(
        musl.is_file(),
        "no {} (scripts/test.sh builds it: cargo build --release --target {MUSL_ARM64})",
        musl.display()
    );
    let _one = vm::one_at_a_time();
    let lab = Lab::up_with(&["--phone", "aarch64", "--board", "aarch64"]);

    // The vsock check ran before anything talked to adbd, and still holds.
    assert!(
        lab.up_log()
            .contains("vsock check: nothing listens on vsock here"),
        "{}",
        lab.up_log()
    );
    let ss = Command::new("ss")
        .args(["--vsock", "-l", "-n", "-H"])
        .output()
        .expect("run ss --vsock -l");
    assert!(ss.status.success(), "{ss:?}");
    assert_eq!(
        text(&ss.stdout).trim(),
        "",
        "something listens on vsock: {ss:?}"
    );
    let vsock_module = lab
        .on("phone", &["test", "-e", "/sys/module/vsock"])
        .status()
        .expect("exec");
    assert!(!vsock_module.success(), "the phone VM has the vsock module");

    // The adb transport: adb connect over the lab's Wi-Fi.
    let adb = Adb {
        home: Scratch::new("adb-home"),
    };
    // The server outlives the client; with no pipe of ours it cannot hold
    // one open. lab.sh down ends it with the pc namespace.
    let started = adb
        .cmd(&lab, &["start-server"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("adb start-server");
    assert!(started.success());
    let c = run_limited(adb.cmd(&lab, &["connect", PHONE]), LIMIT);
    assert!(
        c.stdout.contains(&format!("connected to {PHONE}")),
        "{c:#?}"
    );
    let d = run_limited(adb.cmd(&lab, &["devices"]), LIMIT);
    assert!(d.stdout.contains(&format!("{PHONE}\tdevice")), "{d:#?}");

    // The ABI choice, the push, the run on the ARM kernel.
    let r = run_limited(adb.run(&lab, &["ifaces"]), LIMIT);
    assert_eq!(r.code(), 0, "{r:#?}");
    assert!(r.stderr.contains("ABI arm64-v8a"), "{r:#?}");
    assert!(
        r.stderr
            .contains(&format!("binary {} (static musl build", musl.display())),
        "{r:#?}"
    );
    assert!(r.stdout.contains("picked: wlan0"), "{r:#?}");
    let sums = run_limited(
        adb.cmd(
            &lab,
            &[
                "shell",
                "sha256sum /data/local/tmp/mcast; ls -l /data/local/tmp/mcast",
            ],
        ),
        LIMIT,
    );
    let local = Command::new("sha256sum")
        .arg(&musl)
        .output()
        .expect("sha256sum");
    let local = text(&local.stdout);
    assert!(
        sums.stdout
            .contains(local.split_whitespace().next().unwrap()),
        "the pushed file is the musl build: {sums:#?}"
    );
    assert!(sums.stdout.contains("-rwxr-xr-x"), "{sums:#?}");

    // The exit status through adb shell; quoting through the phone's shell.
    let r = run_limited(
        adb.run(&lab, &["recv", "-c", "1", "--timeout", "1s"]),
        LIMIT,
    );
    assert_eq!(r.code(), 1, "{r:#?}");
    let r = run_limited(adb.run(&lab, &["send", "192.0.2.1:99"]), LIMIT);
    assert_eq!(r.code(), 2, "{r:#?}");

    // The multicast-lock warning: no lock held, then one.
    assert!(
        r.stderr.find("multicast lock").is_none(),
        "no lock check for send: {r:#?}"
    );
    let r = run_limited(
        adb.run(&lab, &["recv", "-c", "1", "--timeout", "1s"]),
        LIMIT,
    );
    let warn = r
        .stderr
        .find(LOCK_WARNING)
        .unwrap_or_else(|| panic!("no lock warning: {r:#?}"));
    assert!(
        warn < r.stderr.find("listening").expect("mcast ran"),
        "{r:#?}"
    );
    let held = run_limited(
        adb.cmd(
            &lab,
            &[
                "shell",
                "echo 'Multicaster{CastDiscovery uid=10145}' >/data/local/tmp/.multicast-locks",
            ],
        ),
        LIMIT,
    );
    assert_eq!(held.code(), 0, "{held:#?}");
    let r = run_limited(
        adb.run(&lab, &["recv", "-c", "1", "--timeout", "1s"]),
        LIMIT,
    );
    assert!(!r.stderr.contains(LOCK_WARNING), "{r:#?}");
    assert!(r.stderr.contains("multicast lock held by 1 app"), "{r:#?}");

    // The phone sends to the board VM (adb-run.sh to board-run.sh), with an
    // argument that the phone's shell must not expand.
    let message = "from the phone: it's $(id) *";
    let (rx, _) = vm::exchange(
        &lab,
        board_run(&lab, &["recv", "-c", "2", "--timeout", "60s"]),
        "port-board",
        GROUP,
        adb.run(
            &lab,
            &["send", "-c", "2", "--interval", "200ms", "-m", message],
        ),
    );
    assert_eq!(
        vm::lines_from(&rx.stdout, PHONE_WIFI_V4, message),
        2,
        "{rx:#?}"
    );

    // The board VM sends to the phone.
    let (rx, _) = vm::exchange(
        &lab,
        adb.run(&lab, &["recv", "-c", "2", "--timeout", "60s"]),
        "port-phone",
        GROUP,
        board_run(&lab, &["send", "-c", "2", "--interval", "200ms"]),
    );
    assert_eq!(
        vm::lines_from(&rx.stdout, BOARD_V4, "hello world"),
        2,
        "{rx:#?}"
    );

    // SIGINT without a terminal (adb-run.sh signals mcast's PID on the
    // phone), then Ctrl-C on a terminal (through adb shell -t).
    vm::sigint_reaches_remote_recv(&lab, adb.run(&lab, &["recv", "-c", "0"]), "port-phone");
    let line = format!(
        "{} -s {PHONE} recv -c 0",
        repo().join("scripts/adb-run.sh").display()
    );
    let home = adb.home.path().display().to_string();
    vm::ctrl_c_reaches_remote_recv(&lab, "pc", &line, &[("HOME", &home)], "port-phone");
}
