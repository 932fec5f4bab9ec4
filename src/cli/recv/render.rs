//! What `mcast recv` prints: the joins, the interface events, the
//! once-a-second status and the messages that are not probes, as text or
//! JSON lines. The receiving itself is in `recv.rs`.

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

use crate::cli::hex::{hex, hex_dump};
use crate::cli::json::JsonObject;
use crate::cli::stats_view;
use mcast::{escape_text, unix_time_ns, Datagram, FollowEvent, Receiver, ReceiverStats};

use super::{End, Tally};
use crate::cli::output::{line, plural, status, CliError, Utc};
use crate::cli::{Common, RecvArgs};

/// Where recv's own lines (JSON objects, messages, the summary) go:
/// standard output, or standard error when `--record -` has it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Out {
    stderr: bool,
}

impl Out {
    pub(super) fn of(args: &RecvArgs) -> Out {
        Out {
            stderr: args.record.as_deref() == Some(Path::new("-")),
        }
    }

    fn line(self, s: &str) -> Result<(), CliError> {
        if self.stderr {
            let _ = writeln!(std::io::stderr(), "{s}");
            Ok(())
        } else {
            line(s)
        }
    }
}

/// Says what the follower saw: a log line, an `interface_event` in JSON.
pub(super) fn report(e: &FollowEvent, common: &Common, out: Out) -> Result<(), CliError> {
    log::info!("{}: {}", e.interface.name(), e.detail);
    if common.json {
        out.line(
            &JsonObject::typed("interface_event")
                .str("interface", e.interface.name())
                .int("index", e.interface.index().get())
                .str("event", e.kind)
                .str("detail", &e.detail)
                .finish(),
        )?;
    }
    Ok(())
}

/// Says what was joined: a status line, and `joined` objects in JSON.
pub(super) fn announce(
    receivers: &[Receiver],
    source: Option<IpAddr>,
    args: &RecvArgs,
    common: &Common,
) -> Result<(), CliError> {
    let out = Out::of(args);
    for rx in receivers {
        let iface = rx.interface();
        let how = rx.mechanism().map_or("broadcast", |m| m.as_str());
        for g in rx.groups() {
            if common.json {
                out.line(
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

/// The once-a-second report: a status line on a terminal, a `stats` object
/// in JSON.
pub(super) fn tick(
    stats: &mut ReceiverStats,
    live: bool,
    json: bool,
    show_delay: bool,
    out: Out,
) -> Result<(), CliError> {
    let now_ns = unix_time_ns();
    if json {
        return out.line(&stats_view::stats_json(stats, now_ns, show_delay).finish());
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

/// A datagram that is not a probe: a `message` object in JSON, else a
/// line with its text (or a hex dump).
pub(super) fn print(
    d: &Datagram,
    payload: &[u8],
    as_hex: bool,
    json: bool,
    out: Out,
) -> Result<(), CliError> {
    // The kernel's receive time where there is one.
    let now = d.kernel_time_ns().map_or_else(Utc::now, Utc::from_unix_ns);
    if json {
        let text = std::str::from_utf8(payload).ok();
        return out.line(
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
        out.line(&format!(
            "{} {} {} bytes{trunc}",
            now.clock(),
            d.source(),
            d.size()
        ))?;
        for l in hex_dump(payload) {
            out.line(&format!("  {l}"))?;
        }
        Ok(())
    } else {
        out.line(&format!(
            "{} {} {} bytes{trunc}: {}",
            now.clock(),
            d.source(),
            d.size(),
            escape_text(payload)
        ))
    }
}

/// The summary: a `summary` object in JSON, else the statistics table and
/// a line of totals.
pub(super) fn summary(
    tally: &Tally,
    stats: &mut ReceiverStats,
    receivers: &[Receiver],
    end: &End,
    common: &Common,
    out: Out,
) -> Result<(), CliError> {
    let (packets, bytes, secs) = (tally.packets, tally.bytes, end.secs);
    let filtered: u64 = receivers.iter().map(Receiver::filtered).sum();
    let kernel_drops: u64 = receivers.iter().map(Receiver::kernel_drops).sum();
    let now_ns = unix_time_ns();
    if common.json {
        let obj = JsonObject::typed("summary")
            .str("role", "recv")
            .int("packets", packets)
            .int("bytes", bytes)
            .num("duration_s", (secs * 1000.0).round() / 1000.0)
            .int("sources", tally.sources.len() as u64)
            .int("filtered", filtered)
            .int("kernel_drops", kernel_drops)
            .bool("interrupted", end.interrupted)
            .bool("timed_out", end.timed_out);
        let obj = if tally.probes > 0 {
            stats_view::add_summary_fields(obj, &stats.summary(now_ns), tally.delay_shown)
        } else {
            obj
        };
        return out.line(&obj.finish());
    }
    let snaps = if tally.probes > 0 {
        stats.snapshot(now_ns)
    } else {
        Vec::new()
    };
    if !snaps.is_empty() {
        for l in stats_view::stream_table(&snaps, tally.delay_shown) {
            out.line(&l)?;
        }
    }
    out.line(&format!(
        "received {}, {bytes} bytes in {secs:.1} s from {}",
        plural(packets, "packet", "packets"),
        plural(tally.sources.len() as u64, "source", "sources"),
    ))?;
    for s in &snaps {
        for sentence in stats_view::signatures(s) {
            out.line(&format!(
                "{} from {}: {sentence}",
                s.key.group, s.key.source
            ))?;
        }
    }
    if kernel_drops > 0 {
        out.line(&format!(
            "{} dropped by this host's receive buffer (SO_RXQ_OVFL): lost here, not on \
             the path; a larger --rcvbuf or a faster reader helps",
            plural(kernel_drops, "datagram was", "datagrams were")
        ))?;
    }
    Ok(())
}
