//! Check 8, Android only: the Wi-Fi multicast filter (is a
//! `WifiManager.MulticastLock` held?) and the SELinux context the doctor
//! runs in.
//!
//! The parsing is plain code compiled on every target, so its unit tests run
//! on the host against captured and hand-written `dumpsys wifi` text
//! (`tests/data/dumpsys-wifi-*.txt`). Only running `dumpsys` and reading
//! `/proc/self/attr/current` happen on the phone, and only when the doctor
//! finds itself on Android at run time (the static musl build is a Linux
//! binary that runs on phones too).
//!
//! Formats of the `Multicast Locks held:` section in AOSP:
//! - `WifiServiceImpl.dump()` (Android 4.4 to 6): `Multicast Locks held:`,
//!   then one line per lock, `    Multicaster{TAG binder=android.os.BinderProxy@…}`;
//! - `WifiMulticastLockManager.dump()` (Android 7 on): `mMulticastEnabled N`
//!   and `mMulticastDisabled N` (acquire and release counters), then the
//!   section with `    Multicaster{TAG uid=UID}` lines;
//! - recent `packages/modules/Wifi`: also `Active lock owners: {UID=N, …}`
//!   and `Inactive lock owners: {…}`. Only active owners (apps that are not
//!   cached in the background) turn the filter off.

use std::time::Duration;

use mcast::Kind;

use super::{run_tool, Check, Ctx, Findings, Tool};

/// One held lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lock {
    pub(crate) tag: String,
    pub(crate) uid: Option<u32>,
}

/// What `dumpsys wifi` says about multicast locks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LockState {
    /// The `Multicast Locks held:` section was found.
    pub(crate) found: bool,
    pub(crate) locks: Vec<Lock>,
    /// Recent Android: uids whose locks count, and those that do not.
    pub(crate) active_owners: Option<Vec<u32>>,
    pub(crate) inactive_owners: Option<Vec<u32>>,
    /// Acquire and release counters (Android 7 on).
    pub(crate) enabled: Option<u64>,
    pub(crate) disabled: Option<u64>,
    /// `dumpsys` refused (no DUMP permission, or the service is hidden).
    pub(crate) denied: Option<String>,
}

/// Whether the Wi-Fi hardware filters incoming multicast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filter {
    /// An active lock is held: multicast gets through.
    Off,
    /// Locks are held, but only by inactive (background) owners.
    OnInactiveOnly,
    /// No lock is held.
    On,
    /// The dump could not be read or has no lock section.
    Unknown,
}

impl LockState {
    pub(crate) fn filter(&self) -> Filter {
        if self.denied.is_some() || !self.found {
            return Filter::Unknown;
        }
        if self.locks.is_empty() {
            return Filter::On;
        }
        match &self.active_owners {
            Some(active) if active.is_empty() => Filter::OnInactiveOnly,
            _ => Filter::Off,
        }
    }
}

/// `{1000=1, 10123=2}` → the uids.
fn owners(map: &str) -> Vec<u32> {
    map.trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .split(',')
        .filter_map(|kv| kv.split('=').next()?.trim().parse().ok())
        .collect()
}

/// `Multicaster{TAG uid=UID}` or `Multicaster{TAG binder=…}`.
fn lock_of(line: &str) -> Option<Lock> {
    let inner = line
        .trim()
        .strip_prefix("Multicaster{")?
        .strip_suffix('}')?;
    if let Some((tag, uid)) = inner.rsplit_once(" uid=") {
        return Some(Lock {
            tag: tag.to_owned(),
            uid: uid.trim().parse().ok(),
        });
    }
    if let Some((tag, _binder)) = inner.rsplit_once(" binder=") {
        return Some(Lock {
            tag: tag.to_owned(),
            uid: None,
        });
    }
    Some(Lock {
        tag: inner.to_owned(),
        uid: None,
    })
}

