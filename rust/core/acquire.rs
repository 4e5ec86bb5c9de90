// SPDX-License-Identifier: GPL-2.0

//! SADB_ACQUIRE, the message the kernel sends registered key daemons when
//! an outbound packet needs an SA that does not exist: af_key's layout
//! (`pfkey_send_acquire()`): source and destination addresses, the policy
//! (id, priority, direction out), and a proposal listing every algorithm
//! combination the kernel can run, with af_key's lifetimes.

mod larval;

pub use larval::{AcqTable, Larval, Raised, Template};

use crate::kame_core::{
    algs::{AlgDesc, EncKind, AALG_NULL, AUTH, ENC},
    pfkey::wire::{
        ext_type as et, Address, ByteSink, Comb, Encoder, IpAddr, NoMemory, Policy,
        PolicyWithRequests, SockAddr, COMB_LEN,
    },
    sad::{IPPROTO_AH, IPPROTO_ESP},
    spd::{DIR_OUT, POLICY_IPSEC},
};

/// The lifetimes af_key proposes in every combination, in seconds.
const HARD_ADDTIME: u64 = 24 * 60 * 60;
const SOFT_ADDTIME: u64 = 20 * 60 * 60;
const HARD_USETIME: u64 = 8 * 60 * 60;
const SOFT_USETIME: u64 = 7 * 60 * 60;
/// The replay window proposed.
const REPLAY: u8 = 32;

/// What an ACQUIRE asks for.
pub struct Acquire {
    /// `IPPROTO_ESP` or `IPPROTO_AH`.
    pub proto: u8,
    /// The SA's source address.
    pub src: IpAddr,
    /// The SA's destination address.
    pub dst: IpAddr,
    /// The policy that needs it.
    pub policy_id: u32,
    /// That policy's priority.
    pub priority: u32,
}

/// The proposal: for AH each authentication algorithm; for ESP each
/// cipher with each authentication algorithm (af_key's order), then each
/// AEAD alone (af_key lists none; we run them). af_key itself sends this
/// list empty for policies made over PF_KEY (their templates' algorithm
/// masks stay zero); ours lists what the kernel can run.
struct Combs<'a> {
    proto: u8,
    available: &'a dyn Fn(&AlgDesc) -> bool,
}

impl<'a> Combs<'a> {
    fn iter(&self) -> impl Iterator<Item = Comb> + Clone + 'a {
        let (proto, available) = (self.proto, self.available);
        let base = Comb {
            soft_addtime: SOFT_ADDTIME,
            hard_addtime: HARD_ADDTIME,
            soft_usetime: SOFT_USETIME,
            hard_usetime: HARD_USETIME,
            ..Comb::default()
        };
        let auths = move || {
            AUTH.iter()
                .filter(move |a| a.id != AALG_NULL && available(a))
        };
        let with_auth = move |a: &AlgDesc, c: Comb| Comb {
            auth: a.id,
            auth_min_bits: a.min_bits,
            auth_max_bits: a.max_bits,
            ..c
        };
        let with_enc = move |e: &AlgDesc| Comb {
            encrypt: e.id,
            encrypt_min_bits: e.min_bits,
            encrypt_max_bits: e.max_bits,
            ..base
        };
        let enc = move |kind: EncKind| {
            ENC.iter()
                .filter(move |e| proto == IPPROTO_ESP && e.kind == kind && available(e))
        };
        let ah = auths()
            .filter(move |_| proto == IPPROTO_AH)
            .map(move |a| with_auth(a, base));
        let esp =
            enc(EncKind::Cipher).flat_map(move |e| auths().map(move |a| with_auth(a, with_enc(e))));
        ah.chain(esp).chain(enc(EncKind::Aead).map(with_enc))
    }
}

