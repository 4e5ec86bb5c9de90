// SPDX-License-Identifier: GPL-2.0

//! The PF_KEY v2 socket: who may open one, and what happens to a message
//! written to it.
//!
//! As af_key: a message whose base header is malformed fails the `write()`
//! itself (there is nothing to address a reply to); any later failure is
//! reported in an error reply to the sender (`sadb_msg_errno`) and the
//! `write()` succeeds.

#![forbid(unsafe_code)]

use crate::{
    error::to_kernel,
    kame_core::{
        errno::Errno,
        pfkey::{check_header, check_write_size, ext::Exts, PF_KEY_V2},
    },
    kapi::{
        net::Net,
        sock::{
            FamilyStorage, Gfp, MsgReader, Queued, Sock, SockFamily, MSG_OOB, PF_KEY, SOCK_RAW,
        },
        work::other_cpu_online,
    },
    keydb::KeySock,
    netns::Netns,
    pfkey_bcast::{broadcast, Target},
    pfkey_dump,
    pfkey_handlers::{handle, Request},
    sa_expiry,
};
use kernel::{prelude::*, sync::atomic::Atomic};

static PFKEY_FAMILY: FamilyStorage = FamilyStorage::new();

/// The PF_KEY socket family.
pub(crate) struct PfKey;

/// What each PF_KEY socket keeps with it: whether a dump is running, so
/// `recvmsg` need not take the key mutex to find out. Its registration,
/// promiscuous mode and the dump itself live in the namespace's
/// [`KeySock`] list, under the key mutex the handlers hold anyway.
pub(crate) struct PfkeySockState {
    /// Set when a dump starts, before its first message is queued;
    /// cleared (under the key mutex) when it ends.
    pub(crate) dumping: Atomic<bool>,
}

impl SockFamily for PfKey {
    const FAMILY: i32 = PF_KEY;
    const NAME: &'static core::ffi::CStr = c"KAME_KEY";
    type Data = PfkeySockState;
    type Pernet = Netns;

    fn storage() -> &'static FamilyStorage {
        &PFKEY_FAMILY
    }

    fn create(net: &Net, sock_type: i32, protocol: i32) -> Result<PfkeySockState> {
        // af_key's order: privilege, then type, then protocol.
        if !net.current_is_net_admin() {
            return Err(EPERM);
        }
        if sock_type != SOCK_RAW {
            return Err(ESOCKTNOSUPPORT);
        }
        if protocol != i32::from(PF_KEY_V2) {
            return Err(EPROTONOSUPPORT);
        }
        Ok(PfkeySockState {
            dumping: Atomic::new(false),
        })
    }

    fn created(sk: &Sock<'_, PfKey>) -> Result {
        let entry = KeySock {
            sk: sk.to_ref(),
            registered: 0,
            promisc: false,
            dump: None,
        };
        let mut st = sk.pernet().dp().keys.lock();
        // af_key keeps the newest socket first; broadcasts follow that order.
        st.socks.reserve(1, GFP_KERNEL)?;
        st.socks
            .insert_within_capacity(0, entry)
            .map_err(|_| ENOMEM)?;
        Ok(())
    }

    fn release(sk: &Sock<'_, PfKey>) {
        let gone = {
            let mut st = sk.pernet().dp().keys.lock();
            st.socks
                .iter()
                .position(|k| k.sk.is(sk))
                .map(|i| st.socks.remove(i))
        };
        // The reference (and any dump) drops here, outside the mutex.
        drop(gone);
    }

    fn recv_done(sk: &Sock<'_, PfKey>) {
        if !pfkey_dump::wants_resume(sk) {
            return;
        }
        // The dump goes on on another CPU while the reader reads what is
        // queued; with one CPU, here (af_key's way), saving the switch.
        if other_cpu_online() {
            sk.defer();
        } else {
            Self::deferred(sk);
        }
    }

    fn deferred(sk: &Sock<'_, PfKey>) {
        let mut st = sk.pernet().dp().keys.lock();
        pfkey_dump::resume(&mut st, sk);
    }

    fn sendmsg(sk: &Sock<'_, PfKey>, msg: &mut MsgReader<'_>, len: usize) -> Result {
        if msg.flags() & MSG_OOB != 0 {
            return Err(EOPNOTSUPP);
        }
        check_write_size(len, sk.sndbuf()).map_err(to_kernel)?;
        msg.with_message(len, |buf| take_message(sk, buf))?
    }
}

/// Handles the message `buf` written to `sk`.
fn take_message(sk: &Sock<'_, PfKey>, buf: &[u8]) -> Result {
    let (hdr, ty) = check_header(buf).map_err(|e| to_kernel(e.into()))?;
    let keys = &sk.pernet().dp().keys;
    let mut st = keys.lock();
    // Promiscuous sockets see every message written, as af_key.
    broadcast(&st.socks, buf, Target::PromiscOnly, None);
    let result = match Exts::parse(buf) {
        Ok(exts) => {
            let req = Request {
                me: sk,
                hdr,
                ty,
                exts,
                raw: buf,
            };
            handle(&mut st, &req)
        }
        Err(_) => Err(Errno::EINVAL),
    };
    let reply = result.err().map(|err| (err, hdr.error_reply(err).encode()));
    if let Some((_, r)) = &reply {
        // Promiscuous sockets get a copy, as of any BROADCAST_ONE reply.
        broadcast(&st.socks, r, Target::PromiscOnly, None);
    }
    sa_expiry::rearm(keys, &mut st);
    // Freed after a grace period, which nobody else waits for.
    let retired = (st.sad.take_retired(), st.spd.take_retired());
    drop(st);
    drop(retired);
    match reply {
        Some((err, r)) => reply_error(sk, &r, err),
        None => Ok(()),
    }
}

/// Sends the error reply to the sender, as af_key's `pfkey_error()`: if
/// the reply cannot be allocated the `write()` fails with `err` itself; a
/// full receive buffer drops the reply silently (the reader sees it lost,
/// as with any PF_KEY message).
fn reply_error(sk: &Sock<'_, PfKey>, reply: &[u8], err: Errno) -> Result {
    match sk.queue_rcv(reply, Gfp::Kernel) {
        Ok(Queued::Yes | Queued::ReceiverFull) => Ok(()),
        Err(_) => Err(to_kernel(err)),
    }
}
