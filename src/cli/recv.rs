//! `mcast recv`: join the groups on the chosen interface, print the first
//! ten messages and their source, leave the groups. Probes are counted per
//! sender and per group instead of printed.

use std::collections::{BTreeMap, HashSet};
use std::io::{IsTerminal, Write};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::cli::hex::{hex, hex_dump};
use crate::cli::json::JsonObject;
use crate::cli::stats_view;
use mcast::{
    escape_text, format_duration, unix_time_ns, Datagram, Group, Probe, ProbeFlags, Receiver,
    ReceiverStats, RecvBatch,
};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::output::{line, plural, status, CliError, Utc};
use super::{signals, targets, Common, RecvArgs};

/// The largest UDP payload (65,535 − 8 − 20); a larger buffer is never needed.
const MAX_DATAGRAM: usize = 65_535;
/// Datagrams per `recvmmsg(2)` call.
const BATCH: usize = 64;
/// Calls per socket per wake-up, so one busy group cannot starve the others
/// or the status line.
const CALLS_PER_WAKE: usize = 16;
/// Below this many datagrams per call, the receiver pauses [`COALESCE`]
/// before the next call, so a fast stream is read in batches rather than
/// one wake-up per datagram.
const COALESCE_BELOW: usize = BATCH / 4;
const COALESCE: Duration = Duration::from_micros(200);
/// How often the interface watcher is asked whether something changed (its
/// netlink socket wakes the poll at once where several sockets are polled).
const WATCH_EVERY: Duration = Duration::from_millis(250);
/// Up to this many groups, each one's leave gets a status line.
const SAY_EACH: usize = 16;

