// SPDX-License-Identifier: GPL-2.0

//! The crypto transforms of an SA, allocated and keyed when the SA is added
//! or updated, as af_key does (`pfkey_msg2xfrm_state()` calls
//! `xfrm_init_state()`, whose `esp_init_state()`/`ah_init_state()` set the
//! crypto up): an algorithm the kernel lacks or a key the crypto API refuses
//! fails the message, not the SA's first packet.
//!
//! Names and keys come from the core (`kame_core::xform`); this file
//! allocates, keys and checks the result. Transforms accept asynchronous
//! implementations ([`Completion::MayBeAsync`], as esp4/ah4), so the data
//! path must handle `-EINPROGRESS`.

#![forbid(unsafe_code)]

use crate::{
    error::from_kernel,
    kame_core::{
        errno::Errno,
        esp::Geometry,
        replay::Window,
        sad::{SaRecord, IPPROTO_AH, IPPROTO_ESP, MODE_TUNNEL, SAFLAGS_ESN},
        xform::{self, Esn, EspXform},
    },
    kapi::{
        crypto::{Aead, Ahash, Completion},
        route_cache::RouteCache,
        rx_queue::Steering,
    },
    keydb::KeyDb,
    sa_use::SaUse,
    stats_hist::AlgRow,
    xform_spares::AeadKind,
};
use kernel::{
    new_spinlock,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc, SpinLock,
    },
};

/// The replay window an SA's `sadb_sa_replay` (packets, at most 255)
/// fits in.
pub(crate) type ReplayWindow = Window<4>;

/// An ESP SA's AEAD, keyed, with its geometry and sequence state: shared by
/// every published copy of the SA's record.
pub(crate) struct EspTransform {
    /// The transform, wrapped in its IV generator.
    pub(crate) aead: Aead,
    /// IV, block and ICV sizes, as the crypto API reports them.
    pub(crate) geom: Geometry,
    /// The last sequence number sent.
    pub(crate) seq: Atomic<u64>,
    /// What was received: the anti-replay window.
    pub(crate) replay: Pin<KBox<SpinLock<ReplayWindow>>>,
    /// Packets, bytes and first use, for the SA's lifetimes.
    pub(crate) usage: SaUse,
    /// 64-bit sequence numbers, the high half authenticated, not sent.
    pub(crate) esn: bool,
    /// Its row in the ESP histograms: the encryption algorithm's.
    pub(crate) hist: AlgRow,
    /// The CPU its inbound packets are decrypted on.
    pub(crate) rx: Steering,
}

/// An AH SA's keyed hash, with its sequence state.
pub(crate) struct AhTransform {
    /// The transform.
    pub(crate) hash: Ahash,
    /// ICV bytes in each packet: the digest truncated.
    pub(crate) icvlen: u32,
    /// The last sequence number sent.
    pub(crate) seq: Atomic<u64>,
    /// What was received: the anti-replay window.
    pub(crate) replay: Pin<KBox<SpinLock<ReplayWindow>>>,
    /// Packets, bytes and first use, for the SA's lifetimes.
    pub(crate) usage: SaUse,
    /// Its row in the AH histograms: the authentication algorithm's.
    pub(crate) hist: AlgRow,
}

/// What an SA computes with.
enum Crypto {
    /// ESP.
    Esp(Arc<EspTransform>),
    /// AH.
    Ah(Arc<AhTransform>),
    /// Nothing (IPcomp: compression is not done here).
    None,
}

/// An SA's transform and, in tunnel mode, its route to the far end.
pub(crate) struct SaTransform {
    crypto: Crypto,
    /// Tunnel mode: the outer header's route, kept between packets.
    pub(crate) route: Option<RouteCache>,
}

impl SaTransform {
    /// The AH transform, if this is one.
    pub(crate) fn ah(&self) -> Option<&Arc<AhTransform>> {
        match &self.crypto {
            Crypto::Ah(a) => Some(a),
            _ => None,
        }
    }

    /// The ESP transform, if this is one.
    pub(crate) fn esp(&self) -> Option<&Arc<EspTransform>> {
        match &self.crypto {
            Crypto::Esp(e) => Some(e),
            _ => None,
        }
    }

    /// What the data path counted on the SA (none for IPcomp, which is
    /// not run).
    pub(crate) fn usage(&self) -> Option<&SaUse> {
        match &self.crypto {
            Crypto::Esp(e) => Some(&e.usage),
            Crypto::Ah(a) => Some(&a.usage),
            Crypto::None => None,
        }
    }

    /// The last sequence number sent (none for IPcomp).
    pub(crate) fn last_seq(&self) -> Option<u64> {
        match &self.crypto {
            Crypto::Esp(e) => Some(e.seq.load(Relaxed)),
            Crypto::Ah(a) => Some(a.seq.load(Relaxed)),
            Crypto::None => None,
        }
    }

