//! The intervals of a timeline while a record is read ([`Bins`], halved
//! when the run outgrows them) and the gaps not yet final ([`Run`]).

use super::{Timeline, TimelineBin};
use crate::histogram::Histogram;

/// One interval while the record is read.
#[derive(Debug, Clone, Default)]
pub(super) struct Bin {
    pub(super) received: u64,
    pub(super) lost: u64,
    pub(super) bytes: u64,
    pub(super) delay: Option<Box<Histogram>>,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Bins(pub(super) Vec<Bin>);

impl Bins {
    pub(super) fn at(&mut self, i: usize) -> &mut Bin {
        if self.0.len() <= i {
            self.0.resize_with(i + 1, Bin::default);
        }
        &mut self.0[i]
    }

    pub(super) fn halve(&mut self) {
        let old = std::mem::take(&mut self.0);
        let mut it = old.into_iter();
        while let Some(mut a) = it.next() {
            if let Some(b) = it.next() {
                a.received += b.received;
                a.lost = a.lost.saturating_add(b.lost);
                a.bytes += b.bytes;
                a.delay = match (a.delay, b.delay) {
                    (Some(mut x), Some(y)) => {
                        x.merge(&y);
                        Some(x)
                    }
                    (x, y) => x.or(y),
                };
            }
            self.0.push(a);
        }
    }

    pub(super) fn timeline(&self, start_ns: u64, bin_ns: u64, len: usize) -> Timeline {
        let mut bins: Vec<TimelineBin> = self
            .0
            .iter()
            .map(|b| TimelineBin {
                received: b.received,
                lost: b.lost,
                bytes: b.bytes,
                delay_p50_ns: b.delay.as_ref().and_then(|h| h.quantile(0.5)),
                delay_max_ns: b.delay.as_ref().and_then(|h| h.max()),
            })
            .collect();
        bins.resize(len.max(bins.len()), TimelineBin::default());
        Timeline {
            start_ns,
            bin_ns,
            bins,
        }
    }
}

/// A gap not yet final: sequence numbers `first .. first + len`, lost
/// between the arrivals of `seq_a` (at `t_a`) and `seq_b` (at `t_b`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Run {
    pub(super) first: u64,
    pub(super) len: u64,
    pub(super) seq_a: u64,
    pub(super) t_a: u64,
    pub(super) seq_b: u64,
    pub(super) t_b: u64,
}

impl Run {
    /// When sequence number `seq_a + k` is taken to be lost: evenly spread.
    pub(super) fn time_of(&self, seq: u64) -> u64 {
        let span = self.t_b.saturating_sub(self.t_a);
        let k = seq.wrapping_sub(self.seq_a);
        let n1 = self.seq_b.wrapping_sub(self.seq_a).max(1);
        self.t_a + (u128::from(span) * u128::from(k) / u128::from(n1)) as u64
    }
}
