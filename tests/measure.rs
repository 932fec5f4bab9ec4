//! Measuring the path (issue "Measure the path"), in the lab of
//! `scripts/lab.sh`: probes from `mcast send --probe`, the statistics of
//! `mcast recv` (loss, duplicates, streams, groups, other traffic), and
//! `mcast ping` against `mcast recv --echo` responders. The proof:
//!
//! 1. the ap dropping 10 % of the group's UDP at random makes `recv` report
//!    7–13 % loss over 5,000 probes, and every probe is accounted for;
//! 2. an nftables `dup` rule makes `recv` report a duplicate per probe and
//!    no loss;
//! 3. `ping` lists two responders with their round-trip times;
//! 4. with client isolation, `ping` gets no responder and exits 1;
//! 5. every `--json` line parses (a strict JSON checker below), and the
//!    objects have exactly the fields the README's JSON table lists;
//! 6. two senders are two streams, a restarted sender is a new stream, and
//!    plain messages are printed and counted as `other` while probes flow;
//! 7. several groups (a range and a list with ports) are counted apart.
//!
//! Every mcast runs through `Lab::mcast`, so `MCAST_BIN`/`MCAST_RUNNER`
//! apply (the ARM suites run these tests with an emulated binary: rates stay
//! at or below 1000 probes/s and time limits are generous).
//!
//! Run: `cargo test --test measure -- --test-threads=2` (as root; without
//! root they skip, or fail under `MCAST_TEST_STRICT=1`).

mod common;
#[path = "common/lab.rs"]
mod lab;

use std::collections::BTreeSet;
use std::time::Duration;

use common::json::{self, of_type, only, Fields, Value as Json};
use common::{emulated, run_limited, Finished, Running};
use lab::{lab_with, Lab};

/// Upper bound for any one mcast run beyond its own `--timeout`.
const T: Duration = Duration::from_secs(60);
const GROUP: &str = "239.74.20.30";
const PORT: &str = "54321";

// ---------------------------------------------------------------------------
// Helpers

/// A receiver's `--timeout` for a test whose senders are busy for about
/// `busy_secs` after the receiver is ready: that, plus room for starting
/// the senders (more under an emulator).
fn timeout(busy_secs: u64) -> String {
    format!("{}s", busy_secs + if emulated() { 8 } else { 3 })
}

/// Starts `mcast ARGS` in `host`, waits until it listens and until the
/// bridge forwards each of `groups` to it.
fn receiver(lab: &Lab, host: &str, args: &[&str], groups: &[&str]) -> Running {
    let mut r = Running::start(lab.mcast(host, args));
    r.wait_ready();
    for g in groups {
        lab.wait_member(&format!("port-{host}"), g);
    }
    r
}

/// The unsigned fields `keys` of `object`, in that order.
fn counts(object: &Json, keys: &[&str]) -> Vec<u64> {
    keys.iter().map(|k| object.u(k)).collect()
}

/// A `--json recv` of GROUP on `host` that ends after `to` without
/// traffic (see [`timeout`]).
fn json_receiver(lab: &Lab, host: &str, to: &str) -> Running {
    receiver(
        lab,
        host,
        &["recv", "-c", "0", "--timeout", to, "--json", GROUP],
        &[GROUP],
    )
}

/// Waits for a receiver started with `--timeout` to end by itself, and
/// checks it succeeded.
fn finish(r: Running, what: &str) -> Finished {
    let f = r.finish(T);
    assert_eq!(f.code(), 0, "{what}: {f:?}");
    f
}

/// Runs `mcast ARGS` in `host` to completion and checks it succeeded.
fn run_ok(lab: &Lab, host: &str, args: &[&str]) -> Finished {
    let f = run_limited(lab.mcast(host, args), T);
    assert_eq!(f.code(), 0, "mcast {args:?} in {host}: {f:?}");
    f
}

/// Every stdout line of a `--json` run, parsed; fails the test on a line
/// that is not one JSON object whose first field is a string `type`.
fn json_lines(f: &Finished) -> Vec<Json> {
    json::typed_lines(&f.stdout, f)
}

/// The `summary` of a `recv --json` run.
fn recv_summary(f: &Finished) -> Json {
    only(&json_lines(f), "summary", Some("recv")).clone()
}

/// The `sender_id` and `source` a `send --probe --json` run announced (the
/// same id for every group, one source port per group).
fn announced(f: &Finished) -> Vec<(String, String)> {
    let lines = json_lines(f);
    of_type(&lines, "sending", None)
        .iter()
        .map(|s| (s.s("sender_id").to_owned(), s.s("source").to_owned()))
        .collect()
}

/// The IP address of `address:port`.
fn ip_of(source: &str) -> &str {
    source.rsplit_once(':').map_or(source, |(ip, _)| ip)
}

/// Checks the README's invariant and a clean stream: `count` probes of
/// `size` bytes, numbered from 1, all there once.
fn assert_clean_stream(s: &Json, count: u64, size: u64) {
    assert_eq!(
        (
            s.u("first_seq"),
            s.u("highest_seq"),
            s.u("received"),
            s.u("expected"),
            s.u("lost"),
            s.u("duplicates"),
            s.u("reordered"),
            s.u("late"),
            s.u("bytes")
        ),
        (1, count, count, count, 0, 0, 0, 0, count * size),
        "stream {s:?}"
    );
    assert_eq!(s.f("loss_pct"), 0.0, "{s:?}");
    assert_invariant(s);
}

