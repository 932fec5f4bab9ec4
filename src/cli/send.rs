//! `mcast send`: "hello world" to the group every two seconds, like the
//! original program, through the chosen interface; or probes at a paced
//! rate to one or many groups.

use std::time::{Duration, Instant};

use crate::cli::json::JsonObject;
use mcast::sys::SendBatch;
use mcast::{format_duration, unix_time_ns, Pacer, Probe, Rate, Sender, SenderId, Step};

use super::output::{line, plural, status, CliError, Utc};
use super::{signals, targets, Common, SendArgs};

/// Per-packet lines are printed only at human rates.
const CHATTY_PPS: f64 = 20.0;
/// Datagrams per `sendmmsg(2)` call at high rates.
const BATCH: usize = 64;

/// How long a sender that this host refuses from the start keeps trying.
const REFUSED_FOR: Duration = Duration::from_secs(3);

/// Whether to give up: nothing went out in the first [`REFUSED_FOR`], and
/// what was tried, this host refused (a firewall rule). A path that is away
/// is waited for; a host that refuses everything will not change by itself.
fn refused_from_the_start(sent_any: bool, refused: bool, elapsed: Duration) -> bool {
    !sent_any && refused && elapsed >= REFUSED_FOR
}

/// The senders, and what keeps them going through network changes.
struct Link<'a> {
    senders: Vec<Sender>,
    groups: Vec<mcast::Group>,
    /// Which interface to reopen on (by name; with automatic selection,
    /// another one fit for the purpose when it is gone).
    follow: mcast::Follower,
    args: &'a SendArgs,
    /// Datagrams that could not be sent.
    errors: u64,
    /// Of those, the ones this host refused (EPERM, ENOBUFS).
    refused: u64,
    /// Whether a datagram went out, and whether this host refused one with
    /// EPERM (a firewall): for [`refused_from_the_start`].
    sent_any: bool,
    firewall: Option<mcast::Error>,
    started: Instant,
    unreported: u64,
    last_report: Option<Instant>,
    last_error: String,
    rebuild_at: Option<Instant>,
    /// Whether the interface was up with carrier at the last look (once a
    /// second): where the socket is pinned by its source address, the kernel
    /// drops datagrams for a down interface without an error.
    path_up: bool,
    checked_at: Instant,
}

