// SPDX-License-Identifier: GPL-2.0

//! Valid PF_KEY requests, the starting points of the mutations: the SA and
//! policy messages setkey and IKE daemons send, with random but well-formed
//! parameters drawn from small pools (a few SPIs, hosts and policy ids), so
//! that GET, DELETE, UPDATE and SPDDELETE often find what an ADD made.

#![forbid(unsafe_code)]

use kame_core::algs::{AlgDesc, EncKind, AUTH, ENC};
use kame_core::pfkey::wire::{
    ext_type as et, Address, ByteSink, Encoder, IpAddr, IpsecRequest, Key, Lifetime, NatTPort,
    NatTType, NoMemory, Policy, PolicyWithRequests, Sa, Sa2, SockAddr, SpiRange,
};
use kame_core::pfkey::{MsgHeader, MsgType, PF_KEY_V2};

use crate::rng::Rng;

/// An encoder's output.
#[derive(Default)]
struct Buf(Vec<u8>);

impl ByteSink for Buf {
    fn put(&mut self, bytes: &[u8]) -> Result<(), NoMemory> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
    fn put_zeroed(&mut self, n: usize) -> Result<&mut [u8], NoMemory> {
        let at = self.0.len();
        self.0.resize(at + n, 0);
        Ok(&mut self.0[at..])
    }
    fn patch(&mut self, at: usize, bytes: &[u8]) {
        self.0[at..at + bytes.len()].copy_from_slice(bytes);
    }
    fn written(&self) -> usize {
        self.0.len()
    }
}

const SATYPE_AH: u8 = 2;
const SATYPE_ESP: u8 = 3;
const SATYPE_IPCOMP: u8 = 9;

/// The kinds of request, with how often each is drawn.
const KINDS: [(Kind, usize); 21] = [
    (Kind::AddEsp, 8),
    (Kind::AddAh, 3),
    (Kind::AddIpcomp, 1),
    (Kind::Update, 4),
    (Kind::GetSpi, 4),
    (Kind::Get, 4),
    (Kind::Delete, 4),
    (Kind::Flush, 1),
    (Kind::Dump, 2),
    (Kind::Register, 2),
    (Kind::Promisc, 1),
    (Kind::Acquire, 1),
    (Kind::SpdAdd, 8),
    (Kind::SpdUpdate, 3),
    (Kind::SpdSetIdx, 1),
    (Kind::SpdDelete, 4),
    (Kind::SpdGet, 3),
    (Kind::SpdDelete2, 3),
    (Kind::SpdDump, 2),
    (Kind::SpdFlush, 1),
    (Kind::Bare, 2),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    AddEsp,
    AddAh,
    AddIpcomp,
    Update,
    GetSpi,
    Get,
    Delete,
    Flush,
    Dump,
    Register,
    Promisc,
    Acquire,
    SpdAdd,
    SpdUpdate,
    SpdSetIdx,
    SpdDelete,
    SpdGet,
    SpdDelete2,
    SpdDump,
    SpdFlush,
    Bare,
}

fn header(ty: u8, satype: u8) -> MsgHeader {
    MsgHeader {
        version: PF_KEY_V2,
        msg_type: ty,
        satype,
        ..Default::default()
    }
}

/// Builds one message from a header and its extensions.
fn build(hdr: MsgHeader, exts: &[(u16, &dyn kame_core::pfkey::wire::ExtBody)]) -> Vec<u8> {
    let mut b = Buf::default();
    // PANIC: every body here is far below the encoder's limits and a Vec
    // grows; a failure would be a bug in this file.
    let mut e = Encoder::new(&mut b, &hdr).expect("header");
    for (t, body) in exts {
        e.ext(*t, *body).expect("extension");
    }
    e.finish().expect("length");
    b.0
}

/// A host from a small pool, IPv4 or IPv6.
fn host(r: &mut Rng, v6: bool) -> IpAddr {
    let n = 1 + r.below(4) as u8;
    if v6 {
        let mut a = [0u8; 16];
        a[0] = 0x20;
        a[1] = 0x01;
        a[2] = 0x0d;
        a[3] = 0xb8;
        a[15] = n;
        IpAddr::V6(a, 0)
    } else {
        IpAddr::V4([10, 0, 0, n])
    }
}

