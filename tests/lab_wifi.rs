//! Wi-Fi's multicast signatures in the lab, through `scripts/lab.sh`'s
//! `dtim` and `mcast-rate` switches: an access point that holds group
//! traffic until its DTIM beacon, and one that sends it at a basic rate.
//! Real traffic crosses the lab (mcast probes, iperf for unicast); what
//! arrives is measured from tcpdump's kernel timestamps at the stations,
//! with plain code here, so these tests check the lab and not mcast's own
//! analysis of it.
//!
//! Run: `cargo test --test lab_wifi` (as root; without root they skip, or
//! fail under `MCAST_TEST_STRICT=1`).

mod common;
#[path = "common/lab.rs"]
mod lab;
#[path = "common/vm.rs"]
mod vm;

use std::process::{Child, Stdio};
use std::thread;
use std::time::Duration;

use lab::{Capture, Lab, ProbeSeen};

const GROUP: &str = "239.74.20.30";
const GROUP_V6: &str = "ff05::4a:141e";
/// A gap longer than this between two arrivals starts a new burst: far
/// above the 5 ms between probes at 200/s, far below the shortest DTIM
/// period tested (102.4 ms).
const BURST_SPLIT_NS: u64 = 40_000_000;
/// Within a burst, arrivals are this close (the relay sends a DTIM's
/// frames back to back).
const SHORT_GAP_NS: u64 = 2_000_000;
/// The relay's power-save buffer, in frames (scripts/lab/group-relay.py).
const PS_BUFFER: usize = 128;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Members of a group: an `mcast recv` on each station, ended (by its
/// PID) when dropped.
struct Members(Vec<Child>);

impl Members {
    /// Joins `group` on each station's wlan0 and waits until the bridge
    /// knows it.
    fn join(lab: &Lab, stations: &[&str], group: &str) -> Members {
        Members(
            stations
                .iter()
                .map(|s| {
                    let child = lab
                        .mcast(s, &["recv", "-c", "0", "-q", "-i", "wlan0", group])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .expect("start mcast recv");
                    lab.wait_member(&format!("port-{s}"), group);
                    child
                })
                .collect(),
        )
    }
}

impl Drop for Members {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// What a probe stream from the phone's wlan0 to GROUP did.
struct Stream {
    /// Probes seen leaving the phone.
    sent: usize,
    /// The highest sequence number among them.
    last_sent: Option<u64>,
    /// The probes that arrived at each station, in its order.
    arrived: Vec<Vec<ProbeSeen>>,
}

/// Runs `mcast send --probe SEND…` on the phone's wlan0 while `stations`
/// are members of GROUP, then waits `settle` (for what the access point
/// still holds) and returns what left and what arrived.
fn stream(lab: &Lab, stations: &[&str], send: &[&str], settle: Duration) -> Stream {
    let _members = Members::join(lab, stations, GROUP);
    let filter = "udp dst port 54321";
    let mut at_phone = lab.capture_headers("phone", "wlan0", filter);
    let mut at: Vec<Capture> = stations
        .iter()
        .map(|s| lab.capture_headers(s, "wlan0", filter))
        .collect();
    let mut args = vec!["send", "-i", "wlan0", "-q", "--probe"];
    args.extend_from_slice(send);
    let out = lab::run_bounded(lab.mcast("phone", &args), Duration::from_secs(30));
    assert!(out.status.success(), "mcast {args:?} on the phone: {out:?}");
    thread::sleep(settle);
    drain_relay(lab);
    let left = at_phone.probes("");
    Stream {
        sent: left.len(),
        last_sent: left.iter().map(|p| p.seq).max(),
        arrived: at.iter_mut().map(|c| c.probes("")).collect(),
    }
}

/// Waits (at most 5 s) until the access point's relay, if one runs, holds
/// nothing and has put everything on the air: on a loaded machine its last
/// DTIM release can come later than the settle time allows.
fn drain_relay(lab: &Lab) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut last = None;
    while std::time::Instant::now() < deadline {
        let Some(buffered) = lab.relay_stat("buffered") else {
            return;
        };
        let sent = lab.relay_stat("sent_frames");
        if buffered == 0 && last.is_some() && sent == last {
            break;
        }
        last = sent.filter(|_| buffered == 0);
        // The relay rewrites its counters at most every 200 ms.
        thread::sleep(Duration::from_millis(250));
    }
    thread::sleep(Duration::from_millis(100));
}

/// Sends UDP unicast from the phone to the board with iperf 2 (`-b BITRATE
/// -l LEN -t SECS`, to an iperf server on the board) and returns how many
/// datagrams left the phone and when each arrived at the board (ns).
fn unicast_stream(lab: &Lab, bitrate: &str, len: &str, secs: &str) -> (usize, Vec<u64>) {
    let filter = "udp dst port 5001";
    let mut at_phone = lab.capture_headers("phone", "wlan0", filter);
    let mut at_board = lab.capture_headers("board", "wlan0", filter);
    let mut server = lab
        .exec("board", &["iperf", "-s", "-u", "-B", lab::BOARD_V4])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start iperf -s");
    thread::sleep(Duration::from_millis(300));
    let client = [
        "iperf",
        "-u",
        "-c",
        lab::BOARD_V4,
        "-b",
        bitrate,
        "-l",
        len,
        "-t",
        secs,
    ];
    let out = lab::run_bounded(lab.exec("phone", &client), Duration::from_secs(30));
    let _ = server.kill();
    let _ = server.wait();
    assert!(out.status.success(), "{client:?}: {out:?}");
    (at_phone.count(""), at_board.times_ns(""))
}

/// 200 probes/s for 2.5 s, waiting one DTIM period and a bit after.
fn steady_stream(lab: &Lab, period: Duration) -> Stream {
    stream(
        lab,
        &["board"],
        &["--rate", "200", "--duration", "2.5s"],
        period + Duration::from_millis(300),
    )
}

/// The arrivals in bursts: each run of probes with no gap longer than
/// BURST_SPLIT_NS.
fn bursts(arrived: &[ProbeSeen]) -> Vec<&[ProbeSeen]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=arrived.len() {
        if i == arrived.len() || arrived[i].at_ns - arrived[i - 1].at_ns > BURST_SPLIT_NS {
            out.push(&arrived[start..i]);
            start = i;
        }
    }
    out
}

