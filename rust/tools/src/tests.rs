// SPDX-License-Identifier: GPL-2.0

//! End-to-end tests: configuration text to parsed commands, to message
//! bytes, to a fake kernel's replies, to setkey's printed text. This file
//! holds the fixtures; `tests/` the cases.

#![forbid(unsafe_code)]

mod output;
mod parse_build;

use kame_core::pfkey::wire::{
    ext_type, Address, ByteSink, Encoder, IpAddr, Key, Lifetime, Sa, Sa2, SockAddr,
};
use kame_core::pfkey::{MsgHeader, MsgType};

use crate::ast::Located;
use crate::client::tests::FakeKernel;
use crate::client::Client;
use crate::exec::{Flags, Mode, Runner};
use crate::lexer::ParseError;
use crate::parser::Parser;
use crate::print::PrintCtx;
use crate::protocols::Protocols;
use crate::request::MsgBuf;
use crate::tz::Zone;

pub(crate) fn parse_all(src: &str) -> Result<Vec<Located>, ParseError> {
    let protos = Protocols::builtin();
    let mut p = Parser::new(src, &protos);
    let mut out = Vec::new();
    while let Some(c) = p.next_command() {
        out.push(c?);
    }
    Ok(out)
}

pub(crate) fn parse_err(src: &str) -> String {
    parse_all(src).unwrap_err().to_string()
}

pub(crate) fn ctx() -> PrintCtx {
    PrintCtx {
        zone: Zone::utc(),
        protocols: Protocols::builtin(),
        withports: false,
        now: 1_795_608_005,
    }
}

pub(crate) const AES_KEY: &str = "0x0102030405060708090a0b0c0d0e0f10";
pub(crate) const SHA_KEY: &str =
    "0x0102030405060708090a0b0c0d0e0f100102030405060708090a0b0c0d0e0f10";

/// A `sadb_ext` header.
pub(crate) fn ext_hdr(words: u16, t: u16) -> Vec<u8> {
    [words.to_ne_bytes(), t.to_ne_bytes()].concat()
}

pub(crate) fn msg_hdr(t: u8, satype: u8, words: u16, pid: u32) -> Vec<u8> {
    let mut v = vec![2, t, 0, satype];
    v.extend(words.to_ne_bytes());
    v.extend([0, 0, 0, 0, 0, 0]);
    v.extend(pid.to_ne_bytes());
    v
}

pub(crate) fn v4_address(t: u16, proto: u8, plen: u8, a: [u8; 4], port: u16) -> Vec<u8> {
    let mut v = ext_hdr(3, t);
    v.extend([proto, plen, 0, 0]);
    v.extend(2u16.to_ne_bytes());
    v.extend(port.to_be_bytes());
    v.extend(a);
    v.extend([0u8; 8]);
    v
}

/// A reply as the kernel would dump it.
pub(crate) fn sa_reply(pid: u32, seq: u32, state: u8) -> Vec<u8> {
    let mut v = MsgBuf::default();
    let h = MsgHeader {
        version: 2,
        msg_type: MsgType::Dump as u8,
        satype: 3,
        seq,
        pid,
        ..Default::default()
    };
    let key: Vec<u8> = (1..=16).collect();
    let key2: Vec<u8> = (1..=16).chain(1..=16).collect();
    let sa = Sa {
        spi: 4096,
        replay: 0,
        state,
        auth: 5,
        encrypt: 12,
        flags: 0,
    };
    let addr = |a| Address {
        proto: 255,
        prefixlen: 32,
        sa: SockAddr {
            addr: IpAddr::V4(a),
            port: 0,
        },
    };
    let mut e = Encoder::new(&mut v, &h).unwrap();
    e.ext(ext_type::SA, &sa).unwrap();
    let cur = Lifetime {
        addtime: 1_795_608_000,
        ..Default::default()
    };
    e.ext(ext_type::LIFETIME_CURRENT, &cur).unwrap();
    e.ext(ext_type::LIFETIME_HARD, &Lifetime::default())
        .unwrap();
    e.ext(ext_type::LIFETIME_SOFT, &Lifetime::default())
        .unwrap();
    e.ext(ext_type::ADDRESS_SRC, &addr([10, 0, 0, 1])).unwrap();
    e.ext(ext_type::ADDRESS_DST, &addr([10, 0, 0, 2])).unwrap();
    e.ext(
        ext_type::KEY_AUTH,
        &Key {
            bits: 256,
            key: &key2,
        },
    )
    .unwrap();
    e.ext(
        ext_type::KEY_ENCRYPT,
        &Key {
            bits: 128,
            key: &key,
        },
    )
    .unwrap();
    e.ext(
        ext_type::X_SA2,
        &Sa2 {
            mode: 1,
            sequence: 0,
            reqid: 0,
        },
    )
    .unwrap();
    e.finish().unwrap();
    assert_eq!(v.written(), v.0.len());
    v.0
}

pub(crate) const SA_TEXT: &str = "10.0.0.1 10.0.0.2 \n\
\tesp mode=transport spi=4096(0x00001000) reqid=0(0x00000000)\n\
\tE: aes-cbc  01020304 05060708 090a0b0c 0d0e0f10\n\
\tA: hmac-sha256  01020304 05060708 090a0b0c 0d0e0f10 01020304 05060708 090a0b0c 0d0e0f10\n\
\tseq=0x00000000 replay=0 flags=0x00000000 state=mature \n\
\tcreated: Nov 25 12:00:00 2026\tcurrent: Nov 25 12:00:05 2026\n\
\tdiff: 5(s)\thard: 0(s)\tsoft: 0(s)\n\
\tlast:                     \thard: 0(s)\tsoft: 0(s)\n\
\tcurrent: 0(bytes)\thard: 0(bytes)\tsoft: 0(bytes)\n\
\tallocated: 0\thard: 0\tsoft: 0\n\
\tsadb_seq=1 pid=1234 refcnt=0\n";

pub(crate) fn runner<'a>(
    k: &'a mut FakeKernel,
    out: &'a mut Vec<u8>,
    mode: Mode,
) -> Runner<'a, &'a mut FakeKernel> {
    Runner {
        client: Some(Client::new(k, 1234)),
        pid: 1234,
        flags: Flags {
            rfc_fwd: true,
            ..Default::default()
        },
        mode,
        ctx: ctx(),
        fixed_now: Some(1_795_608_005),
        out,
        io_failed: false,
    }
}
