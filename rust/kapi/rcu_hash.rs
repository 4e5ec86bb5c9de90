// SPDX-License-Identifier: GPL-2.0

//! A hash table with lockless (RCU) readers and one writer, for the packet
//! path's SA and policy lookups: readers inside `rcu_read_lock()` walk the
//! chains without a lock; the writer (the control plane, under its key
//! mutex) links and unlinks nodes with release stores and frees what it
//! unlinked only after a grace period ([`RcuHashWriter::reclaim`]).
//!
//! Values are `Arc`s, so a reader can keep one past its read section.
//! Chains keep the order the writer gives them (newest first, or sorted),
//! and the table grows fourfold when chains average more than two nodes,
//! by building a new table aside and publishing it whole.
//!
//! A growth moves no node: each node has two successor slots, and tables
//! alternate between them. The new table's chains are linked through the
//! slots the current one does not use, so its readers keep walking theirs
//! undisturbed; the slots are reused two growths later, once a grace
//! period has passed since the table that used them went out.

use super::rcu_work::{self, GraceMark};
use core::{mem::ManuallyDrop, ptr::null_mut};
use kernel::{
    prelude::*,
    sync::{
        atomic::{Acquire, Atomic, Relaxed, Release},
        rcu::{self, Guard},
        Arc,
    },
};

/// Buckets of a new table; a power of two.
const MIN_BUCKETS: usize = 16;

/// How much a growing table grows; a power of two. Each growth relinks
/// every node; growing fourfold rather than twofold relinks a third of the
/// nodes a table ends with, not all of them, and spaces growths so that a
/// grace period has mostly passed when a node's slot is reused. Chains
/// then average between half a node and two.
const GROWTH: usize = 4;

/// How long chains may get on average while a growth waits for a grace
/// period ([`RcuHashWriter::grow`]).
const MAX_WAITING_CHAIN: usize = 8;

struct Node<V> {
    /// The successor in the chains of tables of each parity
    /// ([`Table::parity`]).
    next: [Atomic<*mut Node<V>>; 2],
    hash: u32,
    val: Arc<V>,
}

impl<V> Node<V> {
    fn next(&self, parity: usize) -> &Atomic<*mut Node<V>> {
        &self.next[parity & 1]
    }
}

/// One generation of buckets. The nodes linked from the live table belong
/// to the [`RcuHash`]; a retired table frees only its buckets.
struct Table<V> {
    buckets: KVec<Atomic<*mut Node<V>>>,
    /// Which of a node's successor slots this table's chains go through.
    parity: usize,
}

impl<V> Table<V> {
    fn new(n: usize, parity: usize) -> Result<KBox<Self>> {
        let mut buckets = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            buckets.push(Atomic::new(null_mut()), GFP_KERNEL)?;
        }
        Ok(KBox::new(Table { buckets, parity }, GFP_KERNEL)?)
    }

    fn bucket(&self, hash: u32) -> &Atomic<*mut Node<V>> {
        // The length is a power of two, at least MIN_BUCKETS.
        &self.buckets[hash as usize & (self.buckets.len() - 1)]
    }
}

/// What the writer unlinked, freed after a grace period.
enum Retired<V> {
    Node { _node: KBox<Node<V>> },
    Table { _table: KBox<Table<V>> },
}

/// The readers' side: lookups under an RCU read guard.
///
/// # Invariants
///
/// `table` always points to a live table from `KBox::into_raw`, replaced
/// only by the one [`RcuHashWriter`] of this hash, which retires the old
/// one for a grace period.
pub(crate) struct RcuHash<V> {
    table: Atomic<*mut Table<V>>,
    /// How many nodes are linked; written by the writer only.
    len: Atomic<usize>,
}

// SAFETY: readers only share `&V` and `Arc<V>` across threads.
unsafe impl<V: Send + Sync> Send for RcuHash<V> {}
// SAFETY: as for `Send`; the table is only changed by release stores.
unsafe impl<V: Send + Sync> Sync for RcuHash<V> {}

impl<V> Drop for RcuHash<V> {
    fn drop(&mut self) {
        // SAFETY: the last reference is going: no reader holds `&self`, and
        // the writer (which holds one) is gone.
        let table = unsafe { KBox::from_raw(self.table.load(Relaxed)) };
        for b in table.buckets.iter() {
            let mut p = b.load(Relaxed);
            while !p.is_null() {
                // SAFETY: every node linked from the live table came from
                // `KBox::into_raw` and belongs to the hash, linked once from
                // this table; nobody reaches it any more.
                let node = unsafe { KBox::from_raw(p) };
                p = node.next(table.parity).load(Relaxed);
            }
        }
    }
}