/// The mean time between the starts of consecutive bursts, in ms.
fn mean_period_ms(bursts: &[&[ProbeSeen]]) -> f64 {
    let first = bursts[0][0].at_ns;
    let last = bursts[bursts.len() - 1][0].at_ns;
    (last - first) as f64 / (bursts.len() - 1) as f64 / 1e6
}

/// The share of gaps between consecutive arrivals under SHORT_GAP_NS.
fn short_gaps(arrived: &[ProbeSeen]) -> f64 {
    let short = arrived
        .windows(2)
        .filter(|w| w[1].at_ns - w[0].at_ns < SHORT_GAP_NS)
        .count();
    short as f64 / (arrived.len() - 1).max(1) as f64
}

/// Asserts that a steady stream arrived whole, in bursts every
/// `period_ms` (within 5 %), and returns the period measured.
fn assert_bursts_every(s: &Stream, period_ms: f64) -> f64 {
    let arrived = &s.arrived[0];
    assert_eq!(arrived.len(), s.sent, "probes lost under dtim");
    let b = bursts(arrived);
    let sizes: Vec<usize> = b.iter().map(|b| b.len()).collect();
    assert!(b.len() >= 5, "too few bursts for {period_ms} ms: {sizes:?}");
    let measured = mean_period_ms(&b);
    assert!(
        (measured - period_ms).abs() <= period_ms * 0.05,
        "bursts every {measured:.2} ms, want {period_ms} ms ± 5 % (sizes {sizes:?})"
    );
    // Bunched: nearly every gap is within a burst.
    let share = short_gaps(arrived);
    assert!(
        share >= 0.8,
        "only {share:.2} of the gaps are short: {sizes:?}"
    );
    measured
}

