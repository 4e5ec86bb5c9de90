// SPDX-License-Identifier: GPL-2.0

//! The SPIs the SAD's SAs use, by protocol. GETSPI may not pick an SPI
//! that any SA of the protocol has, whatever its destination (af_key's
//! rule), and asks about each candidate: a scan of the SAD per candidate
//! would make GETSPI cost grow with the SAD, where af_key's (its by-SPI
//! hash) does not. Used under the key mutex only, never by the packet path:
//! an open-addressing table (linear probing) of how many SAs have each
//! (SPI, protocol), grown before an SA is added, so adding never fails.

#![forbid(unsafe_code)]

use crate::kame_core::hash::Hasher;
use kernel::prelude::*;

/// The table's size when it first holds anything (a power of two).
const MIN_SLOTS: usize = 64;

/// One (SPI, protocol) and how many SAs have it; `count` 0 is an empty
/// slot.
#[derive(Clone, Copy, Default)]
struct Slot {
    spi: u32,
    proto: u8,
    count: u32,
}

/// How many SAs have each (SPI, protocol).
pub(crate) struct SpiIndex {
    /// Empty, or a power of two of slots, at most half of them used.
    slots: KVVec<Slot>,
    /// Slots in use: distinct (SPI, protocol) pairs.
    used: usize,
    seed: u32,
}

impl SpiIndex {
    /// An empty index; `seed` keys its hash.
    pub(crate) fn new(seed: u32) -> Self {
        SpiIndex {
            slots: KVVec::new(),
            used: 0,
            seed,
        }
    }

    fn home(&self, spi: u32, proto: u8) -> usize {
        let h = Hasher::new(self.seed).u32(spi).u32(proto.into()).finish();
        h as usize & (self.slots.len() - 1)
    }

    /// The slot of (`spi`, `proto`), or the empty one where it would go.
    /// The table must not be empty.
    fn find(&self, spi: u32, proto: u8) -> core::result::Result<usize, usize> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(spi, proto);
        loop {
            let s = &self.slots[i];
            if s.count == 0 {
                return Err(i);
            }
            if s.spi == spi && s.proto == proto {
                return Ok(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// Whether an SA of protocol `proto` has `spi`.
    pub(crate) fn contains(&self, spi: u32, proto: u8) -> bool {
        !self.slots.is_empty() && self.find(spi, proto).is_ok()
    }

    /// Makes room for one more (SPI, protocol): the next [`SpiIndex::add`]
    /// cannot fail. On failure the index is as it was.
    pub(crate) fn reserve(&mut self) -> Result {
        if (self.used + 1) * 2 <= self.slots.len() {
            return Ok(());
        }
        let n = (self.slots.len() * 2).max(MIN_SLOTS);
        let mut grown = KVVec::new();
        grown.resize(n, Slot::default(), GFP_KERNEL)?;
        let old = core::mem::replace(&mut self.slots, grown);
        for s in old.iter().filter(|s| s.count != 0) {
            if let Err(i) = self.find(s.spi, s.proto) {
                self.slots[i] = *s;
            }
        }
        Ok(())
    }

    /// Counts an SA with `spi` for `proto`; [`SpiIndex::reserve`] made room.
    pub(crate) fn add(&mut self, spi: u32, proto: u8) {
        if self.slots.is_empty() {
            return; // Not reserved: cannot happen.
        }
        match self.find(spi, proto) {
            Ok(i) => self.slots[i].count += 1,
            Err(i) => {
                self.slots[i] = Slot {
                    spi,
                    proto,
                    count: 1,
                };
                self.used += 1;
            }
        }
    }

    /// Uncounts an SA with `spi` for `proto`. The last one's slot is
    /// emptied, and the entries after it in its run moved back so that
    /// each stays reachable from its home slot (no tombstones). The table
    /// is freed once nothing is left (after a flush).
    pub(crate) fn remove(&mut self, spi: u32, proto: u8) {
        if self.slots.is_empty() {
            return;
        }
        let Ok(mut hole) = self.find(spi, proto) else {
            return;
        };
        self.slots[hole].count -= 1;
        if self.slots[hole].count != 0 {
            return;
        }
        self.used -= 1;
        if self.used == 0 {
            self.slots = KVVec::new();
            return;
        }
        let mask = self.slots.len() - 1;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let s = self.slots[j];
            if s.count == 0 {
                break;
            }
            // `s` may fill the hole if its home is not in (hole, j]
            // (cyclically): then the hole lies on its probe path.
            let home = self.home(s.spi, s.proto);
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.slots[hole] = s;
                hole = j;
            }
        }
        self.slots[hole] = Slot::default();
    }
}