fn addr(a: IpAddr, prefixlen: u8, port: u16, proto: u8) -> Address {
    Address {
        proto,
        prefixlen,
        sa: SockAddr { addr: a, port },
    }
}

/// An SPI from the pool GET, DELETE and UPDATE draw from too.
fn spi(r: &mut Rng) -> u32 {
    0x1000 + r.below(32) as u32
}

/// A key size the algorithm takes.
fn key_bits(r: &mut Rng, a: &AlgDesc) -> u16 {
    if a.max_bits <= a.min_bits || a.step_bits == 0 {
        return a.min_bits;
    }
    let steps = (a.max_bits - a.min_bits) / a.step_bits;
    a.min_bits + a.step_bits * r.below(usize::from(steps) + 1) as u16
}

/// Key bytes for `bits` bits.
fn key_bytes(r: &mut Rng, bits: u16) -> Vec<u8> {
    r.bytes(usize::from(bits).div_ceil(8))
}

/// ADD or UPDATE of an SA of `satype`.
fn sa_msg(r: &mut Rng, ty: MsgType, satype: u8) -> Vec<u8> {
    let v6 = r.chance(1, 4);
    let (src, dst) = (host(r, v6), host(r, v6));
    let full = if v6 { 128 } else { 32 };
    let (auth, enc) = match satype {
        SATYPE_AH => (r.pick(&AUTH[1..]), None),
        SATYPE_IPCOMP => (AUTH[0], None),
        _ => {
            let c = r.pick(&ENC);
            let a = if c.kind == EncKind::Aead {
                AUTH[0]
            } else {
                r.pick(&AUTH)
            };
            (a, Some(c))
        }
    };
    let auth_id = if satype == SATYPE_IPCOMP || (auth.id == AUTH[0].id && r.chance(1, 2)) {
        0
    } else {
        auth.id
    };
    let enc_id = match (satype, enc) {
        (SATYPE_IPCOMP, _) => 2,
        (_, Some(c)) => c.id,
        _ => 0,
    };
    let sa = Sa {
        spi: if satype == SATYPE_IPCOMP {
            r.below(0x10000) as u32
        } else {
            spi(r)
        },
        replay: r.pick(&[0, 4, 32, 64]),
        state: 0,
        auth: auth_id,
        encrypt: enc_id,
        flags: r.pick(&[0, 0x2000_0000, 0x8000_0000]),
    };
    let ab = key_bits(r, &auth);
    let akey = key_bytes(r, ab);
    let eb = enc.map_or(0, |c| key_bits(r, &c));
    let ekey = key_bytes(r, eb);
    let a_key = Key {
        bits: ab,
        key: &akey,
    };
    let e_key = Key {
        bits: eb,
        key: &ekey,
    };
    let s = addr(src, full, 0, 255);
    let d = addr(dst, full, 0, 255);
    let sa2 = Sa2 {
        mode: r.pick(&[0, 1, 2, 3]),
        sequence: 0,
        reqid: r.pick(&[0, 1, 5, 0x4000]),
    };
    let hard = Lifetime {
        allocations: 0,
        bytes: r.pick(&[0, 1 << 20]),
        addtime: r.pick(&[0, 3600]),
        usetime: 0,
    };
    let soft = Lifetime {
        addtime: hard.addtime / 2,
        ..hard
    };
    let proxy = addr(host(r, v6), full - 8, 0, 255);
    let natt = (NatTType(2), NatTPort(4500), NatTPort(4500));
    let mut exts: Vec<(u16, &dyn kame_core::pfkey::wire::ExtBody)> =
        vec![(et::SA, &sa), (et::ADDRESS_SRC, &s), (et::ADDRESS_DST, &d)];
    if satype != SATYPE_IPCOMP && (auth_id != 0 || satype == SATYPE_AH || r.chance(1, 8)) {
        exts.push((et::KEY_AUTH, &a_key));
    }
    if satype == SATYPE_ESP {
        exts.push((et::KEY_ENCRYPT, &e_key));
    }
    if r.chance(3, 4) {
        exts.push((et::X_SA2, &sa2));
    }
    if r.chance(1, 3) {
        exts.push((et::LIFETIME_HARD, &hard));
        exts.push((et::LIFETIME_SOFT, &soft));
    }
    if r.chance(1, 6) {
        exts.push((et::ADDRESS_PROXY, &proxy));
    }
    if satype == SATYPE_ESP && r.chance(1, 6) {
        exts.push((et::X_NAT_T_TYPE, &natt.0));
        exts.push((et::X_NAT_T_SPORT, &natt.1));
        exts.push((et::X_NAT_T_DPORT, &natt.2));
    }
    // setkey and daemons write extensions in different orders.
    for i in (1..exts.len()).rev() {
        if r.chance(1, 4) {
            exts.swap(i, r.below(i + 1));
        }
    }
    build(header(ty as u8, satype), &exts)
}