#[test]
fn dtim_releases_group_traffic_at_every_dtim_beacon() {
    if !common::can_netns() || !lab::have(&["nft", "python3", "tcpdump", "tshark"]) {
        return;
    }
    let lab = Lab::up();
    let status = || text(&lab.status().stdout);

    let two = "dtim: 2, beacon 102.4 ms (group traffic released every 204.8 ms)";
    assert_eq!(lab.switch("dtim", "2").trim(), two);
    let pid = lab.relay_pid().expect("the relay runs");
    assert_eq!(lab.switch("dtim", "2").trim(), two, "dtim 2 twice");
    assert_eq!(lab.relay_pid(), Some(pid), "the same relay");
    let st = status();
    assert!(
        st.contains(&format!("  dtim              {}", &two[6..])),
        "{st}"
    );
    let p2 = assert_bursts_every(&steady_stream(&lab, Duration::from_millis(205)), 204.8);
    let st = status();
    assert!(
        st.contains("0 dropped by the full 128-frame buffer"),
        "{st}"
    );
    assert!(!st.contains("NOT RUNNING"), "{st}");

    assert_eq!(
        lab.switch("dtim", "1").trim(),
        "dtim: 1, beacon 102.4 ms (group traffic released every 102.4 ms)"
    );
    let p1 = assert_bursts_every(&steady_stream(&lab, Duration::from_millis(103)), 102.4);
    eprintln!("burst periods measured: dtim 2: {p2:.2} ms, dtim 1: {p1:.2} ms");

    // Off: the relay stops, its table goes, and the stream is steady.
    assert_eq!(lab.switch("dtim", "off").trim(), "dtim: off");
    assert_eq!(lab.switch("dtim", "off").trim(), "dtim: off");
    lab::wait_gone(pid, "the relay to stop after dtim off");
    assert!(status().contains("  dtim              off"));
    let tables = lab.sh("ap", "nft list tables");
    assert!(!tables.contains("lab_group"), "{tables}");
    let s = steady_stream(&lab, Duration::ZERO);
    let arrived = &s.arrived[0];
    assert_eq!(arrived.len(), s.sent);
    // No DTIM's gap (a sender stalled for 100 ms would show one too).
    let max_gap = arrived.windows(2).map(|w| w[1].at_ns - w[0].at_ns).max();
    assert!(
        max_gap < Some(100_000_000),
        "a gap of {max_gap:?} ns without dtim"
    );
    let share = short_gaps(arrived);
    assert!(
        share < 0.2,
        "{share:.2} of the gaps are short: bunched without dtim"
    );
}

#[test]
fn dtim_beacon_interval_and_a_full_buffer_drop_the_oldest() {
    if !common::can_netns() || !lab::have(&["nft", "python3", "tcpdump", "tshark"]) {
        return;
    }
    let lab = Lab::up();
    assert_eq!(
        lab.switch_args(&["dtim", "3", "beacon", "50"]).trim(),
        "dtim: 3, beacon 50 ms (group traffic released every 150 ms)"
    );
    assert_bursts_every(&steady_stream(&lab, Duration::from_millis(150)), 150.0);

    // A DTIM every second: 200 frames arrive for a buffer of 128. The
    // oldest go, so each full burst is the 128 probes sent last before it:
    // the first probe that arrived after a full burst was sent after the
    // burst left (had the buffer dropped the newest, it would have been
    // sent, and dropped, long before). A full burst after the sender
    // stopped ends with the last probe sent.
    lab.switch_args(&["dtim", "5", "beacon", "200"]);
    let s = steady_stream(&lab, Duration::from_millis(1000));
    let arrived = &s.arrived[0];
    let dropped = lab.relay_stat("dropped_buffer").expect("relay counters");
    assert!(dropped > 0, "nothing dropped from a full buffer");
    assert_eq!(
        arrived.len() + dropped as usize,
        s.sent,
        "received + dropped"
    );
    let b = bursts(arrived);
    let sizes: Vec<usize> = b.iter().map(|b| b.len()).collect();
    assert!(sizes.iter().all(|n| *n <= PS_BUFFER), "{sizes:?}");
    let mut full = 0;
    for (i, burst) in b.iter().enumerate() {
        if burst.len() != PS_BUFFER {
            continue;
        }
        full += 1;
        let seqs: Vec<u64> = burst.iter().map(|p| p.seq).collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "a burst is not a run of probes: {seqs:?}"
        );
        let newest = burst[burst.len() - 1];
        match b.get(i + 1) {
            Some(next) => {
                let early_ms = (burst[0].at_ns as f64 - next[0].sent_ns as f64) / 1e6;
                assert!(
                    early_ms < 20.0,
                    "probe {} was sent {early_ms:.1} ms before the full burst that ends \
                     with probe {} left: the buffer dropped the newest, not the oldest",
                    next[0].seq,
                    newest.seq
                );
            }
            None => assert_eq!(
                Some(newest.seq),
                s.last_sent,
                "the last full burst does not end with the last probe sent (sizes {sizes:?})"
            ),
        }
    }
    assert!(full > 0, "no full burst: {sizes:?}");
    let st = text(&lab.status().stdout);
    assert!(
        st.contains(&format!("{dropped} dropped by the full 128-frame buffer")),
        "{st}"
    );
}

