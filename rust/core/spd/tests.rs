// SPDX-License-Identifier: GPL-2.0

//! Policies from SPDADD messages, checked as af_key, and described back.

use super::*;
use crate::kame_core::pfkey::{
    wire::{measure, PolicyWithRequests, SliceSink},
    MsgHeader,
};
use std::vec::Vec;

fn addr(last: u8, prefixlen: u8, port: u16, proto: u8) -> Address {
    Address {
        proto,
        prefixlen,
        sa: SockAddr {
            addr: IpAddr::V4([10, 0, 0, last]),
            port,
        },
    }
}

fn req(proto: u16, mode: u8, level: u8, reqid: u32, tunnel: bool) -> IpsecRequest {
    let t = |l| SockAddr {
        addr: IpAddr::V4([192, 0, 2, l]),
        port: 0,
    };
    IpsecRequest {
        proto,
        mode,
        level,
        reqid,
        tunnel: tunnel.then(|| (t(1), t(2))),
    }
}

fn spdadd(ty: u16, dir: u8, reqs: &[IpsecRequest]) -> Vec<u8> {
    let mut b = Vec::new();
    let h = MsgHeader {
        version: 2,
        msg_type: 14,
        ..Default::default()
    };
    let mut e = Encoder::new(&mut b, &h).unwrap();
    e.ext(et::ADDRESS_SRC, &addr(1, 24, 0, 255)).unwrap();
    e.ext(et::ADDRESS_DST, &addr(2, 32, 80, 6)).unwrap();
    let p = PolicyWithRequests {
        policy: Policy {
            ty,
            dir,
            id: 0,
            priority: 7,
        },
        requests: reqs,
    };
    e.ext(et::X_POLICY, &p).unwrap();
    e.finish().unwrap();
    b
}

fn build(m: &[u8]) -> Result<PolicyRecord, Errno> {
    PolicyRecord::from_msg(&Exts::parse(m).unwrap(), 50, || Some(0x4000))
}

#[test]
fn spdadd_checks_as_af_key() {
    let esp = req(50, 1, 2, 0, false);
    let seven = [esp; 7];
    // Numbered table: (case, message, expected).
    let cases: [(u32, Vec<u8>, Result<(), Errno>); 12] = [
        (1, spdadd(2, 2, &[esp]), Ok(())),
        (2, spdadd(0, 1, &[]), Ok(())),
        (3, spdadd(3, 1, &[]), Err(Errno::EINVAL)),
        (4, spdadd(1, 0, &[]), Err(Errno::EINVAL)),
        (5, spdadd(1, 4, &[]), Err(Errno::EINVAL)),
        (
            6,
            spdadd(2, 2, &[req(50, 0, 2, 0, false)]),
            Err(Errno::EINVAL),
        ),
        (
            7,
            spdadd(2, 2, &[req(17, 1, 2, 0, false)]),
            Err(Errno::EINVAL),
        ),
        (8, spdadd(2, 2, &seven), Err(ELOOP)),
        (9, spdadd(2, 2, &[req(50, 2, 2, 0, true)]), Ok(())),
        // af_key reads an unknown level as require.
        (10, spdadd(2, 2, &[req(50, 1, 4, 0, false)]), Ok(())),
        // Routing header (43); 306 is read as its low byte, ESP.
        (11, spdadd(2, 2, &[req(43, 1, 2, 0, false)]), Ok(())),
        (12, spdadd(2, 2, &[req(306, 1, 2, 0, false)]), Ok(())),
    ];
    for (n, m, want) in cases {
        assert_eq!(build(&m).map(|_| ()), want, "case {n}");
    }
}

#[test]
fn a_policy_round_trips() {
    let reqs = [req(50, 2, 2, 0, true), req(51, 1, 3, 0, false)];
    let r = build(&spdadd(2, 2, &reqs)).unwrap();
    assert_eq!(r.sel.proto, 6);
    assert_eq!((r.sel.src_len, r.sel.dport), (24, 80));
    assert_eq!(r.bundle().count(), 2);
    assert_eq!(r.requests[1].unwrap().reqid, 0x4000);
    assert_eq!(r.added, 50);
    let mut b = Vec::new();
    let h = MsgHeader::default();
    let mut e = Encoder::new(&mut b, &h).unwrap();
    r.encode(&mut e).unwrap();
    e.finish().unwrap();
    let again = PolicyRecord::from_msg(&Exts::parse(&b).unwrap(), 50, || Some(0x4000)).unwrap();
    assert_eq!(again.sel, r.sel);
    assert_eq!(again.requests, r.requests);
    assert_eq!(again.priority, 7);
}

#[test]
fn selectors_match_prefixes_ports_and_protocols() {
    let r = build(&spdadd(1, 2, &[])).unwrap();
    let a = |l| IpAddr::V4([10, 0, 0, l]);
    assert!(r.sel.matches(&a(9), &a(2), 1234, 80, 6));
    assert!(!r.sel.matches(&a(9), &a(3), 1234, 80, 6));
    assert!(!r.sel.matches(&a(9), &a(2), 1234, 81, 6));
    assert!(!r.sel.matches(&a(9), &a(2), 1234, 80, 17));
    // A /24 source: not a host pair, whatever its ports.
    assert!(!r.sel.is_host_pair());
    let host = Selector {
        src_len: 32,
        ..r.sel
    };
    assert!(host.is_host_pair());
}

#[test]
fn a_policy_measures_what_it_writes_into_a_slice_of_that_size() {
    let v6 = IpAddr::V6(
        [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        0,
    );
    let esp = req(50, 1, 2, 0, false);
    let tunnel = req(50, 2, 2, 0, true);
    let mut records = Vec::new();
    for m in [
        spdadd(0, 1, &[]),
        spdadd(1, 2, &[]),
        spdadd(2, 2, &[esp]),
        spdadd(2, 2, &[tunnel, req(51, 1, 3, 0, false)]),
        spdadd(2, 3, &[esp; 6]),
    ] {
        records.push(build(&m).unwrap());
    }
    let mut r6 = build(&spdadd(2, 2, &[tunnel])).unwrap();
    r6.sel.src = v6;
    r6.sel.dst = v6;
    r6.requests[0].as_mut().unwrap().tunnel = Some((v6, v6));
    records.push(r6);
    let h = MsgHeader::default();
    for (n, r) in records.iter().enumerate() {
        let mut grown = Vec::new();
        let mut e = Encoder::new(&mut grown, &h).unwrap();
        r.encode(&mut e).unwrap();
        let len = e.finish().unwrap();
        assert_eq!(measure(&h, r), Ok(len), "record {n}");
        let mut exact = std::vec![0u8; len];
        let mut s = SliceSink::new(&mut exact);
        let mut e = Encoder::new(&mut s, &h).unwrap();
        r.encode(&mut e).unwrap();
        assert_eq!(e.finish(), Ok(len), "record {n}");
        assert!(s.is_full(), "record {n}");
        assert_eq!(exact, grown, "record {n}");
        // One byte short: the encoder runs out of room rather than
        // writing past the slice.
        let mut short = std::vec![0u8; len - 1];
        let mut s = SliceSink::new(&mut short);
        let mut e = Encoder::new(&mut s, &h).unwrap();
        assert_eq!(r.encode(&mut e), Err(NoMemory), "record {n}");
    }
}
