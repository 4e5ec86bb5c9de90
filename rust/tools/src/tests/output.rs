// SPDX-License-Identifier: GPL-2.0

//! Kernel replies to setkey's text, alone and through the runner.

#![forbid(unsafe_code)]

use kame_core::pfkey::wire::{
    ext_type, Address, Encoder, IpAddr, IpsecRequest, Lifetime, Policy, PolicyWithRequests,
    SockAddr,
};
use kame_core::pfkey::{MsgHeader, MsgType};

use crate::client::tests::{reply, FakeKernel};
use crate::exec::Mode;
use crate::parser::Parser;
use crate::print::sadump;
use crate::protocols::Protocols;
use crate::request::MsgBuf;
use crate::spdump::spdump;
use crate::tests::*;

#[test]
fn an_sa_prints_as_setkey_dash_d() {
    assert_eq!(sadump(&sa_reply(1234, 1, 1), &ctx()), SA_TEXT);
}

#[test]
fn a_policy_prints_as_setkey_dash_dp() {
    let mut v = MsgBuf::default();
    let h = MsgHeader {
        version: 2,
        msg_type: MsgType::XSpdDump as u8,
        pid: 1234,
        ..Default::default()
    };
    let any = |a| Address {
        proto: 255,
        prefixlen: 32,
        sa: SockAddr {
            addr: IpAddr::V4(a),
            port: 0,
        },
    };
    let reqs = [IpsecRequest {
        proto: 50,
        mode: 1,
        level: 2,
        reqid: 0,
        tunnel: None,
    }];
    let pol = PolicyWithRequests {
        policy: Policy {
            ty: 2,
            dir: 2,
            id: 1,
            priority: 0x8000_0000,
        },
        requests: &reqs,
    };
    let mut e = Encoder::new(&mut v, &h).unwrap();
    e.ext(ext_type::ADDRESS_SRC, &any([10, 0, 0, 1])).unwrap();
    e.ext(ext_type::ADDRESS_DST, &any([10, 0, 0, 2])).unwrap();
    e.ext(ext_type::X_POLICY, &pol).unwrap();
    e.ext(
        ext_type::LIFETIME_CURRENT,
        &Lifetime {
            addtime: 1_795_608_000,
            ..Default::default()
        },
    )
    .unwrap();
    e.ext(ext_type::LIFETIME_HARD, &Lifetime::default())
        .unwrap();
    e.finish().unwrap();
    let want = "10.0.0.1[any] 10.0.0.2[any] 255\n\
\tout prio def ipsec\n\
\tesp/transport//require\n\
\tcreated: Nov 25 12:00:00 2026  lastused:                     \n\
\tlifetime: 0(s) validtime: 0(s)\n\
\tspid=1 seq=0 pid=1234\n\
\trefcnt=0\n";
    assert_eq!(spdump(&v.0, &ctx()), want);
}

#[test]
fn kernel_errors_print_as_setkey_prints_them() {
    let mut k = FakeKernel::default();
    let mut add_err = reply(MsgType::Add, 17, 0, 1234);
    add_err[3] = 3;
    k.replies.extend([
        reply(MsgType::Flush, 0, 0, 1234),
        reply(MsgType::XSpdFlush, 0, 0, 1234),
        add_err,
        reply(MsgType::Dump, 2, 0, 1234),
        reply(MsgType::Delete, 2, 0, 1234),
    ]);
    let mut out = Vec::new();
    let src = format!(
        "flush;\nspdflush;\nadd 10.0.0.1 10.0.0.2 esp 1 -E aes-cbc {AES_KEY};\ndump;\ndelete 10.0.0.1 10.0.0.2 esp 1;"
    );
    let protos = Protocols::builtin();
    let mut p = Parser::new(&src, &protos);
    let mut r = runner(&mut k, &mut out, Mode::Script);
    assert!(crate::run::run_text(&mut r, &mut p, true).is_ok());
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "The result of line 3: File exists.\nThe result of line 4: No SAD entries.\n\
         The result of line 5: No entry.\n"
    );
    assert_eq!(k.sent.len(), 5);
}

#[test]
fn a_dump_prints_every_live_sa_and_skips_dead_ones() {
    let mut k = FakeKernel::default();
    k.replies.extend([
        sa_reply(1234, 2, 1),
        sa_reply(99, 0, 1),
        sa_reply(1234, 1, 3),
        sa_reply(1234, 0, 1),
    ]);
    let mut out = Vec::new();
    let mut r = runner(&mut k, &mut out, Mode::Other);
    r.sendkeymsg(&crate::request::short(MsgType::Dump, 0, 1234), 0)
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let want = [
        SA_TEXT.replace("sadb_seq=1", "sadb_seq=2"),
        SA_TEXT.replace("sadb_seq=1", "sadb_seq=0"),
    ]
    .concat();
    assert_eq!(text, want);
}

#[test]
fn deleteall_dumps_then_deletes_matching_spis() {
    let mut k = FakeKernel::default();
    k.replies.extend([
        sa_reply(1234, 1, 1),
        sa_reply(1234, 0, 1),
        reply(MsgType::Delete, 0, 0, 1234),
        reply(MsgType::Delete, 0, 0, 1234),
    ]);
    let mut out = Vec::new();
    let cmds = parse_all("deleteall 10.0.0.1 10.0.0.2 esp;").unwrap();
    let mut r = runner(&mut k, &mut out, Mode::Other);
    assert!(r.run(&cmds[0]).unwrap());
    assert_eq!(k.sent.len(), 3);
    assert_eq!(k.sent[1][1], MsgType::Delete as u8);
    assert_eq!(&k.sent[1][20..24], &[0, 0, 0x10, 0]);
    assert!(out.is_empty());
}
