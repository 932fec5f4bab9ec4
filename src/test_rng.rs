//! A small deterministic random-number generator for unit tests
//! (xorshift64*), so that the tests need no crate and repeat exactly.

/// xorshift64* (Vigna); seed with any non-zero value.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in (0, 1].
    pub(crate) fn unit(&mut self) -> f64 {
        ((self.next() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// The next sequence offset of a path that delivers 70% in order, skips
    /// ahead by `gap(self)` until `gap_until` percent (a loss), and
    /// otherwise repeats something up to `back` behind (reordered or
    /// duplicate); `next` is the offset expected next.
    pub(crate) fn seq_offset(
        &mut self,
        next: &mut u64,
        gap_until: u64,
        gap: impl FnOnce(&mut Rng) -> u64,
        back: u64,
    ) -> u64 {
        let r = self.next() % 100;
        if r < 70 {
            *next += 1;
        } else if r < gap_until {
            *next += gap(self);
        } else {
            return next.saturating_sub(1 + self.next() % back);
        }
        *next - 1
    }
}
