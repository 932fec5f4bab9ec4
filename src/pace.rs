//! Sending at a steady pace without drift: `send --rate PPS`, `--bitrate 10M`,
//! `--interval DUR`, `--count N` and `--duration DUR`. See [`Pacer`].

use std::fmt;
use std::num::NonZeroU64;
use std::time::{Duration, Instant};

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// At most this many digits before the decimal point in a rate or bitrate.
const MAX_INT_DIGITS: usize = 12;
/// At most this many digits after it.
const MAX_FRAC_DIGITS: usize = 9;

/// The time between two scheduled packets: an exact fraction of a nanosecond
/// count, so that rates such as 3 packets/s (333,333,333⅓ ns) do not drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// Nanoseconds per packet = `num / den`; both above 0.
    num: u128,
    den: u128,
}

impl Period {
    /// `num / den` nanoseconds, reduced; `None` if either is 0.
    fn ratio(num: u128, den: u128) -> Option<Period> {
        if num == 0 || den == 0 {
            return None;
        }
        let g = gcd(num, den);
        Some(Period {
            num: num / g,
            den: den / g,
        })
    }

    /// The period of a [`Duration`]; `None` for zero.
    pub fn from_duration(d: Duration) -> Option<Period> {
        Period::ratio(d.as_nanos(), 1)
    }

    /// The period in seconds (rounded to an `f64`).
    pub fn as_secs_f64(self) -> f64 {
        self.num as f64 / self.den as f64 / 1e9
    }

    /// Packets per second (rounded to an `f64`).
    pub fn packets_per_second(self) -> f64 {
        self.den as f64 * 1e9 / self.num as f64
    }

    /// When packet `n` (from 0) is due, in nanoseconds from the start:
    /// `floor(n × num / den)`, exact; `u128::MAX` if it would not fit.
    fn offset_ns(self, n: u64) -> u128 {
        u128::from(n)
            .checked_mul(self.num)
            .map_or(u128::MAX, |x| x / self.den)
    }
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// How fast to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    /// As fast as the socket takes them: no pacing.
    Max,
    /// One packet per period, on an absolute schedule.
    Every(Period),
}

impl Rate {
    /// One packet every `interval`; a zero interval means [`Rate::Max`].
    pub fn from_interval(interval: Duration) -> Rate {
        Period::from_duration(interval).map_or(Rate::Max, Rate::Every)
    }

    /// Packets per second, or `None` for [`Rate::Max`].
    pub fn packets_per_second(self) -> Option<f64> {
        match self {
            Rate::Max => None,
            Rate::Every(p) => Some(p.packets_per_second()),
        }
    }
}

impl fmt::Display for Rate {
    /// `max` or `1000 packets/s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rate::Max => f.write_str("max"),
            Rate::Every(p) => write!(f, "{} packets/s", p.packets_per_second()),
        }
    }
}

/// A bit rate in bits per second, counting the UDP payload only.
///
/// Like iperf 2's `-b`, the rate counts the bytes mcast hands to the socket
/// (the UDP payload, `--size`), not the UDP, IP and link headers: on
/// Ethernet, IPv4 adds 42 bytes per datagram (8 UDP + 20 IP + 14 Ethernet),
/// IPv6 62, plus the preamble and gap, so the wire carries more than this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bitrate(NonZeroU64);

impl Bitrate {
    /// A bit rate; `None` for 0.
    pub fn new(bits_per_second: u64) -> Option<Bitrate> {
        NonZeroU64::new(bits_per_second).map(Bitrate)
    }

    /// Bits per second.
    pub fn bits_per_second(self) -> u64 {
        self.0.get()
    }

    /// The packet rate that carries this bit rate in datagrams of
    /// `payload_bytes` (the UDP payload): one packet every
    /// `8 × payload_bytes / bitrate` seconds, exactly. `None` for an empty
    /// payload, which no packet rate can turn into bits.
    pub fn packet_rate(self, payload_bytes: usize) -> Option<Rate> {
        let bits = u128::try_from(payload_bytes).ok()?.checked_mul(8)?;
        let num = bits.checked_mul(NANOS_PER_SEC)?;
        Period::ratio(num, u128::from(self.bits_per_second())).map(Rate::Every)
    }
}

impl fmt::Display for Bitrate {
    /// `10 Mbit/s`, `1500 kbit/s`, `64001 bit/s`: the largest decimal unit that
    /// divides the rate exactly.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.bits_per_second();
        for (unit, scale) in [("G", 1_000_000_000), ("M", 1_000_000), ("k", 1_000)] {
            if b % scale == 0 {
                return write!(f, "{} {unit}bit/s", b / scale);
            }
        }
        write!(f, "{b} bit/s")
    }
}

