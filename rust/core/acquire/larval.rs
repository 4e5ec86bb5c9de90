// SPDX-License-Identifier: GPL-2.0

//! The ACQUIREs in flight: one larval entry per SA template (source,
//! destination, protocol, mode, reqid), as XFRM's `xfrm_state_find()`
//! makes an `XFRM_STATE_ACQ` state per template and sends no second
//! ACQUIRE while it exists. An entry lives [`LARVAL_LIFETIME`] seconds
//! (`net.core.xfrm_acq_expires`), then goes with a hard EXPIRE; a key
//! daemon's SADB_ACQUIRE with an errno marks it failed (af_key's
//! `pfkey_acquire()`: XFRM_STATE_ERROR): the next packet may raise a new
//! ACQUIRE (as af_key does, seen in `selftests/pfkey_acquire.py`), and the
//! failed entry still lives out its lifetime and its EXPIRE; a GETSPI
//! with its sequence number (or, without one, for its template) takes a
//! waiting entry over as the daemon's larval SA.
//!
//! A fixed number of slots: a flood of distinct templates cannot grow
//! kernel memory; requests beyond it are refused and counted.

use crate::kame_core::{pfkey::wire::IpAddr, sad::LARVAL_LIFETIME};

/// What an outbound SA must be: an ACQUIRE's subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Template {
    /// `IPPROTO_ESP` or `IPPROTO_AH`.
    pub proto: u8,
    /// `IPSEC_MODE_*`.
    pub mode: u8,
    /// The request's reqid (0: none).
    pub reqid: u32,
    /// The SA's source.
    pub src: IpAddr,
    /// The SA's destination.
    pub dst: IpAddr,
}

/// One ACQUIRE in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Larval {
    /// What was asked for.
    pub tmpl: Template,
    /// The ACQUIRE's `sadb_msg_seq`.
    pub seq: u32,
    /// When it was made (seconds, the SAD's clock).
    pub added: u64,
    /// A daemon answered with an errno (XFRM_STATE_ERROR).
    pub failed: bool,
}

impl Larval {
    /// When it expires.
    pub fn expires(&self) -> u64 {
        self.added.saturating_add(LARVAL_LIFETIME)
    }
}

/// What [`AcqTable::raise`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Raised {
    /// Send an ACQUIRE with this sequence number.
    Send(u32),
    /// One is in flight (or failed) for this template: send nothing.
    InFlight,
    /// Every slot is taken: send nothing.
    Full,
}

/// The larval entries of one namespace.
#[derive(Debug)]
pub struct AcqTable<const N: usize> {
    slots: [Option<Larval>; N],
    /// How many slots are taken: most tables are empty, and the timer is
    /// re-armed after every PF_KEY message, so an empty one is not scanned.
    live: usize,
    last_seq: u32,
}

impl<const N: usize> Default for AcqTable<N> {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl<const N: usize> AcqTable<N> {
    /// An empty table, as a constant: a table on the heap is copied from
    /// it, not built on the stack first (it takes kilobytes).
    pub const EMPTY: Self = AcqTable {
        slots: [None; N],
        live: 0,
        last_seq: 0,
    };
}

impl<const N: usize> AcqTable<N> {
    /// Whether a waiting (not failed) entry exists for `tmpl`.
    pub fn in_flight(&self, tmpl: &Template) -> bool {
        self.slots
            .iter()
            .flatten()
            .any(|l| l.tmpl == *tmpl && !l.failed)
    }

    /// A packet needs an SA for `tmpl` at `now`: makes a larval entry and
    /// says to send an ACQUIRE, unless one is in flight.
    pub fn raise(&mut self, tmpl: &Template, now: u64) -> Raised {
        if self.in_flight(tmpl) {
            return Raised::InFlight;
        }
        let Some(slot) = self.slots.iter_mut().find(|s| s.is_none()) else {
            return Raised::Full;
        };
        // Never 0: a daemon's seq 0 means "none" (af_key's get_acqseq()).
        self.last_seq = match self.last_seq.wrapping_add(1) {
            0 => 1,
            s => s,
        };
        *slot = Some(Larval {
            tmpl: *tmpl,
            seq: self.last_seq,
            added: now,
            failed: false,
        });
        self.live += 1;
        Raised::Send(self.last_seq)
    }

    /// A daemon's SADB_ACQUIRE with an errno for `seq`: the entry fails
    /// (it no longer holds ACQUIREs back, but lives until it expires).
    /// Whether one was found.
    pub fn fail(&mut self, seq: u32) -> bool {
        match self
            .slots
            .iter_mut()
            .flatten()
            .find(|l| l.seq == seq && !l.failed)
        {
            Some(l) => {
                l.failed = true;
                true
            }
            None => false,
        }
    }

    /// GETSPI with `seq` for `dst` (af_key's `xfrm_find_acq_byseq()` and
    /// its address check): removes and returns the waiting entry.
    pub fn take_by_seq(&mut self, seq: u32, dst: &IpAddr) -> Option<Larval> {
        self.take(|l| seq != 0 && l.seq == seq && l.tmpl.dst == *dst)
    }

    /// GETSPI for `tmpl` without a matching seq (af_key's
    /// `xfrm_find_acq()`): removes and returns the waiting entry.
    pub fn take_by_template(&mut self, tmpl: &Template) -> Option<Larval> {
        self.take(|l| l.tmpl == *tmpl)
    }

    fn take(&mut self, f: impl Fn(&Larval) -> bool) -> Option<Larval> {
        let slot = self
            .slots
            .iter_mut()
            .find(|s| s.is_some_and(|l| !l.failed && f(&l)))?;
        self.live -= 1;
        slot.take()
    }

