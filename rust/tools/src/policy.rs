// SPDX-License-Identifier: GPL-2.0

//! The policy text after `-P` (libipsec's `ipsec_set_policy()` grammar):
//! `direction [priority spec] action [request ...]`, each request being
//! `protocol/mode/src-dst/level`.

#![forbid(unsafe_code)]

use kame_core::pfkey::wire::{IpsecRequest, SockAddr};

use crate::addr;
use crate::ast::PolicySpec;

use crate::ipsec::{dir, level, proto, ptype, PRIORITY_DEFAULT, PRIORITY_HIGH, PRIORITY_LOW};

/// A token of the policy text.
#[derive(Clone, Debug, PartialEq, Eq)]
enum P {
    Word(String),
    Port(String),
    Slash,
    Hyphen,
    Plus,
}

fn tokenize(text: &str) -> Result<Vec<P>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        match c {
            '/' | '-' | '+' => {
                chars.next();
                out.push(match c {
                    '/' => P::Slash,
                    '-' => P::Hyphen,
                    _ => P::Plus,
                });
            }
            '[' => {
                chars.next();
                let port: String = chars.by_ref().take_while(|&c| c != ']').collect();
                out.push(P::Port(port));
            }
            c if c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '%' | '_') => {
                let mut w = String::new();
                while let Some(&c) = chars.peek() {
                    if !(c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '%' | '_')) {
                        break;
                    }
                    w.push(c);
                    chars.next();
                }
                out.push(P::Word(w));
            }
            c => return Err(format!("syntax error in policy near '{c}'")),
        }
    }
    Ok(out)
}

struct Cursor {
    toks: Vec<P>,
    at: usize,
}

impl Cursor {
    fn peek(&self) -> Option<&P> {
        self.toks.get(self.at)
    }
    fn next(&mut self) -> Option<P> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }
    fn eat(&mut self, p: &P) -> bool {
        if self.peek() == Some(p) {
            self.at += 1;
            return true;
        }
        false
    }
    fn word(&mut self) -> Option<String> {
        match self.peek() {
            Some(P::Word(w)) => {
                let w = w.clone();
                self.at += 1;
                Some(w)
            }
            _ => None,
        }
    }
    fn peek_word(&self) -> Option<&str> {
        match self.peek() {
            Some(P::Word(w)) => Some(w),
            _ => None,
        }
    }
}

fn number(c: &mut Cursor, max: u64, err: &str) -> Result<u64, String> {
    let n = c.word().and_then(|w| w.parse::<u64>().ok());
    n.filter(|&n| n <= max).ok_or_else(|| err.to_string())
}

const OFFSET_ERR: &str = "Priority offset not in valid range [-2147483647, 2147483648]";
const BASE_OFFSET_ERR: &str = "Priority offset from base not in valid range [0, 1073741823] \
     for negative offsets and [0, 1073741824] for positive offsets";

/// The priority after `priority`/`prio`, as `policy_parse.y` computes it.
fn priority(c: &mut Cursor) -> Result<u32, String> {
    let base = match c.peek_word() {
        Some("low") => Some(PRIORITY_LOW),
        Some("def") => Some(PRIORITY_DEFAULT),
        Some("high") => Some(PRIORITY_HIGH),
        _ => None,
    };
    if let Some(base) = base {
        c.next();
        return if c.eat(&P::Plus) {
            let n = number(c, 0x4000_0000, BASE_OFFSET_ERR)? as u32;
            Ok(base.wrapping_sub(n))
        } else if c.eat(&P::Hyphen) {
            let n = number(c, 0x3fff_ffff, BASE_OFFSET_ERR)? as u32;
            Ok(base.wrapping_add(n))
        } else {
            Ok(base)
        };
    }
    if c.eat(&P::Hyphen) {
        let n = number(c, 0x7fff_ffff, OFFSET_ERR)? as u32;
        return Ok(PRIORITY_DEFAULT.wrapping_add(n));
    }
    c.eat(&P::Plus);
    let n = number(c, 0x8000_0000, OFFSET_ERR)? as u32;
    Ok(PRIORITY_DEFAULT.wrapping_sub(n))
}

