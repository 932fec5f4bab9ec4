//! Unit tests of the pacer, the rate and bitrate parsers.
use super::*;

/// Drives a pacer with a fake clock that wakes exactly when told (plus
/// `oversleep`), until it is done or `limit` packets went out; returns
/// the send times as offsets from the start in ns.
fn run(pacer: &mut Pacer, start: Instant, oversleep: Duration, limit: u64) -> Vec<u128> {
    let mut now = start;
    let mut times = Vec::new();
    while (times.len() as u64) < limit {
        match pacer.next(now) {
            Step::Send => times.push((now - start).as_nanos()),
            Step::Wait(d) => now += d + oversleep,
            Step::Done => break,
        }
    }
    times
}

#[test]
fn thousand_pps_for_ten_seconds_is_ten_thousand_packets() {
    let start = Instant::now();
    let mut p = Pacer::new(parse_rate("1000").unwrap(), start).duration(Duration::from_secs(10));
    let times = run(&mut p, start, Duration::ZERO, u64::MAX);
    assert_eq!(times.len(), 10_000);
    assert_eq!(p.sent(), 10_000);
    for (n, t) in times.iter().enumerate() {
        assert_eq!(*t, n as u128 * 1_000_000);
    }
    assert_eq!(p.next(start + Duration::from_secs(10)), Step::Done);
    // Waking late by 300 µs each time changes nothing: no drift, same count.
    let mut p = Pacer::new(parse_rate("1000").unwrap(), start).duration(Duration::from_secs(10));
    let times = run(&mut p, start, Duration::from_micros(300), u64::MAX);
    assert_eq!(times.len(), 10_000);
    assert_eq!(times[9_999], 9_999_300_000);
    assert_eq!(p.slipped(), Duration::ZERO);
}

#[test]
fn rates_of_short_runs_are_over_the_schedule() {
    let start = Instant::now();
    let us = Duration::from_micros;
    // One packet at 100/s, sent 20 µs in: no rate (it once said 49,975/s).
    let mut p = Pacer::new(parse_rate("100").unwrap(), start).count(1);
    assert_eq!(run(&mut p, start, Duration::ZERO, u64::MAX).len(), 1);
    assert_eq!(p.rate_over_schedule(1, us(20)), None);
    // Ten on time: the last at 90 ms, their schedule 100 ms: 100/s.
    let mut p = Pacer::new(parse_rate("100").unwrap(), start).count(10);
    assert_eq!(run(&mut p, start, Duration::ZERO, u64::MAX).len(), 10);
    assert_eq!(p.rate_over_schedule(10, us(90_020)), Some(100.0));
    // Two packets are the least that make a rate.
    let mut p = Pacer::new(parse_rate("100").unwrap(), start).count(2);
    run(&mut p, start, Duration::ZERO, u64::MAX);
    assert_eq!(p.rate_over_schedule(2, us(10_010)), Some(100.0));
    // Packets not sent (errors) lower it; a slow run is over its time.
    assert_eq!(p.rate_over_schedule(1, us(10_010)), Some(50.0));
    assert_eq!(p.rate_over_schedule(2, Duration::from_secs(1)), Some(2.0));
    // No schedule at max: two packets and the elapsed time.
    let mut p = Pacer::new(Rate::Max, start).count(2);
    assert_eq!(p.rate_over_schedule(0, us(5)), None);
    run(&mut p, start, Duration::ZERO, u64::MAX);
    assert_eq!(p.rate_over_schedule(1, us(5)), None);
    assert_eq!(p.rate_over_schedule(2, us(10)), Some(200_000.0));
    assert_eq!(p.rate_over_schedule(2, Duration::ZERO), None);
}

#[test]
fn no_drift_after_a_million_packets() {
    // 7 packets/s: the period, 142,857,142.857… ns, is not a whole number.
    let start = Instant::now();
    let mut p = Pacer::new(parse_rate("7").unwrap(), start).count(1_000_000);
    let times = run(&mut p, start, Duration::ZERO, u64::MAX);
    assert_eq!(times.len(), 1_000_000);
    // Packet 999,999 is due at 999,999 / 7 s = 142,857 s exactly.
    assert_eq!(times[999_999], 142_857 * NANOS_PER_SEC);
    assert_eq!(p.due(999_999), Some(Duration::from_secs(142_857)));
    assert_eq!(p.next(start + Duration::from_secs(1 << 20)), Step::Done);
    // Every gap is the floor or the ceiling of the period.
    for w in times.windows(2) {
        let gap = w[1] - w[0];
        assert!(gap == 142_857_142 || gap == 142_857_143, "{gap}");
    }
    // 3 packets/s: the millionth packet (n = 999,999) is due at 333,333 s.
    let p = Pacer::new(parse_rate("3").unwrap(), start);
    assert_eq!(p.due(999_999), Some(Duration::from_secs(333_333)));
    assert_eq!(p.due(1_000_000), Some(Duration::new(333_333, 333_333_333)));
}

