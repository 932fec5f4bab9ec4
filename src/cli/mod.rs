//! The `mcast` command line: argument parsing, and the map from results to
//! exit codes. Each subcommand lives in its own file.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use mcast::{Family, Group, Interface, Purpose};

mod choose;
mod doctor;
mod ifaces;
mod logger;
mod output;
mod ping;
mod recv;
mod report;
mod send;
mod signals;

use output::{CliError, EXIT_INTERRUPTED, EXIT_OK};

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
Durations are written 100ms, 2s, 1.5s, 1m.

Exit codes: 0 done, 1 runtime failure (or fewer datagrams than --count
within --timeout), 2 bad input, 130 interrupted (after the summary).";

/// IP multicast sender, receiver and diagnostics for phones and boards.
#[derive(Debug, Parser)]
#[command(name = "mcast", version, about, after_help = SELECTION_RULE)]
struct Cli {
    /// More log output on stderr: -v info (the interface choice), -vv debug
    /// (socket options and fallbacks), -vvv trace. RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors on stderr; no status lines.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// One JSON object per line on stdout (fields are listed in the README).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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

/// Options every subcommand shares.
#[derive(Debug, Clone, Copy)]
struct Common {
    quiet: bool,
    json: bool,
}

#[derive(Debug, Args)]
struct IfacesArgs {
    /// The group whose address family decides the automatic choice.
    group: Option<Group>,
    /// Show the choice for IPv4 broadcast instead of multicast.
    #[arg(long)]
    broadcast: bool,
}

#[derive(Debug, Args)]
struct SendArgs {
    /// Where to send: ADDR, ADDR:PORT, [ADDR6]:PORT, several of them, or a
    /// range ADDR+N (N groups, e.g. 239.1.1.1+20). With --broadcast, a
    /// broadcast address (default: the interface's directed broadcast).
    #[arg(value_name = "GROUP")]
    groups: Vec<String>,
    /// The interface: a name, an index, an address, or '?' for a menu.
    #[arg(short, long, value_name = "IFACE")]
    iface: Option<String>,
    /// The payload.
    #[arg(
        short,
        long = "message",
        value_name = "TEXT",
        default_value = "hello world"
    )]
    message: String,
    /// Time between messages (to each group).
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = duration)]
    interval: Duration,
    /// Messages per second to each group, or `max` (overrides --interval).
    #[arg(long, value_name = "PPS", value_parser = rate, conflicts_with = "bitrate")]
    rate: Option<mcast::Rate>,
    /// Bits per second of UDP payload to each group: 64000, 500k, 10M, 1.5G
    /// (overrides --interval; like iperf 2's -b).
    #[arg(long, value_name = "BPS", value_parser = bitrate)]
    bitrate: Option<mcast::Bitrate>,
    /// Stop after this long.
    #[arg(long, value_name = "DUR", value_parser = duration)]
    duration: Option<Duration>,
    /// Number of messages to each group (default: until Ctrl-C or
    /// --duration; 0 also means no limit).
    #[arg(short, long, value_name = "COUNT")]
    count: Option<u64>,
    /// Send probes (sender id, sequence number, timestamp; see the README)
    /// instead of the message, for `recv` to measure loss, jitter and delay.
    #[arg(long)]
    probe: bool,
    /// Probe datagram size in bytes (UDP payload), at least 32.
    #[arg(long, value_name = "N", requires = "probe", default_value_t = 32)]
    size: usize,
    /// IPv4 TTL / IPv6 hop limit: 1 stays on the local link, 0 on this host.
    #[arg(long, value_name = "N", default_value_t = 1)]
    ttl: u8,
    /// Do not deliver copies to receivers on this host (IP_MULTICAST_LOOP off).
    #[arg(long)]
    no_loop: bool,
    /// Send to an IPv4 broadcast address with SO_BROADCAST instead of a group.
    #[arg(long)]
    broadcast: bool,
    /// Also bind the socket to the interface with SO_BINDTODEVICE (may need
    /// root or CAP_NET_RAW: always before Linux 5.7).
    #[arg(long)]
    bind_device: bool,
    /// Use UDP segmentation offload at high rates: several times faster, and
    /// usually faster than the receivers can read (a stress test).
    #[arg(long)]
    gso: bool,
}

