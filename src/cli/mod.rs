//! The `mcast` command line: argument parsing, and the map from results to
//! exit codes. Each subcommand lives in its own file.

use std::net::IpAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use mcast::{Family, Group, Interface, Purpose, Zone};

mod choose;
mod doctor;
mod hex;
mod ifaces;
mod json;
mod logger;
mod output;
mod ping;
mod recv;
mod report;
mod send;
mod signals;
mod stats_view;

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
An IPv6 group may carry a scope, an interface name or index (ff02::1%wlan0,
[ff02::1%3]:54321): it chooses the interface, and must agree with -i.
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
    /// Time between messages (to each group), more than 0; `--rate max`
    /// sends as fast as possible.
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = interval)]
    interval: Duration,
    /// Messages per second to each group, or `max` (overrides --interval).
    #[arg(long, value_name = "PPS", value_parser = rate, conflicts_with = "bitrate")]
    rate: Option<mcast::Rate>,
    /// Bits per second of UDP payload to each group: 64000, 500k, 10M, 1.5G
    /// (overrides --interval; like iperf 2's -b).
    #[arg(long, value_name = "BPS", value_parser = bitrate)]
    bitrate: Option<mcast::Bitrate>,
    /// Stop after this long (more than 0).
    #[arg(long, value_name = "DUR", value_parser = run_time)]
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
    /// Give up after DUR (more than 0); exit code 1 if fewer than COUNT
    /// arrived (with -c 0, just the length of the run).
    #[arg(long, value_name = "DUR", value_parser = timeout)]
    timeout: Option<Duration>,
    /// Source-specific join (SSM): receive only from ADDR (an IPv6 scope such
    /// as `%wlan0` must name the receiving interface).
    #[arg(long, value_name = "ADDR", value_parser = scoped_addr)]
    source: Option<ScopedAddr>,
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
    /// object reports what was granted. 4096 to 1073741824.
    #[arg(long, value_name = "BYTES", default_value = "8388608", value_parser = rcvbuf)]
    rcvbuf: usize,
    /// Write one CSV row per probe received to FILE (- for standard output;
    /// status lines stay on stderr, and so do the summary and other lines
    /// recv prints), streamed as it arrives. The header line is
    /// arrival_unix_ns,source,group,port,sender_id,seq,send_unix_ns,bytes:
    /// arrival and send times in ns since the Unix epoch (the receiver's and
    /// the sender's clocks), the sender's IP address, the group's address and
    /// port, the sender id (16 hex digits), the sequence number (a gap shows
    /// a loss) and the UDP payload size. `mcast report FILE` draws it.
    #[arg(long, value_name = "FILE")]
    record: Option<std::path::PathBuf>,
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
    /// Time between probes (more than 0).
    #[arg(long, value_name = "DUR", default_value = "1s", value_parser = interval)]
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
    #[arg(long, value_name = "ADDR", value_parser = scoped_addr)]
    peer: Option<ScopedAddr>,
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

/// An address as a person writes it, with an optional IPv6 scope:
/// `198.18.1.10`, `fd00::10`, `fe80::1%wlan0`, `[fe80::1%3]`.
#[derive(Debug, Clone, Copy)]
struct ScopedAddr {
    ip: IpAddr,
    zone: Option<Zone>,
}

