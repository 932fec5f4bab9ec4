//! The words about the command's own flags that the CLI adds to a library
//! error when it prints one: the library names socket options and
//! settings, the CLI names `--bind-device`, `--broadcast`, `--source`.

use mcast::{Conflict, Error, Operation};

/// Advice for a pinning failure: the two ways the command can still pin.
const NOT_PINNED: &str = "use a link-local group (ff02::/16) or --bind-device";
/// Advice for `SO_BINDTODEVICE` refused: the interface is pinned without it.
const NO_BIND_DEVICE: &str =
    "run without --bind-device, which still pins the interface with multicast socket options";

/// The message of `e` as the command prints it, with its flag names.
pub(crate) fn render(e: Error) -> String {
    match &e {
        Error::Conflict(Conflict::SeveralBroadcastAddresses) => {
            "--broadcast receives one broadcast address".to_owned()
        }
        Error::Conflict(Conflict::SourceWithBroadcast) => {
            "a source filter (--source) needs a multicast group, not --broadcast".to_owned()
        }
        Error::NotPinned { .. } => e.with_advice(NOT_PINNED).to_string(),
        Error::Io {
            op: Operation::BindDevice,
            ..
        } if e.raw_os_error() == Some(nix::libc::EPERM) => {
            e.with_advice(NO_BIND_DEVICE).to_string()
        }
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_named_by_the_command() {
        assert_eq!(
            render(Error::Conflict(Conflict::SourceWithBroadcast)),
            "a source filter (--source) needs a multicast group, not --broadcast"
        );
        let e = Error::NotPinned {
            interface: "wlan0 (index 3)".into(),
            detail: "nothing worked".into(),
        };
        assert!(render(e)
            .ends_with("nothing worked; use a link-local group (ff02::/16) or --bind-device"));
        assert_eq!(render(Error::Config("x".into())), "x");
    }
}
