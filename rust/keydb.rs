// SPDX-License-Identifier: GPL-2.0

//! The key state of one namespace: its PF_KEY sockets, SAD and SPD, behind
//! one mutex.
//!
//! Lock order: the key mutex, then a socket's receive queue lock (taken
//! inside queueing). Nothing here runs in atomic context: messages are
//! built and queued with GFP_KERNEL, and the packet path (next issue) will
//! hand events over through work items.

#![forbid(unsafe_code)]

use crate::{
    kapi::sock::SockRef, pfkey_dump::Dump, pfkey_sock::PfKey, sad_table::SadTable,
    spd_table::SpdTable,
};
use kernel::{new_mutex, prelude::*, sync::Mutex};

/// One PF_KEY socket as the namespace knows it.
pub(crate) struct KeySock {
    /// The socket, referenced while it is open.
    pub(crate) sk: SockRef<PfKey>,
    /// SA types registered with SADB_REGISTER, one bit per `satype`.
    pub(crate) registered: u32,
    /// Whether SADB_X_PROMISC turned promiscuous mode on.
    pub(crate) promisc: bool,
    /// The dump being streamed to this socket, if any.
    pub(crate) dump: Option<Dump>,
}

/// Everything the key mutex protects.
pub(crate) struct KeyState {
    /// Open PF_KEY sockets, oldest first.
    pub(crate) socks: KVec<KeySock>,
    /// Security associations.
    pub(crate) sad: SadTable,
    /// Security policies.
    pub(crate) spd: SpdTable,
}

/// The key state of one namespace.
#[pin_data]
pub(crate) struct KeyDb {
    #[pin]
    state: Mutex<KeyState>,
}

impl KeyDb {
    /// Empty tables, no sockets.
    pub(crate) fn new() -> Result<Pin<KBox<KeyDb>>> {
        KBox::pin_init(
            pin_init!(KeyDb {
                state <- new_mutex!(KeyState {
                    socks: KVec::new(),
                    sad: SadTable::new(),
                    spd: SpdTable::new(),
                }),
            }),
            GFP_KERNEL,
        )
    }

    /// Takes the key mutex.
    pub(crate) fn lock(&self) -> kernel::sync::MutexGuard<'_, KeyState> {
        self.state.lock()
    }
}
