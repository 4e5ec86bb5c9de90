// SPDX-License-Identifier: GPL-2.0

//! Receiving ESP and AH: handlers in XFRM's per-protocol chains
//! (`xfrm4_protocol_register()`, `xfrm6_protocol_register()`), ahead of
//! XFRM's own. A packet whose SA is not ours is handed down the chain
//! untouched, so native XFRM keeps working beside us.

use super::{
    bindings,
    net::Net,
    pernet::{self, PernetRegistration, PernetState},
    skb::Skb,
};
use kernel::{ffi::c_int, prelude::*};

/// Our place in the chains: XFRM's esp4/ah4 sit at 0, vti at 100,
/// xfrm interfaces at 10; higher runs first.
const PRIORITY: c_int = 300;

/// The glue's receive side.
pub(crate) trait IpsecInput: 'static {
    /// The per-namespace state the handler reads.
    type Pernet: PernetState;
    /// A packet of protocol `proto` for this host in namespace `net`
    /// (whose state is `ns`), `data` at its ESP/AH header; the packet is
    /// given back if its SA is not ours.
    fn receive(ns: &Self::Pernet, net: &Net, skb: Skb, v6: bool, proto: u8) -> Result<(), Skb>;

    /// An ESP packet that arrived in UDP (RFC 3948) on a socket with
    /// `UDP_ENCAP_ESPINUDP`, which XFRM's `xfrm4_udp_encap_rcv()` or
    /// `xfrm6_udp_encap_rcv()` handed the ESP chain: `data` at the ESP
    /// header, the UDP header still in front of it, the IP length already
    /// less the UDP header. Given back if its SA is not ours.
    fn receive_encap(ns: &Self::Pernet, net: &Net, skb: Skb, v6: bool) -> Result<(), Skb>;
}

/// What a chain handler returns when the packet is not for it: the next
/// handler gets it (`-EINVAL` by XFRM's convention).
// `EINVAL.to_errno()` is not a const fn.
const NOT_OURS: c_int = -22;

/// The handlers, registered for ESP and AH in both families until dropped.
///
/// # Invariants
///
/// Every handler in `v4`/`v6` whose bit is set in `registered` is linked
/// into XFRM's chain for its protocol; the boxes do not move while linked.
/// The registration of `H::Pernet` outlives this one (the borrow in
/// `register` and the module's field order), so every namespace a packet
/// arrives in has its state.
pub(crate) struct InputRegistration<H: IpsecInput> {
    v4: KBox<[bindings::xfrm4_protocol; 2]>,
    v6: KBox<[bindings::xfrm6_protocol; 2]>,
    registered: u8,
    _h: core::marker::PhantomData<H>,
}

// SAFETY: the handlers are only unregistered from `drop`, from any thread.
unsafe impl<H: IpsecInput> Send for InputRegistration<H> {}
// SAFETY: no `&self` methods.
unsafe impl<H: IpsecInput> Sync for InputRegistration<H> {}

/// `IPPROTO_ESP`, `IPPROTO_AH`.
const ESP: u8 = 50;
const AH: u8 = 51;
const PROTOS: [u8; 2] = [ESP, AH];

impl<H: IpsecInput> InputRegistration<H> {
    /// Registers ESP and AH handlers for IPv4 and IPv6; `_pernet` is the
    /// state they read, which must stay registered longer.
    pub(crate) fn register(_pernet: &PernetRegistration<H::Pernet>) -> Result<Self> {
        let v4 = |handler| bindings::xfrm4_protocol {
            handler: Some(handler),
            input_handler: Some(encap_rcv::<H, false>),
            cb_handler: Some(cb_pass),
            err_handler: Some(err4_pass),
            next: core::ptr::null_mut(),
            priority: PRIORITY,
        };
        let v6 = |handler| bindings::xfrm6_protocol {
            handler: Some(handler),
            input_handler: Some(encap_rcv::<H, true>),
            cb_handler: Some(cb_pass),
            err_handler: Some(err6_pass),
            next: core::ptr::null_mut(),
            priority: PRIORITY,
        };
        let mut reg = InputRegistration {
            v4: KBox::new(
                [v4(rcv::<H, false, ESP>), v4(rcv::<H, false, AH>)],
                GFP_KERNEL,
            )?,
            v6: KBox::new(
                [v6(rcv::<H, true, ESP>), v6(rcv::<H, true, AH>)],
                GFP_KERNEL,
            )?,
            registered: 0,
            _h: core::marker::PhantomData,
        };
        for (i, proto) in PROTOS.iter().enumerate() {
            // SAFETY: the handler lives in a box that stays in place until
            // `drop` unregisters it.
            super::to_result(unsafe { bindings::xfrm4_protocol_register(&mut reg.v4[i], *proto) })?;
            reg.registered |= 1 << i;
            // SAFETY: as above.
            super::to_result(unsafe { bindings::xfrm6_protocol_register(&mut reg.v6[i], *proto) })?;
            reg.registered |= 4 << i;
        }
        Ok(reg)
    }
}