#[test]
fn dtim_never_holds_unicast_arp_igmp_mld_or_nd_but_holds_broadcast() {
    if !common::can_netns()
        || !lab::have(&[
            "nft", "python3", "tcpdump", "tshark", "ping", "iperf", "socat",
        ])
    {
        return;
    }
    let lab = Lab::up();
    // A DTIM every 409.6 ms: anything held shows.
    lab.switch("dtim", "4");
    let held = || lab.relay_stat("held").expect("relay counters");

    // ARP and ND (fresh neighbour caches), IGMP and MLD joins.
    for to in [
        lab::PHONE_WIFI_V4,
        lab::PHONE_WIFI_V6,
        lab::PC_V4,
        lab::AP_V6,
    ] {
        let out = lab.sh_output("board", &format!("ping -c 2 -i 0.2 -W 1 {to}"));
        assert!(
            out.status.success(),
            "board cannot ping {to} under dtim: {out:?}"
        );
    }
    let members = Members::join(&lab, &["board"], GROUP);
    let members_v6 = Members::join(&lab, &["board"], GROUP_V6);
    // Unicast: a steady 200 datagrams/s from the phone.
    let (_, times) = unicast_stream(&lab, "160k", "100", "1.5");
    assert!(
        times.len() >= 200,
        "{} unicast datagrams arrived",
        times.len()
    );
    let max_gap = times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    assert!(
        max_gap < 200_000_000,
        "unicast waited {} ms: held like group traffic",
        max_gap / 1_000_000
    );
    assert_eq!(held(), 0, "the relay held ARP, ND, IGMP, MLD or unicast");
    drop((members, members_v6));

    // Broadcast is group-addressed: held, and sent once to each station.
    let copies = lab.relay_stat("sent_copies").unwrap();
    lab.sh(
        "phone",
        "echo hello | socat -u - UDP4-DATAGRAM:198.18.1.255:54322,broadcast",
    );
    lab::wait_for(
        "the relay to send the broadcast",
        Duration::from_secs(3),
        || (lab.relay_stat("sent_copies").unwrap() >= copies + 2).then_some(()),
    );
    assert_eq!(held(), 1, "the broadcast was not held");
    assert_eq!(
        lab.relay_stat("sent_copies").unwrap(),
        copies + 2,
        "one copy for the board and one for the pc"
    );
}

