//! Network interfaces for mcast: enumerate them, and choose the one to use.
//!
//! Choosing the interface is the modern form of the "pick an access point" step
//! of the original mobile multicast example: a phone has Wi-Fi, cellular and
//! loopback links at once, and multicast only makes sense on one of them.
//!
//! - [`interfaces()`] lists every interface with its flags and addresses
//!   (Linux and Android, through `getifaddrs(3)`).
//! - [`select()`] applies the automatic selection rule to such a list. It is
//!   plain code over data, so it is tested with hand-made lists.
//! - [`find()`] resolves what a person typed (`wlan0`, `3`, `198.18.1.10`).
//!
//! ```no_run
//! use mcast_platform::{interfaces, select, Family, Purpose};
//! # fn main() -> std::io::Result<()> {
//! let list = interfaces()?;
//! let choice = select(&list, Family::V4, Purpose::Multicast);
//! if let Some(iface) = choice.chosen() {
//!     println!("would use {} (index {})", iface.name(), iface.index());
//! }
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs, unreachable_pub)]

mod interface;
mod select;
mod watch;

#[cfg(any(target_os = "linux", target_os = "android"))]
#[path = "linux.rs"]
mod sys;

#[cfg(not(any(target_os = "linux", target_os = "android")))]
compile_error!("mcast-platform supports Linux and Android only");

pub use interface::{Address, Family, Flags, Interface, InterfaceIndex, Kind};
pub use select::{check, find, select, FindError, Purpose, Rejection, Selection, Verdict};
pub use watch::{changes, is_usable, Change, WatchMechanism, Watcher, POLL_INTERVAL};

/// Lists every network interface of this host (of this network namespace),
/// in index order, with flags and all IPv4 and IPv6 addresses.
///
/// Linux and Android only (Android API level 24 or newer, where bionic has
/// `getifaddrs(3)`).
///
/// # Errors
/// Returns the error of `getifaddrs(3)` or `if_nametoindex(3)`.
pub fn interfaces() -> std::io::Result<Vec<Interface>> {
    sys::interfaces()
}
