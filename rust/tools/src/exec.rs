// SPDX-License-Identifier: GPL-2.0

//! Running parsed commands: build their messages, exchange them with the
//! kernel, and print the replies as setkey's `postproc()` does.

#![forbid(unsafe_code)]

use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use kame_core::pfkey::ext::Exts;
use kame_core::pfkey::wire::{ext_type, Address, Sa};
use kame_core::pfkey::{MsgHeader, MsgType, WORD};

use crate::ast::{Command, Located};
use crate::client::{strerror, Client, ClientError, Transport};
use crate::kdebug::kdebug;
use crate::print::{sadump, shortdump, PrintCtx};
use crate::request::{self, BuildError};
use crate::spdump::spdump;

/// Where commands come from, which decides how errors are prefixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `-f file`: kernel errors say `The result of line N: `.
    Script,
    /// `-c`, `-D`, `-F` and the rest: no prefix.
    Other,
}

/// The command-line flags that change how commands run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flags {
    /// `-v`: print every message sent and received.
    pub verbose: bool,
    /// `-a`: show dead SAs in dumps.
    pub all: bool,
    /// `-l`: one line per SA in dumps.
    pub short: bool,
    /// `-r` (default) / `-k`: send a forward copy of inbound policies.
    pub rfc_fwd: bool,
}

/// `SADB_SASTATE_DEAD`
const SASTATE_DEAD: u8 = 3;
/// `ENOENT`
const ENOENT: u8 = 2;

/// Runs commands against a kernel (or, with `-n`, against nothing).
pub struct Runner<'a, T: Transport> {
    /// `None` with `-n`.
    pub client: Option<Client<T>>,
    /// The pid requests carry.
    pub pid: u32,
    /// Flags.
    pub flags: Flags,
    /// Error prefixing.
    pub mode: Mode,
    /// Printing context.
    pub ctx: PrintCtx,
    /// A fixed `now` for tests; the clock otherwise.
    pub fixed_now: Option<u64>,
    /// Where replies are printed.
    pub out: &'a mut dyn Write,
    /// Set when a send or receive failed.
    pub io_failed: bool,
}