/// A rate or a bitrate as written could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseRateError {
    what: What,
    input: String,
    problem: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    Rate,
    Bitrate,
}

impl fmt::Display for ParseRateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.what {
            What::Rate => write!(
                f,
                "invalid rate '{}': {}; use packets per second, a number above 0 \
                 (e.g. 1000, 0.5 or 1000pps), or max for no pacing",
                self.input, self.problem
            ),
            What::Bitrate => write!(
                f,
                "invalid bitrate '{}': {}; use bits per second of UDP payload, a number \
                 with an optional decimal multiplier k (1000), M (10^6) or G (10^9), \
                 e.g. 64000, 500k, 10M or 1.5G",
                self.input, self.problem
            ),
        }
    }
}

impl std::error::Error for ParseRateError {}

/// A non-negative decimal number written as digits with an optional point:
/// `mantissa / 10^scale`.
struct Decimal {
    mantissa: u128,
    scale: u32,
}

/// Parses `123`, `1.5`, `.5`, `2.`; at most 12 integer and 9 fractional
/// digits; no sign, exponent, or spaces inside.
fn parse_decimal(s: &str) -> Result<Decimal, String> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() && frac.is_empty() || !digits(int) || !digits(frac) {
        return Err("it is not a number".into());
    }
    if int.trim_start_matches('0').len() > MAX_INT_DIGITS {
        return Err(format!(
            "it is too large (at most {MAX_INT_DIGITS} digits before the point)"
        ));
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > MAX_FRAC_DIGITS {
        return Err(format!("it has more than {MAX_FRAC_DIGITS} decimals"));
    }
    let mut mantissa: u128 = 0;
    for b in int.trim_start_matches('0').bytes().chain(frac.bytes()) {
        // At most 21 digits: fits in a u128.
        mantissa = mantissa * 10 + u128::from(b - b'0');
    }
    Ok(Decimal {
        mantissa,
        scale: frac.len() as u32,
    })
}

/// Parses a packet rate for `--rate`: `max` (any case) for no pacing, or
/// packets per second as a decimal number above 0 (`1000`, `0.5`, `2.5`),
/// optionally followed by `pps`.
///
/// # Errors
/// [`ParseRateError`] naming the value and the accepted forms.
pub fn parse_rate(s: &str) -> Result<Rate, ParseRateError> {
    let err = |problem: String| ParseRateError {
        what: What::Rate,
        input: s.to_owned(),
        problem,
    };
    let t = s.trim();
    if t.eq_ignore_ascii_case("max") {
        return Ok(Rate::Max);
    }
    let num = t
        .strip_suffix("pps")
        .or_else(|| t.strip_suffix("PPS"))
        .unwrap_or(t)
        .trim_end();
    let d = parse_decimal(num).map_err(err)?;
    // pps = mantissa / 10^scale, so the period is 10^9 × 10^scale / mantissa ns.
    Period::ratio(NANOS_PER_SEC * 10u128.pow(d.scale), d.mantissa)
        .map(Rate::Every)
        .ok_or_else(|| err("the rate must be above 0".into()))
}

/// Parses a bit rate for `--bitrate`, in bits per second of UDP payload: a
/// decimal number with an optional SI multiplier, `k`/`K` = 1000,
/// `m`/`M` = 1,000,000, `g`/`G` = 1,000,000,000 (decimal, not 1024), as in
/// `64000`, `500k`, `10M`, `1.5G`. Fractions of a bit per second are dropped;
/// the result must be at least 1 bit/s.
///
/// # Errors
/// [`ParseRateError`] naming the value and the accepted forms.
pub fn parse_bitrate(s: &str) -> Result<Bitrate, ParseRateError> {
    let err = |problem: String| ParseRateError {
        what: What::Bitrate,
        input: s.to_owned(),
        problem,
    };
    let t = s.trim();
    let (num, mult) = match t.as_bytes().last() {
        Some(b'k' | b'K') => (&t[..t.len() - 1], 1_000u128),
        Some(b'm' | b'M') => (&t[..t.len() - 1], 1_000_000),
        Some(b'g' | b'G') => (&t[..t.len() - 1], 1_000_000_000),
        _ => (t, 1),
    };
    let d = parse_decimal(num).map_err(err)?;
    let bps = d.mantissa * mult / 10u128.pow(d.scale);
    let bps = u64::try_from(bps).map_err(|_| err("it is too large".into()))?;
    Bitrate::new(bps).ok_or_else(|| err("the bitrate must be at least 1 bit/s".into()))
}

