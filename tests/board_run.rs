//! Tests of `scripts/board-run.sh`.
//!
//! Real: against the lab's board VMs (`lab.sh up --board aarch64|armv7`,
//! see `tests/common/vm.rs`), whose sshd is Debian's dropbear and whose scp
//! goes through OpenSSH's sftp-server, from the lab's pc and phone
//! namespaces with this machine's OpenSSH client: the architecture comes
//! from the VM's `uname -m`, the matching release build is copied, runs on
//! an ARM kernel, its output and exit status come back, Ctrl-C on a
//! terminal reaches it (it prints its summary and leaves its group, and
//! the bridge forgets the membership), and multicast flows from the board
//! to the pc and from the phone to the board.
//!
//! Stand-ins, for what no VM here can show (error paths and boards we do
//! not have: armv6l, mips, x86_64, a board with only the musl build, an
//! unreachable board, usage errors): `ssh` and `scp` from
//! `tests/data/fake-ssh/`, put first on `PATH`. The stand-in "board" is
//! this machine: `uname -m` answers what the test says, copies land in a
//! scratch directory, and remote commands run locally with `sh -c`. The
//! "binaries" are shell scripts that print their arguments.
#![allow(missing_docs)]

mod common;
#[path = "common/lab.rs"]
mod lab;
#[path = "common/vm.rs"]
mod vm;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::run_limited;
use common::scratch::Scratch;
use lab::{Lab, BOARD_V4, PHONE_WIFI_V4};

const SEP: char = '\u{1f}';

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

const GNU_ARM64: &str = "aarch64-unknown-linux-gnu";
const MUSL_ARM64: &str = "aarch64-unknown-linux-musl";
const GNU_ARMV7: &str = "armv7-unknown-linux-gnueabihf";
const HOST: &str = "host";

struct Board {
    dir: Scratch,
    env: Vec<(String, String)>,
}

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    calls: Vec<Vec<String>>,
}

impl Board {
    fn new(tag: &str, uname: &str) -> Board {
        let dir = Scratch::new(tag);
        std::fs::create_dir_all(dir.path().join("target")).unwrap();
        std::fs::create_dir_all(dir.path().join("board-tmp")).unwrap();
        Board {
            dir,
            env: vec![("FAKE_SSH_UNAME".into(), uname.into())],
        }
    }

    fn set(mut self, key: &str, value: &str) -> Board {
        self.env.push((key.into(), value.into()));
        self
    }

    fn build_path(&self, target: &str) -> PathBuf {
        let base = self.dir.path().join("target");
        if target == HOST {
            base.join("release/mcast")
        } else {
            base.join(target).join("release/mcast")
        }
    }

    /// A fake `mcast` for `target` where cargo would build it.
    fn with_build(self, target: &str) -> Board {
        let bin = self.build_path(target);
        std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
        std::fs::write(
            &bin,
            format!(
                "#!/bin/sh\n\
                 echo \"FAKE-MCAST build={target}\"\n\
                 for a in \"$@\"; do printf 'arg=[%s]\\n' \"$a\"; done\n\
                 exit ${{FAKE_MCAST_EXIT:-0}}\n"
            ),
        )
        .unwrap();
        self
    }

    /// The board's temporary directory (TMPDIR for the stand-in ssh).
    fn board_tmp(&self) -> PathBuf {
        self.dir.path().join("board-tmp")
    }

    fn run(&self, args: &[&str]) -> Run {
        let fake = repo().join("tests/data/fake-ssh");
        let path = format!(
            "{}:{}",
            fake.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("bash");
        cmd.arg(repo().join("scripts/board-run.sh"))
            .args(args)
            .env("PATH", path)
            .env_remove("SSH_OPTS")
            .env_remove("SSH")
            .env_remove("SCP")
            .env("TMPDIR", self.board_tmp())
            .env("MCAST_TARGET_DIR", self.dir.path().join("target"))
            .env("FAKE_SSH_LOG", self.dir.path().join("ssh.log"))
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run scripts/board-run.sh");
        let log = std::fs::read_to_string(self.dir.path().join("ssh.log")).unwrap_or_default();
        Run {
            code: out.status.code().expect("board-run.sh killed by a signal"),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            calls: log
                .lines()
                .map(|l| l.split(SEP).map(str::to_owned).collect())
                .collect(),
        }
    }
}

impl Run {
    fn assert_code(&self, code: i32) {
        assert_eq!(self.code, code, "unexpected exit code: {self:#?}");
    }

    fn scp_calls(&self) -> Vec<&Vec<String>> {
        self.calls.iter().filter(|c| c[0] == "scp").collect()
    }

