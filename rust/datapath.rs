// SPDX-License-Identifier: GPL-2.0

//! What the packet path of one namespace reads: the key state (SAD/SPD
//! readers), the settings, and the devices decapsulated packets re-enter on.
//! It lives in its own box, so hooks can point at it from the moment they
//! are registered.

#![forbid(unsafe_code)]

use crate::{
    enc::Enc,
    inflight::{InFlight, Pending},
    kame_core::{
        sad::{IPPROTO_AH, IPPROTO_ESP, MODE_TUNNEL},
        spd::{Request, LEVEL_DEFAULT, LEVEL_REQUIRE, LEVEL_UNIQUE},
        sysctl::{Ipsec4, Ipsec6, LEVEL_USE, POLICY_NONE},
    },
    kapi::{
        net::Net,
        netdev::{DevRef, NetDev},
        netfilter::HookState,
    },
    keydb::KeyDb,
    sad_table::SadReader,
    sock_policy::SockPolicies,
    spd_table::SpdReader,
    stats::{Stat, Stats},
    sysctl::{Setting, SysctlValues, Sysctls},
    use_events::UseEvents,
};
use kernel::{prelude::*, sync::Arc};

/// One namespace's packet-path state.
pub(crate) struct Datapath {
    /// PF_KEY sockets, SAD and SPD.
    pub(crate) keys: Pin<KBox<KeyDb>>,
    /// `net.inet.ipsec`, `net.inet6.ipsec6`, `net.inet.{esp,ah}`.
    pub(crate) sysctls: Sysctls,
    /// Where decapsulated packets re-enter the stack (`ipsec0`); packets
    /// in crypto hold a reference (its unregistration waits for them).
    pub(crate) decap: NetDev,
    /// `enc0`: when up, where they re-enter instead, and where outbound
    /// cleartext is shown.
    pub(crate) enc: Enc,
    /// What the packet path counted.
    pub(crate) stats: Arc<Stats>,
    /// Packets in crypto: `drop` waits for them before anything goes.
    pub(crate) pending: Arc<Pending<Shared>>,
    /// The policies sockets of the namespace were given.
    pub(crate) sock_policies: Arc<SockPolicies>,
}

/// What a packet reads once a hook took it, through its [`Token`].
pub(crate) struct Shared {
    pub(crate) sad: SadReader,
    pub(crate) spd: SpdReader,
    pub(crate) stats: Arc<Stats>,
    /// Where the SAs' lifetime events go.
    pub(crate) events: Arc<UseEvents>,
    /// The settings, read when needed (after asynchronous crypto too).
    pub(crate) sysctls: Arc<SysctlValues>,
}

/// A packet's hold on its namespace: teardown waits for it, and it
/// reaches the [`Shared`] state.
pub(crate) type Token = InFlight<Shared>;

/// How strictly a request must be met, once `default` is resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    /// `use`: protect if an SA exists, else send in the clear.
    Use,
    /// `require`/`unique`: no SA, no packet.
    Require,
}

/// The policy settings of one family, read when a check needs one: most
/// policies name their levels, so most packets read none (reading all
/// five for each packet showed in profiles).
#[derive(Clone, Copy)]
pub(crate) struct Levels<'a> {
    values: &'a SysctlValues,
    v6: bool,
}

