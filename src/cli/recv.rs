//! `mcast recv`: join the groups on the chosen interface, print the first
//! ten messages and their source, leave the groups. Probes are counted per
//! sender and per group instead of printed.

use std::collections::{BTreeMap, HashSet};
use std::io::{IsTerminal, Write};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::cli::json::JsonObject;
use mcast::sys::RecvBatch;
use mcast::{format_duration, unix_time_ns, Datagram, Follower, Group, Receiver, ReceiverStats};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::output::{line, status, CliError};
use super::{signals, targets, Common, RecvArgs};
use record::Recorder;
use render::{announce, print, report, summary, tick, Out};

mod record;
mod render;

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
    if let Err(e) = mcast::sys::raise_open_files_limit(groups.len() as u64 + 64) {
        log::debug!("cannot raise the open-file limit: {e}");
    }
    let (mut receivers, mut unicast_from) = open(&groups, &iface, source, args, common)?;
    let mut follow = follow(iface, &groups, args, common);
    let out = Out::of(args);
    let mut recorder = args.record.as_deref().map(Recorder::open).transpose()?;

    let local = local_addresses();
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
    let mut tally = Tally {
        delay_shown: args.assume_synced_clocks,
        ..Tally::default()
    };
    let mut result = Ok(());
    'run: while count.is_none_or(|c| tally.packets < c) && !signals::interrupted() {
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            break;
        }
        if now >= next_tick {
            next_tick += Duration::from_secs(1);
            if tally.probes > 0 {
                tick(&mut stats, live, common.json, tally.delay_shown, out)?;
            }
            if let Some(r) = recorder.as_mut() {
                if let Err(e) = r.tick() {
                    result = Err(e);
                    break;
                }
            }
        }
        // Wake at least at the next status tick, to notice a signal that
        // raced the wait, and at the deadline.
        let mut wake = next_tick;
        if let Some(d) = deadline {
            wake = wake.min(d);
        }
        if let Some(d) = follow.deadline() {
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
        let woken = if single {
            receivers[0]
                .recv_batch_wait(&mut batch)
                .map(|_| Some(Woken::prefilled()))
                .map_err(CliError::from)
        } else {
            wait_for(&receivers, &follow, wait)
        };
        let (ready, mut prefilled, watcher_ready) = match woken {
            Ok(Some(w)) => (w.ready, w.prefilled, w.watcher),
            Ok(None) => continue,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        let now = Instant::now();
        let look = watcher_ready || now >= next_watch;
        if look {
            next_watch = now + WATCH_EVERY;
        }
        if (look && follow.changed(now)) || follow.retry_due(now) {
            rejoin(
                &mut follow,
                &mut receivers,
                &mut unicast_from,
                &groups,
                source,
                args,
                common,
            )?;
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
                        tally.datagram(d);
                        let group = rx.group_of(d);
                        match stats.on_datagram(group, d.source(), payload, arrival) {
                            Ok(_) => {
                                tally.probes += 1;
                                if let Some(r) = recorder.as_mut() {
                                    if let Err(e) = r.probe(d, group, payload, arrival) {
                                        result = Err(e);
                                        break 'run;
                                    }
                                }
                                tally.delay_shown |= local.contains(&d.source().ip());
                                if args.echo {
                                    echo(rx, d, payload, &mut reply);
                                }
                            }
                            Err(_) => {
                                if let Err(e) = print(d, payload, args.hex, common.json, out) {
                                    result = Err(e);
                                    break 'run;
                                }
                            }
                        }
                        if count.is_some_and(|c| tally.packets >= c) {
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
    if live && tally.probes > 0 {
        // End the status line.
        let _ = writeln!(std::io::stderr());
    }
    if let Some(r) = recorder.take() {
        let done = r.finish();
        if result.is_ok() {
            result = done;
        }
    }
    let interrupted = signals::interrupted();
    let secs = start.elapsed().as_secs_f64();
    // Leave explicitly on every path, so the leave reports go out now.
    receivers.truncate(unicast_from);
    leave(&mut receivers, follow.interface(), args, common)?;
    // The pipe may be closed: then say nothing more.
    if result.as_ref().is_err_and(|e| e.msg.is_empty()) {
        return result.map(|()| false);
    }
    let timed_out = !interrupted && count.is_some_and(|c| tally.packets < c) && result.is_ok();
    let end = End {
        secs,
        interrupted,
        timed_out,
    };
    summary(&tally, &mut stats, &receivers, &end, common, out)?;
    result?;
    if timed_out {
        return Err(nothing_arrived(
            &groups,
            follow.interface(),
            tally.packets,
            count.unwrap_or(0),
            args,
        ));
    }
    Ok(interrupted)
}

/// Looks at the interfaces again (the watcher has news, or a retry is
/// due): reports what changed and, when the follower says so, re-opens the
/// receivers on the interface it names.
fn rejoin(
    follow: &mut Follower,
    receivers: &mut Vec<Receiver>,
    unicast_from: &mut usize,
    groups: &[Group],
    source: Option<IpAddr>,
    args: &RecvArgs,
    common: &Common,
) -> Result<(), CliError> {
    let seen = follow.look(false);
    for e in &seen.events {
        report(e, common, Out::of(args))?;
    }
    if let Some(new) = seen.reopen {
        // The new sockets join before the old ones leave (when the
        // old ones are dropped), so the kernel keeps the membership
        // and nothing is missed; if they cannot be opened yet (no
        // address on the interface, say), the old ones stay.
        match open(groups, &new, source, args, common) {
            Ok((r, u)) => {
                *receivers = r;
                *unicast_from = u;
                report(&follow.rejoined(), common, Out::of(args))?;
            }
            Err(e) => {
                log::warn!(
                    "cannot re-join on {} yet: {}; trying again",
                    follow.interface(),
                    e.msg
                );
                follow.failed();
            }
        }
    }
    Ok(())
}

/// What arrived: the figures of the summary line.
#[derive(Debug, Default)]
struct Tally {
    packets: u64,
    bytes: u64,
    /// Of the packets, the probes (counted in the statistics, not printed).
    probes: u64,
    sources: HashSet<IpAddr>,
    last_source: Option<IpAddr>,
    /// Whether one-way delays mean something: a probe came from this host,
    /// or `--assume-synced-clocks`.
    delay_shown: bool,
}

impl Tally {
    fn datagram(&mut self, d: &Datagram) {
        self.packets += 1;
        self.bytes += d.size() as u64;
        // Streams come in runs from one source: hash only on a change.
        if self.last_source != Some(d.source().ip()) {
            self.last_source = Some(d.source().ip());
            self.sources.insert(d.source().ip());
        }
    }
}

/// How the run ended, for the summary.
struct End {
    secs: f64,
    interrupted: bool,
    timed_out: bool,
}

/// The addresses of this host: a probe from one of them shares our clock,
/// so its one-way delay means something.
fn local_addresses() -> HashSet<IpAddr> {
    mcast::interfaces()
        .map(|l| {
            l.iter()
                .flat_map(|i| i.addresses().iter().map(|a| a.ip()))
                .collect()
        })
        .unwrap_or_default()
}

/// What one wait over several sockets found.
struct Woken {
    /// Per socket of every receiver in turn, whether it is readable.
    ready: Vec<bool>,
    /// Whether the (single) socket's batch already holds datagrams.
    prefilled: bool,
    /// Whether the interface watcher has news.
    watcher: bool,
}

impl Woken {
    /// The single socket was read while waiting.
    fn prefilled() -> Woken {
        Woken {
            ready: vec![true],
            prefilled: true,
            watcher: false,
        }
    }
}

/// One poll over every receiver's sockets and the watcher's, for up to
/// `wait`; `None` when a signal interrupted it.
fn wait_for(
    receivers: &[Receiver],
    follow: &Follower,
    wait: Duration,
) -> Result<Option<Woken>, CliError> {
    let mut fds: Vec<PollFd<'_>> = receivers
        .iter()
        .flat_map(|r| r.fds())
        .map(|fd| PollFd::new(fd, PollFlags::POLLIN))
        .collect();
    if let Some(fd) = follow.fd() {
        fds.push(PollFd::new(fd, PollFlags::POLLIN));
    }
    let ms = mcast::sys::poll_timeout_ms(wait);
    match poll(
        &mut fds,
        PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
    ) {
        Ok(_) => {
            let mut ready: Vec<bool> = fds
                .iter()
                .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            let watcher = follow.fd().is_some() && ready.pop().unwrap_or(false);
            Ok(Some(Woken {
                ready,
                prefilled: false,
                watcher,
            }))
        }
        Err(nix::errno::Errno::EINTR) => Ok(None),
        Err(e) => Err(CliError::failure(format!("cannot wait for datagrams: {e}"))),
    }
}

/// Leaves every group: a status line per group (or one for many), `left`
/// objects in JSON.
fn leave(
    receivers: &mut [Receiver],
    iface: &mcast::Interface,
    args: &RecvArgs,
    common: &Common,
) -> Result<(), CliError> {
    for rx in receivers.iter_mut() {
        let left: Vec<Group> = rx.groups().to_vec();
        match rx.leave() {
            Ok(()) if !args.broadcast => {
                // A line per group, but not thousands of them.
                if left.len() > SAY_EACH {
                    status(
                        common.quiet,
                        &format!("left {} groups on {}", left.len(), iface),
                    );
                }
                for g in left {
                    if rx.groups().len() <= SAY_EACH {
                        status(common.quiet, &format!("left {} on {}", g.addr(), iface));
                    }
                    if common.json {
                        line(
                            &JsonObject::typed("left")
                                .str("group", &g.addr().to_string())
                                .str("interface", iface.name())
                                .finish(),
                        )?;
                    }
                }
            }
            Ok(()) => {}
            Err(e) => log::warn!("{}", super::advice::render(e)),
        }
    }
    Ok(())
}

/// Why a run with a count ended short: nothing arrived, with the likely
/// causes, or how much did.
fn nothing_arrived(
    groups: &[Group],
    iface: &mcast::Interface,
    packets: u64,
    wanted: u64,
    args: &RecvArgs,
) -> CliError {
    let within = args.timeout.map(format_duration).unwrap_or_default();
    let what = if groups.len() == 1 {
        groups[0].to_string()
    } else {
        format!("{} groups", groups.len())
    };
    CliError::failure(if packets == 0 {
        format!(
            "nothing arrived on {what} via {iface} within {within}. Likely causes: the sender \
             uses another interface or link (check -i on both sides); a firewall drops the \
             group's UDP port {} or IGMP/MLD; the access point isolates clients or filters \
             multicast (IGMP snooping without a querier); the sender's TTL is too low for the \
             path; on Android, no app holds a Wi-Fi MulticastLock",
            groups[0].port()
        )
    } else {
        format!(
            "only {packets} of {wanted} datagrams arrived on {what} via {iface} within {within}"
        )
    })
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

/// Starts following the receiving interface: re-join when it comes back,
/// changes address or is recreated; with automatic selection, switch when it
/// disappears, to an interface fit for multicast or, with `--broadcast`,
/// broadcast. Says how it watches (a `watching` object in JSON).
fn follow(iface: mcast::Interface, groups: &[Group], args: &RecvArgs, common: &Common) -> Follower {
    let family = mcast::Family::of(&groups[0].addr());
    let f = Follower::new(
        iface,
        family,
        groups[0].purpose(),
        args.iface.is_none(),
        mcast::Watcher::new(),
    );
    log::info!("following {} with {}", f.interface(), f.mechanism());
    if common.json {
        let _ = line(
            &JsonObject::typed("watching")
                .str("interface", f.interface().name())
                .str("mechanism", &f.mechanism().to_string())
                .finish(),
        );
    }
    f
}

/// Answers a probe by unicast to its sender (see [`mcast::answer_probe`]).
fn echo(rx: &Receiver, d: &Datagram, payload: &[u8], reply: &mut [u8]) {
    if let Err(e) = mcast::answer_probe(rx, d, payload, reply) {
        log::warn!("{}", super::advice::render(e));
    }
}
