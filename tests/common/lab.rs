//! The virtual phone / Wi-Fi / board network of `scripts/lab.sh`, for
//! end-to-end tests: a [`Lab`] per test (its own name prefix, so tests run in
//! parallel), commands and `mcast` inside its hosts, its switches, and packet
//! captures read back with tshark; the lab's fixed groups and link-local
//! addresses, and [`lab_with`] (a lab, or a skip when tools are missing).
//!
//! Include it next to `common` in an integration test:
//!
//! ```ignore
//! mod common;
//! #[path = "common/lab.rs"]
//! mod lab;
//! ```
//!
//! (or as `pub mod lab;` from `tests/common/mod.rs`: it only refers to
//! `crate::common`, so it works from either place).
//!
//! Topology (see `scripts/lab.sh --help`):
//!
//! | host  | interface     | IPv4        | IPv6                 |
//! |-------|---------------|-------------|----------------------|
//! | ap    | br0 (bridge)  | 198.18.1.1  | fd6d:6361:7374:1::1  |
//! | phone | wlan0         | 198.18.1.10 | fd6d:6361:7374:1::10 |
//! | phone | rmnet_data0   | 198.18.2.10 | fd6d:6361:7374:2::10 |
//! | board | wlan0         | 198.18.1.20 | fd6d:6361:7374:1::20 |
//! | pc    | wlan0         | 198.18.1.30 | fd6d:6361:7374:1::30 |
//! | cell  | rmnet0        | 198.18.2.1  | fd6d:6361:7374:2::1  |
//!
//! The phone's default routes (IPv4 and IPv6, multicast included) go out
//! `rmnet_data0`. br0 snoops IGMP/MLD and runs a 1 s querier, so a group
//! reaches only the stations that joined it.
//!
//! Capturing: on `br0` in `ap` a capture sees every frame entering the bridge
//! from any station, once (tcpdump puts br0 in promiscuous mode, which makes
//! the bridge pass every frame up to it), and the ap's own queries. What the
//! bridge sends to one station (after snooping, isolation, firewall, loss or
//! mcast-to-unicast) is seen on `port-STATION` in `ap`, or on `wlan0` in the
//! station.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{run_limited, skip, Finished, Running};

/// The lab's hosts, each a network namespace `PREFIX-HOST`.
pub const HOSTS: [&str; 5] = ["ap", "phone", "board", "pc", "cell"];

/// br0 in ap.
pub const AP_V4: &str = "198.18.1.1";
/// phone's wlan0.
pub const PHONE_WIFI_V4: &str = "198.18.1.10";
/// phone's rmnet_data0 (mobile data).
pub const PHONE_CELL_V4: &str = "198.18.2.10";
/// board's wlan0.
pub const BOARD_V4: &str = "198.18.1.20";
/// pc's wlan0.
pub const PC_V4: &str = "198.18.1.30";
/// cell's rmnet0.
pub const CELL_V4: &str = "198.18.2.1";
/// br0 in ap.
pub const AP_V6: &str = "fd6d:6361:7374:1::1";
/// phone's wlan0.
pub const PHONE_WIFI_V6: &str = "fd6d:6361:7374:1::10";
/// phone's rmnet_data0.
pub const PHONE_CELL_V6: &str = "fd6d:6361:7374:2::10";
/// board's wlan0.
pub const BOARD_V6: &str = "fd6d:6361:7374:1::20";
/// pc's wlan0.
pub const PC_V6: &str = "fd6d:6361:7374:1::30";
/// cell's rmnet0.
pub const CELL_V6: &str = "fd6d:6361:7374:2::1";
/// Fixed MAC of br0 (link-local fe80::6d:63ff:fe00:101).
pub const AP_MAC: &str = "02:6d:63:00:01:01";
/// Fixed MAC of phone's wlan0 (link-local fe80::6d:63ff:fe00:110).
pub const PHONE_WIFI_MAC: &str = "02:6d:63:00:01:10";
/// Fixed MAC of board's wlan0 (link-local fe80::6d:63ff:fe00:120).
pub const BOARD_MAC: &str = "02:6d:63:00:01:20";
/// Fixed MAC of pc's wlan0 (link-local fe80::6d:63ff:fe00:130).
pub const PC_MAC: &str = "02:6d:63:00:01:30";
/// Fixed MAC of phone's rmnet_data0.
pub const PHONE_CELL_MAC: &str = "02:6d:63:00:02:10";
/// Fixed MAC of cell's rmnet0.
pub const CELL_MAC: &str = "02:6d:63:00:02:01";

