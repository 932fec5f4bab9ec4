//! Durations as people write them on a command line: `100ms`, `2s`, `1m`.

use std::fmt;
use std::time::Duration;

/// A duration could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseDurationError {
    input: String,
}

impl fmt::Display for ParseDurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid duration '{}': use a number with a unit, us, ms, s, m or h \
             (e.g. 100ms, 2s, 1.5s, 1m); a bare number means seconds",
            self.input
        )
    }
}

impl std::error::Error for ParseDurationError {}

/// Parses `100ms`, `2s`, `1.5s`, `1m`, `1h`, `250us`; a bare number is seconds.
///
/// # Errors
/// [`ParseDurationError`] for anything else, including negative, not finite
/// or absurdly large values.
pub fn parse_duration(s: &str) -> Result<Duration, ParseDurationError> {
    let err = || ParseDurationError {
        input: s.to_owned(),
    };
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() || num.starts_with('.') && num.len() == 1 {
        return Err(err());
    }
    let value: f64 = num.parse().map_err(|_| err())?;
    let scale = match unit.trim() {
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "" | "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(err()),
    };
    let secs = value * scale;
    // A year is far beyond any sensible interval or timeout.
    if !secs.is_finite() || !(0.0..=31_536_000.0).contains(&secs) {
        return Err(err());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Formats a duration the way [`parse_duration`] reads it back, shortest first:
/// `250ms`, `2s`, `1.5s`, `90s`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("250us").unwrap(), Duration::from_micros(250));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "s",
            "-1s",
            "1x",
            "1.2.3s",
            "ms",
            "1e9s",
            "9999999999h",
            ".",
            "NaNs",
            "inf",
        ] {
            let e = parse_duration(bad).unwrap_err().to_string();
            assert!(
                e.contains(&format!("'{bad}'")) && e.contains("100ms"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn formats_round_trip() {
        for d in ["250ms", "2s", "1.5s", "90s"] {
            assert_eq!(format_duration(parse_duration(d).unwrap()), d);
        }
    }
}