impl Acquire {
    /// Appends the body of the ACQUIRE; `available` says which algorithms
    /// the crypto API can run now.
    pub fn encode<S: ByteSink>(
        &self,
        e: &mut Encoder<'_, S>,
        available: &dyn Fn(&AlgDesc) -> bool,
    ) -> Result<(), NoMemory> {
        let full = |addr: IpAddr| Address {
            proto: 0,
            prefixlen: addr.bits(),
            sa: SockAddr { addr, port: 0 },
        };
        e.ext(et::ADDRESS_SRC, &full(self.src))?;
        e.ext(et::ADDRESS_DST, &full(self.dst))?;
        let policy = Policy {
            ty: POLICY_IPSEC,
            dir: DIR_OUT,
            id: self.policy_id,
            priority: self.priority,
        };
        e.ext(
            et::X_POLICY,
            &PolicyWithRequests {
                policy,
                requests: &[],
            },
        )?;
        let combs = Combs {
            proto: self.proto,
            available,
        };
        // `struct sadb_prop` past its header: replay, three reserved bytes.
        let head = [REPLAY, 0, 0, 0];
        e.ext_items::<_, COMB_LEN>(et::PROPOSAL, &head, combs.iter(), |c, o| c.write(o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kame_core::pfkey::{ext::Exts, MsgHeader};
    use std::vec::Vec;

    fn build(proto: u8, available: &dyn Fn(&AlgDesc) -> bool) -> Vec<u8> {
        let a = Acquire {
            proto,
            src: IpAddr::V4([10, 0, 0, 1]),
            dst: IpAddr::V4([10, 0, 0, 2]),
            policy_id: 0x41,
            priority: 7,
        };
        let mut b = Vec::new();
        let mut e = Encoder::new(&mut b, &MsgHeader::default()).unwrap();
        a.encode(&mut e, available).unwrap();
        e.finish().unwrap();
        b
    }

    fn combs(b: &[u8]) -> Vec<(u8, u8)> {
        let exts = Exts::parse(b).unwrap();
        let p = exts.get(et::PROPOSAL).unwrap();
        assert_eq!(p[4], REPLAY);
        p[8..].chunks(COMB_LEN).map(|c| (c[0], c[1])).collect()
    }

    #[test]
    fn ah_proposes_each_auth_algorithm_but_null() {
        let b = build(IPPROTO_AH, &|_| true);
        let c = combs(&b);
        assert_eq!(c.len(), AUTH.len() - 1);
        assert!(c.iter().all(|&(a, e)| a != AALG_NULL && e == 0));
        let exts = Exts::parse(&b).unwrap();
        let pol = Policy::decode(exts.get(et::X_POLICY).unwrap());
        assert_eq!(
            (pol.ty, pol.dir, pol.id, pol.priority),
            (POLICY_IPSEC, DIR_OUT, 0x41, 7)
        );
        assert!(exts.get(et::ADDRESS_SRC).is_some() && exts.get(et::ADDRESS_DST).is_some());
    }

    #[test]
    fn esp_proposes_ciphers_with_each_auth_then_aeads_alone() {
        // Ids repeat between the tables: choose by crypto name.
        let have = [
            c"cbc(aes)",
            c"rfc4106(gcm(aes))",
            c"hmac(sha1)",
            c"hmac(sha256)",
        ];
        let only = |a: &AlgDesc| have.contains(&a.crypto_name);
        let c = combs(&build(IPPROTO_ESP, &only));
        // HMAC-SHA1 (3) and HMAC-SHA-256 (5) with AES-CBC (12); then
        // AES-GCM with 8, 12 and 16-byte ICVs (18, 19, 20: one transform).
        assert_eq!(c, [(3, 12), (5, 12), (0, 18), (0, 19), (0, 20)]);
        // Everything: longer than an extension staged whole; every cipher
        // with every authenticator, then the AEADs.
        let all = combs(&build(IPPROTO_ESP, &|_| true));
        let ciphers = ENC.iter().filter(|e| e.kind == EncKind::Cipher).count();
        let aeads = ENC.iter().filter(|e| e.kind == EncKind::Aead).count();
        assert_eq!(all.len(), ciphers * (AUTH.len() - 1) + aeads);
        assert!(all.len() * COMB_LEN > 512);
        // Nothing the kernel can run: an empty proposal.
        assert!(combs(&build(IPPROTO_ESP, &|_| false)).is_empty());
    }
}