/// `received = (expected − lost) + duplicates + late` (README).
fn assert_invariant(s: &Json) {
    assert_eq!(
        s.u("received"),
        s.u("expected") - s.u("lost") + s.u("duplicates") + s.u("late"),
        "{s:?}"
    );
    let expected = s.u("expected");
    let pct = if expected == 0 {
        0.0
    } else {
        s.u("lost") as f64 * 100.0 / expected as f64
    };
    assert!((s.f("loss_pct") - pct).abs() < 0.001, "loss_pct of {s:?}");
}

// ---------------------------------------------------------------------------
// 1. Loss

#[test]
fn ten_percent_random_loss_is_reported_within_7_to_13_percent() {
    let Some(lab) = lab_with(&["nft"]) else {
        return;
    };
    // The lab's switch drops 10 % of the UDP frames crossing the bridge, and
    // only those (ARP, IGMP, MLD and ND pass): here, only the probes.
    let state = lab.switch("loss", "10");
    assert!(state.contains("10"), "{state}");
    let rule = lab.sh("ap", "nft list table bridge lab_loss");
    assert!(
        rule.contains("hook forward") && rule.contains("meta l4proto udp"),
        "the loss switch must drop forwarded UDP only: {rule}"
    );
    const N: u64 = 5000;
    let to = timeout(5);
    let rx = json_receiver(&lab, "board", &to);
    let tx = run_ok(
        &lab,
        "phone",
        &[
            "send", "--probe", "-c", "5000", "--rate", "1000", "--json", GROUP,
        ],
    );
    let sender = announced(&tx);
    let rx = finish(rx, "receiver");
    let sum = recv_summary(&rx);
    assert!(!sum.b("timed_out"), "{sum:?}");
    // Nothing lost in the board's own receive buffer: all loss is the ap's.
    assert_eq!(sum.u("kernel_drops"), 0, "{sum:?}");
    let streams = sum.a("streams");
    assert_eq!(streams.len(), 1, "{sum:?}");
    let s = &streams[0];
    assert_eq!(s.s("sender_id"), sender[0].0);
    assert_eq!(s.s("source"), sender[0].1);
    let loss = s.f("loss_pct");
    assert!(
        (7.0..=13.0).contains(&loss),
        "loss {loss} % is not within 7-13 % of 10 %: {s:?}"
    );
    assert_invariant(s);
    assert_eq!((s.u("duplicates"), s.u("late")), (0, 0), "{s:?}");
    // Random loss of 10 %: runs of one mostly (a run goes on with
    // probability 0.1), so about 0.9 runs per lost probe, none long.
    let (runs, lost) = (s.u("loss_runs"), s.u("lost"));
    assert!(runs <= lost && runs * 10 >= lost * 7, "{s:?}");
    assert!((1..=8).contains(&s.u("loss_run_max")), "{s:?}");
    // Every probe is accounted for: received, lost, or dropped before the
    // first one that arrived or after the last (which recv cannot see).
    let (first, highest) = (s.u("first_seq"), s.u("highest_seq"));
    assert_eq!(
        (first - 1) + s.u("received") + s.u("lost") + (N - highest),
        N,
        "{s:?}"
    );
    // And what recv did not get is exactly what the ap dropped.
    let counter = lab.sh("ap", "nft list table bridge lab_loss");
    let dropped: u64 = counter
        .split("counter packets ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no counter in {counter}"));
    assert_eq!(s.u("received") + dropped, N, "dropped {dropped}: {s:?}");
    // The rate is that of the survivors (~900/s); jitter is finite.
    let pps = s.f("pps");
    assert!((600.0..=1100.0).contains(&pps), "pps {pps}: {s:?}");
    assert!((s.f("mbps") - pps * 32.0 * 8.0 / 1e6).abs() < 0.01, "{s:?}");
    assert!(s.f("jitter_ms") >= 0.0, "{s:?}");
    let g = &sum.a("groups")[0];
    assert_eq!(
        (g.u("lost"), g.u("received")),
        (s.u("lost"), s.u("received"))
    );
}

// ---------------------------------------------------------------------------
// 2. Duplicates

#[test]
fn an_nft_dup_rule_makes_every_probe_a_duplicate() {
    let Some(lab) = lab_with(&["nft"]) else {
        return;
    };
    // Frames from the phone entering the ap are copied out of port-board
    // before the bridge forwards the original there: the board gets each
    // probe twice.
    lab.sh(
        "ap",
        &format!(
            "nft add table netdev measure_dup && \
             nft add chain netdev measure_dup in \
               '{{ type filter hook ingress device \"port-phone\" priority 0; }}' && \
             nft add rule netdev measure_dup in \
               ip daddr {GROUP} udp dport {PORT} counter dup to \"port-board\""
        ),
    );
    const N: u64 = 500;
    let to = timeout(1);
    let rx = json_receiver(&lab, "board", &to);
    run_ok(
        &lab,
        "phone",
        &[
            "send", "--probe", "-c", "500", "--rate", "500", "--size", "64", GROUP,
        ],
    );
    let rx = finish(rx, "receiver");
    let sum = recv_summary(&rx);
    let streams = sum.a("streams");
    assert_eq!(streams.len(), 1, "{sum:?}");
    let s = &streams[0];
    assert_eq!(
        (
            s.u("received"),
            s.u("expected"),
            s.u("duplicates"),
            s.u("lost"),
            s.u("late"),
            s.u("bytes")
        ),
        (2 * N, N, N, 0, 0, 2 * N * 64),
        "every probe once more, none lost: {s:?}"
    );
    assert_eq!(s.f("loss_pct"), 0.0);
    assert_invariant(s);
    let g = &sum.a("groups")[0];
    assert_eq!(g.u("duplicates"), N, "{g:?}");
    assert_eq!(sum.u("packets"), 2 * N, "{sum:?}");
    let rule = lab.sh("ap", "nft list table netdev measure_dup");
    assert!(rule.contains("counter packets 500 "), "{rule}");
}

