//! The command line's definition: every subcommand, option and help text,
//! as clap derive structs, and the value parsers they name. Nothing else, so
//! that `cargo xtask dist` can include this file (`#[path]`) and generate the
//! man page and shell completions from the very definition the binary parses
//! with. It may use only `clap`, `std` and the `mcast` library.

use std::net::IpAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use mcast::{Group, Zone};

/// What `--version` prints after `mcast `: `0.1.0 (a1b2c3d, TARGET, release)`
/// from mcast's build.rs; the bare version where this file is built without
/// it (the xtask).
const VERSION: &str = match option_env!("MCAST_BUILD_VERSION_LINE") {
    Some(v) => v,
    None => env!("CARGO_PKG_VERSION"),
};

const SELECTION_RULE: &str = "\
Choosing the interface (-i):
  IFACE is a name (wlan0), an index (3) or one of the interface's addresses.
  '-i ?' on a terminal shows a numbered menu of the eligible interfaces.
  Without -i, selection is automatic: an interface qualifies if it is up, has
  the MULTICAST flag (BROADCAST with --broadcast), has an address of the
  group's family and is not loopback. Wi-Fi (wlan*, wl*) comes first, then
  wired (eth*, en*), then the others; cellular (rmnet*, ccmni*, wwan*) comes
  last because it rarely carries multicast. Ties go to the interface with
  carrier, then to the lowest index. Loopback is used only when named (-i lo).
  `mcast ifaces` shows the choice and why each other interface was not picked;
  -v logs it.

GROUP is ADDR, ADDR:PORT or [ADDR6]:PORT; the default is 239.74.20.30:54321.
An IPv6 group may carry a scope, an interface name or index (ff02::1%wlan0,
[ff02::1%3]:54321): it chooses the interface, and must agree with -i.
Durations are written 250us, 100ms, 2s, 1.5s, 1m, 1h (a bare number: seconds).

Exit codes: 0 done, 1 runtime failure (or fewer datagrams than --count
within --timeout), 2 bad input, 130 interrupted (after the summary).";

/// IP multicast sender, receiver and diagnostics for phones and boards.
#[derive(Debug, Parser)]
#[command(name = "mcast", version = VERSION, about, after_help = SELECTION_RULE)]
pub(crate) struct Cli {
    /// More log output on stderr: -v info (the interface choice), -vv debug
    /// (socket options and fallbacks), -vvv trace. RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,
    /// Only errors on stderr; no status lines.
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
    /// One JSON object per line on stdout (fields are listed in the README).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List the interfaces, mark the one automatic selection picks, and say
    /// why each other one was not picked.
    #[command(after_help = SELECTION_RULE)]
    Ifaces(IfacesArgs),
    /// Send a message to a group every INTERVAL (default: "hello world" to
    /// 239.74.20.30:54321 every 2 s, until Ctrl-C).
    #[command(after_help = SELECTION_RULE)]
    Send(SendArgs),
    /// Join a group on an interface and print what arrives (default: the first
    /// 10 datagrams), then leave the group. Probes from `send --probe` are
    /// counted: loss, duplicates, reordering, jitter, rate, delay.
    #[command(after_help = SELECTION_RULE)]
    Recv(RecvArgs),
    /// Multicast probes and list every `recv --echo` that answers, with
    /// round-trip times: one line per reply, a summary per responder.
    #[command(after_help = SELECTION_RULE)]
    Ping(PingArgs),
    /// Say why multicast does not arrive, and what to do: checks the
    /// interface, the route, rp_filter, kernel limits, the firewall, a local
    /// loop test and, with --peer, the path to a peer running `recv --echo`.
    #[command(after_help = SELECTION_RULE)]
    Doctor(DoctorArgs),
    /// Draw a record of `recv --record` as an SVG: probes received and lost
    /// over time, one-way delay, the interarrival gaps and the loss runs.
    #[command(after_help = REPORT_HELP)]
    Report(ReportArgs),
}

