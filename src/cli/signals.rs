//! Ctrl-C and SIGTERM: remember that they came, so the loops can leave their
//! groups and print a summary before exiting with code 130.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: nix::libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Installs the handler for SIGINT and SIGTERM. No SA_RESTART, so a blocking
/// `poll` returns EINTR at once.
pub(crate) fn install() {
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe, and replaces no handler that Rust relies on.
        if let Err(e) = unsafe { sigaction(sig, &action) } {
            log::warn!("cannot install a handler for {sig}: {e}; Ctrl-C will not print a summary");
        }
    }
}

/// Whether SIGINT or SIGTERM arrived.
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Sleeps until `deadline`, waking early on a signal. Returns false if
/// interrupted.
pub(crate) fn sleep_until(deadline: Instant) -> bool {
    loop {
        if interrupted() {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        // Slices bound the delay of noticing a signal that arrives just
        // before the sleep starts.
        std::thread::sleep((deadline - now).min(Duration::from_millis(50)));
    }
}
