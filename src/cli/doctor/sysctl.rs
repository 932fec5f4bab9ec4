//! Reading kernel settings from `/proc/sys` (`sysctl(8)` without the tool).

/// Reads a sysctl file under /proc/sys and returns its trimmed value.
pub(crate) fn sysctl(path: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/sys/{path}"))
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Reads a numeric sysctl.
pub(crate) fn sysctl_int(path: &str) -> Option<i64> {
    sysctl(path).and_then(|s| s.parse().ok())
}