// ---------------------------------------------------------------------------
// 3, 4. ping

/// ping's `--wait` for late replies.
fn ping_wait() -> &'static str {
    if emulated() {
        "3s"
    } else {
        "1s"
    }
}

/// `count` pings from the phone to GROUP, 200 ms apart (with `--json`
/// if `json`).
fn ping(lab: &Lab, count: &str, json: bool) -> Finished {
    let mut args = vec![
        "ping",
        "-c",
        count,
        "--interval",
        "200ms",
        "--wait",
        ping_wait(),
    ];
    if json {
        args.push("--json");
    }
    args.push(GROUP);
    run_limited(lab.mcast("phone", &args), T)
}

/// The board and the pc answering probes on GROUP (`recv --echo`) for a
/// run of about `busy_secs`.
fn echoers(lab: &Lab, busy_secs: u64) -> (Running, Running) {
    let to = timeout(busy_secs);
    let echo = ["recv", "-c", "0", "--timeout", &to, "--echo", GROUP];
    (
        receiver(lab, "board", &echo, &[GROUP]),
        receiver(lab, "pc", &echo, &[GROUP]),
    )
}

/// The numbers of a text summary line
/// `ADDR: S sent, R received, L% loss, rtt min/avg/max/mdev = a/b/c/d ms`:
/// (sent, received, loss, [min, avg, max, mdev]).
fn ping_summary_line(out: &str, addr: &str) -> (u64, u64, f64, Vec<f64>) {
    let l = out
        .lines()
        .find(|l| l.starts_with(&format!("{addr}: ")))
        .unwrap_or_else(|| panic!("no summary line for {addr} in {out}"));
    let word_before = |needle: &str| -> &str {
        let (head, _) = l
            .split_once(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in {l}"));
        head.rsplit([' ', ','])
            .find(|w| !w.is_empty())
            .unwrap_or("")
    };
    let sent = word_before(" sent").parse().expect(l);
    let received = word_before(" received").parse().expect(l);
    let loss = word_before("% loss").parse().expect(l);
    let rtt: Vec<f64> = l
        .split_once("rtt min/avg/max/mdev = ")
        .and_then(|(_, r)| r.strip_suffix(" ms"))
        .unwrap_or_else(|| panic!("no rtt in {l}"))
        .split('/')
        .map(|x| x.parse().expect(l))
        .collect();
    assert_eq!(rtt.len(), 4, "{l}");
    (sent, received, loss, rtt)
}

#[test]
fn ping_lists_two_responders_with_their_round_trip_times() {
    let Some(lab) = lab_with(&[]) else { return };
    let (board, pc) = echoers(&lab, 2);
    let p = ping(&lab, "3", false);
    assert_eq!(p.code(), 0, "{p:?}");
    assert!(
        p.stdout
            .contains("ping statistics: 3 probes sent, 3 answered, 0.0% loss, 2 responders"),
        "{p:?}"
    );
    for addr in [lab::BOARD_V4, lab::PC_V4] {
        for seq in 1..=3 {
            let prefix = format!("32 bytes from {addr}: seq={seq} time=");
            let line = p
                .stdout
                .lines()
                .find(|l| l.starts_with(&prefix))
                .unwrap_or_else(|| panic!("no reply {seq} from {addr}: {p:?}"));
            let ms: f64 = line[prefix.len()..]
                .strip_suffix(" ms")
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| panic!("bad reply line {line}"));
            assert!(ms > 0.0 && ms < 5000.0, "{line}");
        }
        let (sent, received, loss, rtt) = ping_summary_line(&p.stdout, addr);
        assert_eq!((sent, received, loss), (3, 3, 0.0), "{p:?}");
        assert!(
            0.0 < rtt[0] && rtt[0] <= rtt[1] && rtt[1] <= rtt[2] && rtt[3] >= 0.0,
            "rtt min/avg/max/mdev {rtt:?}"
        );
    }
    assert!(!p.stdout.contains("DUP"), "{p:?}");
    // The responders counted ping's probes as a stream and stayed healthy.
    for (who, r) in [("board", board), ("pc", pc)] {
        let f = finish(r, who);
        assert!(f.stdout.contains("received 3 packets"), "{who}: {f:?}");
    }
}

