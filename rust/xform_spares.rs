// SPDX-License-Identifier: GPL-2.0

//! Spare ESP transforms, allocated ahead while SAs of an algorithm are
//! being added in bulk.
//!
//! Allocating an AEAD builds one transform per template layer (five for
//! `echainiv(authenc(hmac(sha256),cbc(aes)))`, each zeroed) after looking
//! the name up: about a third of a SADB_ADD's kernel time, as af_key's. Once
//! [`BULK_AT`] adds of one algorithm have come without a pause of
//! [`IDLE_MS`], a worker on the unbound queue (another CPU, if one is idle)
//! keeps [`KEEP`] transforms of it allocated, and an add takes one and keys
//! it there: a refused key still fails the add. An algorithm the kernel
//! lacks fails its first adds, which allocate their own, as before.
//!
//! Spares hold the crypto instances (and modules) that implement them, as
//! SAs do, so they are kept no longer than a bulk load needs: they go
//! [`IDLE_MS`] after the last add took one, and at SADB_FLUSH. A few adds,
//! as an IKE daemon makes them, never see one. A spare allocated before
//! the crypto API made another algorithm usable is never used: a driver
//! of higher priority may have arrived, which new SAs must get
//! ([`algs_loaded`]). With one CPU online there are none: the worker would
//! only add context switches to the same allocations.

#![forbid(unsafe_code)]