    /// Allocates and keys the transform `rec` needs. The errnos are
    /// af_key's: ENOSYS for an algorithm the kernel lacks (af_key's table
    /// lookup asks the crypto API whether it has it, which is also much
    /// quicker to fail than building the whole transform's templates), EINVAL
    /// for a key or ICV length the crypto API refuses.
    /// ESP's AEAD comes from `keys`' spares when one is ready.
    pub(crate) fn new(rec: &SaRecord, keys: &KeyDb) -> Result<SaTransform, Errno> {
        let nomem = |_| Errno::ENOMEM;
        let crypto = match rec.id.proto {
            IPPROTO_ESP => Crypto::Esp(Arc::new(esp(rec, keys)?, GFP_KERNEL).map_err(nomem)?),
            IPPROTO_AH => Crypto::Ah(Arc::new(ah(rec)?, GFP_KERNEL).map_err(nomem)?),
            // Not run: needs no route either.
            _ => {
                return Ok(SaTransform {
                    crypto: Crypto::None,
                    route: None,
                })
            }
        };
        // Transport mode's packets keep the route they came with.
        let route = match rec.mode {
            MODE_TUNNEL => Some(RouteCache::new().map_err(|_| Errno::ENOMEM)?),
            _ => None,
        };
        Ok(SaTransform { crypto, route })
    }
}

/// The errno of a failed allocation: the crypto API's ENOENT (no such
/// algorithm, and none could be loaded or built; say a template is missing)
/// is af_key's ENOSYS.
fn alloc_errno(e: Error) -> Errno {
    if e == ENOENT {
        Errno::ENOSYS
    } else {
        from_kernel(e)
    }
}

fn esp(rec: &SaRecord, keys: &KeyDb) -> Result<EspTransform, Errno> {
    // Linux's PF_KEY has no ESN flag; FreeBSD's asks for it.
    let esn = rec.flags & SAFLAGS_ESN != 0;
    let kind = AeadKind {
        encrypt: rec.encrypt,
        auth: rec.auth,
        esn,
    };
    // Keyed from where it was built (borrowed: moving the key showed).
    let keying;
    let built;
    let (mut aead, key, icv_len) = match keys.spare_aead(kind) {
        Some(t) => {
            keying = xform::esp_keying(rec)?;
            (t, keying.key.as_bytes(), keying.icv_len)
        }
        None => {
            built = xform::esp(rec, if esn { Esn::On } else { Esn::Off });
            let x = built.as_ref().map_err(|e| *e)?;
            (new_aead(x, kind, keys)?, x.key.as_bytes(), x.icv_len)
        }
    };
    // The algorithm was found above: this cannot fail.
    let hist = AlgRow::esp(rec.encrypt).ok_or(Errno::ENOSYS)?;
    aead.set_key(key).map_err(from_kernel)?;
    // authenc's default ICV is the whole digest; AEADs' their longest.
    let icvlen = u32::from(icv_len);
    aead.set_authsize(icvlen).map_err(from_kernel)?;
    if aead.authsize() != icvlen {
        return Err(Errno::EINVAL);
    }
    let replay = replay_window(rec, esn)?;
    let block = aead.blocksize() as usize;
    Ok(EspTransform {
        geom: Geometry {
            iv_len: aead.ivsize() as usize,
            align: block.next_multiple_of(4),
            block,
            icv_len: icvlen as usize,
        },
        aead,
        seq: Atomic::new(rec.out_seq),
        replay,
        usage: SaUse::new(),
        esn,
        hist,
        rx: Steering::new(rec.id.spi).map_err(|_| Errno::ENOMEM)?,
    })
}

/// The AEAD `x` of an ESP SA that found no spare of `kind`, allocated
/// here: ENOSYS if the kernel lacks a part of it.
fn new_aead(x: &EspXform, kind: AeadKind, keys: &KeyDb) -> Result<Aead, Errno> {
    if x.parts
        .iter()
        .flatten()
        .any(|p| !crate::crypto_probe::has(p))
    {
        return Err(Errno::ENOSYS);
    }
    keys.new_aead(kind, &x.name).map_err(alloc_errno)
}

fn ah(rec: &SaRecord) -> Result<AhTransform, Errno> {
    let x = xform::ah(rec)?;
    // `xform::ah` found the algorithm: this cannot fail.
    let hist = AlgRow::ah(rec.auth).ok_or(Errno::ENOSYS)?;
    if !crate::crypto_probe::has(x.name) {
        return Err(Errno::ENOSYS);
    }
    let mut hash = Ahash::new(x.name, Completion::MayBeAsync).map_err(alloc_errno)?;
    hash.set_key(x.key).map_err(from_kernel)?;
    let digestlen = hash.digestsize();
    let icvlen = u32::from(x.icv_len);
    if digestlen < icvlen {
        return Err(Errno::EINVAL);
    }
    Ok(AhTransform {
        hash,
        icvlen,
        seq: Atomic::new(rec.out_seq),
        replay: replay_window(rec, false)?,
        usage: SaUse::new(),
        hist,
    })
}

/// An SA's replay window, as long as `sadb_sa_replay` says; ESN needs one
/// (EINVAL without, as XFRM).
fn replay_window(rec: &SaRecord, esn: bool) -> Result<Pin<KBox<SpinLock<ReplayWindow>>>, Errno> {
    let window = ReplayWindow::new(u32::from(rec.replay), esn).map_err(|_| Errno::EINVAL)?;
    KBox::pin_init(new_spinlock!(window), GFP_KERNEL).map_err(|_| Errno::ENOMEM)
}
