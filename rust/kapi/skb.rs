// SPDX-License-Identifier: GPL-2.0

//! Packets (`struct sk_buff`) on the packet path, owned one at a time.
//!
//! An [`Skb`] is a packet this code owns: dropping it frees it. The
//! operations the ESP/AH transforms need work on a packet made linear and
//! private first ([`Skb::make_room`]), so its bytes are one slice.

use super::{bindings, drop::DropReason, netdev::DevRef, route_cache::RouteCache};
use core::{mem::MaybeUninit, ptr::NonNull};
use kernel::prelude::*;

/// One packet, owned. Dropped, it is freed with the [`DropReason`] it was
/// marked with ([`Skb::mark_drop`]), or with none.
///
/// # Invariants
///
/// `ptr` is a valid `sk_buff` that nothing else frees while this exists.
pub(crate) struct Skb {
    ptr: NonNull<bindings::sk_buff>,
    why: Option<DropReason>,
}

// SAFETY: an owned skb may be handed to any context (softirq, crypto
// completion); nothing in it is tied to the thread that got it.
unsafe impl Send for Skb {}

impl Skb {
    /// Takes ownership of `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` is a valid skb whose ownership the caller passes on.
    pub(crate) unsafe fn from_raw(ptr: *mut bindings::sk_buff) -> Option<Skb> {
        // INVARIANT: the caller passes ownership of a valid skb.
        NonNull::new(ptr).map(|ptr| Skb { ptr, why: None })
    }

    /// Gives ownership back to C.
    pub(crate) fn into_raw(self) -> *mut bindings::sk_buff {
        let p = self.ptr.as_ptr();
        core::mem::forget(self);
        p
    }

    /// The raw skb, for calls into C within this layer.
    pub(super) fn as_ptr(&self) -> *mut bindings::sk_buff {
        self.ptr.as_ptr()
    }

    fn raw(&self) -> &bindings::sk_buff {
        // SAFETY: by the type invariant the skb is valid and ours.
        unsafe { self.ptr.as_ref() }
    }

    /// Bytes from `data` to the end, linear part and fragments.
    pub(crate) fn len(&self) -> usize {
        self.raw().len as usize
    }

    /// Bytes in the linear part.
    fn headlen(&self) -> usize {
        (self.raw().len - self.raw().data_len) as usize
    }

    /// Offset of the network header from `data` (negative once pulled
    /// past it).
    pub(crate) fn network_offset(&self) -> isize {
        // SAFETY: the skb is valid (type invariant).
        unsafe { bindings::kame_skb_network_offset(self.ptr.as_ptr()) as isize }
    }

    /// Makes the network header start `offset` bytes after `data`.
    pub(crate) fn set_network_offset(&mut self, offset: usize) {
        // SAFETY: the skb is valid and ours; the offset is only recorded.
        unsafe { bindings::kame_skb_set_network_offset(self.ptr.as_ptr(), offset as i32) }
    }

    /// Copies `buf.len()` bytes at `offset` from `data`; EINVAL past the end.
    pub(crate) fn copy_out(&self, offset: usize, buf: &mut [u8]) -> Result {
        let off = i32::try_from(offset).map_err(|_| EINVAL)?;
        let len = i32::try_from(buf.len()).map_err(|_| EINVAL)?;
        // SAFETY: the skb is valid; `skb_copy_bits` checks the range against
        // the packet and writes at most `len` bytes into `buf`.
        super::to_result(unsafe {
            bindings::skb_copy_bits(self.ptr.as_ptr(), off, buf.as_mut_ptr().cast(), len)
        })
    }

    /// The first `n` bytes from `data` when the linear part holds them:
    /// headers read in place, without [`Skb::copy_out`]'s copy.
    pub(crate) fn linear_head(&self, n: usize) -> Option<&[u8]> {
        if n > self.headlen() {
            return None;
        }
        // SAFETY: `data` points at `headlen` >= `n` bytes of linear data,
        // which stay in place while the skb is borrowed (only an owner's
        // `&mut` calls can move or reallocate them).
        Some(unsafe { core::slice::from_raw_parts(self.raw().data, n) })
    }