pub(crate) fn run(args: &RecvArgs, common: &Common) -> Result<bool, CliError> {
    let (groups, iface) = targets(&args.groups, args.broadcast, args.iface.as_deref())?;
    let source = args.source.map(|s| s.on("source", &iface)).transpose()?;
    // Many groups take many sockets (Linux limits the memberships of one):
    // the soft open-file limit is often far below the hard one.
    if let Err(e) = mcast::raise_open_files_limit(groups.len() as u64 + 64) {
        log::debug!("cannot raise the open-file limit: {e}");
    }
    let (mut receivers, mut unicast_from) = open(&groups, &iface, source, args, common)?;
    // Follow the interface: re-join when it comes back, changes address or
    // is recreated; with automatic selection, switch when it disappears.
    let mut follow = Follow::new(iface, args.iface.is_none(), common);

    let local: HashSet<IpAddr> = mcast::interfaces()
        .map(|l| {
            l.iter()
                .flat_map(|i| i.addresses().iter().map(|a| a.ip()))
                .collect()
        })
        .unwrap_or_default();
    let mut stats = ReceiverStats::new(&groups);
    let count = (args.count > 0).then_some(args.count);
    let start = Instant::now();
    let deadline = args.timeout.map(|t| start + t);
    let live = !common.quiet && !common.json && std::io::stderr().is_terminal();
    let mut next_tick = start + Duration::from_secs(1);
    let mut next_watch = start + WATCH_EVERY;
    let mut batch = RecvBatch::new(BATCH);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut reply = vec![0u8; MAX_DATAGRAM];
    let (mut packets, mut bytes, mut probes) = (0u64, 0u64, 0u64);
    let mut sources: HashSet<IpAddr> = HashSet::new();
    let mut last_source: Option<IpAddr> = None;
    let mut delay_shown = args.assume_synced_clocks;
    let mut result = Ok(());
    'run: while count.is_none_or(|c| packets < c) && !signals::interrupted() {
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            break;
        }
        if now >= next_tick {
            next_tick += Duration::from_secs(1);
            if probes > 0 {
                tick(&mut stats, live, common.json, delay_shown)?;
            }
        }
        // Wake at least at the next status tick, to notice a signal that
        // raced the wait, and at the deadline.
        let mut wake = next_tick;
        if let Some(d) = deadline {
            wake = wake.min(d);
        }
        if let Some(d) = follow.watcher.deadline() {
            wake = wake.min(d);
        }
        let wait = wake.saturating_duration_since(now);
        // With one socket, block in recvmmsg itself (woken by data, a signal
        // or the socket's 100 ms receive timeout): one system call per batch
        // instead of poll plus recvmmsg, which is most of the cost when each
        // wake-up brings a datagram or two. With several (several ports, the
        // unicast answerers, or more groups than one socket may join), one
        // poll over all of them.
        let single = receivers.len() == 1 && receivers[0].fds().len() == 1;
        let mut prefilled = false;
        let mut watcher_ready = false;
        let ready: Vec<bool> = if single {
            match receivers[0].recv_batch_wait(&mut batch) {
                Ok(_) => prefilled = true,
                Err(e) => {
                    result = Err(CliError::from(e));
                    break;
                }
            }
            vec![true]
        } else {
            let mut fds: Vec<PollFd<'_>> = receivers
                .iter()
                .flat_map(|r| r.fds())
                .map(|fd| PollFd::new(fd, PollFlags::POLLIN))
                .collect();
            if let Some(fd) = follow.watcher.fd() {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
            }
            let ms = wait.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
            match poll(
                &mut fds,
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
            ) {
                Ok(_) => {
                    let mut r: Vec<bool> = fds
                        .iter()
                        .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                        .collect();
                    if follow.watcher.fd().is_some() {
                        watcher_ready = r.pop().unwrap_or(false);
                    }
                    r
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    result = Err(CliError::failure(format!("cannot wait for datagrams: {e}")));
                    break;
                }
            }
        };
        let now = Instant::now();
        let look = watcher_ready || now >= next_watch;
        if look {
            next_watch = now + WATCH_EVERY;
        }
        if (look && follow.watcher.due(now)) || follow.retry_due() {
            if let Some(new) = follow.check(common)? {
                // The new sockets join before the old ones leave (when the
                // old ones are dropped), so the kernel keeps the membership
                // and nothing is missed; if they cannot be opened yet (no
                // address on the interface, say), the old ones stay.
                match open(&groups, &new, source, args, common) {
                    Ok((r, u)) => {
                        receivers = r;
                        unicast_from = u;
                        follow.rejoined(common)?;
                    }
                    Err(e) => follow.failed(&e.msg),
                }
            }
            continue;
        }
        // `ready` lists the sockets of every receiver in turn.
        let mut ready = ready.into_iter();
        for (i, rx) in receivers.iter_mut().enumerate() {
            let sockets = rx.fds().len();
            for sock in 0..sockets {
                if !ready.next().unwrap_or(false) {
                    continue;
                }
                if i >= unicast_from {
                    // Unicast probes are answered, not counted.
                    while let Ok(Some(d)) = rx.try_recv(&mut buf) {
                        echo(rx, &d, &buf[..d.len()], &mut reply);
                    }
                    continue;
                }
                for _ in 0..CALLS_PER_WAKE {
                    if !std::mem::take(&mut prefilled) {
                        if let Err(e) = rx.recv_batch_on(sock, &mut batch) {
                            result = Err(CliError::from(e));
                            break 'run;
                        }
                    }
                    for (d, payload) in batch.iter() {
                        // The kernel's receive time where there is one.
                        let arrival = d.kernel_time_ns().unwrap_or_else(unix_time_ns);
                        packets += 1;
                        bytes += d.size() as u64;
                        // Streams come in runs from one source: hash only on a change.
                        if last_source != Some(d.source().ip()) {
                            last_source = Some(d.source().ip());
                            sources.insert(d.source().ip());
                        }
                        let group = rx.group_of(d);
                        match stats.on_datagram(group, d.source(), payload, arrival) {
                            Ok(_) => {
                                probes += 1;
                                delay_shown |= local.contains(&d.source().ip());
                                if args.echo {
                                    echo(rx, d, payload, &mut reply);
                                }
                            }
                            Err(_) => {
                                if let Err(e) = print(d, payload, args.hex, common.json) {
                                    result = Err(e);
                                    break 'run;
                                }
                            }
                        }
                        if count.is_some_and(|c| packets >= c) {
                            break 'run;
                        }
                    }
                    if batch.received() < batch.capacity() {
                        // A trickle: let datagrams gather for a moment instead of
                        // waking for each one (the kernel timestamped them on
                        // arrival, so jitter and delay are unaffected). Not when
                        // answering probes: that would add to the round trip.
                        if single && !args.echo && (1..COALESCE_BELOW).contains(&batch.received()) {
                            std::thread::sleep(COALESCE);
                        }
                        break;
                    }
                }
            }
        }
    }
    if live && probes > 0 {
        // End the status line.
        let _ = writeln!(std::io::stderr());
    }
    let interrupted = signals::interrupted();
    let secs = start.elapsed().as_secs_f64();
    // Leave explicitly on every path, so the leave reports go out now.
    receivers.truncate(unicast_from);
    for rx in &mut receivers {
        let left: Vec<Group> = rx.groups().to_vec();
        match rx.leave() {
            Ok(()) if !args.broadcast => {
                // A line per group, but not thousands of them.
                if left.len() > SAY_EACH {
                    status(
                        common.quiet,
                        &format!("left {} groups on {}", left.len(), follow.iface),
                    );
                }
                for g in left {
                    if rx.groups().len() <= SAY_EACH {
                        status(
                            common.quiet,
                            &format!("left {} on {}", g.addr(), follow.iface),
                        );
                    }
                    if common.json {
                        line(
                            &JsonObject::typed("left")
                                .str("group", &g.addr().to_string())
                                .str("interface", follow.iface.name())
                                .finish(),
                        )?;
                    }
                }
            }
            Ok(()) => {}
            Err(e) => log::warn!("{e}"),
        }
    }
    // The pipe may be closed: then say nothing more.
    if result.as_ref().is_err_and(|e| e.msg.is_empty()) {
        return result.map(|()| false);
    }
    let timed_out = !interrupted && count.is_some_and(|c| packets < c) && result.is_ok();
    let filtered: u64 = receivers.iter().map(Receiver::filtered).sum();
    let kernel_drops: u64 = receivers.iter().map(Receiver::kernel_drops).sum();
    let now_ns = unix_time_ns();
    if common.json {
        let obj = JsonObject::typed("summary")
            .str("role", "recv")
            .int("packets", packets)
            .int("bytes", bytes)
            .num("duration_s", (secs * 1000.0).round() / 1000.0)
            .int("sources", sources.len() as u64)
            .int("filtered", filtered)
            .int("kernel_drops", kernel_drops)
            .bool("interrupted", interrupted)
            .bool("timed_out", timed_out);
        let obj = if probes > 0 {
            stats_view::add_summary_fields(obj, &stats.summary(now_ns), delay_shown)
        } else {
            obj
        };
        line(&obj.finish())?;
    } else {
        if probes > 0 {
            for l in stats_view::stream_table(&stats.snapshot(now_ns), delay_shown) {
                line(&l)?;
            }
        }
        line(&format!(
            "received {}, {bytes} bytes in {secs:.1} s from {}",
            plural(packets, "packet", "packets"),
            plural(sources.len() as u64, "source", "sources"),
        ))?;
        if kernel_drops > 0 {
            line(&format!(
                "{} dropped by this host's receive buffer (SO_RXQ_OVFL): lost here, not on \
                 the path; a larger --rcvbuf or a faster reader helps",
                plural(kernel_drops, "datagram was", "datagrams were")
            ))?;
        }
    }
    result?;
    let iface = &follow.iface;
    if timed_out {
        let within = args.timeout.map(format_duration).unwrap_or_default();
        let wanted = count.unwrap_or(0);
        let what = if groups.len() == 1 {
            groups[0].to_string()
        } else {
            format!("{} groups", groups.len())
        };
        return Err(CliError::failure(if packets == 0 {
            format!(
                "nothing arrived on {what} via {iface} within {within}. Likely causes: the sender \
                 uses another interface or link (check -i on both sides); a firewall drops the \
                 group's UDP port {} or IGMP/MLD; the access point isolates clients or filters \
                 multicast (IGMP snooping without a querier); the sender's TTL is too low for the \
                 path; on Android, no app holds a Wi-Fi MulticastLock",
                groups[0].port()
            )
        } else {
            format!("only {packets} of {wanted} datagrams arrived on {what} via {iface} within {within}")
        }));
    }
    Ok(interrupted)
}

