// SPDX-License-Identifier: GPL-2.0

//! kame_ipsec: the KAME/BSD IPsec stack for Linux.
//!
//! A PF_KEY v2 socket family, the `net.inet.ipsec`/`net.inet6.ipsec6`
//! sysctls and packet-path hooks, all per network namespace. This file only
//! orders registration and teardown; each concern has its own file.

use kernel::prelude::*;

mod acquire;
mod acquire_queue;
mod ah_input;
mod ah_output;
mod crypto_probe;
mod datapath;
mod drops;
mod enc;
mod error;
mod esp_input;
mod esp_output;
mod hooks;
mod icmp_in;
mod inflight;
mod input;
mod kapi;
mod keydb;
mod natt_input;
mod netns;
mod out_chain;
mod output;
mod pfkey_bcast;
mod pfkey_build;
mod pfkey_dump;
mod pfkey_handlers;
mod pfkey_sock;
mod pmtu;
mod policy_in;
mod policy_log;
mod sa_crypto;
mod sa_expiry;
mod sa_use;
mod sad_table;
mod sock_policy;
mod sockopt;
mod sorted_log;
mod spd_table;
mod spi_index;
mod stats;
mod stats_hist;
mod stats_proc;
mod sysctl;
mod use_events;
mod xform_spares;

/// The pure core (PF_KEY codec, sysctl semantics), shared with the host
/// crate in `rust/core/` that `cargo test` covers.
#[path = "core/lib.rs"]
pub mod kame_core;

module! {
    type: KameIpsec,
    name: "kame_ipsec",
    authors: ["kame-ipsec developers"],
    description: "KAME/BSD IPsec stack: PF_KEY v2, SPD/SAD, ESP/AH, net.inet.ipsec sysctls",
    license: "GPL",
    alias: ["net-pf-15"],
}

/// `modinfo`'s `version`: the `module!` macro has no field for it.
#[cfg(MODULE)]
#[link_section = ".modinfo"]
#[used]
static MODINFO_VERSION: [u8; 14] = *b"version=0.1.0\0";

/// The module: its registrations, undone in field order when it unloads.
struct KameIpsec {
    // Fields drop in declaration order, the reverse of registration: no new
    // PF_KEY socket can appear once the family is gone, then every namespace's
    // state (sysctls, hooks) is torn down. The per-socket policy routes
    // (set, then get) read the namespaces' state and go first; the ESP/AH receive handlers read
    // the namespaces' state, so they go before it. Each namespace's
    // teardown waits for its packets in crypto, those queued for another
    // CPU's decryption included, so the queues go after them. What the namespaces'
    // tables retired is then freed (the reclaim queue drains); then the
    // crypto completions return from this module's code, and last the
    // transforms they dropped are freed (the free queue drains).
    _sockopt: kapi::xfrm_km::KmRegistration<sockopt::SockPolicyKm>,
    _sockopt_get: kapi::nf_sockopt::PolicyOptionRegistration<sockopt::SockPolicyOption>,
    _input: kapi::ipproto::InputRegistration<input::Input>,
    _pfkey: kapi::sock::FamilyRegistration<pfkey_sock::PfKey>,
    _netns: kapi::pernet::PernetRegistration<netns::Netns>,
    _rx_queues: kapi::rx_queue::RxQueues,
    _reclaim: kapi::rcu_work::ReclaimQueue,
    _returned: inflight::CompletionsReturned,
    /// Frees the transforms dropped where sleeping is not allowed, and
    /// counts the algorithms registered ([`xform_spares`] checks against
    /// it).
    _crypto: kapi::crypto::ModuleCrypto,
}

impl kernel::Module for KameIpsec {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let crypto = kapi::crypto::ModuleCrypto::register()?;
        let reclaim = kapi::rcu_work::ReclaimQueue::create()?;
        let rx_queues = kapi::rx_queue::RxQueues::create()?;
        let netns = kapi::pernet::PernetRegistration::register()?;
        let pfkey = kapi::sock::FamilyRegistration::register(module, &netns).inspect_err(|e| {
            // The module loader turns an init's EEXIST into EBUSY (EEXIST
            // from finit_module() means "already loaded"), so the log line is
            // what tells the administrator why.
            if *e == EEXIST {
                pr_err!(
                    "PF_KEY (address family 15) is already registered (EEXIST), by af_key \
                     most likely: `rmmod af_key` first\n"
                );
            }
        })?;
        kapi::sk_policy::init_cookie();
        let sockopt_get = kapi::nf_sockopt::PolicyOptionRegistration::register(module, &netns)?;
        let sockopt = kapi::xfrm_km::KmRegistration::register(&netns)?;
        let input = kapi::ipproto::InputRegistration::register(&netns)?;
        pr_info!("KAME IPsec loaded: PF_KEY v2 family, net.inet.ipsec sysctls, packet hooks\n");
        Ok(KameIpsec {
            _sockopt: sockopt,
            _sockopt_get: sockopt_get,
            _input: input,
            _pfkey: pfkey,
            _netns: netns,
            _rx_queues: rx_queues,
            _reclaim: reclaim,
            _returned: inflight::CompletionsReturned,
            _crypto: crypto,
        })
    }
}
