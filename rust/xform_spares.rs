// SPDX-License-Identifier: GPL-2.0

//! Spare ESP transforms, allocated ahead for the algorithms SAs are being
//! added with.
//!
//! Allocating an AEAD builds one transform per template layer (five for
//! `echainiv(authenc(hmac(sha256),cbc(aes)))`, each zeroed) after looking
//! the name up: about a third of a SADB_ADD's kernel time, as af_key's. An
//! add takes a spare of its algorithms when one is ready and keys it there,
//! so a refused key still fails the add (and the name is not even built); a
//! worker on the unbound queue (another CPU, if one is idle) allocates the
//! next ones meanwhile. The first SA of an algorithm allocates its own, so
//! an algorithm the kernel lacks fails the add as before. Spares of an
//! algorithm no add took for [`IDLE_MS`] are freed: they pin the modules
//! that implement it. With one CPU online there are none: the worker would
//! only add context switches to the same allocations.

#![forbid(unsafe_code)]

use crate::{
    kame_core::xform::AlgName,
    kapi::{
        crypto::{Aead, Completion},
        work::other_cpu_online,
    },
    keydb::KeyDb,
};
use kernel::{
    prelude::*,
    time::{Instant, Monotonic},
};

/// Spares kept ready per algorithm.
const KEEP: usize = 32;

/// The worker is asked to refill once this many are left.
const REFILL_AT: usize = KEEP / 2;

/// Algorithms kept at once; a new one replaces the least recently used.
const MAX_KINDS: usize = 4;

/// Spares of an algorithm no add took for this long are freed.
const IDLE_MS: u32 = 5000;

/// Which AEAD a spare is: its SAs' algorithm ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AeadKind {
    pub(crate) encrypt: u8,
    pub(crate) auth: u8,
    pub(crate) esn: bool,
}

/// The spares of one algorithm.
struct Kind {
    id: AeadKind,
    /// What the worker allocates.
    name: AlgName,
    /// Room for [`KEEP`], reserved up front: the worker pushes without
    /// allocating under the lock.
    tfms: KVec<Aead>,
    last_taken: Instant<Monotonic>,
}

/// The spare transforms of one namespace, behind their own mutex (taken
/// inside the key mutex by adds, alone by the worker).
pub(crate) struct Spares {
    kinds: KVec<Kind>,
    /// The worker was asked to refill and has not found every algorithm
    /// full since: adds need not ask again (asking costs a timer update).
    refilling: bool,
}

impl Spares {
    pub(crate) fn new() -> Spares {
        Spares {
            kinds: KVec::new(),
            refilling: false,
        }
    }

    /// Whether the worker should be asked to run, given that it is
    /// `short` of spares.
    fn ask(&mut self, short: bool) -> bool {
        let ask = short && !self.refilling;
        self.refilling |= ask;
        ask
    }

    /// A spare transform of kind `id`, if one is ready, and whether the
    /// worker should be asked to run.
    fn take(&mut self, id: AeadKind) -> (Option<Aead>, bool) {
        let Some(k) = self.kinds.iter_mut().find(|k| k.id == id) else {
            return (None, false);
        };
        k.last_taken = Instant::now();
        let tfm = k.tfms.pop();
        let short = k.tfms.len() <= REFILL_AT;
        (tfm, self.ask(short))
    }

    /// Has the worker keep spares of kind `id`, named `name`, from now
    /// on; whether it should be asked to run.
    fn want(&mut self, id: AeadKind, name: &AlgName) -> bool {
        if let Some(k) = self.kinds.iter_mut().find(|k| k.id == id) {
            k.last_taken = Instant::now();
            return self.ask(true);
        }
        let Ok(tfms) = KVec::with_capacity(KEEP, GFP_KERNEL) else {
            return false;
        };
        if self.kinds.len() >= MAX_KINDS {
            // The least recently used goes, with its spares.
            let oldest = (0..self.kinds.len())
                .max_by_key(|&i| self.kinds[i].last_taken.elapsed().as_millis());
            if let Some(i) = oldest {
                drop(self.kinds.remove(i));
            }
        }
        let kind = Kind {
            id,
            name: name.clone(),
            tfms,
            last_taken: Instant::now(),
        };
        let added = self.kinds.push(kind, GFP_KERNEL).is_ok();
        self.ask(added)
    }