fn endpoint(word: &str, port: Option<String>) -> Result<SockAddr, String> {
    let a = addr::parse_numeric(word).ok_or("Invalid address specification")?;
    let port = match port {
        Some(p) => addr::parse_port(&p).ok_or("Invalid address specification")?,
        None => 0,
    };
    Ok(SockAddr { addr: a, port })
}

fn level_of(w: &str) -> Option<(u8, u32)> {
    Some(match w {
        "default" => (level::DEFAULT, 0),
        "use" => (level::USE, 0),
        "require" => (level::REQUIRE, 0),
        "unique" => (level::UNIQUE, 0),
        _ => (level::UNIQUE, w.strip_prefix("unique:")?.parse().ok()?),
    })
}

fn is_proto(w: Option<&str>) -> bool {
    matches!(w, Some("esp" | "ah" | "ipcomp"))
}

/// Parses the `src-dst` part; `None` for `me-any`/`any-me`.
fn addresses(c: &mut Cursor, d: u8) -> Result<Option<(SockAddr, SockAddr)>, String> {
    let src = c.word().ok_or("Invalid address specification")?;
    let sport = match c.peek() {
        Some(P::Port(p)) => {
            let p = p.clone();
            c.next();
            Some(p)
        }
        _ => None,
    };
    if !c.eat(&P::Hyphen) {
        return Err("Invalid address specification".into());
    }
    let dst = c.word().ok_or("Invalid address specification")?;
    let dport = match c.peek() {
        Some(P::Port(p)) => {
            let p = p.clone();
            c.next();
            Some(p)
        }
        _ => None,
    };
    match (src.as_str(), dst.as_str()) {
        ("me", "any") if d == dir::OUT => return Ok(None),
        ("any", "me") if d == dir::IN => return Ok(None),
        ("me", "any") | ("any", "me") => return Err("Invalid direciton".into()),
        _ => {}
    }
    let (s, t) = (endpoint(&src, sport)?, endpoint(&dst, dport)?);
    if s.addr.family() != t.addr.family() {
        return Err("Family mismatch".into());
    }
    Ok(Some((s, t)))
}

/// One `protocol/mode/src-dst/level` request.
fn request(c: &mut Cursor, d: u8) -> Result<IpsecRequest, String> {
    let proto = match c.word().as_deref() {
        Some("esp") => proto::ESP,
        Some("ah") => proto::AH,
        Some("ipcomp") => proto::IPCOMP,
        _ => return Err("Invalid ipsec protocol".into()),
    };
    if !c.eat(&P::Slash) {
        return Err("Too few arguments".into());
    }
    let mode = match c.word().as_deref() {
        Some("transport") => 1,
        Some("tunnel") => 2,
        _ => return Err("Invalid ipsec mode".into()),
    };
    let mut req = IpsecRequest {
        proto,
        mode,
        level: level::DEFAULT,
        reqid: 0,
        tunnel: None,
    };
    if c.eat(&P::Slash) {
        if !c.eat(&P::Slash) {
            if c.peek_word().is_some() && !is_proto(c.peek_word()) {
                req.tunnel = addresses(c, d)?;
            }
            if !c.eat(&P::Slash) {
                return finish(req);
            }
        }
        if let Some(w) = c.peek_word().filter(|w| !is_proto(Some(w))) {
            let (lvl, reqid) = level_of(w).ok_or("Invalid ipsec level")?;
            (req.level, req.reqid) = (lvl, reqid);
            c.next();
        }
    }
    finish(req)
}

/// libipsec's `rule_check()`.
fn finish(req: IpsecRequest) -> Result<IpsecRequest, String> {
    if req.tunnel.is_none() && req.mode != 1 {
        return Err("Invalid address specification".into());
    }
    Ok(req)
}

