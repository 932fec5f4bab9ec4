//! The doctor's report: how a check ended ([`Status`]), one check's
//! outcome ([`Check`]) as a text line or a JSON object, and the run's
//! summary with its exit code ([`Report`]).

use std::fmt;

use crate::cli::json::JsonObject;

use super::super::output::{line, CliError};
use super::super::Common;

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Status {
    /// Nothing here stops multicast.
    Pass,
    /// Something here may stop it, or could not be read.
    Warn,
    /// Something here stops it (exit code 1).
    Fail,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        })
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Check {
    /// The check's name: `interface`, `route`, `firewall`, …
    pub(crate) name: &'static str,
    /// How it ended.
    pub(crate) status: Status,
    /// What it found, in one sentence.
    pub(crate) detail: String,
    /// The command or setting that fixes a warn or a fail.
    pub(crate) fix: Option<String>,
}

impl Check {
    fn new(
        name: &'static str,
        status: Status,
        detail: impl Into<String>,
        fix: Option<String>,
    ) -> Check {
        Check {
            name,
            status,
            detail: detail.into(),
            fix,
        }
    }

    /// A check that passed; a pass has nothing to fix.
    pub(crate) fn pass(name: &'static str, detail: impl Into<String>) -> Check {
        Check::new(name, Status::Pass, detail, None)
    }

    /// A finding that may stop multicast, with how to fix it.
    pub(crate) fn warn(name: &'static str, what: impl Into<String>, fix: Option<String>) -> Check {
        Check::new(name, Status::Warn, what, fix)
    }

    /// A finding that stops multicast, with how to fix it.
    pub(crate) fn fail(name: &'static str, what: impl Into<String>, fix: Option<String>) -> Check {
        Check::new(name, Status::Fail, what, fix)
    }

    /// `FAIL  route      no route for …; fix: ip route add …`
    fn text(&self) -> String {
        let mut s = format!("{}  {:<9}  {}", self.status, self.name, self.detail);
        if let Some(f) = &self.fix {
            s.push_str("; fix: ");
            s.push_str(f);
        }
        s
    }

    /// The `check` object of `--json`.
    fn json(&self) -> String {
        JsonObject::typed("check")
            .str("name", self.name)
            .str("status", self.status.as_str())
            .str("detail", &self.detail)
            .opt_str("fix", self.fix.as_deref())
            .finish()
    }
}

/// Where the doctor writes its results.
pub(crate) struct Report<'a> {
    common: &'a Common,
    checks: Vec<Check>,
}

impl Report<'_> {
    /// An empty report that writes as `common` says (`--json`, `--quiet`).
    pub(crate) fn new(common: &Common) -> Report<'_> {
        Report {
            common,
            checks: Vec::new(),
        }
    }

    /// Writes one check's line (or object) and keeps it for the summary.
    pub(crate) fn add(&mut self, c: Check) -> Result<(), CliError> {
        if self.common.json {
            line(&c.json())?;
        } else if !self.common.quiet || c.status != Status::Pass {
            line(&c.text())?;
        }
        self.checks.push(c);
        Ok(())
    }

    fn count(&self, s: Status) -> usize {
        self.checks.iter().filter(|c| c.status == s).count()
    }

    /// The summary line or object; an error (exit code 1) when a check failed.
    pub(crate) fn finish(self) -> Result<bool, CliError> {
        let (pass, warn, fail) = (
            self.count(Status::Pass),
            self.count(Status::Warn),
            self.count(Status::Fail),
        );
        if self.common.json {
            line(
                &JsonObject::typed("summary")
                    .str("role", "doctor")
                    .int("pass", pass as u64)
                    .int("warn", warn as u64)
                    .int("fail", fail as u64)
                    .finish(),
            )?;
        } else {
            let plural = |n: usize, one: &str, many: &str| {
                format!("{n} {}", if n == 1 { one } else { many })
            };
            line(&format!(
                "doctor: {}, {}, {}",
                plural(pass, "passed", "passed"),
                plural(warn, "warning", "warnings"),
                plural(fail, "failed", "failed")
            ))?;
        }
        if fail == 0 {
            return Ok(false);
        }
        let names: Vec<&str> = self
            .checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| c.name)
            .collect();
        Err(CliError::failure(format!(
            "{} failed: {} (see the fix on each FAIL line)",
            if fail == 1 {
                "1 check".to_owned()
            } else {
                format!("{fail} checks")
            },
            names.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_lines() {
        let c = Check::fail(
            "route",
            "no route for 239.74.20.30",
            Some("ip route add 224.0.0.0/4 dev wlan0".into()),
        );
        assert_eq!(
            c.text(),
            "FAIL  route      no route for 239.74.20.30; fix: ip route add 224.0.0.0/4 dev wlan0"
        );
        assert_eq!(
            c.json(),
            r#"{"type":"check","name":"route","status":"fail","detail":"no route for 239.74.20.30","fix":"ip route add 224.0.0.0/4 dev wlan0"}"#
        );
        assert_eq!(
            Check::pass("kernel", "ok").json(),
            r#"{"type":"check","name":"kernel","status":"pass","detail":"ok","fix":null}"#
        );
    }
}
