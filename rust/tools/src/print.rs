// SPDX-License-Identifier: GPL-2.0

//! SA replies as text, in the layout of libipsec's `pfkey_sadump()` as
//! setkey 0.8.2 prints it on Linux (`-D`, `get`), and the one-line form of
//! `setkey -D -l` (`shortdump()`).

#![forbid(unsafe_code)]

use std::fmt::Write;

use kame_core::pfkey::ext::Exts;
use kame_core::pfkey::wire::{
    ext_type, Address, IpAddr, Key, Lifetime, NatTPort, NatTType, Sa, Sa2, SockAddr,
};
use kame_core::pfkey::MsgHeader;

use crate::algs;
use crate::ast::satype;
use crate::protocols::Protocols;
use crate::tz::{str_time, Zone};

/// What printing needs besides the message.
pub struct PrintCtx {
    /// For `created:` and friends.
    pub zone: Zone,
    /// Upper-layer protocol names.
    pub protocols: Protocols,
    /// `-p` in ipsec-tools: addresses with ports.
    pub withports: bool,
    /// The time `current:` shows (seconds since the epoch).
    pub now: u64,
}

/// `str_satype[]` of pfkey_dump.c.
const SATYPE_NAMES: [&str; 12] = [
    "unspec", "unknown", "ah", "esp", "unknown", "rsvp", "ospfv2", "ripv2", "mip", "ipcomp",
    "policy", "tcp",
];
const MODE_NAMES: [&str; 3] = ["any", "transport", "tunnel"];
const STATE_NAMES: [&str; 4] = ["larval", "mature", "dying", "dead"];

/// setkey's `GETMSGSTR`: the name followed by a space, or the number.
fn msgstr(table: &[&str], n: u8) -> String {
    match table.get(usize::from(n)) {
        Some(s) => format!("{s} "),
        None => format!("{n} "),
    }
}

/// setkey's `GETMSGV2S` over an id-to-name lookup.
fn v2s(name: Option<&str>, n: u8) -> String {
    match name {
        Some(s) => format!("{s} "),
        None => format!("{n} "),
    }
}

/// `str_ipaddr()`: the numeric address.
pub fn str_ipaddr(a: &IpAddr) -> String {
    match a {
        IpAddr::V4(o) => std::net::Ipv4Addr::from(*o).to_string(),
        IpAddr::V6(o, 0) => std::net::Ipv6Addr::from(*o).to_string(),
        IpAddr::V6(o, scope) => format!("{}%{scope}", std::net::Ipv6Addr::from(*o)),
    }
}

/// `ipsec_hexdump()`: a space before each 4 bytes, a newline every 32.
fn hexdump(out: &mut String, key: &[u8]) {
    for (i, b) in key.iter().enumerate() {
        if i != 0 && i % 32 == 0 {
            out.push('\n');
        }
        if i % 4 == 0 {
            out.push(' ');
        }
        let _ = write!(out, "{b:02x}");
    }
}

/// `str_lifetime_byte()`.
fn lifetime_bytes(out: &mut String, lt: Option<&Lifetime>, what: &str) {
    let _ = write!(out, "\t{what}: {}(bytes)", lt.map_or(0, |l| l.bytes));
}

/// The text of an extension walk failure (what `pfkey_align` reports).
pub fn bad_message() -> String {
    "Invalid sadb message\n".to_string()
}

fn addr_of(x: &Exts<'_>, t: u16) -> Option<SockAddr> {
    x.get(t).and_then(Address::decode).map(|a| a.sa)
}