impl<'a> Link<'a> {
    /// One sender per group; `ports` are the source ports to keep (empty:
    /// any).
    fn open(
        groups: &[mcast::Group],
        iface: &mcast::Interface,
        args: &SendArgs,
        ports: &[u16],
    ) -> Result<Vec<Sender>, mcast::Error> {
        groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                Sender::builder(*g, iface.clone())
                    .source_port(ports.get(i).copied().unwrap_or(0))
                    .ttl(args.ttl)
                    .loopback(!args.no_loop)
                    .broadcast(args.broadcast)
                    .bind_device(args.bind_device)
                    .connect(true)
                    .gso(args.gso)
                    .build()
            })
            .collect()
    }

    /// Sends what every batch holds.
    fn flush(
        &mut self,
        batches: &mut [SendBatch],
        sent: &mut (u64, u64),
        payload_len: usize,
    ) -> Result<(), CliError> {
        let now = Instant::now();
        if now.duration_since(self.checked_at) >= Duration::from_secs(1) {
            self.checked_at = now;
            let up = mcast::interfaces()
                .ok()
                .and_then(|l| {
                    l.into_iter()
                        .find(|i| i.name() == self.follow.interface().name())
                })
                .is_some_and(|i| mcast::is_usable(&i));
            if !up && self.path_up {
                self.last_error = format!("{} is down", self.follow.interface());
                self.rebuild_at.get_or_insert(now);
            }
            self.path_up = up;
        }
        if !self.path_up {
            for b in batches.iter_mut() {
                self.errors += b.len() as u64;
                self.unreported += b.len() as u64;
                b.clear();
            }
        }
        if self.senders.is_empty() {
            // No socket could be opened yet: these count as not sent.
            for b in batches.iter_mut() {
                self.errors += b.len() as u64;
                self.unreported += b.len() as u64;
                b.clear();
            }
        }
        for (s, b) in self.senders.iter().zip(batches.iter_mut()) {
            let queued = b.len() as u64;
            let (n, error) = s.send_batch(b);
            sent.0 += n as u64;
            sent.1 += (n * payload_len) as u64;
            self.sent_any |= n > 0;
            let missed = queued.saturating_sub(n as u64);
            self.errors += missed;
            self.unreported += missed;
            match error {
                None if missed > 0 => {
                    // sendmmsg stopped part way and its error is lost: the
                    // last one known is the likely cause.
                    self.refused += missed;
                    if self.last_error.is_empty() {
                        "the kernel refused part of a batch (sendmmsg does not say why)"
                            .clone_into(&mut self.last_error);
                    }
                }
                None => {}
                Some(e) if e.is_refused_here() => {
                    self.refused += missed;
                    self.last_error = e.to_string();
                    if e.raw_os_error() == Some(nix::libc::EPERM) {
                        self.firewall.get_or_insert(e);
                    }
                }
                Some(e) if e.is_transient() => {
                    self.last_error = e.to_string();
                    self.rebuild_at
                        .get_or_insert_with(|| Instant::now() + Duration::from_secs(1));
                }
                Some(e) => return Err(e.into()),
            }
        }
        if refused_from_the_start(
            self.sent_any,
            self.firewall.is_some(),
            self.started.elapsed(),
        ) {
            let e = self
                .firewall
                .take()
                .map(|e| e.to_string())
                .unwrap_or_default();
            let group = self.groups[0].to_string();
            let group = if group.contains('[') {
                format!("'{group}'")
            } else {
                group
            };
            return Err(CliError::failure(format!(
                "this host refused every datagram for {}: {e}; find the rule with `mcast doctor \
                 {group} -i {}`",
                mcast::format_duration(REFUSED_FOR),
                self.follow.interface().name()
            )));
        }
        let now = Instant::now();
        if self.unreported > 0
            && self
                .last_report
                .is_none_or(|t| now - t >= Duration::from_secs(1))
        {
            log::warn!(
                "{} not sent in the last second: {}",
                plural(self.unreported, "datagram", "datagrams"),
                self.last_error
            );
            self.unreported = 0;
            self.last_report = Some(now);
        }
        if self.rebuild_at.is_some_and(|t| now >= t) {
            self.rebuild();
        }
        Ok(())
    }

    /// Opens the senders again on the interface as it is now (by name; with
    /// automatic selection, another one if it is gone).
    fn rebuild(&mut self) {
        self.rebuild_at = Some(Instant::now() + Duration::from_secs(1));
        let old = self.follow.interface().clone();
        let look = self.follow.look(true);
        for e in &look.events {
            match e.kind {
                "switched" => log::info!("{}", e.detail),
                _ => log::debug!("{}: {}", e.interface.name(), e.detail),
            }
        }
        let Some(iface) = look.reopen else {
            return;
        };
        // Keep the source ports, so receivers see the same streams go on.
        let ports: Vec<u16> = self.senders.iter().map(|s| s.local_addr().port()).collect();
        self.senders.clear();
        let reopened = Link::open(&self.groups, &iface, self.args, &ports)
            .or_else(|_| Link::open(&self.groups, &iface, self.args, &[]));
        match reopened {
            Ok(s) => {
                log::info!(
                    "sending through {iface} again (source {})",
                    s[0].local_addr()
                );
                self.senders = s;
                self.rebuild_at = None;
                self.path_up = true;
                self.checked_at = Instant::now();
            }
            Err(e) => {
                log::debug!("cannot reopen the senders yet: {e}");
                // Keep trying with the old interface's senders meanwhile.
                if let Ok(s) = Link::open(&self.groups, &old, self.args, &ports) {
                    self.senders = s;
                }
            }
        }
    }
}

