//! Per-stream figures and per-packet records over `lo` in a namespace of
//! the test's own: hand-made probes with a known loss pattern (sent by a
//! small python3 script, each stamped with its send time) go to
//! `mcast recv`, which must report their loss runs and percentiles
//! (`--json`, and the table), and write one record row per probe
//! (`--record`) that `mcast report` reads.
//!
//! Run: `cargo test --test record` (as root; without root or python3 the
//! tests skip, or fail under `MCAST_TEST_STRICT=1`).

mod common;

use std::process::Command;
use std::time::Duration;

use common::json::{only, typed_lines, Fields, Value as Json};
use common::{can_netns, run_limited, Finished, Netns, Running};
use mcast::{Probe, SenderId, PROBE_HEADER_LEN};

const T: Duration = Duration::from_secs(30);
const GROUP: &str = "239.74.20.30";
const PORT: u16 = 54321;
/// Probes of 64 bytes.
const SIZE: usize = 64;

/// Stream A loses 5, 9–10 and 20–23 of 1–30: three runs, the longest 4.
const A_LOST: &[u64] = &[5, 9, 10, 20, 21, 22, 23];
const A: u64 = 0x0000_0000_0000_000a;
const B: u64 = 0x0000_0000_0000_000b;
const N: u64 = 30;

fn lo_ns(tag: &str) -> Option<Netns> {
    if !can_netns() {
        return None;
    }
    if Command::new("python3").arg("--version").output().is_err() {
        common::skip("python3 is not installed (it sends the hand-made probes)");
        return None;
    }
    Some(Netns::new(tag))
}

/// The probes, interleaved: A's (without [`A_LOST`]) and B's (all), 1 to
/// [`N`].
fn probes() -> Vec<(u64, u64)> {
    (1..=N)
        .flat_map(|seq| [(A, seq), (B, seq)])
        .filter(|&(id, seq)| !(id == A && A_LOST.contains(&seq)))
        .collect()
}

/// Sends `probes` (sender id, seq) to the group on `lo` in `ns`, 2 ms
/// apart, each stamped with its send time by python3.
fn send(ns: &Netns, probes: &[(u64, u64)]) {
    let hex: Vec<String> = probes
        .iter()
        .map(|&(id, seq)| {
            let mut b = [0u8; SIZE];
            Probe::new(SenderId::new(id), seq, 0)
                .encode_into(&mut b, SIZE)
                .unwrap();
            b.iter().map(|x| format!("{x:02x}")).collect()
        })
        .collect();
    let script = format!(
        "import socket, time\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton('127.0.0.1'))\n\
         for h in {hex:?}:\n\
         \x20   b = bytearray.fromhex(h)\n\
         \x20   b[24:32] = time.time_ns().to_bytes(8, 'big')\n\
         \x20   s.sendto(b, ('{GROUP}', {PORT}))\n\
         \x20   time.sleep(0.002)\n"
    );
    assert_eq!(PROBE_HEADER_LEN, 32, "the script stamps bytes 24-32");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns.name(), "python3", "-c", &script]);
    let f = run_limited(cmd, T);
    assert_eq!(f.code(), 0, "python3 sender: {f:?}");
}

/// Runs `mcast recv -i lo -c 0 --timeout 3s ARGS GROUP` in `ns` while the
/// probes go out.
fn receive(ns: &Netns, args: &[&str]) -> Finished {
    let mut full = vec!["recv", "-i", "lo", "-c", "0", "--timeout", "3s"];
    full.extend_from_slice(args);
    full.push(GROUP);
    let mut rx = Running::start(ns.mcast(&full));
    rx.wait_ready();
    send(ns, &probes());
    let f = rx.finish(T);
    assert_eq!(f.code(), 0, "{f:?}");
    f
}

fn stream(sum: &Json, id: u64) -> &Json {
    let id = format!("{id:016x}");
    sum.a("streams")
        .iter()
        .find(|s| s.s("sender_id") == id)
        .unwrap_or_else(|| panic!("no stream {id} in {sum:?}"))
}

#[test]
fn loss_runs_and_percentiles_of_two_streams() {
    let Some(ns) = lo_ns("pct") else { return };
    let f = receive(&ns, &["--json"]);
    let sum = only(&typed_lines(&f.stdout, &f), "summary", Some("recv")).clone();
    let a = stream(&sum, A);
    assert_eq!(
        (a.u("lost"), a.u("loss_runs"), a.u("loss_run_max")),
        (7, 3, 4),
        "{a:?}"
    );
    let b = stream(&sum, B);
    assert_eq!(
        (b.u("lost"), b.u("loss_runs"), b.u("loss_run_max")),
        (0, 0, 0),
        "{b:?}"
    );
    for s in [a, b] {
        // Same host: the delay is shown, and its percentiles are in order.
        let d: Vec<f64> = [
            "delay_p50_ms",
            "delay_p90_ms",
            "delay_p99_ms",
            "delay_p999_ms",
        ]
        .iter()
        .map(|k| s.f(k))
        .collect();
        assert!(d.windows(2).all(|w| w[0] <= w[1]), "{s:?}");
        assert!(d[0] >= 0.0 && d[3] <= s.f("delay_max_ms") + 1e-9, "{s:?}");
        // A probe every 4 ms per stream (2 ms apart, interleaved), longer
        // across A's holes; sleeping python may be late, never early.
        let (p50, p99, max) = (s.f("gap_p50_ms"), s.f("gap_p99_ms"), s.f("gap_max_ms"));
        assert!((3.0..=40.0).contains(&p50), "{s:?}");
        assert!(p50 <= p99 && p99 <= max, "{s:?}");
        assert!(s.at("burst_period_ms").is_null(), "{s:?}");
    }
    // A's longest hole (20–23 lost: 19 to 24 is 6 sends of 2 ms) shows in
    // its largest gap.
    assert!(a.f("gap_max_ms") >= 11.0, "{a:?}");
    // The periodic `stats` lines carry the same fields.
    let lines = typed_lines(&f.stdout, &f);
    let st = lines
        .iter()
        .rfind(|l| l.s("type") == "stats")
        .unwrap_or_else(|| panic!("no stats line: {f:?}"));
    let sa = stream(st, A);
    assert_eq!((sa.u("loss_runs"), sa.u("loss_run_max")), (3, 4), "{sa:?}");
    assert!(
        sa.f("delay_p99_ms") >= 0.0 && sa.f("gap_p99_ms") > 0.0,
        "{sa:?}"
    );
    assert!(sa.at("burst_period_ms").is_null(), "{sa:?}");
}

