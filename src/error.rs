//! Errors that say what failed, on what.

use std::fmt;
use std::io;

/// An error of the mcast library.
///
/// Messages name the operation, the address and the interface, for example
/// `cannot join 239.74.20.30 on wlan0 (index 3): No such device (os error 19)`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot work; found before any socket was opened.
    Config(String),
    /// A socket operation failed.
    Io {
        /// What was being done, with its object: `join 239.74.20.30 on wlan0 (index 3)`.
        op: String,
        /// The system's error.
        source: io::Error,
        /// What usually fixes it, when mcast knows.
        hint: Option<String>,
    },
    /// No mechanism this system supports could tie the socket to the interface,
    /// so traffic could silently use another one.
    NotPinned {
        /// The interface, as `wlan0 (index 3)`.
        interface: String,
        /// What was tried and how it failed.
        detail: String,
    },
}

impl Error {
    pub(crate) fn io(op: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            op: op.into(),
            source,
            hint: None,
        }
    }

    pub(crate) fn with_hint(mut self, text: impl Into<String>) -> Error {
        if let Error::Io { hint, .. } = &mut self {
            *hint = Some(text.into());
        }
        self
    }

    /// The OS error number, when there is one.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// Whether this error of a send leaves later datagrams a chance, so a
    /// sender counts the datagram as not sent and goes on: the path is away
    /// for now (ENETDOWN, ENETUNREACH, EHOSTUNREACH, ENODEV, ENXIO,
    /// EADDRNOTAVAIL, EINVAL: Wi-Fi dropped, the interface was recreated, the
    /// address changed), or this host refused the datagram
    /// ([`Error::is_refused_here`]). Other errors are failures.
    pub fn is_transient(&self) -> bool {
        use nix::libc::*;
        self.is_refused_here()
            || matches!(
                self.raw_os_error(),
                Some(
                    ENETDOWN | ENETUNREACH | EHOSTUNREACH | ENODEV | ENXIO | EADDRNOTAVAIL | EINVAL
                )
            )
    }

    /// Whether this host refused the datagram while the socket and the path
    /// are fine, so there is nothing to reopen: EPERM, which Linux returns
    /// when a firewall rule of the output path (nftables, iptables) drops or
    /// rejects it, and ENOBUFS, a full device queue.
    pub fn is_refused_here(&self) -> bool {
        matches!(
            self.raw_os_error(),
            Some(nix::libc::EPERM | nix::libc::ENOBUFS)
        )
    }

    /// True for [`Error::Config`]: the input was wrong, not the system.
    pub fn is_config(&self) -> bool {
        matches!(self, Error::Config(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(msg) => f.write_str(msg),
            Error::Io { op, source, hint } => {
                write!(f, "cannot {op}: {source}")?;
                match (hint, source.raw_os_error()) {
                    (Some(h), _) => write!(f, " ({h})"),
                    (None, Some(nix::libc::EPERM)) if op.contains("SO_BINDTODEVICE") => f.write_str(
                        " (SO_BINDTODEVICE needs CAP_NET_RAW here: root, or Linux 5.7 or newer for \
                         an unprivileged first bind; run without --bind-device, which still pins \
                         the interface with multicast socket options)",
                    ),
                    _ => Ok(()),
                }
            }
            Error::NotPinned { interface, detail } => write!(
                f,
                "cannot tie the socket to {interface}, so datagrams could leave through another \
                 interface: {detail}"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_operation_and_interface() {
        let e = Error::io(
            "join 239.74.20.30 on wlan0 (index 3)",
            io::Error::from_raw_os_error(nix::libc::ENODEV),
        );
        assert!(e
            .to_string()
            .starts_with("cannot join 239.74.20.30 on wlan0 (index 3): No such device"));
        assert_eq!(e.raw_os_error(), Some(nix::libc::ENODEV));
        let e = Error::io(
            "set SO_BINDTODEVICE on wlan0",
            io::Error::from_raw_os_error(nix::libc::EPERM),
        );
        assert!(e.to_string().contains("needs CAP_NET_RAW"), "{e}");
        assert!(!e.is_config());
        assert!(Error::Config("x".into()).is_config());
    }

    #[test]
    fn transient_and_refused_send_errors() {
        let send = |errno| {
            Error::io(
                "send to 239.74.20.30:54321 on wlan0",
                io::Error::from_raw_os_error(errno),
            )
        };
        for errno in [nix::libc::EPERM, nix::libc::ENOBUFS] {
            assert!(send(errno).is_refused_here() && send(errno).is_transient());
        }
        for errno in [
            nix::libc::ENETDOWN,
            nix::libc::ENETUNREACH,
            nix::libc::ENODEV,
        ] {
            assert!(send(errno).is_transient() && !send(errno).is_refused_here());
        }
        for errno in [nix::libc::EBADF, nix::libc::EMSGSIZE, nix::libc::EACCES] {
            assert!(!send(errno).is_transient(), "{errno}");
        }
        assert!(!Error::Config("x".into()).is_transient());
    }
}