#[derive(Debug, Args)]
struct RecvArgs {
    /// The groups to join: ADDR, ADDR:PORT, [ADDR6]:PORT, several of them,
    /// or a range ADDR+N (N groups). With --broadcast, a broadcast address
    /// (default: the interface's directed broadcast).
    #[arg(value_name = "GROUP")]
    groups: Vec<String>,
    /// The interface: a name, an index, an address, or '?' for a menu.
    #[arg(short, long, value_name = "IFACE")]
    iface: Option<String>,
    /// Stop after COUNT datagrams (0: no limit).
    #[arg(short, long, value_name = "COUNT", default_value_t = 10)]
    count: u64,
    /// Give up after DUR; exit code 1 if fewer than COUNT arrived (with
    /// -c 0, just the length of the run).
    #[arg(long, value_name = "DUR", value_parser = duration)]
    timeout: Option<Duration>,
    /// Source-specific join (SSM): receive only from ADDR (an IPv6 scope such
    /// as `%wlan0` is accepted and ignored: the interface is -i's).
    #[arg(long, value_name = "ADDR", value_parser = source_addr)]
    source: Option<IpAddr>,
    /// Show payloads as a hex dump.
    #[arg(long)]
    hex: bool,
    /// Answer every probe by unicast to its sender, for `mcast ping`.
    #[arg(long)]
    echo: bool,
    /// Show one-way delay for senders on other hosts too (their clocks must
    /// be synchronised, e.g. by PTP or a good NTP); same-host senders always
    /// show it.
    #[arg(long)]
    assume_synced_clocks: bool,
    /// Receive IPv4 broadcasts on the interface instead of joining a group.
    #[arg(long)]
    broadcast: bool,
    /// Also bind the socket to the interface with SO_BINDTODEVICE (may need
    /// root or CAP_NET_RAW: always before Linux 5.7).
    #[arg(long)]
    bind_device: bool,
    /// Receive buffer to ask for, in bytes: granted up to net.core.rmem_max
    /// without privileges, in full with CAP_NET_ADMIN; the JSON `joined`
    /// object reports what was granted.
    #[arg(long, value_name = "BYTES", default_value_t = 8 << 20)]
    rcvbuf: usize,
}

#[derive(Debug, Args)]
struct PingArgs {
    /// The group to multicast probes to: ADDR, ADDR:PORT or [ADDR6]:PORT.
    group: Option<Group>,
    /// The interface: a name, an index, an address, or '?' for a menu.
    #[arg(short, long, value_name = "IFACE")]
    iface: Option<String>,
    /// Number of probes (0: until Ctrl-C).
    #[arg(short, long, value_name = "N", default_value_t = 5)]
    count: u64,
    /// Time between probes.
    #[arg(long, value_name = "DUR", default_value = "1s", value_parser = duration)]
    interval: Duration,
    /// How long to wait for late replies after the last probe.
    #[arg(long, value_name = "DUR", default_value = "1s", value_parser = duration)]
    wait: Duration,
    /// Probe size in bytes (UDP payload), at least 32.
    #[arg(long, value_name = "N", default_value_t = 32)]
    size: usize,
    /// IPv4 TTL / IPv6 hop limit.
    #[arg(long, value_name = "N", default_value_t = 1)]
    ttl: u8,
}

#[derive(Debug, Args)]
struct DoctorArgs {
    /// The group to check: ADDR, ADDR:PORT or [ADDR6]:PORT.
    group: Option<Group>,
    /// The interface: a name, an index, an address, or '?' for a menu.
    #[arg(short, long, value_name = "IFACE")]
    iface: Option<String>,
    /// A peer running `mcast recv --echo GROUP`: test the path to it, by
    /// multicast and by unicast.
    #[arg(long, value_name = "ADDR", value_parser = source_addr)]
    peer: Option<IpAddr>,
    /// Check IPv4 broadcast instead of multicast.
    #[arg(long)]
    broadcast: bool,
}

#[derive(Debug, Args)]
struct ReportArgs {
    /// The record (`mcast recv --record FILE`), or - for standard input.
    #[arg(value_name = "FILE")]
    file: std::path::PathBuf,
    /// Where to write the SVG; - for standard output. Default: FILE with the
    /// extension .svg (run.csv -> run.svg), or standard output when FILE is -.
    #[arg(short, long, value_name = "OUT.svg")]
    output: Option<std::path::PathBuf>,
    /// Show one-way delay for senders on other hosts too (their clocks must
    /// be synchronised); senders on this host always show it.
    #[arg(long)]
    assume_synced_clocks: bool,
}

