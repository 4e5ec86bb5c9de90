// SPDX-License-Identifier: GPL-2.0

//! What kame_ipsec keeps in each network namespace.

#![forbid(unsafe_code)]

use crate::{
    hooks::PacketPath,
    kapi::{
        net::Net,
        netfilter::NfHooks,
        pernet::{NetId, PernetState},
    },
    keydb::KeyDb,
    sysctl::Sysctls,
};
use kernel::prelude::*;

static NET_ID: NetId = NetId::new();

/// One namespace's IPsec state.
///
/// Lives from the namespace's pernet `init` to its `exit` (or from module
/// load to unload); nothing in it is shared with other namespaces.
pub(crate) struct Netns {
    // Fields drop in declaration order: the hooks go first, so no packet
    // runs while the settings they read are torn down.
    _hooks: NfHooks<PacketPath>,
    _sysctls: Sysctls,
    /// PF_KEY sockets, SAD and SPD; no socket of the namespace is left
    /// when it goes (each holds a reference on it).
    pub(crate) keys: Pin<KBox<KeyDb>>,
}

impl PernetState for Netns {
    fn net_id() -> &'static NetId {
        &NET_ID
    }

    fn init(net: &Net) -> Result<Self> {
        let keys = KeyDb::new()?;
        let sysctls = Sysctls::register(net)?;
        let hooks = crate::hooks::register(net)?;
        Ok(Netns {
            _hooks: hooks,
            _sysctls: sysctls,
            keys,
        })
    }
}