/// Opens one receiver per port on `iface` (a socket bound to one port joins
/// all its groups), and with `--echo` one unicast answerer per port; returns
/// them and where the answerers start.
fn open(
    groups: &[Group],
    iface: &mcast::Interface,
    source: Option<IpAddr>,
    args: &RecvArgs,
    common: &Common,
) -> Result<(Vec<Receiver>, usize), CliError> {
    let mut by_port: BTreeMap<u16, Vec<Group>> = BTreeMap::new();
    for g in groups {
        by_port.entry(g.port().get()).or_default().push(*g);
    }
    let mut receivers = Vec::with_capacity(by_port.len() * 2);
    for port_groups in by_port.values() {
        let mut b = Receiver::builder(port_groups[0], iface.clone())
            .broadcast(args.broadcast)
            .bind_device(args.bind_device)
            .recv_buffer(args.rcvbuf);
        for g in &port_groups[1..] {
            b = b.also_join(*g);
        }
        if let Some(src) = source {
            b = b.source(src);
        }
        receivers.push(b.build()?);
    }
    announce(&receivers, source, args, common)?;
    // With --echo, also answer probes sent by unicast to this host's address
    // at the same ports (mcast doctor --peer compares the two paths).
    let unicast_from = receivers.len();
    if args.echo && !args.broadcast {
        for port_groups in by_port.values() {
            let u = Receiver::builder(port_groups[0], iface.clone())
                .unicast(true)
                .build()?;
            if let Some(a) = u.local_addr() {
                status(common.quiet, &format!("answering unicast probes on {a}"));
            }
            receivers.push(u);
        }
    }
    Ok((receivers, unicast_from))
}