#[test]
fn max_rate_sends_until_done() {
    let start = Instant::now();
    let mut p = Pacer::new(Rate::Max, start).count(5);
    for _ in 0..5 {
        assert_eq!(p.next(start), Step::Send);
    }
    assert_eq!(p.next(start), Step::Done);
    let mut p = Pacer::new(Rate::Max, start).duration(Duration::from_secs(1));
    assert_eq!(p.next(start + Duration::from_millis(999)), Step::Send);
    assert_eq!(p.next(start + Duration::from_secs(1)), Step::Done);
    assert_eq!(p.due(0), None);
    assert_eq!(
        Pacer::new(Rate::Max, start).count(0).next(start),
        Step::Done
    );
}

#[test]
fn catch_up_is_capped() {
    let start = Instant::now();
    let mut p = Pacer::new(parse_rate("1000").unwrap(), start).max_burst(4);
    let ms = Duration::from_millis;
    // On time for packets 0..10.
    for n in 0..10 {
        assert_eq!(p.next(start + ms(n)), Step::Send);
    }
    assert_eq!(p.next(start + ms(9)), Step::Wait(ms(1)));
    // Suspended for a second: 4 go out back to back, not 991.
    let late = start + ms(1_000);
    for _ in 0..4 {
        assert_eq!(p.next(late), Step::Send);
    }
    assert_eq!(p.next(late), Step::Wait(ms(1)));
    assert_eq!(p.sent(), 14);
    // The schedule moved: packet 13 went at 1000 ms, packet 10 at 997 ms
    // (was 10 ms): 987 ms forgiven.
    assert_eq!(p.due(13), Some(ms(1_000)));
    assert_eq!(p.due(14), Some(ms(1_001)));
    assert_eq!(p.slipped(), ms(987));
    // A small lag within the burst limit is caught up in full.
    let mut p = Pacer::new(parse_rate("1000").unwrap(), start).max_burst(4);
    let at = start + Duration::from_micros(3_500);
    for _ in 0..4 {
        assert_eq!(p.next(at), Step::Send);
    }
    assert_eq!(p.next(at), Step::Wait(Duration::from_micros(500)));
    assert_eq!(p.slipped(), Duration::ZERO);
}

#[test]
fn duration_ends_a_late_burst() {
    let start = Instant::now();
    let mut p = Pacer::new(parse_rate("1000").unwrap(), start).duration(Duration::from_secs(1));
    assert_eq!(p.next(start + Duration::from_secs(2)), Step::Done);
    assert_eq!(p.sent(), 0);
}

#[test]
fn intervals() {
    let start = Instant::now();
    let r = Rate::from_interval(Duration::from_millis(250));
    assert_eq!(r.packets_per_second(), Some(4.0));
    let mut p = Pacer::new(r, start).duration(Duration::from_secs(1));
    let times = run(&mut p, start, Duration::ZERO, u64::MAX);
    assert_eq!(times, [0, 250_000_000, 500_000_000, 750_000_000]);
    assert_eq!(Rate::from_interval(Duration::ZERO), Rate::Max);
}

#[test]
fn rates_parse() {
    let pps = |s: &str| parse_rate(s).unwrap().packets_per_second();
    assert_eq!(parse_rate("max").unwrap(), Rate::Max);
    assert_eq!(parse_rate(" MAX ").unwrap(), Rate::Max);
    assert_eq!(pps("1000"), Some(1000.0));
    assert_eq!(pps("1000pps"), Some(1000.0));
    assert_eq!(pps("0.5"), Some(0.5));
    assert_eq!(pps(".5"), Some(0.5));
    assert_eq!(pps("2."), Some(2.0));
    assert_eq!(pps("2.50000000000"), Some(2.5));
    assert_eq!(pps("000000000000000001"), Some(1.0));
    assert_eq!(
        parse_rate("1000").unwrap(),
        Rate::Every(Period::ratio(1_000_000, 1).unwrap())
    );
    assert_eq!(parse_rate("max").unwrap().to_string(), "max");
    assert_eq!(parse_rate("4").unwrap().to_string(), "4 packets/s");
    let p = Period::from_duration(Duration::from_millis(20)).unwrap();
    assert_eq!(p.as_secs_f64(), 0.02);
}

#[test]
fn rate_errors_name_the_value_and_the_forms() {
    refuses(
        parse_rate,
        &[
            ("", "is not a number"),
            ("0", "above 0"),
            ("0.000", "above 0"),
            ("-5", "is not a number"),
            ("1e3", "is not a number"),
            ("fast", "is not a number"),
            ("1.2.3", "is not a number"),
            (".", "is not a number"),
            ("1 000", "is not a number"),
            ("NaN", "is not a number"),
            ("inf", "is not a number"),
            ("1.0000000001", "more than 9 decimals"),
            ("9999999999999", "too large"),
        ],
        &["e.g. 1000", "max"],
    );
}

