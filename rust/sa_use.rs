// SPDX-License-Identifier: GPL-2.0

//! What the data path counts on one SA, and XFRM's check before each packet
//! (`xfrm_state_check_expire()`): the first use is recorded, a hard limit
//! reached drops the packet and ends the SA, a soft one makes it dying.
//! The limits are the core's ([`SaRecord::usage_limit`]); this file keeps
//! the counts in atomics (any context, no lock) and raises each lifetime
//! event once, through [`crate::use_events`], to be carried out under the
//! key mutex.
//!
//! One [`SaUse`] lives in an SA's transform, so the copies of the record
//! that changes publish share it.

#![forbid(unsafe_code)]

use crate::{
    kame_core::sad::{seq_exhausted, Expiry, SaRecord, Usage},
    kapi::clock::real_seconds,
    sad_table::SaEntry,
    use_events::UseEvents,
};
use kernel::sync::atomic::{Atomic, Relaxed};

/// An SA's use so far.
pub(crate) struct SaUse {
    packets: Atomic<u64>,
    bytes: Atomic<u64>,
    /// Seconds since the epoch, 0 until the first packet.
    first_use: Atomic<u64>,
    /// 1 once the data path reached the soft limit (XFRM's `km.dying`);
    /// an UPDATE of the SA clears it.
    soft: Atomic<u32>,
    /// 1 once the SA must not be used: hard limit reached or sequence
    /// numbers exhausted. Never cleared: the SA goes.
    hard: Atomic<u32>,
}

impl SaUse {
    /// Nothing counted yet.
    pub(crate) fn new() -> SaUse {
        SaUse {
            packets: Atomic::new(0),
            bytes: Atomic::new(0),
            first_use: Atomic::new(0),
            soft: Atomic::new(0),
            hard: Atomic::new(0),
        }
    }

    /// The counts now.
    pub(crate) fn usage(&self) -> Usage {
        Usage {
            packets: self.packets.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            first_use: self.first_use.load(Relaxed),
        }
    }

    /// Whether the SA must no longer be used.
    pub(crate) fn hard_reached(&self) -> bool {
        self.hard.load(Relaxed) != 0
    }

    /// Whether the data path reached the soft limit.
    pub(crate) fn soft_reached(&self) -> bool {
        self.soft.load(Relaxed) != 0
    }

    /// An UPDATE gave the SA new limits: it may reach a soft one again
    /// (XFRM clears `km.dying` in `xfrm_state_update()`).
    pub(crate) fn clear_soft(&self) {
        self.soft.store(0, Relaxed);
    }

    /// The check before a packet uses SA `sa`: `false` if it must be
    /// dropped. Raises the SA's lifetime events through `ev`, each once.
    pub(crate) fn admit(&self, sa: &SaEntry, ev: &UseEvents) -> bool {
        if self.first_use.load(Relaxed) == 0
            && self.first_use.cmpxchg(0, real_seconds(), Relaxed).is_ok()
            && sa.rec.has_usetime_limit()
        {
            // Use-time limits start now: the timer must learn of it.
            ev.raise(sa.order);
        }
        if self.hard_reached() {
            return false;
        }
        match sa.rec.usage_limit(&self.usage()) {
            Some(Expiry::Hard) => {
                self.stop(sa, ev);
                false
            }
            Some(Expiry::Soft) => {
                if self.soft.xchg(1, Relaxed) == 0 {
                    ev.raise(sa.order);
                }
                true
            }
            None => true,
        }
    }

    /// The check before an outbound packet takes a sequence number, `last`
    /// being the last one sent, 32 bits wide or 64 with `esn`: `false`
    /// (and the SA ended) when none is left.
    pub(crate) fn admit_seq(&self, sa: &SaEntry, last: u64, esn: bool, ev: &UseEvents) -> bool {
        if seq_exhausted(last, esn) {
            self.stop(sa, ev);
            return false;
        }
        true
    }

    /// Ends the SA: no packet uses it from now, and the hard EXPIRE is
    /// raised (once).
    pub(crate) fn stop(&self, sa: &SaEntry, ev: &UseEvents) {
        if self.hard.xchg(1, Relaxed) == 0 {
            ev.raise(sa.order);
        }
    }

    /// Counts one packet of `bytes` payload bytes.
    pub(crate) fn count(&self, bytes: usize) {
        self.packets.add(1, Relaxed);
        self.bytes.add(bytes as u64, Relaxed);
    }

    /// Whether the key state must still act on this SA's use: remove it,
    /// make it dying, or record its first use in `rec` for its use-time
    /// limits.
    pub(crate) fn pending(&self, rec: &SaRecord) -> bool {
        self.hard_reached()
            || (self.soft_reached() && rec.state == crate::kame_core::sad::SaState::Mature)
            || (rec.current.usetime == 0
                && rec.has_usetime_limit()
                && self.first_use.load(Relaxed) != 0)
    }
}