#[test]
fn with_client_isolation_ping_gets_no_responder_and_exits_1() {
    let Some(lab) = lab_with(&[]) else { return };
    lab.switch("isolate", "on");
    let (board, pc) = echoers(&lab, 4);
    let p = ping(&lab, "3", false);
    assert_eq!(p.code(), 1, "{p:?}");
    assert!(!p.stdout.contains("bytes from"), "{p:?}");
    assert!(
        p.stdout
            .contains("3 probes sent, 0 answered, 100.0% loss, 0 responders"),
        "the summary must say nobody answered: {p:?}"
    );
    for needle in [
        "no responder answered",
        "3 probes",
        "recv --echo",
        "isolates clients",
    ] {
        assert!(p.stderr.contains(needle), "message lacks {needle:?}: {p:?}");
    }
    // The same in JSON: a summary with no responders, still exit 1.
    let j = ping(&lab, "2", true);
    assert_eq!(j.code(), 1, "{j:?}");
    let lines = json_lines(&j);
    assert!(of_type(&lines, "reply", None).is_empty(), "{j:?}");
    let sum = only(&lines, "summary", Some("ping"));
    assert_eq!(sum.u("sent"), 2, "{sum:?}");
    assert!(sum.a("responders").is_empty(), "{sum:?}");
    for (who, r) in [("board", board), ("pc", pc)] {
        let f = finish(r, who);
        assert!(f.stdout.contains("received 0 packets"), "{who}: {f:?}");
    }
}

// ---------------------------------------------------------------------------
// 5. JSON

// README (section "JSON output"): the fields asserted below, exactly (no
// more, no fewer; `type` first; s string, u unsigned integer, n number,
// b bool, a array, ? or null):
//   recv  joined   type group port interface index source_filter
//                  source_filter_by broadcast mechanism rcvbuf
//   recv  message  type time unix_ns source destination bytes truncated text hex
//   recv  stats    type streams groups
//   recv  summary  type role packets bytes duration_s sources filtered
//                  kernel_drops interrupted timed_out streams groups
//   recv  left     type group interface
//   recv  watching type interface mechanism
//   stream object  group port source sender_id first_seq highest_seq received
//                  bytes expected lost loss_pct duplicates reordered late pps
//                  mbps jitter_ms delay_min_ms delay_avg_ms delay_max_ms
//                  delay_p50_ms delay_p90_ms delay_p99_ms delay_p999_ms
//                  gap_p50_ms gap_p99_ms gap_max_ms loss_runs loss_run_max
//                  burst_period_ms
//                  (+ interval_pps interval_mbps in stats)
//   group object   group port streams senders_seen evicted received bytes
//                  expected lost loss_pct duplicates reordered late other
//                  other_bytes invalid
//   send  sending  type destination source interface index ttl loop broadcast
//                  pinned_by bind_device sender_id
//   send  sent     type time seq bytes destination
//   send  summary  type role packets bytes duration_s pps slipped_s errors
//                  interrupted
//   ping  pinging  type destination source interface index ttl size sender_id
//                  pinned_by
//   ping  reply    type responder seq bytes rtt_ms duplicate
//   ping  summary  type role group port sent answered loss_pct responders
//   responder      responder sent received duplicates loss_pct rtt_min_ms
//                  rtt_avg_ms rtt_max_ms rtt_mdev_ms rtt_p50_ms rtt_p90_ms
//                  rtt_p99_ms