const REPORT_HELP: &str = "\
The SVG has four panels: received and lost probes per interval (about 150-300
intervals), one-way delay per interval (median and maximum; only for senders
on this host, or with --assume-synced-clocks, else a note says why), the
interarrival-gap histogram (log time axis: DTIM bursts show as a peak near
zero and one at 102.4 ms x DTIM) and the loss-run lengths. The title names
the group, source and time span, and the findings: DTIM bursts, and loss that
began above a rate (Wi-Fi's multicast basic rate). No script, nothing fetched.
With --json, a `report` object with the figures goes to stdout (the SVG then
needs -o FILE).

Exit codes: 0 done, 1 the record cannot be read (the error names the line and
column) or the SVG cannot be written, 2 bad input.";

#[derive(Debug, Args)]
pub(crate) struct IfacesArgs {
    /// The group whose address family decides the automatic choice.
    pub(crate) group: Option<Group>,
    /// Show the choice for IPv4 broadcast instead of multicast.
    #[arg(long)]
    pub(crate) broadcast: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// Where to send: ADDR, ADDR:PORT, [ADDR6]:PORT, several of them, or a
    /// range ADDR+N (N groups, e.g. 239.1.1.1+20). With --broadcast, a
    /// broadcast address (default: the interface's directed broadcast).
    #[arg(value_name = "GROUP")]
    pub(crate) groups: Vec<String>,
    /// The interface: a name, an index, an address, or '?' for a menu.
    #[arg(short, long, value_name = "IFACE")]
    pub(crate) iface: Option<String>,
    /// The payload.
    #[arg(
        short,
        long = "message",
        value_name = "TEXT",
        default_value = "hello world"
    )]
    pub(crate) message: String,
    /// Time between messages (to each group), more than 0; `--rate max`
    /// sends as fast as possible.
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = interval)]
    pub(crate) interval: Duration,
    /// Messages per second to each group, or `max` (overrides --interval).
    #[arg(long, value_name = "PPS", value_parser = rate, conflicts_with = "bitrate")]
    pub(crate) rate: Option<mcast::Rate>,
    /// Bits per second of UDP payload to each group: 64000, 500k, 10M, 1.5G
    /// (overrides --interval; like iperf 2's -b).
    #[arg(long, value_name = "BPS", value_parser = bitrate)]
    pub(crate) bitrate: Option<mcast::Bitrate>,
    /// Stop after this long (more than 0).
    #[arg(long, value_name = "DUR", value_parser = run_time)]
    pub(crate) duration: Option<Duration>,
    /// Number of messages to each group (default: until Ctrl-C or
    /// --duration; 0 also means no limit).
    #[arg(short, long, value_name = "COUNT")]
    pub(crate) count: Option<u64>,
    /// Send probes (sender id, sequence number, timestamp; see the README)
    /// instead of the message, for `recv` to measure loss, jitter and delay.
    #[arg(long)]
    pub(crate) probe: bool,
    /// Probe datagram size in bytes (UDP payload), at least 32.
    #[arg(long, value_name = "N", requires = "probe", default_value_t = 32)]
    pub(crate) size: usize,
    /// IPv4 TTL / IPv6 hop limit: 1 stays on the local link, 0 on this host.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(crate) ttl: u8,
    /// Do not deliver copies to receivers on this host (IP_MULTICAST_LOOP off).
    #[arg(long)]
    pub(crate) no_loop: bool,
    /// Send to an IPv4 broadcast address with SO_BROADCAST instead of a group.
    #[arg(long)]
    pub(crate) broadcast: bool,
    /// Also bind the socket to the interface with SO_BINDTODEVICE (may need
    /// root or CAP_NET_RAW: always before Linux 5.7).
    #[arg(long)]
    pub(crate) bind_device: bool,
    /// Use UDP segmentation offload at high rates: several times faster, and
    /// usually faster than the receivers can read (a stress test).
    #[arg(long)]
    pub(crate) gso: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RecvArgs {
    /// The groups to join: ADDR, ADDR:PORT, [ADDR6]:PORT, several of them,
    /// or a range ADDR+N (N groups). With --broadcast, a broadcast address
    /// (default: the interface's directed broadcast).
    #[arg(value_name = "GROUP")]
    pub(crate) groups: Vec<String>,
    /// The interface: a name, an index, an address, or '?' for a menu.
    #[arg(short, long, value_name = "IFACE")]
    pub(crate) iface: Option<String>,
    /// Stop after COUNT datagrams (0: no limit).
    #[arg(short, long, value_name = "COUNT", default_value_t = 10)]
    pub(crate) count: u64,
    /// Give up after DUR (more than 0); exit code 1 if fewer than COUNT
    /// arrived (with -c 0, just the length of the run).
    #[arg(long, value_name = "DUR", value_parser = timeout)]
    pub(crate) timeout: Option<Duration>,
    /// Source-specific join (SSM): receive only from ADDR (an IPv6 scope such
    /// as `%wlan0` must name the receiving interface).
    #[arg(long, value_name = "ADDR", value_parser = scoped_addr)]
    pub(crate) source: Option<ScopedAddr>,
    /// Show payloads as a hex dump.
    #[arg(long)]
    pub(crate) hex: bool,
    /// Answer every probe by unicast to its sender, for `mcast ping`.
    #[arg(long)]
    pub(crate) echo: bool,
    /// Show one-way delay for senders on other hosts too (their clocks must
    /// be synchronised, e.g. by PTP or a good NTP); same-host senders always
    /// show it.
    #[arg(long)]
    pub(crate) assume_synced_clocks: bool,
    /// Receive IPv4 broadcasts on the interface instead of joining a group.
    #[arg(long)]
    pub(crate) broadcast: bool,
    /// Also bind the socket to the interface with SO_BINDTODEVICE (may need
    /// root or CAP_NET_RAW: always before Linux 5.7).
    #[arg(long)]
    pub(crate) bind_device: bool,
    /// Receive buffer to ask for, in bytes: granted up to net.core.rmem_max
    /// without privileges, in full with CAP_NET_ADMIN; the JSON `joined`
    /// object reports what was granted. 4096 to 1073741824.
    #[arg(long, value_name = "BYTES", default_value = "8388608", value_parser = rcvbuf)]
    pub(crate) rcvbuf: usize,
    /// Write one CSV row per probe received to FILE (- for standard output;
    /// status lines stay on stderr, and so do the summary and other lines
    /// recv prints), streamed as it arrives. A header line names the
    /// columns, separated by commas: arrival_unix_ns, source, group, port,
    /// sender_id, seq, send_unix_ns, bytes: arrival and send times in ns
    /// since the Unix epoch (the receiver's and the sender's clocks), the
    /// sender's IP address, the group's address and port, the sender id (16
    /// hex digits), the sequence number (a gap shows a loss) and the UDP
    /// payload size. `mcast report FILE` draws it.
    #[arg(long, value_name = "FILE")]
    pub(crate) record: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct PingArgs {
    /// The group to multicast probes to: ADDR, ADDR:PORT or [ADDR6]:PORT.
    pub(crate) group: Option<Group>,
    /// The interface: a name, an index, an address, or '?' for a menu.
    #[arg(short, long, value_name = "IFACE")]
    pub(crate) iface: Option<String>,
    /// Number of probes (0: until Ctrl-C).
    #[arg(short, long, value_name = "N", default_value_t = 5)]
    pub(crate) count: u64,
    /// Time between probes (more than 0).
    #[arg(long, value_name = "DUR", default_value = "1s", value_parser = interval)]
    pub(crate) interval: Duration,
    /// How long to wait for late replies after the last probe.
    #[arg(long, value_name = "DUR", default_value = "1s", value_parser = duration)]
    pub(crate) wait: Duration,
    /// Probe size in bytes (UDP payload), at least 32.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub(crate) size: usize,
    /// IPv4 TTL / IPv6 hop limit.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(crate) ttl: u8,
}

#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    /// The group to check: ADDR, ADDR:PORT or [ADDR6]:PORT.
    pub(crate) group: Option<Group>,
    /// The interface: a name, an index, an address, or '?' for a menu.
    #[arg(short, long, value_name = "IFACE")]
    pub(crate) iface: Option<String>,
    /// A peer running `mcast recv --echo GROUP`: test the path to it, by
    /// multicast and by unicast.
    #[arg(long, value_name = "ADDR", value_parser = scoped_addr)]
    pub(crate) peer: Option<ScopedAddr>,
    /// Check IPv4 broadcast instead of multicast.
    #[arg(long)]
    pub(crate) broadcast: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// The record (`mcast recv --record FILE`), or - for standard input.
    #[arg(value_name = "FILE")]
    pub(crate) file: std::path::PathBuf,
    /// Where to write the SVG; - for standard output. Default: FILE with the
    /// extension .svg (run.csv -> run.svg), or standard output when FILE is -.
    #[arg(short, long, value_name = "OUT.svg")]
    pub(crate) output: Option<std::path::PathBuf>,
    /// Show one-way delay for senders on other hosts too (their clocks must
    /// be synchronised); senders on this host always show it.
    #[arg(long)]
    pub(crate) assume_synced_clocks: bool,
}

