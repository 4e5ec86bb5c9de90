// SPDX-License-Identifier: GPL-2.0

//! Whether native XFRM holds a state: for an ESP/AH packet whose SPI is not
//! ours, so the input can tell an SPI XFRM will take from one nobody has.

use super::{bindings, skb::Skb};

/// Whether XFRM has a state for (`dst`, `spi`, `proto`) in the namespace of
/// the received packet `skb`, found as `xfrm_input()` finds it: by the
/// packet's mark. `dst` is an IPv4 (4 bytes) or IPv6 (16) address; any
/// other length has no state. Any context.
pub(crate) fn has_state(skb: &Skb, dst: &[u8], spi: u32, proto: u8) -> bool {
    let v6 = match dst.len() {
        4 => false,
        16 => true,
        _ => return false,
    };
    // SAFETY: the skb is valid and was received, so its device gives a live
    // namespace; `dst` holds the family's bytes (checked above) and is only
    // read; the helper drops the reference its lookup takes.
    unsafe { bindings::kame_xfrm_has_state(skb.as_ptr(), v6, dst.as_ptr().cast(), spi, proto) }
}