fn rate(s: &str) -> Result<mcast::Rate, String> {
    mcast::parse_rate(s).map_err(|e| e.to_string())
}

fn bitrate(s: &str) -> Result<mcast::Bitrate, String> {
    mcast::parse_bitrate(s).map_err(|e| e.to_string())
}

fn source_addr(s: &str) -> Result<IpAddr, String> {
    let bare = s.split('%').next().unwrap_or(s);
    bare.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| format!("'{s}' is not an IP address (e.g. 198.18.1.10 or fd00::10)"))
}

fn duration(s: &str) -> Result<Duration, String> {
    mcast::parse_duration(s).map_err(|e| e.to_string())
}

/// Resolves the groups (default: 239.74.20.30:54321), the interface and,
/// with broadcast, the destination.
fn targets(
    specs: &[String],
    broadcast: bool,
    iface: Option<&str>,
) -> Result<(Vec<Group>, Interface), CliError> {
    let groups = if specs.is_empty() {
        Vec::new()
    } else {
        mcast::parse_groups(specs).map_err(CliError::usage)?
    };
    let first = groups.first().copied().unwrap_or_else(Group::default_group);
    if let Some(g) = groups
        .iter()
        .find(|g| g.addr().is_ipv4() != first.addr().is_ipv4())
    {
        return Err(CliError::usage(format!(
            "{g} and {first} are of different address families; one run uses one family \
             (start two, one with IPv4 groups and one with IPv6 groups)"
        )));
    }
    if !broadcast {
        if let Some(g) = std::iter::once(&first)
            .chain(&groups)
            .find(|g| !g.is_multicast())
        {
            return Err(CliError::usage(format!(
                "{} is not a multicast group (IPv4 224.0.0.0/4, IPv6 ff00::/8), e.g. 239.74.20.30 \
                 or ff05::4a14:1e; to use a broadcast address, add --broadcast",
                g.addr()
            )));
        }
    } else if groups.len() > 1 {
        return Err(CliError::usage("--broadcast takes one broadcast address"));
    }
    let family = if broadcast {
        Family::V4
    } else {
        Family::of(&first.addr())
    };
    let purpose = if broadcast {
        Purpose::Broadcast
    } else {
        Purpose::Multicast
    };
    let iface = choose::choose(iface, family, purpose)?;
    if !broadcast {
        return Ok((
            if groups.is_empty() {
                vec![first]
            } else {
                groups
            },
            iface,
        ));
    }
    let directed = iface.broadcast_v4();
    match groups.first() {
        None => {
            let b = directed
                .ok_or_else(|| CliError::usage(format!("{iface} has no IPv4 broadcast address")))?;
            Ok((vec![Group::new(IpAddr::V4(b), first.port())], iface))
        }
        Some(g) => match g.addr() {
            IpAddr::V4(a) if a == Ipv4Addr::BROADCAST || Some(a) == directed => {
                Ok((vec![*g], iface))
            }
            a => Err(CliError::usage(format!(
                "{a} is not a broadcast address of {iface}; use {} or 255.255.255.255",
                directed.map_or("its directed broadcast".to_owned(), |d| d.to_string())
            ))),
        },
    }
}

/// Runs the command line and returns the exit code.
pub(crate) fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // Usage errors exit 2; --help and --version exit 0.
            let _ = e.print();
            return e.exit_code();
        }
    };
    logger::init(logger::level(
        cli.verbose,
        cli.quiet,
        std::env::var("RUST_LOG").ok().as_deref(),
    ));
    let common = Common {
        quiet: cli.quiet,
        json: cli.json,
    };
    let result = match &cli.command {
        Command::Ifaces(a) => ifaces::run(a, cli.json).map(|()| false),
        Command::Send(a) => {
            signals::install();
            send::run(a, &common)
        }
        Command::Recv(a) => {
            signals::install();
            recv::run(a, &common)
        }
        Command::Ping(a) => {
            signals::install();
            ping::run(a, &common)
        }
        Command::Doctor(a) => doctor::run(a, &common),
        Command::Report(a) => report::run(a, &common),
    };
    match result {
        Ok(false) => EXIT_OK,
        Ok(true) => EXIT_INTERRUPTED,
        Err(e) => {
            if !e.msg.is_empty() {
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "mcast: error: {}", e.msg);
            }
            e.code
        }
    }
}
