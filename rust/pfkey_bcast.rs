// SPDX-License-Identifier: GPL-2.0

//! Who receives a PF_KEY message: af_key's broadcast rules.
//!
//! Promiscuous sockets receive every message (twice if they are also a
//! target, as af_key does); the sender gets its reply last.

#![forbid(unsafe_code)]

use crate::{
    kapi::{
        msg_skb::MsgSkb,
        sock::{Gfp, Sock},
    },
    keydb::KeySock,
    pfkey_sock::PfKey,
};

/// The receivers of a message besides promiscuous sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// The sender only (`BROADCAST_ONE`).
    One,
    /// Sockets registered for any SA type, and the sender
    /// (`BROADCAST_REGISTERED`).
    Registered,
    /// Every socket (`BROADCAST_ALL`).
    All,
    /// Promiscuous sockets only (`BROADCAST_PROMISC_ONLY`).
    PromiscOnly,
}

/// Sends `msg` to the sockets `target` names among `socks`; `me` is the
/// sender, if a socket sent the request. A full receive buffer loses the
/// message for that socket, as with any PF_KEY message; so does a failed
/// allocation.
pub(crate) fn broadcast(
    socks: &[KeySock],
    msg: &[u8],
    target: Target,
    me: Option<&Sock<'_, PfKey>>,
) {
    each_receiver(socks, target, me, |sk| {
        let _ = sk.queue_rcv(msg, Gfp::Kernel);
    });
}

/// As [`broadcast`], for a message built in a socket buffer: each receiver
/// but the last gets a clone sharing its bytes (af_key's
/// `pfkey_broadcast()` clones for all and frees the original), the last
/// the buffer itself.
pub(crate) fn broadcast_skb(
    socks: &[KeySock],
    skb: MsgSkb,
    target: Target,
    me: Option<&Sock<'_, PfKey>>,
) {
    let mut left = 0usize;
    each_receiver(socks, target, me, |_| left += 1);
    let mut skb = Some(skb);
    each_receiver(socks, target, me, |sk| {
        left -= 1;
        if left > 0 {
            if let Some(s) = skb.as_mut() {
                let _ = sk.queue_clone(s);
            }
        } else if let Some(last) = skb.take() {
            let _ = sk.queue_built(last);
        }
    });
}

/// Calls `deliver` for each copy of a message af_key's rules send, in its
/// order: promiscuous sockets (again if also a target), the sender last.
fn each_receiver(
    socks: &[KeySock],
    target: Target,
    me: Option<&Sock<'_, PfKey>>,
    mut deliver: impl FnMut(&Sock<'_, PfKey>),
) {
    for ks in socks {
        let sk = ks.sk.get();
        if ks.promisc {
            deliver(&sk);
        }
        if me.is_some_and(|m| ks.sk.is(m)) {
            continue;
        }
        let wanted = match target {
            Target::All => true,
            Target::Registered => ks.registered != 0,
            Target::One | Target::PromiscOnly => false,
        };
        if wanted {
            deliver(&sk);
        }
    }
    if let Some(m) = me {
        if target != Target::PromiscOnly {
            deliver(m);
        }
    }
}

/// Sends the built message `skb` to its sender `me` alone
/// (`BROADCAST_ONE`), promiscuous sockets getting a clone first, as
/// [`broadcast`] does with copies.
pub(crate) fn to_sender(socks: &[KeySock], mut skb: MsgSkb, me: &Sock<'_, PfKey>) {
    for ks in socks.iter().filter(|ks| ks.promisc) {
        let _ = ks.sk.get().queue_clone(&mut skb);
    }
    me.queue_skb(skb);
}
