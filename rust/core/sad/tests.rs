// SPDX-License-Identifier: GPL-2.0

//! SA records: built from ADD messages, checked in af_key's order, and
//! described back.

use super::*;
use crate::kame_core::pfkey::{
    wire::{measure, SliceSink},
    SADB_MSG_LEN,
};
use std::vec::Vec;

fn v4(last: u8) -> Address {
    Address {
        proto: 255,
        prefixlen: 32,
        sa: SockAddr {
            addr: IpAddr::V4([10, 0, 0, last]),
            port: 0,
        },
    }
}

fn hdr(satype: u8) -> MsgHeader {
    MsgHeader {
        version: 2,
        msg_type: 3,
        satype,
        seq: 5,
        pid: 77,
        ..Default::default()
    }
}

/// An ADD message: SA ext with (spi, auth, enc), addresses, optional keys.
fn add(
    satype: u8,
    spi: u32,
    auth: (u8, u16),
    enc: (u8, u16),
    extra: &dyn Fn(&mut Encoder<'_, Vec<u8>>),
) -> Vec<u8> {
    let mut b = Vec::new();
    let mut e = Encoder::new(&mut b, &hdr(satype)).unwrap();
    let sa = Sa {
        spi,
        replay: 4,
        state: 0,
        auth: auth.0,
        encrypt: enc.0,
        flags: 0,
    };
    e.ext(et::SA, &sa).unwrap();
    e.ext(et::ADDRESS_SRC, &v4(1)).unwrap();
    e.ext(et::ADDRESS_DST, &v4(2)).unwrap();
    let key = [0x5au8; 64];
    if auth.1 > 0 {
        let k = Key {
            bits: auth.1,
            key: &key[..usize::from(auth.1).div_ceil(8)],
        };
        e.ext(et::KEY_AUTH, &k).unwrap();
    }
    if enc.1 > 0 {
        let k = Key {
            bits: enc.1,
            key: &key[..usize::from(enc.1).div_ceil(8)],
        };
        e.ext(et::KEY_ENCRYPT, &k).unwrap();
    }
    extra(&mut e);
    e.finish().unwrap();
    b
}

fn build(m: &[u8]) -> Result<SaRecord, Errno> {
    let h = MsgHeader::decode(m).unwrap();
    SaRecord::from_msg(&h, &Exts::parse(m).unwrap(), 1000)
}

fn none(_: &mut Encoder<'_, Vec<u8>>) {}

#[test]
fn add_checks_in_af_key_order() {
    // Numbered table: (case, message, expected errno or Ok).
    let sa2_bad = |e: &mut Encoder<'_, Vec<u8>>| {
        e.ext(
            et::X_SA2,
            &Sa2 {
                mode: 9,
                sequence: 0,
                reqid: 0,
            },
        )
        .unwrap();
    };
    let hard_only = |e: &mut Encoder<'_, Vec<u8>>| {
        e.ext(et::LIFETIME_HARD, &Lifetime::default()).unwrap();
    };
    let cases: [(u32, Vec<u8>, Result<(), Errno>); 16] = [
        (1, add(3, 0x1000, (5, 256), (12, 128), &none), Ok(())),
        (2, add(3, 0x1000, (0, 0), (20, 160), &none), Ok(())),
        (
            3,
            add(3, 0x1000, (5, 256), (0, 0), &none),
            Err(Errno::EINVAL),
        ),
        (
            4,
            add(2, 0x1000, (0, 0), (12, 128), &none),
            Err(Errno::EINVAL),
        ),
        (
            5,
            add(3, 0x1000, (5, 256), (12, 128), &hard_only),
            Err(Errno::EINVAL),
        ),
        (
            6,
            add(4, 0x1000, (5, 256), (12, 128), &none),
            Err(Errno::EINVAL),
        ),
        (
            7,
            add(3, 0x1000, (4, 256), (12, 128), &none),
            Err(Errno::ENOSYS),
        ),
        (
            8,
            add(3, 0x1000, (5, 256), (17, 128), &none),
            Err(Errno::ENOSYS),
        ),
        (
            9,
            add(3, 0x1000, (5, 160), (12, 128), &none),
            Err(Errno::EINVAL),
        ),
        (
            10,
            add(3, 0x1000, (5, 256), (12, 120), &none),
            Err(Errno::EINVAL),
        ),
        (
            11,
            add(3, 0x1000, (5, 256), (20, 160), &none),
            Err(Errno::EINVAL),
        ),
        (
            12,
            add(3, 0x1000, (5, 256), (12, 128), &sa2_bad),
            Err(Errno::EINVAL),
        ),
        (
            13,
            add(3, 0xff, (5, 256), (12, 128), &none),
            Err(Errno::EINVAL),
        ),
        (14, add(2, 0x1000, (7, 512), (0, 0), &none), Ok(())),
        // IPComp CPIs are 16 bits.
        (15, add(9, 0xffff, (0, 0), (2, 0), &none), Ok(())),
        (
            16,
            add(9, 0x1_0000, (0, 0), (2, 0), &none),
            Err(Errno::EINVAL),
        ),
    ];
    for (n, m, want) in cases {
        assert_eq!(build(&m).map(|_| ()), want, "case {n}");
    }
}