    /// The name of an algorithm short of spares, taken from recently, and
    /// how many it lacks; the worker is done when there is none.
    fn wanting(&mut self) -> Option<(AeadKind, AlgName, usize)> {
        let w = self
            .kinds
            .iter()
            .find(|k| k.tfms.len() < KEEP && !idle(k))
            .map(|k| (k.id, k.name.clone(), KEEP - k.tfms.len()));
        self.refilling = w.is_some();
        w
    }

    /// Adds `tfm` to the spares of kind `id`; drops a kind that could not
    /// be allocated (adds then allocate their own, and fail).
    fn put(&mut self, id: AeadKind, tfm: Result<Aead>) {
        let Some(i) = self.kinds.iter().position(|k| k.id == id) else {
            return;
        };
        match tfm {
            // Full (an add re-created the kind meanwhile): dropped.
            Ok(t) => drop(self.kinds[i].tfms.push_within_capacity(t)),
            Err(_) => drop(self.kinds.remove(i)),
        }
    }

    /// Frees the spares of algorithms no add took for [`IDLE_MS`]; in how
    /// many milliseconds the next of those left becomes idle.
    fn trim(&mut self) -> Option<u32> {
        self.kinds.retain(|k| !idle(k));
        self.kinds.iter().map(idle_in).min()
    }
}

/// Milliseconds until `k` has gone [`IDLE_MS`] without a take.
fn idle_in(k: &Kind) -> u32 {
    let since = k.last_taken.elapsed().as_millis();
    u32::try_from(i64::from(IDLE_MS).saturating_sub(since)).unwrap_or(0)
}

fn idle(k: &Kind) -> bool {
    idle_in(k) == 0
}

impl KeyDb {
    /// A spare AEAD transform of kind `id` for a new ESP SA, if one is
    /// ready.
    pub(crate) fn spare_aead(&self, id: AeadKind) -> Option<Aead> {
        if !other_cpu_online() {
            return None;
        }
        let (spare, ask) = self.spares.lock().take(id);
        if ask {
            self.spare_work.schedule_ms(0);
        }
        spare
    }

    /// Allocates the AEAD transform `name`, of kind `id`, for a new ESP
    /// SA that found no spare; spares of it are kept from now on.
    pub(crate) fn new_aead(&self, id: AeadKind, name: &AlgName) -> Result<Aead> {
        let tfm = Aead::new(name.as_cstr(), Completion::MayBeAsync)?;
        if other_cpu_online() && self.spares.lock().want(id, name) {
            self.spare_work.schedule_ms(0);
        }
        Ok(tfm)
    }
}

/// The worker: allocates spares (without the lock) until every algorithm
/// in use has [`KEEP`], then frees idle ones, and runs again when the next
/// of those kept becomes idle.
pub(crate) fn run(keys: &KeyDb) {
    loop {
        // The guard goes at the end of this statement.
        let Some((id, name, n)) = keys.spares.lock().wanting() else {
            break;
        };
        // A few at a time, so adds find the first ones soon.
        for _ in 0..n.min(4) {
            let tfm = Aead::new(name.as_cstr(), Completion::MayBeAsync);
            let failed = tfm.is_err();
            keys.spares.lock().put(id, tfm);
            if failed {
                break;
            }
        }
    }
    if let Some(ms) = keys.spares.lock().trim() {
        // A little after, so it is idle by then.
        keys.spare_work.schedule_ms(ms.saturating_add(10));
    }
}