impl<V: Send + Sync + 'static> RcuHash<V> {
    /// A hash and its one writer.
    pub(crate) fn new() -> Result<(Arc<Self>, RcuHashWriter<V>)> {
        Self::with_growth(true)
    }

    /// A hash that keeps its first buckets, for few distinct hashes with
    /// long chains (sorted lists to scan).
    pub(crate) fn new_fixed() -> Result<(Arc<Self>, RcuHashWriter<V>)> {
        Self::with_growth(false)
    }

    fn with_growth(grows: bool) -> Result<(Arc<Self>, RcuHashWriter<V>)> {
        let table = KBox::into_raw(Table::new(MIN_BUCKETS, 0)?);
        let hash = Arc::new(
            RcuHash {
                table: Atomic::new(table),
                len: Atomic::new(0),
            },
            GFP_KERNEL,
        )
        .inspect_err(|_| {
            // SAFETY: `table` was never published.
            drop(unsafe { KBox::from_raw(table) })
        })?;
        let writer = RcuHashWriter {
            hash: hash.clone(),
            grows,
            grown: None,
            retired: KVec::new(),
        };
        Ok((hash, writer))
    }

    /// The first value in `hash`'s chain that `want` accepts, in chain
    /// order; valid while `_guard` is held.
    pub(crate) fn find<'a>(
        &'a self,
        _guard: &'a Guard,
        hash: u32,
        mut want: impl FnMut(&V) -> bool,
    ) -> Option<&'a Arc<V>> {
        // SAFETY: the table is live (type invariant) and cannot be freed
        // before the read section `_guard` proves ends.
        let table = unsafe { &*self.table.load(Acquire) };
        let mut p = table.bucket(hash).load(Acquire);
        while !p.is_null() {
            // The slot of this table's parity is not relinked before a
            // grace period after the table is replaced ([`RcuHashWriter::grow`]).
            // SAFETY: a node reached from a live table under RCU stays
            // allocated until a grace period after it is unlinked.
            let node = unsafe { &*p };
            if node.hash == hash && want(&node.val) {
                return Some(&node.val);
            }
            p = node.next(table.parity).load(Acquire);
        }
        None
    }

    /// Whether no node is linked.
    pub(crate) fn is_empty(&self) -> bool {
        self.len.load(Relaxed) == 0
    }
}

/// The one writer of an [`RcuHash`]: keep it where writers are serialised
/// (the key mutex).
pub(crate) struct RcuHashWriter<V: Send + Sync + 'static> {
    hash: Arc<RcuHash<V>>,
    grows: bool,
    /// When the last growth replaced a table: its readers may walk the
    /// slots the next growth relinks until a grace period from then.
    grown: Option<GraceMark>,
    retired: KVec<Retired<V>>,
}

