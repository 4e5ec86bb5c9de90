// SPDX-License-Identifier: GPL-2.0

//! A debugging form of any PF_KEY message, in the spirit of libipsec's
//! `kdebug_sadb()`: printed for every message sent and received with `-v`,
//! and for every message seen with `-x`.

#![forbid(unsafe_code)]

use std::fmt::Write;

use kame_core::pfkey::wire::{ext_type, Address, Key, Lifetime, NatTPort, Policy, Sa, Sa2};
use kame_core::pfkey::{MsgHeader, SADB_MSG_LEN, WORD};

use crate::print::str_ipaddr;

/// The message, its extensions one per line.
pub fn kdebug(msg: &[u8]) -> String {
    let Some(h) = MsgHeader::decode(msg) else {
        return "sadb_msg{ short message }\n".to_string();
    };
    let mut o = format!(
        "sadb_msg{{ version={} type={} errno={} satype={}\n  len={} reserved={} seq={} pid={}\n",
        h.version, h.msg_type, h.errno, h.satype, h.len, h.reserved, h.seq, h.pid
    );
    let mut rest = msg.get(SADB_MSG_LEN..).unwrap_or(&[]);
    while rest.len() >= 4 {
        let words = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let t = u16::from_ne_bytes([rest[2], rest[3]]);
        let len = words * WORD;
        let Some(ext) = rest.get(..len).filter(|_| len > 0) else {
            o.push_str("  sadb_ext{ bad length }\n");
            break;
        };
        let _ = writeln!(
            o,
            "  sadb_ext{{ len={words} type={t} {}}}",
            ext_body(t, ext)
        );
        rest = &rest[len..];
    }
    o.push('}');
    o.push('\n');
    o
}

fn ext_body(t: u16, ext: &[u8]) -> String {
    match t {
        ext_type::SA => {
            let s = Sa::decode(ext);
            format!(
                "spi=0x{:08x} replay={} state={} auth={} enc={} flags=0x{:08x} ",
                s.spi, s.replay, s.state, s.auth, s.encrypt, s.flags
            )
        }
        ext_type::LIFETIME_CURRENT | ext_type::LIFETIME_HARD | ext_type::LIFETIME_SOFT => {
            let l = Lifetime::decode(ext);
            format!(
                "allocations={} bytes={} addtime={} usetime={} ",
                l.allocations, l.bytes, l.addtime, l.usetime
            )
        }
        ext_type::ADDRESS_SRC
        | ext_type::ADDRESS_DST
        | ext_type::ADDRESS_PROXY
        | ext_type::X_NAT_T_OA => match Address::decode(ext) {
            Some(a) => format!(
                "proto={} prefixlen={} addr={} port={} ",
                a.proto,
                a.prefixlen,
                str_ipaddr(&a.sa.addr),
                a.sa.port
            ),
            None => "unknown family ".to_string(),
        },
        ext_type::KEY_AUTH | ext_type::KEY_ENCRYPT => {
            let k = Key::decode(ext);
            let hex: String = k.key.iter().map(|b| format!("{b:02x}")).collect();
            format!("bits={} key={hex} ", k.bits)
        }
        ext_type::X_SA2 => {
            let s = Sa2::decode(ext);
            format!("mode={} sequence={} reqid={} ", s.mode, s.sequence, s.reqid)
        }
        ext_type::X_POLICY => {
            let p = Policy::decode(ext);
            let reqs = crate::spdump::dump_policy(ext, true).unwrap_or_default();
            let reqs = reqs.split("\n\t").skip(1).collect::<Vec<_>>().join(" ");
            format!(
                "type={} dir={} id={} priority=0x{:08x} requests=[{reqs}] ",
                p.ty, p.dir, p.id, p.priority
            )
        }
        ext_type::X_NAT_T_SPORT | ext_type::X_NAT_T_DPORT => {
            format!("port={} ", NatTPort::decode(ext).0)
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kame_core::pfkey::MsgType;

    #[test]
    fn a_bare_header() {
        let m = crate::request::short(MsgType::Flush, 3, 77);
        assert_eq!(
            kdebug(&m),
            "sadb_msg{ version=2 type=9 errno=0 satype=3\n  len=2 reserved=0 seq=0 pid=77\n}\n"
        );
    }
}
