//! ARM VMs in the lab: `lab.sh up --board aarch64|armv7 --phone aarch64`
//! makes the station a qemu-system VM (TCG) booting a Debian ARM kernel,
//! a station of the lab's Wi-Fi through a tap port of `br0` in the ap (see
//! `scripts/lab.sh --help`, "ARM VMs"). The board VM runs dropbear, the
//! phone VM also adbd; both have the mcast release build in `/usr/bin`.
//!
//! Include it after `common` and `lab`:
//!
//! ```ignore
//! mod common;
//! #[path = "common/lab.rs"]
//! mod lab;
//! #[path = "common/vm.rs"]
//! mod vm;
//! ```
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{can_netns, run_limited, Finished, Running};
use crate::lab::{self, have, Lab};

/// Whether a lab with a VM of `arch` (`aarch64` or `armv7`) can be built
/// here: root, namespaces, qemu-system, ssh, socat, and the tools of the
/// image builder. Skips the test (a failure under MCAST_TEST_STRICT=1)
/// otherwise. The image itself is built, or found cached, by `lab.sh up`.
pub fn can_vm(arch: &str) -> bool {
    if !can_netns() {
        return false;
    }
    let qemu = match arch {
        "aarch64" => "qemu-system-aarch64",
        "armv7" => "qemu-system-arm",
        other => panic!("no VM of architecture {other:?}"),
    };
    have(&[
        qemu, "ssh", "socat", "script", "cpio", "depmod", "dpkg-deb", "readelf",
    ])
}

/// Like [`can_vm`], and the host `adb` (Debian bookworm-backports' 34).
pub fn can_adb() -> bool {
    can_vm("aarch64") && have(&["adb"])
}

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Held by a VM test for its whole run: the VMs of one test binary boot and
/// run one lab at a time, so that two TCG guests never share the two cores.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// `mcast ARGS…` on HOST, the VM's own build (`/usr/bin/mcast`) if HOST
/// is a VM.
pub fn vm_mcast(lab: &Lab, host: &str, args: &[&str]) -> Command {
    let mut full = vec!["mcast"];
    full.extend_from_slice(args);
    lab.on(host, &full)
}

/// How long one exchange, or one remote command, may take.
const LIMIT: Duration = Duration::from_secs(90);

/// One exchange of multicast: starts the receiver `rx`, waits until it
/// listens and the bridge has the station behind `port` in `group`, runs
/// the sender `tx` to its end, waits for the receiver, and returns the
/// receiver's and the sender's results. Both must exit 0.
pub fn exchange(
    lab: &Lab,
    rx: Command,
    port: &str,
    group: &str,
    tx: Command,
) -> (Finished, Finished) {
    let mut rx = Running::start(rx);
    rx.wait_ready();
    lab.wait_member(port, group);
    let tx = run_limited(tx, LIMIT);
    assert_eq!(tx.code(), 0, "the sender failed: {tx:#?}");
    let rx = rx.finish(LIMIT);
    assert_eq!(rx.code(), 0, "the receiver failed: {rx:#?}");
    (rx, tx)
}

/// How many of mcast recv's text lines came from address `from` and end
/// with `text`.
pub fn lines_from(stdout: &str, from: &str, text: &str) -> usize {
    let from = format!(" {from}:");
    stdout
        .lines()
        .filter(|l| l.contains(&from) && l.ends_with(text))
        .count()
}

/// The group the interrupt checks listen on (mcast's default).
const DEFAULT_GROUP: &str = "239.74.20.30";

/// What an interrupted remote `mcast recv` on the lab's station behind
/// `port` must have done: exit 130 after its summary and its leave, and
/// the bridge forgets the membership.
fn assert_interrupted(lab: &Lab, port: &str, code: Option<i32>, output: &str) {
    assert_eq!(code, Some(130), "{output}");
    assert!(output.contains("left 239.74.20.30 on wlan0"), "{output}");
    assert!(output.contains("received 0 packets"), "{output}");
    lab::wait_for(
        &format!("the bridge to forget {port}'s membership"),
        Duration::from_secs(10),
        || {
            (!lab
                .mdb()
                .contains(&format!("port {port} grp {DEFAULT_GROUP} ")))
            .then_some(())
        },
    );
}

/// A runner script (`board-run.sh`, `adb-run.sh`) started by `cmd` without
/// a terminal runs `mcast recv -c 0` on the station behind `port`; SIGINT
/// to the script reaches the remote mcast, whose summary and leave come
/// back, with its exit code 130.
pub fn sigint_reaches_remote_recv(lab: &Lab, cmd: Command, port: &str) {
    let mut rx = Running::start(cmd);
    rx.wait_stderr("listening on 239.74.20.30:54321", LIMIT);
    lab.wait_member(port, DEFAULT_GROUP);
    rx.signal("INT");
    let rx = rx.finish(LIMIT);
    assert!(
        rx.stderr.contains("(SIGINT)"),
        "the script says it stops mcast: {rx:#?}"
    );
    let output = format!("{}\n{}", rx.stdout, rx.stderr);
    assert_interrupted(lab, port, rx.status.code(), &output);
}

