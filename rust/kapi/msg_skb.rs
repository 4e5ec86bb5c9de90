// SPDX-License-Identifier: GPL-2.0

//! An `sk_buff` a PF_KEY message is being written into, owned until it is queued
//! on a socket ([`super::sock::Sock::queue_skb`]), so a message is built
//! where its reader gets it, with no copy in between.
//!
//! A *batch* holds several whole messages back to back (a dump's): the
//! reader still gets one message per `recvmsg`, and the batch stays at the
//! head of the queue until its last message is read. One buffer, one
//! queueing and one wake-up then serve dozens of messages, where each cost
//! as much as building the message.

use super::{bindings, sock::Gfp};
use core::ptr::NonNull;
use kernel::{prelude::*, sync::atomic::Atomic};

/// What a batch keeps in its control block (`skb->cb`, ours while the
/// buffer is on one of our sockets; zeroed by `alloc_skb()` and copied by
/// `skb_clone()`, so each receiver's clone reads on from where it is).
#[repr(C)]
struct BatchCb {
    /// [`BATCH_MAGIC`] in a batch; 0 in a buffer of one message.
    magic: u32,
    /// Where the next unread message starts.
    next: u32,
}

const BATCH_MAGIC: u32 = 0x6b62_7463;

/// The read position of `skb` if it is a batch.
///
/// # Safety
///
/// `skb` is a valid buffer built by this module that stays allocated for
/// `'a`.
pub(super) unsafe fn batch_next<'a>(skb: *mut bindings::sk_buff) -> Option<&'a Atomic<u32>> {
    const { assert!(size_of::<BatchCb>() <= 48) };
    // SAFETY: `cb` is 48 bytes, 8-aligned, inside the live `skb`.
    let cb = unsafe { core::ptr::addr_of_mut!((*skb).cb) }.cast::<BatchCb>();
    // SAFETY: as above; the marker is written only before the buffer is
    // shared.
    if unsafe { (*cb).magic } != BATCH_MAGIC {
        return None;
    }
    // SAFETY: `next` is an aligned `u32` inside the live `skb`; readers of
    // a shared (queued or cloned) batch reach it only through this atomic.
    Some(unsafe { Atomic::from_ptr(core::ptr::addr_of_mut!((*cb).next)) })
}

/// Zeroes the `n` bytes at `at`, at most 64 (the rest of a message,
/// below): with a few fixed-size stores for whole words, rather than a
/// `memset()` call (a `rep stosb`, a byte a step under TCG: 5% of an SPD
/// dump counted in instructions).
///
/// # Safety
///
/// `at` is valid for writes of `n` bytes.
unsafe fn zero(at: *mut u8, n: usize) {
    /// # Safety
    ///
    /// `at` is valid for writes of `N` bytes.
    unsafe fn fixed<const N: usize>(at: *mut u8) {
        // SAFETY: `at` is valid for `N` bytes (caller); unaligned writes
        // need no alignment.
        unsafe { at.cast::<[u8; N]>().write_unaligned([0; N]) }
    }
    // SAFETY: each arm writes exactly `n` bytes at `at` (caller).
    unsafe {
        match n {
            8 => fixed::<8>(at),
            16 => fixed::<16>(at),
            24 => fixed::<24>(at),
            32 => fixed::<32>(at),
            40 => fixed::<40>(at),
            48 => fixed::<48>(at),
            56 => fixed::<56>(at),
            64 => fixed::<64>(at),
            _ => at.write_bytes(0, n),
        }
    }
}

/// Zeroes the `n` bytes of a message at `at`: 64 bytes a step with
/// fixed-size stores, then the rest as [`zero`] does (messages are whole
/// words).
///
/// # Safety
///
/// `at` is valid for writes of `n` bytes.
unsafe fn zero_message(mut at: *mut u8, mut n: usize) {
    while n > 64 {
        // SAFETY: `n > 64` bytes at `at` are ours (caller); the pointer
        // moves past the 64 written, `n` counts what is left.
        unsafe {
            at.cast::<[u8; 64]>().write_unaligned([0; 64]);
            // Hidden from the optimiser, which would otherwise turn the
            // loop back into the `memset()` call it replaces.
            at = core::hint::black_box(at.add(64));
        }
        n -= 64;
    }
    // SAFETY: `n` bytes are left at `at` (caller).
    unsafe { zero(at, n) }
}

/// A linear `sk_buff` holding one message (or a batch) being built.
///
/// Bytes are written at its tail directly and added to its length by one
/// `skb_put()` when the buffer is handed over ([`Self::commit`]), not one
/// call per extension.
///
/// # Invariants
///
/// `skb` is a linear buffer allocated by `alloc_skb()` that this value
/// owns alone (not shared, not cloned, not queued); its `len + unput`
/// bytes from `data` are initialised, and at least `room` bytes of tail
/// room lie beyond them.
pub(crate) struct MsgSkb {
    skb: NonNull<bindings::sk_buff>,
    /// Bytes written past the buffer's `len`, not yet `skb_put()`.
    unput: u32,
    /// Tail room known to be left after them, so most appends need no
    /// call to ask.
    room: u32,
}

// SAFETY: the buffer is owned by this value alone (type invariant), so it
// may be moved to and dropped on another thread.
unsafe impl Send for MsgSkb {}
// SAFETY: `&MsgSkb` only reads the bytes written so far.
unsafe impl Sync for MsgSkb {}