#[test]
fn a_record_describes_itself_in_af_key_order() {
    let m = add(3, 0x1000, (5, 256), (12, 128), &none);
    let r = build(&m).unwrap();
    assert_eq!(r.id.spi, 0x1000);
    assert_eq!(r.mode, MODE_TRANSPORT);
    assert_eq!(r.current.addtime, 1000);
    let mut b = Vec::new();
    let mut e = Encoder::new(&mut b, &hdr(3)).unwrap();
    r.encode(&mut e, true).unwrap();
    e.finish().unwrap();
    let x = Exts::parse(&b).unwrap();
    let order: Vec<u16> = {
        let mut v = Vec::new();
        let mut rest = &b[SADB_MSG_LEN..];
        while !rest.is_empty() {
            let words = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
            v.push(u16::from_ne_bytes([rest[2], rest[3]]));
            rest = &rest[words * 8..];
        }
        v
    };
    assert_eq!(order, [1, 3, 4, 2, 5, 6, 7, 8, 9, 19]);
    let src = Address::decode(x.get(et::ADDRESS_SRC).unwrap()).unwrap();
    assert_eq!((src.proto, src.prefixlen), (0, 32));
    assert_eq!(Key::decode(x.get(et::KEY_AUTH).unwrap()).bits, 256);
    let mut b = Vec::new();
    let mut e = Encoder::new(&mut b, &hdr(3)).unwrap();
    r.encode(&mut e, false).unwrap();
    e.finish().unwrap();
    let x = Exts::parse(&b).unwrap();
    assert!(x.get(et::KEY_AUTH).is_none() && x.get(et::KEY_ENCRYPT).is_none());
}

#[test]
fn spis_come_from_the_range_and_skip_the_reserved_ones() {
    assert_eq!(pick_spi(0x1000, 0x1000, 7, |_| false), Ok(0x1000));
    assert_eq!(pick_spi(0x1000, 0x1000, 7, |_| true), Err(Errno::ENOENT));
    assert_eq!(pick_spi(1, 255, 7, |_| false), Err(Errno::EINVAL));
    assert_eq!(pick_spi(9, 3, 7, |_| false), Err(Errno::EINVAL));
    let spi = pick_spi(1, 300, 12345, |_| false).unwrap();
    assert!((256..=300).contains(&spi));
    // Only one free SPI left: the sweep finds it.
    assert_eq!(pick_spi(256, 1000, 99, |s| s != 777), Ok(777));
    for r in 0..200 {
        let s = pick_spi(0x100, 0x0fff_ffff, r * 7919, |_| false).unwrap();
        assert!((0x100..=0x0fff_ffff).contains(&s));
    }
}

fn with_lifetimes(hard: (u64, u64), soft: (u64, u64)) -> SaRecord {
    let mut r = SaRecord::larval(IPPROTO_ESP, &v4(1), &v4(2), MODE_TRANSPORT, 0, 0, 1000);
    r.state = SaState::Mature;
    (r.hard.addtime, r.hard.usetime) = hard;
    (r.soft.addtime, r.soft.usetime) = soft;
    r
}