/// GET or DELETE of an SA from the pool.
fn sa_ref(r: &mut Rng, ty: MsgType) -> Vec<u8> {
    let v6 = r.chance(1, 4);
    let full = if v6 { 128 } else { 32 };
    let sa = Sa {
        spi: spi(r),
        ..Sa::default()
    };
    let s = addr(host(r, v6), full, 0, 255);
    let d = addr(host(r, v6), full, 0, 255);
    let satype = r.pick(&[SATYPE_ESP, SATYPE_ESP, SATYPE_AH]);
    build(
        header(ty as u8, satype),
        &[(et::SA, &sa), (et::ADDRESS_SRC, &s), (et::ADDRESS_DST, &d)],
    )
}

fn getspi(r: &mut Rng) -> Vec<u8> {
    let v6 = r.chance(1, 4);
    let full = if v6 { 128 } else { 32 };
    let s = addr(host(r, v6), full, 0, 255);
    let d = addr(host(r, v6), full, 0, 255);
    let lo = 0x2000 + r.below(0x100) as u32;
    let range = SpiRange {
        min: lo,
        max: lo + r.pick(&[0, 15, 0xff]),
    };
    let sa2 = Sa2 {
        mode: r.pick(&[1, 2]),
        sequence: 0,
        reqid: 0,
    };
    let satype = r.pick(&[SATYPE_ESP, SATYPE_AH]);
    let mut exts: Vec<(u16, &dyn kame_core::pfkey::wire::ExtBody)> =
        vec![(et::ADDRESS_SRC, &s), (et::ADDRESS_DST, &d)];
    if r.chance(3, 4) {
        exts.push((et::SPIRANGE, &range));
    }
    if r.chance(1, 2) {
        exts.push((et::X_SA2, &sa2));
    }
    build(header(MsgType::GetSpi as u8, satype), &exts)
}

/// One IPsec request of a policy.
fn request(r: &mut Rng, v6: bool) -> IpsecRequest {
    let mode = r.pick(&[1, 1, 2, 3]);
    let tunnel = (mode == 2).then(|| {
        let t6 = if r.chance(1, 5) { !v6 } else { v6 };
        (
            SockAddr {
                addr: host(r, t6),
                port: 0,
            },
            SockAddr {
                addr: host(r, t6),
                port: 0,
            },
        )
    });
    IpsecRequest {
        proto: r.pick(&[50, 50, 51, 108]),
        mode,
        level: r.pick(&[0, 1, 2, 2, 3]),
        reqid: r.pick(&[0, 0, 7, 0x3fff, 0x5000]),
        tunnel,
    }
}

/// The selector of a policy: prefixes from a small pool.
fn selector(r: &mut Rng) -> (Address, Address, bool) {
    let v6 = r.chance(1, 4);
    let full = if v6 { 128 } else { 32 };
    let prefix = |r: &mut Rng| r.pick(&[full, full, 24, 16, 0]);
    let proto = r.pick(&[255, 255, 6, 17, 1]);
    let port = |r: &mut Rng| {
        if proto == 6 || proto == 17 {
            r.pick(&[0, 80, 500])
        } else {
            0
        }
    };
    let (sp, dp) = (prefix(r), prefix(r));
    let (spt, dpt) = (port(r), port(r));
    let s = addr(host(r, v6), sp, spt, proto);
    let d = addr(host(r, v6), dp, dpt, proto);
    (s, d, v6)
}

