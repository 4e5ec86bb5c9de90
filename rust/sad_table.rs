// SPDX-License-Identifier: GPL-2.0

//! The SAD of one namespace. For the packet path, two hash tables with
//! lockless (RCU) readers: SAs by identity (destination, SPI, protocol), for
//! inbound packets, and by address pair and protocol, newest first, for
//! outbound SA selection ([`SadReader`]). For the control plane, under the
//! key mutex: SAs in dump order (newest first, as af_key walks its list),
//! the larval SAs by the `sadb_msg_seq` that made them, and every SA with a
//! time limit by when it next expires (the lifetime timer's queue).
//!
//! An SA's record does not change once published: a change (state,
//! lifetimes) publishes a copy in its place, so a reader sees the old or the
//! new one whole. What the data path counts lives beside it, in the SA's
//! transform ([`SaUse`]), shared by the copies.

#![forbid(unsafe_code)]

use crate::{
    kame_core::{
        acquire::Template,
        errno::Errno,
        hash::Hasher,
        pfkey::wire::IpAddr,
        sad::{Counted, Expiry, SaId, SaRecord, SaState, MODE_ANY, PROTO_ANY},
    },
    kapi::{
        rcu_hash::{Pending, RcuHash, RcuHashWriter, Reclaim},
        route_cache::RouteCache,
    },
    sa_crypto::{AhTransform, EspTransform, SaTransform},
    sa_use::SaUse,
    sorted_log::SortedLog,
    spi_index::SpiIndex,
};
use core::cmp::Reverse;
use kernel::{
    prelude::*,
    rbtree::{RBTree, RBTreeNode},
    sync::{rcu::Guard, Arc, UniqueArc},
};

/// Position of an SA in dump order: smaller is newer.
pub(crate) type Order = u64;

/// An SA as the tables share it.
pub(crate) struct SaEntry {
    /// Its dump order, which also ranks it newest first.
    pub(crate) order: Order,
    /// What PF_KEY said about it.
    pub(crate) rec: SaRecord,
    /// Its crypto, set up when it was added (none while larval). Shared by
    /// the copies a change publishes.
    pub(crate) xform: Option<Arc<SaTransform>>,
}

impl SaEntry {
    /// The route cache of a tunnel-mode SA with a transform.
    pub(crate) fn route_cache(&self) -> Option<&RouteCache> {
        self.xform.as_ref().and_then(|x| x.route.as_ref())
    }

    /// The ESP transform, for an ESP SA with one: packets reach it through
    /// the SA they hold rather than with a reference of their own.
    pub(crate) fn esp(&self) -> Option<&EspTransform> {
        self.xform.as_ref().and_then(|x| x.esp()).map(|e| &**e)
    }

    /// The AH transform, for an AH SA with one (as [`SaEntry::esp`]).
    pub(crate) fn ah(&self) -> Option<&AhTransform> {
        self.xform.as_ref().and_then(|x| x.ah()).map(|a| &**a)
    }

    /// Whether every packet taken in through the SA had its ICV checked:
    /// AH, or ESP with an AEAD or an authenticator (not `null`).
    pub(crate) fn authenticates(&self) -> bool {
        self.ah().is_some_and(|a| a.icvlen > 0) || self.esp().is_some_and(|e| e.geom.icv_len > 0)
    }

    /// What the data path counted on this SA, if it has a transform.
    pub(crate) fn usage(&self) -> Option<&SaUse> {
        self.xform.as_ref().and_then(|x| x.usage())
    }

    /// Whether the packet path may pick this SA: not ended by its use.
    fn usable(&self) -> bool {
        self.usage().is_none_or(|u| !u.hard_reached())
    }

    /// The record as PF_KEY reports it: with the current lifetime's
    /// allocations, bytes and first use as counted so far, and the last
    /// sequence number sent (FreeBSD's `sadb_x_sa2_sequence`).
    pub(crate) fn report(&self) -> SaRecord {
        let c = self.counted();
        let mut rec = self.rec.clone();
        rec.current = c.current;
        rec.out_seq = c.out_seq;
        rec
    }