#[test]
fn mcast_rate_drops_group_traffic_above_the_rate_once_per_frame() {
    if !common::can_netns() || !lab::have(&["nft", "python3", "tcpdump", "tshark", "iperf"]) {
        return;
    }
    let lab = Lab::up();
    assert_eq!(
        lab.switch("mcast-rate", "1M").trim(),
        "mcast-rate: 1 Mbit/s"
    );
    assert_eq!(
        lab.switch("mcast-rate", "1M").trim(),
        "mcast-rate: 1 Mbit/s"
    );
    assert!(text(&lab.status().stdout).contains("  mcast-rate        1 Mbit/s;"));

    // 2 Mbit/s of probes to two members: half is lost at each, as the air
    // carries each frame once for both (per copy, 3/4 would be lost).
    let two_mbits = ["--bitrate", "2M", "--size", "1000", "--duration", "3s"];
    let settle = Duration::from_millis(300);
    let s = stream(&lab, &["board", "pc"], &two_mbits, settle);
    for (station, arrived) in ["board", "pc"].iter().zip(&s.arrived) {
        let loss = 1.0 - arrived.len() as f64 / s.sent as f64;
        eprintln!(
            "mcast-rate 1M, 2 Mbit/s of probes: {} of {} at the {station}, loss {:.1} %",
            arrived.len(),
            s.sent,
            loss * 100.0
        );
        assert!(
            (0.40..=0.60).contains(&loss),
            "loss {loss:.3} at the {station}"
        );
    }
    let same = s.arrived[0].iter().map(|p| p.seq).collect::<Vec<_>>()
        == s.arrived[1].iter().map(|p| p.seq).collect::<Vec<_>>();
    assert!(
        same,
        "board and pc got different frames: copies were limited one by one"
    );
    let dropped = lab.relay_stat("dropped_rate").unwrap();
    assert!(
        dropped as usize > s.sent / 3,
        "dropped_rate {dropped} of {}",
        s.sent
    );

    // Unicast at 2 Mbit/s passes.
    let (sent, times) = unicast_stream(&lab, "2M", "1000", "2");
    let got = times.len();
    eprintln!("mcast-rate 1M, 2 Mbit/s of unicast: {got} of {sent} at the board");
    assert!(sent >= 400, "iperf sent only {sent} datagrams");
    assert!(
        got as f64 >= sent as f64 * 0.98,
        "unicast lost: {got} of {sent}"
    );

    assert_eq!(lab.switch("mcast-rate", "off").trim(), "mcast-rate: off");
    let s = stream(&lab, &["board"], &two_mbits, settle);
    let loss = 1.0 - s.arrived[0].len() as f64 / s.sent as f64;
    assert!(loss < 0.02, "loss {loss:.3} after mcast-rate off");
}

#[test]
fn the_relay_is_stopped_by_off_down_and_a_rebuild_even_after_a_crash() {
    if !common::can_netns() || !lab::have(&["nft", "python3"]) {
        return;
    }
    let lab = Lab::up();
    lab.switch("dtim", "2");
    let first = lab.relay_pid().expect("the relay runs");
    // `up` over the lab rebuilds it without the relay.
    let lab = Lab::up_with_prefix(lab.prefix());
    lab::wait_gone(first, "the relay to stop when the lab is rebuilt");
    let st = text(&lab.status().stdout);
    assert!(st.contains("  dtim              off"), "{st}");
    assert!(!lab.sh("ap", "nft list tables").contains("lab_group"));

    // One relay for both switches; it stops when both are off.
    lab.switch("dtim", "2");
    let pid = lab.relay_pid().expect("the relay runs");
    assert_eq!(
        lab.switch("mcast-rate", "6M").trim(),
        "mcast-rate: 6 Mbit/s"
    );
    assert_eq!(
        lab.relay_pid(),
        Some(pid),
        "mcast-rate started another relay"
    );
    lab.switch("dtim", "off");
    assert_eq!(
        lab.relay_pid(),
        Some(pid),
        "dtim off stopped the relay mcast-rate needs"
    );
    assert!(lab.sh("ap", "nft list tables").contains("lab_group"));
    lab.switch("mcast-rate", "off");
    lab::wait_gone(pid, "the relay to stop when both switches are off");
    assert!(!lab.sh("ap", "nft list tables").contains("lab_group"));

    // A relay that died is reported, and the switch starts a new one.
    lab.switch("dtim", "1");
    let pid = lab.relay_pid().expect("the relay runs");
    lab::run_bounded(
        {
            let mut c = std::process::Command::new("kill");
            c.args(["-KILL", &pid.to_string()]);
            c
        },
        Duration::from_secs(5),
    );
    lab::wait_gone(pid, "the relay to die");
    let st = text(&lab.status().stdout);
    assert!(st.contains("relay NOT RUNNING"), "{st}");
    lab.switch("dtim", "1");
    let pid = lab.relay_pid().expect("a new relay runs");

    // `down` stops it by its PID.
    let dir = lab.run_dir();
    drop(lab);
    lab::wait_gone(pid, "the relay to stop at down");
    assert!(!dir.exists(), "{} is left", dir.display());
}