    /// The `buf.len()` bytes at `offset`: in place when they are in the
    /// linear part, else copied into `buf` (`skb_header_pointer()`).
    pub(crate) fn peek<'a>(&'a self, offset: usize, buf: &'a mut [u8]) -> Option<&'a [u8]> {
        let n = buf.len();
        if let Some(head) = self.linear_head(offset.checked_add(n)?) {
            return head.get(offset..);
        }
        self.copy_out(offset, buf).ok()?;
        Some(buf)
    }

    /// Whether the packet is a GSO super-packet still to be segmented.
    pub(crate) fn is_gso(&self) -> bool {
        // SAFETY: the skb is valid.
        unsafe { bindings::kame_skb_is_gso(self.ptr.as_ptr()) }
    }

    /// Fills in a checksum left to the device (`CHECKSUM_PARTIAL`): the
    /// payload is about to be encrypted, no device can do it later.
    pub(crate) fn resolve_checksum(&mut self) -> Result {
        // SAFETY: the skb is valid and ours.
        super::to_result(unsafe { bindings::kame_skb_resolve_checksum(self.ptr.as_ptr()) })
    }

    /// Takes a reference on the packet's route if it has none (a route
    /// set without one is valid only in the RCU section it was set in,
    /// and asynchronous crypto completes outside it, as XFRM's output
    /// forces it too); EHOSTUNREACH if the packet has no route left.
    pub(crate) fn keep_dst(&mut self) -> Result {
        // SAFETY: the skb is valid and ours; the helper only converts or
        // drops its route reference.
        if unsafe { bindings::kame_skb_dst_force(self.ptr.as_ptr()) } {
            Ok(())
        } else {
            Err(EHOSTUNREACH)
        }
    }

    /// Makes the packet linear and private, with at least `head` bytes of
    /// headroom and `tail` of tailroom, so [`Skb::bytes`] covers all of it
    /// and [`Skb::push`]/[`Skb::put`] of those amounts succeed.
    pub(crate) fn make_room(&mut self, head: usize, tail: usize) -> Result {
        let p = self.ptr.as_ptr();
        // SAFETY: the skb is valid and ours; each call may reallocate the
        // data, which is why no slice into it is live here.
        unsafe {
            super::to_result(bindings::kame_skb_linearize_cow(p))?;
            super::to_result(bindings::kame_skb_cow(p, head as u32))?;
            let have = bindings::kame_skb_tailroom(p) as usize;
            if have < tail {
                super::to_result(bindings::pskb_expand_head(
                    p,
                    0,
                    (tail - have) as i32,
                    bindings::KAME_GFP_ATOMIC,
                ))?;
            }
        }
        Ok(())
    }

    /// Makes the packet private, with at least `head` bytes of headroom,
    /// like [`Skb::make_room`], but leaves the tail to
    /// [`Skb::put_tail`], which grows it without copying the packet.
    pub(crate) fn make_head_room(&mut self, head: usize) -> Result {
        let p = self.ptr.as_ptr();
        // SAFETY: the skb is valid and ours; each call may reallocate the
        // data, which is why no slice into it is live here.
        unsafe {
            super::to_result(bindings::kame_skb_linearize_cow(p))?;
            super::to_result(bindings::kame_skb_cow(p, head as u32))
        }
    }

    /// Adds `n` bytes at the end of a private packet: in the linear
    /// part's tailroom, or else in a new page fragment ([`Skb::last_mut`]
    /// reaches them). A linear packet then moves its last few bytes into
    /// the fragment too, so its linear part ends a whole number of
    /// `align`-byte blocks after offset `from` (where the cipher starts).
    pub(crate) fn put_tail(&mut self, n: usize, from: usize, align: usize) -> Result {
        let (Ok(n), Ok(from), Ok(align)) =
            (u32::try_from(n), u32::try_from(from), u32::try_from(align))
        else {
            return Err(EINVAL);
        };
        // SAFETY: the skb is valid and ours; the helper checks that it is
        // private and may add a fragment.
        super::to_result(unsafe { bindings::kame_skb_put_tail(self.ptr.as_ptr(), n, from, align) })
    }