/// One SA as `pfkey_sadump()` prints it.
pub fn sadump(msg: &[u8], ctx: &PrintCtx) -> String {
    let (Some(h), Ok(x)) = (MsgHeader::decode(msg), Exts::parse(msg)) else {
        return bad_message();
    };
    let mut o = String::new();
    let natt = x
        .get(ext_type::X_NAT_T_TYPE)
        .map(NatTType::decode)
        .is_some_and(|t| t.0 != 0);
    let natt_port = |t: u16| x.get(t).map(NatTPort::decode).filter(|_| natt);
    let endpoint = |o: &mut String, sa: SockAddr, nport: Option<NatTPort>| {
        o.push_str(&str_ipaddr(&sa.addr));
        if ctx.withports {
            let _ = write!(o, "[{}]", sa.port);
        }
        if let Some(p) = nport {
            let _ = write!(o, "[{}]", p.0);
        }
        o.push(' ');
    };
    let Some(src) = addr_of(&x, ext_type::ADDRESS_SRC) else {
        return "no ADDRESS_SRC extension.\n".to_string();
    };
    endpoint(&mut o, src, natt_port(ext_type::X_NAT_T_SPORT));
    let Some(dst) = addr_of(&x, ext_type::ADDRESS_DST) else {
        o.push_str(" no ADDRESS_DST extension.\n");
        return o;
    };
    endpoint(&mut o, dst, natt_port(ext_type::X_NAT_T_DPORT));
    let Some(sa) = x.get(ext_type::SA).map(Sa::decode) else {
        o.push_str("no SA extension.\n");
        return o;
    };
    let Some(sa2) = x.get(ext_type::X_SA2).map(Sa2::decode) else {
        o.push_str("no SA2 extension.\n");
        return o;
    };
    o.push_str("\n\t");
    if natt && h.satype == satype::ESP {
        o.push_str("esp-udp ");
    } else {
        if natt {
            o.push_str("natt+");
        }
        o.push_str(&msgstr(&SATYPE_NAMES, h.satype));
    }
    let _ = writeln!(
        o,
        "mode={}spi={}(0x{:08x}) reqid={}(0x{:08x})",
        msgstr(&MODE_NAMES, sa2.mode),
        sa.spi,
        sa.spi,
        sa2.reqid,
        sa2.reqid
    );
    if let Some(oa) = addr_of(&x, ext_type::X_NAT_T_OA).filter(|_| natt) {
        let _ = writeln!(o, "\tNAT OA={}", str_ipaddr(&oa.addr));
    }
    if h.satype == satype::IPCOMP {
        let _ = write!(o, "\tC: {}", v2s(algs::comp_name(sa.encrypt), sa.encrypt));
    } else if h.satype == satype::ESP {
        if let Some(k) = x.get(ext_type::KEY_ENCRYPT).map(Key::decode) {
            let _ = write!(o, "\tE: {}", v2s(algs::enc_name(sa.encrypt), sa.encrypt));
            hexdump(
                &mut o,
                k.key.get(..usize::from(k.bits / 8)).unwrap_or(k.key),
            );
            o.push('\n');
        }
    }
    if let Some(k) = x.get(ext_type::KEY_AUTH).map(Key::decode) {
        let _ = write!(o, "\tA: {}", v2s(algs::auth_name(sa.auth), sa.auth));
        hexdump(
            &mut o,
            k.key.get(..usize::from(k.bits / 8)).unwrap_or(k.key),
        );
        o.push('\n');
    }
    let _ = writeln!(
        o,
        "\tseq=0x{:08x} replay={} flags=0x{:08x} state={}",
        sa2.sequence,
        sa.replay,
        sa.flags,
        msgstr(&STATE_NAMES, sa.state)
    );
    lifetimes(&mut o, &x, ctx);
    sec_ctx(&mut o, &x);
    let _ = writeln!(
        o,
        "\tsadb_seq={} pid={} refcnt={}",
        h.seq, h.pid, h.reserved
    );
    o
}

/// The lifetime block, present when the current lifetime is.
fn lifetimes(o: &mut String, x: &Exts<'_>, ctx: &PrintCtx) {
    let Some(c) = x.get(ext_type::LIFETIME_CURRENT).map(Lifetime::decode) else {
        return;
    };
    let hard = x.get(ext_type::LIFETIME_HARD).map(Lifetime::decode);
    let soft = x.get(ext_type::LIFETIME_SOFT).map(Lifetime::decode);
    let (h, s) = (hard.unwrap_or_default(), soft.unwrap_or_default());
    let z = &ctx.zone;
    let diff = if c.addtime == 0 {
        0
    } else {
        ctx.now.wrapping_sub(c.addtime)
    };
    let _ = writeln!(
        o,
        "\tcreated: {}\tcurrent: {}",
        str_time(c.addtime, z),
        str_time(ctx.now, z)
    );
    let _ = writeln!(
        o,
        "\tdiff: {diff}(s)\thard: {}(s)\tsoft: {}(s)",
        h.addtime, s.addtime
    );
    let _ = writeln!(
        o,
        "\tlast: {}\thard: {}(s)\tsoft: {}(s)",
        str_time(c.usetime, z),
        h.usetime,
        s.usetime
    );
    lifetime_bytes(o, Some(&c), "current");
    lifetime_bytes(o, hard.as_ref(), "hard");
    lifetime_bytes(o, soft.as_ref(), "soft");
    o.push('\n');
    let _ = writeln!(
        o,
        "\tallocated: {}\thard: {}\tsoft: {}",
        c.allocations, h.allocations, s.allocations
    );
}

