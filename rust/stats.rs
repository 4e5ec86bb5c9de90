// SPDX-License-Identifier: GPL-2.0

//! Packet-path statistics of one namespace, in the spirit of KAME's
//! `ipsecstat`, `espstat` and `ahstat`: what the data path counts at each
//! success and each drop. Counters are per CPU, so counting takes no lock
//! and shares no cache line; a reader sums the CPUs' copies. The
//! per-algorithm histograms are `stats_hist.rs`'s.

#![forbid(unsafe_code)]

use crate::{
    kapi::percpu::PerCpuCounters,
    stats_hist::{AlgRow, Hist, HistCounters},
};
use kernel::{
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
};

/// The group of counters a counter belongs to: one `/proc/net/kame_ipsec/`
/// file each, after KAME's three structures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Section {
    /// Policy decisions, any protocol (`ipsecstat`).
    Ipsec,
    /// ESP (`espstat`).
    Esp,
    /// AH (`ahstat`).
    Ah,
}

/// Declares `Stat`, its list and each counter's section and KAME name.
macro_rules! stats {
    ($($(#[$doc:meta])* $v:ident = ($sec:ident, $name:literal),)*) => {
        /// One counter.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u8)]
        pub(crate) enum Stat {
            $($(#[$doc])* $v,)*
        }

        impl Stat {
            /// Every counter, in file order.
            pub(crate) const ALL: &'static [Stat] = &[$(Stat::$v,)*];

            /// The section (file) it is shown in.
            pub(crate) fn section(self) -> Section {
                match self {
                    $(Stat::$v => Section::$sec,)*
                }
            }

            /// Its name in the file: KAME's structure field.
            pub(crate) fn name(self) -> &'static str {
                match self {
                    $(Stat::$v => $name,)*
                }
            }
        }
    };
}

stats! {
    /// Inbound packets that passed the policy check (`in_success`).
    InSuccess = (Ipsec, "in_success"),
    /// Inbound packets a policy refused (`in_polvio`).
    InPolicyViolation = (Ipsec, "in_polvio"),
    /// Outbound packets protected and sent (`out_success`).
    OutSuccess = (Ipsec, "out_success"),
    /// Outbound packets a `discard` policy or `def_policy` dropped
    /// (`out_polvio`).
    OutPolicyViolation = (Ipsec, "out_polvio"),
    /// Outbound packets dropped for want of an SA (`out_nosa`).
    OutNoSa = (Ipsec, "out_nosa"),
    /// Outbound packets that could not be laid out or routed
    /// (`out_inval`).
    OutInvalid = (Ipsec, "out_inval"),
    /// Forwarded packets too big once protected, refused with ICMP.
    OutTooBig = (Ipsec, "out_toobig"),
    /// Outbound packets an SA refused: past its hard lifetime by bytes or
    /// allocations (XFRM's `XfrmOutStateExpired`).
    OutExpired = (Ipsec, "out_expired"),
    /// Packets, either way, whose crypto completed (or that arrived) once
    /// their namespace had started to go: dropped, not sent or delivered.
    ExitDrops = (Ipsec, "exit_drops"),
    /// ESP packets received for our SAs (`esps_input`).
    EspInput = (Esp, "esps_input"),
    /// ESP packets sent (`esps_output`).
    EspOutput = (Esp, "esps_output"),
    /// ESP payload bytes received, padding and trailer included, IV and
    /// ICV not: what the sender counted out (`esps_ibytes`).
    EspInBytes = (Esp, "esps_ibytes"),
    /// ESP payload bytes sent, counted as `esps_ibytes` (`esps_obytes`).
    EspOutBytes = (Esp, "esps_obytes"),
    /// ESP packets shorter than their SA's headers (`esps_hdrops`).
    EspShort = (Esp, "esps_hdrops"),
    /// ESP packets replayed or too old (`esps_replay`).
    EspReplay = (Esp, "esps_replay"),
    /// ESP packets whose ICV verified, on SAs that have one: KAME's
    /// `ipsecstat` field (`in_espauthsucc`).
    EspAuthOk = (Esp, "in_espauthsucc"),
    /// ESP packets whose ICV did not verify (`esps_badauth`).
    EspAuthFail = (Esp, "esps_badauth"),
    /// ESP packets with a bad trailer or inner header (`esps_badenc`).
    EspBadEncoding = (Esp, "esps_badenc"),
    /// ESP packets dropped while `net.inet.esp.enable` is 0 (`esps_pdrops`).
    EspDisabled = (Esp, "esps_pdrops"),
    /// ESP packets not sent: the SA's sequence numbers ran out
    /// (`esps_wrap`).
    EspSeqWrap = (Esp, "esps_wrap"),
    /// ESP packets the crypto layer failed for another reason
    /// (`esps_crypto`).
    EspCryptoError = (Esp, "esps_crypto"),
    /// ESP packets for an SA not mature or dying (`esps_invalid`).
    EspInvalidSa = (Esp, "esps_invalid"),
    /// ESP packets dropped as the queue of the CPU chosen to decrypt them
    /// was full (`net.inet.ipsec.async_crypto`; FreeBSD's `esps_qfull`).
    EspQueueFull = (Esp, "esps_qfull"),
    /// ESP packets whose UDP encapsulation (NAT-T) did not match their
    /// SA: in UDP for an SA without NAT-T, bare for one with (XFRM's
    /// `XfrmInStateMismatch`), or in a datagram we cannot take apart (IPv6
    /// extension headers before UDP); ours, not KAME's (`esps_badencap`).
    EspBadEncap = (Esp, "esps_badencap"),
    /// ESP packets for an SPI that neither an SA of ours (mature or
    /// dying) nor an XFRM state has, which XFRM then drops
    /// (`XfrmInNoStates`): KAME's packets with no SA (`esps_notdb`).
    EspNoSa = (Esp, "esps_notdb"),
    /// AH packets received for our SAs (`ahs_input`).
    AhInput = (Ah, "ahs_input"),
    /// AH packets sent (`ahs_output`).
    AhOutput = (Ah, "ahs_output"),
    /// AH-protected bytes received (`ahs_ibytes`).
    AhInBytes = (Ah, "ahs_ibytes"),
    /// AH-protected bytes sent (`ahs_obytes`).
    AhOutBytes = (Ah, "ahs_obytes"),
    /// AH packets shorter than their headers (`ahs_hdrops`).
    AhShort = (Ah, "ahs_hdrops"),
    /// AH packets replayed or too old (`ahs_replay`).
    AhReplay = (Ah, "ahs_replay"),
    /// AH packets whose ICV verified: KAME's `ipsecstat` field
    /// (`in_ahauthsucc`).
    AhAuthOk = (Ah, "in_ahauthsucc"),
    /// AH packets whose ICV did not verify (`ahs_badauth`).
    AhAuthFail = (Ah, "ahs_badauth"),
    /// AH packets whose headers could not be prepared or removed.
    AhBadEncoding = (Ah, "ahs_badenc"),
    /// AH packets dropped while `net.inet.ah.enable` is 0 (`ahs_pdrops`).
    AhDisabled = (Ah, "ahs_pdrops"),
    /// AH packets not sent: the SA's sequence numbers ran out (`ahs_wrap`).
    AhSeqWrap = (Ah, "ahs_wrap"),
    /// AH packets the crypto layer failed for another reason
    /// (`ahs_crypto`).
    AhCryptoError = (Ah, "ahs_crypto"),
    /// AH packets for an SA not mature or dying (`ahs_invalid`).
    AhInvalidSa = (Ah, "ahs_invalid"),
    /// AH packets for an SPI that neither we nor XFRM have
    /// (`ahs_notdb`).
    AhNoSa = (Ah, "ahs_notdb"),
}

/// How many counters there are.
const COUNT: usize = Stat::ALL.len();

/// The counters of one namespace.
///
/// Shared (`Arc`) by the namespace's data path, its `/proc/net` files and
/// packets in flight, so the last reference may go in softirq.
#[pin_data]
pub(crate) struct Stats {
    /// Indexed by `Stat as usize`.
    counts: PerCpuCounters<COUNT>,
    /// Packets by algorithm.
    hist: HistCounters,
    /// Serialises resets, each of which must subtract what it read.
    #[pin]
    reset: Mutex<()>,
}

impl Stat {
    /// `ah` for an AH SA's packet (`proto`), else `esp`: the counters
    /// both protocols have.
    pub(crate) fn of_proto(proto: u8, ah: Stat, esp: Stat) -> Stat {
        if proto == crate::kame_core::sad::IPPROTO_AH {
            ah
        } else {
            esp
        }
    }
}

impl Stats {
    /// All counters at zero.
    pub(crate) fn new() -> Result<Arc<Stats>> {
        let counts = PerCpuCounters::new()?;
        let hist = HistCounters::new()?;
        Arc::pin_init(
            pin_init!(Stats {
                counts,
                hist,
                reset <- new_mutex!(()),
            }),
            GFP_KERNEL,
        )
    }

    /// Counts one event. Any context.
    pub(crate) fn inc(&self, s: Stat) {
        self.add(s, 1);
    }

    /// Counts `n` (bytes, packets). Any context.
    pub(crate) fn add(&self, s: Stat, n: u64) {
        self.counts.add(s as usize, n);
    }

    /// The current value of `s`. Any context.
    pub(crate) fn get(&self, s: Stat) -> u64 {
        self.counts.sum(s as usize)
    }

    /// Counts a packet in `h`, in the row of its SA's algorithm. Any
    /// context.
    pub(crate) fn inc_alg(&self, h: Hist, row: AlgRow) {
        self.hist.inc(h, row);
    }

    /// The histograms.
    pub(crate) fn hist(&self) -> &HistCounters {
        &self.hist
    }

    /// Sets the counters and histograms of `sec` back to zero. Process
    /// context.
    ///
    /// Each counter gets its negated sum added on this CPU, so events
    /// counted on other CPUs meanwhile are kept, not lost to a store.
    pub(crate) fn reset(&self, sec: Section) {
        let _g = self.reset.lock();
        for &s in Stat::ALL.iter().filter(|s| s.section() == sec) {
            self.counts.zero(s as usize);
        }
        self.hist.reset(sec);
    }
}
