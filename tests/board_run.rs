//! Tests of `scripts/board-run.sh` against stand-in `ssh` and `scp`
//! (`tests/data/fake-ssh/`), put first on `PATH`. The stand-in "board" is
//! this machine: `uname -m` answers what the test says, copies land in a
//! scratch directory, and remote commands run locally with `sh -c`. The
//! "binaries" are shell scripts that print their arguments. No board and no
//! network are involved: this checks the script's logic only.
#![allow(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

const SEP: char = '\u{1f}';

struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mcast-board-run-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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
        std::fs::create_dir_all(dir.0.join("target")).unwrap();
        std::fs::create_dir_all(dir.0.join("board-tmp")).unwrap();
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
        let base = self.dir.0.join("target");
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
        self.dir.0.join("board-tmp")
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
            .env("MCAST_TARGET_DIR", self.dir.0.join("target"))
            .env("FAKE_SSH_LOG", self.dir.0.join("ssh.log"))
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run scripts/board-run.sh");
        let log = std::fs::read_to_string(self.dir.0.join("ssh.log")).unwrap_or_default();
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
fn stand_in_ssh_aarch64_board_gets_the_gnu_build() {
    let board = Board::new("a64", "aarch64")
        .with_build(GNU_ARM64)
        .with_build(MUSL_ARM64);
    let run = board.run(&["pi@board", "ifaces"]);
    run.assert_code(0);
    assert_eq!(run.copied(), Some(path_str(board.build_path(GNU_ARM64))));
    assert!(
        run.stdout
            .contains(&format!("FAKE-MCAST build={GNU_ARM64}")),
        "{run:#?}"
    );
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
fn stand_in_ssh_armv7l_board_gets_the_armv7_build() {
    let board = Board::new("armv7", "armv7l")
        .with_build(GNU_ARMV7)
        .with_build(GNU_ARM64);
    let run = board.run(&["pi@board", "ifaces"]);
    run.assert_code(0);
    assert_eq!(run.copied(), Some(path_str(board.build_path(GNU_ARMV7))));
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
fn stand_in_ssh_arguments_with_spaces_and_quotes_survive() {
    let board = Board::new("args", "aarch64").with_build(GNU_ARM64);
    let marker = board.dir.0.join("pwned");
    let injection = format!("$(touch {})", marker.display());
    let args = [
        "send",
        "239.1.2.3:5000",
        "hello world",
        "it's",
        "say \"hi\"",
        "",
        "*",
        injection.as_str(),
    ];
    let mut all = vec!["board"];
    all.extend_from_slice(&args);
    let run = board.run(&all);
    run.assert_code(0);
    let got: Vec<&str> = run
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("arg=[").and_then(|l| l.strip_suffix(']')))
        .collect();
    assert_eq!(got, args, "{run:#?}");
    assert!(
        !marker.exists(),
        "an argument was executed by the board's shell"
    );
}

#[test]
fn stand_in_ssh_exit_code_passes_through_and_the_board_is_cleaned_up() {
    let board = Board::new("exit", "aarch64")
        .with_build(GNU_ARM64)
        .set("FAKE_MCAST_EXIT", "4");
    let run = board.run(&["board", "send", "239.1.2.3:5000", "x"]);
    run.assert_code(4);
    let left: Vec<_> = std::fs::read_dir(board.board_tmp())
        .unwrap()
        .flatten()
        .collect();
    assert!(
        left.is_empty(),
        "temporary directory left on the board: {left:?}"
    );
}

#[test]
fn stand_in_ssh_ssh_opts_reach_both_ssh_and_scp() {
    let board = Board::new("opts", "aarch64")
        .with_build(GNU_ARM64)
        .set("SSH_OPTS", "-o Port=2222 -i /keys/board");
    let run = board.run(&["board", "ifaces"]);
    run.assert_code(0);
    for tool in ["ssh", "scp"] {
        let calls: Vec<_> = run.calls.iter().filter(|c| c[0] == tool).collect();
        assert!(!calls.is_empty(), "no {tool} call: {run:#?}");
        for c in calls {
            assert_eq!(
                &c[1..5],
                ["-o", "Port=2222", "-i", "/keys/board"],
                "{tool}: {run:#?}"
            );
        }
    }
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