#[test]
fn time_lifetimes_fire_soft_once_then_hard() {
    // No limits: time alone never ends it.
    assert_eq!(with_lifetimes((0, 0), (0, 0)).next_expiry(), None);
    let mut r = with_lifetimes((60, 0), (30, 0));
    assert_eq!(r.next_expiry(), Some((1030, Expiry::Soft)));
    assert_eq!(r.expiry_due(1029), None);
    assert_eq!(r.expiry_due(1030), Some(Expiry::Soft));
    // Once dying, only the hard limit is left.
    r.state = SaState::Dying;
    assert_eq!(r.next_expiry(), Some((1060, Expiry::Hard)));
    assert_eq!(r.expiry_due(5000), Some(Expiry::Hard));
    // A tie is hard (XFRM checks hard first).
    assert_eq!(
        with_lifetimes((30, 0), (30, 0)).next_expiry(),
        Some((1030, Expiry::Hard))
    );
    // Soft only.
    assert_eq!(
        with_lifetimes((0, 0), (5, 0)).next_expiry(),
        Some((1005, Expiry::Soft))
    );
}

#[test]
fn use_time_limits_start_at_first_use() {
    let mut r = with_lifetimes((0, 20), (0, 10));
    assert_eq!(r.next_expiry(), None, "never used: no use-time event");
    r.current.usetime = 2000;
    assert_eq!(r.next_expiry(), Some((2010, Expiry::Soft)));
    r.state = SaState::Dying;
    assert_eq!(r.next_expiry(), Some((2020, Expiry::Hard)));
}

#[test]
fn larval_sas_expire_hard_after_thirty_seconds() {
    let r = SaRecord::larval(IPPROTO_ESP, &v4(1), &v4(2), MODE_TRANSPORT, 0, 0, 1000);
    assert_eq!(
        r.next_expiry(),
        Some((1000 + LARVAL_LIFETIME, Expiry::Hard))
    );
}

#[test]
fn expire_messages_carry_only_the_lifetime_that_ran_out() {
    let mut r = with_lifetimes((60, 0), (30, 0));
    r.enc_key = Some(
        KeyBytes::new(&Key {
            bits: 128,
            key: &[1; 16],
        })
        .unwrap(),
    );
    for (kind, want, gone) in [
        (Expiry::Soft, et::LIFETIME_SOFT, et::LIFETIME_HARD),
        (Expiry::Hard, et::LIFETIME_HARD, et::LIFETIME_SOFT),
    ] {
        let mut b = Vec::new();
        let mut e = Encoder::new(&mut b, &hdr(SATYPE_ESP)).unwrap();
        r.encode_expire(&mut e, kind).unwrap();
        e.finish().unwrap();
        let exts = Exts::parse(&b).unwrap();
        assert!(exts.get(want).is_some());
        assert!(exts.get(gone).is_none());
        assert!(exts.get(et::LIFETIME_CURRENT).is_some());
        assert!(exts.get(et::KEY_ENCRYPT).is_none(), "no keys in EXPIRE");
    }
}

#[test]
fn getspi_ranges_as_verify_spi_info() {
    // Numbered table: (case, proto, min, max, expected).
    let cases = [
        (1, IPPROTO_ESP, 0x100, 0x0fff_ffff, Ok(())),
        (2, IPPROTO_AH, 5, 5, Ok(())),
        (3, IPPROTO_ESP, 9, 3, Err(Errno::EINVAL)),
        (4, IPPROTO_COMP, 0x100, 0xffff, Ok(())),
        // The default range reaches past 16 bits: IPComp needs a range.
        (
            5,
            IPPROTO_COMP,
            GETSPI_DEFAULT.0,
            GETSPI_DEFAULT.1,
            Err(Errno::EINVAL),
        ),
        (6, IPPROTO_COMP, 0x100, 0x1_0000, Err(Errno::EINVAL)),
        (7, IPPROTO_COMP, 0x200, 0x100, Err(Errno::EINVAL)),
    ];
    for (n, proto, min, max, want) in cases {
        assert_eq!(check_spi_range(proto, min, max), want, "case {n}");
    }
}

#[test]
fn larval_expire_has_no_proxy_a_completed_sa_a_wildcard_one() {
    let mut r = SaRecord::larval(IPPROTO_ESP, &v4(1), &v4(2), MODE_TRANSPORT, 0, 0, 1000);
    r.state = SaState::Dead;
    let proxy = |r: &SaRecord| {
        let mut b = Vec::new();
        let mut e = Encoder::new(&mut b, &MsgHeader::default()).unwrap();
        r.encode_expire(&mut e, Expiry::Hard).unwrap();
        e.finish().unwrap();
        Exts::parse(&b).unwrap().get(et::ADDRESS_PROXY).is_some()
    };
    // af_key: an ACQ state's selector is its own addresses, so no proxy.
    assert!(!proxy(&r));
    r.encrypt = 12;
    assert!(proxy(&r));
}