fn rate(s: &str) -> Result<mcast::Rate, String> {
    mcast::parse_rate(s).map_err(|e| e.to_string())
}

fn bitrate(s: &str) -> Result<mcast::Bitrate, String> {
    mcast::parse_bitrate(s).map_err(|e| e.to_string())
}

/// An address as a person writes it, with an optional IPv6 scope:
/// `198.18.1.10`, `fd00::10`, `fe80::1%wlan0`, `[fe80::1%3]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScopedAddr {
    pub(crate) ip: IpAddr,
    pub(crate) zone: Option<Zone>,
}

fn scoped_addr(s: &str) -> Result<ScopedAddr, String> {
    let t = s.trim();
    let t = t
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(t);
    let (addr, zone) = match t.split_once('%') {
        Some((a, z)) => (a, Some(z)),
        None => (t, None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| {
        format!("'{s}' is not an IP address (e.g. 198.18.1.10, fd00::10 or fe80::1%wlan0)")
    })?;
    let zone = match zone {
        None => None,
        Some(z) if ip.is_ipv4() => {
            return Err(format!(
                "'{s}': a scope (%{z}) belongs to IPv6 addresses (e.g. fe80::1%wlan0)"
            ))
        }
        Some(z) => Some(z.parse::<Zone>().map_err(|e| format!("'{s}': {e}"))?),
    };
    Ok(ScopedAddr { ip, zone })
}

fn duration(s: &str) -> Result<Duration, String> {
    mcast::parse_duration(s).map_err(|e| e.to_string())
}

/// A duration that must be more than 0, with what to do instead of 0.
fn positive(s: &str, instead: &str) -> Result<Duration, String> {
    let d = duration(s)?;
    if d.is_zero() {
        return Err(format!(
            "it must be more than 0 (and at most a year), e.g. 100ms, 2s or 1m; {instead}"
        ));
    }
    Ok(d)
}

fn interval(s: &str) -> Result<Duration, String> {
    positive(s, "to send as fast as possible, use --rate max")
}

fn run_time(s: &str) -> Result<Duration, String> {
    positive(
        s,
        "without --duration, sending goes on until --count or Ctrl-C",
    )
}

fn timeout(s: &str) -> Result<Duration, String> {
    positive(
        s,
        "without --timeout, recv waits until COUNT datagrams arrived",
    )
}

/// The receive buffer sizes mcast asks for: the kernel needs some room per
/// datagram, and takes an int that it doubles.
const RCVBUF_MIN: usize = 4096;
const RCVBUF_MAX: usize = 1 << 30;

fn rcvbuf(s: &str) -> Result<usize, String> {
    let n: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of bytes ({RCVBUF_MIN} to {RCVBUF_MAX})"))?;
    if !(RCVBUF_MIN..=RCVBUF_MAX).contains(&n) {
        return Err(format!(
            "{n} is out of range: give {RCVBUF_MIN} to {RCVBUF_MAX} bytes (the default is 8388608)"
        ));
    }
    Ok(n)
}