use crate::{
    kame_core::xform::AlgName,
    kapi::{
        crypto::{algs_loaded, Aead, Completion},
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

/// Adds of one algorithm, without a pause of [`IDLE_MS`], that make a bulk
/// load: spares are kept from then on.
const BULK_AT: u32 = 64;

/// Algorithms followed at once; a new one replaces the least recently used.
const MAX_KINDS: usize = 4;

/// An algorithm no add used for this long is forgotten, with its spares.
const IDLE_MS: u32 = 2000;

/// Which AEAD a spare is: its SAs' algorithm ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AeadKind {
    pub(crate) encrypt: u8,
    pub(crate) auth: u8,
    pub(crate) esn: bool,
}

/// One algorithm adds were made with, and its spares.
struct Kind {
    id: AeadKind,
    /// What the worker allocates.
    name: AlgName,
    /// Adds since the algorithm was last idle; spares are kept from
    /// [`BULK_AT`].
    adds: u32,
    /// [`algs_loaded`] when `tfms` were allocated.
    algs: u32,
    /// Room for [`KEEP`], reserved when the bulk starts: the worker pushes
    /// without allocating under the lock.
    tfms: KVec<Aead>,
    last_used: Instant<Monotonic>,
}

impl Kind {
    fn bulk(&self) -> bool {
        self.adds >= BULK_AT
    }

    /// Milliseconds until it has gone [`IDLE_MS`] without an add.
    fn idle_in(&self) -> u32 {
        let since = self.last_used.elapsed().as_millis();
        u32::try_from(i64::from(IDLE_MS).saturating_sub(since)).unwrap_or(0)
    }

    fn idle(&self) -> bool {
        self.idle_in() == 0
    }

    /// Counts an add now; whether the bulk starts with it.
    fn count_add(&mut self) -> bool {
        if self.idle() {
            self.adds = 0;
        }
        self.last_used = Instant::now();
        self.adds = self.adds.saturating_add(1);
        self.adds == BULK_AT && self.tfms.reserve(KEEP, GFP_KERNEL).is_ok()
    }

    /// Frees spares allocated before the crypto API's algorithms last
    /// changed; whether there were any.
    fn drop_stale(&mut self, now: u32) -> bool {
        let stale = self.algs != now;
        if stale {
            self.tfms.clear();
            self.algs = now;
        }
        stale
    }
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
        if !k.bulk() || k.idle() {
            return (None, false);
        }
        k.last_used = Instant::now();
        k.adds = k.adds.saturating_add(1);
        let stale = k.drop_stale(algs_loaded());
        let tfm = k.tfms.pop();
        let short = stale || k.tfms.len() <= REFILL_AT;
        (tfm, self.ask(short))
    }

    /// Counts an add of kind `id`, named `name`, that found no spare;
    /// whether the worker should be asked to run.
    fn count(&mut self, id: AeadKind, name: &AlgName) -> bool {
        if let Some(k) = self.kinds.iter_mut().find(|k| k.id == id) {
            let starts = k.count_add();
            let short = starts || k.bulk();
            return self.ask(short);
        }
        if self.kinds.len() >= MAX_KINDS {
            // The least recently used goes, with its spares.
            let oldest = (0..self.kinds.len()).min_by_key(|&i| self.kinds[i].idle_in());
            if let Some(i) = oldest {
                drop(self.kinds.remove(i));
            }
        }
        let kind = Kind {
            id,
            name: name.clone(),
            adds: 1,
            algs: algs_loaded(),
            tfms: KVec::new(),
            last_used: Instant::now(),
        };
        // Not followed if this fails: adds allocate their own.
        let _ = self.kinds.push(kind, GFP_KERNEL);
        false
    }

    /// An algorithm in a bulk load, short of spares: its kind, name, how
    /// many it lacks and [`algs_loaded`] now. The worker is done when there
    /// is none.
    fn wanting(&mut self) -> Option<(AeadKind, AlgName, usize, u32)> {
        let now = algs_loaded();
        let w = self.kinds.iter_mut().find_map(|k| {
            if !k.bulk() || k.idle() {
                return None;
            }
            k.drop_stale(now);
            // Room reserved when the bulk started (none if that failed).
            let lack = KEEP.min(k.tfms.capacity()).saturating_sub(k.tfms.len());
            (lack > 0).then(|| (k.id, k.name.clone(), lack, now))
        });
        self.refilling = w.is_some();
        w
    }

    /// Adds `tfm`, allocated when [`algs_loaded`] was `algs`, to the spares
    /// of kind `id`; drops a kind that could not be allocated (adds then
    /// allocate their own, and fail).
    fn put(&mut self, id: AeadKind, algs: u32, tfm: Result<Aead>) {
        let Some(i) = self.kinds.iter().position(|k| k.id == id) else {
            return;
        };
        match tfm {
            // Stale, or full (an add re-created the kind meanwhile):
            // dropped.
            Ok(t) => {
                let k = &mut self.kinds[i];
                if k.algs == algs && algs == algs_loaded() {
                    drop(k.tfms.push_within_capacity(t));
                }
            }
            Err(_) => drop(self.kinds.remove(i)),
        }
    }

    /// Forgets algorithms no add used for [`IDLE_MS`], with their spares;
    /// in how many milliseconds the next of those left becomes idle.
    fn trim(&mut self) -> Option<u32> {
        self.kinds.retain(|k| !k.idle());
        self.kinds.iter().map(Kind::idle_in).min()
    }

    /// Frees every spare and forgets the algorithms (SADB_FLUSH: a bulk
    /// load that follows starts afresh).
    pub(crate) fn clear(&mut self) {
        self.kinds.clear();
    }
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
    /// SA that found no spare, and counts the add towards a bulk load.
    pub(crate) fn new_aead(&self, id: AeadKind, name: &AlgName) -> Result<Aead> {
        let tfm = Aead::new(name.as_cstr(), Completion::MayBeAsync)?;
        if other_cpu_online() && self.spares.lock().count(id, name) {
            self.spare_work.schedule_ms(0);
        }
        Ok(tfm)
    }
}

/// The worker: allocates spares (without the lock) until every algorithm
/// in a bulk load has [`KEEP`], then forgets idle ones, and runs again
/// when the next of those kept becomes idle.
pub(crate) fn run(keys: &KeyDb) {
    loop {
        // The guard goes at the end of this statement.
        let Some((id, name, n, algs)) = keys.spares.lock().wanting() else {
            break;
        };
        // A few at a time, so adds find the first ones soon.
        for _ in 0..n.min(4) {
            let tfm = Aead::new(name.as_cstr(), Completion::MayBeAsync);
            let failed = tfm.is_err();
            keys.spares.lock().put(id, algs, tfm);
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