impl<V: Send + Sync + 'static> RcuHashWriter<V> {
    fn len(&self) -> usize {
        self.hash.len.load(Relaxed)
    }

    /// Readers see the count without ordering: a packet racing a change
    /// may be judged either way, as with the chains themselves.
    fn set_len(&self, n: usize) {
        self.hash.len.store(n, Relaxed);
    }

    fn table(&self) -> &Table<V> {
        // SAFETY: only this writer replaces the table, and `&self` is held.
        unsafe { &*self.hash.table.load(Relaxed) }
    }

    /// The first value in `hash`'s chain that `want` accepts, for the
    /// writer (no read section needed: only the writer frees nodes).
    pub(crate) fn get(&self, hash: u32, mut want: impl FnMut(&V) -> bool) -> Option<&Arc<V>> {
        let mut p = self.table().bucket(hash).load(Relaxed);
        while !p.is_null() {
            // SAFETY: linked nodes are live; only this writer unlinks them,
            // and `&self` keeps it from doing so meanwhile.
            let node = unsafe { &*p };
            if node.hash == hash && want(&node.val) {
                return Some(&node.val);
            }
            p = node.next(self.parity()).load(Relaxed);
        }
        None
    }

    /// The successor slot the live table's chains go through.
    fn parity(&self) -> usize {
        self.table().parity
    }

    /// Allocates the node for `val` under `hash`, so that linking it
    /// cannot fail.
    pub(crate) fn prepare(hash: u32, val: Arc<V>) -> Result<Pending<V>> {
        let node = KBox::new(
            Node {
                next: [Atomic::new(null_mut()), Atomic::new(null_mut())],
                hash,
                val,
            },
            GFP_KERNEL,
        )?;
        Ok(Pending(node))
    }

    /// Links a prepared value into its chain before the first value of
    /// its hash that `before` accepts (at the end if none). Only values of
    /// one hash can answer the same lookup, so only their order is kept:
    /// the others are passed by their node's hash, their values unread (a
    /// value is another cache line, often another page, per node: it
    /// showed in SPDADD profiles). Readers see it from the release store
    /// on.
    pub(crate) fn link(&mut self, p: Pending<V>, mut before: impl FnMut(&V) -> bool) {
        if self.grows && self.len() >= 2 * self.table().buckets.len() {
            // A failed or postponed growth only leaves chains longer.
            let _ = self.grow();
        }
        let node = KBox::into_raw(p.0);
        let parity = self.parity();
        // SAFETY: `node` is ours, not yet published.
        let hash = unsafe { (*node).hash };
        let mut slot = self.table().bucket(hash);
        loop {
            let cur = slot.load(Relaxed);
            // SAFETY: nodes linked from the table are live while linked, and
            // only this writer unlinks them.
            let next = unsafe { cur.as_ref() };
            match next {
                Some(n) if n.hash != hash || !before(&n.val) => slot = n.next(parity),
                _ => {
                    // SAFETY: `node` is ours, not yet published.
                    unsafe { (*node).next(parity).store(cur, Relaxed) };
                    slot.store(node, Release);
                    self.set_len(self.len() + 1);
                    return;
                }
            }
        }
    }

    /// Puts a prepared value in the place of the first value of its chain
    /// that `want` accepts, and returns that one; readers see one or the
    /// other, never neither. `Err(p)` if no value matches.
    pub(crate) fn replace(
        &mut self,
        p: Pending<V>,
        mut want: impl FnMut(&V) -> bool,
    ) -> core::result::Result<Arc<V>, Pending<V>> {
        let hash = p.0.hash;
        let parity = self.parity();
        let mut slot = self.table().bucket(hash);
        loop {
            let cur = slot.load(Relaxed);
            if cur.is_null() {
                return Err(p);
            }
            // SAFETY: linked nodes are live; only this writer unlinks them.
            let node = unsafe { &*cur };
            if node.hash == hash && want(&node.val) {
                let new = KBox::into_raw(p.0);
                let next = node.next(parity).load(Relaxed);
                // SAFETY: `new` is ours, not yet published.
                unsafe { (*new).next(parity).store(next, Relaxed) };
                slot.store(new, Release);
                let old = node.val.clone();
                // SAFETY: `cur` came from `KBox::into_raw` and is unlinked;
                // `retire` frees it only after a grace period.
                let node = unsafe { KBox::from_raw(cur) };
                self.retire(Retired::Node { _node: node });
                return Ok(old);
            }
            slot = node.next(parity);
        }
    }

    /// Unlinks the first value in `hash`'s chain that `want` accepts and
    /// returns it; its node is freed after a grace period.
    pub(crate) fn remove(&mut self, hash: u32, mut want: impl FnMut(&V) -> bool) -> Option<Arc<V>> {
        let parity = self.parity();
        let mut slot = self.table().bucket(hash);
        loop {
            let p = slot.load(Relaxed);
            if p.is_null() {
                return None;
            }
            // SAFETY: linked nodes are live; only this writer unlinks them.
            let node = unsafe { &*p };
            if node.hash == hash && want(&node.val) {
                slot.store(node.next(parity).load(Relaxed), Release);
                self.set_len(self.len() - 1);
                let val = node.val.clone();
                // SAFETY: `p` came from `KBox::into_raw` and is unlinked now;
                // readers may still see it until a grace period passes,
                // which `retire` waits for before freeing.
                let node = unsafe { KBox::from_raw(p) };
                self.retire(Retired::Node { _node: node });
                return Some(val);
            }
            slot = node.next(parity);
        }
    }

    /// Multiplies the buckets by [`GROWTH`]: links every node, in the same
    /// relative order, into a new table through its other successor slot,
    /// and publishes the table whole. Readers of the old table keep
    /// walking the slots it uses, which no writer touches until a grace
    /// period after this growth.
    ///
    /// A growth that comes sooner (small tables fill within one) is put
    /// off, the chains growing meanwhile, until a grace period has passed
    /// or they average [`MAX_WAITING_CHAIN`]; only then does the writer
    /// wait for it, so that a PF_KEY message seldom sleeps for one.
    fn grow(&mut self) -> Result {
        // The slots the new table uses were last walked through the table
        // the previous growth replaced.
        if let Some(mark) = self.grown.take() {
            if !mark.passed() && self.len() < MAX_WAITING_CHAIN * self.table().buckets.len() {
                self.grown = Some(mark);
                return Err(EAGAIN);
            }
            mark.wait();
        }
        let old = self.table();
        let parity = old.parity ^ 1;
        let new = Table::new(old.buckets.len() * GROWTH, parity)?;
        // The tail slot of each new chain, to append in order.
        let mut tails = KVec::with_capacity(new.buckets.len(), GFP_KERNEL)?;
        for b in new.buckets.iter() {
            tails.push(core::ptr::from_ref(b), GFP_KERNEL)?;
        }
        for b in old.buckets.iter() {
            let mut p = b.load(Relaxed);
            while !p.is_null() {
                // SAFETY: linked nodes of the live table.
                let node = unsafe { &*p };
                node.next(parity).store(null_mut(), Relaxed);
                let i = node.hash as usize & (new.buckets.len() - 1);
                // SAFETY: `tails[i]` is a slot of `new` or the `parity` slot
                // of a node appended to it: unpublished, and no reader walks
                // `parity` slots any more (waited for above).
                unsafe {
                    (*tails[i]).store(p, Relaxed);
                    tails[i] = node.next(parity);
                }
                p = node.next(old.parity).load(Relaxed);
            }
        }
        let old = self.hash.table.load(Relaxed);
        self.hash.table.store(KBox::into_raw(new), Release);
        self.grown = Some(GraceMark::now());
        // SAFETY: `old` came from `KBox::into_raw` and is unpublished now;
        // its nodes belong to the new table, and dropping it frees only
        // its buckets.
        let table = unsafe { KBox::from_raw(old) };
        self.retire(Retired::Table { _table: table });
        Ok(())
    }

    /// Keeps `r` for [`Self::reclaim`]; frees it at once (after a grace
    /// period) if there is no room to keep it.
    fn retire(&mut self, r: Retired<V>) {
        if self.retired.reserve(1, GFP_KERNEL).is_err() {
            rcu::synchronize_rcu();
            drop(r);
        } else if let Err(e) = self.retired.push_within_capacity(r) {
            // Not reached: room was just reserved.
            rcu::synchronize_rcu();
            drop(e);
        }
    }

    /// What was unlinked so far, to drop (which waits for a grace period,
    /// then frees it) once the writers' lock is released, so that other
    /// writers do not wait for the grace period.
    pub(crate) fn take_retired(&mut self) -> Reclaim<V> {
        Reclaim(ManuallyDrop::new(core::mem::take(&mut self.retired)))
    }
}

