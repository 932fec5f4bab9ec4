//! A fixed-memory log-linear histogram of durations (or any `u64`), for
//! percentiles of one-way delay, interarrival gaps, round-trip times and
//! loss-run lengths.

/// Buckets per octave: 2^6 = 64.
const SUB_BITS: u32 = 6;
const SUB: usize = 1 << SUB_BITS;
/// Octave 0 holds 0..=63 (width 1); octave `j` ≥ 1 holds
/// `[2^(j+5), 2^(j+6))` in buckets of width `2^(j-1)`; octave 58 ends at
/// `u64::MAX`.
const OCTAVES: usize = 59;
/// An octave without a block yet.
const NONE: u8 = u8::MAX;

/// A log-linear histogram of `u64` values (nanoseconds, usually) with
/// percentiles within 0.78 % and bounded memory.
///
/// # Buckets and precision
///
/// Values below 128 have a bucket each (exact). Above, every power of two
/// `[2^k, 2^(k+1))` (an *octave*) is cut into 64 buckets of equal width
/// `2^(k-6)`, as in HdrHistogram. A percentile is reported as the midpoint of
/// its bucket, clamped to the exact minimum and maximum, so it is off by at
/// most half a bucket: `2^(k-7) / 2^k` = 1/128 = **0.78 %** of the true value,
/// for every value from 0 to `u64::MAX` (584 years in nanoseconds).
/// Minimum, maximum and count are exact.
///
/// # Memory
///
/// The 59 octaves are allocated lazily, one block of 64 `u32` counters
/// (256 bytes) the first time a value falls in it; recording is then O(1)
/// (a leading-zero count, a shift and an index) and never allocates again
/// for values in octaves already seen. The fixed part (the octave index,
/// the block list, count, minimum, maximum) is 120 bytes on 64-bit targets,
/// 104 on 32-bit ARM; the table is for 64-bit.
///
/// | case | octaves | bytes |
/// |---|---:|---:|
/// | empty | 0 | 120 |
/// | one-way delay of a steady LAN or Wi-Fi stream (0.2–3 ms) | 5 | 1,400 |
/// | interarrival gaps of a steady 200/s stream (4–6 ms) | 2 | 632 |
/// | gaps of a Wi-Fi stream in DTIM bursts (10 µs–210 ms) | 15 | 3,960 |
/// | worst case: values in every octave (0 to 2^64 ns) | 59 | 15,224 |
/// | worst case for durations up to 73 minutes (< 2^42 ns) | 37 | 9,592 |
///
/// A counter holds 2^32 − 1. When one would overflow (2^32 values in one
/// bucket: a day at 50,000 values/s), every counter is halved (rounding up,
/// so no bucket empties) and the histogram remembers the scale: percentiles
/// stay those of the distribution, to one part in 2^31 of rank, and count,
/// minimum and maximum stay exact.
#[derive(Debug, Clone)]
pub struct Histogram {
    /// Which block holds each octave's counters, or [`NONE`].
    slots: [u8; OCTAVES],
    /// How many times every counter was halved.
    shift: u8,
    blocks: Vec<[u32; SUB]>,
    /// Values recorded (exact).
    count: u64,
    /// The sum of the counters (`count`, until a halving).
    total: u64,
    min: u64,
    max: u64,
}

/// The usual percentiles of a [`Histogram`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percentiles {
    /// The median.
    pub p50: u64,
    /// The 90th percentile.
    pub p90: u64,
    /// The 99th percentile.
    pub p99: u64,
    /// The 99.9th percentile.
    pub p999: u64,
}

/// One non-empty bucket of a [`Histogram`]: the values from `low` to `high`
/// (both inclusive) and how many fell there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// The smallest value of the bucket.
    pub low: u64,
    /// The largest value of the bucket.
    pub high: u64,
    /// Values recorded in it (scaled back up after halvings).
    pub count: u64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram::new()
    }
}

/// The octave and bucket of a value.
fn index(v: u64) -> (usize, usize) {
    if v < SUB as u64 {
        return (0, v as usize);
    }
    let k = 63 - v.leading_zeros(); // ≥ 6
    let j = (k - (SUB_BITS - 1)) as usize;
    let sub = ((v >> (k - SUB_BITS)) as usize) & (SUB - 1);
    (j, sub)
}

/// The smallest value and the width of a bucket.
fn bounds(j: usize, sub: usize) -> (u64, u64) {
    if j == 0 {
        (sub as u64, 1)
    } else {
        let width = 1u64 << (j - 1);
        ((SUB as u64 + sub as u64) << (j - 1), width)
    }
}

/// `c / 2^n`, rounded up (a non-empty bucket stays non-empty).
fn ceil_shr(c: u32, n: u32) -> u32 {
    if n >= 32 {
        u32::from(c > 0)
    } else {
        let down = c >> n;
        down + u32::from(down << n != c)
    }
}

