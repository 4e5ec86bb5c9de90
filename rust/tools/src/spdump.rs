// SPDX-License-Identifier: GPL-2.0

//! Policy replies as text, in the layout of libipsec's `pfkey_spdump()` and
//! `ipsec_dump_policy()` as setkey 0.8.2 prints them on Linux (`-DP`).

#![forbid(unsafe_code)]

use std::fmt::Write;

use kame_core::pfkey::ext::Exts;
use kame_core::pfkey::wire::{ext_type, Address, IpsecRequest, Lifetime, Policy};
use kame_core::pfkey::MsgHeader;

use crate::ipsec::{proto, PRIORITY_DEFAULT, PRIORITY_HIGH, PRIORITY_LOW};
use crate::print::{bad_message, sec_ctx, str_ipaddr, PrintCtx};
use crate::tz::str_time;

const ICMP: u8 = 1;
const ICMPV6: u8 = 58;
const MH: u8 = 135;
const GRE: u8 = 47;

/// `ipsp_dir_strs[]` on Linux.
const DIRS: [&str; 6] = ["any", "in", "out", "fwd", "in(socket)", "out(socket)"];
/// `ipsp_policy_strs[]`.
const TYPES: [&str; 5] = ["discard", "none", "ipsec", "entrust", "bypass"];

/// `str_prefport()`: `/prefix` unless full, `[port]` unless the protocol
/// has none.
fn prefport(a: &Address, ulp: u8) -> String {
    let mut s = String::new();
    if a.prefixlen != a.sa.addr.bits() {
        let _ = write!(s, "/{}", a.prefixlen);
    }
    match ulp {
        ICMP | ICMPV6 | MH | GRE => {}
        _ if a.sa.port == 0 => s.push_str("[any]"),
        _ => {
            let _ = write!(s, "[{}]", a.sa.port);
        }
    }
    s
}

/// `str_upperspec()`: the protocol name (`/etc/protocols`) or number, and
/// ICMP type/code or the GRE key carried in the ports.
fn upperspec(ulp: u8, p1: u16, p2: u16, ctx: &PrintCtx) -> String {
    let mut s = match ctx.protocols.by_number(ulp) {
        Some(name) => name.to_string(),
        None => ulp.to_string(),
    };
    if p1 == 0 && p2 == 0 {
        return s;
    }
    match ulp {
        ICMP | ICMPV6 | MH => {
            let _ = write!(s, " {p1},{p2}");
        }
        GRE => {
            let _ = write!(s, " {}", (u32::from(p1) << 16) + u32::from(p2));
        }
        _ => {}
    }
    s
}

/// `ipsec_dump_ipsecrequest()`.
fn request(r: &IpsecRequest, withports: bool) -> Result<String, &'static str> {
    let p = match r.proto {
        proto::ESP => "esp",
        proto::AH => "ah",
        proto::IPCOMP => "ipcomp",
        _ => return Err("Invalid ipsec protocol"),
    };
    let mode = ["any", "transport", "tunnel"]
        .get(usize::from(r.mode))
        .ok_or("Invalid ipsec mode")?;
    let addrs = match r.tunnel {
        None => String::new(),
        Some((s, d)) if withports => format!(
            "{}[{}]-{}[{}]",
            str_ipaddr(&s.addr),
            s.port,
            str_ipaddr(&d.addr),
            d.port
        ),
        Some((s, d)) => format!("{}-{}", str_ipaddr(&s.addr), str_ipaddr(&d.addr)),
    };
    let level = ["default", "use", "require", "unique"]
        .get(usize::from(r.level))
        .ok_or("Invalid ipsec level")?;
    let mut s = format!("{p}/{mode}/{addrs}/{level}");
    if r.reqid != 0 {
        let ch = if r.reqid > 0x3fff { '#' } else { ':' };
        let _ = write!(s, "{ch}{}", r.reqid);
    }
    Ok(s)
}

