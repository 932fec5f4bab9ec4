//! Receive mcast probes on a group for ten seconds and print each stream's
//! loss and jitter from the library's snapshot.
//!
//! ```text
//! cargo run --example receive_stats -- lo 239.74.20.30:5000
//! mcast send --probe -i lo 239.74.20.30:5000 --count 500   # elsewhere
//! ```

use std::time::{Duration, Instant};

use mcast::{Group, Receiver, ReceiverStats};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let iface_name = args.next().unwrap_or_else(|| "lo".to_owned());
    let group: Group = match args.next() {
        Some(g) => g.parse()?,
        None => Group::default_group(),
    };

    let list = mcast::interfaces()?;
    let iface = mcast::find(&list, &iface_name)?.clone();
    let mut rx = Receiver::builder(group, iface).build()?;
    let mut stats = ReceiverStats::new(&[group]);
    let mut buf = vec![0u8; 65_535];

    let end = Instant::now() + Duration::from_secs(10);
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        let Some(d) = rx.recv(&mut buf, Some(left))? else {
            continue;
        };
        // Prefer the kernel's receive time; fall back to the clock now.
        let arrival = d.kernel_time_ns().unwrap_or_else(mcast::unix_time_ns);
        // Datagrams that are not probes are counted as "other"; ignore them.
        let _ = stats.on_datagram(rx.group_of(&d), d.source(), &buf[..d.len()], arrival);
    }
    rx.leave()?;

    let summary = stats.summary(mcast::unix_time_ns());
    for s in &summary.streams {
        println!(
            "{} from {}: {} received, {} lost ({:.2}%), jitter {:.3} ms",
            s.key.group,
            s.key.source,
            s.counts.received,
            s.counts.lost,
            s.counts.loss_percent(),
            s.jitter_ns / 1e6,
        );
    }
    let t = summary.totals;
    println!(
        "total: {} of {} expected, {:.2}% lost",
        t.expected - t.lost,
        t.expected,
        t.loss_percent()
    );
    Ok(())
}
