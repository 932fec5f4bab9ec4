//! The main job over `lo`, each test in a namespace of its own: ten hello
//! worlds and their source, JSON output, several receivers on one port,
//! Ctrl-C and SIGTERM, a closed pipe.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{can_netns, run_limited, Netns, Running};

const T: Duration = Duration::from_secs(30);

fn lo_ns(tag: &str) -> Option<Netns> {
    can_netns().then(|| Netns::new(tag))
}

#[test]
fn ten_hello_worlds_and_their_source() {
    let Some(ns) = lo_ns("lo10") else { return };
    let mut rx = Running::start(ns.mcast(&["recv", "-i", "lo", "--timeout", "20s"]));
    rx.wait_ready();
    let tx = run_limited(
        ns.mcast(&["send", "-i", "lo", "-c", "10", "--interval", "100ms"]),
        T,
    );
    assert_eq!(tx.code(), 0, "{tx:?}");
    assert_eq!(
        tx.stdout.matches("Message sent (11 bytes)").count(),
        10,
        "{tx:?}"
    );
    assert!(
        tx.stdout.contains("sent 10 packets, 110 bytes in"),
        "{tx:?}"
    );
    assert!(tx.stderr.contains("pinned by"), "{tx:?}");
    let rx = rx.finish(T);
    assert_eq!(rx.code(), 0, "{rx:?}");
    let lines: Vec<&str> = rx
        .stdout
        .lines()
        .filter(|l| l.contains("hello world"))
        .collect();
    assert_eq!(lines.len(), 10, "{rx:?}");
    for l in &lines {
        // time, source address:port, byte count, payload
        assert!(
            l.contains(" 127.0.0.1:") && l.ends_with(" 11 bytes: hello world"),
            "{l}"
        );
    }
    assert!(
        rx.stdout.contains("received 10 packets, 110 bytes in"),
        "{rx:?}"
    );
    assert!(rx.stdout.contains("from 1 source"), "{rx:?}");
    assert!(
        rx.stderr.contains("left 239.74.20.30 on lo (index 1)"),
        "{rx:?}"
    );
}