/// Follows the receiving interface through network changes.
struct Follow {
    iface: mcast::Interface,
    auto: bool,
    watcher: mcast::Watcher,
    /// Whether the interface existed at the last look (a gone interface is
    /// reported once, not at every notification).
    present: bool,
    /// Set when re-joining failed (the interface is missing an address, say):
    /// try again at most once a second.
    retry_at: Option<Instant>,
}

impl Follow {
    fn new(iface: mcast::Interface, auto: bool, common: &Common) -> Follow {
        let watcher = mcast::Watcher::new();
        log::info!("following {iface} with {}", watcher.mechanism());
        if common.json {
            let _ = line(
                &JsonObject::typed("watching")
                    .str("interface", iface.name())
                    .str("mechanism", &watcher.mechanism().to_string())
                    .finish(),
            );
        }
        Follow {
            iface,
            auto,
            watcher,
            present: true,
            retry_at: None,
        }
    }

    fn retry_due(&self) -> bool {
        self.retry_at.is_some_and(|t| Instant::now() >= t)
    }

    fn failed(&mut self, why: &str) {
        log::warn!("cannot re-join on {} yet: {why}; trying again", self.iface);
        self.retry_at = Some(Instant::now() + Duration::from_secs(1));
    }

    fn event(&self, what: &str, detail: &str, common: &Common) -> Result<(), CliError> {
        log::info!("{}: {detail}", self.iface.name());
        if common.json {
            line(
                &JsonObject::typed("interface_event")
                    .str("interface", self.iface.name())
                    .int("index", self.iface.index().get())
                    .str("event", what)
                    .str("detail", detail)
                    .finish(),
            )?;
        }
        Ok(())
    }