pub(crate) fn run(args: &SendArgs, common: &Common) -> Result<bool, CliError> {
    let (groups, iface) = targets(&args.groups, args.broadcast, args.iface.as_deref())?;
    let payload_len = if args.probe {
        args.size
    } else {
        args.message.len()
    };
    if args.probe && args.size < mcast::PROBE_HEADER_LEN {
        return Err(CliError::usage(format!(
            "--size {} is too small: a probe needs at least {} bytes",
            args.size,
            mcast::PROBE_HEADER_LEN
        )));
    }
    if payload_len > 65_507 {
        return Err(CliError::usage(format!(
            "a {payload_len}-byte payload is larger than a UDP datagram can carry (65,507 bytes)"
        )));
    }
    let rate = match (args.rate, args.bitrate) {
        (Some(r), _) => r,
        (None, Some(b)) => b.packet_rate(payload_len.max(1)).unwrap_or(Rate::Max),
        (None, None) => Rate::from_interval(args.interval),
    };
    // One socket per group: the soft open-file limit is often far below the
    // hard one.
    if let Err(e) = mcast::sys::raise_open_files_limit(groups.len() as u64 + 64) {
        log::debug!("cannot raise the open-file limit: {e}");
    }
    let senders = Link::open(&groups, &iface, args, &[])?;
    let limit = args.count.filter(|c| *c > 0);
    let chatty = !args.probe && rate.packets_per_second().is_some_and(|p| p <= CHATTY_PPS);
    let sender_id = SenderId::random();
    for s in &senders {
        if common.json {
            line(
                &JsonObject::typed("sending")
                    .str("destination", &s.destination().to_string())
                    .str("source", &s.local_addr().to_string())
                    .str("interface", iface.name())
                    .int("index", iface.index().get())
                    .int("ttl", args.ttl)
                    .bool("loop", !args.no_loop)
                    .bool("broadcast", args.broadcast)
                    .str("pinned_by", s.pinned_by().as_str())
                    .bool("bind_device", s.bound_to_device())
                    .opt_str(
                        "sender_id",
                        args.probe.then(|| sender_id.to_string()).as_deref(),
                    )
                    .finish(),
            )?;
        }
    }
    let first = &senders[0];
    let pace = match rate.packets_per_second() {
        None => "as fast as possible".to_owned(),
        Some(p) if p <= 1.0 => format!(
            "every {}",
            format_duration(std::time::Duration::from_secs_f64(1.0 / p))
        ),
        Some(p) => format!("{p:.0} packets/s"),
    };
    let what = if args.probe {
        format!("{}-byte probes (sender id {sender_id})", args.size)
    } else {
        format!("'{}'", mcast::escape_text(args.message.as_bytes()))
    };
    let dests = if senders.len() == 1 {
        first.destination().to_string()
    } else {
        format!(
            "{} groups ({} … {})",
            senders.len(),
            first.destination(),
            senders[senders.len() - 1].destination()
        )
    };
    status(
        common.quiet,
        &format!(
            "sending {what} to {dests} from {} on {iface}, TTL {}, {pace}{}{}, pinned by {}",
            first.local_addr().ip(),
            args.ttl,
            limit
                .map(|c| format!(", {}", plural(c, "time", "times")))
                .unwrap_or_default(),
            args.duration
                .map(|d| format!(", for {}", format_duration(d)))
                .unwrap_or_default(),
            first.pinned_by()
        ),
    );

    // Sleeps of a few microseconds, not the default 50 µs timer slack.
    signals::precise_sleeps();
    // Datagrams go out in sendmmsg(2) batches; at human rates, one at a time.
    let batch_size = if chatty { 1 } else { BATCH };
    let mut batches: Vec<SendBatch> = senders
        .iter()
        .map(|_| SendBatch::new(batch_size, payload_len))
        .collect();
    let mut link = Link {
        senders,
        groups: groups.clone(),
        // Its own errors and path checks say when to look, so no netlink
        // socket: polling costs nothing until then.
        follow: mcast::Follower::new(
            iface.clone(),
            mcast::Family::of(&groups[0].addr()),
            groups[0].purpose(),
            args.iface.is_none(),
            mcast::Watcher::polling(),
        ),
        args,
        errors: 0,
        refused: 0,
        sent_any: false,
        firewall: None,
        started: Instant::now(),
        unreported: 0,
        last_report: None,
        last_error: String::new(),
        rebuild_at: None,
        path_up: true,
        checked_at: Instant::now(),
    };
    let start = Instant::now();
    // Sleeps overshoot; let the pacer catch up by up to a batch at once.
    let mut pacer = Pacer::new(rate, start).max_burst(BATCH as u64);
    if let Some(c) = limit {
        pacer = pacer.count(c);
    }
    if let Some(d) = args.duration {
        pacer = pacer.duration(d);
    }
    let mut sent = (0u64, 0u64);
    let mut seq = 0u64;
    let mut failure = None;
    while !signals::interrupted() {
        match pacer.next(Instant::now()) {
            Step::Done => break,
            Step::Wait(d) => {
                if let Err(e) = link.flush(&mut batches, &mut sent, payload_len) {
                    failure = Some(e);
                    break;
                }
                if !signals::sleep_until(Instant::now() + d) {
                    break;
                }
                continue;
            }
            Step::Send => {}
        }
        seq += 1;
        for b in &mut batches {
            // Flushed whenever full, so there is always a slot.
            let Some(slot) = b.next_slot(payload_len) else {
                continue;
            };
            if args.probe {
                // Every group's stream is numbered 1, 2, 3, … on its own.
                let probe = Probe::new(sender_id, seq, unix_time_ns());
                if let Err(e) = probe.encode_into(slot, args.size) {
                    failure = Some(CliError::failure(e));
                    break;
                }
            } else {
                slot.copy_from_slice(args.message.as_bytes());
            }
        }
        if failure.is_some() {
            break;
        }
        if batches[0].is_full() {
            let before = sent.0;
            if let Err(e) = link.flush(&mut batches, &mut sent, payload_len) {
                failure = Some(e);
                break;
            }
            if chatty && sent.0 > before {
                for s in &link.senders {
                    if common.json {
                        line(
                            &JsonObject::typed("sent")
                                .str("time", &Utc::now().rfc3339())
                                .int("seq", seq)
                                .int("bytes", payload_len as u64)
                                .str("destination", &s.destination().to_string())
                                .finish(),
                        )?;
                    } else if !common.quiet {
                        line(&format!(
                            "Message sent ({payload_len} bytes) to {}",
                            s.destination()
                        ))?;
                    }
                }
            }
        }
    }
    if failure.is_none() {
        if let Err(e) = link.flush(&mut batches, &mut sent, payload_len) {
            failure = Some(e);
        }
    }
    let (packets, bytes) = sent;
    let secs = start.elapsed().as_secs_f64();
    let interrupted = signals::interrupted();
    // Over the schedule, and only when the run spans two packets of it.
    let pps = pacer.rate_over_schedule(packets, start.elapsed());
    if common.json {
        line(
            &JsonObject::typed("summary")
                .str("role", "send")
                .int("packets", packets)
                .int("bytes", bytes)
                .num("duration_s", (secs * 1000.0).round() / 1000.0)
                .num("pps", pps.map_or(f64::NAN, f64::round))
                .num("slipped_s", pacer.slipped().as_secs_f64())
                .int("errors", link.errors)
                .bool("interrupted", interrupted)
                .finish(),
        )?;
    } else {
        line(&format!(
            "sent {}, {bytes} bytes in {secs:.1} s{}{}",
            plural(packets, "packet", "packets"),
            match pps {
                Some(p) if !chatty => format!(" ({p:.0} packets/s)"),
                _ => String::new(),
            },
            not_sent(link.errors, link.refused)
        ))?;
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(interrupted),
    }
}