    /// Removes and returns one entry expired at `now`, if any.
    pub fn expire(&mut self, now: u64) -> Option<Larval> {
        let slot = self
            .slots
            .iter_mut()
            .find(|s| s.is_some_and(|l| l.expires() <= now))?;
        self.live -= 1;
        slot.take()
    }

    /// When the next entry expires.
    pub fn next_expiry(&self) -> Option<u64> {
        if self.live == 0 {
            return None;
        }
        self.slots.iter().flatten().map(Larval::expires).min()
    }

    /// SADB_FLUSH of protocol `proto` (`None`: all) removes the entries
    /// too, as XFRM's flush deletes ACQ states; returns how many went.
    pub fn flush(&mut self, proto: Option<u8>) -> usize {
        let mut n = 0;
        for s in self.slots.iter_mut() {
            if s.is_some_and(|l| proto.is_none_or(|p| l.tmpl.proto == p)) {
                *s = None;
                n += 1;
            }
        }
        self.live -= n;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpl(last: u8, reqid: u32) -> Template {
        Template {
            proto: 50,
            mode: 1,
            reqid,
            src: IpAddr::V4([10, 0, 0, 1]),
            dst: IpAddr::V4([10, 0, 0, last]),
        }
    }

    #[test]
    fn one_acquire_per_template_until_it_expires() {
        let mut t = AcqTable::<4>::default();
        assert_eq!(t.raise(&tmpl(2, 0), 100), Raised::Send(1));
        for now in [100, 110, 129] {
            assert_eq!(t.raise(&tmpl(2, 0), now), Raised::InFlight);
        }
        // Another template (destination, reqid) is another ACQUIRE.
        assert_eq!(t.raise(&tmpl(3, 0), 101), Raised::Send(2));
        assert_eq!(t.raise(&tmpl(2, 7), 101), Raised::Send(3));
        assert_eq!(t.next_expiry(), Some(130));
        assert_eq!(t.expire(129), None);
        let gone = t.expire(130).unwrap();
        assert_eq!((gone.seq, gone.tmpl), (1, tmpl(2, 0)));
        assert_eq!(t.raise(&tmpl(2, 0), 130), Raised::Send(4));
    }

    #[test]
    fn full_table_refuses() {
        let mut t = AcqTable::<2>::default();
        assert_eq!(t.raise(&tmpl(2, 0), 0), Raised::Send(1));
        assert_eq!(t.raise(&tmpl(3, 0), 0), Raised::Send(2));
        assert_eq!(t.raise(&tmpl(4, 0), 0), Raised::Full);
        assert_eq!(t.flush(Some(51)), 0);
        assert_eq!(t.flush(None), 2);
        assert_eq!(t.raise(&tmpl(4, 0), 0), Raised::Send(3));
    }

    #[test]
    fn expiry_follows_every_way_in_and_out() {
        let mut t = AcqTable::<4>::default();
        assert_eq!(t.next_expiry(), None);
        t.raise(&tmpl(2, 0), 0);
        t.raise(&tmpl(3, 0), 5);
        let mut other = tmpl(4, 0);
        other.proto = 51;
        t.raise(&other, 10);
        assert_eq!(t.flush(Some(50)), 2);
        assert_eq!(t.next_expiry(), Some(40));
        t.raise(&tmpl(2, 0), 20);
        assert_eq!(t.take_by_template(&other).map(|l| l.seq), Some(3));
        assert_eq!(t.next_expiry(), Some(50));
        assert!(t.expire(50).is_some());
        assert_eq!(t.next_expiry(), None);
    }

    #[test]
    fn seq_wraps_past_zero() {
        let mut t = AcqTable::<2> {
            last_seq: u32::MAX,
            ..Default::default()
        };
        assert_eq!(t.raise(&tmpl(2, 0), 0), Raised::Send(1));
    }

    #[test]
    fn failed_entry_lets_a_new_acquire_through_and_still_expires() {
        let mut t = AcqTable::<4>::default();
        assert_eq!(t.raise(&tmpl(2, 0), 0), Raised::Send(1));
        assert!(!t.fail(9));
        assert!(t.fail(1));
        assert!(!t.fail(1));
        assert_eq!(t.take_by_seq(1, &tmpl(2, 0).dst), None);
        // The next packet asks again; that entry holds the rest back.
        assert_eq!(t.raise(&tmpl(2, 0), 5), Raised::Send(2));
        assert_eq!(t.raise(&tmpl(2, 0), 6), Raised::InFlight);
        assert_eq!(t.take_by_template(&tmpl(2, 0)).map(|l| l.seq), Some(2));
        assert_eq!(t.expire(30).map(|l| (l.seq, l.failed)), Some((1, true)));
        assert_eq!(t.next_expiry(), None);
    }

    #[test]
    fn getspi_takes_by_seq_and_destination_or_by_template() {
        let mut t = AcqTable::<4>::default();
        assert_eq!(t.raise(&tmpl(2, 0), 0), Raised::Send(1));
        assert_eq!(t.raise(&tmpl(3, 0), 0), Raised::Send(2));
        // The seq of another destination is not it (af_key's check).
        assert_eq!(t.take_by_seq(1, &tmpl(3, 0).dst), None);
        assert_eq!(t.take_by_seq(0, &tmpl(2, 0).dst), None);
        assert_eq!(t.take_by_seq(1, &tmpl(2, 0).dst).map(|l| l.seq), Some(1));
        assert!(!t.in_flight(&tmpl(2, 0)));
        assert_eq!(t.take_by_template(&tmpl(3, 5)), None);
        assert_eq!(t.take_by_template(&tmpl(3, 0)).map(|l| l.seq), Some(2));
        assert_eq!(t.next_expiry(), None);
    }
}