#[test]
fn dtim_holds_group_traffic_for_a_vm_board_too() {
    if !vm::can_vm("aarch64") || !lab::have(&["nft", "python3", "tcpdump", "tshark"]) {
        return;
    }
    let _one = vm::one_at_a_time();
    let lab = Lab::up_with(&["--board", "aarch64"]);
    lab.switch("dtim", "2");
    // The VM's NIC is the tap port-board: capture what the ap sends it.
    let mut to_vm = lab.capture_headers("ap", "port-board", "udp dst port 54321");
    let (rx, _) = vm::exchange(
        &lab,
        vm::vm_mcast(
            &lab,
            "board",
            &["recv", "-c", "400", "--timeout", "20s", "-i", "wlan0"],
        ),
        "port-board",
        GROUP,
        lab.mcast(
            "phone",
            &[
                "send", "-i", "wlan0", "-q", "--probe", "--rate", "200", "-c", "400",
            ],
        ),
    );
    assert!(rx.stdout.contains("received 400 packets"), "{rx:#?}");
    let s = Stream {
        sent: 400,
        last_sent: Some(399),
        arrived: vec![to_vm.probes("")],
    };
    let period = assert_bursts_every(&s, 204.8);
    eprintln!("to the VM board: bursts every {period:.2} ms");
}

// ---------------------------------------------------------------------------
// mcast's own detection of the signatures: `recv` on the board reports what
// the switches do to a probe stream from the phone.

/// Runs `mcast send --probe SEND…` on the phone's wlan0 while two `mcast
/// recv` on the board's wlan0 (one `--json`, one text) listen for
/// `listen_secs`; returns the JSON summary's only stream and the text
/// receiver's stdout.
fn recv_reports(lab: &Lab, send: &[&str], listen_secs: u64) -> (common::json::Value, String) {
    use common::json::{only, typed_lines, Fields};
    let to = format!("{listen_secs}s");
    let rx_args = |json: bool| {
        let mut a = vec!["recv", "-i", "wlan0", "-c", "0", "--timeout", &to];
        if json {
            a.push("--json");
        }
        a.push(GROUP);
        a
    };
    let mut json_rx = common::Running::start(lab.mcast("board", &rx_args(true)));
    json_rx.wait_ready();
    let mut text_rx = common::Running::start(lab.mcast("board", &rx_args(false)));
    text_rx.wait_ready();
    lab.wait_member("port-board", GROUP);
    let mut args = vec!["send", "-i", "wlan0", "-q", "--probe"];
    args.extend_from_slice(send);
    let out = lab::run_bounded(lab.mcast("phone", &args), Duration::from_secs(30));
    assert!(out.status.success(), "mcast {args:?} on the phone: {out:?}");
    let limit = Duration::from_secs(listen_secs + 30);
    let (j, t) = (json_rx.finish(limit), text_rx.finish(limit));
    assert_eq!((j.code(), t.code()), (0, 0), "{j:?} {t:?}");
    let sum = only(&typed_lines(&j.stdout, &j), "summary", Some("recv")).clone();
    let streams = sum.a("streams");
    assert_eq!(streams.len(), 1, "{sum:?}");
    (streams[0].clone(), t.stdout)
}

/// 200 probes/s from the phone for 4 s, heard for 7 s at the board.
fn steady_report(lab: &Lab) -> (common::json::Value, String) {
    recv_reports(lab, &["--rate", "200", "--duration", "4s"], 7)
}

/// A lab with `switch VALUE` set, or None (the test skips) without
/// namespaces, nft or python3.
fn lab_switched(switch: &str, value: &str) -> Option<Lab> {
    if !common::can_netns() || !lab::have(&["nft", "python3"]) {
        return None;
    }
    let lab = Lab::up();
    lab.switch(switch, value);
    Some(lab)
}

