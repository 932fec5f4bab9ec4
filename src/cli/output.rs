//! What the CLI prints, and how it ends: result lines on stdout, status and
//! errors on stderr, exit codes.

use std::fmt;
use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

/// Exit code: done.
pub(crate) const EXIT_OK: i32 = 0;
/// Exit code: a runtime failure (a socket call failed, nothing arrived in time).
pub(crate) const EXIT_FAILURE: i32 = 1;
/// Exit code: bad input, reported before any socket is opened.
pub(crate) const EXIT_USAGE: i32 = 2;
/// Exit code: interrupted by Ctrl-C or SIGTERM, after the summary.
pub(crate) const EXIT_INTERRUPTED: i32 = 130;

/// How a subcommand failed: the exit code and the one line to print.
#[derive(Debug)]
pub(crate) struct CliError {
    pub(crate) code: i32,
    /// Empty for a quiet exit (stdout closed by a reader such as `head`,
    /// or Ctrl-C at the interface menu).
    pub(crate) msg: String,
}

impl CliError {
    pub(crate) fn usage(msg: impl fmt::Display) -> CliError {
        CliError {
            code: EXIT_USAGE,
            msg: msg.to_string(),
        }
    }

    pub(crate) fn failure(msg: impl fmt::Display) -> CliError {
        CliError {
            code: EXIT_FAILURE,
            msg: msg.to_string(),
        }
    }

    /// Ctrl-C before anything started: exit code 130, nothing more to say.
    pub(crate) fn interrupted() -> CliError {
        CliError {
            code: EXIT_INTERRUPTED,
            msg: String::new(),
        }
    }

    fn closed() -> CliError {
        CliError {
            code: EXIT_OK,
            msg: String::new(),
        }
    }
}

impl From<mcast::Error> for CliError {
    fn from(e: mcast::Error) -> CliError {
        if e.is_config() {
            CliError::usage(super::advice::render(e))
        } else {
            CliError::failure(super::advice::render(e))
        }
    }
}

/// Prints one line on stdout. A closed pipe (`mcast ifaces | head -1`) ends
/// the program quietly instead of panicking.
pub(crate) fn line(s: &str) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    match writeln!(out, "{s}").and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(CliError::closed()),
        Err(e) => Err(CliError::failure(format!("cannot write to stdout: {e}"))),
    }
}

/// Prints a status line on stderr (`mcast: listening on …`), unless quiet.
pub(crate) fn status(quiet: bool, s: &str) {
    if !quiet {
        let _ = writeln!(io::stderr(), "mcast: {s}");
    }
}

/// `1 packet`, `2 packets`: a count with its noun in the right number.
pub(crate) fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A moment in UTC, for output lines and JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Utc {
    unix_ns: u128,
}

impl Utc {
    pub(crate) fn now() -> Utc {
        Utc {
            unix_ns: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        }
    }

    /// A moment given in ns since the Unix epoch (a kernel timestamp).
    pub(crate) fn from_unix_ns(ns: u64) -> Utc {
        Utc {
            unix_ns: u128::from(ns),
        }
    }

    pub(crate) fn unix_ns(self) -> u128 {
        self.unix_ns
    }

    fn parts(self) -> (i64, u32, u32, u32, u32, u32, u32) {
        let secs = (self.unix_ns / 1_000_000_000) as i64;
        let ms = ((self.unix_ns / 1_000_000) % 1000) as u32;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400) as u32;
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let y = yoe + era * 400 + i64::from(m <= 2);
        (y, m, d, sod / 3600, sod / 60 % 60, sod % 60, ms)
    }

    /// `03:12:45.123`, the time column of received lines (UTC).
    pub(crate) fn clock(self) -> String {
        let (_, _, _, h, mi, s, ms) = self.parts();
        format!("{h:02}:{mi:02}:{s:02}.{ms:03}")
    }

    /// `2026-11-25T03:12:45.123Z` (RFC 3339).
    pub(crate) fn rfc3339(self) -> String {
        let (y, mo, d, h, mi, s, ms) = self.parts();
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_in_the_right_number() {
        assert_eq!(plural(1, "packet", "packets"), "1 packet");
        assert_eq!(plural(0, "packet", "packets"), "0 packets");
        assert_eq!(plural(2, "responder", "responders"), "2 responders");
    }

    #[test]
    fn utc_formats() {
        let t = Utc {
            unix_ns: 1_795_000_000_123_000_000,
        };
        assert_eq!(t.rfc3339(), "2026-11-18T11:06:40.123Z");
        assert_eq!(t.clock(), "11:06:40.123");
        assert_eq!(Utc { unix_ns: 0 }.rfc3339(), "1970-01-01T00:00:00.000Z");
        // A leap day.
        assert_eq!(
            Utc {
                unix_ns: 951_782_400 * 1_000_000_000
            }
            .rfc3339(),
            "2000-02-29T00:00:00.000Z"
        );
    }
}
