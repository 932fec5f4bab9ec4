//! `mcast recv`: join the group on the chosen interface, print the first ten
//! messages and their source, leave the group.

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use mcast::{escape_text, format_duration, hex, hex_dump, Datagram, JsonObject, Receiver};

use super::output::{line, status, CliError, Utc};
use super::{signals, target, Common, RecvArgs};

/// The largest UDP payload (65,535 − 8 − 20); a larger buffer is never needed.
const MAX_DATAGRAM: usize = 65_535;

pub(crate) fn run(args: &RecvArgs, common: &Common) -> Result<bool, CliError> {
    let (group, iface) = target(args.group, args.broadcast, args.iface.as_deref())?;
    let mut builder = Receiver::builder(group, iface)
        .broadcast(args.broadcast)
        .bind_device(args.bind_device);
    if let Some(src) = args.source {
        builder = builder.source(src);
    }
    let mut rx = builder.build()?;
    let iface = rx.interface().clone();
    let how = rx.mechanism().map_or("broadcast", |m| m.as_str());
    if common.json {
        line(
            &JsonObject::typed("joined")
                .str("group", &group.addr().to_string())
                .int("port", group.port().get())
                .str("interface", iface.name())
                .int("index", iface.index().get())
                .opt_str(
                    "source_filter",
                    args.source.map(|s| s.to_string()).as_deref(),
                )
                .opt_str("source_filter_by", rx.source_filter_by())
                .bool("broadcast", args.broadcast)
                .str("mechanism", how)
                .finish(),
        )?;
    }
    let filter = match (args.source, rx.source_filter_by()) {
        (Some(s), Some("mcast")) => format!(
            " from source {s} only (filtered by mcast: this system has no source-specific join)"
        ),
        (Some(s), _) => format!(" from source {s} only"),
        (None, _) => String::new(),
    };
    if args.broadcast {
        status(
            common.quiet,
            &format!("listening for broadcasts to {group} on {iface}"),
        );
    } else {
        status(
            common.quiet,
            &format!("listening on {group}{filter}, joined on {iface} with {how}"),
        );
    }

    let count = if args.count == 0 {
        None
    } else {
        Some(args.count)
    };
    let start = Instant::now();
    let deadline = args.timeout.map(|t| start + t);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let (mut packets, mut bytes) = (0u64, 0u64);
    let mut sources: HashSet<IpAddr> = HashSet::new();
    let mut result = Ok(());
    while count.is_none_or(|c| packets < c) && !signals::interrupted() {
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            break;
        }
        // Wake at least twice a second to notice a signal that raced the wait.
        let wait = deadline.map_or(Duration::from_millis(500), |d| {
            (d - now).min(Duration::from_millis(500))
        });
        match rx.recv(&mut buf, Some(wait)) {
            Ok(Some(d)) => {
                packets += 1;
                bytes += d.size() as u64;
                sources.insert(d.source().ip());
                if let Err(e) = print(&d, &buf[..d.len()], args.hex, common.json) {
                    result = Err(e);
                    break;
                }
            }
            Ok(None) => {}
            Err(e) => {
                result = Err(CliError::from(e));
                break;
            }
        }
    }
    let interrupted = signals::interrupted();
    let secs = start.elapsed().as_secs_f64();
    // Leave explicitly on every path, so the leave report goes out now.
    match rx.leave() {
        Ok(()) if !args.broadcast => {
            status(common.quiet, &format!("left {} on {iface}", group.addr()));
            if common.json {
                line(
                    &JsonObject::typed("left")
                        .str("group", &group.addr().to_string())
                        .str("interface", iface.name())
                        .finish(),
                )?;
            }
        }
        Ok(()) => {}
        Err(e) => log::warn!("{e}"),
    }
    // The pipe may be closed: then say nothing more.
    if result.as_ref().is_err_and(|e| e.msg.is_empty()) {
        return result.map(|()| false);
    }
    let timed_out = !interrupted && count.is_some_and(|c| packets < c) && result.is_ok();
    if common.json {
        line(
            &JsonObject::typed("summary")
                .str("role", "recv")
                .int("packets", packets)
                .int("bytes", bytes)
                .num("duration_s", (secs * 1000.0).round() / 1000.0)
                .int("sources", sources.len() as u64)
                .int("filtered", rx.filtered())
                .bool("interrupted", interrupted)
                .bool("timed_out", timed_out)
                .finish(),
        )?;
    } else {
        line(&format!(
            "received {packets} packets, {bytes} bytes in {secs:.1} s from {} source{}",
            sources.len(),
            if sources.len() == 1 { "" } else { "s" }
        ))?;
    }
    result?;
    if timed_out {
        let within = args.timeout.map(format_duration).unwrap_or_default();
        let wanted = count.unwrap_or(0);
        return Err(CliError::failure(if packets == 0 {
            format!(
                "nothing arrived on {group} via {iface} within {within}. Likely causes: the sender \
                 uses another interface or link (check -i on both sides); a firewall drops the \
                 group's UDP port {} or IGMP/MLD; the access point isolates clients or filters \
                 multicast (IGMP snooping without a querier); the sender's TTL is too low for the \
                 path; on Android, no app holds a Wi-Fi MulticastLock",
                group.port()
            )
        } else {
            format!("only {packets} of {wanted} datagrams arrived on {group} via {iface} within {within}")
        }));
    }
    Ok(interrupted)
}

fn print(d: &Datagram, payload: &[u8], as_hex: bool, json: bool) -> Result<(), CliError> {
    let now = Utc::now();
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