const JOINED: &[(&str, &str)] = &[
    ("type", "s"),
    ("group", "s"),
    ("port", "u"),
    ("interface", "s"),
    ("index", "u"),
    ("source_filter", "s?"),
    ("source_filter_by", "s?"),
    ("broadcast", "b"),
    ("mechanism", "s"),
    ("rcvbuf", "u"),
];
const MESSAGE: &[(&str, &str)] = &[
    ("type", "s"),
    ("time", "s"),
    ("unix_ns", "u"),
    ("source", "s"),
    ("destination", "s?"),
    ("bytes", "u"),
    ("truncated", "b"),
    ("text", "s?"),
    ("hex", "s"),
];
const STATS: &[(&str, &str)] = &[("type", "s"), ("streams", "a"), ("groups", "a")];
const RECV_SUMMARY: &[(&str, &str)] = &[
    ("type", "s"),
    ("role", "s"),
    ("packets", "u"),
    ("bytes", "u"),
    ("duration_s", "n"),
    ("sources", "u"),
    ("filtered", "u"),
    ("kernel_drops", "u"),
    ("interrupted", "b"),
    ("timed_out", "b"),
    ("streams", "a"),
    ("groups", "a"),
];
const LEFT: &[(&str, &str)] = &[("type", "s"), ("group", "s"), ("interface", "s")];
const WATCHING: &[(&str, &str)] = &[("type", "s"), ("interface", "s"), ("mechanism", "s")];
const STREAM: &[(&str, &str)] = &[
    ("group", "s"),
    ("port", "u"),
    ("source", "s"),
    ("sender_id", "s"),
    ("first_seq", "u"),
    ("highest_seq", "u"),
    ("received", "u"),
    ("bytes", "u"),
    ("expected", "u"),
    ("lost", "u"),
    ("loss_pct", "n"),
    ("duplicates", "u"),
    ("reordered", "u"),
    ("late", "u"),
    ("pps", "n"),
    ("mbps", "n"),
    ("jitter_ms", "n"),
    ("delay_min_ms", "n?"),
    ("delay_avg_ms", "n?"),
    ("delay_max_ms", "n?"),
    ("delay_p50_ms", "n?"),
    ("delay_p90_ms", "n?"),
    ("delay_p99_ms", "n?"),
    ("delay_p999_ms", "n?"),
    ("gap_p50_ms", "n?"),
    ("gap_p99_ms", "n?"),
    ("gap_max_ms", "n?"),
    ("loss_runs", "u"),
    ("loss_run_max", "u"),
    ("burst_period_ms", "n?"),
];
const STREAM_INTERVAL: &[(&str, &str)] = &[("interval_pps", "n"), ("interval_mbps", "n")];
const GROUP_OBJECT: &[(&str, &str)] = &[
    ("group", "s"),
    ("port", "u"),
    ("streams", "u"),
    ("senders_seen", "u"),
    ("evicted", "u"),
    ("received", "u"),
    ("bytes", "u"),
    ("expected", "u"),
    ("lost", "u"),
    ("loss_pct", "n"),
    ("duplicates", "u"),
    ("reordered", "u"),
    ("late", "u"),
    ("other", "u"),
    ("other_bytes", "u"),
    ("invalid", "u"),
];
const SENDING: &[(&str, &str)] = &[
    ("type", "s"),
    ("destination", "s"),
    ("source", "s"),
    ("interface", "s"),
    ("index", "u"),
    ("ttl", "u"),
    ("loop", "b"),
    ("broadcast", "b"),
    ("pinned_by", "s"),
    ("bind_device", "b"),
    ("sender_id", "s?"),
];
const SENT: &[(&str, &str)] = &[
    ("type", "s"),
    ("time", "s"),
    ("seq", "u"),
    ("bytes", "u"),
    ("destination", "s"),
];
const SEND_SUMMARY: &[(&str, &str)] = &[
    ("type", "s"),
    ("role", "s"),
    ("packets", "u"),
    ("bytes", "u"),
    ("duration_s", "n"),
    ("pps", "n?"),
    ("slipped_s", "n"),
    ("errors", "u"),
    ("interrupted", "b"),
];
const PINGING: &[(&str, &str)] = &[
    ("type", "s"),
    ("destination", "s"),
    ("source", "s"),
    ("interface", "s"),
    ("index", "u"),
    ("ttl", "u"),
    ("size", "u"),
    ("sender_id", "s"),
    ("pinned_by", "s"),
];
const REPLY: &[(&str, &str)] = &[
    ("type", "s"),
    ("responder", "s"),
    ("seq", "u"),
    ("bytes", "u"),
    ("rtt_ms", "n"),
    ("duplicate", "b"),
];
const PING_SUMMARY: &[(&str, &str)] = &[
    ("type", "s"),
    ("role", "s"),
    ("group", "s"),
    ("port", "u"),
    ("sent", "u"),
    ("answered", "u"),
    ("loss_pct", "n"),
    ("responders", "a"),
];
const RESPONDER: &[(&str, &str)] = &[
    ("responder", "s"),
    ("sent", "u"),
    ("received", "u"),
    ("duplicates", "u"),
    ("loss_pct", "n"),
    ("rtt_min_ms", "n"),
    ("rtt_avg_ms", "n"),
    ("rtt_max_ms", "n"),
    ("rtt_mdev_ms", "n"),
    ("rtt_p50_ms", "n?"),
    ("rtt_p90_ms", "n?"),
    ("rtt_p99_ms", "n?"),
];

/// Checks that `v` has exactly the fields of `spec` (in any order) and that
/// each value is of its kind.
fn assert_fields(what: &str, v: &Json, spec: &[(&str, &str)]) {
    assert!(v.is_object(), "{what} is not an object: {v:?}");
    let have: BTreeSet<&str> = json::keys(v);
    let want: BTreeSet<&str> = spec.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        have,
        want,
        "{what}: fields differ from the README (extra: {:?}, missing: {:?}) in {v:?}",
        have.difference(&want).collect::<Vec<_>>(),
        want.difference(&have).collect::<Vec<_>>()
    );
    for (key, kind) in spec {
        let x = v.at(key);
        let ok = match *kind {
            "s" => x.is_string(),
            "s?" => x.is_string() || x.is_null(),
            "u" => x.as_u64().is_some(),
            "n" => x.is_number(),
            "n?" => x.is_number() || x.is_null(),
            "b" => x.is_boolean(),
            "a" => x.is_array(),
            other => panic!("bad kind {other}"),
        };
        assert!(ok, "{what}.{key} is not of kind {kind}: {x:?} in {v:?}");
    }
}

/// A sender id: 16 lowercase hex digits.
fn assert_sender_id(id: &str) {
    assert!(
        id.len() == 16
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "sender id {id:?}"
    );
}

/// Checks the streams and groups arrays of a `stats` or `summary` object.
fn assert_streams_and_groups(what: &str, v: &Json, with_interval: bool) {
    let stream_spec: Vec<(&str, &str)> = if with_interval {
        STREAM.iter().chain(STREAM_INTERVAL).copied().collect()
    } else {
        STREAM.to_vec()
    };
    for s in v.a("streams") {
        assert_fields(&format!("{what} stream"), s, &stream_spec);
        assert_sender_id(s.s("sender_id"));
        assert_invariant(s);
    }
    for g in v.a("groups") {
        assert_fields(&format!("{what} group"), g, GROUP_OBJECT);
    }
}

