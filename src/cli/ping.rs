//! `mcast ping`: multicast probes to a group; every `mcast recv --echo` on
//! the group answers each one by unicast, and ping lists the responders with
//! their round-trip times, 1:N, like omping.

use std::time::Instant;

use crate::cli::json::JsonObject;
use crate::cli::stats_view::ms_or_null;
use mcast::{
    format_duration, unix_time_ns, EchoCollector, Probe, Reply, RttStats, Sender, SenderId,
};

use super::output::{line, plural, status, CliError};
use super::{signals, targets, Common, PingArgs};

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
    let mut replies = EchoCollector::new(id);
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
        if let Err(e) = collect(&sender, until, &mut reply_buf, &mut replies, common) {
            failure = Some(e);
            break;
        }
    }
    let interrupted = signals::interrupted();
    // Closed pipe: stop quietly.
    if failure.as_ref().is_some_and(|e| e.msg.is_empty()) {
        return Err(failure.unwrap_or_else(|| CliError::failure("")));
    }
    summary(&group, sent, &replies, common)?;
    if let Some(e) = failure {
        return Err(e);
    }
    if replies.responders().is_empty() {
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

/// Takes replies until `until` (or a signal), printing each.
fn collect(
    sender: &Sender,
    until: Instant,
    buf: &mut [u8],
    replies: &mut EchoCollector,
    common: &Common,
) -> Result<(), CliError> {
    while !signals::interrupted() && Instant::now() < until {
        replies.wait(sender, buf, until, |r| show(r, common))?;
    }
    Ok(())
}

/// One reply: a `reply` object in JSON, a ping(8)-like line in text.
fn show(r: &Reply, common: &Common) -> Result<(), CliError> {
    if common.json {
        line(
            &JsonObject::typed("reply")
                .str("responder", &r.responder.to_string())
                .int("seq", r.seq)
                .int("bytes", r.bytes as u64)
                .num("rtt_ms", (r.rtt_ms * 1000.0).round() / 1000.0)
                .bool("duplicate", r.duplicate)
                .finish(),
        )
    } else if !common.quiet {
        line(&format!(
            "{} bytes from {}: seq={} time={:.3} ms{}",
            r.bytes,
            r.responder,
            r.seq,
            r.rtt_ms,
            if r.duplicate { " (DUP!)" } else { "" }
        ))
    } else {
        Ok(())
    }
}

fn summary(
    group: &mcast::Group,
    sent: u64,
    replies: &EchoCollector,
    common: &Common,
) -> Result<(), CliError> {
    let answered = replies.answered().received();
    let responders = replies.responders();
    let total_loss = if sent == 0 {
        0.0
    } else {
        100.0 * sent.saturating_sub(answered) as f64 / sent as f64
    };
    let loss = |r: &RttStats| {
        if sent == 0 {
            0.0
        } else {
            100.0 * sent.saturating_sub(r.received()) as f64 / sent as f64
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
                        let p = r.percentiles();
                        let o = JsonObject::new()
                            .str("responder", &ip.to_string())
                            .int("sent", sent)
                            .int("received", r.received())
                            .int("duplicates", r.duplicates())
                            .num("loss_pct", round(loss(r)))
                            .num("rtt_min_ms", round(r.min()))
                            .num("rtt_avg_ms", round(r.avg()))
                            .num("rtt_max_ms", round(r.max()))
                            .num("rtt_mdev_ms", round(r.mdev()));
                        let o = ms_or_null(o, "rtt_p50_ms", p.map(|p| p.p50 as f64));
                        let o = ms_or_null(o, "rtt_p90_ms", p.map(|p| p.p90 as f64));
                        ms_or_null(o, "rtt_p99_ms", p.map(|p| p.p99 as f64))
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
            r.received(),
            loss(r),
            if r.duplicates() > 0 { format!(", {} duplicates", r.duplicates()) } else { String::new() },
            r.min(),
            r.avg(),
            r.max(),
            r.mdev()
        ))?;
    }
    Ok(())
}