impl ScopedAddr {
    /// The address, once the scope (if any) is known to name `iface`: an
    /// unknown scope, or one that names another interface, is bad input.
    fn on(self, what: &str, iface: &Interface) -> Result<IpAddr, CliError> {
        if let Some(z) = self.zone {
            let list = mcast::interfaces().map_err(|e| {
                CliError::failure(format!("cannot list the network interfaces: {e}"))
            })?;
            match z.resolve(&list) {
                None => {
                    return Err(CliError::usage(format!(
                        "the scope of {what} {}%{z} names no interface; available: {}",
                        self.ip,
                        available(&list)
                    )))
                }
                Some(i) if i.index() != iface.index() => {
                    return Err(CliError::usage(format!(
                        "{what} {}%{z} is scoped to {i}, but the interface is {iface}; \
                         drop the scope or make it agree",
                        self.ip
                    )))
                }
                Some(_) => {}
            }
        }
        Ok(self.ip)
    }
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

/// `lo (1), wlan0 (3)`: the interfaces a scope or `-i` may name.
fn available(list: &[Interface]) -> String {
    let names: Vec<String> = list
        .iter()
        .map(|i| format!("{} ({})", i.name(), i.index()))
        .collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
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

fn purpose(broadcast: bool) -> Purpose {
    if broadcast {
        Purpose::Broadcast
    } else {
        Purpose::Multicast
    }
}

/// Warns about reserved groups (224.0.0.0/24, ff02::1, ff02::2): they are
/// allowed, but the user should know what they are for.
fn warn_reserved(groups: &[Group]) {
    let mut reserved = groups
        .iter()
        .filter_map(|g| g.reserved_use().map(|what| (g, what)));
    if let Some((g, what)) = reserved.next() {
        let more = reserved.count();
        log::warn!(
            "{} is reserved ({what}): other hosts' traffic arrives there too, and what you \
             send reaches every member on the link; for your own traffic use a group in {}{}",
            g.addr(),
            if g.addr().is_ipv4() {
                "239.0.0.0/8"
            } else {
                "ff05::/16 (or ff02::/16 other than ::1 and ::2)"
            },
            if more > 0 {
                format!(
                    " (and {more} more reserved group{})",
                    if more == 1 { "" } else { "s" }
                )
            } else {
                String::new()
            }
        );
    }
}

/// Checks what a person wrote as groups, before an interface is chosen: one
/// address family, and each group fit for multicast (or broadcast). The
/// same messages for every subcommand.
fn check_groups(groups: &[Group], broadcast: bool) -> Result<(), CliError> {
    let Some(first) = groups.first() else {
        return Ok(());
    };
    if let Some(g) = groups
        .iter()
        .find(|g| g.addr().is_ipv4() != first.addr().is_ipv4())
    {
        return Err(CliError::usage(format!(
            "{g} and {first} are of different address families; one run uses one family \
             (start two, one with IPv4 groups and one with IPv6 groups)"
        )));
    }
    for g in groups {
        g.check(purpose(broadcast), None)?;
    }
    if broadcast && groups.len() > 1 {
        return Err(CliError::usage("--broadcast takes one broadcast address"));
    }
    warn_reserved(groups);
    Ok(())
}

/// The interface that the groups' scopes name (`ff02::1%wlan0`), with the
/// first scoped group; `None` when no group has a scope. Every scope must
/// name the same interface.
fn scoped_interface<'a>(
    groups: &[Group],
    list: &'a [Interface],
) -> Result<Option<(&'a Interface, Group)>, CliError> {
    let mut by_scope: Option<(&Interface, Group)> = None;
    for g in groups {
        let Some(z) = g.zone() else { continue };
        let i = z.resolve(list).ok_or_else(|| {
            CliError::usage(format!(
                "the scope of {g} names no interface; available: {}",
                available(list)
            ))
        })?;
        match by_scope {
            None => by_scope = Some((i, *g)),
            Some((first, g0)) if first.index() != i.index() => {
                return Err(CliError::usage(format!(
                    "{g0} and {g} are scoped to different interfaces ({first} and {i}); one run \
                     uses one interface"
                )))
            }
            Some(_) => {}
        }
    }
    Ok(by_scope)
}

/// A group's scope and `-i` must name the same interface.
fn agree(g: &Group, by_scope: &Interface, named: &Interface) -> Result<(), CliError> {
    if named.index() == by_scope.index() {
        return Ok(());
    }
    Err(CliError::usage(format!(
        "{g} is scoped to {by_scope}, but -i names {named}; give one of them, or make them agree"
    )))
}

/// The interface: the one `-i` names, or the one the groups' scope names
/// (`ff02::1%wlan0`); when both are given they must agree.
fn interface_for(
    groups: &[Group],
    spec: Option<&str>,
    family: Family,
    purpose: Purpose,
) -> Result<Interface, CliError> {
    if groups.iter().all(|g| g.zone().is_none()) {
        return choose::choose(spec, family, purpose);
    }
    let list = mcast::interfaces()
        .map_err(|e| CliError::failure(format!("cannot list the network interfaces: {e}")))?;
    let Some((by_scope, g)) = scoped_interface(groups, &list)? else {
        return choose::choose(spec, family, purpose);
    };
    let iface = choose::choose(Some(spec.unwrap_or(by_scope.name())), family, purpose)?;
    agree(&g, by_scope, &iface)?;
    Ok(iface)
}

/// The groups without their scopes (the interface is chosen now), each once.
fn unscoped(groups: Vec<Group>) -> Vec<Group> {
    let mut seen = std::collections::HashSet::new();
    groups
        .into_iter()
        .map(Group::without_zone)
        .filter(|g| seen.insert(*g))
        .collect()
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
    if groups.is_empty() && !broadcast {
        check_groups(&[first], broadcast)?;
    } else {
        check_groups(&groups, broadcast)?;
    }
    let family = if broadcast {
        Family::V4
    } else {
        Family::of(&first.addr())
    };
    let iface = interface_for(&groups, iface, family, purpose(broadcast))?;
    let groups = unscoped(groups);
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
    match groups.first() {
        None => {
            let b = iface
                .broadcast_v4()
                .ok_or_else(|| CliError::usage(format!("{iface} has no IPv4 broadcast address")))?;
            Ok((vec![Group::new(IpAddr::V4(b), first.port())], iface))
        }
        Some(g) => {
            g.check(Purpose::Broadcast, Some(&iface))?;
            Ok((vec![*g], iface))
        }
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
