// SPDX-License-Identifier: GPL-2.0

//! Sequence numbers: the anti-replay window of an inbound SA and the counter
//! of an outbound one (RFC 4303 sections 3.3.3 and 3.4.3, Appendix A; RFC
//! 4302 sections 3.3.2 and 3.4.3 are the same for AH).
//!
//! Inbound, in the order `xfrm_input()` uses and the design asks for:
//! [`Window::check`] before the ICV is verified (no state change; with ESN it
//! infers the high 32 bits, RFC 4303 Appendix A2.2), then
//! [`Window::update`] once the ICV verified, which checks again (another
//! packet with the same number may have been verified meanwhile, as
//! `xfrm_replay_recheck()` guards against) and advances the window.
//!
//! The window size is in packets. PF_KEY's `sadb_sa_replay` is in packets on
//! Linux (af_key's `pfkey_msg2xfrm_state()` copies it to `replay_window`,
//! capped at the 32 bits of XFRM's legacy bitmap) and in bytes of bitmap on
//! KAME (`keydb_newsecreplay()`, 8 packets a byte); setkey on Linux writes
//! packets, so packets it is. We do not cap at 32: the bitmap is a fixed
//! array of `WORDS` 64-bit words, [`Window4096`] (64 words, 512 bytes) being
//! the one the module uses, so any `sadb_sa_replay` fits and a future
//! 32-bit window extension up to 4096 packets does too.
//!
//! A window of 0 turns replay checking off but still tracks the highest
//! number seen (for ESN inference this is refused, as XFRM refuses an
//! inbound ESN state without a window: see [`Window::new`]).

/// Why a sequence number was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayError {
    /// Sequence number 0: never sent (the first packet of an SA has 1).
    Zero,
    /// Already received (inside the window, bit set).
    Replayed,
    /// Left of the window: too old to tell.
    TooOld,
}

/// Why a window could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowError {
    /// Larger than the bitmap.
    TooLarge,
    /// ESN needs a window of at least one packet to infer the high bits.
    EsnWithoutWindow,
}

/// The anti-replay state of one inbound SA, with a bitmap of `WORDS` 64-bit
/// words (window up to `64 * WORDS` packets).
///
/// The bitmap is a ring: sequence number `s` owns bit `s % (64 * WORDS)`,
/// which holds for `s` in `top - size + 1 ..= top`, so advancing clears
/// only the bits it passes over.
///
/// Lock: the caller's (a BH spinlock per SA in the module); [`Window::check`]
/// may run under a read view, [`Window::update`] needs exclusive access.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window<const WORDS: usize> {
    size: u32,
    esn: bool,
    top: u64,
    bits: [u64; WORDS],
}

/// The window the module uses: up to 4096 packets, 512 bytes of bitmap.
pub type Window4096 = Window<64>;

fn low32(seq: u64) -> u32 {
    // CAST: keeps the low 32 bits on purpose.
    seq as u32
}

fn high32(seq: u64) -> u32 {
    // CAST: lossless after the shift.
    (seq >> 32) as u32
}

fn join(hi: u32, lo: u32) -> u64 {
    (u64::from(hi) << 32) | u64::from(lo)
}

impl<const WORDS: usize> Window<WORDS> {
    /// The largest window, in packets.
    pub const MAX: u32 = {
        let bits = WORDS * 64;
        // CAST: u32 to usize, lossless where the kernel runs (64-bit).
        assert!(bits <= u32::MAX as usize);
        // CAST: checked by the assertion above, at compile time.
        bits as u32
    };

    /// A window of `size` packets (0: no replay check), for 64-bit extended
    /// sequence numbers if `esn`. Nothing has been received yet.
    pub fn new(size: u32, esn: bool) -> Result<Self, WindowError> {
        if size > Self::MAX {
            return Err(WindowError::TooLarge);
        }
        if esn && size == 0 {
            return Err(WindowError::EsnWithoutWindow);
        }
        Ok(Window {
            size,
            esn,
            top: 0,
            bits: [0; WORDS],
        })
    }

    /// The window size, packets.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Whether the SA uses extended sequence numbers.
    pub fn esn(&self) -> bool {
        self.esn
    }

    /// The highest sequence number authenticated so far (0: none).
    pub fn top(&self) -> u64 {
        self.top
    }