#[test]
fn json_output_parses_and_has_the_readme_fields() {
    if !common::can_netns() {
        return;
    }
    json::self_test();
    let Some(lab) = lab_with(&[]) else { return };
    let to = timeout(5);
    // The board answers probes; the phone also listens, so its own probes
    // come back over loopback and it shows their one-way delay.
    let board = receiver(
        &lab,
        "board",
        &[
            "recv",
            "-c",
            "0",
            "--timeout",
            &to,
            "--echo",
            "--json",
            GROUP,
        ],
        &[GROUP],
    );
    let phone = json_receiver(&lab, "phone", &to);
    // 2.5 s of probes: at least two `stats` lines. Meanwhile two messages.
    let probes = Running::start(lab.mcast(
        "phone",
        &[
            "send", "--probe", "-c", "250", "--rate", "100", "--size", "100", "--json", GROUP,
        ],
    ));
    let hello = run_ok(
        &lab,
        "pc",
        &["send", "-c", "2", "--interval", "200ms", "--json", GROUP],
    );
    let probes = probes.finish(T);
    assert_eq!(probes.code(), 0, "{probes:?}");
    let ping = ping(&lab, "3", true);
    assert_eq!(ping.code(), 0, "{ping:?}");
    let board = finish(board, "board");
    let phone = finish(phone, "phone");

    // send
    let lines = json_lines(&probes);
    let sending = only(&lines, "sending", None);
    assert_fields("sending", sending, SENDING);
    assert_sender_id(sending.s("sender_id"));
    let probe_id = sending.s("sender_id").to_owned();
    let send_sum = only(&lines, "summary", Some("send"));
    assert_eq!(
        (send_sum.u("packets"), send_sum.u("errors")),
        (250, 0),
        "{send_sum:?}"
    );
    assert_fields(
        "send summary",
        only(&lines, "summary", Some("send")),
        SEND_SUMMARY,
    );
    assert_eq!(
        lines.len(),
        2,
        "a probe sender prints no `sent` lines: {probes:?}"
    );
    let lines = json_lines(&hello);
    let sending = only(&lines, "sending", None);
    assert_fields("sending", sending, SENDING);
    assert_eq!(sending.get("sender_id"), Some(&Json::Null), "{sending:?}");
    let sent = of_type(&lines, "sent", None);
    assert_eq!(sent.len(), 2, "{hello:?}");
    for (i, s) in sent.iter().enumerate() {
        assert_fields("sent", s, SENT);
        assert_eq!(s.u("seq"), i as u64 + 1);
    }
    assert_fields(
        "send summary",
        only(&lines, "summary", Some("send")),
        SEND_SUMMARY,
    );

    // recv, on the board (another host: no delay) and on the phone (the
    // sender's host: delay shown).
    for (who, f, delay_shown) in [("board", &board, false), ("phone", &phone, true)] {
        let lines = json_lines(f);
        let what = |t: &str| format!("{who} {t}");
        assert_fields(&what("joined"), only(&lines, "joined", None), JOINED);
        assert_fields(&what("left"), only(&lines, "left", None), LEFT);
        let watching = only(&lines, "watching", None);
        assert_fields(&what("watching"), watching, WATCHING);
        assert_eq!(watching.s("interface"), "wlan0");
        let messages = of_type(&lines, "message", None);
        assert_eq!(messages.len(), 2, "{who}: {f:?}");
        for m in &messages {
            assert_fields(&what("message"), m, MESSAGE);
            assert_eq!(m.get("text").and_then(Json::as_str), Some("hello world"));
            assert_eq!(m.s("hex"), "68656c6c6f20776f726c64");
            assert_eq!(ip_of(m.s("source")), lab::PC_V4);
        }
        let stats = of_type(&lines, "stats", None);
        assert!(stats.len() >= 2, "{who}: at least two stats lines: {f:?}");
        for s in &stats {
            assert_fields(&what("stats"), s, STATS);
            assert_streams_and_groups(&what("stats"), s, true);
        }
        let sum = only(&lines, "summary", Some("recv"));
        assert_fields(&what("summary"), sum, RECV_SUMMARY);
        assert_streams_and_groups(&what("summary"), sum, false);
        // The types seen, and nothing else.
        let types: BTreeSet<&str> = lines.iter().map(|l| l.s("type")).collect();
        assert_eq!(
            types,
            ["joined", "left", "message", "stats", "summary", "watching"].into(),
            "{who}"
        );
        // Values: the probe stream and ping's stream (3 probes).
        let streams = sum.a("streams");
        assert_eq!(streams.len(), 2, "{who}: {sum:?}");
        let s = streams
            .iter()
            .find(|s| s.s("sender_id") == probe_id)
            .unwrap_or_else(|| panic!("{who}: no stream {probe_id}: {sum:?}"));
        assert_clean_stream(s, 250, 100);
        assert_eq!((s.s("group"), s.u("port")), (GROUP, 54321));
        assert_eq!(ip_of(s.s("source")), lab::PHONE_WIFI_V4);
        for key in ["delay_min_ms", "delay_avg_ms", "delay_max_ms"] {
            let d = s.at(key);
            if delay_shown {
                assert!(
                    d.as_f64().is_some_and(|x| (0.0..1000.0).contains(&x)),
                    "{who}: {key} must be shown for a same-host sender: {s:?}"
                );
            } else {
                assert_eq!(d, &Json::Null, "{who}: {key} without a shared clock");
            }
        }
        let g = &sum.a("groups")[0];
        assert_eq!(
            (
                g.u("streams"),
                g.u("other"),
                g.u("other_bytes"),
                g.u("invalid")
            ),
            (2, 2, 22, 0),
            "{who}: {g:?}"
        );
        assert_eq!(sum.u("packets"), 250 + 2 + 3, "{who}: {sum:?}");
        assert_eq!(sum.u("sources"), 2, "{who}: {sum:?}");
    }

    // ping
    let lines = json_lines(&ping);
    let pinging = only(&lines, "pinging", None);
    assert_fields("pinging", pinging, PINGING);
    assert_sender_id(pinging.s("sender_id"));
    let replies = of_type(&lines, "reply", None);
    assert_eq!(replies.len(), 3, "only the board answers: {ping:?}");
    for (i, r) in replies.iter().enumerate() {
        assert_fields("reply", r, REPLY);
        assert_eq!(
            (r.s("responder"), r.u("seq"), r.u("bytes"), r.b("duplicate")),
            (lab::BOARD_V4, i as u64 + 1, 32, false)
        );
        assert!(r.f("rtt_ms") > 0.0, "{r:?}");
    }
    let sum = only(&lines, "summary", Some("ping"));
    assert_fields("ping summary", sum, PING_SUMMARY);
    assert_eq!(
        (sum.s("group"), sum.u("port"), sum.u("sent")),
        ("239.74.20.30", 54321, 3)
    );
    let responders = sum.a("responders");
    assert_eq!(responders.len(), 1, "{sum:?}");
    let r = &responders[0];
    assert_fields("ping responder", r, RESPONDER);
    assert_eq!(
        (
            r.s("responder"),
            r.u("sent"),
            r.u("received"),
            r.u("duplicates"),
            r.f("loss_pct")
        ),
        (lab::BOARD_V4, 3, 3, 0, 0.0)
    );
    assert!(r.f("rtt_min_ms") <= r.f("rtt_avg_ms") && r.f("rtt_avg_ms") <= r.f("rtt_max_ms"));
    let types: BTreeSet<&str> = lines.iter().map(|l| l.s("type")).collect();
    assert_eq!(types, ["pinging", "reply", "summary"].into());
}

