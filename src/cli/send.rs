//! `mcast send`: "hello world" to the group every two seconds, like the
//! original program, through the chosen interface.

use std::time::Instant;

use mcast::{format_duration, JsonObject, Sender};

use super::output::{line, status, CliError, Utc};
use super::{signals, target, Common, SendArgs};

pub(crate) fn run(args: &SendArgs, common: &Common) -> Result<bool, CliError> {
    let (group, iface) = target(args.group, args.broadcast, args.iface.as_deref())?;
    let sender = Sender::builder(group, iface)
        .ttl(args.ttl)
        .loopback(!args.no_loop)
        .broadcast(args.broadcast)
        .bind_device(args.bind_device)
        .build()?;
    let iface = sender.interface();
    let count = args.count.filter(|c| *c > 0);
    if common.json {
        line(
            &JsonObject::typed("sending")
                .str("destination", &sender.destination().to_string())
                .str("source", &sender.local_addr().to_string())
                .str("interface", iface.name())
                .int("index", iface.index().get())
                .int("ttl", args.ttl)
                .bool("loop", !args.no_loop)
                .bool("broadcast", args.broadcast)
                .str("pinned_by", sender.pinned_by().as_str())
                .bool("bind_device", sender.bound_to_device())
                .finish(),
        )?;
    }
    status(
        common.quiet,
        &format!(
            "sending to {} from {} on {iface}, TTL {}, every {}{}, pinned by {}",
            sender.destination(),
            sender.local_addr().ip(),
            args.ttl,
            format_duration(args.interval),
            count.map(|c| format!(", {c} times")).unwrap_or_default(),
            sender.pinned_by()
        ),
    );
    let payload = args.message.as_bytes();
    let start = Instant::now();
    let (mut packets, mut bytes) = (0u64, 0u64);
    let mut failure = None;
    while count.is_none_or(|c| packets < c) && !signals::interrupted() {
        match sender.send(payload) {
            Ok(n) => {
                packets += 1;
                bytes += n as u64;
                if common.json {
                    line(
                        &JsonObject::typed("sent")
                            .str("time", &Utc::now().rfc3339())
                            .int("seq", packets)
                            .int("bytes", n as u64)
                            .finish(),
                    )?;
                } else if !common.quiet {
                    line(&format!(
                        "Message sent ({n} bytes) to {}",
                        sender.destination()
                    ))?;
                }
            }
            Err(e) => {
                failure = Some(CliError::from(e));
                break;
            }
        }
        if count.is_some_and(|c| packets >= c) {
            break;
        }
        // Scheduled from the start, so the interval does not drift.
        let next = start + args.interval * u32::try_from(packets).unwrap_or(u32::MAX);
        if !signals::sleep_until(next) {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let interrupted = signals::interrupted();
    if common.json {
        line(
            &JsonObject::typed("summary")
                .str("role", "send")
                .int("packets", packets)
                .int("bytes", bytes)
                .num("duration_s", (secs * 1000.0).round() / 1000.0)
                .bool("interrupted", interrupted)
                .finish(),
        )?;
    } else {
        line(&format!(
            "sent {packets} packets, {bytes} bytes in {secs:.1} s"
        ))?;
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(interrupted),
    }
}
