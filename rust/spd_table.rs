// SPDX-License-Identifier: GPL-2.0

//! The SPD of one namespace. For the packet path, a lookup with lockless
//! (RCU) readers ([`SpdReader`]): policies between two single hosts in a
//! hash of (direction, source, destination), the others in one short list
//! per direction, each chain in lookup order (priority, then the older
//! first, as KAME and XFRM), so a lookup costs one hash chain plus the
//! list of non-host policies, however many host policies there are. For
//! the control plane, under the key mutex: policies in dump order (newest
//! first, as af_key walks its list), by (direction, selector) for SPDADD's
//! uniqueness and SPDDELETE (a host pair's in its lookup chain, the others
//! in a tree), and by policy id for SPDGET/SPDDELETE2.

#![forbid(unsafe_code)]

use crate::{
    kame_core::{
        errno::Errno,
        flow::Flow,
        hash::Hasher,
        pfkey::wire::IpAddr,
        spd::{PolicyRecord, Selector, MANUAL_REQID_MAX, MAX_DEPTH},
    },
    kapi::rcu_hash::{RcuHash, RcuHashWriter, Reclaim},
    sorted_log::SortedLog,
};
use core::cmp::Reverse;
use kernel::{
    prelude::*,
    rbtree::{RBTree, RBTreeNode},
    sync::{rcu::Guard, Arc, UniqueArc},
};

/// Position of a policy in dump order: smaller is newer.
pub(crate) type Order = u64;

/// A policy as the tables share it.
pub(crate) struct PolicyEntry {
    /// Its dump order: smaller is newer.
    pub(crate) order: Order,
    /// What PF_KEY said about it.
    pub(crate) rec: PolicyRecord,
}

// With the `Arc`'s reference count (aligned to 8) an entry takes a 512-byte
// kmalloc slab object, not a 1024-byte one: half the memory a bulk load
// touches.
const _: () = assert!(size_of::<PolicyEntry>() <= 512 - 8);

impl PolicyEntry {
    /// Lookup rank: lower priority value first, then the older.
    fn rank(&self) -> (u32, core::cmp::Reverse<Order>) {
        (self.rec.priority, core::cmp::Reverse(self.order))
    }
}

fn host_hash(seed: u32, dir: u8, src: &IpAddr, dst: &IpAddr) -> u32 {
    Hasher::new(seed)
        .u32(dir.into())
        .addr(src)
        .addr(dst)
        .finish()
}

/// The packet path's policy lookup: lockless, under an RCU read guard.
/// A clone shares the tables (a packet waiting for crypto keeps one).
#[derive(Clone)]
pub(crate) struct SpdReader {
    hosts: Arc<RcuHash<PolicyEntry>>,
    /// One chain per direction (hash = direction).
    rest: Arc<RcuHash<PolicyEntry>>,
    seed: u32,
}

impl SpdReader {
    /// Whether the SPD has no policy.
    pub(crate) fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.rest.is_empty()
    }

    /// The policy for a packet going direction `dir` (`IPSEC_DIR_*`): the
    /// first by priority, then age, whose selector matches.
    pub(crate) fn lookup<'a>(
        &'a self,
        g: &'a Guard,
        dir: u8,
        f: &Flow,
    ) -> Option<&'a Arc<PolicyEntry>> {
        let fits = |e: &PolicyEntry| {
            e.rec.dir == dir && e.rec.sel.matches(&f.src, &f.dst, f.sport, f.dport, f.proto)
        };
        let host = self
            .hosts
            .find(g, host_hash(self.seed, dir, &f.src, &f.dst), fits);
        let other = self.rest.find(g, dir.into(), fits);
        match (host, other) {
            (Some(h), Some(o)) => Some(if o.rank() < h.rank() { o } else { h }),
            (h, o) => h.or(o),
        }
    }
}

