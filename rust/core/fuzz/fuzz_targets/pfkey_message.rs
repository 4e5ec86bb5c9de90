// SPDX-License-Identifier: GPL-2.0

//! Fuzz target: one PF_KEY message written to the socket, through the pure
//! path the module runs before and inside its handlers.
//!
//! The header check, the extension walk, every extension decoder on the
//! slots the walk accepted, and the records ADD/UPDATE and SPDADD build.
//! What is accepted must hold together:
//!
//! - an accepted header says exactly how long the message is;
//! - every slot the walk fills is a whole extension of its own type, at
//!   least its type's fixed size, lying inside the message;
//! - an accepted SA or policy, described back as the module describes it,
//!   is a well-formed message whose extensions decode to the record's
//!   fields, and which builds the same record again (for SAs, unless a key
//!   af_key drops, e.g. a zero-bit key for the NULL cipher, was left out);
//! - nothing panics, overflows or reads out of bounds.
//!
//! `scripts/fuzz` (`make fuzz`) runs it; Documentation/testing.rst.

#![no_main]
#![forbid(unsafe_code)]

use kame_core::{
    pfkey::{
        check_header,
        ext::{Exts, EXT_MAX},
        wire::{
            ext_type as et, Address, Alg, ByteSink, Comb, Encoder, IpsecRequest, Key, Lifetime,
            NatTPort, NatTType, NoMemory, Policy, Sa, Sa2, SpiRange,
        },
        MsgHeader, MsgType, SADB_MSG_LEN, WORD,
    },
    sad::{self, lookup_id, SaRecord},
    spd::{selector_of, PolicyRecord, POLICY_IPSEC, POLICY_NONE},
};
use libfuzzer_sys::fuzz_target;

/// The time the records are stamped with; any value will do.
const NOW: u64 = 1_700_000_000;
/// The reqid a `unique` request without a manual one is given.
const GEN_REQID: u32 = 0x4000;

/// The encoder's output.
#[derive(Default)]
struct Buf(Vec<u8>);

impl ByteSink for Buf {
    fn put(&mut self, bytes: &[u8]) -> Result<(), NoMemory> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
    fn patch(&mut self, at: usize, bytes: &[u8]) {
        self.0[at..at + bytes.len()].copy_from_slice(bytes);
    }
    fn written(&self) -> usize {
        self.0.len()
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok((hdr, ty)) = check_header(data) else {
        return;
    };
    assert_eq!(usize::from(hdr.len) * WORD, data.len());
    assert_eq!(MsgType::from_wire(hdr.msg_type), Some(ty));
    let reply = hdr.error_reply(kame_core::errno::Errno::EINVAL);
    assert_eq!(usize::from(reply.len) * WORD, SADB_MSG_LEN);
    let Ok(exts) = Exts::parse(data) else {
        return;
    };
    check_slots(data, &exts);
    decode_every_slot(&exts);
    // Run every builder on every message: the handler a type picks is a
    // detail; each must be safe on whatever the walk accepts.
    let _ = lookup_id(&hdr, &exts);
    let _ = sad::address_pair(&exts);
    let _ = selector_of(&exts);
    if let Ok(rec) = SaRecord::from_msg(&hdr, &exts, NOW) {
        sa_round_trip(&hdr, &exts, &rec);
    }
    if let Ok(rec) = PolicyRecord::from_msg(&exts, NOW, || Some(GEN_REQID)) {
        policy_round_trip(&hdr, &rec);
    }
});

/// Each filled slot is a whole extension of its type inside the message.
fn check_slots(data: &[u8], exts: &Exts<'_>) {
    let span = data.as_ptr_range();
    for t in 1..=EXT_MAX {
        let Some(e) = exts.get(t) else { continue };
        assert!(
            e.len() >= 8 && e.len() % WORD == 0,
            "type {t}: {} bytes",
            e.len()
        );
        let words = u16::from_ne_bytes([e[0], e[1]]);
        assert_eq!(usize::from(words) * WORD, e.len());
        assert_eq!(u16::from_ne_bytes([e[2], e[3]]), t);
        let r = e.as_ptr_range();
        assert!(r.start >= span.start && r.end <= span.end);
        assert!(r.start as usize >= span.start as usize + SADB_MSG_LEN);
    }
    assert!(exts.get(0).is_none() && exts.get(EXT_MAX + 1).is_none());
}

/// Every decoder the module and the tools use, on the slots they read.
fn decode_every_slot(exts: &Exts<'_>) {
    let get = |t| exts.get(t);
    get(et::SA).map(Sa::decode);
    for t in [et::LIFETIME_CURRENT, et::LIFETIME_HARD, et::LIFETIME_SOFT] {
        get(t).map(Lifetime::decode);
    }
    for t in [
        et::ADDRESS_SRC,
        et::ADDRESS_DST,
        et::ADDRESS_PROXY,
        et::X_NAT_T_OA,
    ] {
        if let Some(e) = get(t) {
            // The walk checked family and length: the address decodes.
            let a = Address::decode(e).expect("a checked address slot decodes");
            assert!(a.prefixlen <= a.sa.addr.bits());
        }
    }
    for t in [et::KEY_AUTH, et::KEY_ENCRYPT] {
        if let Some(e) = get(t) {
            let k = Key::decode(e);
            assert_eq!(k.key.len(), usize::from(k.bits).div_ceil(8));
        }
    }
    get(et::SPIRANGE).map(SpiRange::decode);
    get(et::X_SA2).map(Sa2::decode);
    get(et::X_NAT_T_TYPE).map(NatTType::decode);
    get(et::X_NAT_T_SPORT).map(NatTPort::decode);
    get(et::X_NAT_T_DPORT).map(NatTPort::decode);
    if let Some(e) = get(et::X_POLICY) {
        Policy::decode(e);
        let mut rest = Policy::requests(e);
        while let Ok((_, n)) = IpsecRequest::decode(rest) {
            assert!(n >= 16 && n <= rest.len());
            rest = &rest[n..];
        }
    }
    for t in [et::SUPPORTED_AUTH, et::SUPPORTED_ENCRYPT] {
        if let Some(e) = get(t) {
            (0..).map_while(|i| Alg::decode_nth(e, i)).count();
        }
    }
    if let Some(e) = get(et::PROPOSAL) {
        (0..).map_while(|i| Comb::decode_nth(e, i)).count();
    }
}