/// The same on a terminal: the shell command line `line` runs in lab host
/// `host` under `script` with `env`, and Ctrl-C is typed.
pub fn ctrl_c_reaches_remote_recv(
    lab: &Lab,
    host: &str,
    line: &str,
    env: &[(&str, &str)],
    port: &str,
) {
    let mut pty = Pty::start(lab, host, line, env);
    pty.wait_for("listening on 239.74.20.30:54321", LIMIT);
    lab.wait_member(port, DEFAULT_GROUP);
    pty.send(b"\x03");
    let (status, output) = pty.finish(LIMIT);
    assert_interrupted(lab, port, status.code(), &output);
}

static TAG: AtomicU32 = AtomicU32::new(0);

/// A command on a VM that can be signalled later by its PID in the VM.
pub struct Remote {
    host: String,
    pid_file: String,
}

impl Remote {
    /// `ARGS…` on HOST, started through a shell that writes its PID to a
    /// file in the VM and then execs the command (the PID stays the
    /// command's). Returns the handle and the command to start.
    pub fn command(lab: &Lab, host: &str, args: &[&str]) -> (Remote, Command) {
        let pid_file = format!(
            "/tmp/mcast-test-{}-{}.pid",
            std::process::id(),
            TAG.fetch_add(1, Ordering::SeqCst)
        );
        let script = format!("echo $$ >{pid_file}; exec \"$@\"");
        let mut full = vec!["sh", "-c", script.as_str(), "sh"];
        full.extend_from_slice(args);
        let cmd = lab.on(host, &full);
        (
            Remote {
                host: host.to_owned(),
                pid_file,
            },
            cmd,
        )
    }

    /// Sends SIGNAL (`INT`, `TERM`) to the command in the VM, by its PID.
    pub fn signal(&self, lab: &Lab, signal: &str) {
        let script = format!("kill -{signal} \"$(cat {})\"", self.pid_file);
        let out = lab
            .on(&self.host, &["sh", "-c", &script])
            .output()
            .expect("run lab.sh exec");
        assert!(
            out.status.success(),
            "kill -{signal} on {} failed: {out:?}",
            self.host
        );
    }
}

/// A command run on a terminal: `script` gives it a pseudo-terminal, so
/// ssh and adb see one (`-t`) and a Ctrl-C written to it travels as on a
/// person's keyboard. stdout and stderr arrive mixed, with `\r\n`.
pub struct Pty {
    child: Child,
    stdin: Option<ChildStdin>,
    output: Arc<Mutex<Vec<u8>>>,
}

impl Pty {
    /// Runs the shell command line `line` in the namespace of lab host
    /// `host` (`ip netns exec NS script -qefc LINE /dev/null`) with the
    /// environment variables `env`.
    pub fn start(lab: &Lab, host: &str, line: &str, env: &[(&str, &str)]) -> Pty {
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            &lab.ns(host),
            "script",
            "-qefc",
            line,
            "/dev/null",
        ]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start script -c {line:?}: {e}"));
        let output = Arc::new(Mutex::new(Vec::new()));
        for r in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let out = Arc::clone(&output);
            thread::spawn(move || {
                let mut r = r;
                let mut buf = [0u8; 4096];
                while let Ok(n) = r.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    out.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
        Pty {
            stdin: child.stdin.take(),
            child,
            output,
        }
    }

    /// Everything printed so far.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Waits until the output contains `needle`; fails the test after
    /// `within`.
    pub fn wait_for(&self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.output().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} within {within:?}; output so far:\n{}",
                self.output()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types `bytes` on the terminal (`b"\x03"` is Ctrl-C).
    pub fn send(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).expect("write to the terminal");
        stdin.flush().expect("flush the terminal");
    }

    /// Waits for the command to end (killing it after `within`, which
    /// fails the test) and returns its exit status and output.
    pub fn finish(mut self, within: Duration) -> (ExitStatus, String) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                // Let the readers catch the last bytes.
                thread::sleep(Duration::from_millis(200));
                return (status, self.output());
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the command on the terminal did not end within {within:?}; output:\n{}",
                    self.output()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        self.stdin.take();
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The string value of `"key":"…"` in one line of mcast's JSON (no
/// escapes expected: the values read here are names and addresses).
pub fn json_str(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("\"{key}\":\""))? + key.len() + 4;
    line[start..].split('"').next().map(str::to_owned)
}

/// The number value of `"key":N` in one line of mcast's JSON.
pub fn json_num(line: &str, key: &str) -> Option<f64> {
    let start = line.find(&format!("\"{key}\":"))? + key.len() + 3;
    line[start..].split([',', '}']).next()?.parse().ok()
}

/// The lines of `text` whose `type` is `kind`.
pub fn json_of<'a>(text: &'a str, kind: &str) -> Vec<&'a str> {
    let tag = format!("{{\"type\":\"{kind}\"");
    text.lines().filter(|l| l.starts_with(&tag)).collect()
}