    /// What [`Self::report`] changes in the record, without a copy of it.
    pub(crate) fn counted(&self) -> Counted {
        let mut c = self.rec.counted();
        if let Some(u) = self.usage() {
            c.current = self.rec.current_with(&u.usage());
        }
        if let Some(s) = self.xform.as_ref().and_then(|x| x.last_seq()) {
            c.out_seq = s;
        }
        c
    }
}

fn id_hash(seed: u32, id: &SaId) -> u32 {
    Hasher::new(seed)
        .addr(&id.dst)
        .u32(id.spi)
        .u32(id.proto.into())
        .finish()
}

fn pair_hash(seed: u32, src: &IpAddr, dst: &IpAddr, proto: u8) -> u32 {
    Hasher::new(seed)
        .addr(src)
        .addr(dst)
        .u32(proto.into())
        .finish()
}

/// The packet path's lookups: lockless, under an RCU read guard. A clone
/// shares the tables (a packet waiting for crypto keeps one).
#[derive(Clone)]
pub(crate) struct SadReader {
    ids: Arc<RcuHash<SaEntry>>,
    pairs: Arc<RcuHash<SaEntry>>,
    seed: u32,
}

impl SadReader {
    /// The SA with identity `id` (inbound packets, SADB_GET), in any state.
    pub(crate) fn by_id<'a>(&'a self, g: &'a Guard, id: &SaId) -> Option<&'a Arc<SaEntry>> {
        self.ids
            .find(g, id_hash(self.seed, id), |e| e.rec.id == *id)
    }

    /// The SA an outbound packet should use for (src, dst, proto, mode,
    /// reqid), as KAME chooses: the newest mature one, else the newest
    /// dying one; none that its use ended (XFRM's expired states).
    /// Mode [`MODE_ANY`] and reqid 0 match any.
    pub(crate) fn for_output<'a>(
        &'a self,
        g: &'a Guard,
        src: &IpAddr,
        dst: &IpAddr,
        proto: u8,
        mode: u8,
        reqid: u32,
    ) -> Option<&'a Arc<SaEntry>> {
        let h = pair_hash(self.seed, src, dst, proto);
        let fits = |e: &SaEntry, state| {
            e.rec.state == state
                && e.rec.src == *src
                && e.rec.id.dst == *dst
                && e.rec.id.proto == proto
                && (mode == MODE_ANY || e.rec.mode == mode)
                && (reqid == 0 || e.rec.reqid == reqid)
                && e.usable()
        };
        self.pairs
            .find(g, h, |e| fits(e, SaState::Mature))
            .or_else(|| self.pairs.find(g, h, |e| fits(e, SaState::Dying)))
    }
}

/// One namespace's SAs, for the control plane (under the key mutex).
pub(crate) struct SadTable {
    /// Newest last: each SA added goes at the end.
    by_order: SortedLog<Reverse<Order>, Arc<SaEntry>>,
    ids: RcuHashWriter<SaEntry>,
    pairs: RcuHashWriter<SaEntry>,
    larval: RBTree<(u32, Order), SaId>,
    /// `(when, order)` of each SA's next lifetime event.
    timeline: RBTree<(u64, Order), ()>,
    /// Which SPIs are taken, for GETSPI.
    spis: SpiIndex,
    seed: u32,
    next: Order,
}

/// Where `rec` (at `order`) sits in the lifetime queue, if anywhere.
fn timeline_key(order: Order, rec: &SaRecord) -> Option<(u64, Order)> {
    rec.next_expiry().map(|(when, _)| (when, order))
}

/// The memory to publish one entry, taken before anything changes.
struct Prepared {
    id: Pending<SaEntry>,
    pair: Pending<SaEntry>,
    entry: Arc<SaEntry>,
}

/// An SA not yet in the SAD, already in the allocation the SAD will keep:
/// a record is 360 bytes, and each move of one on its way in was a
/// `memcpy` that showed in SADB_ADD's profile (7% of its samples, with
/// the transform's name and key).
pub(crate) struct NewSa(UniqueArc<SaEntry>);

/// The allocation of a [`NewSa`], taken before its record is built, so
/// that the record can be written there as it is built
/// ([`SaRecord::from_msg_into`] with [`NewSaSlot::fill`]) rather than moved
/// in (twice, through the stack).
pub(crate) struct NewSaSlot(UniqueArc<core::mem::MaybeUninit<SaEntry>>);