    /// The local file that was copied to the board.
    fn copied(&self) -> Option<String> {
        self.scp_calls().first().map(|c| c[c.len() - 2].clone())
    }
}

fn path_str(p: PathBuf) -> String {
    p.to_string_lossy().into_owned()
}

#[test]
fn stand_in_ssh_aarch64_board_falls_back_to_the_static_musl_build() {
    let board = Board::new("a64musl", "aarch64").with_build(MUSL_ARM64);
    let run = board.run(&["pi@board", "ifaces"]);
    run.assert_code(0);
    assert_eq!(run.copied(), Some(path_str(board.build_path(MUSL_ARM64))));
}

#[test]
fn stand_in_ssh_arm64_spelling_maps_to_aarch64() {
    let board = Board::new("arm64", "arm64").with_build(GNU_ARM64);
    let run = board.run(&["board", "ifaces"]);
    run.assert_code(0);
    assert_eq!(run.copied(), Some(path_str(board.build_path(GNU_ARM64))));
}

#[test]
fn stand_in_ssh_armv7l_board_without_armv7_build_fails_with_a_hint() {
    // An aarch64 binary must not be sent to a 32-bit board.
    let board = Board::new("armv7none", "armv7l")
        .with_build(GNU_ARM64)
        .with_build(MUSL_ARM64);
    let run = board.run(&["pi@board", "ifaces"]);
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("cargo build --release --target armv7-unknown-linux-gnueabihf"),
        "{run:#?}"
    );
    assert!(run.scp_calls().is_empty(), "{run:#?}");
}

#[test]
fn stand_in_ssh_armv6l_board_is_refused() {
    let board = Board::new("armv6", "armv6l").with_build(GNU_ARMV7);
    let run = board.run(&["pi@zero", "ifaces"]);
    run.assert_code(1);
    assert!(
        run.stderr.contains("armv6l") && run.stderr.contains("ARMv6"),
        "{run:#?}"
    );
    assert!(run.scp_calls().is_empty(), "{run:#?}");
}

#[test]
fn stand_in_ssh_x86_64_machine_gets_the_host_build() {
    let board = Board::new("x86", "x86_64")
        .with_build(HOST)
        .with_build(GNU_ARM64);
    let run = board.run(&["server", "ifaces"]);
    run.assert_code(0);
    assert_eq!(run.copied(), Some(path_str(board.build_path(HOST))));
}

#[test]
fn stand_in_ssh_unknown_architecture_is_refused() {
    let board = Board::new("mips", "mips").with_build(GNU_ARM64);
    let run = board.run(&["router", "ifaces"]);
    run.assert_code(1);
    assert!(run.stderr.contains("'mips'"), "{run:#?}");
}

#[test]
fn stand_in_ssh_target_option_overrides_the_choice() {
    let board = Board::new("target", "aarch64")
        .with_build(GNU_ARM64)
        .with_build(MUSL_ARM64);
    let run = board.run(&["--target", MUSL_ARM64, "board", "ifaces"]);
    run.assert_code(0);
    assert_eq!(run.copied(), Some(path_str(board.build_path(MUSL_ARM64))));
}

#[test]
fn stand_in_ssh_unreachable_board_fails_clearly() {
    let board = Board::new("down", "aarch64")
        .with_build(GNU_ARM64)
        .set("FAKE_SSH_FAIL", "1");
    let run = board.run(&["board", "ifaces"]);
    run.assert_code(1);
    assert!(run.stderr.contains("could not reach board"), "{run:#?}");
}

#[test]
fn stand_in_ssh_help_and_usage_errors() {
    let board = Board::new("usage", "aarch64");
    let run = board.run(&["--help"]);
    run.assert_code(0);
    assert!(
        run.stdout.contains("Usage: scripts/board-run.sh"),
        "{run:#?}"
    );
    for args in [
        &[][..],
        &["board"][..],
        &["--bogus", "board", "ifaces"][..],
        &["--target"][..],
    ] {
        let run = board.run(args);
        run.assert_code(2);
        assert!(
            run.calls.is_empty(),
            "usage errors must not touch the board: {run:#?}"
        );
    }
}

// --- Against the board VMs' real sshd ----------------------------------------

const GROUP: &str = "239.74.20.30";
const LIMIT: Duration = Duration::from_secs(90);

/// `scripts/board-run.sh ARGS…` from the lab host `from`, with the lab's
/// ssh configuration (the VMs' names, the key) in SSH_OPTS.
fn board_run(lab: &Lab, from: &str, args: &[&str]) -> Command {
    let mut cmd = lab.exec(from, &["env", &format!("SSH_OPTS={}", ssh_opts(lab))]);
    cmd.arg(repo().join("scripts/board-run.sh")).args(args);
    cmd
}

fn ssh_opts(lab: &Lab) -> String {
    format!("-F /run/mcast-lab/{}/ssh_config", lab.prefix())
}

/// The release build board-run.sh must pick for `target`, which the image
/// builder (scripts/vm/image.sh, run by scripts/test.sh) makes.
fn release_build(target: &str) -> PathBuf {
    repo().join("target").join(target).join("release/mcast")
}

fn vm_board(arch: &str) -> Option<(Lab, std::sync::MutexGuard<'static, ()>)> {
    if !vm::can_vm(arch) {
        return None;
    }
    let one = vm::one_at_a_time();
    Some((Lab::up_with(&["--board", arch]), one))
}