// ---------------------------------------------------------------------------
// 6. Streams and other traffic

#[test]
fn two_senders_on_one_group_are_two_streams() {
    let Some(lab) = lab_with(&[]) else { return };
    let to = timeout(2);
    let rx = json_receiver(&lab, "board", &to);
    let args = |size: &'static str| {
        [
            "send", "--probe", "-c", "300", "--rate", "200", "--size", size, "--json", GROUP,
        ]
    };
    let phone = Running::start(lab.mcast("phone", &args("64")));
    let pc = Running::start(lab.mcast("pc", &args("100")));
    let (phone, pc) = (phone.finish(T), pc.finish(T));
    assert_eq!((phone.code(), pc.code()), (0, 0), "{phone:?} {pc:?}");
    let rx = finish(rx, "receiver");
    let sum = recv_summary(&rx);
    let streams = sum.a("streams");
    assert_eq!(streams.len(), 2, "{sum:?}");
    let mut ids = BTreeSet::new();
    for (sender, size, ip) in [(&phone, 64, lab::PHONE_WIFI_V4), (&pc, 100, lab::PC_V4)] {
        let (id, source) = announced(sender).remove(0);
        assert_eq!(ip_of(&source), ip);
        let s = streams
            .iter()
            .find(|s| s.s("sender_id") == id)
            .unwrap_or_else(|| panic!("no stream for {id} from {ip}: {sum:?}"));
        assert_eq!(s.s("source"), source, "{s:?}");
        assert_clean_stream(s, 300, size);
        ids.insert(id);
    }
    assert_eq!(ids.len(), 2, "two sender ids");
    let g = &sum.a("groups")[0];
    let keys = ["streams", "senders_seen", "received", "lost"];
    assert_eq!(counts(g, &keys), [2, 2, 600, 0], "{g:?}");
    assert_eq!(sum.u("sources"), 2, "{sum:?}");
}

#[test]
fn a_restarted_sender_is_a_new_stream() {
    let Some(lab) = lab_with(&[]) else { return };
    let to = timeout(2);
    let rx = json_receiver(&lab, "board", &to);
    let args = [
        "send", "--probe", "-c", "100", "--rate", "200", "--json", GROUP,
    ];
    let first = run_ok(&lab, "phone", &args);
    let second = run_ok(&lab, "phone", &args);
    let rx = finish(rx, "receiver");
    let sum = recv_summary(&rx);
    let streams = sum.a("streams");
    assert_eq!(streams.len(), 2, "{sum:?}");
    let (id1, src1) = announced(&first).remove(0);
    let (id2, src2) = announced(&second).remove(0);
    assert_ne!(id1, id2, "a new run picks a new sender id");
    // In arrival order: the first run, then the second, both from the
    // phone, each counted from its own first probe (no gap, no duplicates).
    for (s, id, src) in [(&streams[0], &id1, &src1), (&streams[1], &id2, &src2)] {
        assert_eq!(
            (s.s("sender_id"), s.s("source")),
            (id.as_str(), src.as_str())
        );
        assert_eq!(ip_of(s.s("source")), lab::PHONE_WIFI_V4);
        assert_clean_stream(s, 100, 32);
    }
    let g = &sum.a("groups")[0];
    let keys = ["streams", "senders_seen", "received", "lost", "duplicates"];
    assert_eq!(counts(g, &keys), [2, 2, 200, 0, 0], "{g:?}");
    assert_eq!(sum.u("sources"), 1, "{sum:?}");
}

