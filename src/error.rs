//! Errors that say what failed, on what: the [`Error`] of the library, the
//! typed [`Operation`] that failed, and the [`Conflict`]s of settings.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};

use crate::group::Group;

/// What mcast was doing when a system call failed, with its object (after
/// trippy's `IoOperation`): an application matches it to react, and renders
/// it with [`Display`](fmt::Display) (`join 239.74.20.30`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// Opening a UDP socket.
    Open,
    /// Setting a socket option, named as in the man pages (`IP_MULTICAST_TTL`).
    SetOption(&'static str),
    /// Binding the socket to the device (`SO_BINDTODEVICE`).
    BindDevice,
    /// Binding the socket to an address and port.
    Bind(SocketAddr),
    /// Connecting the socket to its destination.
    Connect(SocketAddr),
    /// Joining a group, source-specific with `source`.
    Join {
        /// The group.
        group: IpAddr,
        /// The source of a source-specific membership.
        source: Option<IpAddr>,
    },
    /// Leaving a group.
    Leave(IpAddr),
    /// Sending to a destination.
    Send(SocketAddr),
    /// Answering a probe by unicast.
    Reply(SocketAddr),
    /// Receiving a group's datagrams.
    Receive(Group),
    /// Waiting (`poll(2)`) for a group's datagrams.
    Wait(Group),
    /// Receiving the replies sent back to a sender.
    ReceiveReplies,
    /// Receiving echo replies from one peer (by unicast).
    ReceiveEchoFrom(SocketAddr),
    /// Waiting (`poll(2)`) for echo replies.
    WaitEchoReplies,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::Open => f.write_str("open a UDP socket"),
            Operation::SetOption(name) => write!(f, "set {name}"),
            Operation::BindDevice => f.write_str("set SO_BINDTODEVICE"),
            Operation::Bind(a) => write!(f, "bind to {a}"),
            Operation::Connect(a) => write!(f, "connect to {a}"),
            Operation::Join {
                group,
                source: None,
            } => write!(f, "join {group}"),
            Operation::Join {
                group,
                source: Some(s),
            } => write!(f, "join {group} from source {s}"),
            Operation::Leave(g) => write!(f, "leave {g}"),
            Operation::Send(a) => write!(f, "send to {a}"),
            Operation::Reply(a) => write!(f, "reply to {a}"),
            Operation::Receive(g) => write!(f, "receive {g}"),
            Operation::Wait(g) => write!(f, "wait for datagrams {g}"),
            Operation::ReceiveReplies => f.write_str("receive replies"),
            Operation::ReceiveEchoFrom(a) => write!(f, "receive echo replies from {a}"),
            Operation::WaitEchoReplies => f.write_str("wait for echo replies"),
        }
    }
}

/// A combination of settings that cannot work together, found before any
/// socket was opened. The CLI words it with its flag names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Conflict {
    /// A broadcast receiver was given more than one address.
    SeveralBroadcastAddresses,
    /// A source filter was asked of a broadcast receiver.
    SourceWithBroadcast,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Conflict::SeveralBroadcastAddresses => {
                "a broadcast receiver receives one broadcast address"
            }
            Conflict::SourceWithBroadcast => {
                "a source filter needs a multicast group, not a broadcast address"
            }
        })
    }
}

