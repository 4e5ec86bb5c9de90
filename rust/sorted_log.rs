// SPDX-License-Identifier: GPL-2.0

//! An index for keys that nearly always arrive in increasing order (a
//! policy's dump position, a generated policy id): a vector sorted by key,
//! where adding the largest key is a push and finding one a binary search.
//! A tree descended from the root for every addition, and a node allocated
//! for it, showed in SPDADD's profiles.
//!
//! A removed entry leaves its key behind, empty, so a key given back (an
//! SPDUPDATE keeps its policy's id) finds its slot again; empty slots are
//! swept out once they outnumber the live ones. A key smaller than the
//! largest, not in an empty slot, is inserted in place: a move of the
//! entries after it (ids only do that once their generator has gone
//! round).

#![forbid(unsafe_code)]

use kernel::{alloc::KVVec, prelude::*};

/// Fewest empty slots worth a sweep.
const SWEEP_MIN: usize = 64;

/// Entries of type `V` by key `K`, sorted; for one writer (no locking of
/// its own).
pub(crate) struct SortedLog<K, V> {
    slots: KVVec<(K, Option<V>)>,
    live: usize,
}

impl<K: Ord + Copy, V> SortedLog<K, V> {
    /// An empty log.
    pub(crate) fn new() -> Self {
        SortedLog {
            slots: KVVec::new(),
            live: 0,
        }
    }

    /// Makes room for one more entry, so that the [`SortedLog::insert`]
    /// after it cannot fail: called before the other tables change.
    pub(crate) fn reserve(&mut self) -> Result {
        self.slots.reserve(1, GFP_KERNEL)?;
        Ok(())
    }

    /// The index of the first slot whose key is not below `k`.
    fn lower(&self, k: &K) -> usize {
        self.slots.partition_point(|(s, _)| s < k)
    }

    /// Adds `v` under `k`, which no live entry has. Room must have been
    /// made by [`SortedLog::reserve`]: ENOMEM if it was not.
    pub(crate) fn insert(&mut self, k: K, v: V) -> Result {
        let at = match self.slots.last() {
            Some((last, _)) if *last < k => self.slots.len(),
            None => 0,
            Some(_) => self.lower(&k),
        };
        let len = self.slots.len();
        match self.slots.get_mut(at) {
            Some((s, slot @ None)) if *s == k => *slot = Some(v),
            _ if at == len => self.slots.push_within_capacity((k, Some(v)))?,
            _ => self.slots.insert_within_capacity(at, (k, Some(v)))?,
        }
        self.live += 1;
        Ok(())
    }

    /// The entry under `k`.
    pub(crate) fn get(&self, k: &K) -> Option<&V> {
        match self.slots.get(self.lower(k)) {
            Some((s, v)) if s == k => v.as_ref(),
            _ => None,
        }
    }

    /// The entry under `k`, to change in place.
    pub(crate) fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        let at = self.lower(k);
        match self.slots.get_mut(at) {
            Some((s, v)) if s == k => v.as_mut(),
            _ => None,
        }
    }

    /// Removes and returns the entry under `k`.
    pub(crate) fn remove(&mut self, k: &K) -> Option<V> {
        let at = self.lower(k);
        let v = match self.slots.get_mut(at) {
            Some((s, v)) if s == k => v.take()?,
            _ => return None,
        };
        self.live -= 1;
        // The newest go first (SAD flushes): no empty slot stays at the end.
        while self.slots.last().is_some_and(|e| e.1.is_none()) {
            self.slots.pop();
        }
        let empty = self.slots.len() - self.live;
        if empty >= SWEEP_MIN && empty > self.live {
            self.slots.retain(|e| e.1.is_some());
        }
        Some(v)
    }

    /// The live entries whose keys are not above `k`, the largest key
    /// first.
    pub(crate) fn down_from<'a>(&'a self, k: &K) -> impl Iterator<Item = (K, &'a V)> + 'a {
        let end = self.slots.partition_point(|(s, _)| s <= k);
        self.slots[..end]
            .iter()
            .rev()
            .filter_map(|(s, v)| Some((*s, v.as_ref()?)))
    }

    /// Takes every entry out, leaving the log empty (its memory freed).
    pub(crate) fn take_all(&mut self) -> KVVec<(K, Option<V>)> {
        self.live = 0;
        core::mem::replace(&mut self.slots, KVVec::new())
    }
}