impl NewSaSlot {
    /// An allocation for one SA.
    pub(crate) fn new() -> Result<Self, Errno> {
        UniqueArc::new_uninit(GFP_KERNEL)
            .map(NewSaSlot)
            .map_err(|_| Errno::ENOMEM)
    }

    /// Writes `rec` into the allocation, with no transform yet.
    pub(crate) fn fill(self, rec: SaRecord) -> NewSa {
        NewSa(self.0.write(SaEntry {
            order: 0,
            rec,
            xform: None,
        }))
    }
}

impl NewSa {
    /// `rec` in its own allocation, with no transform yet.
    pub(crate) fn new(rec: SaRecord) -> Result<Self, Errno> {
        Ok(NewSaSlot::new()?.fill(rec))
    }

    /// The record.
    pub(crate) fn rec(&self) -> &SaRecord {
        &self.0.rec
    }

    /// The record, to change before it is stored.
    pub(crate) fn rec_mut(&mut self) -> &mut SaRecord {
        &mut self.0.rec
    }

    /// Gives the SA its crypto.
    pub(crate) fn set_xform(&mut self, xform: Option<Arc<SaTransform>>) {
        self.0.xform = xform;
    }
}

impl SadTable {
    /// An empty SAD and its readers' side; `seed` keys the hashes.
    pub(crate) fn new(seed: u32) -> Result<(Self, SadReader)> {
        let (ids_r, ids) = RcuHash::new()?;
        let (pairs_r, pairs) = RcuHash::new()?;
        let table = SadTable {
            by_order: SortedLog::new(),
            ids,
            pairs,
            larval: RBTree::new(),
            timeline: RBTree::new(),
            spis: SpiIndex::new(seed),
            seed,
            // One below the top, so a dump can always resume at `order + 1`.
            next: Order::MAX - 1,
        };
        let reader = SadReader {
            ids: ids_r,
            pairs: pairs_r,
            seed,
        };
        Ok((table, reader))
    }

    fn prepare(&self, order: Order, mut sa: NewSa) -> Result<Prepared, Errno> {
        sa.0.order = order;
        let entry: Arc<SaEntry> = sa.0.into();
        let r = &entry.rec;
        let id = RcuHashWriter::prepare(id_hash(self.seed, &r.id), entry.clone())
            .map_err(|_| Errno::ENOMEM)?;
        let h = pair_hash(self.seed, &r.src, &r.id.dst, r.id.proto);
        let pair = RcuHashWriter::prepare(h, entry.clone()).map_err(|_| Errno::ENOMEM)?;
        Ok(Prepared { id, pair, entry })
    }

    /// The SA with identity `id`.
    pub(crate) fn get(&self, id: &SaId) -> Option<&SaRecord> {
        let e = self.ids.get(id_hash(self.seed, id), |e| e.rec.id == *id)?;
        Some(&e.rec)
    }

    /// Whether an SA of protocol `proto` uses `spi`, for any destination
    /// (af_key's rule for GETSPI).
    pub(crate) fn spi_in_use(&self, spi: u32, proto: u8) -> bool {
        self.spis.contains(spi, proto)
    }

    /// Changes the SA with identity `id` with `f`, which must not change
    /// its identity, addresses or state larval, and publishes the result in
    /// its place; its lifetime event moves with it. ESRCH if there is none,
    /// ENOMEM (and no change) if memory is short, or `f`'s error.
    pub(crate) fn update<R>(
        &mut self,
        id: &SaId,
        f: impl FnOnce(&mut SaRecord) -> Result<R, Errno>,
    ) -> Result<R, Errno> {
        let order = self
            .ids
            .get(id_hash(self.seed, id), |e| e.rec.id == *id)
            .ok_or(Errno::ESRCH)?
            .order;
        self.update_at(order, f)
    }

