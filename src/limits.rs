//! The limits that bound how many groups one process can join, and what
//! their errors say.
//!
//! Linux limits memberships per socket: `net.ipv4.igmp_max_memberships`
//! (20 by default) counts IPv4 memberships, and every membership, IPv4 or
//! IPv6, takes socket option memory, of which a socket may hold
//! `net.core.optmem_max` bytes (with the default of 128 KiB, about 2,300
//! IPv6 memberships). A [`Receiver`](crate::Receiver) therefore spreads its
//! groups over as many sockets as it needs. What then limits it is the whole
//! process (the open-file limit, `ulimit -n`) or the whole host
//! (`fs.file-max`), and a per-socket limit of zero. Linux and Android only.

use std::io;

use nix::libc;

/// The IPv4 memberships one socket may hold
/// (`/proc/sys/net/ipv4/igmp_max_memberships`), where it can be read.
pub(crate) fn igmp_max_memberships() -> Option<usize> {
    sysctl("net/ipv4/igmp_max_memberships")?.parse().ok()
}

fn sysctl(path: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/sys/{path}"))
        .ok()
        .map(|v| v.trim().to_owned())
}

/// Whether a failed join means "this socket holds all the memberships it
/// may": ENOBUFS (IPv4: `igmp_max_memberships` reached, or option memory
/// full) or ENOMEM (IPv6: option memory full).
pub(crate) fn is_socket_full(errno: Option<i32>) -> bool {
    matches!(errno, Some(libc::ENOBUFS | libc::ENOMEM))
}

/// Why a socket that holds no membership yet cannot take one: the limit is
/// zero, so spreading over more sockets cannot help.
pub(crate) fn no_membership_at_all(v6: bool) -> String {
    if v6 {
        let now = sysctl("net/core/optmem_max").unwrap_or_else(|| "unknown".into());
        format!(
            "a new socket cannot hold even one IPv6 membership: its option memory \
             (net.core.optmem_max = {now} bytes) is too small; raise it: sysctl -w \
             net.core.optmem_max=131072"
        )
    } else {
        let now = sysctl("net/ipv4/igmp_max_memberships").unwrap_or_else(|| "unknown".into());
        format!(
            "a new socket cannot hold even one IPv4 membership: the kernel allows {now} per \
             socket (net.ipv4.igmp_max_memberships = {now}); raise it: sysctl -w \
             net.ipv4.igmp_max_memberships=20"
        )
    }
}

/// The process's open-file limit (soft, hard), `RLIMIT_NOFILE`.
pub(crate) fn open_files_limit() -> Option<(u64, u64)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
    // rlim_t is 32 bits wide on some 32-bit targets.
    #[allow(clippy::useless_conversion)]
    let limits = (u64::from(r.rlim_cur), u64::from(r.rlim_max));
    (rc == 0).then_some(limits)
}

/// Raises the process's soft open-file limit to at least `wanted` files
/// where the hard limit allows (no privilege needed), as a program that
/// opens one socket per group or per few groups must: the soft limit is
/// often 1024 while the hard limit is far higher. Returns the soft limit
/// now in force.
///
/// Linux and Android only.
///
/// # Errors
/// The error of `getrlimit(2)` or `setrlimit(2)`.
pub fn raise_open_files_limit(wanted: u64) -> io::Result<u64> {
    let (soft, hard) = open_files_limit().ok_or_else(io::Error::last_os_error)?;
    if soft >= wanted {
        return Ok(soft);
    }
    let new = wanted.min(hard);
    if new <= soft {
        return Ok(soft);
    }
    let r = libc::rlimit {
        rlim_cur: libc::rlim_t::try_from(new).unwrap_or(libc::rlim_t::MAX),
        rlim_max: libc::rlim_t::try_from(hard).unwrap_or(libc::rlim_t::MAX),
    };
    // SAFETY: setrlimit reads one rlimit from a struct we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    log::debug!("raised the open-file limit from {soft} to {new} (hard limit {hard})");
    Ok(new)
}

/// What to say when a socket cannot be opened because the process or the
/// host ran out of files, with `groups` groups spread over `sockets` so
/// far: the limit that applies, and how to raise it.
pub(crate) fn out_of_files(errno: Option<i32>, groups: usize, sockets: usize) -> Option<String> {
    match errno {
        Some(libc::EMFILE) => {
            let (soft, hard) = open_files_limit().unwrap_or((0, 0));
            Some(format!(
                "this process may open {soft} files (RLIMIT_NOFILE, hard limit {hard}), and {groups} \
                 groups need more than the {sockets} sockets opened so far; raise it: ulimit -n \
                 {}",
                (soft * 2).max(4096)
            ))
        }
        Some(libc::ENFILE) => {
            let max = sysctl("fs/file-max").unwrap_or_else(|| "unknown".into());
            Some(format!(
                "the host has as many files open as it allows (fs.file-max = {max}); close some, \
                 or raise it: sysctl -w fs.file-max=N"
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_sockets_and_file_limits() {
        assert!(is_socket_full(Some(libc::ENOBUFS)));
        assert!(is_socket_full(Some(libc::ENOMEM)));
        assert!(!is_socket_full(Some(libc::ENODEV)));
        assert!(!is_socket_full(None));
        let e = out_of_files(Some(libc::EMFILE), 4096, 51).unwrap();
        assert!(
            e.contains("RLIMIT_NOFILE") && e.contains("4096 groups") && e.contains("ulimit -n"),
            "{e}"
        );
        assert!(out_of_files(Some(libc::ENFILE), 1, 1)
            .unwrap()
            .contains("fs.file-max"));
        assert_eq!(out_of_files(Some(libc::EPERM), 1, 1), None);
        assert!(no_membership_at_all(false).contains("net.ipv4.igmp_max_memberships"));
        assert!(no_membership_at_all(true).contains("net.core.optmem_max"));
    }

    #[test]
    fn the_open_file_limit_is_raised_within_the_hard_limit() {
        let (soft, hard) = open_files_limit().unwrap();
        assert_eq!(raise_open_files_limit(soft).unwrap(), soft);
        let now = raise_open_files_limit(soft.saturating_add(1)).unwrap();
        assert!(now > soft || soft == hard, "{soft} {hard} {now}");
        assert!(now <= hard);
    }
}