/// How long any one `lab.sh` command may take before the test fails.
const SCRIPT_LIMIT: Duration = Duration::from_secs(60);

/// The lab's IPv4 test group.
pub const GROUP4: &str = "239.74.20.30";
/// The lab's site-local IPv6 test group.
pub const GROUP6: &str = "ff05::4a14:1e";
/// [`GROUP6`] with the test port, as mcast takes it.
pub const GROUP6_ARG: &str = "[ff05::4a14:1e]:54321";
/// The lab's link-local IPv6 test group.
pub const LL_GROUP6: &str = "ff02::4a14:1e";
/// [`LL_GROUP6`] with the test port, as mcast takes it.
pub const LL_GROUP6_ARG: &str = "[ff02::4a14:1e]:54321";
/// The phone's wlan0 link-local address (fixed MAC 02:6d:63:00:01:10).
pub const PHONE_WIFI_LL: &str = "fe80::6d:63ff:fe00:110";
/// The phone's rmnet_data0 link-local address (fixed MAC 02:6d:63:00:02:10).
pub const PHONE_CELL_LL: &str = "fe80::6d:63ff:fe00:210";
/// The board's wlan0 link-local address (fixed MAC 02:6d:63:00:01:20).
pub const BOARD_LL: &str = "fe80::6d:63ff:fe00:120";

/// A lab, if this machine can build one and has `tools`; else skips (or
/// fails under `MCAST_TEST_STRICT=1`) and returns `None`.
pub fn lab_with(tools: &[&str]) -> Option<Lab> {
    if !crate::common::can_netns() || !have(tools) {
        return None;
    }
    Some(Lab::up())
}

/// The path of `scripts/lab.sh`.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join("lab.sh")
}

/// Whether every tool in `tools` is on `PATH`; if not, skips the test (or
/// fails it under `MCAST_TEST_STRICT=1`). Call as
/// `if !lab::have(&["tcpdump", "tshark"]) { return; }`.
pub fn have(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !on_path(t)).collect();
    if missing.is_empty() {
        return true;
    }
    !skip(&format!(
        "needs {} (on Debian: apt-get install {})",
        missing.join(", "),
        missing
            .iter()
            .map(|t| debian_package(t))
            .collect::<Vec<_>>()
            .join(" ")
    ))
}

fn debian_package(tool: &str) -> &str {
    match tool {
        "ping" => "iputils-ping",
        "nft" => "nftables",
        "ip" | "bridge" => "iproute2",
        other => other,
    }
}

/// Whether `tool` is an executable file in a `PATH` directory.
pub fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p).any(|d| {
                std::fs::metadata(d.join(tool))
                    .map(|m| m.is_file())
                    .unwrap_or(false)
            })
        })
        .unwrap_or(false)
}

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A lab prefix unique to this process and call: `l<pid hex>x<n>`, at most
/// 12 characters of `[a-z0-9]` as `lab.sh` requires.
pub fn unique_lab_prefix() -> String {
    let n = LAB_COUNTER.fetch_add(1, Ordering::SeqCst);
    let p = format!("l{:x}x{n}", std::process::id());
    assert!(p.len() <= 12, "lab prefix {p} is too long for lab.sh");
    p
}

/// The names in `ip netns list`.
pub fn netns_list() -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("cannot run ip netns list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Runs `cmd` (stdin null, output collected), killing it and failing the
/// test if it takes longer than `within`.
pub fn run_bounded(mut cmd: Command, within: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let out = drain(child.stdout.take().expect("stdout"));
    let err = drain(child.stderr.take().expect("stderr"));
    let deadline = Instant::now() + within;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not end within {within:?}; stderr: {}",
                String::from_utf8_lossy(&err.join().unwrap_or_default())
            );
        }
        thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

fn drain(mut r: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        v
    })
}