impl<H: IpsecInput> Drop for InputRegistration<H> {
    fn drop(&mut self) {
        for (i, proto) in PROTOS.iter().enumerate() {
            if self.registered & (1 << i) != 0 {
                // SAFETY: registered in `register` (type invariant); this
                // waits for an RCU grace period, so no packet is still in
                // the handler afterwards.
                unsafe { bindings::xfrm4_protocol_deregister(&mut self.v4[i], *proto) };
            }
            if self.registered & (4 << i) != 0 {
                // SAFETY: as above.
                unsafe { bindings::xfrm6_protocol_deregister(&mut self.v6[i], *proto) };
            }
        }
    }
}

/// # Safety
///
/// Called by XFRM's chain for protocol `P` of family `V6` with a packet it
/// passes on to us.
unsafe extern "C" fn rcv<H: IpsecInput, const V6: bool, const P: u8>(
    skb: *mut bindings::sk_buff,
) -> c_int {
    // SAFETY: a received packet has its device, whose namespace is live
    // while the packet is processed.
    let net = unsafe { Net::from_raw(bindings::kame_skb_net(skb)) };
    // SAFETY: `H::Pernet` is registered for as long as this handler (type
    // invariant of the registration) and `net` is live.
    let ns = unsafe { pernet::state::<H::Pernet>(net) };
    // SAFETY: the chain hands the handler the packet; it is given back
    // below when not ours.
    let Some(owned) = (unsafe { Skb::from_raw(skb) }) else {
        return NOT_OURS;
    };
    match H::receive(ns, net, owned, V6, P) {
        Ok(()) => 0,
        Err(back) => {
            let _ = back.into_raw();
            NOT_OURS
        }
    }
}

/// `UDP_ENCAP_ESPINUDP`: ESP in UDP (RFC 3948), the encapsulation XFRM's
/// UDP receive path hands the chains.
const UDP_ENCAP_ESPINUDP: c_int = 2;

/// The chains' entry for ESP that XFRM took out of UDP, and for packets
/// other XFRM code feeds in with a known SPI (tunnel devices, resumed
/// input), which are not ours.
///
/// # Safety
///
/// Called by XFRM's chain for family `V6` with a packet it passes on to
/// us; the packet is given back untouched when not ours.
unsafe extern "C" fn encap_rcv<H: IpsecInput, const V6: bool>(
    skb: *mut bindings::sk_buff,
    nexthdr: c_int,
    _spi: u32,
    encap_type: c_int,
) -> c_int {
    if encap_type != UDP_ENCAP_ESPINUDP || nexthdr != c_int::from(ESP) {
        return NOT_OURS;
    }
    // SAFETY: a received packet has its device, whose namespace is live
    // while the packet is processed.
    let net = unsafe { Net::from_raw(bindings::kame_skb_net(skb)) };
    // SAFETY: `H::Pernet` is registered for as long as this handler (type
    // invariant of the registration) and `net` is live.
    let ns = unsafe { pernet::state::<H::Pernet>(net) };
    // SAFETY: the chain hands the handler the packet; it is given back
    // below when not ours.
    let Some(owned) = (unsafe { Skb::from_raw(skb) }) else {
        return NOT_OURS;
    };
    match H::receive_encap(ns, net, owned, V6) {
        Ok(()) => 0,
        Err(back) => {
            let _ = back.into_raw();
            NOT_OURS
        }
    }
}

/// XFRM's completion callback for its own packets: not ours, go on (a
/// positive value continues the chain).
///
/// # Safety
///
/// Called by XFRM; nothing is touched.
unsafe extern "C" fn cb_pass(_skb: *mut bindings::sk_buff, _err: c_int) -> c_int {
    1
}

/// ICMP errors about ESP/AH: not handled here yet, so the next handler
/// (nonzero: "not mine") gets them.
///
/// # Safety
///
/// Called by XFRM's chain; nothing is touched.
unsafe extern "C" fn err4_pass(_skb: *mut bindings::sk_buff, _info: u32) -> c_int {
    1
}

/// The IPv6 form of [`err4_pass`].
///
/// # Safety
///
/// Called by XFRM's chain; nothing is touched.
unsafe extern "C" fn err6_pass(
    _skb: *mut bindings::sk_buff,
    _opt: *mut bindings::inet6_skb_parm,
    _type: u8,
    _code: u8,
    _offset: c_int,
    _info: u32,
) -> c_int {
    1
}
