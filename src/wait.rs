//! Waiting until a deadline: the one conversion from "time left" to the
//! millisecond timeout of `poll(2)`, for the library and the command alike.

use std::time::{Duration, Instant};

/// The `poll(2)` timeout in milliseconds for waiting `wait`: rounded up, so
/// a wait never ends just before its deadline and spins, and capped at
/// `i32::MAX` (about 24 days), the largest timeout `poll` takes.
pub fn poll_timeout_ms(wait: Duration) -> i32 {
    i32::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
}

/// The `poll(2)` timeout in milliseconds for waiting until `deadline`, but
/// no longer than `at_most`; 0 once the deadline has passed.
pub fn poll_timeout_until(deadline: Instant, at_most: Duration) -> i32 {
    poll_timeout_ms(
        deadline
            .saturating_duration_since(Instant::now())
            .min(at_most),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_up_and_caps() {
        assert_eq!(poll_timeout_ms(Duration::ZERO), 0);
        assert_eq!(poll_timeout_ms(Duration::from_micros(1)), 1);
        assert_eq!(poll_timeout_ms(Duration::from_micros(1000)), 1);
        assert_eq!(poll_timeout_ms(Duration::from_micros(1001)), 2);
        assert_eq!(poll_timeout_ms(Duration::from_secs(u64::MAX)), i32::MAX);
    }

    #[test]
    fn until_a_deadline() {
        let past = Instant::now();
        assert_eq!(poll_timeout_until(past, Duration::from_secs(1)), 0);
        let later = Instant::now() + Duration::from_secs(60);
        assert_eq!(poll_timeout_until(later, Duration::from_millis(500)), 500);
    }
}
