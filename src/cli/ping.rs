//! `mcast ping`: multicast probes to a group; every `mcast recv --echo` on
//! the group answers each one by unicast, and ping lists the responders with
//! their round-trip times, 1:N, like omping.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use crate::cli::json::JsonObject;
use mcast::{format_duration, unix_time_ns, Probe, ProbeFlags, Sender, SenderId};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::output::{line, plural, status, CliError};
use super::{signals, targets, Common, PingArgs};

/// Sequence numbers remembered per responder to spot duplicates.
const SEEN_WINDOW: u64 = 4096;

#[derive(Debug, Default)]
struct Responder {
    received: u64,
    duplicates: u64,
    seen: HashSet<u64>,
    min: f64,
    max: f64,
    sum: f64,
    sum_sq: f64,
}

impl Responder {
    fn add(&mut self, seq: u64, rtt_ms: f64) -> bool {
        if !self.seen.insert(seq) {
            self.duplicates += 1;
            return false;
        }
        if self.seen.len() as u64 > 2 * SEEN_WINDOW {
            self.seen.retain(|s| s + SEEN_WINDOW > seq);
        }
        if self.received == 0 || rtt_ms < self.min {
            self.min = rtt_ms;
        }
        self.max = self.max.max(rtt_ms);
        self.received += 1;
        self.sum += rtt_ms;
        self.sum_sq += rtt_ms * rtt_ms;
        true
    }

    fn avg(&self) -> f64 {
        self.sum / self.received.max(1) as f64
    }

    /// Mean deviation as ping(8) computes it: sqrt(E[x²] − E[x]²).
    fn mdev(&self) -> f64 {
        let n = self.received.max(1) as f64;
        (self.sum_sq / n - (self.sum / n).powi(2)).max(0.0).sqrt()
    }
}

pub(crate) fn run(args: &PingArgs, common: &Common) -> Result<bool, CliError> {
    let specs: Vec<String> = args.group.iter().map(ToString::to_string).collect();
    let (groups, iface) = targets(&specs, false, args.iface.as_deref())?;
    if args.size < mcast::PROBE_HEADER_LEN || args.size > 65_507 {
        return Err(CliError::usage(format!(
            "--size {} is out of range: a probe takes {} to 65507 bytes",
            args.size,
            mcast::PROBE_HEADER_LEN
        )));
    }
    let group = groups[0];
    let sender = Sender::builder(group, iface).ttl(args.ttl).build()?;
    let id = SenderId::random();
    if common.json {
        line(
            &JsonObject::typed("pinging")
                .str("destination", &sender.destination().to_string())
                .str("source", &sender.local_addr().to_string())
                .str("interface", sender.interface().name())
                .int("index", sender.interface().index().get())
                .int("ttl", args.ttl)
                .int("size", args.size as u64)
                .str("sender_id", &id.to_string())
                .str("pinned_by", sender.pinned_by().as_str())
                .finish(),
        )?;
    }
    status(
        common.quiet,
        &format!(
            "PING {} from {} on {}: {}-byte probes every {}",
            sender.destination(),
            sender.local_addr().ip(),
            sender.interface(),
            args.size,
            format_duration(args.interval)
        ),
    );

    let count = (args.count > 0).then_some(args.count);
    let mut probe_buf = vec![0u8; args.size];
    let mut reply_buf = vec![0u8; 65_535];
    let mut responders: BTreeMap<IpAddr, Responder> = BTreeMap::new();
    // Probes that got at least one reply, from anyone.
    let mut answered = Responder::default();
    let mut sent = 0u64;
    let start = Instant::now();
    let mut failure = None;
    while count.is_none_or(|c| sent < c) && !signals::interrupted() {
        let probe = Probe::new(id, sent + 1, unix_time_ns());
        if let Err(e) = probe.encode_into(&mut probe_buf, args.size) {
            failure = Some(CliError::failure(e));
            break;
        }
        if let Err(e) = sender.send(&probe_buf) {
            failure = Some(CliError::from(e));
            break;
        }
        sent += 1;
        let until = if count.is_some_and(|c| sent >= c) {
            Instant::now() + args.wait
        } else {
            start + args.interval * u32::try_from(sent).unwrap_or(u32::MAX)
        };
        if let Err(e) = collect(
            &sender,
            id,
            until,
            &mut reply_buf,
            &mut responders,
            &mut answered,
            common,
        ) {
            failure = Some(e);
            break;
        }
    }
    let interrupted = signals::interrupted();
    // Closed pipe: stop quietly.
    if failure.as_ref().is_some_and(|e| e.msg.is_empty()) {
        return Err(failure.unwrap_or_else(|| CliError::failure("")));
    }
    summary(&group, sent, answered.received, &responders, common)?;
    if let Some(e) = failure {
        return Err(e);
    }
    if responders.is_empty() {
        return Err(CliError::failure(format!(
            "no responder answered on {} ({}). Is `mcast recv --echo {group}` running \
             on the peers? Likely causes: the access point isolates clients or filters multicast; \
             a firewall drops the group's UDP port {} or the unicast replies; the peers use \
             another interface; on Android, no app holds a Wi-Fi MulticastLock",
            sender.destination(),
            plural(sent, "probe", "probes"),
            group.port()
        )));
    }
    Ok(interrupted)
}

