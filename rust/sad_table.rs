// SPDX-License-Identifier: GPL-2.0

//! The SAD of one namespace: SA records by identity (destination, SPI,
//! protocol), in dump order (newest first, as af_key walks its list), and
//! the larval SAs by the `sadb_msg_seq` that made them.
//!
//! Every method runs under the namespace's key mutex ([`crate::keydb`]).
//! TODO[B]: the packet path's lockless (RCU) lookups arrive with it.

#![forbid(unsafe_code)]

use crate::kame_core::{
    errno::Errno,
    pfkey::wire::IpAddr,
    sad::{SaId, SaRecord, SaState, PROTO_ANY},
};
use kernel::{prelude::*, rbtree::RBTree, rbtree::RBTreeNode};

/// Position of an SA in dump order: smaller is newer.
pub(crate) type Order = u64;

/// One namespace's SAs.
pub(crate) struct SadTable {
    by_order: RBTree<Order, SaRecord>,
    by_id: RBTree<SaId, Order>,
    larval: RBTree<(u32, Order), SaId>,
    next: Order,
}

impl SadTable {
    pub(crate) fn new() -> Self {
        SadTable {
            by_order: RBTree::new(),
            by_id: RBTree::new(),
            larval: RBTree::new(),
            // One below the top, so a dump can always resume at `order + 1`.
            next: Order::MAX - 1,
        }
    }

    /// The SA with identity `id`.
    pub(crate) fn get(&self, id: &SaId) -> Option<&SaRecord> {
        self.by_order.get(self.by_id.get(id)?)
    }

    /// The SA with identity `id`, to change in place (fields that are not
    /// part of its identity or order).
    pub(crate) fn get_mut(&mut self, id: &SaId) -> Option<&mut SaRecord> {
        let order = *self.by_id.get(id)?;
        self.by_order.get_mut(&order)
    }

    /// Whether an SA of protocol `proto` uses `spi`, for any destination.
    pub(crate) fn spi_in_use(&self, spi: u32, proto: u8) -> bool {
        self.by_order
            .values()
            .any(|r| r.id.spi == spi && r.id.proto == proto)
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
        let node = RBTreeNode::new(order, rec, GFP_KERNEL).map_err(nomem)?;
        self.next -= 1;
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
        let rec = self.by_order.remove(&order)?;
        if rec.state == SaState::Larval {
            self.larval.remove(&(rec.seq, order));
        }
        Some(rec)
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