/// The end of the summary line: why datagrams were not sent.
fn not_sent(errors: u64, refused: u64) -> String {
    match (errors, refused) {
        (0, _) => String::new(),
        (e, 0) => format!("; {e} not sent because the path was away"),
        (e, r) if e == r => format!("; {e} not sent: this host refused them"),
        (e, r) => {
            format!("; {e} not sent: this host refused {r}, the others because the path was away")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_refused_from_the_start_gives_up_after_3_s() {
        let s = Duration::from_secs;
        assert!(!refused_from_the_start(false, true, s(2)));
        assert!(refused_from_the_start(false, true, s(3)));
        // Something went out: a firewall that drops some is no reason to stop.
        assert!(!refused_from_the_start(true, true, s(60)));
        // A path that is away is waited for.
        assert!(!refused_from_the_start(false, false, s(60)));
    }

    #[test]
    fn the_summary_says_why_datagrams_were_not_sent() {
        assert_eq!(not_sent(0, 0), "");
        assert_eq!(not_sent(5, 0), "; 5 not sent because the path was away");
        assert_eq!(not_sent(5, 5), "; 5 not sent: this host refused them");
        assert_eq!(
            not_sent(5, 2),
            "; 5 not sent: this host refused 2, the others because the path was away"
        );
    }
}