/// The security context lines (`sadb_x_sec_ctx`), when present.
pub fn sec_ctx(o: &mut String, x: &Exts<'_>) {
    let Some(e) = x.get(ext_type::X_SEC_CTX) else {
        return;
    };
    let (doi, alg) = (
        e.get(4).copied().unwrap_or(0),
        e.get(5).copied().unwrap_or(0),
    );
    let len = e.get(6..8).map_or(0, |b| u16::from_ne_bytes([b[0], b[1]]));
    let text = e.get(8..8 + usize::from(len)).unwrap_or(&[]);
    let text = text.split(|&b| b == 0).next().unwrap_or(&[]);
    let _ = writeln!(o, "\tsecurity context doi: {doi}");
    let _ = writeln!(o, "\tsecurity context algorithm: {alg}");
    let _ = writeln!(o, "\tsecurity context length: {len}");
    let _ = writeln!(o, "\tsecurity context: {}", String::from_utf8_lossy(text));
}

/// The header line of `-D -l`.
pub fn shortdump_hdr() -> String {
    format!(
        "{:<4} {:<3} {:<1} {:<8} {:<7} src -> dst\n",
        "time", "p", "s", "spi", "ltime"
    )
}

/// One SA on one line, as setkey's `shortdump()`.
pub fn shortdump(msg: &[u8], now: u64) -> String {
    let (Some(h), Ok(x)) = (MsgHeader::decode(msg), Exts::parse(msg)) else {
        return bad_message();
    };
    let mut o = format!("{:02}{:02}", now % 3600 / 60, now % 60);
    let p = match h.satype {
        satype::AH => "ah".to_string(),
        satype::ESP => "esp".to_string(),
        n => format!("#{n}"),
    };
    let _ = write!(o, " {p:<3}");
    match x.get(ext_type::SA).map(Sa::decode) {
        Some(sa) => {
            let st = ["L", "M", "D", "d"].get(usize::from(sa.state)).copied();
            let st = st.map_or_else(|| format!("#{}", sa.state), str::to_string);
            let _ = write!(o, " {st:<1} {:08x}", sa.spi);
        }
        None => o.push_str("? ?       "),
    }
    let lt = |t| x.get(t).map(Lifetime::decode);
    match (
        lt(ext_type::LIFETIME_SOFT),
        lt(ext_type::LIFETIME_HARD),
        lt(ext_type::LIFETIME_CURRENT),
    ) {
        (Some(_), Some(hard), Some(cur)) => {
            let t = if cur.addtime == 0 {
                0
            } else {
                now.wrapping_sub(cur.addtime)
            };
            o.push_str(&if t >= 1000 {
                " big/".to_string()
            } else {
                format!(" {t:3}/")
            });
            let t = hard.addtime;
            o.push_str(&if t >= 1000 {
                "big".to_string()
            } else {
                format!("{t:<3}")
            });
        }
        _ => o.push_str(" ???/???"),
    }
    o.push(' ');
    for (i, t) in [ext_type::ADDRESS_SRC, ext_type::ADDRESS_DST]
        .into_iter()
        .enumerate()
    {
        if i == 1 {
            o.push_str(" -> ");
        }
        match x.get(t).and_then(Address::decode) {
            Some(a) => {
                if a.proto != 0 {
                    let _ = write!(o, "{} ", short_proto(a.proto));
                }
                o.push_str(&str_ipaddr(&a.sa.addr));
                if a.sa.port != 0 {
                    let _ = write!(o, "[{}]", a.sa.port);
                }
            }
            None => o.push('?'),
        }
    }
    o.push('\n');
    o
}

/// `ipproto[]` of setkey.c, `#n` for the rest.
fn short_proto(p: u8) -> String {
    let name = match p {
        0 => "ip",
        1 => "icmp",
        2 => "igmp",
        3 => "ggp",
        4 => "ip4",
        6 => "tcp",
        8 => "egp",
        17 => "udp",
        22 => "idp",
        29 => "tp",
        41 => "ip6",
        43 => "rt6",
        44 => "frag6",
        46 => "rsvp",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "icmp6",
        59 => "none",
        60 => "dst6",
        _ => return format!("#{p}"),
    };
    name.to_string()
}