/// Panics with the command's output unless it succeeded.
fn check(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Polls `f` every 50 ms until it returns `Some`, failing the test after
/// `within` with `what` in the message.
pub fn wait_for<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// A running lab, torn down (`lab.sh down`) when dropped.
pub struct Lab {
    prefix: String,
    is_down: bool,
    up_log: String,
}

impl Lab {
    /// Builds a lab with a fresh prefix ([`unique_lab_prefix`]).
    pub fn up() -> Lab {
        Lab::up_with_prefix(&unique_lab_prefix())
    }

    /// Builds a lab named `prefix` (replacing one of that name, if any).
    pub fn up_with_prefix(prefix: &str) -> Lab {
        Lab::up_named(prefix, &[])
    }

    /// Builds a lab with a fresh prefix and `lab.sh up` options, such as
    /// `["--board", "aarch64"]` (see `tests/common/vm.rs`). A VM boot under
    /// TCG on a busy machine can take a while: up to 4 minutes.
    pub fn up_with(options: &[&str]) -> Lab {
        Lab::up_named(&unique_lab_prefix(), options)
    }

    fn up_named(prefix: &str, options: &[&str]) -> Lab {
        let mut args = vec!["up"];
        args.extend_from_slice(options);
        let limit = if options.is_empty() {
            SCRIPT_LIMIT
        } else {
            Duration::from_secs(240)
        };
        let out = run_bounded(Lab::script_cmd(prefix, &args), limit);
        // lab.sh removes a half-built lab itself when `up` fails.
        check(
            &format!("lab.sh --prefix {prefix} {}", args.join(" ")),
            &out,
        );
        Lab {
            prefix: prefix.to_owned(),
            is_down: false,
            up_log: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            ),
        }
    }

    fn script_cmd(prefix: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("bash");
        cmd.arg(script()).args(["--prefix", prefix]).args(args);
        cmd.env_remove("MCAST_LAB_PREFIX");
        // VM images: no cargo build from inside `cargo test`, which holds
        // the build lock (scripts/test.sh builds them first).
        cmd.env("MCAST_VM_NO_BUILD", "1");
        cmd
    }

    /// Takes down the lab named `prefix`, whatever state a crash left it
    /// in (`lab.sh down`, which must succeed), and returns its handle.
    pub fn take_down(prefix: &str) -> Lab {
        let mut lab = Lab {
            prefix: prefix.to_owned(),
            is_down: false,
            up_log: String::new(),
        };
        lab.down();
        lab
    }

    /// What `lab.sh up` printed (stderr, then stdout).
    pub fn up_log(&self) -> &str {
        &self.up_log
    }

    /// `lab.sh --prefix P exec HOST ARGS…`, stdin null: runs in the
    /// namespace, or over ssh on the VM when HOST is one.
    pub fn on(&self, host: &str, args: &[&str]) -> Command {
        let mut cmd = self.script_command(&["exec", host]);
        cmd.args(args);
        cmd.stdin(Stdio::null());
        cmd
    }

    /// The lab's name prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The namespace of `host` (one of [`HOSTS`]).
    pub fn ns(&self, host: &str) -> String {
        assert!(
            HOSTS.contains(&host),
            "unknown lab host {host:?} (one of {HOSTS:?})"
        );
        format!("{}-{host}", self.prefix)
    }

    /// `bash scripts/lab.sh --prefix P ARGS…`, not yet run.
    pub fn script_command(&self, args: &[&str]) -> Command {
        Lab::script_cmd(&self.prefix, args)
    }

    /// Runs `lab.sh --prefix P ARGS…` and returns its output, whatever its
    /// exit status.
    pub fn script(&self, args: &[&str]) -> Output {
        run_bounded(self.script_command(args), SCRIPT_LIMIT)
    }

    /// `lab.sh status`: its output (exit 0 while the lab is up).
    pub fn status(&self) -> Output {
        self.script(&["status"])
    }

    /// Sets a switch (`isolate on`, `loss 20`, `querier off`…); fails the
    /// test if `lab.sh` refuses. Returns what it printed (`NAME: STATE`).
    pub fn switch(&self, name: &str, value: &str) -> String {
        self.switch_args(&[name, value])
    }

    /// Sets a switch given as its words (`["dtim", "3", "beacon", "50"]`),
    /// as [`Lab::switch`] does.
    pub fn switch_args(&self, args: &[&str]) -> String {
        let out = self.script(args);
        check(
            &format!("lab.sh --prefix {} {}", self.prefix, args.join(" ")),
            &out,
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A command running `args` inside `host` (`ip netns exec NS ARGS…`),
    /// stdin null.
    pub fn exec(&self, host: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns(host)]).args(args);
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Runs `sh -c SCRIPT` inside `host` and returns its output, whatever
    /// its exit status (bounded to 60 s).
    pub fn sh_output(&self, host: &str, script: &str) -> Output {
        run_bounded(self.exec(host, &["sh", "-c", script]), SCRIPT_LIMIT)
    }

    /// Runs `sh -c SCRIPT` inside `host`, fails the test if it fails, and
    /// returns its stdout.
    pub fn sh(&self, host: &str, script: &str) -> String {
        let out = self.sh_output(host, script);
        check(&format!("in {}: sh -c {script:?}", self.ns(host)), &out);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A command for the `mcast` under test inside `host`:
    /// `ip netns exec NS [MCAST_RUNNER…] MCAST_BIN ARGS…`, stdin null.
    pub fn mcast(&self, host: &str, args: &[&str]) -> Command {
        crate::common::mcast_in(&self.ns(host), args)
    }

    /// Starts `mcast ARGS` in `host` and waits until it has joined.
    pub fn receiver(&self, host: &str, args: &[&str]) -> Running {
        let mut r = Running::start(self.mcast(host, args));
        r.wait_ready();
        r
    }

    /// Runs `mcast ARGS` in `host` to completion (at most `within`) and
    /// checks it succeeded.
    pub fn send_ok(&self, host: &str, args: &[&str], within: Duration) -> Finished {
        let s = run_limited(self.mcast(host, args), within);
        assert_eq!(s.code(), 0, "sender in {host} {args:?}: {s:?}");
        s
    }

    /// The bridge's multicast database (`bridge mdb show` in ap).
    pub fn mdb(&self) -> String {
        self.sh("ap", "bridge mdb show")
    }

    /// Waits (at most 5 s) until the bridge has learned that the station
    /// behind `port` (e.g. `port-board`) is a member of `group`.
    pub fn wait_member(&self, port: &str, group: &str) {
        let needle = format!("port {port} grp {group} ");
        wait_for(
            &format!("{port} to join {group} in the bridge's mdb"),
            Duration::from_secs(5),
            || {
                let mdb = self.mdb();
                mdb.lines()
                    .any(|l| format!("{l} ").contains(&needle))
                    .then_some(())
            },
        );
    }

    /// Starts capturing on `iface` inside `host` with tcpdump (capture
    /// filter `filter`, may be empty) into a pcap file in a temporary
    /// directory, and returns once tcpdump says it is listening (at most
    /// 10 s). Needs tcpdump; reading it back needs tshark.
    pub fn capture(&self, host: &str, iface: &str, filter: &str) -> Capture {
        Capture::start(self, host, iface, filter, &[])
    }

    /// Like [`Lab::capture`], keeping only the first 160 bytes of each
    /// frame (its headers and a probe's header). With whole frames,
    /// tcpdump's ring (2 MiB of 256 KiB slots in immediate mode) holds 8
    /// frames, and the kernel drops the rest of a burst, such as the
    /// frames an access point releases at its DTIM beacon.
    pub fn capture_headers(&self, host: &str, iface: &str, filter: &str) -> Capture {
        Capture::start(self, host, iface, filter, &["-s", "160"])
    }

    /// The lab's runtime directory (`/run/mcast-lab/PREFIX`, or under
    /// `MCAST_LAB_RUN`): the VMs' and the relay's PID files, logs and
    /// counters.
    pub fn run_dir(&self) -> PathBuf {
        let root = std::env::var_os("MCAST_LAB_RUN")
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "/run/mcast-lab".into());
        Path::new(&root).join(&self.prefix)
    }

    /// The PID of the relay of `dtim` and `mcast-rate`, if its PID file is
    /// there and that process runs (not a zombie).
    pub fn relay_pid(&self) -> Option<u32> {
        let pid = std::fs::read_to_string(self.run_dir().join("group-relay.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        alive(pid).then_some(pid)
    }

    /// A counter of the relay of `dtim` and `mcast-rate` (`held`,
    /// `dropped_buffer`, `sent_frames`, `sent_copies`, `dropped_rate`…, see
    /// `scripts/lab/group-relay.py`), as it last wrote them (at most
    /// 0.2 s old); `None` without a relay.
    pub fn relay_stat(&self, key: &str) -> Option<u64> {
        let stats = std::fs::read_to_string(self.run_dir().join("group-relay.stats")).ok()?;
        stats.lines().find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == key).then(|| v.trim().parse().ok()).flatten()
        })
    }

    /// Tears the lab down now (`lab.sh down`); fails the test if that fails.
    /// Dropping the lab afterwards does nothing more.
    pub fn down(&mut self) {
        let out = self.script(&["down"]);
        self.is_down = true;
        check(&format!("lab.sh --prefix {} down", self.prefix), &out);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.is_down {
            return;
        }
        // Never panic here: the test may already be failing.
        match Lab::script_cmd(&self.prefix, &["down"])
            .stdin(Stdio::null())
            .output()
        {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "lab.sh --prefix {} down failed: {}: {}",
                self.prefix,
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("cannot run lab.sh down for {}: {e}", self.prefix),
        }
    }
}

