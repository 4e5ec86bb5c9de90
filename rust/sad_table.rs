// SPDX-License-Identifier: GPL-2.0

//! The SAD of one namespace: SA records by identity (destination, SPI,
//! protocol), in dump order (newest first, as af_key walks its list), the
//! larval SAs by the `sadb_msg_seq` that made them, and every SA with a
//! time limit by when it next expires (the lifetime timer's queue).
//!
//! Every method runs under the namespace's key mutex ([`crate::keydb`]).
//! TODO[B]: the packet path's lockless (RCU) lookups arrive with it.

#![forbid(unsafe_code)]

use crate::kame_core::{
    errno::Errno,
    pfkey::wire::IpAddr,
    sad::{Expiry, SaId, SaRecord, SaState, PROTO_ANY},
};
use kernel::{prelude::*, rbtree::RBTree, rbtree::RBTreeNode};

/// Position of an SA in dump order: smaller is newer.
pub(crate) type Order = u64;

/// One namespace's SAs.
pub(crate) struct SadTable {
    by_order: RBTree<Order, SaRecord>,
    by_id: RBTree<SaId, Order>,
    larval: RBTree<(u32, Order), SaId>,
    /// `(when, order)` of each SA's next lifetime event.
    timeline: RBTree<(u64, Order), ()>,
    next: Order,
}

/// Where `rec` (at `order`) sits in the lifetime queue, if anywhere.
fn timeline_key(order: Order, rec: &SaRecord) -> Option<(u64, Order)> {
    rec.next_expiry().map(|(when, _)| (when, order))
}

impl SadTable {
    pub(crate) fn new() -> Self {
        SadTable {
            by_order: RBTree::new(),
            by_id: RBTree::new(),
            larval: RBTree::new(),
            timeline: RBTree::new(),
            // One below the top, so a dump can always resume at `order + 1`.
            next: Order::MAX - 1,
        }
    }

    /// The SA with identity `id`.
    pub(crate) fn get(&self, id: &SaId) -> Option<&SaRecord> {
        self.by_order.get(self.by_id.get(id)?)
    }

    /// Changes the SA with identity `id` in place with `f`, which must not
    /// change its identity or state larval; its lifetime event moves with
    /// it. ESRCH if there is none, ENOMEM (and no change) if memory is
    /// short.
    pub(crate) fn update<R>(
        &mut self,
        id: &SaId,
        f: impl FnOnce(&mut SaRecord) -> Result<R, Errno>,
    ) -> Result<R, Errno> {
        let order = *self.by_id.get(id).ok_or(Errno::ESRCH)?;
        let spare = RBTreeNode::new((0, 0), (), GFP_KERNEL).map_err(|_| Errno::ENOMEM)?;
        let rec = self.by_order.get_mut(&order).ok_or(Errno::ESRCH)?;
        let before = timeline_key(order, rec);
        let out = f(rec)?;
        let after = timeline_key(order, rec);
        if before != after {
            let node = match before.and_then(|k| self.timeline.remove_node(&k)) {
                Some(n) => n,
                None => spare,
            };
            if let Some(k) = after {
                self.timeline
                    .insert(node.into_reservation().into_node(k, ()));
            }
        }
        Ok(out)
    }

    /// Whether an SA has identity `id`.
    pub(crate) fn contains(&self, id: &SaId) -> bool {
        self.by_id.get(id).is_some()
    }

    /// Adds `rec`, whose identity must be free; the newest SA dumps first.
    /// All memory is taken before the tables change, so a failure leaves
    /// them as they were.
    pub(crate) fn insert(&mut self, rec: SaRecord) -> Result<&SaRecord, Errno> {
        let order = self.next;
        let id = rec.id;
        let larval = (rec.state == SaState::Larval).then_some((rec.seq, order));
        let nomem = |_| Errno::ENOMEM;
        let by_id = RBTreeNode::new(id, order, GFP_KERNEL).map_err(nomem)?;
        let larval_node = match larval {
            Some(k) => Some(RBTreeNode::new(k, id, GFP_KERNEL).map_err(nomem)?),
            None => None,
        };
        let timed = match timeline_key(order, &rec) {
            Some(k) => Some(RBTreeNode::new(k, (), GFP_KERNEL).map_err(nomem)?),
            None => None,
        };
        let node = RBTreeNode::new(order, rec, GFP_KERNEL).map_err(nomem)?;
        self.next -= 1;
        if let Some(n) = timed {
            self.timeline.insert(n);
        }
        self.by_id.insert(by_id);
        if let Some(n) = larval_node {
            self.larval.insert(n);
        }
        self.by_order.insert(node);
        self.by_order.get(&order).ok_or(Errno::ENOMEM)
    }

