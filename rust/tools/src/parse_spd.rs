// SPDX-License-Identifier: GPL-2.0

//! The SPD commands of the language: `spdadd`, `spdupdate`, `spddelete`,
//! their selectors `addr[/prefix][[port]]`, upper-layer protocol and policy.

#![forbid(unsafe_code)]

use kame_core::pfkey::wire::SockAddr;

use crate::addr::{self, AddrOpts};
use crate::ast::{Command, Located, Selector, SpdCmd, SpdOp};
use crate::lexer::{ParseError, Tok, Token};
use crate::parser::{Parser, ULPROTO_ANY};
use crate::policy;

/// `IPPROTO_ICMP`, `IPPROTO_ICMPV6`, `IPPROTO_MH`, `IPPROTO_GRE`.
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;
const MH: u8 = 135;
const GRE: u8 = 47;

impl Parser<'_> {
    /// `upper_spec`: a number, `any`, or a protocol name.
    fn upper_spec(&mut self) -> Result<u8, ParseError> {
        let w = self.word()?;
        if w.bytes().all(|b| b.is_ascii_digit()) {
            return w
                .parse()
                .map_err(|_| self.error_last("invalid upper layer protocol"));
        }
        match w.as_str() {
            "any" => Ok(ULPROTO_ANY),
            "tcp" => Ok(6),
            _ => match self.protocols.by_name(&w) {
                Some(n) => Ok(n),
                None if w == "icmp6" => Ok(ICMPV6),
                None if w == "ip4" => Ok(4),
                None => Err(self.error_last("invalid upper layer protocol")),
            },
        }
    }

    /// `spdadd`, `spdupdate`, `spddelete`.
    pub(crate) fn spd(&mut self, op: SpdOp) -> Result<Located, ParseError> {
        let o = self.addr_opts()?;
        let (shost, sprefix, sport) = self.selector()?;
        let (dhost, dprefix, dport) = self.selector()?;
        let upper = self.upper_spec()?;
        let misc = match self.peek_word()? {
            Some(_) => Some(self.word()?),
            None => None,
        };
        let (sport, dport) = match misc {
            Some(spec) => self.fix_portstr(upper, &spec)?,
            None => (sport, dport),
        };
        let src = self.one_address(&shost, sport.as_deref(), o)?;
        let dst = self.one_address(&dhost, dport.as_deref(), o)?;
        if src.addr.family() != dst.addr.family() {
            return Err(self.error_last("address family mismatch"));
        }
        for (p, a) in [(sprefix, src), (dprefix, dst)] {
            if p.is_some_and(|p| p > a.addr.bits()) {
                return Err(self.error_last("Invalid prefix length"));
            }
        }
        if self.peek_flag()?.as_deref() != Some("-P") {
            return Err(self.syntax());
        }
        self.take()?;
        let text = match self.take()? {
            Some(Token {
                tok: Tok::Policy(t),
                ..
            }) => t,
            _ => return Err(self.syntax()),
        };
        let policy = policy::parse(&text).map_err(|e| self.error_last(&e))?;
        let line = self.end()?;
        let cmd = SpdCmd {
            op,
            src: Selector {
                addr: src,
                prefix: sprefix,
            },
            dst: Selector {
                addr: dst,
                prefix: dprefix,
            },
            upper,
            policy,
        };
        Ok(Located {
            cmd: Command::Spd(cmd),
            line,
        })
    }

    /// `STRING prefix portstr` of an SPD command.
    fn selector(&mut self) -> Result<(String, Option<u8>, Option<String>), ParseError> {
        let host = self.word()?;
        let prefix = if self.eat(&Tok::Slash)? {
            let n = self.decimal()?;
            let max = addr::parse_numeric(&host).map_or(128, |a| a.bits());
            let n = u8::try_from(n).ok().filter(|&n| n <= max);
            Some(n.ok_or_else(|| self.error_last("Invalid prefix length"))?)
        } else {
            None
        };
        Ok((host, prefix, self.port()?))
    }

    fn one_address(
        &self,
        host: &str,
        port: Option<&str>,
        o: AddrOpts,
    ) -> Result<SockAddr, ParseError> {
        let v = self.resolve(host, port, o)?;
        match v.as_slice() {
            [one] => Ok(*one),
            _ => Err(self.error_last("multiple address specified")),
        }
    }

    /// setkey's `fix_portstr()`: `icmp6 135,0` carries type and code in the
    /// port fields; GRE carries its key.
    fn fix_portstr(
        &self,
        upper: u8,
        spec: &str,
    ) -> Result<(Option<String>, Option<String>), ParseError> {
        let bad = || self.error_last("invalid an upper layer protocol spec");
        let num = |s: &str| s.parse::<u32>().map_err(|_| bad());
        match upper {
            ICMP | ICMPV6 | MH => {
                let (a, b) = match spec.split_once(',') {
                    Some((a, b)) => (num(a)?, num(b)?),
                    None => (num(spec)?, 0),
                };
                Ok((Some(a.to_string()), Some(b.to_string())))
            }
            GRE => {
                let key = match spec.split('.').collect::<Vec<_>>().as_slice() {
                    [a, b, c, d] => {
                        let v: Vec<u32> = [a, b, c, d]
                            .iter()
                            .map(|s| num(s))
                            .collect::<Result<_, _>>()?;
                        (v[0] << 24) | (v[1] << 16) | (v[2] << 8) | v[3]
                    }
                    _ => num(spec)?,
                };
                Ok((
                    Some((key >> 16).to_string()),
                    Some((key & 0xffff).to_string()),
                ))
            }
            _ => Err(bad()),
        }
    }
}