/// Whether PID is a live process (not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

/// Waits (at most 5 s) until PID has ended; fails the test with `what`.
pub fn wait_gone(pid: u32, what: &str) {
    wait_for(what, Duration::from_secs(5), || (!alive(pid)).then_some(()));
}

/// A tshark `frame.time_epoch` ("1700000000.123456000") in ns.
fn epoch_ns(field: &str) -> u64 {
    let (secs, frac) = field.split_once('.').unwrap_or((field, "0"));
    let frac = format!("{frac:0<9}");
    let bad = || panic!("frame.time_epoch {field:?}");
    secs.parse::<u64>().unwrap_or_else(|_| bad()) * 1_000_000_000
        + frac[..9].parse::<u64>().unwrap_or_else(|_| bad())
}

/// A probe seen in a capture ([`Capture::probes`]).
#[derive(Debug, Clone, Copy)]
pub struct ProbeSeen {
    /// When it was captured, ns since the Unix epoch.
    pub at_ns: u64,
    /// Its sequence number.
    pub seq: u64,
    /// Its send time, ns since the Unix epoch (the sender's clock).
    pub sent_ns: u64,
}

static CAPTURE_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A tcpdump capture inside a lab host, written to a pcap file. Dropping it
/// stops tcpdump and deletes the file.
pub struct Capture {
    child: Option<Child>,
    what: String,
    dir: PathBuf,
    file: PathBuf,
    stderr: mpsc::Receiver<String>,
    seen_stderr: Vec<String>,
    exit: Option<ExitStatus>,
}