    /// The last `n` bytes of a private packet, for writing, when they lie
    /// in one piece (the linear part or the last fragment).
    pub(crate) fn last_mut(&mut self, n: usize) -> Option<&mut [u8]> {
        let len = u32::try_from(n).ok()?;
        // SAFETY: the skb is valid and ours; the helper returns null or the
        // address of `n` bytes of the packet in one piece, in memory only
        // this packet references (it checks the packet is private).
        let p = unsafe { bindings::kame_skb_last_bytes(self.ptr.as_ptr(), len) };
        if p.is_null() {
            return None;
        }
        // SAFETY: `p` points at `n` bytes of the packet, which stay in
        // place while it is borrowed mutably here.
        Some(unsafe { core::slice::from_raw_parts_mut(p.cast::<u8>(), n) })
    }

    /// Makes the packet private (crypto may write it in place) in at most
    /// `max_frags` fragments besides the linear part, with its first
    /// `pull` bytes linear; it is copied only when shared or more
    /// scattered than that.
    pub(crate) fn make_private(&mut self, max_frags: usize, pull: usize) -> Result {
        let (Ok(max), Ok(pull)) = (u32::try_from(max_frags), u32::try_from(pull)) else {
            return Err(EINVAL);
        };
        // SAFETY: the skb is valid and ours; no slice into it is live.
        super::to_result(unsafe { bindings::kame_skb_make_private(self.ptr.as_ptr(), max, pull) })
    }

    /// Fills `sg` with the `len` bytes at `offset` of a private packet;
    /// the entries used, EMSGSIZE if it is in more pieces than `sg` has.
    /// `sg` need not be initialised: the helper initialises the entries
    /// the packet needs and ends the list at the last one used, so the
    /// crypto API reads no others.
    pub(super) fn fill_sg(
        &mut self,
        sg: &mut [MaybeUninit<bindings::scatterlist>],
        offset: usize,
        len: usize,
    ) -> Result<usize> {
        let (Ok(n), Ok(off), Ok(len)) = (
            u32::try_from(sg.len()),
            u32::try_from(offset),
            u32::try_from(len),
        ) else {
            return Err(EINVAL);
        };
        if offset + len as usize > self.len() {
            return Err(EINVAL);
        }
        // SAFETY: the skb is valid and ours; `sg` holds `n` entries, and the
        // helper refuses a packet that needs more (or is not private).
        let rc = unsafe {
            bindings::kame_skb_to_sg(self.ptr.as_ptr(), sg.as_mut_ptr().cast(), n, off, len)
        };
        super::to_result(rc).map(|()| rc as usize)
    }

    /// The linear part, from `data`; all of the packet after
    /// [`Skb::make_room`].
    pub(crate) fn bytes(&mut self) -> &mut [u8] {
        let len = self.headlen();
        // SAFETY: `data` points at `headlen` linear bytes this owner may
        // write: `make_room` unshared them, or the stack made the headers
        // private for the hook or protocol handler that alone touches them.
        unsafe { core::slice::from_raw_parts_mut(self.raw().data, len) }
    }

    fn headroom(&self) -> usize {
        let r = self.raw();
        // SAFETY: `data` and `head` point into the same buffer, `data` not
        // before `head` (sk_buff invariant).
        let room = unsafe { r.data.offset_from(r.head) };
        usize::try_from(room).unwrap_or(0)
    }

    /// Adds `n` bytes in front of `data`: headers [`Skb::make_room`] made
    /// room for, or that the stack pulled and are still there. EINVAL if
    /// the headroom is shorter.
    pub(crate) fn push(&mut self, n: usize) -> Result {
        if self.headroom() < n {
            return Err(EINVAL);
        }
        // SAFETY: the skb is valid and ours, with `n` bytes of headroom.
        unsafe { bindings::skb_push(self.ptr.as_ptr(), n as u32) };
        Ok(())
    }

    /// Removes `n` bytes from the front; EINVAL if there are not that many.
    pub(crate) fn pull(&mut self, n: usize) -> Result {
        if n > self.headlen() {
            return Err(EINVAL);
        }
        // SAFETY: the skb is valid and its linear part holds `n` bytes.
        unsafe { bindings::skb_pull(self.ptr.as_ptr(), n as u32) };
        Ok(())
    }

