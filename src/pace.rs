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

impl ParseRateError {
    /// The error for `input`, as a `what`, once its problem is known.
    fn on(what: What, input: &str) -> impl Fn(String) -> ParseRateError + Copy + '_ {
        move |problem| ParseRateError {
            what,
            input: input.to_owned(),
            problem,
        }
    }
}

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
    let err = ParseRateError::on(What::Rate, s);
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
    let err = ParseRateError::on(What::Bitrate, s);
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
mod tests;