#[test]
fn the_table_shows_delay_p50_and_p99() {
    let Some(ns) = lo_ns("pcttab") else { return };
    let f = receive(&ns, &[]);
    let header = f
        .stdout
        .lines()
        .find(|l| l.starts_with("group "))
        .unwrap_or_else(|| panic!("no table: {f:?}"));
    assert!(header.contains("delay p50/p99 ms"), "{f:?}");
    let rows: Vec<&str> = f.stdout.lines().filter(|l| l.starts_with(GROUP)).collect();
    assert_eq!(rows.len(), 2, "{f:?}");
    for r in rows {
        let cols: Vec<&str> = r.split_whitespace().collect();
        let (p50, p99) = cols[12].split_once('/').expect("p50/p99");
        let (p50, p99): (f64, f64) = (p50.parse().unwrap(), p99.parse().unwrap());
        assert!(p50 >= 0.0 && p50 <= p99, "{r}");
    }
}

/// The rows of a record (after its header), split at the commas.
fn rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

/// Checks the rows against the probes sent: one per probe, in order per
/// stream, with A's holes as gaps in `seq`.
fn assert_rows(rows: &[Vec<String>]) {
    assert_eq!(rows.len(), probes().len(), "{rows:?}");
    for (id, want) in [
        (
            A,
            (1..=N)
                .filter(|s| !A_LOST.contains(s))
                .collect::<Vec<u64>>(),
        ),
        (B, (1..=N).collect()),
    ] {
        let id = format!("{id:016x}");
        let mine: Vec<&Vec<String>> = rows.iter().filter(|r| r[4] == id).collect();
        let seqs: Vec<u64> = mine.iter().map(|r| r[5].parse().unwrap()).collect();
        assert_eq!(seqs, want, "stream {id}");
        for r in mine {
            assert_eq!(r.len(), 8, "{r:?}");
            assert_eq!(
                (&r[1][..], &r[2][..], &r[3][..]),
                ("127.0.0.1", GROUP, "54321")
            );
            assert_eq!(r[7], SIZE.to_string());
            let (arrival, sent): (u64, u64) = (r[0].parse().unwrap(), r[6].parse().unwrap());
            // One clock: arrival after the send, by well under a second.
            assert!(arrival >= sent && arrival - sent < 1_000_000_000, "{r:?}");
        }
    }
}

#[test]
fn record_writes_one_row_per_probe_and_report_reads_it() {
    let Some(ns) = lo_ns("rec") else { return };
    let dir = std::env::temp_dir().join(format!("mcast-{}-rec", common::unique_prefix()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("run.csv");
    let f = receive(&ns, &["--record", csv.to_str().unwrap()]);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(
        text.lines().next(),
        Some("arrival_unix_ns,source,group,port,sender_id,seq,send_unix_ns,bytes"),
        "{text}"
    );
    assert_rows(&rows(&text));
    // The table still goes to stdout.
    assert!(f.stdout.contains("received 53 packets"), "{f:?}");
    // And the report reads it: an SVG naming the group.
    let svg = dir.join("run.svg");
    let r = run_limited(
        ns.mcast(&["report", csv.to_str().unwrap(), "-o", svg.to_str().unwrap()]),
        T,
    );
    assert_eq!(r.code(), 0, "{r:?}");
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(
        svg.starts_with("<svg") || svg.starts_with("<?xml"),
        "{svg:.200}"
    );
    assert!(svg.contains(GROUP), "{svg:.400}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn record_to_stdout_keeps_everything_else_on_stderr() {
    let Some(ns) = lo_ns("recout") else { return };
    let f = receive(&ns, &["--record", "-"]);
    assert!(
        f.stdout
            .starts_with("arrival_unix_ns,source,group,port,sender_id,seq,send_unix_ns,bytes\n"),
        "{f:?}"
    );
    assert_rows(&rows(&f.stdout));
    // Status lines, the table and the totals: on stderr.
    assert!(f.stderr.contains("mcast: listening on"), "{f:?}");
    assert!(f.stderr.contains("received 53 packets"), "{f:?}");
    assert!(f.stderr.contains("delay p50/p99 ms"), "{f:?}");
}