/// What the board's /tmp holds of board-run.sh's temporary directories.
fn leftovers(lab: &Lab) -> String {
    let out = lab
        .on(
            "board",
            &["sh", "-c", "ls -d /tmp/mcast.* 2>/dev/null; true"],
        )
        .output()
        .expect("lab.sh exec board");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn real_ssh_aarch64_board_vm() {
    let Some((lab, _one)) = vm_board("aarch64") else {
        return;
    };
    let gnu = release_build(GNU_ARM64);
    assert!(
        gnu.is_file(),
        "no {} (scripts/vm/image.sh aarch64 builds it)",
        gnu.display()
    );

    // The architecture, the choice, the run, the exit status.
    let r = run_limited(board_run(&lab, "pc", &["board", "ifaces"]), LIMIT);
    assert_eq!(r.code(), 0, "{r:#?}");
    assert!(
        r.stderr.contains("board board, architecture aarch64"),
        "{r:#?}"
    );
    assert!(
        r.stderr
            .contains(&format!("binary {} ({GNU_ARM64} build)", gnu.display())),
        "{r:#?}"
    );
    assert!(r.stdout.contains("picked: wlan0"), "{r:#?}");
    let r = run_limited(
        board_run(&lab, "pc", &["board", "recv", "-c", "1", "--timeout", "1s"]),
        LIMIT,
    );
    assert_eq!(
        r.code(),
        1,
        "mcast's exit code 1 (timeout) comes back: {r:#?}"
    );
    assert!(r.stdout.contains("received 0 packets"), "{r:#?}");
    let r = run_limited(
        board_run(&lab, "pc", &["board", "send", "192.0.2.1:99"]),
        LIMIT,
    );
    assert_eq!(
        r.code(),
        2,
        "mcast's usage error (exit 2) comes back: {r:#?}"
    );

    // The board sends to the pc; an argument with quotes, a command
    // substitution and a glob reaches mcast unchanged.
    let text = "it's \"quoted\" $(touch /tmp/pwned) *";
    let (rx, _) = vm::exchange(
        &lab,
        lab.mcast("pc", &["recv", "-c", "2", "--timeout", "60s"]),
        "port-pc",
        GROUP,
        board_run(
            &lab,
            "phone",
            &[
                "board",
                "send",
                "-c",
                "2",
                "--interval",
                "200ms",
                "-m",
                text,
            ],
        ),
    );
    assert_eq!(vm::lines_from(&rx.stdout, BOARD_V4, text), 2, "{rx:#?}");
    let pwned = lab
        .on("board", &["test", "-e", "/tmp/pwned"])
        .status()
        .expect("exec");
    assert!(!pwned.success(), "an argument was run by the board's shell");

    // The phone sends to the board.
    let (rx, _) = vm::exchange(
        &lab,
        board_run(
            &lab,
            "pc",
            &["board", "recv", "-c", "3", "--timeout", "60s"],
        ),
        "port-board",
        GROUP,
        lab.mcast("phone", &["send", "-c", "3", "--interval", "200ms"]),
    );
    assert_eq!(
        vm::lines_from(&rx.stdout, PHONE_WIFI_V4, "hello world"),
        3,
        "{rx:#?}"
    );
    assert_eq!(leftovers(&lab), "", "board-run.sh leaves nothing in /tmp");

    // Without a terminal (output piped), SIGINT to board-run.sh reaches mcast
    // on the board by its PID there; on a terminal, Ctrl-C travels over
    // ssh -t. Either way mcast prints its summary, leaves the group (the
    // bridge forgets the board), and its exit code 130 comes back.
    vm::sigint_reaches_remote_recv(
        &lab,
        board_run(&lab, "pc", &["board", "recv", "-c", "0"]),
        "port-board",
    );
    let line = format!(
        "{} board recv -c 0",
        repo().join("scripts/board-run.sh").display()
    );
    vm::ctrl_c_reaches_remote_recv(
        &lab,
        "pc",
        &line,
        &[("SSH_OPTS", &ssh_opts(&lab))],
        "port-board",
    );
    assert_eq!(
        leftovers(&lab),
        "",
        "board-run.sh leaves nothing in /tmp after Ctrl-C"
    );
}

#[test]
fn real_ssh_armv7_board_vm() {
    let Some((lab, _one)) = vm_board("armv7") else {
        return;
    };
    let armv7 = release_build(GNU_ARMV7);
    assert!(
        armv7.is_file(),
        "no {} (scripts/vm/image.sh armv7 builds it)",
        armv7.display()
    );
    let (rx, _) = vm::exchange(
        &lab,
        board_run(
            &lab,
            "pc",
            &["board", "--json", "recv", "-c", "2", "--timeout", "60s"],
        ),
        "port-board",
        GROUP,
        lab.mcast("phone", &["send", "-c", "2", "--interval", "200ms"]),
    );
    assert!(rx.stderr.contains("architecture armv7l"), "{rx:#?}");
    assert!(
        rx.stderr
            .contains(&format!("binary {} ({GNU_ARMV7} build)", armv7.display())),
        "{rx:#?}"
    );
    assert_eq!(
        rx.stdout.matches("\"text\":\"hello world\"").count(),
        2,
        "{rx:#?}"
    );
    assert!(rx.stdout.contains("\"mechanism\":\"ip_mreqn\""), "{rx:#?}");
}