    /// Removes and returns the SA with identity `id`.
    pub(crate) fn remove(&mut self, id: &SaId) -> Option<SaRecord> {
        let order = self.by_id.remove(id)?;
        self.remove_at(order)
    }

    /// Removes and returns the SA at `order`, from every index but `by_id`.
    fn remove_at(&mut self, order: Order) -> Option<SaRecord> {
        let rec = self.by_order.remove(&order)?;
        if rec.state == SaState::Larval {
            self.larval.remove(&(rec.seq, order));
        }
        if let Some(k) = timeline_key(order, &rec) {
            self.timeline.remove(&k);
        }
        Some(rec)
    }

    /// When the next lifetime event is due, if any SA has one.
    pub(crate) fn next_event(&self) -> Option<u64> {
        self.timeline.cursor_front().map(|c| c.current().0 .0)
    }

    /// Carries out the first lifetime event due at `now`: a soft one makes
    /// the SA dying, a hard one removes it. Returns the event and the SA as
    /// it is afterwards (dead if removed), for SADB_EXPIRE.
    pub(crate) fn expire_next(&mut self, now: u64) -> Option<(Expiry, SaRecord)> {
        let (when, order) = *self.timeline.cursor_front()?.current().0;
        if when > now {
            return None;
        }
        let node = self.timeline.remove_node(&(when, order))?;
        let rec = self.by_order.get_mut(&order)?;
        match rec.expiry_due(now) {
            Some(Expiry::Hard) => {
                let id = rec.id;
                self.by_id.remove(&id);
                // The queue entry is gone already; `remove_at` finds none.
                let mut rec = self.remove_at(order)?;
                rec.state = SaState::Dead;
                Some((Expiry::Hard, rec))
            }
            Some(Expiry::Soft) => {
                rec.state = SaState::Dying;
                let out = rec.clone();
                if let Some(k) = timeline_key(order, rec) {
                    self.timeline
                        .insert(node.into_reservation().into_node(k, ()));
                }
                Some((Expiry::Soft, out))
            }
            // Not due after all (the clock went back): queue it again.
            None => {
                if let Some(k) = timeline_key(order, rec) {
                    self.timeline
                        .insert(node.into_reservation().into_node(k, ()));
                }
                None
            }
        }
    }

    /// The larval SA made under `seq` (non-zero) for destination `dst`.
    pub(crate) fn larval_by_seq(&self, seq: u32, dst: &IpAddr) -> Option<SaId> {
        let mut from = (seq, 0);
        loop {
            let (key, id) = {
                let cur = self.larval.cursor_lower_bound(&from)?;
                let (&k, &id) = cur.current();
                (k, id)
            };
            if key.0 != seq {
                return None;
            }
            if id.dst == *dst {
                return Some(id);
            }
            from = (seq, key.1.checked_add(1)?);
        }
    }

    /// Removes every SA of protocol `proto` ([`PROTO_ANY`]: all); returns
    /// how many went.
    pub(crate) fn flush(&mut self, proto: u8) -> usize {
        if proto == PROTO_ANY {
            let n = self.by_id.iter().count();
            *self = SadTable {
                next: self.next,
                ..SadTable::new()
            };
            return n;
        }
        let mut n = 0;
        let mut cur = self.by_order.cursor_front_mut();
        while let Some(c) = cur {
            if c.current().1.id.proto != proto {
                cur = c.move_next();
                continue;
            }
            let (next, node) = c.remove_current();
            let (order, rec) = node.to_key_value();
            self.by_id.remove(&rec.id);
            self.larval.remove(&(rec.seq, order));
            if let Some(k) = timeline_key(order, &rec) {
                self.timeline.remove(&k);
            }
            n += 1;
            cur = next;
        }
        n
    }

    /// The first SA of protocol `proto` (or any) at or after `from` in dump
    /// order.
    pub(crate) fn next_from(&self, mut from: Order, proto: u8) -> Option<(Order, &SaRecord)> {
        loop {
            let order = *self.by_order.cursor_lower_bound(&from)?.current().0;
            let rec = self.by_order.get(&order)?;
            if proto == PROTO_ANY || rec.id.proto == proto {
                return Some((order, rec));
            }
            from = order.checked_add(1)?;
        }
    }
}
