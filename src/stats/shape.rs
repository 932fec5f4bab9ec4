//! The shape of one stream's arrivals, beside its counters: the one-way
//! delay and interarrival-gap distributions ([`Histogram`]s), the runs of
//! lost sequence numbers and DTIM bunching ([`DtimDetector`]).

use crate::dtim::{DtimBursts, DtimDetector};
use crate::histogram::{Histogram, Percentiles};

use super::counts::Arrival;

/// Distributions and loss runs of one stream; see
/// [`StreamStats`](super::StreamStats). Recording is a few integer
/// operations; the histograms allocate a 256-byte block the first time a
/// value falls in a new octave of time (bounded: a few KiB per stream).
#[derive(Debug, Clone, Default)]
pub(super) struct Shape {
    delay: Histogram,
    gaps: Histogram,
    /// When the previous probe that was not a duplicate arrived.
    prev_arrival_ns: Option<u64>,
    loss_runs: u64,
    loss_run_max: u64,
    dtim: DtimDetector,
}

/// What [`Shape`] hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct ShapeFigures {
    pub(super) delay: Option<Percentiles>,
    pub(super) gaps: Option<Percentiles>,
    pub(super) gap_max_ns: Option<u64>,
    pub(super) loss_runs: u64,
    pub(super) loss_run_max: u64,
}

impl Shape {
    /// One probe, classified, with the one-way delay `arrival − sent`
    /// (negative delays, from clocks that disagree, count as 0).
    pub(super) fn on_probe(&mut self, arrival: Arrival, sent_ns: u64, arrival_ns: u64, delay: i64) {
        if arrival == Arrival::Duplicate {
            return;
        }
        self.delay.record(delay.max(0).unsigned_abs());
        if let Some(prev) = self.prev_arrival_ns.replace(arrival_ns) {
            self.gaps.record(arrival_ns.saturating_sub(prev));
        }
        match arrival {
            Arrival::Gap(n) => {
                self.loss_runs = self.loss_runs.saturating_add(1);
                self.loss_run_max = self.loss_run_max.max(n);
            }
            Arrival::Reordered | Arrival::Late => return,
            _ => {}
        }
        // In sequence order only: a reordered probe's send gap is negative.
        self.dtim.on_probe(sent_ns, arrival_ns);
    }

    /// A reordered probe filled a lost sequence number; `before` and
    /// `after` say whether its neighbours had arrived. Filling a run of
    /// one ends it; filling the middle of a run splits it in two.
    pub(super) fn filled(&mut self, before: bool, after: bool) {
        match (before, after) {
            (true, true) => self.loss_runs = self.loss_runs.saturating_sub(1),
            (false, false) => self.loss_runs = self.loss_runs.saturating_add(1),
            _ => {}
        }
    }

    /// DTIM bunching, if the arrivals show it.
    pub(super) fn bursts(&self) -> Option<DtimBursts> {
        self.dtim.bursts()
    }

    pub(super) fn figures(&self) -> ShapeFigures {
        ShapeFigures {
            delay: self.delay.percentiles(),
            gaps: self.gaps.percentiles(),
            gap_max_ns: self.gaps.max(),
            loss_runs: self.loss_runs,
            loss_run_max: self.loss_run_max,
        }
    }
}
