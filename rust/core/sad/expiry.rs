// SPDX-License-Identifier: GPL-2.0

//! Lifetimes by time: when an SA's soft or hard lifetime runs out, as
//! XFRM's state timer decides it (and so af_key's SADB_EXPIRE).
//!
//! Add-time limits count from `current.addtime`; use-time limits from
//! `current.usetime`, and only once the SA was used. Hard wins a tie, and
//! the soft event comes once: a dying SA waits only for its hard limit.
//! Byte and allocation limits are the data path's (`usage.rs`).

use super::{SaRecord, SaState};

/// Which lifetime ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// The soft one: the SA becomes dying, a daemon should rekey.
    Soft,
    /// The hard one: the SA goes.
    Hard,
}

/// `base + secs`, when both are set (0 is "no limit" / "not yet used").
fn limit(base: u64, secs: u64) -> Option<u64> {
    (base != 0 && secs != 0).then(|| base.saturating_add(secs))
}

fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

impl SaRecord {
    /// The next time lifetime event of this SA: when (seconds since the
    /// epoch) and which, or `None` if time alone never ends it.
    pub fn next_expiry(&self) -> Option<(u64, Expiry)> {
        let (added, used) = (self.current.addtime, self.current.usetime);
        let hard = earliest(
            limit(added, self.hard.addtime),
            limit(used, self.hard.usetime),
        );
        let soft = match self.state {
            SaState::Mature => earliest(
                limit(added, self.soft.addtime),
                limit(used, self.soft.usetime),
            ),
            _ => None,
        };
        match (soft, hard) {
            (Some(s), Some(h)) if s < h => Some((s, Expiry::Soft)),
            (_, Some(h)) => Some((h, Expiry::Hard)),
            (Some(s), None) => Some((s, Expiry::Soft)),
            (None, None) => None,
        }
    }

    /// The event due at `now`, if any.
    pub fn expiry_due(&self, now: u64) -> Option<Expiry> {
        self.next_expiry()
            .filter(|&(at, _)| at <= now)
            .map(|(_, kind)| kind)
    }
}