impl Capture {
    fn start(lab: &Lab, host: &str, iface: &str, filter: &str, options: &[&str]) -> Capture {
        let n = CAPTURE_COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("mcast-lab-{}-cap{n}", lab.prefix()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cannot make the capture directory");
        let file = dir.join(format!("{host}-{iface}.pcap"));
        let what = format!("tcpdump on {iface} in {}", lab.ns(host));
        // -U --immediate-mode: every packet reaches the file at once, so
        // nothing is lost when it is stopped. -Z root: keep root, so the
        // file can be written wherever the temporary directory is.
        let mut cmd = lab.exec(
            host,
            &[
                "tcpdump",
                "-n",
                "-i",
                iface,
                "-U",
                "--immediate-mode",
                "-Z",
                "root",
            ],
        );
        cmd.args(options).arg("-w").arg(&file);
        if !filter.trim().is_empty() {
            cmd.arg(filter);
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stderr = {
            let (tx, rx) = mpsc::channel();
            let r = child.stderr.take().expect("stderr");
            thread::spawn(move || {
                for line in BufReader::new(r).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            rx
        };
        let mut cap = Capture {
            child: Some(child),
            what,
            dir,
            file,
            stderr,
            seen_stderr: Vec::new(),
            exit: None,
        };
        cap.wait_listening(Duration::from_secs(10));
        cap
    }

    fn wait_listening(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if self.seen_stderr.iter().any(|l| l.contains("listening on")) {
                return;
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    self.collect_stderr(Duration::from_millis(500));
                    panic!(
                        "{} ended at once ({status}): {:#?}",
                        self.what, self.seen_stderr
                    );
                }
            }
            match self.stderr.recv_timeout(Duration::from_millis(50)) {
                Ok(l) => self.seen_stderr.push(l),
                Err(_) if Instant::now() < deadline => {}
                Err(_) => panic!(
                    "{} did not start listening within {within:?}: {:#?}",
                    self.what, self.seen_stderr
                ),
            }
        }
    }

    fn collect_stderr(&mut self, within: Duration) {
        while let Ok(l) = self.stderr.recv_timeout(within) {
            self.seen_stderr.push(l);
        }
    }

    /// The pcap file.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// What tcpdump printed on stderr so far.
    pub fn log(&self) -> &[String] {
        &self.seen_stderr
    }

    /// Stops tcpdump (SIGINT to its PID, then SIGKILL after 5 s) and waits
    /// for it; idempotent. Returns how many packets it captured.
    pub fn stop(&mut self) -> u64 {
        if let Some(mut child) = self.child.take() {
            // `ip netns exec` execs tcpdump, so this PID is tcpdump's.
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            let status = loop {
                if let Ok(Some(s)) = child.try_wait() {
                    break s;
                }
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    break child.wait().expect("wait for tcpdump");
                }
                thread::sleep(Duration::from_millis(20));
            };
            self.exit = Some(status);
            self.collect_stderr(Duration::from_millis(500));
        }
        self.seen_stderr
            .iter()
            .find_map(|l| {
                l.strip_suffix(" packets captured")
                    .or_else(|| l.strip_suffix(" packet captured"))
            })
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Stops the capture if it is running, then decodes it with tshark:
    /// one row per packet matching the display filter `display_filter`
    /// (empty: every packet), one string per field in `fields` (e.g.
    /// `eth.dst`, `ip.src`, `ip.ttl`, `ipv6.hlim`, `udp.dstport`,
    /// `igmp.type`, `igmp.maddr`, `igmp.record_type`, `icmpv6.type`,
    /// `icmpv6.mldr.mar.multicast_address`). A field that occurs more than
    /// once in a packet gives its values joined by `,`; one that does not
    /// occur gives an empty string.
    ///
    /// Handy values: IGMP `igmp.type` 0x11 query, 0x16 v2 report, 0x17 v2
    /// leave, 0x22 v3 report (`igmp.record_type` 4 = join (to exclude {}),
    /// 3 = leave (to include {}), 2 = still a member (is exclude {}, the
    /// answer to a query)); MLD `icmpv6.type` 130 query, 131 v1 report,
    /// 132 done, 143 v2 report (`icmpv6.mldr.mar.record_type` as for
    /// IGMPv3, group in `icmpv6.mldr.mar.multicast_address`). The lab's
    /// querier asks every second, so expect record type 2 reports too.
    pub fn fields(&mut self, display_filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
        self.stop();
        let mut cmd = Command::new("tshark");
        cmd.arg("-n").arg("-r").arg(&self.file);
        if !display_filter.trim().is_empty() {
            cmd.args(["-Y", display_filter]);
        }
        cmd.args([
            "-T",
            "fields",
            "-E",
            "separator=/t",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=,",
        ]);
        for f in fields {
            cmd.args(["-e", f]);
        }
        let out = run_bounded(cmd, SCRIPT_LIMIT);
        check(&format!("tshark on {}", self.file.display()), &out);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split('\t').map(str::to_owned).collect::<Vec<_>>())
            .map(|mut row| {
                row.resize(fields.len(), String::new());
                row
            })
            .collect()
    }

    /// How many captured packets match the display filter (stops the
    /// capture first).
    pub fn count(&mut self, display_filter: &str) -> usize {
        self.fields(display_filter, &["frame.number"]).len()
    }

    /// The capture times of the packets matching the display filter, in
    /// ns since the Unix epoch (the kernel's timestamps, as tcpdump wrote
    /// them: µs), in capture order. Stops the capture first.
    pub fn times_ns(&mut self, display_filter: &str) -> Vec<u64> {
        self.fields(display_filter, &["frame.time_epoch"])
            .iter()
            .map(|row| epoch_ns(&row[0]))
            .collect()
    }

    /// The mcast probes among the captured packets matching the display
    /// filter, in capture order: when each was captured, and its sequence
    /// number and send time (see "The probe format" in the README).
    /// Packets that are not probes are left out. Stops the capture first.
    pub fn probes(&mut self, display_filter: &str) -> Vec<ProbeSeen> {
        self.fields(display_filter, &["frame.time_epoch", "udp.payload"])
            .iter()
            .filter_map(|row| {
                let hex: String = row[1].chars().filter(|c| *c != ':').collect();
                let word = |at: usize| u64::from_str_radix(hex.get(at * 2..at * 2 + 16)?, 16).ok();
                (hex.get(..8)? == "4d435354").then_some(())?;
                Some(ProbeSeen {
                    at_ns: epoch_ns(&row[0]),
                    seq: word(16)?,
                    sent_ns: word(24)?,
                })
            })
            .collect()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