    /// Adds `n` bytes at the end of a linear packet ([`Skb::make_room`]);
    /// EINVAL if it is not linear or the tailroom is shorter.
    pub(crate) fn put(&mut self, n: usize) -> Result {
        let p = self.ptr.as_ptr();
        // SAFETY: the skb is valid.
        let room = unsafe { bindings::kame_skb_tailroom(p) } as usize;
        if self.raw().data_len != 0 || room < n {
            return Err(EINVAL);
        }
        // SAFETY: the skb is valid, linear and ours, with `n` bytes of
        // tailroom.
        unsafe { bindings::skb_put(p, n as u32) };
        Ok(())
    }

    /// Cuts the packet to `len` bytes.
    pub(crate) fn trim(&mut self, len: usize) -> Result {
        // SAFETY: the skb is valid and ours.
        super::to_result(unsafe { bindings::kame_pskb_trim(self.ptr.as_ptr(), len as u32) })
    }

    /// Whether an IPsec transform (ours or XFRM's) already produced this
    /// packet or will: such packets are not looked up again.
    pub(crate) fn transformed(&self, v6: bool) -> bool {
        // SAFETY: the skb is valid.
        unsafe { bindings::kame_skb_transformed(self.ptr.as_ptr(), v6) }
    }

    /// The MTU of the packet's route (0 without one).
    pub(crate) fn dst_mtu(&self) -> usize {
        // SAFETY: the skb is valid.
        unsafe { bindings::kame_skb_dst_mtu(self.ptr.as_ptr()) as usize }
    }

    /// Tells the packet's source that at most `mtu` bytes fit (ICMP
    /// "fragmentation needed" / ICMPv6 "packet too big").
    pub(crate) fn icmp_too_big(&self, v6: bool, mtu: usize) {
        let mtu = u32::try_from(mtu).unwrap_or(u32::MAX);
        // SAFETY: the skb is valid, with its route and IP control block
        // (POST_ROUTING); the ICMP code only reads it.
        unsafe { bindings::kame_icmp_toobig(self.ptr.as_ptr(), v6, mtu) };
    }

    /// Records a path MTU of `mtu` on the packet's route (an exception for
    /// its destination), so the sender's next packets fit.
    pub(crate) fn update_pmtu(&mut self, mtu: usize) {
        let mtu = u32::try_from(mtu).unwrap_or(u32::MAX);
        // SAFETY: the skb is valid; without a route the helper does nothing.
        unsafe { bindings::kame_skb_update_pmtu(self.ptr.as_ptr(), mtu) };
    }

    /// The MTU of the route from `src` to `dst` (4 or 16 bytes each, as
    /// `v6` says) in the namespace of the packet's route, with its mark:
    /// the path a tunnel's outer packet will take, found as
    /// [`Skb::route`] finds it, through `cache` if given. 0 without a
    /// route (or without one for the packet).
    pub(crate) fn route_mtu(
        &self,
        v6: bool,
        src: &[u8],
        dst: &[u8],
        cache: Option<&RouteCache>,
    ) -> usize {
        let want = if v6 { 16 } else { 4 };
        if src.len() != want || dst.len() != want || self.dst_mtu() == 0 {
            return 0;
        }
        let cache = cache.map_or(core::ptr::null_mut(), RouteCache::as_ptr);
        // SAFETY: the skb is valid with a route (it has an MTU), so a live
        // namespace; the addresses hold the family's bytes (checked above)
        // and are only read; the cache is null or borrowed for the call.
        let mtu = unsafe {
            let p = self.ptr.as_ptr();
            let net = bindings::kame_skb_dst_net(p);
            let mark = bindings::kame_skb_mark(p);
            let (s, d) = (src.as_ptr().cast(), dst.as_ptr().cast());
            bindings::kame_route_mtu(net, cache, v6, s, d, mark)
        };
        mtu as usize
    }