/// One namespace's policies, for the control plane (under the key mutex).
pub(crate) struct SpdTable {
    /// Newest last: each policy added goes at the end.
    by_order: SortedLog<Reverse<Order>, Arc<PolicyEntry>>,
    hosts: RcuHashWriter<PolicyEntry>,
    rest: RcuHashWriter<PolicyEntry>,
    seed: u32,
    /// The policies not between two single hosts by selector, and all by
    /// id. A host pair's selector is found in its lookup chain, which
    /// holds every policy of its direction and addresses: a tree descent
    /// and an allocation less per SPDADD (the selector's comparisons
    /// showed in profiles).
    by_sel: RBTree<(u8, Selector), Arc<PolicyEntry>>,
    /// Generated ids grow until the generator goes round, so each new
    /// policy's goes at the end too.
    by_id: SortedLog<u32, Arc<PolicyEntry>>,
    next: Order,
    /// Policy ids are `generator | direction`, as Linux's
    /// `xfrm_gen_index()`, so `id & 7` names the direction.
    id_generator: u32,
    /// The generator went round: its ids may be taken.
    id_wrapped: bool,
    /// The last reqid generated for a `unique` request.
    last_reqid: u32,
    /// How many requests use each generated reqid (above
    /// [`MANUAL_REQID_MAX`]): a fresh one is found without walking every
    /// policy, as af_key's `gen_reqid()` does for each candidate.
    reqids: RBTree<u32, u32>,
}

/// Counting nodes for the generated reqids a new policy brings, taken
/// before the tables change.
type ReqidNodes = [Option<RBTreeNode<u32, u32>>; MAX_DEPTH];

/// Whether `reqid` was generated (and so is counted in `reqids`).
fn generated(reqid: u32) -> bool {
    reqid > MANUAL_REQID_MAX
}

/// The allocation of a policy not yet in the SPD, taken before its record
/// is built so that the record is written there as it is built
/// ([`PolicyRecord::from_msg_into`] with [`NewPolicySlot::fill`]): a
/// record is 480 bytes, and each move of one through the stack was a
/// `memcpy`.
pub(crate) struct NewPolicySlot(UniqueArc<core::mem::MaybeUninit<PolicyEntry>>);

impl NewPolicySlot {
    /// An allocation for one policy.
    pub(crate) fn new() -> Result<Self, Errno> {
        UniqueArc::new_uninit(GFP_KERNEL)
            .map(NewPolicySlot)
            .map_err(|_| Errno::ENOMEM)
    }

    /// Writes `rec` into the allocation.
    pub(crate) fn fill(self, rec: PolicyRecord) -> NewPolicy {
        NewPolicy(self.0.write(PolicyEntry { order: 0, rec }))
    }
}

/// A policy not yet in the SPD, in the allocation the SPD will keep.
pub(crate) struct NewPolicy(UniqueArc<PolicyEntry>);

impl NewPolicy {
    /// The record.
    pub(crate) fn rec(&self) -> &PolicyRecord {
        &self.0.rec
    }
}

/// The record, to finish building it in place.
impl AsMut<PolicyRecord> for NewPolicy {
    fn as_mut(&mut self) -> &mut PolicyRecord {
        &mut self.0.rec
    }
}

/// Whether a policy is the one of direction `dir` with selector `sel`.
fn has_sel(dir: u8, sel: &Selector) -> impl Fn(&PolicyEntry) -> bool + '_ {
    move |e| e.rec.dir == dir && e.rec.sel == *sel
}

/// The direction a policy id encodes (0 in, 1 out, 2 fwd; as Linux).
pub(crate) fn id_dir(id: u32) -> u32 {
    id & 7
}

impl SpdTable {
    /// An empty SPD and its readers' side; `seed` keys the host hash.
    pub(crate) fn new(seed: u32) -> Result<(Self, SpdReader)> {
        let (hosts_r, hosts) = RcuHash::new()?;
        let (rest_r, rest) = RcuHash::new_fixed()?;
        let table = SpdTable {
            by_order: SortedLog::new(),
            hosts,
            rest,
            seed,
            by_sel: RBTree::new(),
            by_id: SortedLog::new(),
            // One below the top, so a dump can always resume at `order + 1`.
            next: Order::MAX - 1,
            id_generator: 0,
            id_wrapped: false,
            last_reqid: MANUAL_REQID_MAX,
            reqids: RBTree::new(),
        };
        let reader = SpdReader {
            hosts: hosts_r,
            rest: rest_r,
            seed,
        };
        Ok((table, reader))
    }

    /// The policy for direction `dir` with exactly selector `sel`.
    pub(crate) fn get_by_sel(&self, dir: u8, sel: &Selector) -> Option<&PolicyRecord> {
        Some(&self.entry_by_sel(dir, sel)?.rec)
    }