    /// Looks at the interfaces again; returns the interface to re-join on
    /// when the receivers must be rebuilt.
    fn check(&mut self, common: &Common) -> Result<Option<mcast::Interface>, CliError> {
        let retrying = self.retry_at.take().is_some();
        let Ok(list) = mcast::interfaces() else {
            return Ok(None);
        };
        let now = list.iter().find(|i| i.name() == self.iface.name()).cloned();
        let changes = if self.present || now.is_some() {
            mcast::changes(Some(&self.iface), now.as_ref())
        } else {
            Vec::new()
        };
        self.present = now.is_some();
        if let Some(n) = &now {
            // Events name the interface as it is now (a recreated one by its
            // new index).
            self.iface = n.clone();
        }
        for c in &changes {
            self.event(c.kind(), &c.to_string(), common)?;
        }
        match now {
            Some(n) => {
                let rebuild = retrying
                    || changes
                        .iter()
                        .any(|c| !matches!(c, mcast::Change::Down | mcast::Change::Gone));
                self.iface = n;
                Ok((rebuild && mcast::is_usable(&self.iface)).then(|| self.iface.clone()))
            }
            None if self.auto => {
                let family = self
                    .iface
                    .addresses()
                    .first()
                    .map_or(mcast::Family::V4, mcast::Address::family);
                let pick = mcast::select(&list, family, mcast::Purpose::Multicast);
                match pick.chosen() {
                    Some(alt) => {
                        let detail = format!(
                            "{} is gone; switching to {alt}: {}",
                            self.iface.name(),
                            pick.reason()
                        );
                        self.event("switched", &detail, common)?;
                        self.iface = alt.clone();
                        Ok(Some(alt.clone()))
                    }
                    None => {
                        self.retry_at = Some(Instant::now() + Duration::from_secs(1));
                        Ok(None)
                    }
                }
            }
            // Named and gone: wait for it to come back (the old snapshot
            // keeps its name, so its return shows up as a change).
            None => Ok(None),
        }
    }

    fn rejoined(&mut self, common: &Common) -> Result<(), CliError> {
        self.retry_at = None;
        let detail = format!("re-joined on {}", self.iface);
        self.event("rejoined", &detail, common)
    }
}

/// Says what was joined: a status line, and `joined` objects in JSON.
fn announce(
    receivers: &[Receiver],
    source: Option<IpAddr>,
    args: &RecvArgs,
    common: &Common,
) -> Result<(), CliError> {
    for rx in receivers {
        let iface = rx.interface();
        let how = rx.mechanism().map_or("broadcast", |m| m.as_str());
        for g in rx.groups() {
            if common.json {
                line(
                    &JsonObject::typed("joined")
                        .str("group", &g.addr().to_string())
                        .int("port", g.port().get())
                        .str("interface", iface.name())
                        .int("index", iface.index().get())
                        .opt_str("source_filter", source.map(|s| s.to_string()).as_deref())
                        .opt_str("source_filter_by", rx.source_filter_by())
                        .bool("broadcast", args.broadcast)
                        .str("mechanism", how)
                        .int("rcvbuf", rx.recv_buffer_size().unwrap_or(0) as u64)
                        .finish(),
                )?;
            }
        }
        let filter = match (source, rx.source_filter_by()) {
            (Some(s), Some("mcast")) => format!(
                " from source {s} only (filtered by mcast: this system has no source-specific join)"
            ),
            (Some(s), _) => format!(" from source {s} only"),
            (None, _) => String::new(),
        };
        let what = match rx.groups() {
            [g] => g.to_string(),
            [first, .., last] => format!("{} groups, {} … {}", rx.groups().len(), first, last),
            [] => String::new(),
        };
        if args.broadcast {
            status(
                common.quiet,
                &format!("listening for broadcasts to {what} on {iface}"),
            );
        } else {
            status(
                common.quiet,
                &format!(
                    "listening on {what}{filter}, joined on {iface} with {how}{}",
                    match rx.memberships_per_socket() {
                        Some(n) => format!(
                            ", on {} sockets of up to {} each (the kernel's limit per socket)",
                            rx.socket_count(),
                            plural(n as u64, "membership", "memberships")
                        ),
                        None => String::new(),
                    }
                ),
            );
        }
    }
    Ok(())
}