    /// As [`SadTable::update`], for the SA at `order`.
    pub(crate) fn update_at<R>(
        &mut self,
        order: Order,
        f: impl FnOnce(&mut SaRecord) -> Result<R, Errno>,
    ) -> Result<R, Errno> {
        let old = self.by_order.get(&Reverse(order)).ok_or(Errno::ESRCH)?;
        let mut sa = NewSa::new(old.rec.clone())?;
        sa.set_xform(old.xform.clone());
        let out = f(sa.rec_mut())?;
        let spare = RBTreeNode::new((0, 0), (), GFP_KERNEL).map_err(|_| Errno::ENOMEM)?;
        let p = self.prepare(order, sa)?;
        self.publish_copy(p, spare);
        Ok(out)
    }

    /// Puts a prepared copy of an SA in the place of the one with its order
    /// in every table; `spare` is a queue node in case the copy needs one
    /// and the original had none.
    fn publish_copy(&mut self, p: Prepared, spare: RBTreeNode<(u64, Order), ()>) {
        let order = p.entry.order;
        let Some(slot) = self.by_order.get_mut(&Reverse(order)) else {
            return;
        };
        let before = timeline_key(order, &slot.rec);
        let after = timeline_key(order, &p.entry.rec);
        *slot = p.entry;
        let _ = self.ids.replace(p.id, |e| e.order == order);
        let _ = self.pairs.replace(p.pair, |e| e.order == order);
        if before != after {
            let node = before
                .and_then(|k| self.timeline.remove_node(&k))
                .unwrap_or(spare);
            if let Some(k) = after {
                self.timeline
                    .insert(node.into_reservation().into_node(k, ()));
            }
        }
    }

    /// Adds `rec` with its crypto `xform`; its identity must be free; the
    /// newest SA dumps first. All memory is taken before the tables change,
    /// so a failure leaves them as they were.
    pub(crate) fn insert(
        &mut self,
        rec: SaRecord,
        xform: Option<Arc<SaTransform>>,
    ) -> Result<Arc<SaEntry>, Errno> {
        let mut sa = NewSa::new(rec)?;
        sa.set_xform(xform);
        self.insert_new(sa)
    }

    /// As [`SadTable::insert`], for an SA already in its allocation.
    pub(crate) fn insert_new(&mut self, sa: NewSa) -> Result<Arc<SaEntry>, Errno> {
        let order = self.next;
        let rec = sa.rec();
        let id = rec.id;
        let nomem = |_| Errno::ENOMEM;
        let larval_node = match (rec.state == SaState::Larval).then_some((rec.seq, order)) {
            Some(k) => Some(RBTreeNode::new(k, id, GFP_KERNEL).map_err(nomem)?),
            None => None,
        };
        let timed = match timeline_key(order, rec) {
            Some(k) => Some(RBTreeNode::new(k, (), GFP_KERNEL).map_err(nomem)?),
            None => None,
        };
        self.by_order.reserve().map_err(nomem)?;
        self.spis.reserve().map_err(nomem)?;
        let p = self.prepare(order, sa)?;
        // Room was made: this does not fail.
        self.by_order
            .insert(Reverse(order), p.entry.clone())
            .map_err(nomem)?;
        self.next -= 1;
        self.spis.add(id.spi, id.proto);
        if let Some(n) = larval_node {
            self.larval.insert(n);
        }
        if let Some(n) = timed {
            self.timeline.insert(n);
        }
        // Newest first: before every older entry.
        self.ids.link(p.id, |e| e.order > order);
        self.pairs.link(p.pair, |e| e.order > order);
        Ok(p.entry)
    }

    /// The SA at `order`, if it is still in the SAD.
    pub(crate) fn entry_at(&self, order: Order) -> Option<&Arc<SaEntry>> {
        self.by_order.get(&Reverse(order))
    }

    /// The SA with identity `id`, with what the data path counted.
    pub(crate) fn entry(&self, id: &SaId) -> Option<&Arc<SaEntry>> {
        self.ids.get(id_hash(self.seed, id), |e| e.rec.id == *id)
    }

    /// Removes and returns the SA with identity `id`, as PF_KEY reports
    /// it.
    pub(crate) fn remove(&mut self, id: &SaId) -> Option<SaRecord> {
        let order = self
            .ids
            .get(id_hash(self.seed, id), |e| e.rec.id == *id)?
            .order;
        self.remove_at(order)
    }