impl<T: Transport> Runner<'_, T> {
    fn now(&self) -> u64 {
        self.fixed_now.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        })
    }

    /// Runs one command; `Ok(false)` for `exit`.
    pub fn run(&mut self, loc: &Located) -> io::Result<bool> {
        let pid = self.pid;
        let msgs: Result<Vec<Vec<u8>>, BuildError> = match &loc.cmd {
            Command::Exit => return Ok(false),
            Command::Sa(c) => request::sa_messages(c, pid),
            Command::Spd(c) => request::spd_messages(c, pid, self.flags.rfc_fwd),
            Command::Flush(st) => Ok(vec![request::short(MsgType::Flush, *st, pid)]),
            Command::Dump(st) => Ok(vec![request::short(MsgType::Dump, *st, pid)]),
            Command::SpdFlush => Ok(vec![request::short(MsgType::XSpdFlush, 0, pid)]),
            Command::SpdDump => Ok(vec![request::short(MsgType::XSpdDump, 0, pid)]),
            Command::DeleteAll { src, dst, satype } => {
                self.deleteall(src, dst, *satype, loc.line)?;
                return Ok(true);
            }
        };
        match msgs {
            Ok(msgs) => {
                for m in msgs {
                    self.sendkeymsg(&m, loc.line)?;
                }
            }
            Err(e) => writeln!(self.out, "line {}: {e}", loc.line)?,
        }
        Ok(true)
    }

    /// setkey's `sendkeymsg()`: send, then print each reply.
    pub fn sendkeymsg(&mut self, msg: &[u8], line: u32) -> io::Result<()> {
        let mut replies = Vec::new();
        self.exchange(msg, &mut replies)?;
        for r in replies {
            self.postproc(&r, line)?;
        }
        Ok(())
    }

    /// Sends `msg` and collects the replies (none with `-n`).
    fn exchange(&mut self, msg: &[u8], replies: &mut Vec<Vec<u8>>) -> io::Result<()> {
        if self.flags.verbose {
            writeln!(self.out, "{}", kdebug(msg))?;
        }
        let Some(client) = self.client.as_mut() else {
            return Ok(());
        };
        let verbose = self.flags.verbose;
        let mut seen = Vec::new();
        let res = client.exchange(
            msg,
            &mut |m| {
                if verbose {
                    seen.push(kdebug(m));
                }
            },
            &mut |m| replies.push(m.to_vec()),
        );
        for s in seen {
            writeln!(self.out, "{s}")?;
        }
        if let Err(e) = res {
            self.io_error(&e);
        }
        Ok(())
    }

    fn io_error(&mut self, e: &ClientError) {
        self.io_failed = true;
        let _ = self.out.flush();
        eprintln!("{e}");
    }

    /// setkey's `postproc()`: an error line, or the reply printed.
    pub fn postproc(&mut self, msg: &[u8], line: u32) -> io::Result<()> {
        let Some(h) = MsgHeader::decode(msg) else {
            return Ok(());
        };
        if h.errno != 0 {
            let prefix = match self.mode {
                Mode::Script => format!("The result of line {line}: "),
                Mode::Other => String::new(),
            };
            return writeln!(self.out, "{prefix}{}.", errmsg(h.msg_type, h.errno));
        }
        self.ctx.now = self.now();
        let text = match MsgType::from_wire(h.msg_type) {
            Some(MsgType::Get) => sadump(msg, &self.ctx),
            Some(MsgType::Dump) => {
                if !self.flags.all && sa_state(msg) == Some(SASTATE_DEAD) {
                    return Ok(());
                }
                if self.flags.short {
                    shortdump(msg, self.ctx.now)
                } else {
                    sadump(msg, &self.ctx)
                }
            }
            Some(MsgType::XSpdGet | MsgType::XSpdDump) => spdump(msg, &self.ctx),
            _ => return Ok(()),
        };
        self.out.write_all(text.as_bytes())
    }

    /// `deleteall` on Linux: dump the SAs of `satype`, then delete each one
    /// whose addresses match, by SPI.
    fn deleteall(
        &mut self,
        src: &[kame_core::pfkey::wire::SockAddr],
        dst: &[kame_core::pfkey::wire::SockAddr],
        satype: u8,
        line: u32,
    ) -> io::Result<()> {
        let dump = request::short(MsgType::Dump, satype, self.pid);
        let mut replies = Vec::new();
        self.exchange(&dump, &mut replies)?;
        let mut spis = Vec::new();
        for r in &replies {
            let (Some(h), Ok(x)) = (MsgHeader::decode(r), Exts::parse(r)) else {
                continue;
            };
            if h.errno != 0 {
                if h.errno != ENOENT {
                    eprintln!("error encountered");
                }
                break;
            }
            let addr = |t| x.get(t).and_then(Address::decode).map(|a| a.sa);
            let (Some(s), Some(d)) = (addr(ext_type::ADDRESS_SRC), addr(ext_type::ADDRESS_DST))
            else {
                continue;
            };
            if h.satype != satype || !src.contains(&s) || !dst.contains(&d) {
                continue;
            }
            if let Some(sa) = x.get(ext_type::SA).map(Sa::decode) {
                spis.push(sa.spi);
            }
        }
        for spi in spis {
            for s in src {
                for d in dst.iter().filter(|d| d.addr.family() == s.addr.family()) {
                    match request::delete_spi(*s, *d, satype, spi, self.pid) {
                        Ok(m) => self.sendkeymsg(&m, line)?,
                        Err(e) => writeln!(self.out, "line {line}: {e}")?,
                    }
                }
            }
        }
        Ok(())
    }

    /// Prints the PF_KEY messages stored in a file (`setkey file ...`).
    pub fn fileproc(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut rest = bytes;
        while let Some(h) = MsgHeader::decode(rest) {
            let len = usize::from(h.len) * WORD;
            let Some(msg) = rest.get(..len).filter(|_| len > 0) else {
                break;
            };
            self.postproc(msg, 0)?;
            rest = &rest[len..];
        }
        Ok(())
    }
}

fn sa_state(msg: &[u8]) -> Option<u8> {
    let x = Exts::parse(msg).ok()?;
    x.get(ext_type::SA).map(|e| Sa::decode(e).state)
}

/// The text setkey prints for a failed request.
pub fn errmsg(msg_type: u8, errno: u8) -> String {
    if errno == ENOENT {
        match MsgType::from_wire(msg_type) {
            Some(MsgType::Delete | MsgType::Get | MsgType::XSpdDelete) => {
                return "No entry".to_string()
            }
            Some(MsgType::Dump) => return "No SAD entries".to_string(),
            Some(MsgType::XSpdDump) => return "No SPD entries".to_string(),
            _ => {}
        }
    }
    strerror(&io::Error::from_raw_os_error(i32::from(errno)))
}

/// For tests: the messages a command would send.
#[cfg(test)]
pub fn messages_of(cmd: &Command, pid: u32) -> Vec<Vec<u8>> {
    match cmd {
        Command::Sa(c) => request::sa_messages(c, pid).unwrap(),
        Command::Spd(c) => request::spd_messages(c, pid, true).unwrap(),
        _ => Vec::new(),
    }
}
