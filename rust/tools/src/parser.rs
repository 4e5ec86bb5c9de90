// SPDX-License-Identifier: GPL-2.0

//! The setkey configuration language (ipsec-tools' `parse.y`) into
//! [`Command`]s, one at a time so that each runs before the next is read.

#![forbid(unsafe_code)]

use kame_core::pfkey::wire::{SockAddr, AF_INET, AF_INET6};

use crate::addr::{self, AddrOpts};
use crate::ast::{Command, Located, SpdOp};
use crate::lexer::{Lexer, ParseError, Tok, Token};
use crate::protocols::Protocols;

/// `IPSEC_ULPROTO_ANY`
pub const ULPROTO_ANY: u8 = 255;

/// A parser over one input.
pub struct Parser<'a> {
    lex: Lexer<'a>,
    peeked: Option<Token>,
    /// The last token taken, for error messages.
    last: Option<Token>,
    pub(crate) protocols: &'a Protocols,
    /// Warnings (`WARNING: ...`) setkey prints without stopping.
    pub warnings: Vec<ParseError>,
}

impl<'a> Parser<'a> {
    /// A parser over `src`, naming protocols from `protocols`.
    pub fn new(src: &'a str, protocols: &'a Protocols) -> Parser<'a> {
        Parser {
            lex: Lexer::new(src),
            peeked: None,
            last: None,
            protocols,
            warnings: Vec::new(),
        }
    }

    /// A parser over `src` whose first line is `line` (for `-c`).
    pub fn starting_at(src: &'a str, protocols: &'a Protocols, line: u32) -> Parser<'a> {
        Parser {
            lex: Lexer::starting_at(src, line),
            ..Parser::new(src, protocols)
        }
    }

    /// The next command, `None` at the end of the input.
    pub fn next_command(&mut self) -> Option<Result<Located, ParseError>> {
        match self.peek() {
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
            Ok(Some(_)) => {}
        }
        Some(self.command())
    }

    /// Skips past the next `;` (after an error, in `-c` mode).
    pub fn recover(&mut self) {
        loop {
            match self.take() {
                Ok(Some(Token { tok: Tok::Semi, .. })) | Ok(None) => return,
                _ => {}
            }
        }
    }

    fn peek(&mut self) -> Result<Option<&Token>, ParseError> {
        if self.peeked.is_none() {
            self.peeked = self.lex.next().transpose()?;
        }
        Ok(self.peeked.as_ref())
    }

    pub(crate) fn take(&mut self) -> Result<Option<Token>, ParseError> {
        self.peek()?;
        let t = self.peeked.take();
        if t.is_some() {
            self.last.clone_from(&t);
        }
        Ok(t)
    }

    /// An error at the next token (or the last one at the end of input).
    pub(crate) fn error(&mut self, msg: &str) -> ParseError {
        let at = match self.peek() {
            Ok(Some(t)) => Some(t.clone()),
            _ => self.last.clone(),
        };
        ParseError {
            line: at.as_ref().map_or(self.lex.line(), |t| t.line),
            msg: msg.to_string(),
            near: at.map(|t| t.tok.to_string()).unwrap_or_default(),
        }
    }

    /// An error at the token just taken.
    pub(crate) fn error_last(&self, msg: &str) -> ParseError {
        ParseError {
            line: self.last.as_ref().map_or(self.lex.line(), |t| t.line),
            msg: msg.to_string(),
            near: self
                .last
                .as_ref()
                .map(|t| t.tok.to_string())
                .unwrap_or_default(),
        }
    }

    pub(crate) fn syntax(&mut self) -> ParseError {
        self.error("syntax error")
    }

    /// The next token if it is a word, taken.
    pub(crate) fn word(&mut self) -> Result<String, ParseError> {
        match self.peek()? {
            Some(Token {
                tok: Tok::Word(w), ..
            }) => {
                let w = w.clone();
                self.take()?;
                Ok(w)
            }
            _ => Err(self.syntax()),
        }
    }

    /// The next word if it is one of `words`, taken.
    pub(crate) fn word_in(&mut self, words: &[&str]) -> Result<Option<String>, ParseError> {
        match self.peek()? {
            Some(Token {
                tok: Tok::Word(w), ..
            }) if words.contains(&w.as_str()) => {
                let w = w.clone();
                self.take()?;
                Ok(Some(w))
            }
            _ => Ok(None),
        }
    }

    /// Takes the next token if it equals `tok`.
    pub(crate) fn eat(&mut self, tok: &Tok) -> Result<bool, ParseError> {
        if self.peek()?.is_some_and(|t| t.tok == *tok) {
            self.take()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// The next token if it is a word, not taken.
    pub(crate) fn peek_word(&mut self) -> Result<Option<String>, ParseError> {
        Ok(match self.peek()? {
            Some(Token {
                tok: Tok::Word(w), ..
            }) => Some(w.clone()),
            _ => None,
        })
    }

    /// The next token if it is a flag, not taken.
    pub(crate) fn peek_flag(&mut self) -> Result<Option<String>, ParseError> {
        Ok(match self.peek()? {
            Some(Token {
                tok: Tok::Flag(f), ..
            }) => Some(f.clone()),
            _ => None,
        })
    }

    /// A decimal number (setkey's DECSTRING).
    pub(crate) fn decimal(&mut self) -> Result<u64, ParseError> {
        let w = self.word()?;
        if !w.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.error_last("syntax error"));
        }
        w.parse().map_err(|_| self.error_last("number too big"))
    }

    /// The terminating `;`; returns its line.
    pub(crate) fn end(&mut self) -> Result<u32, ParseError> {
        match self.peek()? {
            Some(Token {
                tok: Tok::Semi,
                line,
            }) => {
                let line = *line;
                self.take()?;
                Ok(line)
            }
            _ => Err(self.syntax()),
        }
    }

    /// `-4`, `-6`, `-n` and combinations, before the addresses.
    pub(crate) fn addr_opts(&mut self) -> Result<AddrOpts, ParseError> {
        let mut o = AddrOpts::default();
        while let Some(f) = self.peek_flag()? {
            let letters = &f[1..];
            if !letters.bytes().all(|b| matches!(b, b'4' | b'6' | b'n')) {
                break;
            }
            self.take()?;
            for b in letters.bytes() {
                match b {
                    b'4' => o.family = Some(AF_INET),
                    b'6' => o.family = Some(AF_INET6),
                    _ => o.numeric = true,
                }
            }
        }
        Ok(o)
    }

    /// `[port]`, if present; setkey's `portstr`.
    pub(crate) fn port(&mut self) -> Result<Option<String>, ParseError> {
        if !self.eat(&Tok::LBracket)? {
            return Ok(None);
        }
        let p = self.word()?;
        if !self.eat(&Tok::RBracket)? {
            return Err(self.syntax());
        }
        Ok(Some(p))
    }

    /// Resolves `host` and `port` or fails at the token just taken.
    pub(crate) fn resolve(
        &self,
        host: &str,
        port: Option<&str>,
        o: AddrOpts,
    ) -> Result<Vec<SockAddr>, ParseError> {
        let port = match port {
            Some(p) => addr::parse_port(p).ok_or_else(|| self.error_last("invalid port"))?,
            None => 0,
        };
        addr::resolve(host, port, o).map_err(|e| self.error_last(&e))
    }

    /// `ipandport`: an address and an optional `[port]`.
    pub(crate) fn ipandport(&mut self, o: AddrOpts) -> Result<Vec<SockAddr>, ParseError> {
        let host = self.word()?;
        let port = self.port()?;
        self.resolve(&host, port.as_deref(), o)
    }

    fn command(&mut self) -> Result<Located, ParseError> {
        let kw = self.word()?;
        let cmd = match kw.as_str() {
            "add" | "get" | "delete" => return self.sa_command(&kw),
            "deleteall" => return self.deleteall(),
            "flush" | "dump" => {
                let satype = self.protocol_spec()?.unwrap_or(0);
                if kw == "flush" {
                    Command::Flush(satype)
                } else {
                    Command::Dump(satype)
                }
            }
            "spdadd" => return self.spd(SpdOp::Add),
            "spdupdate" => return self.spd(SpdOp::Update),
            "spddelete" => return self.spd(SpdOp::Delete),
            "spdflush" => Command::SpdFlush,
            "spddump" => Command::SpdDump,
            "exit" | "quit" | "bye" => Command::Exit,
            _ => return Err(self.error_last("syntax error")),
        };
        let line = self.end()?;
        Ok(Located { cmd, line })
    }
}
