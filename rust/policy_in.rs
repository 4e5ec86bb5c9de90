// SPDX-License-Identifier: GPL-2.0

//! The inbound policy check. A packet arriving in the clear is checked at
//! LOCAL_IN/FORWARD with an empty history; a decapsulated packet is checked
//! once its whole bundle is undone, against the SAs that undid it, before
//! it re-enters the stack. So `esp/tunnel/B-A/require ah/transport/B-A/
//! require`, and AH tunnels, pass when they should: the KAME bug where
//! only the last header counted cannot happen.

#![forbid(unsafe_code)]

use crate::{
    datapath::{Levels, Need},
    kame_core::{
        flow::Flow,
        sad::{SaRecord, MODE_TUNNEL},
        spd::{Request, LEVEL_UNIQUE, MAX_DEPTH, POLICY_DISCARD, POLICY_NONE},
    },
    output::Bundle,
    sad_table::SaEntry,
    sock_policy::SockRule,
    spd_table::SpdReader,
};
use kernel::sync::{rcu, Arc};

/// The SAs a packet came through, outermost first. Each is held, not
/// copied: the history travels with the packet through its crypto, and
/// six copied layers made every move of the packet's state cost a
/// third of a kilobyte.
#[derive(Default)]
pub(crate) struct History {
    layers: [Option<Arc<SaEntry>>; MAX_DEPTH],
}

impl History {
    /// Records one more layer; gives the SA back when the bundle is
    /// deeper than any policy can ask for.
    pub(crate) fn push(&mut self, sa: Arc<SaEntry>) -> Result<(), Arc<SaEntry>> {
        match self.layers.iter_mut().find(|x| x.is_none()) {
            Some(slot) => {
                *slot = Some(sa);
                Ok(())
            }
            None => Err(sa),
        }
    }

    /// The layer recorded last.
    pub(crate) fn innermost(&self) -> Option<&Arc<SaEntry>> {
        self.sas().last()
    }

    fn iter(&self) -> impl Iterator<Item = &SaRecord> {
        self.sas().map(|sa| &sa.rec)
    }

    /// The SAs, outermost first.
    pub(crate) fn sas(&self) -> impl Iterator<Item = &Arc<SaEntry>> {
        self.layers.iter().flatten()
    }

    /// The SAs as an output bundle would apply them: innermost first.
    pub(crate) fn reversed(&self) -> Bundle {
        let mut b = Bundle {
            sas: Default::default(),
        };
        for (slot, sa) in b.sas.iter_mut().zip(self.layers.iter().rev().flatten()) {
            *slot = Some(sa.clone());
        }
        b
    }
}

/// Why the inbound check refused a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A `discard` policy.
    Discard,
    /// No policy matched and `def_policy` is 0.
    Default,
    /// A required request the packet did not come through.
    Unprotected,
    /// Its socket's policy drops it, for the reason given.
    Socket(&'static str),
}

impl Refusal {
    /// For the log.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Refusal::Discard => "discard policy",
            Refusal::Default => "no policy matches and def_policy is 0",
            Refusal::Unprotected => "not protected as its policy requires",
            Refusal::Socket(why) => why,
        }
    }
}

fn satisfies(r: &Request, l: &SaRecord) -> bool {
    l.id.proto == r.proto
        && l.mode == r.mode
        && (r.mode != MODE_TUNNEL || r.tunnel.is_none_or(|(s, d)| s == l.src && d == l.id.dst))
        && (r.level != LEVEL_UNIQUE || r.reqid == 0 || r.reqid == l.reqid)
}

/// Checks a packet going `dir` (in or fwd) that came through `hist`.
pub(crate) fn check(
    spd: &SpdReader,
    levels: &Levels<'_>,
    dir: u8,
    flow: &Flow,
    hist: &History,
) -> Result<(), Refusal> {
    let g = rcu::read_lock();
    let Some(pol) = spd.lookup(&g, dir, flow) else {
        return if levels.default_passes() {
            Ok(())
        } else {
            Err(Refusal::Default)
        };
    };
    match pol.rec.ty {
        POLICY_DISCARD => Err(Refusal::Discard),
        POLICY_NONE => Ok(()),
        _ => check_requests(&pol.rec.requests, levels, hist),
    }
}

/// Whether `hist` meets every required request of a bundle.
fn check_requests(
    requests: &[Option<Request>; MAX_DEPTH],
    levels: &Levels<'_>,
    hist: &History,
) -> Result<(), Refusal> {
    for r in requests.iter().flatten() {
        if levels.need(r) == Need::Require && !hist.iter().any(|l| satisfies(r, l)) {
            return Err(Refusal::Unprotected);
        }
    }
    Ok(())
}

/// Checks a packet for a local socket with a policy of its own, which wins
/// over the SPD; `None` when the SPD decides.
pub(crate) fn check_socket(
    rule: SockRule<'_>,
    levels: &Levels<'_>,
    hist: &History,
) -> Option<Result<(), Refusal>> {
    match rule {
        SockRule::Spd => None,
        SockRule::Pass => Some(Ok(())),
        SockRule::Discard(why) => Some(Err(Refusal::Socket(why))),
        SockRule::Ipsec(p, _) => Some(check_requests(&p.requests, levels, hist)),
    }
}
