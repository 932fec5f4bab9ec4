//! Shared helpers for the end-to-end tests: which binary to run, network
//! namespaces that clean up after themselves, and the skip policy; its
//! module `json` reads mcast's `--json` output with serde_json, and
//! `topology` builds the small namespace topologies several tests share, and
//! `scratch` makes temporary directories.
//!
//! Environment:
//! - `MCAST_BIN`: the `mcast` binary to drive (default: the one cargo built for
//!   this test run). The ARM suites point it at a cross-built binary.
//! - `MCAST_RUNNER`: a command prefix for that binary, split on spaces, for
//!   example `qemu-aarch64 -L /usr/aarch64-linux-gnu`.
//! - `MCAST_TEST_STRICT=1`: a test that would skip (no root, no `ip netns`)
//!   fails instead. The README test command sets it, so CI never passes by
//!   skipping.
#![allow(dead_code, unreachable_pub)]

pub mod json;
pub mod scratch;
pub mod topology;

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The binary under test.
pub fn mcast_bin() -> PathBuf {
    match std::env::var_os("MCAST_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_mcast")),
    }
}

/// The runner prefix (emulator) for the binary under test, if any.
pub fn mcast_runner() -> Vec<String> {
    std::env::var("MCAST_RUNNER")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Whether the binary runs under an emulator (`MCAST_RUNNER`), where
/// everything starts slower.
pub fn emulated() -> bool {
    !mcast_runner().is_empty()
}

/// A command for the `mcast` under test inside the namespace `ns`:
/// `ip netns exec NS [MCAST_RUNNER…] MCAST_BIN ARGS…`, stdin null.
pub fn mcast_in(ns: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]);
    for r in mcast_runner() {
        cmd.arg(r);
    }
    cmd.arg(mcast_bin());
    cmd.args(args);
    cmd.stdin(Stdio::null());
    cmd
}

/// A command that runs the binary under test (through the runner, if any)
/// with `args`.
pub fn mcast_command(args: &[&str]) -> Command {
    let runner = mcast_runner();
    let mut cmd = match runner.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(mcast_bin());
            c
        }
        None => Command::new(mcast_bin()),
    };
    cmd.args(args);
    cmd
}

/// Clears the settings of the outer `cargo test` that must not leak into a
/// cargo the test runs (its target, flags and target directory).
pub fn without_outer_cargo(cmd: &mut Command) -> &mut Command {
    cmd.env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
}

/// True when skips must become failures.
pub fn strict() -> bool {
    matches!(
        std::env::var("MCAST_TEST_STRICT").as_deref(),
        Ok("1") | Ok("true") | Ok("yes")
    )
}

/// Skips the current test with a printed reason, or fails it under
/// `MCAST_TEST_STRICT=1`. Returns `true` when the caller must return early.
pub fn skip(reason: &str) -> bool {
    if strict() {
        panic!("MCAST_TEST_STRICT=1 forbids skipping: {reason}");
    }
    eprintln!("SKIPPED: {reason}");
    true
}

