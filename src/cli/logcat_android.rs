//! Android: also send every record to logcat with tag `mcast`, so
//! `adb logcat -s mcast` shows it while the user watches stderr in `adb shell`.

use log::Log;

pub(crate) struct Logcat(android_logger::AndroidLogger);

impl Logcat {
    pub(crate) fn new() -> Logcat {
        Logcat(android_logger::AndroidLogger::new(
            android_logger::Config::default()
                .with_tag("mcast")
                .with_max_level(log::LevelFilter::Trace),
        ))
    }

    pub(crate) fn log(&self, record: &log::Record<'_>) {
        self.0.log(record);
    }
}
