// SPDX-License-Identifier: GPL-2.0

//! Mutations of valid requests: bit flips and interesting values, length
//! field edits, extensions duplicated, removed, truncated, retyped or
//! spliced in from another request, random message and SA types, fields
//! the checks look at (prefix lengths, families, key bits, SPIs, policy
//! directions and types, request lengths), and wholly random bytes.

#![forbid(unsafe_code)]

use kame_core::pfkey::wire::ext_type as et;
use kame_core::pfkey::{SADB_MSG_LEN, WORD};

use crate::rng::Rng;

/// A message cut into its header and extensions (each with its header).
struct Parts {
    hdr: Vec<u8>,
    exts: Vec<Vec<u8>>,
}

impl Parts {
    /// Splits a valid message (lengths are trusted but bounded).
    fn split(msg: &[u8]) -> Parts {
        let hdr = msg[..SADB_MSG_LEN.min(msg.len())].to_vec();
        let mut exts = Vec::new();
        let mut rest = msg.get(SADB_MSG_LEN..).unwrap_or(&[]);
        while rest.len() >= 4 {
            let n = usize::from(u16::from_ne_bytes([rest[0], rest[1]])) * WORD;
            let n = n.clamp(4, rest.len());
            exts.push(rest[..n].to_vec());
            rest = &rest[n..];
        }
        Parts { hdr, exts }
    }

    fn join(&self) -> Vec<u8> {
        let mut v = self.hdr.clone();
        for e in &self.exts {
            v.extend_from_slice(e);
        }
        v
    }

    /// The index of an extension of type `t`, if any.
    fn find(&self, t: u16) -> Option<usize> {
        self.exts
            .iter()
            .position(|e| e.len() >= 4 && u16::from_ne_bytes([e[2], e[3]]) == t)
    }
}

const INTERESTING8: [u8; 9] = [0, 1, 2, 0x7f, 0x80, 0xfe, 0xff, 10, 32];
const INTERESTING16: [u16; 10] = [0, 1, 2, 3, 0x7fff, 0x8000, 0xffff, 8, 16, 0x100];
const INTERESTING32: [u32; 8] = [
    0,
    1,
    0xff,
    0x100,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0xffff_ffff,
];

fn set16(b: &mut [u8], at: usize, v: u16) {
    if let Some(d) = b.get_mut(at..at + 2) {
        d.copy_from_slice(&v.to_ne_bytes());
    }
}

fn set32(b: &mut [u8], at: usize, v: u32) {
    if let Some(d) = b.get_mut(at..at + 4) {
        d.copy_from_slice(&v.to_ne_bytes());
    }
}

fn set8(b: &mut [u8], at: usize, v: u8) {
    if let Some(d) = b.get_mut(at) {
        *d = v;
    }
}