/// Takes replies until `until` (or a signal).
fn collect(
    sender: &Sender,
    id: SenderId,
    until: Instant,
    buf: &mut [u8],
    responders: &mut BTreeMap<IpAddr, Responder>,
    answered: &mut Responder,
    common: &Common,
) -> Result<(), CliError> {
    loop {
        if signals::interrupted() {
            return Ok(());
        }
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        let wait = (until - now).min(Duration::from_millis(500));
        let ms = wait.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        let mut fds = [PollFd::new(sender.as_fd(), PollFlags::POLLIN)];
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(CliError::failure(format!("cannot wait for replies: {e}"))),
        }
        while let Some(d) = sender.try_recv_reply(buf)? {
            let (n, from) = (d.len(), d.source());
            // The kernel's receive time: the round trip without our wake-up.
            let arrival = d.kernel_time_ns().unwrap_or_else(unix_time_ns);
            let Ok(p) = Probe::decode(&buf[..n]) else {
                continue;
            };
            if p.sender_id != id || !p.flags.contains(ProbeFlags::ECHO_REPLY) {
                continue;
            }
            let rtt_ms = arrival.saturating_sub(p.sent_ns) as f64 / 1e6;
            let r = responders.entry(from.ip()).or_default();
            let fresh = r.add(p.seq, rtt_ms);
            answered.add(p.seq, rtt_ms);
            if common.json {
                line(
                    &JsonObject::typed("reply")
                        .str("responder", &from.ip().to_string())
                        .int("seq", p.seq)
                        .int("bytes", n as u64)
                        .num("rtt_ms", (rtt_ms * 1000.0).round() / 1000.0)
                        .bool("duplicate", !fresh)
                        .finish(),
                )?;
            } else if !common.quiet {
                line(&format!(
                    "{n} bytes from {}: seq={} time={rtt_ms:.3} ms{}",
                    from.ip(),
                    p.seq,
                    if fresh { "" } else { " (DUP!)" }
                ))?;
            }
        }
    }
}

fn summary(
    group: &mcast::Group,
    sent: u64,
    answered: u64,
    responders: &BTreeMap<IpAddr, Responder>,
    common: &Common,
) -> Result<(), CliError> {
    let total_loss = if sent == 0 {
        0.0
    } else {
        100.0 * sent.saturating_sub(answered) as f64 / sent as f64
    };
    let loss = |r: &Responder| {
        if sent == 0 {
            0.0
        } else {
            100.0 * sent.saturating_sub(r.received) as f64 / sent as f64
        }
    };
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    if common.json {
        return line(
            &JsonObject::typed("summary")
                .str("role", "ping")
                .str("group", &group.addr().to_string())
                .int("port", group.port().get())
                .int("sent", sent)
                .int("answered", answered)
                .num("loss_pct", round(total_loss))
                .objects(
                    "responders",
                    responders.iter().map(|(ip, r)| {
                        JsonObject::new()
                            .str("responder", &ip.to_string())
                            .int("sent", sent)
                            .int("received", r.received)
                            .int("duplicates", r.duplicates)
                            .num("loss_pct", round(loss(r)))
                            .num("rtt_min_ms", round(r.min))
                            .num("rtt_avg_ms", round(r.avg()))
                            .num("rtt_max_ms", round(r.max))
                            .num("rtt_mdev_ms", round(r.mdev()))
                    }),
                )
                .finish(),
        );
    }
    line(&format!(
        "--- {group} ping statistics: {} sent, {answered} answered, {total_loss:.1}% loss, {} ---",
        plural(sent, "probe", "probes"),
        plural(responders.len() as u64, "responder", "responders")
    ))?;
    for (ip, r) in responders {
        line(&format!(
            "{ip}: {sent} sent, {} received, {:.1}% loss{}, rtt min/avg/max/mdev = {:.3}/{:.3}/{:.3}/{:.3} ms",
            r.received,
            loss(r),
            if r.duplicates > 0 { format!(", {} duplicates", r.duplicates) } else { String::new() },
            r.min,
            r.avg(),
            r.max,
            r.mdev()
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responder_statistics() {
        let mut r = Responder::default();
        assert!(r.add(1, 1.0));
        assert!(r.add(2, 3.0));
        assert!(!r.add(2, 9.0), "a duplicate");
        assert_eq!((r.received, r.duplicates), (2, 1));
        assert_eq!((r.min, r.max, r.avg()), (1.0, 3.0, 2.0));
        assert!((r.mdev() - 1.0).abs() < 1e-9);
        // The window keeps memory bounded on an endless run.
        for s in 3..100_000 {
            r.add(s, 1.0);
        }
        assert!(r.seen.len() as u64 <= 2 * SEEN_WINDOW + 1);
    }
}