/// FreeBSD's `sadb_x_sa2_sequence`: ADD gives the last sequence number
/// sent (where the outbound counter starts), replies give the counter's
/// low 32 bits; an ADD without SA2 starts at 0.
#[test]
fn sa2_sequence_starts_the_outbound_counter_and_reports_it() {
    let with_seq = |sequence| {
        move |e: &mut Encoder<'_, Vec<u8>>| {
            e.ext(
                et::X_SA2,
                &Sa2 {
                    mode: MODE_TUNNEL,
                    sequence,
                    reqid: 7,
                },
            )
            .unwrap();
        }
    };
    let reported = |r: &SaRecord| {
        let mut b = Vec::new();
        let mut e = Encoder::new(&mut b, &hdr(3)).unwrap();
        r.encode(&mut e, false).unwrap();
        e.finish().unwrap();
        Sa2::decode(Exts::parse(&b).unwrap().get(et::X_SA2).unwrap())
    };
    // Numbered table: (case, SA2 sequence given or none, out_seq kept).
    let cases: [(u32, Option<u32>, u64); 4] = [
        (1, None, 0),
        (2, Some(0), 0),
        (3, Some(0xffff_fffd), 0xffff_fffd),
        (4, Some(u32::MAX), u64::from(u32::MAX)),
    ];
    for (n, given, want) in cases {
        let m = match given {
            Some(s) => add(3, 0x1000, (5, 256), (12, 128), &with_seq(s)),
            None => add(3, 0x1000, (5, 256), (12, 128), &none),
        };
        let r = build(&m).unwrap();
        assert_eq!(r.out_seq, want, "case {n}");
        assert_eq!(u64::from(reported(&r).sequence), want, "case {n}");
    }
    // Mode and reqid still come from the same extension.
    let r = build(&add(3, 0x1000, (5, 256), (12, 128), &with_seq(5))).unwrap();
    assert_eq!((r.mode, r.reqid), (MODE_TUNNEL, 7));
    // The counter as the data path left it: past 2^32 with ESN, the
    // 32-bit field carries the low half.
    let mut r = r;
    r.out_seq = 0x1_0000_0002;
    assert_eq!(reported(&r).sequence, 2);
    // After 0xfffffffd without ESN two numbers are left (0xfffffffe,
    // 0xffffffff), then none.
    assert!(!seq_exhausted(0xffff_fffd, false) && !seq_exhausted(0xffff_fffe, false));
    assert!(seq_exhausted(0xffff_ffff, false));
    assert!(!seq_exhausted(0xffff_ffff, true));
}

#[test]
fn an_sa_measures_what_it_writes_into_a_slice_of_that_size() {
    let full = build(&add(3, 0x1000, (5, 256), (12, 128), &none)).unwrap();
    let auth_only = build(&add(2, 0x1001, (3, 160), (0, 0), &none)).unwrap();
    let larval = SaRecord::larval(IPPROTO_ESP, &v4(1), &v4(2), MODE_TRANSPORT, 0, 0, 1000);
    let h = hdr(3);
    for (n, r) in [full, auth_only, larval].iter().enumerate() {
        for with_keys in [true, false] {
            let counted = r.counted();
            let m = SaMessage {
                rec: r,
                with_keys,
                counted: &counted,
            };
            let mut grown = Vec::new();
            let mut e = Encoder::new(&mut grown, &h).unwrap();
            m.describe(&mut e).unwrap();
            let len = e.finish().unwrap();
            assert_eq!(measure(&h, &m), Ok(len), "record {n}, keys {with_keys}");
            let mut exact = std::vec![0u8; len];
            let mut s = SliceSink::new(&mut exact);
            let mut e = Encoder::new(&mut s, &h).unwrap();
            m.describe(&mut e).unwrap();
            assert_eq!(e.finish(), Ok(len));
            assert!(s.is_full());
            assert_eq!(exact, grown, "record {n}, keys {with_keys}");
        }
    }
}