/// Sets a field a check looks at, in an extension that carries it.
fn field(r: &mut Rng, p: &mut Parts) {
    let pick16 = |r: &mut Rng| {
        if r.chance(1, 2) {
            r.pick(&INTERESTING16)
        } else {
            r.next() as u16
        }
    };
    match r.below(9) {
        0 => {
            // Prefix length or family of an address.
            let t = r.pick(&[et::ADDRESS_SRC, et::ADDRESS_DST, et::ADDRESS_PROXY]);
            if let Some(i) = p.find(t) {
                if r.chance(1, 2) {
                    set8(
                        &mut p.exts[i],
                        5,
                        r.pick(&[0, 31, 32, 33, 64, 127, 128, 129, 255]),
                    );
                } else {
                    set16(&mut p.exts[i], 8, r.pick(&[0, 1, 2, 10, 15, 0xffff]));
                }
            }
        }
        1 => {
            // Key bits.
            if let Some(i) = p.find(r.pick(&[et::KEY_AUTH, et::KEY_ENCRYPT])) {
                let v = pick16(r);
                set16(&mut p.exts[i], 4, v);
            }
        }
        2 => {
            // SPI (network order), algorithms, replay.
            if let Some(i) = p.find(et::SA) {
                match r.below(3) {
                    0 => {
                        let spi = r.pick(&INTERESTING32);
                        if let Some(d) = p.exts[i].get_mut(4..8) {
                            d.copy_from_slice(&spi.to_be_bytes());
                        }
                    }
                    1 => set8(&mut p.exts[i], 10 + r.below(2), r.byte()),
                    _ => set8(&mut p.exts[i], 8, r.byte()),
                }
            }
        }
        3 => {
            // Policy type, direction, id.
            if let Some(i) = p.find(et::X_POLICY) {
                match r.below(3) {
                    0 => set16(&mut p.exts[i], 4, r.below(6) as u16),
                    1 => set8(&mut p.exts[i], 6, r.below(6) as u8),
                    _ => set32(&mut p.exts[i], 8, r.next() as u32),
                }
            }
        }
        4 => {
            // An ipsecrequest's length, protocol, mode or level.
            if let Some(i) = p.find(et::X_POLICY) {
                let e = &mut p.exts[i];
                if e.len() >= 32 {
                    let off = 16 + r.pick(&[0, 2, 4, 5]);
                    match off {
                        16 => set16(e, 16, r.pick(&INTERESTING16)),
                        18 => set16(e, 18, r.pick(&[0, 17, 50, 51, 108, 0x132])),
                        _ => set8(e, off, r.below(6) as u8),
                    }
                }
            }
        }
        5 => {
            // SA2 mode, SPI range.
            if let Some(i) = p.find(et::X_SA2) {
                set8(&mut p.exts[i], 4, r.below(6) as u8);
            } else if let Some(i) = p.find(et::SPIRANGE) {
                let v = r.pick(&INTERESTING32);
                set32(&mut p.exts[i], 4 + 4 * r.below(2), v);
            }
        }
        6 => {
            // Lifetimes: one of a pair, or huge values.
            if let Some(i) = p.find(et::LIFETIME_SOFT) {
                p.exts.remove(i);
            } else if let Some(i) = p.find(et::LIFETIME_HARD) {
                let v = r.pick(&INTERESTING32);
                set32(&mut p.exts[i], 4 + 4 * r.below(7), v);
            }
        }
        7 => {
            // NAT-T type.
            if let Some(i) = p.find(et::X_NAT_T_TYPE) {
                set8(&mut p.exts[i], 4, r.below(4) as u8);
            }
        }
        _ => {
            // Address families that disagree: one address becomes IPv6.
            if let Some(i) = p.find(r.pick(&[et::ADDRESS_SRC, et::ADDRESS_DST])) {
                let t = u16::from_ne_bytes([p.exts[i][2], p.exts[i][3]]);
                let mut e = vec![5, 0];
                e.extend_from_slice(&t.to_ne_bytes());
                e.extend_from_slice(&[255, 128, 0, 0, 10, 0]);
                e.resize(40, 0);
                e[24] = 0x20;
                p.exts[i] = e;
            }
        }
    }
}