impl Histogram {
    /// An empty histogram; it allocates nothing until the first value.
    pub const fn new() -> Histogram {
        Histogram {
            slots: [NONE; OCTAVES],
            shift: 0,
            blocks: Vec::new(),
            count: 0,
            total: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    /// Records one value.
    pub fn record(&mut self, v: u64) {
        let (j, sub) = index(v);
        let slot = self.slot(j);
        if self.blocks[slot][sub] == u32::MAX {
            self.halve();
        }
        self.blocks[slot][sub] += 1;
        self.total += 1;
        self.count = self.count.saturating_add(1);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// The block of octave `j`, allocated on first use.
    fn slot(&mut self, j: usize) -> usize {
        match self.slots[j] {
            NONE => {
                self.blocks.reserve_exact(1);
                self.blocks.push([0; SUB]);
                let slot = self.blocks.len() - 1;
                // At most OCTAVES (59) blocks, so the index fits in a u8
                // below NONE.
                self.slots[j] = slot as u8;
                slot
            }
            s => usize::from(s),
        }
    }

    fn halve(&mut self) {
        self.shift += 1;
        self.total = 0;
        for block in &mut self.blocks {
            for c in block.iter_mut() {
                *c = ceil_shr(*c, 1);
                self.total += u64::from(*c);
            }
        }
    }

    /// Adds every value of `other` to this histogram (as if each had been
    /// recorded here).
    pub fn merge(&mut self, other: &Histogram) {
        if other.count == 0 {
            return;
        }
        while self.shift < other.shift {
            self.halve();
        }
        for (j, &os) in other.slots.iter().enumerate() {
            if os == NONE {
                continue;
            }
            let slot = self.slot(j);
            for (sub, &c) in other.blocks[usize::from(os)].iter().enumerate() {
                if c == 0 {
                    continue;
                }
                loop {
                    let add = ceil_shr(c, u32::from(self.shift - other.shift));
                    if let Some(sum) = self.blocks[slot][sub].checked_add(add) {
                        self.blocks[slot][sub] = sum;
                        self.total += u64::from(add);
                        break;
                    }
                    self.halve();
                }
            }
        }
        self.count = self.count.saturating_add(other.count);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The smallest value recorded (exact).
    pub fn min(&self) -> Option<u64> {
        (self.count > 0).then_some(self.min)
    }

    /// The largest value recorded (exact).
    pub fn max(&self) -> Option<u64> {
        (self.count > 0).then_some(self.max)
    }

    /// The `q`-quantile (`q` from 0 to 1; 0.99 is the 99th percentile), by
    /// the nearest-rank rule: the value at rank ⌈q·n⌉ of the n values sorted,
    /// within 0.78 %. `q` ≤ 0 gives the minimum and `q` ≥ 1 the maximum,
    /// exactly. `None` when empty or `q` is NaN.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 || q.is_nan() {
            return None;
        }
        if q <= 0.0 {
            return Some(self.min);
        }
        if q >= 1.0 {
            return Some(self.max);
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0u64;
        for (j, &s) in self.slots.iter().enumerate() {
            if s == NONE {
                continue;
            }
            for (sub, &c) in self.blocks[usize::from(s)].iter().enumerate() {
                seen += u64::from(c);
                if seen >= rank {
                    let (low, width) = bounds(j, sub);
                    return Some((low + width / 2).clamp(self.min, self.max));
                }
            }
        }
        Some(self.max)
    }

    /// The median, 90th, 99th and 99.9th percentiles; `None` when empty.
    pub fn percentiles(&self) -> Option<Percentiles> {
        Some(Percentiles {
            p50: self.quantile(0.5)?,
            p90: self.quantile(0.9)?,
            p99: self.quantile(0.99)?,
            p999: self.quantile(0.999)?,
        })
    }

    /// The non-empty buckets, from the smallest values up.
    pub fn buckets(&self) -> impl Iterator<Item = Bucket> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, &s)| s != NONE)
            .flat_map(move |(j, &s)| {
                self.blocks[usize::from(s)]
                    .iter()
                    .enumerate()
                    .filter(|(_, &c)| c > 0)
                    .map(move |(sub, &c)| {
                        let (low, width) = bounds(j, sub);
                        Bucket {
                            low,
                            high: low + (width - 1),
                            count: u64::from(c) << self.shift,
                        }
                    })
            })
    }

    /// The heap bytes this histogram holds (its counter blocks); add
    /// `size_of::<Histogram>()` for the whole.
    pub fn heap_bytes(&self) -> usize {
        self.blocks.capacity() * std::mem::size_of::<[u32; SUB]>()
    }
}

#[cfg(test)]
mod tests;