    /// Whether a socket of this host sent the packet (forwarded packets
    /// and those the kernel makes without a socket have none).
    pub(crate) fn local_sender(&self) -> bool {
        // SAFETY: the skb is valid.
        unsafe { bindings::kame_skb_local_sender(self.ptr.as_ptr()) }
    }

    /// Whether the sender lets the stack fragment the packet
    /// (`skb->ignore_df`).
    pub(crate) fn ignore_df(&self) -> bool {
        // SAFETY: the skb is valid.
        unsafe { bindings::kame_skb_ignore_df(self.ptr.as_ptr()) }
    }

    /// The MTU of the device the packet is on (received on, or leaving
    /// through); 0 without one.
    pub(crate) fn dev_mtu(&self) -> u32 {
        // SAFETY: the skb is valid.
        unsafe { bindings::kame_skb_dev_mtu(self.ptr.as_ptr()) }
    }

    /// Routes the packet anew from `src` to `dst` (4 or 16 bytes each, as
    /// `v6` says), in the namespace of its current route: tunnel mode's
    /// outer header, which must be in place at the network header (with
    /// `ident`, an IPv4 identification is chosen for it; without, the
    /// caller numbers it, see [`Skb::reserve_idents`]). `cache`, kept for
    /// these two addresses only, saves the FIB lookup of packets without a
    /// mark.
    pub(crate) fn route(
        &mut self,
        v6: bool,
        src: &[u8],
        dst: &[u8],
        cache: Option<&RouteCache>,
        ident: bool,
    ) -> Result {
        let want = if v6 { 16 } else { 4 };
        if src.len() != want || dst.len() != want || self.dst_mtu() == 0 {
            return Err(EINVAL);
        }
        let cache = cache.map_or(core::ptr::null_mut(), RouteCache::as_ptr);
        // SAFETY: the skb is valid with a route (it has an MTU), so a live
        // namespace; the addresses hold the family's bytes (checked above)
        // and are only read; the cache is null or borrowed for the call.
        super::to_result(unsafe {
            let net = bindings::kame_skb_dst_net(self.ptr.as_ptr());
            bindings::kame_skb_route(
                self.ptr.as_ptr(),
                net,
                cache,
                v6,
                src.as_ptr().cast(),
                dst.as_ptr().cast(),
                ident,
            )
        })
    }

    /// Gives the routed IPv4 packet at the network header the first of
    /// `n` identifications reserved at once from the stack's generator, for
    /// it and the `n - 1` packets after it, as the stack numbers a GSO
    /// packet's segments. `Some(first)` when the others are to count up
    /// from it; `None` when all are 0 (DF set: nothing reserved). `EINVAL`
    /// without a route or a linear IPv4 header at the network header.
    pub(crate) fn reserve_idents(&mut self, n: u16) -> Result<Option<u16>> {
        if self.dst_mtu() == 0 {
            return Err(EINVAL);
        }
        let mut first = 0;
        // SAFETY: the skb is valid, with a route (it has an MTU); the
        // helper checks the header it writes; `first` is a place for the
        // result.
        let rc = unsafe { bindings::kame_ip_ident_reserve(self.ptr.as_ptr(), n, &mut first) };
        super::to_result(rc)?;
        Ok((rc == 1).then_some(first))
    }

    /// Sends a transformed packet on its way out: marked so no hook
    /// transforms it again, then `ip_local_out()`/`ip6_local_out()`,
    /// which fill in the IP length and checksum.
    pub(crate) fn send(self, v6: bool) {
        if self.dst_mtu() == 0 {
            return; // No route: dropped.
        }
        let p = self.into_raw();
        // SAFETY: `p` is a valid skb we own, with a route (checked above);
        // the output function takes ownership whatever it returns (its
        // errors are counted by the IP layer).
        unsafe {
            bindings::kame_skb_prepare_out(p, v6);
            bindings::kame_skb_local_out(p, v6);
        }
    }

    /// The `UDP_ENCAP` type (`UDP_ENCAP_ESPINUDP`, 2) of the UDP socket a
    /// received datagram from port `sport` to `dport` would reach: 0 for
    /// a plain socket or none. For a packet at LOCAL_IN, its IP header at
    /// the network header.
    pub(crate) fn udp_encap_type(&self, v6: bool, sport: u16, dport: u16) -> u8 {
        // SAFETY: the skb is valid and was received (LOCAL_IN: it has its
        // device and its IP header at the network header); the helper
        // looks the socket up under the RCU read lock and only reads.
        unsafe { bindings::kame_udp_encap_type(self.ptr.as_ptr(), v6, sport, dport) }
    }