    /// The full sequence number a packet carrying `seq_lo` stands for:
    /// `seq_lo` itself without ESN; with ESN, the high 32 bits inferred as
    /// RFC 4303 Appendix A2.2 says (the ICV, computed with them, then
    /// tells whether the guess was right). Linux: `xfrm_replay_seqhi()`.
    pub fn infer(&self, seq_lo: u32) -> u64 {
        if !self.esn {
            return u64::from(seq_lo);
        }
        let (th, tl) = (high32(self.top), low32(self.top));
        // `new` refuses ESN without a window, so size >= 1.
        let w = self.size.max(1);
        // Bottom of the window, modulo 2^32.
        let bottom = tl.wrapping_sub(w - 1);
        // Saturating: there is no subspace below 0 (a fresh SA, where
        // Linux's `seq_hi--` would guess 2^32 - 1) nor above 2^32 - 1 (the
        // sender's counter is exhausted there).
        let hi = if tl >= w - 1 {
            // Case A: the window lies within one 2^32 subspace.
            if seq_lo >= bottom {
                th
            } else {
                th.saturating_add(1)
            }
        } else if seq_lo >= bottom {
            // Case B: the window spans two subspaces; `seq_lo` is in the
            // lower one's end.
            th.saturating_sub(1)
        } else {
            th
        };
        join(hi, seq_lo)
    }

    /// Bits in the bitmap.
    // CAST: u32 to u64, lossless (`From` is not const).
    const BITS: u64 = Self::MAX as u64;

    fn slot(seq: u64) -> (usize, u64) {
        // CAST: the remainder is below 64 * WORDS, a usize.
        let bit = (seq % Self::BITS) as usize;
        (bit / 64, 1u64 << (bit % 64))
    }

    fn test(&self, seq: u64) -> Result<(), ReplayError> {
        if seq == 0 {
            return Err(ReplayError::Zero);
        }
        if self.size == 0 || seq > self.top {
            return Ok(());
        }
        if self.top - seq >= u64::from(self.size) {
            return Err(ReplayError::TooOld);
        }
        let (w, m) = Self::slot(seq);
        if self.bits[w] & m != 0 {
            Err(ReplayError::Replayed)
        } else {
            Ok(())
        }
    }

    /// Checks the sequence number a packet carries, before its ICV is
    /// verified; changes nothing. Returns the full (inferred) number, which
    /// the ICV computation needs with ESN and [`Window::update`] takes.
    pub fn check(&self, seq_lo: u32) -> Result<u64, ReplayError> {
        let seq = self.infer(seq_lo);
        self.test(seq).map(|()| seq)
    }

    /// Records `seq` (from [`Window::check`]) once its packet's ICV has
    /// verified: checks it again, then slides the window if it is new
    /// highest and marks it received.
    pub fn update(&mut self, seq: u64) -> Result<(), ReplayError> {
        self.test(seq)?;
        if seq > self.top {
            let diff = seq - self.top;
            if diff >= Self::BITS {
                self.bits = [0; WORDS];
            } else {
                // Clear the slots the window moves onto.
                let mut s = self.top;
                while s < seq {
                    s += 1;
                    let (w, m) = Self::slot(s);
                    self.bits[w] &= !m;
                }
            }
            self.top = seq;
        }
        if self.size != 0 {
            let (w, m) = Self::slot(seq);
            self.bits[w] |= m;
        }
        Ok(())
    }
}

/// Why no sequence number could be given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exhausted;

/// The sequence number counter of an outbound SA.
///
/// RFC 4303 3.3.3: the counter must not cycle; the last number is
/// 2^32 - 1 without ESN, 2^64 - 1 with. Once it is used, [`Counter::advance`]
/// fails: the caller stops using the SA (hard expiry) and sends
/// SADB_EXPIRE, so the key daemon rekeys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counter {
    last: u64,
    esn: bool,
}

impl Counter {
    /// A counter whose next number is 1.
    pub fn new(esn: bool) -> Self {
        Counter { last: 0, esn }
    }

    /// A counter that last sent `last` (for SAs whose state is carried
    /// over, e.g. `SADB_UPDATE` or migration).
    pub fn starting_after(last: u64, esn: bool) -> Self {
        Counter { last, esn }
    }

    /// The highest number sent so far (0: none).
    pub fn last(&self) -> u64 {
        self.last
    }

    /// The largest number this counter may give.
    pub fn limit(&self) -> u64 {
        if self.esn {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        }
    }

    /// Whether every number has been used.
    pub fn exhausted(&self) -> bool {
        self.last >= self.limit()
    }

    /// The next sequence number, 1 first; [`Exhausted`] after the limit,
    /// and on every call after that.
    pub fn advance(&mut self) -> Result<u64, Exhausted> {
        if self.exhausted() {
            return Err(Exhausted);
        }
        self.last += 1;
        Ok(self.last)
    }
}

/// The low 32 bits of a sequence number: what the ESP or AH header carries.
pub fn seq_lo(seq: u64) -> u32 {
    low32(seq)
}

/// The high 32 bits of a sequence number: with ESN, authenticated but not
/// sent (RFC 4303 2.2.1).
pub fn seq_hi(seq: u64) -> u32 {
    high32(seq)
}

#[cfg(test)]
mod tests;