/// Answers a probe by unicast to its sender, with the echo-reply flag set.
/// Replies are never answered, so two echoers cannot loop.
fn echo(rx: &Receiver, d: &Datagram, payload: &[u8], reply: &mut [u8]) {
    let Ok(p) = Probe::decode(payload) else {
        return;
    };
    if p.flags.contains(ProbeFlags::ECHO_REPLY) {
        return;
    }
    let n = payload.len();
    reply[..n].copy_from_slice(payload);
    // Byte 5 holds the flags (see the probe format).
    reply[5] = p.flags.with(ProbeFlags::ECHO_REPLY).bits();
    if let Err(e) = rx.reply(&reply[..n], d.source()) {
        log::warn!("{e}");
    }
}

/// The once-a-second report: a status line on a terminal, a `stats` object
/// in JSON.
fn tick(
    stats: &mut ReceiverStats,
    live: bool,
    json: bool,
    show_delay: bool,
) -> Result<(), CliError> {
    let now_ns = unix_time_ns();
    if json {
        return line(&stats_view::stats_json(stats, now_ns, show_delay).finish());
    }
    if !live {
        return Ok(());
    }
    let snaps = stats.interval_snapshot(now_ns);
    let mut parts = Vec::new();
    for g in stats.groups() {
        let (pps, mbps) = snaps
            .iter()
            .filter(|s| s.key.group == g.group)
            .fold((0.0, 0.0), |(p, m), s| {
                (p + s.interval.pps(), m + s.interval.mbps())
            });
        parts.push(format!(
            "{} {pps:.0} pps {mbps:.2} Mbit/s rx {} loss {:.2}%",
            g.group,
            g.counts.received,
            g.counts.loss_percent()
        ));
    }
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r\x1b[K{}", parts.join(" | "));
    let _ = err.flush();
    Ok(())
}

fn print(d: &Datagram, payload: &[u8], as_hex: bool, json: bool) -> Result<(), CliError> {
    // The kernel's receive time where there is one.
    let now = d.kernel_time_ns().map_or_else(Utc::now, Utc::from_unix_ns);
    if json {
        let text = std::str::from_utf8(payload).ok();
        return line(
            &JsonObject::typed("message")
                .str("time", &now.rfc3339())
                .int("unix_ns", now.unix_ns() as i128)
                .str("source", &d.source().to_string())
                .opt_str(
                    "destination",
                    d.destination().map(|a| a.to_string()).as_deref(),
                )
                .int("bytes", d.size() as u64)
                .bool("truncated", d.truncated())
                .opt_str("text", text)
                .str("hex", &hex(payload))
                .finish(),
        );
    }
    let trunc = if d.truncated() {
        format!(" (truncated to {})", d.len())
    } else {
        String::new()
    };
    if as_hex {
        line(&format!(
            "{} {} {} bytes{trunc}",
            now.clock(),
            d.source(),
            d.size()
        ))?;
        for l in hex_dump(payload) {
            line(&format!("  {l}"))?;
        }
        Ok(())
    } else {
        line(&format!(
            "{} {} {} bytes{trunc}: {}",
            now.clock(),
            d.source(),
            d.size(),
            escape_text(payload)
        ))
    }
}