/// What a [`Pacer`] says to do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Send one packet now, then ask again.
    Send,
    /// Nothing is due yet: sleep this long (or less), then ask again.
    Wait(Duration),
    /// The count or the duration is reached: stop.
    Done,
}

/// Tells a sender when to send.
///
/// A [`Pacer`] keeps an absolute schedule: packet *n* (from 0) is due at
/// `start + n × period`, computed exactly in integer nanoseconds from a
/// rational period. A late wake-up delays one packet, never the ones after it,
/// so errors do not accumulate: after a million packets at 3 packets/s the
/// millionth is still due at exactly 333,333 s.
///
/// When the sender falls behind (a slow `sendto`, a suspended process), the
/// packets that are already due go out back to back, at most
/// [`Pacer::DEFAULT_MAX_BURST`] (or [`Pacer::max_burst`]) in a row. If more
/// than that are due, the rest of the debt is forgiven: the schedule moves
/// later so that exactly the burst is due now, [`Pacer::slipped`] grows by the
/// time forgiven, and pacing resumes from there. The run then lasts longer
/// (with `--count`) or sends fewer packets (with `--duration`) than the
/// nominal rate says, but it never floods the network to catch up.
///
/// The pacer never reads the clock itself: every call takes `now`, so tests
/// drive it with a fake clock.
///
/// ```
/// # use mcast::{parse_rate, Pacer, Step};
/// # use std::time::{Duration, Instant};
/// let start = Instant::now();
/// let mut pacer = Pacer::new(parse_rate("1000").unwrap(), start)
///     .duration(Duration::from_secs(10));
/// let mut now = start;
/// let mut sent = 0;
/// loop {
///     match pacer.next(now) {
///         Step::Send => sent += 1, // send a datagram here
///         Step::Wait(d) => now += d, // std::thread::sleep(d) for real
///         Step::Done => break,
///     }
/// }
/// assert_eq!(sent, 10_000);
/// ```
#[derive(Debug, Clone)]
pub struct Pacer {
    rate: Rate,
    start: Instant,
    /// Packets handed out so far; also the index of the next one.
    sent: u64,
    /// The schedule, rebased after forgiven debt: packet `n` is due at
    /// `anchor_ns + period.offset_ns(n - anchor_n)` from `start`.
    anchor_n: u64,
    anchor_ns: u128,
    max_burst: u64,
    count: Option<u64>,
    duration_ns: Option<u128>,
    slipped_ns: u128,
}

impl Pacer {
    /// The longest run of late packets sent back to back by default.
    pub const DEFAULT_MAX_BURST: u64 = 16;

    /// A pacer whose packet 0 is due at `start`, without a count or duration
    /// limit.
    pub fn new(rate: Rate, start: Instant) -> Pacer {
        Pacer {
            rate,
            start,
            sent: 0,
            anchor_n: 0,
            anchor_ns: 0,
            max_burst: Pacer::DEFAULT_MAX_BURST,
            count: None,
            duration_ns: None,
            slipped_ns: 0,
        }
    }

    /// Stops after `count` packets (`--count`).
    #[must_use]
    pub fn count(mut self, count: u64) -> Pacer {
        self.count = Some(count);
        self
    }

    /// Stops at `start + duration` (`--duration`): a packet is sent only if it
    /// is due before then and the clock has not reached it. At 1000 packets/s
    /// for 10 s that is exactly 10,000 packets, due at 0 ms … 9999 ms.
    /// [`Step::Done`] comes as soon as the next packet would be due at or
    /// after the end, without waiting for the end itself.
    #[must_use]
    pub fn duration(mut self, duration: Duration) -> Pacer {
        self.duration_ns = Some(duration.as_nanos());
        self
    }

    /// The longest run of late packets sent back to back (at least 1).
    #[must_use]
    pub fn max_burst(mut self, packets: u64) -> Pacer {
        self.max_burst = packets.max(1);
        self
    }

    /// The pace.
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// How many times [`next`](Pacer::next) said [`Step::Send`].
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// How much later the schedule runs than planned because debt beyond the
    /// burst limit was forgiven.
    pub fn slipped(&self) -> Duration {
        nanos_to_duration(self.slipped_ns)
    }

