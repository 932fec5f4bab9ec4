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

/// Asks the kernel for 1 µs timer slack instead of the default 50 µs, so the
/// pacer's short sleeps end on time (prctl(2) PR_SET_TIMERSLACK). Best
/// effort: the pacer catches up in bursts if sleeps overshoot anyway.
pub(crate) fn precise_sleeps() {
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and changes only
    // this thread's timer slack.
    let rc = unsafe { nix::libc::prctl(nix::libc::PR_SET_TIMERSLACK, 1000 as nix::libc::c_ulong) };
    if rc != 0 {
        log::debug!(
            "PR_SET_TIMERSLACK refused: {}",
            std::io::Error::last_os_error()
        );
    }
}