/// Parses the policy text.
pub fn parse(text: &str) -> Result<PolicySpec, String> {
    let mut c = Cursor {
        toks: tokenize(text)?,
        at: 0,
    };
    let d = match c.word().as_deref() {
        Some("in") => dir::IN,
        Some("out") => dir::OUT,
        Some("fwd") => dir::FWD,
        _ => return Err("Invalid direciton".into()),
    };
    if c.peek().is_none() {
        return Ok(PolicySpec {
            dir: d,
            ty: ptype::DISCARD,
            priority: 0,
            requests: Vec::new(),
        });
    }
    let mut prio = PRIORITY_DEFAULT;
    if matches!(c.peek_word(), Some("priority" | "prio")) {
        c.next();
        prio = priority(&mut c)?;
    }
    let ty = match c.word().as_deref() {
        Some("discard") => ptype::DISCARD,
        Some("none") => ptype::NONE,
        Some("ipsec") => ptype::IPSEC,
        Some("entrust") => ptype::ENTRUST,
        Some("bypass") => ptype::BYPASS,
        _ => return Err("Invalid security policy".into()),
    };
    let mut requests = Vec::new();
    while c.peek().is_some() {
        requests.push(request(&mut c, d)?);
    }
    Ok(PolicySpec {
        dir: d,
        ty,
        priority: prio,
        requests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kame_core::pfkey::wire::IpAddr;

    #[test]
    fn plain_and_prioritised_policies() {
        let p = parse(" out ipsec esp/transport//require").unwrap();
        assert_eq!(
            (p.dir, p.ty, p.priority),
            (dir::OUT, ptype::IPSEC, PRIORITY_DEFAULT)
        );
        assert_eq!(p.requests.len(), 1);
        assert_eq!(p.requests[0].level, level::REQUIRE);
        assert_eq!(
            parse("in prio 10 none").unwrap().priority,
            PRIORITY_DEFAULT - 10
        );
        assert_eq!(
            parse("in prio -10 none").unwrap().priority,
            PRIORITY_DEFAULT + 10
        );
        assert_eq!(
            parse("in priority high + 3 discard").unwrap().priority,
            PRIORITY_HIGH - 3
        );
        assert_eq!(
            parse("in prio low -3 discard").unwrap().priority,
            PRIORITY_LOW + 3
        );
        assert_eq!(parse("out").unwrap().priority, 0);
    }

    #[test]
    fn tunnel_requests_with_levels_and_reqids() {
        let p =
            parse("out ipsec esp/tunnel/10.0.0.1-10.0.0.2/unique:7\n\tah/transport//use").unwrap();
        let (s, d) = p.requests[0].tunnel.unwrap();
        assert_eq!(s.addr, IpAddr::V4([10, 0, 0, 1]));
        assert_eq!(d.addr, IpAddr::V4([10, 0, 0, 2]));
        assert_eq!(
            (p.requests[0].level, p.requests[0].reqid),
            (level::UNIQUE, 7)
        );
        assert_eq!(p.requests[1].proto, proto::AH);
        assert_eq!(p.requests[1].level, level::USE);
        let p = parse("out ipsec esp/tunnel/fe80::1[4500]-fe80::2[4500]/require").unwrap();
        assert_eq!(p.requests[0].tunnel.unwrap().1.port, 4500);
        let p = parse("out ipsec esp/transport esp/transport/").unwrap();
        assert_eq!(p.requests.len(), 2);
        assert!(parse("out ipsec esp/transport/me-any/require").is_ok());
    }

    #[test]
    fn bad_policies_are_refused() {
        assert_eq!(parse("up none").unwrap_err(), "Invalid direciton");
        assert_eq!(parse("out ipsec esp").unwrap_err(), "Too few arguments");
        assert_eq!(
            parse("out ipsec esp/tunnel//require").unwrap_err(),
            "Invalid address specification"
        );
        assert_eq!(
            parse("out ipsec esp/transport//sometimes").unwrap_err(),
            "Invalid ipsec level"
        );
        assert_eq!(
            parse("out ipsec esp/tunnel/10.0.0.1-::1/use").unwrap_err(),
            "Family mismatch"
        );
        assert!(parse("out prio 3000000000 none").is_err());
        assert_eq!(parse("out maybe").unwrap_err(), "Invalid security policy");
    }
}