    /// When packet `n` (from 0) is due, as time since the start, in the
    /// current schedule; `None` for [`Rate::Max`] or a packet before the
    /// last rebase.
    pub fn due(&self, n: u64) -> Option<Duration> {
        self.due_ns(n).map(nanos_to_duration)
    }

    /// The rate `packets` datagrams make over the schedule: divided by the
    /// time the schedule gave the packets sent so far (from the start to
    /// when the next one is due, or `elapsed` if that is later), not by the
    /// time of the last system call. At [`Rate::Max`] there is no schedule
    /// and `elapsed` counts.
    ///
    /// `None` when the run spans less than two packets' worth of schedule
    /// (at [`Rate::Max`]: fewer than two packets): `-c 1 --rate 100` is one
    /// packet, not 50,000 packets/s.
    pub fn rate_over_schedule(&self, packets: u64, elapsed: Duration) -> Option<f64> {
        let elapsed_ns = elapsed.as_nanos();
        let span_ns = match self.rate {
            Rate::Max if packets < 2 => return None,
            Rate::Max => elapsed_ns,
            Rate::Every(p) => {
                let span = self.due_ns(self.sent).unwrap_or(0).max(elapsed_ns);
                if span < p.offset_ns(2) {
                    return None;
                }
                span
            }
        };
        (span_ns > 0).then(|| packets as f64 * 1e9 / span_ns as f64)
    }

    fn due_ns(&self, n: u64) -> Option<u128> {
        match self.rate {
            Rate::Max => None,
            Rate::Every(p) => Some(
                self.anchor_ns
                    .saturating_add(p.offset_ns(n.checked_sub(self.anchor_n)?)),
            ),
        }
    }

    /// What to do at `now`. [`Step::Send`] counts the packet as sent: the
    /// caller sends exactly one datagram, then asks again.
    pub fn next(&mut self, now: Instant) -> Step {
        if self.count.is_some_and(|c| self.sent >= c) {
            return Step::Done;
        }
        let elapsed = now.saturating_duration_since(self.start).as_nanos();
        if self.duration_ns.is_some_and(|d| elapsed >= d) {
            return Step::Done;
        }
        let Rate::Every(period) = self.rate else {
            self.sent += 1;
            return Step::Send;
        };
        let mut due = self.due_ns(self.sent).unwrap_or(u128::MAX);
        if self.duration_ns.is_some_and(|d| due >= d) {
            return Step::Done;
        }
        if due > elapsed {
            return Step::Wait(nanos_to_duration(due - elapsed));
        }
        // Behind. More than max_burst due? Forgive the rest: rebase so that
        // exactly max_burst packets are due now.
        let beyond = self
            .due_ns(self.sent.saturating_add(self.max_burst))
            .unwrap_or(u128::MAX);
        if beyond <= elapsed {
            self.anchor_n = self.sent;
            self.anchor_ns = elapsed.saturating_sub(period.offset_ns(self.max_burst - 1));
            let rebased = self.anchor_ns;
            self.slipped_ns = self.slipped_ns.saturating_add(rebased.saturating_sub(due));
            due = rebased;
            if self.duration_ns.is_some_and(|d| due >= d) {
                return Step::Done;
            }
        }
        self.sent += 1;
        Step::Send
    }
}

fn nanos_to_duration(ns: u128) -> Duration {
    Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
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
        let mut p =
            Pacer::new(parse_rate("1000").unwrap(), start).duration(Duration::from_secs(10));
        let times = run(&mut p, start, Duration::ZERO, u64::MAX);
        assert_eq!(times.len(), 10_000);
        assert_eq!(p.sent(), 10_000);
        for (n, t) in times.iter().enumerate() {
            assert_eq!(*t, n as u128 * 1_000_000);
        }
        assert_eq!(p.next(start + Duration::from_secs(10)), Step::Done);
        // Waking late by 300 µs each time changes nothing: no drift, same count.
        let mut p =
            Pacer::new(parse_rate("1000").unwrap(), start).duration(Duration::from_secs(10));
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
        for (bad, needle) in [
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
        ] {
            let e = parse_rate(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("'{bad}'")), "{bad}: {e}");
            assert!(e.contains(needle), "{bad}: {e}");
            assert!(e.contains("e.g. 1000") && e.contains("max"), "{e}");
        }
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
        for (bad, needle) in [
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
        ] {
            let e = parse_bitrate(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("'{bad}'")), "{bad}: {e}");
            assert!(e.contains(needle), "{bad}: {e}");
            assert!(e.contains("10M") && e.contains("500k"), "{e}");
        }
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
}