impl Levels<'_> {
    fn get(&self, k4: Ipsec4, k6: Ipsec6) -> i32 {
        self.values.of_family(self.v6, k4, k6)
    }

    /// What a request's level means now: `default` takes the family's
    /// `*_deflev` setting for its protocol and mode, as KAME.
    pub(crate) fn need(&self, r: &Request) -> Need {
        let level = match r.level {
            LEVEL_DEFAULT => {
                let (k4, k6) = match (r.proto, r.mode == MODE_TUNNEL) {
                    (IPPROTO_AH, false) => (Ipsec4::AhTransDeflev, Ipsec6::AhTransDeflev),
                    (IPPROTO_AH, true) => (Ipsec4::AhNetDeflev, Ipsec6::AhNetDeflev),
                    (_, false) => (Ipsec4::EspTransDeflev, Ipsec6::EspTransDeflev),
                    (_, true) => (Ipsec4::EspNetDeflev, Ipsec6::EspNetDeflev),
                };
                if self.get(k4, k6) == LEVEL_USE {
                    return Need::Use;
                }
                LEVEL_REQUIRE
            }
            l => l,
        };
        match level {
            LEVEL_REQUIRE | LEVEL_UNIQUE => Need::Require,
            _ => Need::Use,
        }
    }

    /// Whether traffic no policy matches passes (`def_policy` 1).
    pub(crate) fn default_passes(&self) -> bool {
        self.get(Ipsec4::DefPolicy, Ipsec6::DefPolicy) == POLICY_NONE
    }
}

impl SysctlValues {
    /// The policy settings of family `v6`.
    pub(crate) fn levels(&self, v6: bool) -> Levels<'_> {
        Levels { values: self, v6 }
    }

    /// Whether policy failures are logged (`debug` of the family).
    pub(crate) fn debug(&self, v6: bool) -> bool {
        self.of_family(v6, Ipsec4::Debug, Ipsec6::Debug) != 0
    }

    /// Whether inbound ESP may be decrypted on another CPU
    /// (`net.inet.ipsec.async_crypto`, both families).
    pub(crate) fn async_crypto(&self) -> bool {
        self.get(Setting::V4(Ipsec4::AsyncCrypto)) != 0
    }
}

impl Drop for Datapath {
    fn drop(&mut self) {
        // Completions still to come read the SAD/SPD, the device and the
        // counters, and run this module's code: none may be left.
        self.pending.close_and_wait();
    }
}

impl Datapath {
    /// Sets up the state of `net`.
    pub(crate) fn new(net: &Net) -> Result<KBox<Datapath>> {
        let keys = KeyDb::new()?;
        let sysctls = Sysctls::register(net)?;
        let decap = NetDev::create(net, c"ipsec0", true)?;
        let enc = Enc::new(net)?;
        let stats = Stats::new()?;
        let pending = Pending::new(Shared {
            sad: keys.sad.clone(),
            spd: keys.spd.clone(),
            stats: stats.clone(),
            events: keys.use_events.clone(),
            sysctls: sysctls.values().clone(),
        })?;
        let sock_policies = Arc::new(SockPolicies::new()?, GFP_KERNEL)?;
        Ok(KBox::new(
            Datapath {
                keys,
                sysctls,
                decap,
                enc,
                stats,
                pending,
                sock_policies,
            },
            GFP_KERNEL,
        )?)
    }

    /// Where a packet decapsulated now re-enters the stack.
    pub(crate) fn reentry(&self) -> DevRef {
        self.enc.reentry(&self.decap)
    }

    /// Whether a hook's packet re-entered from our decapsulation.
    pub(crate) fn decapsulated(&self, st: &HookState) -> bool {
        st.came_in_on(&self.decap) || self.enc.came_in_on(st)
    }

    /// The policy settings of family `v6`.
    pub(crate) fn levels(&self, v6: bool) -> Levels<'_> {
        self.sysctls.values().levels(v6)
    }

    /// Whether policy failures are logged (`debug` of the family).
    pub(crate) fn debug(&self, v6: bool) -> bool {
        self.sysctls.values().debug(v6)
    }

    /// Whether `net.inet.esp.enable`/`net.inet.ah.enable` (OpenBSD) stops
    /// `proto` now; if so the drop is counted.
    pub(crate) fn proto_disabled(&self, proto: u8) -> bool {
        let (setting, stat) = match proto {
            IPPROTO_ESP => (Setting::EspEnable, Stat::EspDisabled),
            IPPROTO_AH => (Setting::AhEnable, Stat::AhDisabled),
            _ => return false,
        };
        let off = self.sysctls.get(setting) == 0;
        if off {
            self.stats.inc(stat);
        }
        off
    }
}