impl<V: Send + Sync + 'static> Drop for RcuHashWriter<V> {
    fn drop(&mut self) {
        drop(self.take_retired());
    }
}

/// A value with its node allocated, ready to link.
pub(crate) struct Pending<V>(KBox<Node<V>>);

/// Unlinked nodes and tables waiting for a grace period; dropping this
/// hands them to the reclaim queue, which frees them after one.
///
/// The vector is dropped by hand: a `KVec` that never allocated still
/// calls `krealloc(NULL, 0)` when dropped, and nearly every PF_KEY message
/// takes four of these empty (6% of an SPDADD's instructions).
pub(crate) struct Reclaim<V: Send + Sync + 'static>(ManuallyDrop<KVec<Retired<V>>>);

/// Retired nodes and tables on their way to the reclaim queue's worker.
struct Unlinked<V> {
    _retired: KVec<Retired<V>>,
}

// SAFETY: the nodes and tables are unlinked: only readers that started
// before the grace period still see them, through shared references, and
// the worker frees them after it. What they own, `Arc<V>`, may go to
// another thread as `V: Send + Sync`.
unsafe impl<V: Send + Sync> Send for Unlinked<V> {}

impl<V: Send + Sync + 'static> Drop for Reclaim<V> {
    fn drop(&mut self) {
        // An empty vector with no room holds no allocation: nothing to free.
        if self.0.capacity() == 0 {
            return;
        }
        // SAFETY: `self.0` is not used again: this is its owner's drop.
        let retired = unsafe { ManuallyDrop::take(&mut self.0) };
        if retired.is_empty() {
            drop(retired);
        } else {
            rcu_work::drop_after_grace_period(Unlinked { _retired: retired });
        }
    }
}
