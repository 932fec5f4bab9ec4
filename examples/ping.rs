//! Ping a multicast group the way `mcast ping` does, with mcast's public
//! API only: send a probe a second, collect the echo replies of every
//! `mcast recv --echo` on the group, print each round trip and a summary.
//!
//! Run: `cargo run --example ping -- 239.74.20.30:54321 [IFACE]`.

use std::time::{Duration, Instant};

use mcast::{unix_time_ns, EchoCollector, Group, Probe, Sender, SenderId};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let group: Group = match args.next() {
        Some(g) => g.parse()?,
        None => Group::default_group(),
    };
    let list = mcast::interfaces()?;
    let iface = match args.next() {
        Some(name) => mcast::find(&list, &name)?.clone(),
        None => mcast::select(&list, mcast::Family::of(&group.addr()), group.purpose())
            .chosen()
            .ok_or("no interface qualifies")?
            .clone(),
    };
    let sender = Sender::builder(group, iface).ttl(1).build()?;
    let id = SenderId::random();
    let mut replies = EchoCollector::new(id);
    let (mut probe, mut buf) = ([0u8; mcast::PROBE_HEADER_LEN], vec![0u8; 65_535]);
    for seq in 1..=5 {
        Probe::new(id, seq, unix_time_ns()).encode_into(&mut probe, mcast::PROBE_HEADER_LEN)?;
        sender.send(&probe)?;
        let until = Instant::now() + Duration::from_secs(1);
        while Instant::now() < until {
            replies.wait(&sender, &mut buf, until, |r| {
                println!("{} seq={} time={:.3} ms", r.responder, r.seq, r.rtt_ms);
                Ok::<(), mcast::Error>(())
            })?;
        }
    }
    for (who, rtt) in replies.responders() {
        println!(
            "{who}: {}/5 answered, rtt min/avg/max/mdev = {:.3}/{:.3}/{:.3}/{:.3} ms",
            rtt.received(),
            rtt.min(),
            rtt.avg(),
            rtt.max(),
            rtt.mdev()
        );
    }
    Ok(())
}
