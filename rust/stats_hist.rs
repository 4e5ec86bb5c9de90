// SPDX-License-Identifier: GPL-2.0

//! Packets by algorithm, KAME's histograms (`in_esphist`, `out_esphist`,
//! `in_ahhist`, `out_ahhist`): one per-CPU counter per algorithm the core
//! knows, ESP SAs by their encryption algorithm and AH SAs by their
//! authentication algorithm, as KAME counts them. An SA finds its row once,
//! when its transform is made ([`AlgRow::esp`], [`AlgRow::ah`]), so the
//! packet path adds to a counter it need not look up.

#![forbid(unsafe_code)]

use crate::{
    kame_core::algs::{self, AlgDesc},
    kapi::percpu::PerCpuCounters,
    stats::Section,
};
use kernel::prelude::*;

/// Rows of an ESP histogram: the encryption algorithms.
const ESP_ROWS: usize = algs::ENC.len();
/// Rows of an AH histogram: the authentication algorithms.
const AH_ROWS: usize = algs::AUTH.len();
/// Rows of the four histograms together.
const ROWS: usize = 2 * (ESP_ROWS + AH_ROWS);

/// One histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hist {
    /// ESP packets received for our SAs, as `esps_input` counts them
    /// (`in_esphist`).
    EspIn,
    /// ESP packets sent, as `esps_output` (`out_esphist`).
    EspOut,
    /// AH packets received for our SAs, as `ahs_input` (`in_ahhist`).
    AhIn,
    /// AH packets sent, as `ahs_output` (`out_ahhist`).
    AhOut,
}

impl Hist {
    /// Every histogram, in file order.
    pub(crate) const ALL: [Hist; 4] = [Hist::EspIn, Hist::EspOut, Hist::AhIn, Hist::AhOut];

    /// The histograms shown in section `sec`, in file order.
    pub(crate) fn of(sec: Section) -> impl Iterator<Item = Hist> {
        Hist::ALL.into_iter().filter(move |h| h.section() == sec)
    }

    /// Its name in the file: KAME's `ipsecstat` field.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Hist::EspIn => "in_esphist",
            Hist::EspOut => "out_esphist",
            Hist::AhIn => "in_ahhist",
            Hist::AhOut => "out_ahhist",
        }
    }

    /// The section (file) it is shown in.
    pub(crate) fn section(self) -> Section {
        match self {
            Hist::EspIn | Hist::EspOut => Section::Esp,
            Hist::AhIn | Hist::AhOut => Section::Ah,
        }
    }

    /// The algorithms of its rows, in row order.
    pub(crate) fn algs(self) -> &'static [AlgDesc] {
        match self {
            Hist::EspIn | Hist::EspOut => &algs::ENC,
            Hist::AhIn | Hist::AhOut => &algs::AUTH,
        }
    }

    /// The counter of its first row.
    fn base(self) -> usize {
        match self {
            Hist::EspIn => 0,
            Hist::EspOut => ESP_ROWS,
            Hist::AhIn => 2 * ESP_ROWS,
            Hist::AhOut => 2 * ESP_ROWS + AH_ROWS,
        }
    }
}

/// An SA's row in its protocol's histograms: its algorithm's place in the
/// core's table.
///
/// # Invariants
///
/// The place is within the table of the protocol it was made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AlgRow(u8);

impl AlgRow {
    /// The row of an ESP SA encrypting with PF_KEY id `encrypt`.
    pub(crate) fn esp(encrypt: u8) -> Option<AlgRow> {
        Self::find(&algs::ENC, encrypt)
    }

    /// The row of an AH SA authenticating with PF_KEY id `auth`.
    pub(crate) fn ah(auth: u8) -> Option<AlgRow> {
        Self::find(&algs::AUTH, auth)
    }

    fn find(table: &[AlgDesc], id: u8) -> Option<AlgRow> {
        let i = table.iter().position(|a| a.id == id)?;
        // INVARIANT: `i` is a place in `table`.
        u8::try_from(i).ok().map(AlgRow)
    }
}

/// The four histograms of one namespace.
pub(crate) struct HistCounters {
    /// Each histogram's rows from its [`Hist::base`].
    counts: PerCpuCounters<ROWS>,
}

impl HistCounters {
    /// Every row at zero. Process context.
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            counts: PerCpuCounters::new()?,
        })
    }

    /// Counts a packet in row `row` of `h`. Any context. The callers pair
    /// ESP SAs' rows with ESP histograms and AH SAs' with AH ones; a row
    /// past the end of `h` is not counted.
    pub(crate) fn inc(&self, h: Hist, row: AlgRow) {
        let r = usize::from(row.0);
        if r < h.algs().len() {
            self.counts.add(h.base() + r, 1);
        }
    }

    /// Each algorithm of `h` and its count, in row order. Any context.
    pub(crate) fn rows(&self, h: Hist) -> impl Iterator<Item = (&'static AlgDesc, u64)> + '_ {
        h.algs()
            .iter()
            .enumerate()
            .map(move |(r, a)| (a, self.counts.sum(h.base() + r)))
    }

    /// Sets the histograms of `sec` back to zero, as
    /// [`PerCpuCounters::zero`] does. Process context; the caller
    /// serialises resets.
    pub(crate) fn reset(&self, sec: Section) {
        for h in Hist::of(sec) {
            for r in 0..h.algs().len() {
                self.counts.zero(h.base() + r);
            }
        }
    }
}
