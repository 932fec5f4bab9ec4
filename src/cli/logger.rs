//! The logger: stderr everywhere, and logcat too on Android.
//!
//! The level comes from `-v` (info), `-vv` (debug), `-vvv` (trace) and `-q`
//! (errors only); `RUST_LOG` (`debug`, or `mcast=debug`) overrides them.

use std::io::Write;

use log::{LevelFilter, Log, Metadata, Record};

#[cfg_attr(target_os = "android", path = "logcat_android.rs")]
#[cfg_attr(not(target_os = "android"), path = "logcat_stub.rs")]
mod logcat;

struct Logger {
    level: LevelFilter,
    logcat: logcat::Logcat,
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        self.logcat.log(record);
        let level = record.level().as_str().to_ascii_lowercase();
        // A closed stderr must not end the program.
        let _ = writeln!(std::io::stderr(), "mcast: {level}: {}", record.args());
    }

    fn flush(&self) {}
}

/// The level for `-v` counts and `-q`, unless `RUST_LOG` names one.
pub(crate) fn level(verbose: u8, quiet: bool, rust_log: Option<&str>) -> LevelFilter {
    if let Some(spec) = rust_log {
        // `debug`, or the last `target=level` directive; other targets'
        // directives are taken as ours, there is only one crate that logs.
        let last = spec.split(',').next_back().unwrap_or("");
        let lvl = last.rsplit('=').next().unwrap_or("");
        if let Ok(l) = lvl.trim().parse::<LevelFilter>() {
            return l;
        }
    }
    if quiet {
        return LevelFilter::Error;
    }
    match verbose {
        0 => LevelFilter::Warn,
        1 => LevelFilter::Info,
        2 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

/// Installs the logger once.
pub(crate) fn init(level: LevelFilter) {
    let logger = Logger {
        level,
        logcat: logcat::Logcat::new(),
    };
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(level(0, false, None), LevelFilter::Warn);
        assert_eq!(level(1, false, None), LevelFilter::Info);
        assert_eq!(level(2, false, None), LevelFilter::Debug);
        assert_eq!(level(9, false, None), LevelFilter::Trace);
        assert_eq!(level(2, true, None), LevelFilter::Error);
        assert_eq!(level(0, false, Some("debug")), LevelFilter::Debug);
        assert_eq!(level(0, true, Some("mcast=trace")), LevelFilter::Trace);
        assert_eq!(level(1, false, Some("garbage")), LevelFilter::Info);
    }
}
