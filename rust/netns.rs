// SPDX-License-Identifier: GPL-2.0

//! What kame_ipsec keeps in each network namespace.

#![forbid(unsafe_code)]

use crate::{
    datapath::Datapath,
    hooks::PacketPath,
    kapi::{
        net::Net,
        netfilter::NfHooks,
        pernet::{NetId, PernetState},
        proc_net::ProcNetDir,
    },
    stats_proc::StatFile,
};
use kernel::prelude::*;

static NET_ID: NetId = NetId::new();

/// One namespace's IPsec state.
///
/// Lives from the namespace's pernet `init` to its `exit` (or from module
/// load to unload); nothing in it is shared with other namespaces.
pub(crate) struct Netns {
    /// `/proc/net/kame_ipsec/`: removed first, so no reader is left when
    /// the rest goes (the files hold their own reference on the counters).
    _stat_files: ProcNetDir<StatFile>,
    /// The hooks, which own what they read: keys, settings and the
    /// decapsulation device, dropped once the hooks are unregistered. No
    /// PF_KEY socket of the namespace is left when it goes (each holds a
    /// reference on it).
    hooks: NfHooks<PacketPath>,
}

impl Netns {
    /// The namespace's packet-path and key state.
    pub(crate) fn dp(&self) -> &Datapath {
        self.hooks.ctx()
    }
}

impl PernetState for Netns {
    fn net_id() -> &'static NetId {
        &NET_ID
    }

    fn pre_exit(&self) {
        // Packets whose crypto completes from now on are dropped; the
        // teardown (`Datapath`'s drop) waits for the last of them.
        self.dp().pending.close();
    }

    fn init(net: &Net) -> Result<Self> {
        let dp = Datapath::new(net)?;
        let stat_files = crate::stats_proc::register(net, &dp.stats)?;
        let hooks = crate::hooks::register(net, dp)?;
        Ok(Netns {
            _stat_files: stat_files,
            hooks,
        })
    }
}