/// One structural or byte-level mutation.
fn mutate_once(r: &mut Rng, p: &mut Parts, donor: &[u8]) {
    let n = p.exts.len();
    match r.below(14) {
        0 | 1 => {
            // Bit flips anywhere after the header's version/type/len.
            let mut v = p.join();
            for _ in 0..1 + r.below(4) {
                if v.len() > 8 {
                    let at = 8 + r.below(v.len() - 8);
                    v[at] ^= 1 << r.below(8);
                }
            }
            *p = Parts::split(&v);
        }
        2 => {
            // An interesting value at a random place.
            let mut v = p.join();
            if !v.is_empty() {
                let at = r.below(v.len());
                match r.below(3) {
                    0 => set8(&mut v, at, r.pick(&INTERESTING8)),
                    1 => set16(&mut v, at & !1, r.pick(&INTERESTING16)),
                    _ => set32(&mut v, at & !3, r.pick(&INTERESTING32)),
                }
            }
            *p = Parts::split(&v);
        }
        3 if n > 0 => {
            // An extension's length field.
            let i = r.below(n);
            let cur = u16::from_ne_bytes([p.exts[i][0], p.exts[i][1]]);
            let v = match r.below(4) {
                0 => 0,
                1 => cur.wrapping_add(1),
                2 => cur.wrapping_sub(1),
                _ => r.next() as u16,
            };
            set16(&mut p.exts[i], 0, v);
        }
        4 if n > 0 => {
            // A duplicate extension.
            let i = r.below(n);
            let e = p.exts[i].clone();
            p.exts.insert(r.below(n + 1), e);
        }
        5 if n > 0 => {
            // A missing extension.
            p.exts.remove(r.below(n));
        }
        6 if n > 0 => {
            // A truncated (length fixed or not) or extended extension.
            let i = r.below(n);
            let e = &mut p.exts[i];
            if r.chance(1, 2) && e.len() > 8 {
                let cut = if r.chance(1, 2) {
                    8
                } else {
                    1 + r.below(e.len() - 4)
                };
                e.truncate(e.len() - cut);
            } else {
                e.extend(std::iter::repeat_n(0, WORD * (1 + r.below(2))));
            }
            if r.chance(3, 4) {
                let w = (e.len() / WORD) as u16;
                set16(e, 0, w);
            }
        }
        7 if n > 0 => {
            // A random extension type.
            let i = r.below(n);
            let t = if r.chance(3, 4) {
                r.below(31) as u16
            } else {
                r.next() as u16
            };
            set16(&mut p.exts[i], 2, t);
        }
        8 => {
            // A random message type.
            let t = if r.chance(7, 8) {
                1 + r.below(24) as u8
            } else {
                r.byte()
            };
            set8(&mut p.hdr, 1, t);
        }
        9 => {
            // A random SA type.
            let t = if r.chance(3, 4) {
                r.below(11) as u8
            } else {
                r.byte()
            };
            set8(&mut p.hdr, 3, t);
        }
        10 => {
            // An extension spliced in from another request.
            let d = Parts::split(donor);
            if !d.exts.is_empty() {
                let e = d.exts[r.below(d.exts.len())].clone();
                p.exts.insert(r.below(n + 1), e);
            }
        }
        11 => {
            // A random extension: any type, any body.
            let words = 1 + r.below(6);
            let mut e = r.bytes(words * WORD);
            set16(&mut e, 0, words as u16);
            let t = if r.chance(3, 4) {
                1 + r.below(30) as u16
            } else {
                r.next() as u16
            };
            set16(&mut e, 2, t);
            p.exts.insert(r.below(n + 1), e);
        }
        12 if n > 1 => {
            // Reordered extensions.
            let (a, b) = (r.below(n), r.below(n));
            p.exts.swap(a, b);
        }
        _ => field(r, p),
    }
}

/// A mutation of the valid request `base`; `donor` is another request
/// extensions may be spliced from.
pub fn mutate(r: &mut Rng, base: &[u8], donor: &[u8]) -> Vec<u8> {
    let mut p = Parts::split(base);
    for _ in 0..1 + r.below(3) {
        mutate_once(r, &mut p, donor);
    }
    let mut v = p.join();
    // Mostly keep the base header valid, so the message reaches the
    // extension walk and the handlers; sometimes leave the length wrong,
    // a few bytes over, or short of a header.
    match r.below(20) {
        0 => v.truncate(r.below(SADB_MSG_LEN + 1)),
        1 => {
            let n = 1 + r.below(7);
            v.extend(r.bytes(n));
        }
        2 => set16(&mut v, 4, r.next() as u16),
        _ => {
            v.resize(v.len().div_ceil(WORD) * WORD, 0);
            let w = (v.len() / WORD) as u16;
            set16(&mut v, 4, w);
        }
    }
    v
}

/// Random bytes: sometimes behind a valid base header, so the walk sees
/// them.
pub fn random(r: &mut Rng) -> Vec<u8> {
    let words = r.below(64);
    let extra = if r.chance(1, 4) { r.below(8) } else { 0 };
    let mut v = r.bytes(words * WORD + extra);
    if r.chance(1, 2) && v.len() >= SADB_MSG_LEN {
        v[0] = 2;
        v[1] = 1 + r.below(24) as u8;
        set16(&mut v, 6, 0);
        let w = (v.len() / WORD) as u16;
        set16(&mut v, 4, w);
    }
    v
}