/// Parses the output of `dumpsys wifi` (any Android version).
pub(crate) fn multicast_locks(dumpsys: &str) -> LockState {
    let mut st = LockState::default();
    let mut in_section = false;
    for line in dumpsys.lines() {
        let t = line.trim();
        if t.starts_with("Permission Denial") || t.starts_with("Can't find service") {
            st.denied = Some(t.to_owned());
        }
        if in_section {
            if line.starts_with(char::is_whitespace) && t.starts_with("Multicaster{") {
                if let Some(l) = lock_of(t) {
                    st.locks.push(l);
                }
                continue;
            }
            in_section = false;
        }
        if t == "Multicast Locks held:" {
            st.found = true;
            in_section = true;
        } else if let Some(n) = t.strip_prefix("mMulticastEnabled ") {
            st.enabled = n.trim().parse().ok();
        } else if let Some(n) = t.strip_prefix("mMulticastDisabled ") {
            st.disabled = n.trim().parse().ok();
        } else if let Some(m) = t.strip_prefix("Active lock owners:") {
            st.active_owners = Some(owners(m));
        } else if let Some(m) = t.strip_prefix("Inactive lock owners:") {
            st.inactive_owners = Some(owners(m));
        }
    }
    st
}

fn describe_locks(locks: &[Lock]) -> String {
    locks
        .iter()
        .map(|l| match l.uid {
            Some(u) => format!("{} (uid {u})", l.tag),
            None => l.tag.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `wifi-lock` check from a parsed dump.
pub(crate) fn lock_check(st: &LockState, dev: &str, findings: &mut Findings) -> Check {
    let hold = "keep an app running that holds a WifiManager.MulticastLock (many mDNS, UPnP and \
                casting apps do; a program started from adb shell cannot take one), then check: \
                adb shell dumpsys wifi | grep -A3 'Multicast Locks held'";
    match st.filter() {
        Filter::Off => Check::pass(
            "wifi-lock",
            format!(
                "the Wi-Fi multicast filter is off: {} multicast lock{} held: {}",
                st.locks.len(),
                if st.locks.len() == 1 { "" } else { "s" },
                describe_locks(&st.locks)
            ),
        ),
        Filter::OnInactiveOnly => {
            findings.no_multicast_lock = true;
            Check::warn(
                "wifi-lock",
                format!(
                    "multicast locks are held only by apps in the background ({}; inactive owners {:?}): \
                     Android counts only active owners, so {dev}'s Wi-Fi filters incoming multicast",
                    describe_locks(&st.locks),
                    st.inactive_owners.clone().unwrap_or_default()
                ),
                Some(
                    "bring the app that holds the lock to the foreground, or use one that holds it \
                     from a foreground service"
                        .to_owned(),
                ),
            )
        }
        Filter::On => {
            findings.no_multicast_lock = true;
            Check::warn(
                "wifi-lock",
                format!(
                    "no app holds a Wi-Fi MulticastLock: the Wi-Fi hardware of {dev} filters incoming \
                     multicast, so receiving may get nothing (sending works){}",
                    match (st.enabled, st.disabled) {
                        (Some(e), Some(d)) => format!(" ({e} acquired and {d} released since boot)"),
                        _ => String::new(),
                    }
                ),
                Some(hold.to_owned()),
            )
        }
        Filter::Unknown => match &st.denied {
            Some(d) => Check::warn(
                "wifi-lock",
                format!(
                    "cannot see the multicast locks: dumpsys wifi refused ({d}); without a held \
                     MulticastLock the Wi-Fi filters incoming multicast"
                ),
                Some("run the doctor from adb shell (scripts/adb-run.sh doctor), which may dump services".to_owned()),
            ),
            None => Check::warn(
                "wifi-lock",
                "dumpsys wifi has no 'Multicast Locks held:' section (an unknown format): cannot \
                 tell whether the Wi-Fi filters multicast",
                Some(hold.to_owned()),
            ),
        },
    }
}

/// The `selinux` check from the context (`u:r:shell:s0`).
pub(crate) fn selinux_check(context: &str) -> Check {
    let domain = context.split(':').nth(2).unwrap_or(context);
    match domain {
        "shell" => Check::pass(
            "selinux",
            format!(
                "{context} (adb shell): dumpsys and /proc/net are readable; changing routes, the \
                 firewall or sysctls needs root"
            ),
        ),
        "su" | "magisk" | "init" | "kernel" => {
            Check::pass("selinux", format!("{context}: root, nothing is restricted"))
        }
        d if d.ends_with("_app") || d.starts_with("untrusted_app") => Check::warn(
            "selinux",
            format!(
                "{context}: running inside an app, where /proc/net, dumpsys and netlink route \
                 sockets are restricted (Android 10 on), so some checks could not see everything"
            ),
            Some("run it from adb shell: scripts/adb-run.sh doctor".to_owned()),
        ),
        _ => Check::pass("selinux", context.to_owned()),
    }
}

/// The Android checks (only called on Android).
pub(crate) fn checks(ctx: &Ctx<'_>, findings: &mut Findings) -> Vec<Check> {
    let mut out = Vec::new();
    if ctx.iface.kind() != Kind::Wifi {
        out.push(Check::pass(
            "wifi-lock",
            format!(
                "{} is not Wi-Fi, so the Wi-Fi multicast filter does not apply",
                ctx.iface
            ),
        ));
    } else {
        let limit = Duration::from_secs(15);
        let ran = match run_tool("dumpsys", &["wifi"], limit) {
            Tool::Missing => run_tool("/system/bin/dumpsys", &["wifi"], limit),
            other => other,
        };
        out.push(match ran {
            Tool::Ran { stdout, stderr, .. } => {
                let mut st = multicast_locks(&stdout);
                if !st.found && st.denied.is_none() {
                    st.denied = stderr
                        .lines()
                        .map(str::trim)
                        .find(|l| !l.is_empty())
                        .map(str::to_owned);
                }
                lock_check(&st, ctx.dev(), findings)
            }
            Tool::Missing => Check::warn(
                "wifi-lock",
                "dumpsys is not available here: cannot tell whether an app holds a Wi-Fi MulticastLock",
                None,
            ),
            Tool::TimedOut => Check::warn(
                "wifi-lock",
                "dumpsys wifi did not answer within 15 s: cannot tell whether an app holds a Wi-Fi MulticastLock",
                None,
            ),
        });
    }
    if let Ok(c) = std::fs::read_to_string("/proc/self/attr/current") {
        let c = c.trim_end_matches('\0').trim();
        if !c.is_empty() {
            out.push(selinux_check(c));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIFISERVICEIMPL_HELD: &str =
        include_str!("../../../tests/data/dumpsys-wifi-wifiserviceimpl-held.txt");
    const LOCKMANAGER_NONE: &str =
        include_str!("../../../tests/data/dumpsys-wifi-lockmanager-none.txt");
    const LOCKMANAGER_HELD: &str =
        include_str!("../../../tests/data/dumpsys-wifi-lockmanager-held.txt");
    const OWNERS_ACTIVE: &str = include_str!("../../../tests/data/dumpsys-wifi-owners-active.txt");
    const OWNERS_INACTIVE: &str =
        include_str!("../../../tests/data/dumpsys-wifi-owners-inactive.txt");
    const DENIED: &str = include_str!("../../../tests/data/dumpsys-wifi-denied.txt");

    #[test]
    fn old_wifiserviceimpl_format() {
        let st = multicast_locks(WIFISERVICEIMPL_HELD);
        assert!(st.found);
        assert_eq!(
            st.locks,
            [Lock {
                tag: "JmDNS lock".into(),
                uid: None
            }]
        );
        assert_eq!(st.enabled, None);
        assert_eq!(st.filter(), Filter::Off);
    }

    #[test]
    fn lock_manager_without_locks() {
        let st = multicast_locks(LOCKMANAGER_NONE);
        assert!(st.found && st.locks.is_empty(), "{st:?}");
        assert_eq!((st.enabled, st.disabled), (Some(4), Some(4)));
        assert_eq!(st.filter(), Filter::On);
        let mut f = Findings::default();
        let c = lock_check(&st, "wlan0", &mut f);
        assert_eq!(c.status, super::super::Status::Warn);
        assert!(
            c.detail.contains("no app holds a Wi-Fi MulticastLock"),
            "{c:?}"
        );
        assert!(c
            .fix
            .as_deref()
            .unwrap()
            .contains("WifiManager.MulticastLock"));
        assert!(f.no_multicast_lock);
    }

    #[test]
    fn lock_manager_with_locks() {
        let st = multicast_locks(LOCKMANAGER_HELD);
        assert_eq!(
            st.locks,
            [
                Lock {
                    tag: "CastDiscovery".into(),
                    uid: Some(10145)
                },
                Lock {
                    tag: "mdns lock".into(),
                    uid: Some(10087)
                }
            ]
        );
        assert_eq!(st.filter(), Filter::Off);
        let mut f = Findings::default();
        let c = lock_check(&st, "wlan0", &mut f);
        assert_eq!(c.status, super::super::Status::Pass);
        assert!(
            c.detail.contains(
                "2 multicast locks held: CastDiscovery (uid 10145), mdns lock (uid 10087)"
            ),
            "{c:?}"
        );
        assert!(!f.no_multicast_lock);
    }

    #[test]
    fn recent_format_with_active_and_inactive_owners() {
        let st = multicast_locks(OWNERS_ACTIVE);
        assert_eq!(st.active_owners, Some(vec![1000]));
        assert_eq!(st.inactive_owners, Some(vec![]));
        assert_eq!(st.locks.len(), 1);
        assert_eq!(st.locks[0].tag, "AdbMulticastLock-comm");
        assert_eq!(st.filter(), Filter::Off);
        // WifiLockManager's own "Locks held:" section is not ours.
        assert!(OWNERS_ACTIVE.contains("\nLocks held:\n"));

        let st = multicast_locks(OWNERS_INACTIVE);
        assert_eq!(st.active_owners, Some(vec![]));
        assert_eq!(st.inactive_owners, Some(vec![10145]));
        assert_eq!(st.filter(), Filter::OnInactiveOnly);
        let mut f = Findings::default();
        let c = lock_check(&st, "wlan0", &mut f);
        assert_eq!(c.status, super::super::Status::Warn);
        assert!(c.detail.contains("background"), "{c:?}");
    }

    #[test]
    fn permission_denied_and_garbage() {
        let st = multicast_locks(DENIED);
        assert_eq!(st.filter(), Filter::Unknown);
        assert!(st
            .denied
            .as_deref()
            .unwrap()
            .contains("android.permission.DUMP"));
        let mut f = Findings::default();
        let c = lock_check(&st, "wlan0", &mut f);
        assert!(c.detail.contains("dumpsys wifi refused"), "{c:?}");
        assert_eq!(multicast_locks("").filter(), Filter::Unknown);
        assert_eq!(
            multicast_locks("Can't find service: wifi\n")
                .denied
                .as_deref(),
            Some("Can't find service: wifi")
        );
    }

    #[test]
    fn selinux_contexts() {
        use super::super::Status;
        assert_eq!(selinux_check("u:r:shell:s0").status, Status::Pass);
        assert_eq!(selinux_check("u:r:su:s0").status, Status::Pass);
        let app = selinux_check("u:r:untrusted_app:s0:c512,c768");
        assert_eq!(app.status, Status::Warn);
        assert!(app.detail.contains("inside an app"));
        assert_eq!(selinux_check("u:r:platform_app:s0").status, Status::Warn);
    }
}