#[test]
fn other_payloads_are_printed_and_counted_as_other_while_probes_flow() {
    let Some(lab) = lab_with(&[]) else { return };
    let to = timeout(3);
    // The board in JSON (counters), the PC in text (what a person sees).
    let board = json_receiver(&lab, "board", &to);
    let pc = receiver(
        &lab,
        "pc",
        &["recv", "-c", "0", "--timeout", &to, GROUP],
        &[GROUP],
    );
    let probes = Running::start(lab.mcast(
        "phone",
        &["send", "--probe", "-c", "300", "--rate", "100", GROUP],
    ));
    // Five messages in the middle of the probe stream.
    std::thread::sleep(Duration::from_millis(500));
    run_ok(
        &lab,
        "phone",
        &["send", "-c", "5", "--interval", "200ms", GROUP],
    );
    let probes = probes.finish(T);
    assert_eq!(probes.code(), 0, "{probes:?}");
    let board = finish(board, "board");
    let pc = finish(pc, "pc");

    let lines = json_lines(&board);
    let messages = of_type(&lines, "message", None);
    assert_eq!(messages.len(), 5, "{board:?}");
    for m in &messages {
        assert_eq!(m.get("text").and_then(Json::as_str), Some("hello world"));
        assert_eq!(m.u("bytes"), 11);
        assert_eq!(ip_of(m.s("source")), lab::PHONE_WIFI_V4);
    }
    let sum = only(&lines, "summary", Some("recv"));
    let g = &sum.a("groups")[0];
    assert_eq!(
        (
            g.u("other"),
            g.u("other_bytes"),
            g.u("invalid"),
            g.u("received"),
            g.u("lost")
        ),
        (5, 55, 0, 300, 0),
        "{g:?}"
    );
    let streams = sum.a("streams");
    assert_eq!(streams.len(), 1, "messages are not a stream: {sum:?}");
    assert_clean_stream(&streams[0], 300, 32);
    assert_eq!(sum.u("packets"), 305, "{sum:?}");

    // Text: each message printed as such, the probes in the table, no error.
    let printed: Vec<&str> = pc
        .stdout
        .lines()
        .filter(|l| {
            l.contains(&format!(" {}:", lab::PHONE_WIFI_V4))
                && l.ends_with(" 11 bytes: hello world")
        })
        .collect();
    assert_eq!(printed.len(), 5, "{pc:?}");
    let row = pc
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("{GROUP}:{PORT} ")))
        .unwrap_or_else(|| panic!("no stream row: {pc:?}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    // group, source, sender, received, lost, loss%, dup, reordered, late.
    assert_eq!(cols[3..9], ["300", "0", "0.00", "0", "0", "0"], "{row}");
    assert!(pc.stdout.contains("received 305 packets"), "{pc:?}");
    let lower = pc.stderr.to_lowercase();
    assert!(
        !lower.contains("error") && !lower.contains("warn") && !lower.contains("invalid"),
        "{pc:?}"
    );
}

// ---------------------------------------------------------------------------
// 7. Several groups

#[test]
fn several_groups_and_a_range_are_counted_apart() {
    let Some(lab) = lab_with(&[]) else { return };
    let to = timeout(2);
    // A range of five groups on the default port, and two groups with ports
    // of their own (three sockets in the receiver).
    let spec = ["239.1.1.1+5", "239.2.2.1:50001", "239.2.2.2:50002"];
    let groups: Vec<(String, u64)> = (1..=5)
        .map(|i| (format!("239.1.1.{i}"), 54321))
        .chain([
            ("239.2.2.1".to_owned(), 50001),
            ("239.2.2.2".to_owned(), 50002),
        ])
        .collect();
    let addrs: Vec<&str> = groups.iter().map(|(g, _)| g.as_str()).collect();
    let mut args = vec!["recv", "-c", "0", "--timeout", &to, "--json"];
    args.extend(spec);
    let rx = receiver(&lab, "board", &args, &addrs);
    let mut args = vec!["send", "--probe", "-c", "200", "--rate", "200", "--json"];
    args.extend(spec);
    let tx = run_ok(&lab, "phone", &args);
    let sent = announced(&tx);
    assert_eq!(sent.len(), 7, "one sending line per group: {tx:?}");
    let id = &sent[0].0;
    assert!(sent.iter().all(|(i, _)| i == id), "one sender id: {sent:?}");
    let tx_sum = only(&json_lines(&tx), "summary", Some("send")).clone();
    assert_eq!(tx_sum.u("packets"), 7 * 200, "{tx_sum:?}");

    let rx = finish(rx, "receiver");
    let sum = recv_summary(&rx);
    let gs = sum.a("groups");
    let listed: Vec<(String, u64)> = gs
        .iter()
        .map(|g| (g.s("group").to_owned(), g.u("port")))
        .collect();
    assert_eq!(listed, groups, "the groups, in the order given");
    for g in gs {
        assert_eq!(
            (
                g.u("streams"),
                g.u("received"),
                g.u("expected"),
                g.u("lost"),
                g.u("duplicates")
            ),
            (1, 200, 200, 0, 0),
            "{g:?}"
        );
        assert_eq!(g.f("loss_pct"), 0.0);
    }
    let streams = sum.a("streams");
    assert_eq!(streams.len(), 7, "{sum:?}");
    for ((group, port), s) in groups.iter().zip(streams) {
        assert_eq!((s.s("group"), s.u("port")), (group.as_str(), *port));
        assert_eq!(s.s("sender_id"), id);
        assert_clean_stream(s, 200, 32);
    }
    // Each group's stream comes from that group's socket.
    let sources: BTreeSet<&str> = streams.iter().map(|s| s.s("source")).collect();
    let announced_sources: BTreeSet<&str> = sent.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(sources, announced_sources);
    assert_eq!(sum.u("packets"), 7 * 200, "{sum:?}");
}
