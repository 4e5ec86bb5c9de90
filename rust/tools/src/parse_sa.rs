// SPDX-License-Identifier: GPL-2.0

//! The SA commands of the language: `add`, `get`, `delete`, `deleteall`,
//! their protocol, SPI, extensions (`-m -r -u -f -lh -ls -bh -bs`) and
//! algorithms (`-E -A -C`).

#![forbid(unsafe_code)]

use crate::algs::{self, Alg};
use crate::ast::{saflags, satype, Command, Located, NatT, SaCmd, SaOp, SaParams};
use crate::lexer::{ParseError, Tok, Token};
use crate::parser::Parser;

impl Parser<'_> {
    /// `protocol_spec`, absent (`None`) if the next word is no protocol.
    pub(crate) fn protocol_spec(&mut self) -> Result<Option<u8>, ParseError> {
        self.protocol_spec_into(&mut SaParams::default())
    }

    fn protocol_spec_into(&mut self, p: &mut SaParams) -> Result<Option<u8>, ParseError> {
        let names = ["esp", "esp-old", "ah", "ah-old", "ipcomp", "esp-udp", "tcp"];
        let Some(w) = self.word_in(&names)? else {
            return Ok(None);
        };
        let old = w.ends_with("-old");
        if old {
            p.flags |= saflags::OLD;
        } else {
            p.flags &= !saflags::OLD;
        }
        Ok(Some(match w.as_str() {
            "esp" | "esp-old" => satype::ESP,
            "ah" | "ah-old" => satype::AH,
            "ipcomp" => satype::IPCOMP,
            "esp-udp" => {
                let oa = self.esp_udp_oa()?;
                p.natt = Some(NatT { oa });
                satype::ESP
            }
            _ => satype::TCPSIGNATURE,
        }))
    }

    /// The optional original address after `esp-udp`: a word that is not
    /// an SPI (SPIs are numbers, addresses have a dot or a colon).
    fn esp_udp_oa(&mut self) -> Result<Option<kame_core::pfkey::wire::SockAddr>, ParseError> {
        let is_addr = matches!(self.peek_word()?, Some(w) if w.contains(['.', ':']));
        if !is_addr {
            return Ok(None);
        }
        let w = self.word()?;
        let v = self.resolve(&w, None, Default::default())?;
        Ok(v.first().copied())
    }

    /// The SPI: decimal or `0x` hex.
    fn spi(&mut self) -> Result<u32, ParseError> {
        let w = self.word()?;
        let v = match w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
            Some(hex) => {
                u64::from_str_radix(hex, 16).map_err(|_| self.error_last("invalid SPI"))?
            }
            None if w.bytes().all(|b| b.is_ascii_digit()) => {
                w.parse().map_err(|_| self.error_last("SPI too big."))?
            }
            None => return Err(self.error_last("syntax error")),
        };
        u32::try_from(v).map_err(|_| self.error_last("SPI too big."))
    }

    /// `extension_spec`: any number of `-m`, `-r`, `-u`, `-f`, lifetimes.
    fn extensions(&mut self, p: &mut SaParams) -> Result<(), ParseError> {
        while let Some(f) = self.peek_flag()? {
            match f.as_str() {
                "-m" | "-r" | "-u" | "-f" | "-lh" | "-ls" | "-bh" | "-bs" => self.take()?,
                _ => return Ok(()),
            };
            match f.as_str() {
                "-m" => {
                    p.mode = match self.word()?.as_str() {
                        "transport" => 1,
                        "tunnel" => 2,
                        "any" => 0,
                        _ => return Err(self.error_last("syntax error")),
                    }
                }
                "-r" => {
                    if p.flags & saflags::OLD != 0 {
                        return Err(self.error("replay prevention cannot be used with ah/esp-old"));
                    }
                    let n = self.decimal()?;
                    p.replay =
                        u8::try_from(n).map_err(|_| self.error_last("replay window too big"))?;
                }
                "-u" => {
                    let n = self.decimal()?;
                    p.reqid = u32::try_from(n).map_err(|_| self.error_last("reqid too big"))?;
                }
                "-f" => match self.word()?.as_str() {
                    "random-pad" => p.flags |= saflags::PRAND,
                    "seq-pad" => {}
                    "zero-pad" => p.flags |= saflags::PZERO,
                    "nocyclic-seq" => p.flags &= !saflags::CYCSEQ,
                    "esn" => p.flags |= saflags::ESN,
                    _ => return Err(self.error_last("syntax error")),
                },
                "-lh" => p.lt_hard = self.decimal()?,
                "-ls" => p.lt_soft = self.decimal()?,
                "-bh" => p.lb_hard = self.decimal()?,
                _ => p.lb_soft = self.decimal()?,
            }
        }
        Ok(())
    }

    /// `key_string`: `"text"` or `0x` hex (an odd digit count pads the
    /// first byte, as setkey does).
    fn key_string(&mut self) -> Result<Vec<u8>, ParseError> {
        match self.take()? {
            Some(Token {
                tok: Tok::Quoted(s),
                ..
            }) => Ok(s.into_bytes()),
            Some(Token {
                tok: Tok::Word(w), ..
            }) => {
                let hex = w
                    .strip_prefix("0x")
                    .or_else(|| w.strip_prefix("0X"))
                    .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .ok_or_else(|| self.error_last("syntax error"))?;
                let padded = if hex.len() % 2 == 1 {
                    format!("0{hex}")
                } else {
                    hex.to_string()
                };
                (0..padded.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&padded[i..i + 2], 16))
                    .collect::<Result<_, _>>()
                    .map_err(|_| self.error_last("syntax error"))
            }
            _ => Err(self.error_last("syntax error")),
        }
    }

    /// An algorithm name from `table` and, unless it takes none, its key.
    fn alg_and_key(
        &mut self,
        table: &'static [Alg],
    ) -> Result<(&'static Alg, Vec<u8>), ParseError> {
        let name = self.word()?;
        let alg =
            algs::by_name(table, &name).ok_or_else(|| self.error_last("unsupported algorithm"))?;
        let key = if alg.no_key {
            Vec::new()
        } else {
            self.key_string()?
        };
        alg.check_key(key.len()).map_err(|e| {
            let mut err = self.error_last("Invalid key length");
            err.msg = format!(
                "Invalid key length ({}: {} bits given, {}-{} allowed)",
                e.alg.name, e.bits, e.alg.min_bits, e.alg.max_bits
            );
            err
        })?;
        Ok((alg, key))
    }

    /// `algorithm_spec`: `-E enc key [-A auth key]`, `-A auth key`, or
    /// `-C comp [-R]`.
    fn algorithms(&mut self, p: &mut SaParams) -> Result<(), ParseError> {
        match self.peek_flag()?.as_deref() {
            Some("-E") => {
                self.take()?;
                if let Some(w) = self.word_in(&["simple", "des-deriv", "des-32iv"])? {
                    return self.old_enc(p, &w);
                }
                let (alg, key) = self.alg_and_key(algs::ENC)?;
                p.enc = alg.id;
                p.key_enc = Some(key);
                if self.peek_flag()?.as_deref() == Some("-A") {
                    self.take()?;
                    self.auth(p)?;
                }
                Ok(())
            }
            Some("-A") => {
                self.take()?;
                self.auth(p)
            }
            Some("-C") => {
                self.take()?;
                let name = self.word()?;
                let alg = algs::by_name(algs::COMP, &name)
                    .ok_or_else(|| self.error_last("unsupported algorithm"))?;
                p.enc = alg.id;
                if self.peek_flag()?.as_deref() == Some("-R") {
                    self.take()?;
                    p.flags |= saflags::RAWCPI;
                }
                Ok(())
            }
            _ => Err(self.syntax()),
        }
    }

    fn auth(&mut self, p: &mut SaParams) -> Result<(), ParseError> {
        let (alg, key) = self.alg_and_key(algs::AUTH)?;
        p.auth = alg.id;
        p.key_auth = if alg.no_key { None } else { Some(key) };
        Ok(())
    }

    /// The obsolete KAME encryption names.
    fn old_enc(&mut self, p: &mut SaParams, name: &str) -> Result<(), ParseError> {
        if name == "simple" {
            self.warnings
                .push(self.error_last("WARNING: obsolete algorithm"));
            p.enc = 11;
            p.key_enc = Some(Vec::new());
            return Ok(());
        }
        let old = p.flags & saflags::OLD != 0;
        if (name == "des-deriv") == old {
            return Err(self.error_last("algorithm mismatched"));
        }
        p.flags |= if old { saflags::IV4B } else { saflags::DERIV };
        let key = self.key_string()?;
        if key.len() != 8 {
            return Err(self.error_last("Invalid key length"));
        }
        p.enc = 2;
        p.key_enc = Some(key);
        Ok(())
    }

    /// `add`, `get`, `delete`.
    pub(crate) fn sa_command(&mut self, kw: &str) -> Result<Located, ParseError> {
        let op = match kw {
            "add" => SaOp::Add,
            "get" => SaOp::Get,
            _ => SaOp::Delete,
        };
        let o = self.addr_opts()?;
        let src = self.ipandport(o)?;
        let dst = self.ipandport(o)?;
        let mut p = SaParams::default();
        let satype = self.protocol_spec_into(&mut p)?.unwrap_or(satype::UNSPEC);
        p.spi = self.spi()?;
        self.extensions(&mut p)?;
        if op == SaOp::Add {
            self.algorithms(&mut p)?;
        } else if p.mode != 0 {
            self.warnings
                .push(self.error_last("WARNING: mode is obsolete"));
        }
        if op == SaOp::Delete && (src.len() > 1 || dst.len() > 1) {
            return Err(self.error_last("multiple address specified"));
        }
        let line = self.end()?;
        let cmd = SaCmd {
            op,
            src,
            dst,
            satype,
            p,
        };
        Ok(Located {
            cmd: Command::Sa(cmd),
            line,
        })
    }

    /// `deleteall src dst protocol`.
    pub(crate) fn deleteall(&mut self) -> Result<Located, ParseError> {
        let o = self.addr_opts()?;
        let shost = self.word()?;
        let src = self.resolve(&shost, None, o)?;
        let dhost = self.word()?;
        let dst = self.resolve(&dhost, None, o)?;
        let satype = self.protocol_spec()?.unwrap_or(satype::UNSPEC);
        let line = self.end()?;
        Ok(Located {
            cmd: Command::DeleteAll { src, dst, satype },
            line,
        })
    }
}