/// The priority words of `ipsec_dump_policy()`: `prio def`, `prio high +
/// 3`, ... (empty for priority 0).
fn priority(prio: u32) -> String {
    if prio == 0 {
        return String::new();
    }
    let (name, base) = if prio < PRIORITY_DEFAULT / 4 * 3 {
        ("prio high", PRIORITY_HIGH)
    } else if prio < PRIORITY_DEFAULT / 4 * 5 {
        ("prio def", PRIORITY_DEFAULT)
    } else {
        ("prio low", PRIORITY_LOW)
    };
    let offset = (prio.wrapping_sub(base) as i32).wrapping_neg();
    if offset == 0 {
        return format!("{name} ");
    }
    let op = if offset < 0 { '-' } else { '+' };
    format!("{name} {op} {} ", offset.unsigned_abs())
}

/// `ipsec_dump_policy()` with the `"\n\t"` delimiter setkey uses.
pub fn dump_policy(ext: &[u8], withports: bool) -> Result<String, &'static str> {
    let p = Policy::decode(ext);
    let dir = DIRS.get(usize::from(p.dir)).ok_or("Invalid direciton")?;
    let ty = TYPES
        .get(usize::from(p.ty))
        .ok_or("Invalid security policy")?;
    let mut s = format!("{dir} {}{ty}", priority(p.priority));
    if usize::from(p.ty) != 2 {
        return Ok(s);
    }
    let mut rest = Policy::requests(ext);
    while !rest.is_empty() {
        let (r, n) = IpsecRequest::decode(rest).map_err(|_| "Invalid sadb message")?;
        s.push_str("\n\t");
        s.push_str(&request(&r, withports)?);
        rest = &rest[n..];
    }
    Ok(s)
}

/// One policy as `pfkey_spdump()` prints it.
pub fn spdump(msg: &[u8], ctx: &PrintCtx) -> String {
    let (Some(h), Ok(x)) = (MsgHeader::decode(msg), Exts::parse(msg)) else {
        return bad_message();
    };
    let Some(xpl) = x.get(ext_type::X_POLICY) else {
        return "no X_POLICY extension.\n".to_string();
    };
    let pol = Policy::decode(xpl);
    let src = x.get(ext_type::ADDRESS_SRC).and_then(Address::decode);
    let dst = x.get(ext_type::ADDRESS_DST).and_then(Address::decode);
    let mut o = String::new();
    if pol.id % 8 >= 3 {
        o.push_str("(per-socket policy) ");
    } else if let (Some(s), Some(d)) = (src, dst) {
        let _ = write!(o, "{}{} ", str_ipaddr(&s.sa.addr), prefport(&s, s.proto));
        let _ = write!(o, "{}{} ", str_ipaddr(&d.sa.addr), prefport(&d, s.proto));
        if s.proto != d.proto {
            o.push_str("upper layer protocol mismatched.\n");
            return o;
        }
        o.push_str(&upperspec(s.proto, s.sa.port, d.sa.port, ctx));
    } else {
        o.push_str("(no selector, probably per-socket policy) ");
    }
    match dump_policy(xpl, ctx.withports) {
        Ok(text) => {
            let _ = writeln!(o, "\n\t{text}");
        }
        Err(e) => {
            let _ = writeln!(o, "\n\tPolicy:[{e}]");
        }
    }
    if let Some(c) = x.get(ext_type::LIFETIME_CURRENT).map(Lifetime::decode) {
        let _ = writeln!(
            o,
            "\tcreated: {}  lastused: {}",
            str_time(c.addtime, &ctx.zone),
            str_time(c.usetime, &ctx.zone)
        );
    }
    if let Some(hard) = x.get(ext_type::LIFETIME_HARD).map(Lifetime::decode) {
        let _ = writeln!(
            o,
            "\tlifetime: {}(s) validtime: {}(s)",
            hard.addtime, hard.usetime
        );
    }
    sec_ctx(&mut o, &x);
    let _ = writeln!(o, "\tspid={} seq={} pid={}", pol.id, h.seq, h.pid);
    let _ = writeln!(o, "\trefcnt={}", h.reserved);
    o
}
