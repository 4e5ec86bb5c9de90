// SPDX-License-Identifier: GPL-2.0

//! Packet-path statistics of one namespace, in the spirit of KAME's
//! `ipsecstat`, `espstat` and `ahstat`: what the data path counts at each
//! success and each drop.

#![forbid(unsafe_code)]

use kernel::{prelude::*, sync::Arc};

/// One counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stat {
    /// Inbound packets that passed the policy check (`in_success`).
    InSuccess,
    /// Inbound packets a policy refused (`in_polvio`).
    InPolicyViolation,
    /// Outbound packets protected and sent (`out_success`).
    OutSuccess,
    /// Outbound packets a `discard` policy or `def_policy` dropped
    /// (`out_polvio`).
    OutPolicyViolation,
    /// Outbound packets dropped for want of an SA (`out_nosa`).
    OutNoSa,
    /// Outbound packets that could not be laid out or routed
    /// (`out_inval`).
    OutInvalid,
    /// Forwarded packets too big once protected, refused with ICMP
    /// (`out_toobig`).
    OutTooBig,
    /// ESP packets received for our SAs (`esps_input`).
    EspInput,
    /// ESP packets sent (`esps_output`).
    EspOutput,
    /// ESP payload bytes received (`esps_ibytes`).
    EspInBytes,
    /// ESP payload bytes sent (`esps_obytes`).
    EspOutBytes,
    /// ESP packets shorter than their SA's headers (`esps_hdrops`).
    EspShort,
    /// ESP packets replayed or too old (`esps_replay`).
    EspReplay,
    /// ESP packets whose ICV did not verify (`esps_badauth`).
    EspAuthFail,
    /// ESP packets with a bad trailer or inner header (`esps_badenc`).
    EspBadEncoding,
    /// ESP packets dropped while `net.inet.esp.enable` is 0 (`esps_pdrops`).
    EspDisabled,
    /// ESP packets not sent: the SA's sequence numbers ran out
    /// (`esps_wrap`).
    EspSeqWrap,
    /// ESP packets the crypto layer failed for another reason
    /// (`esps_crypto`).
    EspCryptoError,
    /// ESP packets for an SA not mature or dying (`esps_invalid`).
    EspInvalidSa,
    /// AH packets received for our SAs (`ahs_input`).
    AhInput,
    /// AH packets sent (`ahs_output`).
    AhOutput,
    /// AH-protected bytes received (`ahs_ibytes`).
    AhInBytes,
    /// AH-protected bytes sent (`ahs_obytes`).
    AhOutBytes,
    /// AH packets shorter than their headers, or with a header length
    /// their SA does not send (`ahs_hdrops`, `ahs_badauthl`).
    AhShort,
    /// AH packets replayed or too old (`ahs_replay`).
    AhReplay,
    /// AH packets whose ICV did not verify (`ahs_badauth`).
    AhAuthFail,
    /// AH packets whose headers could not be prepared or removed.
    AhBadEncoding,
    /// AH packets dropped while `net.inet.ah.enable` is 0 (`ahs_pdrops`).
    AhDisabled,
    /// AH packets not sent: the SA's sequence numbers ran out (`ahs_wrap`).
    AhSeqWrap,
    /// AH packets the crypto layer failed for another reason
    /// (`ahs_crypto`).
    AhCryptoError,
    /// AH packets for an SA not mature or dying (`ahs_invalid`).
    AhInvalidSa,
}

/// The counters of one namespace.
// TODO[B]: per-CPU counters, `/proc/net/` files and a reader (next).
pub(crate) struct Stats;

impl Stats {
    /// All counters at zero.
    pub(crate) fn new() -> Result<Arc<Stats>> {
        Ok(Arc::new(Stats, GFP_KERNEL)?)
    }

    /// Counts one event. Any context.
    pub(crate) fn inc(&self, s: Stat) {
        self.add(s, 1);
    }

    /// Counts `n` (bytes, packets). Any context.
    pub(crate) fn add(&self, _s: Stat, _n: u64) {}
}
