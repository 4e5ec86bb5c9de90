// SPDX-License-Identifier: GPL-2.0

//! `enc0`, after OpenBSD's enc(4): a device per namespace on which the
//! cleartext side of IPsec can be watched and filtered. It is created down
//! and does nothing until the administrator brings it up. When up,
//! decapsulated packets re-enter the stack on it instead of `ipsec0`
//! (`tcpdump -i enc0`, `iifname "enc0"` rules), and each outbound packet
//! about to be protected is passed through its egress hook (nftables
//! `netdev` family, whose drop we obey) and shown to its taps.

#![forbid(unsafe_code)]

use crate::kapi::{
    net::Net,
    netdev::{DevRef, NetDev},
    netfilter::HookState,
    skb::Skb,
};
use kernel::prelude::*;

/// The enc(4) device's name.
const NAME: &CStr = c"enc0";

/// The namespace's `enc0`, if it could be made.
pub(crate) struct Enc {
    dev: Option<NetDev>,
}

impl Enc {
    /// Creates `enc0` in `net`, down. A device of that name there already
    /// (the administrator's own) is left alone: the namespace then runs
    /// without one, as it would with enc0 down.
    pub(crate) fn new(net: &Net) -> Result<Enc> {
        match NetDev::create(net, NAME, false) {
            Ok(dev) => Ok(Enc { dev: Some(dev) }),
            Err(e) if e == EEXIST => {
                pr_warn!("enc0 exists already in a namespace: no enc(4) device there\n");
                Ok(Enc { dev: None })
            }
            Err(e) => Err(e),
        }
    }

    /// The device when it is up.
    fn up(&self) -> Option<&NetDev> {
        self.dev.as_ref().filter(|d| d.running())
    }

    /// Where a decapsulated packet re-enters: `enc0` if up, else `decap`.
    pub(crate) fn reentry(&self, decap: &NetDev) -> DevRef {
        self.up().unwrap_or(decap).hold()
    }

    /// Whether a hook's packet came in on `enc0` (up or not: it may have
    /// been queued just before the device went down).
    pub(crate) fn came_in_on(&self, st: &HookState) -> bool {
        self.dev.as_ref().is_some_and(|d| st.came_in_on(d))
    }

    /// An outbound packet about to be protected: through `enc0` if it is
    /// up. `None` if its egress hook dropped or kept the packet.
    pub(crate) fn outbound(&self, skb: Skb) -> Option<Skb> {
        match self.up() {
            Some(dev) => dev.show_outbound(skb),
            None => Some(skb),
        }
    }
}