/// Whether network namespaces can be made here (root and `ip netns`).
/// Call as `if !can_netns() { return; }`.
pub fn can_netns() -> bool {
    let root = nix_geteuid() == 0;
    if !root {
        return !skip(
            "needs root to create network namespaces (run as root, or use the README test command)",
        );
    }
    let ok = Command::new("ip")
        .args(["netns", "list"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        return !skip("`ip netns` is not available (install iproute2)");
    }
    true
}

fn nix_geteuid() -> u32 {
    // Read from /proc to avoid a libc dependency in tests.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(u32::MAX)
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A prefix unique to this test process and call: `mt<pid hex><n>`.
/// Short, because some names derived from it must fit in 15 bytes.
pub fn unique_prefix() -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("mt{:x}x{n}", std::process::id())
}

/// Runs a command and panics with its output if it fails.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `ip ARGS…` (on the host, which only ever touches namespaces we made).
pub fn ip(args: &[&str]) {
    run(Command::new("ip").args(args));
}

/// A network namespace owned by one test. Dropping it kills the processes
/// it started and deletes the namespace, which deletes its links.
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `<unique prefix>-<tag>` with `lo` up.
    pub fn new(tag: &str) -> Netns {
        let name = format!("{}-{tag}", unique_prefix());
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        // No DAD: link-local addresses are usable at once, so tests do not wait.
        ns.sh("sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0");
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n NS ARGS…`.
    pub fn ip(&self, args: &[&str]) {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        ip(&full);
    }

    /// Runs a shell command inside the namespace and returns its stdout.
    pub fn sh(&self, script: &str) -> String {
        let out = run(Command::new("ip").args(["netns", "exec", &self.name, "sh", "-c", script]));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A command for `mcast ARGS…` inside the namespace.
    pub fn mcast(&self, args: &[&str]) -> Command {
        mcast_in(&self.name, args)
    }

    /// The index of `dev` inside the namespace.
    pub fn ifindex(&self, dev: &str) -> u32 {
        self.sh(&format!("cat /sys/class/net/{dev}/ifindex"))
            .trim()
            .parse()
            .expect("ifindex")
    }

    /// The IPv6 link-local address of `dev` (waits for it to appear).
    pub fn link_local(&self, dev: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let out = self.sh(&format!("ip -6 -o addr show dev {dev} scope link"));
            if let Some(addr) = out
                .split_whitespace()
                .skip_while(|w| *w != "inet6")
                .nth(1)
                .and_then(|a| a.split('/').next())
            {
                return addr.to_owned();
            }
            assert!(Instant::now() < deadline, "no link-local address on {dev}");
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // End only what runs in our namespace (by PID, from `ip netns pids`).
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Connects `a:dev_a` and `b:dev_b` with a veth pair, created directly inside
/// the namespaces so no name ever appears in the host's namespace.
pub fn veth(a: &Netns, dev_a: &str, b: &Netns, dev_b: &str) {
    a.ip(&[
        "link",
        "add",
        dev_a,
        "type",
        "veth",
        "peer",
        "name",
        dev_b,
        "netns",
        b.name(),
    ]);
    a.ip(&["link", "set", dev_a, "up"]);
    b.ip(&["link", "set", dev_b, "up"]);
}

/// A running `mcast` whose stdout and stderr are collected line by line.
pub struct Running {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr_lines: mpsc::Receiver<String>,
    seen_stdout: Vec<String>,
    seen_stderr: Vec<String>,
}

/// What a finished `mcast` left behind.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// The exit code (panics if the process was killed by a signal).
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("killed by a signal: {self:?}"))
    }
}

fn pump(r: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits until a line of one stream (`name`) is `wanted` (described as
/// `what` in the panic): first among the lines `seen` so far, then among
/// those arriving on `lines`, keeping them in `seen`. Panics after `within`.
fn wait_line(
    lines: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    name: &str,
    what: &dyn std::fmt::Debug,
    wanted: &dyn Fn(&str) -> bool,
    within: Duration,
) -> String {
    let deadline = Instant::now() + within;
    let mut looked = 0;
    loop {
        // Each line is judged once: `wanted` may parse it.
        if let Some(l) = seen[looked..].iter().find(|l| wanted(l)) {
            return l.clone();
        }
        looked = seen.len();
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left.min(Duration::from_millis(100))) {
            Ok(l) => seen.push(l),
            Err(_) if Instant::now() < deadline => {}
            Err(_) => panic!("no {name} line {what:?} within {within:?}; {name} so far: {seen:#?}"),
        }
    }
}

impl Running {
    /// Starts `cmd` with piped output.
    pub fn start(mut cmd: Command) -> Running {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let stdout = pump(child.stdout.take().unwrap());
        let stderr_lines = pump(child.stderr.take().unwrap());
        Running {
            child,
            stdout,
            stderr_lines,
            seen_stdout: Vec::new(),
            seen_stderr: Vec::new(),
        }
    }

    /// The process id (of `ip netns exec`, which execs into mcast).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until a stderr line contains `needle`; panics after `within`.
    pub fn wait_stderr(&mut self, needle: &str, within: Duration) -> String {
        wait_line(
            &self.stderr_lines,
            &mut self.seen_stderr,
            "stderr",
            &format_args!("containing {needle:?}"),
            &|l| l.contains(needle),
            within,
        )
    }

    /// Waits until a stdout line contains `needle`; panics after `within`.
    pub fn wait_stdout(&mut self, needle: &str, within: Duration) -> String {
        wait_line(
            &self.stdout,
            &mut self.seen_stdout,
            "stdout",
            &format_args!("containing {needle:?}"),
            &|l| l.contains(needle),
            within,
        )
    }

    /// Waits until a stdout line is a JSON object of type `kind` for which
    /// `wanted` holds, and returns it parsed; panics after `within` (or on a
    /// stdout line that is not JSON).
    pub fn wait_json(
        &mut self,
        kind: &str,
        wanted: impl Fn(&json::Value) -> bool,
        within: Duration,
    ) -> json::Value {
        let line = wait_line(
            &self.stdout,
            &mut self.seen_stdout,
            "stdout",
            &format_args!("of type {kind:?} as wanted"),
            &|l| json::object_of(l, kind).is_some_and(|v| wanted(&v)),
            within,
        );
        json::parse_line(&line)
    }

    /// Waits until the receiver says it is listening (its status line).
    pub fn wait_ready(&mut self) {
        self.wait_stderr("listening", Duration::from_secs(20));
    }

    /// Sends a signal to the process (by our own child's PID).
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status();
    }

    /// Waits for the process to end (killing it after `within`).
    pub fn finish(mut self, within: Duration) -> Finished {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let s = self.child.wait().expect("wait");
                let mut rest = Vec::new();
                while let Ok(l) = self.stderr_lines.recv_timeout(Duration::from_millis(200)) {
                    rest.push(l);
                }
                panic!(
                    "process did not end within {within:?} ({s}); stdout: {:#?} stderr: {:#?} {rest:#?}",
                    self.seen_stdout, self.seen_stderr
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        let mut stdout = std::mem::take(&mut self.seen_stdout);
        while let Ok(l) = self.stdout.recv_timeout(Duration::from_secs(2)) {
            stdout.push(l);
        }
        let mut stderr = std::mem::take(&mut self.seen_stderr);
        while let Ok(l) = self.stderr_lines.recv_timeout(Duration::from_secs(2)) {
            stderr.push(l);
        }
        Finished {
            status,
            stdout: stdout.join("\n"),
            stderr: stderr.join("\n"),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs a command to completion with a time limit.
pub fn run_limited(cmd: Command, within: Duration) -> Finished {
    Running::start(cmd).finish(within)
}

/// Adds `addr` (with prefix) to `dev` in `ns`; IPv6 without DAD.
pub fn addr(ns: &Netns, dev: &str, addr: &str) {
    if addr.contains(':') {
        ns.ip(&["addr", "add", addr, "dev", dev, "nodad"]);
    } else {
        ns.ip(&["addr", "add", addr, "brd", "+", "dev", dev]);
    }
}

/// A namespace holding a Linux bridge `br0` (snooping off, so it floods
/// multicast like a plain switch), to which hosts are attached with veths.
pub struct Hub {
    pub ns: Netns,
    ports: u32,
}

impl Hub {
    pub fn new() -> Hub {
        let ns = Netns::new("hub");
        ns.ip(&[
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        ns.ip(&["link", "set", "br0", "up"]);
        Hub { ns, ports: 0 }
    }

    /// Attaches `host` through its interface `dev` (a veth whose peer is a
    /// bridge port).
    pub fn attach(&mut self, host: &Netns, dev: &str) {
        self.ports += 1;
        let port = format!("p{}", self.ports);
        veth(&self.ns, &port, host, dev);
        self.ns.ip(&["link", "set", &port, "master", "br0"]);
    }
}