/// An error of the mcast library.
///
/// Messages name the operation, the address and the interface, for example
/// `cannot join 239.74.20.30 on wlan0 (index 3): No such device (os error 19)`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot work; found before any socket was opened.
    Config(String),
    /// Settings that cannot work together; found before any socket was opened.
    Conflict(Conflict),
    /// A socket operation failed.
    Io {
        /// What was being done, with its object: `join 239.74.20.30`.
        op: Operation,
        /// The interface, as `wlan0 (index 3)`, when there is one.
        interface: Option<String>,
        /// The fallbacks tried before, and how they failed: `ip_mreq with 10.0.0.2`.
        tried: Option<String>,
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

/// What usually fixes `source` for `op`, when mcast knows without context.
fn known_hint(op: &Operation, source: &io::Error) -> Option<String> {
    match (op, source.raw_os_error()) {
        (Operation::BindDevice, Some(nix::libc::EPERM)) => Some(
            "SO_BINDTODEVICE needs CAP_NET_RAW here: root, or Linux 5.7 or newer for an \
             unprivileged first bind"
                .to_owned(),
        ),
        _ => None,
    }
}

impl Error {
    /// `op` failed with `source`, on no interface in particular.
    pub(crate) fn io(op: Operation, source: io::Error) -> Error {
        Error::Io {
            hint: known_hint(&op, &source),
            op,
            interface: None,
            tried: None,
            source,
        }
    }

    /// `op` failed with `source` on `interface`.
    pub(crate) fn io_on(op: Operation, interface: &impl fmt::Display, source: io::Error) -> Error {
        match Error::io(op, source) {
            Error::Io {
                op,
                tried,
                source,
                hint,
                ..
            } => Error::Io {
                op,
                interface: Some(interface.to_string()),
                tried,
                source,
                hint,
            },
            other => other,
        }
    }

    /// Notes the fallbacks tried before this error.
    pub(crate) fn tried(mut self, text: impl Into<String>) -> Error {
        if let Error::Io { tried, .. } = &mut self {
            *tried = Some(text.into());
        }
        self
    }

    pub(crate) fn with_hint(mut self, text: impl Into<String>) -> Error {
        if let Error::Io { hint, .. } = &mut self {
            *hint = Some(text.into());
        }
        self
    }

    /// Adds `advice` to what the message says fixes it: after the hint of
    /// an [`Error::Io`] (`(hint; advice)`), or after the detail of an
    /// [`Error::NotPinned`]. How a program adds the words of its own
    /// interface (the `mcast` command adds its flag names).
    #[must_use]
    pub fn with_advice(mut self, advice: &str) -> Error {
        match &mut self {
            Error::Io { hint, .. } => {
                *hint = Some(match hint.take() {
                    Some(h) => format!("{h}; {advice}"),
                    None => advice.to_owned(),
                });
            }
            Error::NotPinned { detail, .. } => {
                detail.push_str("; ");
                detail.push_str(advice);
            }
            _ => {}
        }
        self
    }

    /// The operation that failed, for an [`Error::Io`].
    pub fn operation(&self) -> Option<&Operation> {
        match self {
            Error::Io { op, .. } => Some(op),
            _ => None,
        }
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

    /// True for [`Error::Config`] and [`Error::Conflict`]: the input was
    /// wrong, not the system.
    pub fn is_config(&self) -> bool {
        matches!(self, Error::Config(_) | Error::Conflict(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(msg) => f.write_str(msg),
            Error::Conflict(c) => c.fmt(f),
            Error::Io {
                op,
                interface,
                tried,
                source,
                hint,
            } => {
                write!(f, "cannot {op}")?;
                if let Some(i) = interface {
                    write!(f, " on {i}")?;
                }
                if let Some(t) = tried {
                    write!(f, " ({t})")?;
                }
                write!(f, ": {source}")?;
                match hint {
                    Some(h) => write!(f, " ({h})"),
                    None => Ok(()),
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
        let join = Operation::Join {
            group: "239.74.20.30".parse().unwrap(),
            source: None,
        };
        let e = Error::io_on(
            join.clone(),
            &"wlan0 (index 3)",
            io::Error::from_raw_os_error(nix::libc::ENODEV),
        );
        assert!(e
            .to_string()
            .starts_with("cannot join 239.74.20.30 on wlan0 (index 3): No such device"));
        assert_eq!(e.raw_os_error(), Some(nix::libc::ENODEV));
        assert_eq!(e.operation(), Some(&join));
        let text = |e: Error| e.to_string();
        let refused = io::Error::from_raw_os_error(nix::libc::EPERM);
        let e = text(Error::io_on(Operation::BindDevice, &"wlan0", refused).with_advice("do this"));
        assert!(e.starts_with("cannot set SO_BINDTODEVICE on wlan0: Operation not permitted"));
        assert!(e.ends_with("unprivileged first bind; do this)"), "{e}");
        let full = io::Error::from_raw_os_error(nix::libc::EMFILE);
        let e = text(Error::io(Operation::Open, full).tried("first"));
        assert!(e.starts_with("cannot open a UDP socket (first): "), "{e}");
        assert!(!Error::io(Operation::Open, io::Error::from_raw_os_error(1)).is_config());
        assert!(Error::Config("x".into()).is_config());
        assert!(Error::Conflict(Conflict::SourceWithBroadcast).is_config());
    }

    #[test]
    fn transient_and_refused_send_errors() {
        let send = |errno| {
            Error::io_on(
                Operation::Send("239.74.20.30:54321".parse().unwrap()),
                &"wlan0",
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