/// Parses an encoded message the way the module parses a written one.
fn reparse(msg: &[u8]) -> (MsgHeader, Exts<'_>) {
    let (hdr, _) = check_header(msg).expect("an encoded message has a valid header");
    let exts = Exts::parse(msg).expect("an encoded message's extensions walk");
    (hdr, exts)
}

/// The fields of an SA that a description carries and a message sets.
fn sa_fields(r: &SaRecord) -> impl PartialEq + std::fmt::Debug + '_ {
    (
        (r.id, r.src, r.replay, r.flags, r.auth, r.encrypt),
        (&r.auth_key, &r.enc_key, r.mode, r.reqid, r.hard, r.soft),
        (r.current, r.natt.filter(|n| n.ty != 0), r.seq),
    )
}

/// An accepted SA, described as GET describes it, reads back as itself.
fn sa_round_trip(req: &MsgHeader, exts: &Exts<'_>, rec: &SaRecord) {
    let hdr = MsgHeader {
        len: 0,
        errno: 0,
        satype: rec.satype(),
        ..*req
    };
    assert_eq!(hdr.satype, req.satype);
    let mut buf = Buf::default();
    let mut e = Encoder::new(&mut buf, &hdr).expect("a Vec grows");
    rec.encode(&mut e, true).expect("an SA description fits");
    let len = e.finish().expect("an SA description fits");
    assert_eq!(len, buf.0.len());
    let (h2, x) = reparse(&buf.0);
    assert_eq!(usize::from(h2.len) * WORD, len);
    // The extensions say what the record holds.
    let sa = Sa::decode(x.get(et::SA).expect("SA ext"));
    assert_eq!(
        (sa.spi, sa.replay, sa.auth, sa.encrypt, sa.flags),
        (rec.id.spi, rec.replay, rec.auth, rec.encrypt, rec.flags)
    );
    let hard = x.get(et::LIFETIME_HARD).map(Lifetime::decode);
    let soft = x.get(et::LIFETIME_SOFT).map(Lifetime::decode);
    assert_eq!((hard, soft), (Some(rec.hard), Some(rec.soft)));
    let (src, dst) = sad::address_pair(&x).expect("one family");
    assert_eq!((src.sa.addr, dst.sa.addr), (rec.src, rec.id.dst));
    let key = |t| x.get(t).map(Key::decode);
    assert_eq!(key(et::KEY_AUTH), rec.auth_key.as_ref().map(|k| k.as_key()));
    assert_eq!(
        key(et::KEY_ENCRYPT),
        rec.enc_key.as_ref().map(|k| k.as_key())
    );
    let sa2 = Sa2::decode(x.get(et::X_SA2).expect("SA2 ext"));
    assert_eq!(
        (sa2.mode, u64::from(sa2.sequence), sa2.reqid),
        (rec.mode, rec.out_seq, rec.reqid)
    );
    if let Some(p) = rec.proxy {
        assert_eq!(x.get(et::ADDRESS_PROXY).and_then(Address::decode), Some(p));
    }
    // And it builds the same SA again, unless a key the request carried
    // was dropped (a zero-bit key, or one for algorithm 0), as af_key
    // leaves it out of its descriptions too.
    let dropped = (exts.get(et::KEY_AUTH).is_some() && rec.auth_key.is_none())
        || (exts.get(et::KEY_ENCRYPT).is_some() && rec.enc_key.is_none());
    match SaRecord::from_msg(&h2, &x, NOW) {
        Ok(again) => {
            assert_eq!(sa_fields(&again), sa_fields(rec));
            // A description without a proxy shows af_key's wildcard one.
            let wild = |r: &SaRecord| r.proxy.filter(|p| !p.sa.addr.is_unspecified());
            assert_eq!(wild(&again), wild(rec));
        }
        Err(err) => assert!(dropped, "description of an accepted SA refused: {err:?}"),
    }
}

/// An accepted policy, described as SPDGET describes it, reads back as
/// itself.
fn policy_round_trip(req: &MsgHeader, rec: &PolicyRecord) {
    let hdr = MsgHeader {
        len: 0,
        errno: 0,
        satype: 0,
        ..*req
    };
    let mut buf = Buf::default();
    let mut e = Encoder::new(&mut buf, &hdr).expect("a Vec grows");
    rec.encode(&mut e).expect("a policy description fits");
    let len = e.finish().expect("a policy description fits");
    assert_eq!(len, buf.0.len());
    let (_, x) = reparse(&buf.0);
    let again = PolicyRecord::from_msg(&x, NOW, || Some(GEN_REQID))
        .expect("the description of an accepted policy is accepted");
    // An IPsec policy without requests reads back as `none`.
    let ty = |r: &PolicyRecord| {
        if r.ty == POLICY_IPSEC && r.bundle().next().is_none() {
            POLICY_NONE
        } else {
            r.ty
        }
    };
    assert_eq!(
        (ty(&again), again.dir, again.priority, again.id, again.sel),
        (ty(rec), rec.dir, rec.priority, rec.id, rec.sel)
    );
    assert_eq!(again.requests, rec.requests);
    assert_eq!((again.hard, again.soft), (rec.hard, rec.soft));
}
