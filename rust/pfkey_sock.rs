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
        pfkey::{check_header, check_write_size, MsgHeader, MsgType, PF_KEY_V2},
    },
    kapi::{
        net::Net,
        sock::{
            FamilyStorage, Gfp, MsgReader, Queued, Sock, SockFamily, MSG_OOB, PF_KEY, SOCK_RAW,
        },
    },
};
use kernel::prelude::*;

static PFKEY_FAMILY: FamilyStorage = FamilyStorage::new();

/// The PF_KEY socket family.
pub(crate) struct PfKey;

/// What each PF_KEY socket keeps: nothing yet (registration and promiscuous
/// mode arrive with the message handlers).
pub(crate) struct PfkeySockState;

impl SockFamily for PfKey {
    const FAMILY: i32 = PF_KEY;
    const NAME: &'static core::ffi::CStr = c"KAME_KEY";
    type Data = PfkeySockState;

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
        Ok(PfkeySockState)
    }

    fn sendmsg(sk: &Sock<'_, PfKey>, msg: &mut MsgReader<'_>, len: usize) -> Result {
        if msg.flags() & MSG_OOB != 0 {
            return Err(EOPNOTSUPP);
        }
        check_write_size(len, sk.sndbuf()).map_err(to_kernel)?;
        let buf = msg.read_all(len)?;
        let (hdr, msg_type) = check_header(&buf).map_err(|e| to_kernel(e.into()))?;
        if let Err(err) = dispatch(sk, &hdr, msg_type, &buf) {
            reply_error(sk, &hdr, err)?;
        }
        Ok(())
    }
}

/// Runs the handler of a message whose header is valid.
fn dispatch(
    _sk: &Sock<'_, PfKey>,
    _hdr: &MsgHeader,
    _ty: MsgType,
    _msg: &[u8],
) -> Result<(), Errno> {
    // The message handlers are the next issue's work; until then every
    // type is answered as af_key answers one it has no handler for.
    Err(Errno::EOPNOTSUPP)
}

/// Sends the error reply for `hdr` to the sender, as af_key's
/// `pfkey_error()`: if the reply cannot be allocated the `write()` fails
/// with `err` itself; a full receive buffer drops the reply silently
/// (the reader sees it lost, as with any PF_KEY message).
fn reply_error(sk: &Sock<'_, PfKey>, hdr: &MsgHeader, err: Errno) -> Result {
    match sk.queue_rcv(&hdr.error_reply(err).encode(), Gfp::Kernel) {
        Ok(Queued::Yes | Queued::ReceiverFull) => Ok(()),
        Err(_) => Err(to_kernel(err)),
    }
}