    fn entry_by_sel(&self, dir: u8, sel: &Selector) -> Option<&Arc<PolicyEntry>> {
        match self.chain_key(dir, sel) {
            (true, h) => self.hosts.get(h, has_sel(dir, sel)),
            (false, _) => self.by_sel.get(&(dir, *sel)),
        }
    }

    /// The policy with id `id`.
    pub(crate) fn get_by_id(&self, id: u32) -> Option<&PolicyRecord> {
        Some(&self.by_id.get(&id)?.rec)
    }

    /// Whether a policy of direction `dir` with selector `sel` is in the
    /// host hash (a host pair: its selector is found there too), and its
    /// hash there (its direction in the other chains).
    fn chain_key(&self, dir: u8, sel: &Selector) -> (bool, u32) {
        if sel.is_host_pair() {
            (true, host_hash(self.seed, dir, &sel.src, &sel.dst))
        } else {
            (false, dir.into())
        }
    }

    fn chain(&mut self, host: bool) -> &mut RcuHashWriter<PolicyEntry> {
        if host {
            &mut self.hosts
        } else {
            &mut self.rest
        }
    }

    /// A fresh id for a policy of IPsec direction `dir` (1..3).
    fn gen_id(&mut self, dir: u8) -> u32 {
        let xdir = u32::from(dir).saturating_sub(1);
        loop {
            let mut id = self.id_generator | xdir;
            let (next, wrapped) = self.id_generator.overflowing_add(8);
            self.id_generator = next;
            self.id_wrapped |= wrapped;
            if id == 0 {
                id = 8;
            }
            // Until the generator goes round its ids are new, but for 8,
            // which also stands in for 0: no lookup for the others.
            if (!self.id_wrapped && id != 8) || self.by_id.get(&id).is_none() {
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
            let used = self.reqids.get(&r).is_some();
            if !used {
                return Some(r);
            }
            if self.last_reqid == start {
                return None;
            }
        }
    }

    /// Adds `rec` under a fresh id, or under `keep_id` when it replaces a
    /// policy (SPDUPDATE), and returns it as stored. The selector must be
    /// free. Memory is taken before the tables change.
    pub(crate) fn insert(
        &mut self,
        rec: PolicyRecord,
        keep_id: Option<u32>,
    ) -> Result<Arc<PolicyEntry>, Errno> {
        self.insert_new(NewPolicySlot::new()?.fill(rec), keep_id)
    }

    /// As [`SpdTable::insert`], for a policy already in its allocation.
    pub(crate) fn insert_new(
        &mut self,
        mut p: NewPolicy,
        keep_id: Option<u32>,
    ) -> Result<Arc<PolicyEntry>, Errno> {
        let order = self.next;
        let nomem = |_| Errno::ENOMEM;
        p.0.order = order;
        p.0.rec.id = match keep_id {
            Some(id) => id,
            None => self.gen_id(p.0.rec.dir),
        };
        let entry: Arc<PolicyEntry> = p.0.into();
        let by_sel = if entry.rec.sel.is_host_pair() {
            None
        } else {
            let key = (entry.rec.dir, entry.rec.sel);
            Some(RBTreeNode::new(key, entry.clone(), GFP_KERNEL).map_err(nomem)?)
        };
        self.by_id.reserve().map_err(nomem)?;
        self.by_order.reserve().map_err(nomem)?;
        let (host, h) = self.chain_key(entry.rec.dir, &entry.rec.sel);
        let pending = RcuHashWriter::prepare(h, entry.clone()).map_err(nomem)?;
        let reqid_nodes = self.reqid_nodes(&entry.rec)?;
        // Room was made in both logs: neither insertion fails.
        self.by_id
            .insert(entry.rec.id, entry.clone())
            .map_err(nomem)?;
        if let Err(e) = self.by_order.insert(Reverse(order), entry.clone()) {
            self.by_id.remove(&entry.rec.id);
            return Err(nomem(e));
        }
        self.next -= 1;
        self.count_reqids(&entry.rec, reqid_nodes);
        if let Some(n) = by_sel {
            self.by_sel.insert(n);
        }
        let rank = entry.rank();
        self.chain(host).link(pending, |e| e.rank() > rank);
        Ok(entry)
    }

    /// Nodes for `rec`'s generated reqids that no policy uses yet.
    fn reqid_nodes(&self, rec: &PolicyRecord) -> Result<ReqidNodes, Errno> {
        let mut nodes: ReqidNodes = Default::default();
        for (q, n) in rec.bundle().zip(nodes.iter_mut()) {
            if generated(q.reqid) && self.reqids.get(&q.reqid).is_none() {
                *n = Some(RBTreeNode::new(q.reqid, 0, GFP_KERNEL).map_err(|_| Errno::ENOMEM)?);
            }
        }
        Ok(nodes)
    }

    /// Counts `rec`'s generated reqids, in `nodes` where they are new.
    fn count_reqids(&mut self, rec: &PolicyRecord, nodes: ReqidNodes) {
        for (q, n) in rec.bundle().zip(nodes) {
            if !generated(q.reqid) {
                continue;
            }
            if let Some(n) = n.filter(|_| self.reqids.get(&q.reqid).is_none()) {
                self.reqids.insert(n);
            }
            if let Some(c) = self.reqids.get_mut(&q.reqid) {
                *c += 1;
            }
        }
    }

    /// Uncounts the generated reqids of `rec`, a policy removed.
    fn uncount_reqids(&mut self, rec: &PolicyRecord) {
        for q in rec.bundle().filter(|q| generated(q.reqid)) {
            let last = match self.reqids.get_mut(&q.reqid) {
                Some(c) => {
                    *c -= 1;
                    *c == 0
                }
                None => false,
            };
            if last {
                self.reqids.remove(&q.reqid);
            }
        }
    }

    /// Removes and returns the policy for `dir` with selector `sel`.
    pub(crate) fn remove_by_sel(&mut self, dir: u8, sel: &Selector) -> Option<PolicyRecord> {
        let (host, h) = self.chain_key(dir, sel);
        let order = if host {
            self.hosts.get(h, has_sel(dir, sel))?.order
        } else {
            self.by_sel.remove(&(dir, *sel))?.order
        };
        let entry = self.by_order.remove(&Reverse(order))?;
        self.by_id.remove(&entry.rec.id);
        self.unlink(&entry, host, h);
        Some(entry.rec.clone())
    }

    /// Takes `e`, gone from the logs and the selector tree, out of the
    /// reqid counts and its lookup chain (`host`, hash `h`).
    fn unlink(&mut self, e: &PolicyEntry, host: bool, h: u32) {
        self.uncount_reqids(&e.rec);
        let order = e.order;
        self.chain(host).remove(h, |x| x.order == order);
    }

    /// Removes and returns the policy with id `id`.
    pub(crate) fn remove_by_id(&mut self, id: u32) -> Option<PolicyRecord> {
        let (dir, sel) = {
            let r = &self.by_id.get(&id)?.rec;
            (r.dir, r.sel)
        };
        self.remove_by_sel(dir, &sel)
    }

    /// Removes every policy; returns how many went.
    pub(crate) fn flush(&mut self) -> usize {
        let mut n = 0;
        self.by_id.take_all();
        for e in self
            .by_order
            .take_all()
            .iter()
            .filter_map(|(_, e)| e.as_ref())
        {
            let (dir, sel) = (e.rec.dir, &e.rec.sel);
            let (host, h) = self.chain_key(dir, sel);
            if !host {
                self.by_sel.remove(&(dir, *sel));
            }
            self.unlink(e, host, h);
            n += 1;
        }
        n
    }

    /// Calls `f` on each policy from `from` on, in dump order, until it
    /// returns `false` (as [`SadTable::walk_from`]).
    ///
    /// [`SadTable::walk_from`]: crate::sad_table::SadTable::walk_from
    pub(crate) fn walk_from(&self, from: Order, mut f: impl FnMut(Order, &PolicyRecord) -> bool) {
        for (Reverse(order), e) in self.by_order.down_from(&Reverse(from)) {
            if !f(order, &e.rec) {
                return;
            }
        }
    }

    /// What the lookup unlinked, to free after a grace period once the key
    /// mutex is released.
    pub(crate) fn take_retired(&mut self) -> [Reclaim<PolicyEntry>; 2] {
        [self.hosts.take_retired(), self.rest.take_retired()]
    }
}