#[test]
fn json_output_has_the_documented_fields() {
    let Some(ns) = lo_ns("lojson") else { return };
    let mut rx = Running::start(ns.mcast(&[
        "--json",
        "recv",
        "239.74.20.31:5999",
        "-i",
        "lo",
        "-c",
        "2",
        "--timeout",
        "20s",
    ]));
    rx.wait_ready();
    let tx = run_limited(
        ns.mcast(&[
            "--json",
            "send",
            "239.74.20.31:5999",
            "-i",
            "lo",
            "-c",
            "2",
            "--interval",
            "50ms",
            "-m",
            "a\"b\u{1b}",
        ]),
        T,
    );
    assert_eq!(tx.code(), 0, "{tx:?}");
    let tx_lines: Vec<&str> = tx.stdout.lines().collect();
    assert!(
        tx_lines[0].starts_with(r#"{"type":"sending","destination":"239.74.20.31:5999","source":"#),
        "{tx:?}"
    );
    assert!(
        tx_lines[0].contains(
            r#""interface":"lo","index":1,"ttl":1,"loop":true,"broadcast":false,"pinned_by":"#
        ),
        "{tx:?}"
    );
    assert_eq!(
        tx_lines
            .iter()
            .filter(|l| l.starts_with(r#"{"type":"sent","time":""#))
            .count(),
        2
    );
    assert!(
        tx_lines
            .last()
            .unwrap()
            .starts_with(r#"{"type":"summary","role":"send","packets":2,"bytes":8,"duration_s":"#),
        "{tx:?}"
    );
    let rx = rx.finish(T);
    assert_eq!(rx.code(), 0, "{rx:?}");
    let lines: Vec<&str> = rx.stdout.lines().collect();
    assert!(lines[0].starts_with(r#"{"type":"joined","group":"239.74.20.31","port":5999,"interface":"lo","index":1,"source_filter":null,"source_filter_by":null,"broadcast":false,"mechanism":"#), "{rx:?}");
    // ip_mreq where ip_mreqn is missing (qemu-user on aarch64).
    assert!(
        lines[0].contains(r#""mechanism":"ip_mreqn","rcvbuf":"#)
            || lines[0].contains(r#""mechanism":"ip_mreq","rcvbuf":"#),
        "{rx:?}"
    );
    let msgs: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with(r#"{"type":"message""#))
        .collect();
    assert_eq!(msgs.len(), 2, "{rx:?}");
    for m in msgs {
        assert!(m.contains(r#""source":"127.0.0.1:"#), "{m}");
        assert!(m.contains(r#""destination":"239.74.20.31","bytes":4,"truncated":false,"text":"a\"b\u001b","hex":"6122621b"}"#), "{m}");
        assert!(m.contains(r#""unix_ns":"#), "{m}");
    }
    assert!(
        lines.contains(&r#"{"type":"left","group":"239.74.20.31","interface":"lo"}"#),
        "{rx:?}"
    );
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with(r#"{"type":"summary","role":"recv","packets":2,"bytes":8,"duration_s":"#),
        "{rx:?}"
    );
    assert!(
        lines.last().unwrap().ends_with(
            r#""sources":1,"filtered":0,"kernel_drops":0,"interrupted":false,"timed_out":false}"#
        ),
        "{rx:?}"
    );
}

#[test]
fn two_receivers_share_the_port() {
    let Some(ns) = lo_ns("loshare") else { return };
    let mut a = Running::start(ns.mcast(&["recv", "-i", "lo", "-c", "3", "--timeout", "20s"]));
    let mut b = Running::start(ns.mcast(&["recv", "-i", "lo", "-c", "3", "--timeout", "20s"]));
    a.wait_ready();
    b.wait_ready();
    let tx = run_limited(
        ns.mcast(&["send", "-i", "lo", "-c", "3", "--interval", "50ms"]),
        T,
    );
    assert_eq!(tx.code(), 0, "{tx:?}");
    for r in [a.finish(T), b.finish(T)] {
        assert_eq!(r.code(), 0, "{r:?}");
        assert_eq!(r.stdout.matches("hello world").count(), 3, "{r:?}");
    }
}

#[test]
fn receiver_gets_only_the_group_it_joined() {
    let Some(ns) = lo_ns("loall") else { return };
    // A second receiver on the same port joins another group; with
    // IP_MULTICAST_ALL off, the first must not see that group's traffic.
    let mut mine = Running::start(ns.mcast(&[
        "recv",
        "239.1.1.1:6000",
        "-i",
        "lo",
        "-c",
        "2",
        "--timeout",
        "3s",
    ]));
    let mut other = Running::start(ns.mcast(&[
        "recv",
        "239.1.1.2:6000",
        "-i",
        "lo",
        "-c",
        "1",
        "--timeout",
        "20s",
    ]));
    mine.wait_ready();
    other.wait_ready();
    let tx = run_limited(
        ns.mcast(&[
            "send",
            "239.1.1.2:6000",
            "-i",
            "lo",
            "-c",
            "1",
            "-m",
            "other",
        ]),
        T,
    );
    assert_eq!(tx.code(), 0);
    let tx = run_limited(
        ns.mcast(&[
            "send",
            "239.1.1.1:6000",
            "-i",
            "lo",
            "-c",
            "1",
            "-m",
            "mine",
        ]),
        T,
    );
    assert_eq!(tx.code(), 0);
    let other = other.finish(T);
    assert_eq!(other.code(), 0, "{other:?}");
    let mine = mine.finish(T);
    assert!(mine.stdout.contains(": mine"), "{mine:?}");
    assert!(!mine.stdout.contains(": other"), "{mine:?}");
    assert_eq!(mine.code(), 1, "only 1 of 2 arrived: {mine:?}");
    assert!(
        mine.stderr.contains("only 1 of 2 datagrams arrived"),
        "{mine:?}"
    );
}

fn interrupted_by(sig: &str) {
    let Some(ns) = lo_ns("losig") else { return };
    let mut rx = Running::start(ns.mcast(&["recv", "-i", "lo", "-c", "0"]));
    rx.wait_ready();
    let mut tx = Running::start(ns.mcast(&["send", "-i", "lo", "--interval", "100ms"]));
    rx.wait_stdout("hello world", T);
    tx.wait_stdout("Message sent", T);
    rx.signal(sig);
    tx.signal(sig);
    let rx = rx.finish(T);
    let tx = tx.finish(T);
    assert_eq!(rx.code(), 130, "{rx:?}");
    assert!(
        rx.stderr.contains("left 239.74.20.30 on lo (index 1)"),
        "{rx:?}"
    );
    assert!(
        rx.stdout.lines().last().unwrap().starts_with("received "),
        "{rx:?}"
    );
    assert_eq!(tx.code(), 130, "{tx:?}");
    assert!(
        tx.stdout.lines().last().unwrap().starts_with("sent "),
        "{tx:?}"
    );
}

#[test]
fn sigint_prints_the_summary_and_leaves() {
    interrupted_by("INT");
}

#[test]
fn sigterm_prints_the_summary_and_leaves() {
    interrupted_by("TERM");
}

#[test]
fn timeout_with_nothing_names_the_likely_causes() {
    let Some(ns) = lo_ns("lonone") else { return };
    let f = run_limited(ns.mcast(&["recv", "-i", "lo", "--timeout", "300ms"]), T);
    assert_eq!(f.code(), 1, "{f:?}");
    assert!(
        f.stderr
            .contains("nothing arrived on 239.74.20.30:54321 via lo (index 1) within 300ms"),
        "{f:?}"
    );
    assert!(
        f.stderr.contains("firewall") && f.stderr.contains("isolates clients"),
        "{f:?}"
    );
    assert!(f.stdout.contains("received 0 packets"), "{f:?}");
}

#[test]
fn hex_dump_and_escaped_payloads() {
    let Some(ns) = lo_ns("lohex") else { return };
    let mut rx = Running::start(ns.mcast(&["recv", "-i", "lo", "-c", "1", "--timeout", "20s"]));
    let mut rxh =
        Running::start(ns.mcast(&["recv", "-i", "lo", "-c", "1", "--hex", "--timeout", "20s"]));
    rx.wait_ready();
    rxh.wait_ready();
    let tx = run_limited(
        ns.mcast(&["send", "-i", "lo", "-c", "1", "-m", "\u{1b}[2Jhi\u{7}"]),
        T,
    );
    assert_eq!(tx.code(), 0);
    let rx = rx.finish(T);
    assert!(rx.stdout.contains(" 7 bytes: \\x1b[2Jhi\\x07"), "{rx:?}");
    assert!(
        !rx.stdout.contains('\u{1b}'),
        "raw escape reached the terminal: {rx:?}"
    );
    let rxh = rxh.finish(T);
    assert!(
        rxh.stdout.contains("00000000: 1b5b 324a 6869 07"),
        "{rxh:?}"
    );
}

#[test]
fn closed_stdout_ends_quietly() {
    let Some(ns) = lo_ns("lopipe") else { return };
    for args in [
        &["ifaces"][..],
        &["recv", "-i", "lo", "--timeout", "5s"][..],
    ] {
        let mut cmd = ns.mcast(args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        drop(child.stdout.take()); // the reader is gone, like `| head -0`
        if args[0] == "recv" {
            std::thread::sleep(Duration::from_millis(300));
            let tx = run_limited(
                ns.mcast(&["send", "-i", "lo", "-c", "2", "--interval", "50ms"]),
                T,
            );
            assert_eq!(tx.code(), 0);
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

#[test]
fn bind_device_works_as_root_and_says_why_it_fails_without() {
    let Some(ns) = lo_ns("lobind") else { return };
    let r = {
        let mut rx = Running::start(ns.mcast(&[
            "recv",
            "-i",
            "lo",
            "--bind-device",
            "-c",
            "1",
            "--timeout",
            "20s",
        ]));
        rx.wait_ready();
        let tx = run_limited(
            ns.mcast(&["send", "-i", "lo", "--bind-device", "-c", "1"]),
            T,
        );
        assert_eq!(tx.code(), 0, "{tx:?}");
        rx.finish(T)
    };
    assert_eq!(r.code(), 0, "{r:?}");
    // Without privileges, Linux before 5.7 (and some Android policies) refuse
    // SO_BINDTODEVICE; newer kernels allow a first bind. Either it works, or
    // it is a runtime failure (exit 1) naming the option, the interface and why.
    let mut cmd = std::process::Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        ns.name(),
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ]);
    cmd.args(common::mcast_runner());
    cmd.arg(common::mcast_bin());
    cmd.args(["send", "-i", "lo", "--bind-device", "-c", "1"]);
    let f = run_limited(cmd, T);
    match f.code() {
        0 => assert!(f.stdout.contains("sent 1 packet,"), "{f:?}"),
        1 => assert!(
            f.stderr
                .contains("cannot set SO_BINDTODEVICE on lo (index 1): Operation not permitted")
                && f.stderr.contains("needs CAP_NET_RAW"),
            "{f:?}"
        ),
        _ => panic!("{f:?}"),
    }
}

/// `-i ?` on a terminal: the numbered menu, the access-point picker of the
/// original program. `script` gives mcast a pseudo-terminal; the answer is
/// typed on its input.
#[test]
fn interface_menu_on_a_terminal() {
    let Some(ns) = lo_ns("lomenu") else { return };
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        common::skip("`script` (util-linux) is not installed");
        return;
    }
    let peer = Netns::new("lomenup");
    common::veth(&ns, "wlan0", &peer, "wlan0");
    common::addr(&ns, "wlan0", "198.18.16.1/24");
    let mut inner: Vec<String> = common::mcast_runner();
    inner.push(common::mcast_bin().display().to_string());
    inner.extend(["recv", "-i", "'?'", "-c", "1", "--timeout", "300ms"].map(String::from));
    for (answer, chosen) in [("1", "lo (index 1)"), ("", "wlan0"), ("wlan0", "wlan0")] {
        let mut cmd = std::process::Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            ns.name(),
            "script",
            "-qec",
            &inner.join(" "),
            "/dev/null",
        ]);
        cmd.stdin(std::process::Stdio::piped());
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            let _ = writeln!(stdin, "{answer}");
            // Keep the terminal open until mcast has read the answer.
            std::thread::sleep(Duration::from_millis(1500));
        }
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Choose the interface for IPv4 multicast:"),
            "{text}"
        );
        assert!(
            text.contains(" 1) lo") && text.contains(" 2) wlan0"),
            "{text}"
        );
        assert!(text.contains("(automatic choice)"), "{text}");
        assert!(
            text.contains(&format!("joined on {chosen}")),
            "answer {answer:?}: {text}"
        );
    }
}

/// A tmux server of our own (its socket named for this test run), killed
/// when dropped, even when the test fails.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "menu"]).stdout)
            .into_owned()
    }

    /// Waits until the pane shows `needle`; panics after 30 s.
    fn wait_for(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.screen();
            if s.contains(needle) {
                return s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the terminal never showed {needle:?}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// `-i ?` in a real terminal (tmux): Ctrl-C at the prompt ends mcast at once
/// with exit code 130, before anything is opened (it once waited for Enter);
/// Ctrl-D ends it with exit code 2 and the message on a line of its own.
#[test]
fn interface_menu_ends_on_ctrl_c_and_ctrl_d_in_a_terminal() {
    let Some(ns) = lo_ns("lotmux") else { return };
    if std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_err()
    {
        common::skip("tmux is not installed");
        return;
    }
    let peer = Netns::new("lotmuxp");
    common::veth(&ns, "wlan0", &peer, "wlan0");
    common::addr(&ns, "wlan0", "198.18.17.1/24");
    let mut inner: Vec<String> = vec!["ip".into(), "netns".into(), "exec".into(), ns.name().into()];
    inner.extend(common::mcast_runner());
    inner.push(common::mcast_bin().display().to_string());
    inner.extend(["recv", "-i", "'?'", "-c", "1", "--timeout", "30s"].map(String::from));
    for (key, code) in [("C-c", 130), ("C-d", 2)] {
        let tmux = Tmux {
            socket: format!("{}-{key}", common::unique_prefix()),
        };
        // The shell prints the exit code where the pane shows it.
        let script = format!("{}; echo \"EXIT=$?\"; sleep 60", inner.join(" "));
        let out = tmux.cmd(&[
            "new-session",
            "-d",
            "-x",
            "200",
            "-y",
            "50",
            "-s",
            "menu",
            &script,
        ]);
        assert!(out.status.success(), "tmux: {out:?}");
        tmux.wait_for("Number [2]:");
        let out = tmux.cmd(&["send-keys", "-t", "menu", key]);
        assert!(out.status.success(), "tmux send-keys: {out:?}");
        // At once: without waiting for Enter, which never comes.
        let screen = tmux.wait_for("EXIT=");
        assert!(screen.contains(&format!("EXIT={code}")), "{key}:\n{screen}");
        assert!(
            !screen.contains("listening") && !screen.contains("joined"),
            "{key}: nothing may be opened:\n{screen}"
        );
        let lines: Vec<&str> = screen.lines().collect();
        let prompt = lines
            .iter()
            .position(|l| l.contains("Number [2]:"))
            .unwrap();
        if key == "C-d" {
            assert!(
                lines[prompt + 1].starts_with("mcast: error: no interface chosen (end of input)"),
                "the message must start a line:\n{screen}"
            );
        } else {
            // The terminal itself echoes ^C.
            let after = lines[prompt].split("Number [2]:").nth(1).unwrap_or("");
            assert!(
                matches!(after.trim(), "" | "^C") && lines[prompt + 1].starts_with("EXIT=130"),
                "nothing but a new line after Ctrl-C:\n{screen}"
            );
        }
    }
}