    /// Hands a decapsulated packet, starting at its IP header at `data`,
    /// back to the stack as if received on `dev`, through its GRO cells;
    /// its checksums are not summed again if `verified`.
    pub(crate) fn reinject(self, dev: &DevRef, v6: bool, verified: bool) {
        let p = self.into_raw();
        // SAFETY: `p` is a valid skb we own, taken over by the helper; we
        // hold a reference on `dev`, one of our devices, whose GRO cells
        // live until it is unregistered (one not up drops the packet).
        unsafe { bindings::kame_skb_reinject(p, dev.as_ptr(), v6, verified) };
    }
}

impl Skb {
    /// The reason this packet is freed with if it is dropped from now on.
    pub(crate) fn mark_drop(&mut self, why: DropReason) {
        self.why = Some(why);
    }

    /// The reason it was marked with.
    pub(crate) fn drop_reason(&self) -> Option<DropReason> {
        self.why
    }
}

impl Drop for Skb {
    fn drop(&mut self) {
        let p = self.ptr.as_ptr();
        match self.why {
            // SAFETY: by the type invariant we own the skb.
            Some(why) => unsafe { super::drop::free(p, why) },
            // SAFETY: by the type invariant we own the skb.
            None => unsafe { bindings::kame_kfree_skb(p) },
        }
    }
}

/// The segments of a GSO packet, each an [`Skb`].
pub(crate) struct Segments {
    head: *mut bindings::sk_buff,
}

// SAFETY: the list is owned like an `Skb`.
unsafe impl Send for Segments {}

impl Skb {
    /// Cuts a GSO packet into packets of the size it says; the original
    /// is consumed either way.
    pub(crate) fn segment(self) -> Result<Segments> {
        let p = self.into_raw();
        // SAFETY: `p` is a valid skb we own; on success the helper frees
        // it and returns a list we own, on failure it is still ours.
        let segs = unsafe { bindings::kame_skb_segment(p) };
        if let Err(e) = kernel::error::from_err_ptr(segs) {
            // SAFETY: the segmentation failed, `p` is still ours.
            drop(unsafe { Skb::from_raw(p) });
            return Err(e);
        }
        Ok(Segments { head: segs })
    }

    /// Cuts a local IPv6 packet into fragments of at most `mtu` bytes (at
    /// least 1280), as the stack would after POST_ROUTING; the original
    /// is consumed either way (on failure the socket may have been told
    /// "packet too big").
    pub(crate) fn fragment_v6(self, mtu: usize) -> Result<Segments> {
        let mtu = u32::try_from(mtu).map_err(|_| EINVAL)?;
        let p = self.into_raw();
        // SAFETY: `p` is a valid IPv6 skb we own, with its route (it is at
        // POST_ROUTING); the helper consumes it and returns a list we own
        // or an error.
        let frags = unsafe { bindings::kame_ip6_fragment(p, mtu) };
        Ok(Segments {
            head: kernel::error::from_err_ptr(frags)?,
        })
    }
}

impl Segments {
    /// How many are left.
    pub(crate) fn count_left(&self) -> usize {
        // SAFETY: `head` is null or a list of skbs we own, only read.
        unsafe { bindings::kame_skb_list_len(self.head) as usize }
    }
}

impl Iterator for Segments {
    type Item = Skb;

    fn next(&mut self) -> Option<Skb> {
        // SAFETY: `head` is null or a list of skbs we own; the helper takes
        // the first off it.
        let p = unsafe { bindings::kame_skb_list_pop(&mut self.head) };
        // SAFETY: `p` is null or an skb now off the list and ours alone.
        unsafe { Skb::from_raw(p) }
    }
}

impl Drop for Segments {
    fn drop(&mut self) {
        for skb in self.by_ref() {
            drop(skb);
        }
    }
}