impl MsgSkb {
    /// An empty buffer with room for at least `size` bytes (the allocator's
    /// rounding gives the rest as room too); ENOBUFS if memory is short.
    pub(crate) fn new(size: u32, gfp: Gfp) -> Result<Self> {
        // SAFETY: plain allocation.
        let skb =
            NonNull::new(unsafe { bindings::kame_alloc_skb(size, gfp.to_raw()) }).ok_or(ENOBUFS)?;
        // SAFETY: a valid buffer we just allocated.
        let room = unsafe { bindings::kame_skb_tailroom(skb.as_ptr()) };
        // INVARIANT: a new linear buffer, owned by us alone, empty, with
        // `room` bytes of tail room.
        Ok(MsgSkb {
            skb,
            unput: 0,
            room,
        })
    }

    /// An empty batch with room for at least `size` bytes: whole messages
    /// appended back to back, each read by its own `recvmsg`.
    pub(crate) fn new_batch(size: u32, gfp: Gfp) -> Result<Self> {
        let b = Self::new(size, gfp)?;
        // SAFETY: the buffer is ours alone and its `cb` is zeroed; the
        // marker is set before anyone else sees it.
        unsafe {
            let cb = core::ptr::addr_of_mut!((*b.skb.as_ptr()).cb).cast::<BatchCb>();
            (*cb).magic = BATCH_MAGIC;
        }
        Ok(b)
    }

    /// Tail room left.
    pub(crate) fn room(&self) -> usize {
        self.room as usize
    }

    /// Adds the bytes written to the buffer's length.
    fn commit(&mut self) {
        if self.unput != 0 {
            // SAFETY: the buffer is ours alone and the `unput` bytes at its
            // tail are within its tail room and written (type invariant).
            unsafe { bindings::skb_put(self.skb.as_ptr(), self.unput) };
            // INVARIANT: they now count in `len`.
            self.unput = 0;
        }
    }

    /// Takes `len` bytes of tail room for the caller to write, growing the
    /// buffer if it lacks them (rarely: the first allocation is sized for
    /// nearly all messages); returns where they start.
    fn take(&mut self, len: u32) -> Result<*mut u8> {
        let skb = self.skb.as_ptr();
        if self.room < len {
            // `pskb_expand_head()` keeps only what `len` covers.
            self.commit();
            // Double what is needed, so a long message grows only once or
            // twice.
            let more = c_int_of(len.saturating_mul(2))?;
            // SAFETY: the buffer is ours alone (not shared or cloned), as
            // `pskb_expand_head()` requires; on failure it is unchanged.
            let r = unsafe { bindings::pskb_expand_head(skb, 0, more, bindings::KAME_GFP_KERNEL) };
            if r != 0 {
                return Err(ENOBUFS);
            }
            // SAFETY: `skb` is a valid buffer we own (type invariant).
            self.room = unsafe { bindings::kame_skb_tailroom(skb) };
        }
        self.room = self.room.checked_sub(len).ok_or(ENOBUFS)?;
        // SAFETY: `data + len + unput` is the tail, inside the buffer.
        let at = unsafe { (*skb).data.add((*skb).len as usize + self.unput as usize) };
        // INVARIANT: the caller writes the `len` bytes at `at` before any
        // other use of `self`.
        self.unput += len;
        Ok(at)
    }

    /// Appends `n` zero bytes, a whole message to be written in place,
    /// and returns them; [`Self::give_back`] returns the room if the
    /// message fails to build.
    pub(crate) fn put_zeroed(&mut self, n: usize) -> Result<&mut [u8]> {
        let at = self.take(u32::try_from(n)?)?;
        // SAFETY: `at` starts `n` bytes of our tail room, just taken and
        // zeroed here before the slice is made; `&mut self` keeps them ours
        // for its life.
        unsafe {
            zero_message(at, n);
            Ok(core::slice::from_raw_parts_mut(at, n))
        }
    }

    /// Gives back the last `n` bytes taken by [`Self::put_zeroed`]
    /// (a message that failed to build), as if never written.
    pub(crate) fn give_back(&mut self, n: usize) {
        if let Ok(n) = u32::try_from(n) {
            if n <= self.unput {
                // INVARIANT: the bytes before them stay written; the
                // tail room grows by what is given back.
                self.unput -= n;
                self.room += n;
            }
        }
    }

    /// The bytes written so far.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        let skb = self.skb.as_ptr();
        // SAFETY: the buffer is linear and ours alone; its `len + unput`
        // bytes from `data` are initialised (type invariant), and `&mut
        // self` makes this the only reference for the slice's life.
        unsafe { core::slice::from_raw_parts_mut((*skb).data, self.len()) }
    }

    /// Bytes written so far.
    pub(crate) fn len(&self) -> usize {
        // SAFETY: the buffer is valid (type invariant).
        unsafe { (*self.skb.as_ptr()).len as usize + self.unput as usize }
    }

    /// Hands the buffer over, whole; the caller now owns and frees it.
    pub(super) fn into_raw(mut self) -> *mut bindings::sk_buff {
        self.commit();
        let skb = self.skb.as_ptr();
        core::mem::forget(self);
        skb
    }

    /// The buffer, whole, still owned by `self` (to clone it).
    pub(super) fn as_raw(&mut self) -> *mut bindings::sk_buff {
        self.commit();
        self.skb.as_ptr()
    }
}

impl Drop for MsgSkb {
    fn drop(&mut self) {
        // SAFETY: we own the buffer (type invariant) and nothing uses it
        // after this.
        unsafe { bindings::kame_kfree_skb(self.skb.as_ptr()) };
    }
}

fn c_int_of(n: u32) -> Result<core::ffi::c_int> {
    Ok(core::ffi::c_int::try_from(n)?)
}
