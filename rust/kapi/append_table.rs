// SPDX-License-Identifier: GPL-2.0

//! A table that only grows, read without locks: entries are numbered in
//! the order they are added, never change once added and stay until the
//! table goes. Writers may add from atomic context (the memory comes from
//! `GFP_ATOMIC`, a chunk at a time); readers index it from any context.
//!
//! It holds what the packet path finds by a number kept elsewhere (the
//! per-socket policies, whose number rides in the socket's `xfrm_policy`):
//! as nothing is ever removed, a number read at any time stays valid.

use core::{cell::UnsafeCell, ptr::null_mut};
use kernel::{
    new_spinlock,
    prelude::*,
    sync::{
        atomic::{Acquire, Atomic, Relaxed, Release},
        SpinLock,
    },
};

/// Entries per chunk.
const CHUNK: usize = 16;

struct Chunk<T> {
    slots: [UnsafeCell<Option<T>>; CHUNK],
}

/// An append-only table of at most `CHUNKS * 16` entries.
///
/// # Invariants
///
/// - Entries `0..len` are written (`Some`) and never written again; the
///   chunks holding them are published in `chunks` before `len` covers
///   them (release/acquire).
/// - Slots at or beyond `len` are written only under `lock`.
/// - Every non-null chunk pointer came from `KBox::into_raw` and is freed
///   only by `drop`.
#[pin_data(PinnedDrop)]
pub(crate) struct AppendTable<T, const CHUNKS: usize> {
    #[pin]
    lock: SpinLock<()>,
    len: Atomic<u32>,
    chunks: [Atomic<*mut Chunk<T>>; CHUNKS],
}

// SAFETY: entries are shared read-only once published, and written before
// that under the lock; the table owns its chunks.
unsafe impl<T: Send + Sync, const CHUNKS: usize> Sync for AppendTable<T, CHUNKS> {}
// SAFETY: as above; nothing refers to the thread that made it.
unsafe impl<T: Send, const CHUNKS: usize> Send for AppendTable<T, CHUNKS> {}

impl<T: PartialEq, const CHUNKS: usize> AppendTable<T, CHUNKS> {
    /// The most entries the table holds.
    pub(crate) const CAPACITY: usize = CHUNKS * CHUNK;

    /// An empty table.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(AppendTable {
            lock <- new_spinlock!(()),
            len: Atomic::new(0),
            chunks: [const { Atomic::new(null_mut()) }; CHUNKS],
        })
    }

    /// The entry numbered `id`, if there is one.
    pub(crate) fn get(&self, id: u32) -> Option<&T> {
        if id >= self.len.load(Acquire) {
            return None;
        }
        let i = id as usize;
        let chunk = self.chunks[i / CHUNK].load(Acquire);
        // SAFETY: `id < len`, so by the invariants the chunk is published
        // and live as long as `self`, and the slot is written and never
        // written again.
        unsafe { (*(*chunk).slots[i % CHUNK].get()).as_ref() }
    }

    /// The number of an entry equal to `v`, adding it if there is none:
    /// equal entries share a number. ENOSPC when the table is full, ENOMEM
    /// when a new chunk cannot be had. Does not sleep.
    pub(crate) fn intern(&self, v: T) -> Result<u32> {
        let _guard = self.lock.lock();
        let len = self.len.load(Relaxed);
        if let Some(id) = (0..len).find(|&id| self.get(id) == Some(&v)) {
            return Ok(id);
        }
        let i = len as usize;
        if i >= Self::CAPACITY {
            return Err(ENOSPC);
        }
        let mut chunk = self.chunks[i / CHUNK].load(Relaxed);
        if chunk.is_null() {
            let fresh = KBox::new(
                Chunk {
                    slots: [const { UnsafeCell::new(None) }; CHUNK],
                },
                GFP_ATOMIC,
            )?;
            chunk = KBox::into_raw(fresh);
            self.chunks[i / CHUNK].store(chunk, Release);
        }
        // SAFETY: the chunk is live (invariants); slot `len` is not yet
        // published, and the lock is held, so nothing else reads or writes
        // it.
        unsafe { *(*chunk).slots[i % CHUNK].get() = Some(v) };
        // INVARIANT: the slot and its chunk are written before `len`
        // covers them.
        self.len.store(len + 1, Release);
        Ok(len)
    }
}

#[pinned_drop]
impl<T, const CHUNKS: usize> PinnedDrop for AppendTable<T, CHUNKS> {
    fn drop(self: Pin<&mut Self>) {
        for c in self.chunks.iter() {
            let p = c.load(Relaxed);
            if !p.is_null() {
                // SAFETY: from `KBox::into_raw` (invariants); the table is
                // going, so no reader is left.
                drop(unsafe { KBox::from_raw(p) });
            }
        }
    }
}