    /// Removes the SA at `order` from every table and returns its record,
    /// as PF_KEY reports it.
    pub(crate) fn remove_at(&mut self, order: Order) -> Option<SaRecord> {
        let entry = self.by_order.remove(&Reverse(order))?;
        let rec = &entry.rec;
        self.spis.remove(rec.id.spi, rec.id.proto);
        self.ids
            .remove(id_hash(self.seed, &rec.id), |e| e.order == order);
        let h = pair_hash(self.seed, &rec.src, &rec.id.dst, rec.id.proto);
        self.pairs.remove(h, |e| e.order == order);
        if rec.state == SaState::Larval {
            self.larval.remove(&(rec.seq, order));
        }
        if let Some(k) = timeline_key(order, rec) {
            self.timeline.remove(&k);
        }
        Some(entry.report())
    }

    /// When the next lifetime event is due, if any SA has one.
    pub(crate) fn next_event(&self) -> Option<u64> {
        self.timeline.cursor_front().map(|c| c.current().0 .0)
    }

    /// Carries out the first lifetime event due at `now`: a soft one makes
    /// the SA dying, a hard one removes it. Returns the event and the SA as
    /// it is afterwards (dead if removed), for SADB_EXPIRE. If memory for
    /// the dying copy is short, the event is retried at the next run.
    pub(crate) fn expire_next(&mut self, now: u64) -> Option<(Expiry, SaRecord)> {
        let (when, order) = *self.timeline.cursor_front()?.current().0;
        if when > now {
            return None;
        }
        let entry = self.by_order.get(&Reverse(order))?.clone();
        match entry.rec.expiry_due(now)? {
            Expiry::Hard => {
                let mut rec = self.remove_at(order)?;
                rec.state = SaState::Dead;
                Some((Expiry::Hard, rec))
            }
            Expiry::Soft => {
                let mut sa = NewSa::new(entry.rec.clone()).ok()?;
                sa.rec_mut().state = SaState::Dying;
                sa.set_xform(entry.xform.clone());
                let spare = RBTreeNode::new((0, 0), (), GFP_KERNEL).ok()?;
                let p = self.prepare(order, sa).ok()?;
                self.publish_copy(p, spare);
                Some((Expiry::Soft, self.by_order.get(&Reverse(order))?.report()))
            }
        }
    }

    /// Whether an SA for `t` exists, larval (GETSPI made it: XFRM's ACQ
    /// state with an SPI), mature or dying, so no ACQUIRE is needed.
    pub(crate) fn covers(&self, t: &Template) -> bool {
        let h = pair_hash(self.seed, &t.src, &t.dst, t.proto);
        self.pairs
            .get(h, |e| {
                let r = &e.rec;
                r.state != SaState::Dead
                    && r.src == t.src
                    && r.id.dst == t.dst
                    && r.id.proto == t.proto
                    && (t.mode == MODE_ANY || r.mode == t.mode)
                    && (t.reqid == 0 || r.reqid == t.reqid)
            })
            .is_some()
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
        let mut n = 0;
        let mut from = 0;
        while let Some((order, _)) = self.next_from(from, proto) {
            self.remove_at(order);
            n += 1;
            from = order;
        }
        n
    }

    /// The first SA of protocol `proto` (or any) at or after `from` in dump
    /// order.
    pub(crate) fn next_from(&self, from: Order, proto: u8) -> Option<(Order, &SaRecord)> {
        self.by_order
            .down_from(&Reverse(from))
            .find(|(_, e)| proto == PROTO_ANY || e.rec.id.proto == proto)
            .map(|(Reverse(order), e)| (order, &e.rec))
    }

    /// Calls `f` on each SA of protocol `proto` (or any) from `from` on,
    /// in dump order, until it returns `false`.
    pub(crate) fn walk_from(
        &self,
        from: Order,
        proto: u8,
        mut f: impl FnMut(Order, &SaEntry) -> bool,
    ) {
        for (Reverse(order), e) in self.by_order.down_from(&Reverse(from)) {
            if (proto == PROTO_ANY || e.rec.id.proto == proto) && !f(order, e) {
                return;
            }
        }
    }

    /// What the hashes unlinked, to free after a grace period once the key
    /// mutex is released.
    pub(crate) fn take_retired(&mut self) -> [Reclaim<SaEntry>; 2] {
        [self.ids.take_retired(), self.pairs.take_retired()]
    }
}