/// With `dtim DTIM`, checks `burst_period_ms` is within 5 % of
/// `period_ms`, and the text summary says so in the words.
fn assert_recv_bursts(dtim: &str, period_ms: f64) {
    use common::json::Fields;
    let Some(lab) = lab_switched("dtim", dtim) else {
        return;
    };
    let (s, text) = steady_report(&lab);
    let p = s.f("burst_period_ms");
    eprintln!("recv: burst_period_ms {p} (want {period_ms} ± 5 %)");
    assert!((p - period_ms).abs() <= period_ms * 0.05, "{s:?}");
    // The text run is a run of its own: its period, within 5 % too.
    let lead = "arrivals come in bursts every ";
    let shown = text
        .split(lead)
        .nth(1)
        .and_then(|t| t.split(" ms").next())
        .unwrap_or_else(|| panic!("no '{lead}' in {text}"));
    let q: f64 = shown.parse().unwrap_or_else(|_| panic!("{shown}: {text}"));
    assert!((q - period_ms).abs() <= period_ms * 0.05, "{text}");
    let sentence = format!(
        "arrivals come in bursts every {shown} ms: the access point holds multicast until its \
         DTIM beacon (a station is in power save); expect up to {shown} ms of added delay"
    );
    assert!(text.contains(&sentence), "{sentence} not in {text}");
}

#[test]
fn recv_reports_dtim_2_bursts_every_204_8_ms() {
    assert_recv_bursts("2", 204.8);
}

#[test]
fn recv_reports_dtim_1_bursts_every_102_4_ms() {
    assert_recv_bursts("1", 102.4);
}

#[test]
fn recv_reports_no_bursts_with_dtim_off() {
    use common::json::Fields;
    let Some(lab) = lab_switched("dtim", "off") else {
        return;
    };
    let (s, text) = steady_report(&lab);
    assert!(s.at("burst_period_ms").is_null(), "{s:?}");
    assert_eq!(s.u("lost"), 0, "{s:?}");
    assert!(!text.contains("bursts every"), "{text}");
}

#[test]
fn recv_names_the_basic_rate_when_mcast_rate_halves_a_2_mbit_stream() {
    use common::json::Fields;
    let Some(lab) = lab_switched("mcast-rate", "1M") else {
        return;
    };
    let (s, text) = recv_reports(
        &lab,
        &["--bitrate", "2M", "--size", "1000", "--duration", "8s"],
        11,
    );
    let loss = s.f("loss_pct");
    eprintln!("recv under mcast-rate 1M, 2 Mbit/s offered: loss {loss} %");
    assert!((40.0..=60.0).contains(&loss), "{s:?}");
    assert!(
        text.contains("likely Wi-Fi's multicast basic rate") && text.contains("(1 Mbit/s here)"),
        "{text}"
    );
    assert!(s.u("loss_runs") > 0, "{s:?}");
}

/// `mcast doctor --peer` on the phone against `mcast recv --echo` on the
/// board: the line of its peer check.
fn doctor_peer(lab: &Lab) -> String {
    let mut echo =
        common::Running::start(lab.mcast("board", &["recv", "--echo", "-c", "0", GROUP]));
    echo.wait_stderr("answering unicast probes", Duration::from_secs(20));
    lab.wait_member("port-board", GROUP);
    let out = lab::run_bounded(
        lab.mcast("phone", &["doctor", "--peer", lab::BOARD_V4, GROUP]),
        Duration::from_secs(60),
    );
    drop(echo);
    let out = text(&out.stdout);
    let peer = out.lines().find(|l| l.contains(" peer "));
    peer.unwrap_or_else(|| panic!("no peer check: {out}"))
        .to_owned()
}

#[test]
fn doctor_peer_reports_dtim_bursts_and_the_basic_rate() {
    let Some(lab) = lab_switched("dtim", "2") else {
        return;
    };
    let peer = doctor_peer(&lab);
    assert!(peer.contains("arrivals come in bursts every 20"), "{peer}");
    assert!(peer.contains("expect up to 20"), "{peer}");
    assert!(peer.contains("power_save off"), "{peer}");
    lab.switch("dtim", "off");
    lab.switch("mcast-rate", "1M");
    let peer = doctor_peer(&lab);
    assert!(
        peer.contains("loss began above") && peer.contains("likely Wi-Fi's multicast basic rate"),
        "{peer}"
    );
    assert!(!peer.contains("bursts every"), "{peer}");
    lab.switch("mcast-rate", "off");
    let peer = doctor_peer(&lab);
    assert!(
        !peer.contains("basic rate") && !peer.contains("bursts every"),
        "{peer}"
    );
}
