//! Numbers on the picture: round axis steps, short numbers, durations,
//! bit rates, and text escaped for SVG.

/// A step of 1, 2 or 5 × 10^k for about five ticks up to `max`, and the
/// axis top (a multiple of it).
pub(super) fn nice(max: f64) -> (f64, f64) {
    let max = if max > 0.0 && max.is_finite() {
        max
    } else {
        1.0
    };
    let raw = max / 5.0;
    let mag = pow10(raw.log10().floor() as i32);
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    (step, (max / step).ceil() * step)
}

/// 10^e, without libm's `pow` (and its tables) in the phone binary.
pub(super) fn pow10(e: i32) -> f64 {
    let mut v = 1.0;
    for _ in 0..e.unsigned_abs() {
        v *= 10.0;
    }
    if e < 0 {
        1.0 / v
    } else {
        v
    }
}

/// A number without needless decimals: 0, 2.5, 1000, 0.001.
pub(super) fn num(v: f64) -> String {
    if v == v.round() && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A duration in ns as "100 µs", "2.048 s".
pub(super) fn duration(ns: f64) -> String {
    let (v, unit) = match ns {
        n if n >= 1e9 => (n / 1e9, "s"),
        n if n >= 1e6 => (n / 1e6, "ms"),
        n if n >= 1e3 => (n / 1e3, "µs"),
        n => (n, "ns"),
    };
    format!("{} {unit}", num(v))
}

/// A rate in bits/s as "1.00 Mbit/s".
pub(super) fn rate(bps: u64) -> String {
    let b = bps as f64;
    match b {
        b if b >= 1e9 => format!("{:.2} Gbit/s", b / 1e9),
        b if b >= 1e6 => format!("{:.2} Mbit/s", b / 1e6),
        b if b >= 1e3 => format!("{:.1} kbit/s", b / 1e3),
        b => format!("{b:.0} bit/s"),
    }
}

pub(super) fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_units() {
        assert_eq!(nice(0.0), (0.2, 1.0));
        assert_eq!(nice(97.0), (20.0, 100.0));
        assert_eq!(nice(101.0), (50.0, 150.0));
        assert_eq!(nice(0.3), (0.1, 0.30000000000000004));
        assert_eq!(num(2.5), "2.5");
        assert_eq!(num(1000.0), "1000");
        assert_eq!(num(0.001), "0.001");
        assert_eq!(duration(2_048_000_000.0), "2.048 s");
        assert_eq!(duration(1e3), "1 µs");
        assert_eq!(duration(1.0), "1 ns");
        assert_eq!(duration(204_800_000.0), "204.8 ms");
        assert_eq!(rate(1_000_000), "1.00 Mbit/s");
        assert_eq!(rate(64_000), "64.0 kbit/s");
        assert_eq!(escape("a<b>&c"), "a&lt;b&gt;&amp;c");
    }
}