#[test]
fn bitrates_parse() {
    let bps = |s: &str| parse_bitrate(s).unwrap().bits_per_second();
    assert_eq!(bps("64000"), 64_000);
    assert_eq!(bps("500k"), 500_000);
    assert_eq!(bps("500K"), 500_000);
    assert_eq!(bps("10M"), 10_000_000);
    assert_eq!(bps("10m"), 10_000_000);
    assert_eq!(bps("1.5G"), 1_500_000_000);
    assert_eq!(bps("1.1M"), 1_100_000);
    assert_eq!(bps("0.001k"), 1);
    assert_eq!(bps(" 2g "), 2_000_000_000);
    assert_eq!(bps("18000000000G"), 18_000_000_000_000_000_000);
    assert_eq!(parse_bitrate("10M").unwrap().to_string(), "10 Mbit/s");
    assert_eq!(parse_bitrate("1.5G").unwrap().to_string(), "1500 Mbit/s");
    assert_eq!(parse_bitrate("64001").unwrap().to_string(), "64001 bit/s");
    refuses(
        parse_bitrate,
        &[
            ("", "is not a number"),
            ("M", "is not a number"),
            ("10Mbit", "is not a number"),
            ("10 M", "is not a number"),
            ("-1M", "is not a number"),
            ("0", "at least 1 bit/s"),
            ("0.5", "at least 1 bit/s"),
            ("1T", "is not a number"),
            ("1e6", "is not a number"),
            ("19000000000G", "too large"),
            ("9999999999999", "too large"),
        ],
        &["10M", "500k"],
    );
}

#[test]
fn bitrate_to_packet_rate_counts_the_payload() {
    // 10 Mbit/s of 1250-byte payloads = 1000 packets/s.
    let r = parse_bitrate("10M").unwrap().packet_rate(1250).unwrap();
    assert_eq!(r.packets_per_second(), Some(1000.0));
    assert_eq!(r, parse_rate("1000").unwrap());
    // 64 kbit/s of 160-byte payloads = 50 packets/s (G.711, 20 ms).
    let r = parse_bitrate("64k").unwrap().packet_rate(160).unwrap();
    assert_eq!(r, Rate::from_interval(Duration::from_millis(20)));
    // 1 Mbit/s of 1000-byte payloads over 8 s: exactly 1 Mbit of payload.
    let start = Instant::now();
    let r = parse_bitrate("1M").unwrap().packet_rate(1000).unwrap();
    let mut p = Pacer::new(r, start).duration(Duration::from_secs(8));
    assert_eq!(run(&mut p, start, Duration::ZERO, u64::MAX).len(), 1000);
    assert_eq!(parse_bitrate("1M").unwrap().packet_rate(0), None);
    assert!(Bitrate::new(0).is_none());
    // Absurd payloads do not overflow.
    assert!(Bitrate::new(1).unwrap().packet_rate(usize::MAX).is_some());
}

#[test]
fn extreme_values_do_not_panic() {
    let start = Instant::now();
    // A period far longer than the run.
    let r = parse_rate("0.000000001").unwrap();
    let mut p = Pacer::new(r, start);
    assert_eq!(p.next(start), Step::Send);
    assert!(matches!(p.next(start), Step::Wait(d) if d.as_secs() == 1_000_000_000));
    // Sub-nanosecond periods, a clock far in the future, huge counts.
    let r = parse_rate("999999999999.999999999").unwrap();
    let mut p = Pacer::new(r, start);
    let far = start + Duration::from_secs(1 << 40);
    for _ in 0..100 {
        assert_eq!(p.next(far), Step::Send);
    }
    let r = Bitrate::new(1).unwrap().packet_rate(usize::MAX).unwrap();
    let mut p = Pacer::new(r, start).max_burst(0);
    assert_eq!(p.next(far), Step::Send);
    assert!(matches!(p.next(far), Step::Wait(_)));
    // A clock before the start.
    let mut p = Pacer::new(parse_rate("10").unwrap(), far);
    assert_eq!(p.next(start), Step::Send);
    assert_eq!(p.next(start), Step::Wait(Duration::from_millis(100)));
}

/// Each bad input is refused with a message that quotes it, says `needle`
/// and shows every one of the accepted `forms`.
fn refuses<T: std::fmt::Debug, E: std::fmt::Display>(
    parse: fn(&str) -> Result<T, E>,
    cases: &[(&str, &str)],
    forms: &[&str],
) {
    for (bad, needle) in cases {
        let e = parse(bad).unwrap_err().to_string();
        assert!(e.contains(&format!("'{bad}'")), "{bad}: {e}");
        assert!(e.contains(needle), "{bad}: {e}");
        assert!(forms.iter().all(|f| e.contains(f)), "{e}");
    }
}