/// SPDADD, SPDUPDATE, SPDSETIDX or SPDDELETE.
fn spd_msg(r: &mut Rng, ty: MsgType) -> Vec<u8> {
    let (s, d, v6) = selector(r);
    let pty = r.pick(&[0u16, 1, 2, 2, 2]);
    let n = if pty == 2 { r.below(4) } else { 0 };
    let reqs: Vec<IpsecRequest> = (0..n).map(|_| request(r, v6)).collect();
    let pol = PolicyWithRequests {
        policy: Policy {
            ty: pty,
            dir: r.pick(&[1, 2, 3]),
            id: 0,
            priority: r.pick(&[0, 0x8000_0000, 0x7fff_ffff]),
        },
        requests: &reqs,
    };
    let hard = Lifetime {
        addtime: 3600,
        ..Lifetime::default()
    };
    let mut exts: Vec<(u16, &dyn kame_core::pfkey::wire::ExtBody)> = vec![
        (et::ADDRESS_SRC, &s),
        (et::ADDRESS_DST, &d),
        (et::X_POLICY, &pol),
    ];
    if r.chance(1, 8) {
        exts.push((et::LIFETIME_HARD, &hard));
    }
    if r.chance(1, 3) {
        exts.swap(0, 2);
    }
    build(header(ty as u8, 0), &exts)
}

/// SPDGET or SPDDELETE2 of a policy id from the small range ids start in.
fn spd_by_id(r: &mut Rng, ty: MsgType) -> Vec<u8> {
    let pol = PolicyWithRequests {
        policy: Policy {
            ty: 2,
            dir: 2,
            id: (r.below(64) as u32) << 3 | r.below(3) as u32,
            priority: 0,
        },
        requests: &[],
    };
    build(header(ty as u8, 0), &[(et::X_POLICY, &pol)])
}

/// A valid request of a random kind.
pub fn valid(r: &mut Rng) -> Vec<u8> {
    let total: usize = KINDS.iter().map(|k| k.1).sum();
    let mut at = r.below(total);
    let kind = KINDS
        .iter()
        .find(|k| {
            if at < k.1 {
                true
            } else {
                at -= k.1;
                false
            }
        })
        .map_or(Kind::Bare, |k| k.0);
    let bare = |ty: MsgType, satype: u8| build(header(ty as u8, satype), &[]);
    match kind {
        Kind::AddEsp => sa_msg(r, MsgType::Add, SATYPE_ESP),
        Kind::AddAh => sa_msg(r, MsgType::Add, SATYPE_AH),
        Kind::AddIpcomp => sa_msg(r, MsgType::Add, SATYPE_IPCOMP),
        Kind::Update => {
            let satype = r.pick(&[SATYPE_ESP, SATYPE_ESP, SATYPE_AH]);
            sa_msg(r, MsgType::Update, satype)
        }
        Kind::GetSpi => getspi(r),
        Kind::Get => sa_ref(r, MsgType::Get),
        Kind::Delete => sa_ref(r, MsgType::Delete),
        Kind::Flush => bare(MsgType::Flush, r.pick(&[0, SATYPE_ESP, SATYPE_AH])),
        Kind::Dump => bare(MsgType::Dump, r.pick(&[0, SATYPE_ESP])),
        Kind::Register => bare(
            MsgType::Register,
            r.pick(&[0, SATYPE_AH, SATYPE_ESP, SATYPE_IPCOMP]),
        ),
        Kind::Promisc => bare(MsgType::XPromisc, 0),
        Kind::Acquire => bare(MsgType::Acquire, SATYPE_ESP),
        Kind::SpdAdd => spd_msg(r, MsgType::XSpdAdd),
        Kind::SpdUpdate => spd_msg(r, MsgType::XSpdUpdate),
        Kind::SpdSetIdx => spd_msg(r, MsgType::XSpdSetIdx),
        Kind::SpdDelete => spd_msg(r, MsgType::XSpdDelete),
        Kind::SpdGet => spd_by_id(r, MsgType::XSpdGet),
        Kind::SpdDelete2 => spd_by_id(r, MsgType::XSpdDelete2),
        Kind::SpdDump => bare(MsgType::XSpdDump, 0),
        Kind::SpdFlush => bare(MsgType::XSpdFlush, 0),
        Kind::Bare => {
            let ty = 1 + r.below(usize::from(MsgType::MAX)) as u8;
            build(header(ty, r.below(10) as u8), &[])
        }
    }
}

/// A header-only message of type `ty`.
pub fn bare(ty: MsgType, satype: u8) -> Vec<u8> {
    build(header(ty as u8, satype), &[])
}
