// SPDX-License-Identifier: GPL-2.0

//! The SPD of one namespace: policies in dump order (newest first, as
//! af_key walks its list), by (direction, selector) for SPDADD's
//! uniqueness and SPDDELETE, and by policy id for SPDGET/SPDDELETE2.
//!
//! Every method runs under the namespace's key mutex ([`crate::keydb`]).
//! TODO[B]: the packet path's ordered, hashed lookup arrives with it.

#![forbid(unsafe_code)]

use crate::kame_core::{
    errno::Errno,
    spd::{PolicyRecord, Selector, MANUAL_REQID_MAX},
};
use kernel::{prelude::*, rbtree::RBTree, rbtree::RBTreeNode};

/// Position of a policy in dump order: smaller is newer.
pub(crate) type Order = u64;

/// One namespace's policies.
pub(crate) struct SpdTable {
    by_order: RBTree<Order, PolicyRecord>,
    by_sel: RBTree<(u8, Selector), Order>,
    by_id: RBTree<u32, Order>,
    next: Order,
    /// Policy ids are `generator | direction`, as Linux's
    /// `xfrm_gen_index()`, so `id & 7` names the direction.
    id_generator: u32,
    /// The last reqid generated for a `unique` request.
    last_reqid: u32,
}

/// The direction a policy id encodes (0 in, 1 out, 2 fwd; as Linux).
pub(crate) fn id_dir(id: u32) -> u32 {
    id & 7
}

impl SpdTable {
    pub(crate) fn new() -> Self {
        SpdTable {
            by_order: RBTree::new(),
            by_sel: RBTree::new(),
            by_id: RBTree::new(),
            // One below the top, so a dump can always resume at `order + 1`.
            next: Order::MAX - 1,
            id_generator: 0,
            last_reqid: MANUAL_REQID_MAX,
        }
    }

    /// The policy for direction `dir` with exactly selector `sel`.
    pub(crate) fn get_by_sel(&self, dir: u8, sel: &Selector) -> Option<&PolicyRecord> {
        self.by_order.get(self.by_sel.get(&(dir, *sel))?)
    }

    /// The policy with id `id`.
    pub(crate) fn get_by_id(&self, id: u32) -> Option<&PolicyRecord> {
        self.by_order.get(self.by_id.get(&id)?)
    }

    /// A fresh id for a policy of IPsec direction `dir` (1..3).
    fn gen_id(&mut self, dir: u8) -> u32 {
        let xdir = u32::from(dir).saturating_sub(1);
        loop {
            let mut id = self.id_generator | xdir;
            self.id_generator = self.id_generator.wrapping_add(8);
            if id == 0 {
                id = 8;
            }
            if self.by_id.get(&id).is_none() {
                return id;
            }
        }
    }

    /// A reqid above the manual range that no policy uses (af_key's
    /// `gen_reqid()`); `None` when all are taken.
    pub(crate) fn gen_reqid(&mut self) -> Option<u32> {
        let start = self.last_reqid;
        loop {
            self.last_reqid = match self.last_reqid.wrapping_add(1) {
                0 => MANUAL_REQID_MAX + 1,
                r => r,
            };
            let r = self.last_reqid;
            let used = self
                .by_order
                .values()
                .any(|p| p.bundle().any(|q| q.reqid == r));
            if !used {
                return Some(r);
            }
            if self.last_reqid == start {
                return None;
            }
        }
    }

    /// Adds `rec` under a fresh id, or under `keep_id` when it replaces a
    /// policy (SPDUPDATE). The selector must be free. Memory is taken
    /// before the tables change.
    pub(crate) fn insert(
        &mut self,
        mut rec: PolicyRecord,
        keep_id: Option<u32>,
    ) -> Result<&PolicyRecord, Errno> {
        let order = self.next;
        let nomem = |_| Errno::ENOMEM;
        rec.id = match keep_id {
            Some(id) => id,
            None => self.gen_id(rec.dir),
        };
        let by_sel = RBTreeNode::new((rec.dir, rec.sel), order, GFP_KERNEL).map_err(nomem)?;
        let by_id = RBTreeNode::new(rec.id, order, GFP_KERNEL).map_err(nomem)?;
        let node = RBTreeNode::new(order, rec, GFP_KERNEL).map_err(nomem)?;
        self.next -= 1;
        self.by_sel.insert(by_sel);
        self.by_id.insert(by_id);
        self.by_order.insert(node);
        self.by_order.get(&order).ok_or(Errno::ENOMEM)
    }

    /// Removes and returns the policy for `dir` with selector `sel`.
    pub(crate) fn remove_by_sel(&mut self, dir: u8, sel: &Selector) -> Option<PolicyRecord> {
        let order = self.by_sel.remove(&(dir, *sel))?;
        let rec = self.by_order.remove(&order)?;
        self.by_id.remove(&rec.id);
        Some(rec)
    }

    /// Removes and returns the policy with id `id`.
    pub(crate) fn remove_by_id(&mut self, id: u32) -> Option<PolicyRecord> {
        let order = *self.by_id.get(&id)?;
        let (dir, sel) = {
            let r = self.by_order.get(&order)?;
            (r.dir, r.sel)
        };
        self.remove_by_sel(dir, &sel)
    }

    /// Removes every policy; returns how many went.
    pub(crate) fn flush(&mut self) -> usize {
        let n = self.by_id.iter().count();
        *self = SpdTable {
            next: self.next,
            id_generator: self.id_generator,
            last_reqid: self.last_reqid,
            ..SpdTable::new()
        };
        n
    }

    /// The first policy at or after `from` in dump order.
    pub(crate) fn next_from(&self, from: Order) -> Option<(Order, &PolicyRecord)> {
        let order = *self.by_order.cursor_lower_bound(&from)?.current().0;
        Some((order, self.by_order.get(&order)?))
    }
}
