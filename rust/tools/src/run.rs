// SPDX-License-Identifier: GPL-2.0

//! The modes of setkey: a script (`-f`), commands from standard input
//! (`-c`), dump (`-D`), flush (`-F`), promiscuous (`-x`), message files.

#![forbid(unsafe_code)]

use std::io::{self, BufRead, Read};
use std::time::Duration;

use kame_core::pfkey::{MsgHeader, MsgType, SADB_MSG_LEN};

use crate::cli::{Action, Cli};
use crate::client::{strerror, Client, Transport};
use crate::exec::{Flags, Mode, Runner};
use crate::kdebug::kdebug;
use crate::lexer::ParseError;
use crate::parser::Parser;
use crate::pfkey_socket::PfkeySocket;
use crate::print::{shortdump_hdr, PrintCtx};
use crate::protocols::Protocols;
use crate::request;
use crate::tz::Zone;

/// `SO_RCVBUF` when none is asked for: room for long dumps.
const DEFAULT_RCVBUF: usize = 4 << 20;
/// How long a reply may take before setkey gives up on it.
const RECV_TIMEOUT: Duration = Duration::from_secs(5);

fn open_socket(cli: &Cli, timeout: bool) -> Result<PfkeySocket, i32> {
    let sock = PfkeySocket::open().map_err(|e| {
        eprintln!("pfkey_open: {}", strerror(&e));
        1
    })?;
    if let Err(e) = sock.set_rcvbuf(cli.rcvbuf.unwrap_or(DEFAULT_RCVBUF)) {
        eprintln!("setsockopt: {}", strerror(&e));
    }
    if timeout {
        if let Err(e) = sock.set_recv_timeout(RECV_TIMEOUT) {
            eprintln!("setsockopt: {}", strerror(&e));
        }
    }
    Ok(sock)
}

/// Runs the invocation; returns the exit status.
pub fn main(cli: Cli) -> i32 {
    let protocols = Protocols::system();
    let ctx = PrintCtx {
        zone: Zone::local(),
        protocols: protocols.clone(),
        withports: cli.withports,
        now: 0,
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let needs_socket = cli.files.is_empty()
        && !(cli.notreally && matches!(cli.action, Some(Action::Script | Action::Stdin)));
    let client = if needs_socket && cli.action.is_some() {
        match open_socket(&cli, cli.action != Some(Action::Promisc)) {
            Ok(s) => Some(Client::new(s, std::process::id())),
            Err(code) => return code,
        }
    } else {
        None
    };
    let mut r = Runner {
        client,
        pid: std::process::id(),
        flags: Flags {
            verbose: cli.verbose,
            all: cli.all,
            short: cli.forever,
            rfc_fwd: !cli.no_fwd,
        },
        mode: Mode::Other,
        ctx,
        fixed_now: None,
        out: &mut out,
        io_failed: false,
    };
    let code = match (cli.files.is_empty(), cli.action) {
        (false, _) => files(&mut r, &cli.files),
        (true, Some(Action::Script)) => {
            script(&mut r, cli.file.as_deref().unwrap_or("-"), &protocols)
        }
        (true, Some(Action::Stdin)) => stdin_loop(&mut r, &protocols),
        (true, Some(Action::Dump)) => dump(&mut r, &cli),
        (true, Some(Action::Flush)) => {
            let t = if cli.policy {
                MsgType::XSpdFlush
            } else {
                MsgType::Flush
            };
            let m = request::short(t, cli.satype, r.pid);
            r.sendkeymsg(&m, 0).map_or(1, |_| 0)
        }
        (true, Some(Action::Promisc)) => promisc(&mut r, &cli),
        (true, None) => {
            crate::cli::print_usage();
            1
        }
    };
    let _ = r.out.flush();
    if code == 0 && r.io_failed {
        1
    } else {
        code
    }
}

fn files<T: Transport>(r: &mut Runner<'_, T>, files: &[String]) -> i32 {
    for f in files {
        match std::fs::read(f) {
            Ok(b) if b.len() >= SADB_MSG_LEN => {
                if r.fileproc(&b).is_err() {
                    return 1;
                }
            }
            Ok(_) => {
                eprintln!("setkey: {f}: Invalid argument");
                return 1;
            }
            Err(e) => {
                eprintln!("setkey: {f}: {}", strerror(&e));
                return 1;
            }
        }
    }
    0
}

fn print_parse_error<T: Transport>(r: &mut Runner<'_, T>, e: &ParseError) {
    let _ = writeln!(r.out, "{e}");
}

/// Parses and runs commands from `text`; in a script the first error stops
/// everything (exit 1), from `-c` it only skips its command.
pub fn run_text<T: Transport>(
    r: &mut Runner<'_, T>,
    p: &mut Parser<'_>,
    script: bool,
) -> Result<bool, i32> {
    while let Some(cmd) = p.next_command() {
        for w in p.warnings.drain(..) {
            let _ = writeln!(r.out, "{w}");
        }
        match cmd {
            Ok(loc) => match r.run(&loc) {
                Ok(true) => {}
                Ok(false) => return Ok(false),
                Err(_) => return Err(1),
            },
            Err(e) if script => {
                print_parse_error(r, &e);
                if e.msg != "Syntax error" {
                    let _ = writeln!(r.out, "parse failed, line {}.", e.line);
                }
                return Err(1);
            }
            Err(e) => {
                print_parse_error(r, &e);
                p.recover();
            }
        }
    }
    Ok(true)
}

fn script<T: Transport>(r: &mut Runner<'_, T>, file: &str, protocols: &Protocols) -> i32 {
    let text = if file == "-" {
        let mut s = String::new();
        io::stdin().read_to_string(&mut s).map(|_| s)
    } else {
        std::fs::read_to_string(file)
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            eprintln!("setkey: fopen: {}", strerror(&e));
            return 1;
        }
    };
    r.mode = Mode::Script;
    let mut p = Parser::new(&text, protocols);
    run_text(r, &mut p, true).map_or_else(|code| code, |_| 0)
}

/// `-c`: commands run as soon as their `;` is read.
fn stdin_loop<T: Transport>(r: &mut Runner<'_, T>, protocols: &Protocols) -> i32 {
    let mut pending = String::new();
    let mut first_line = 1u32;
    let mut line_no = 0u32;
    for line in io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        line_no += 1;
        if pending.is_empty() {
            first_line = line_no;
        }
        pending.push_str(&line);
        pending.push('\n');
        let Some(end) = pending.rfind(';') else {
            continue;
        };
        let rest = pending.split_off(end + 1);
        let mut p = Parser::starting_at(&pending, protocols, first_line);
        if let Ok(false) = run_text(r, &mut p, false) {
            return 0;
        }
        first_line = line_no;
        pending = rest;
        if pending.trim().is_empty() {
            pending.clear();
        }
    }
    0
}

fn dump<T: Transport>(r: &mut Runner<'_, T>, cli: &Cli) -> i32 {
    let t = if cli.policy {
        MsgType::XSpdDump
    } else {
        MsgType::Dump
    };
    let m = request::short(t, cli.satype, r.pid);
    let forever = cli.forever && !cli.policy;
    if forever {
        let _ = write!(r.out, "{}", shortdump_hdr());
    }
    loop {
        if r.sendkeymsg(&m, 0).is_err() {
            return 1;
        }
        if !forever {
            return 0;
        }
        let _ = r.out.flush();
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// `printdate()`: the time of day (`-x`) or epoch seconds (`-xx`).
fn printdate<T: Transport>(r: &mut Runner<'_, T>, tflag: u32) -> io::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let (secs, usec) = (now.as_secs(), now.subsec_micros());
    if tflag == 1 {
        let t = i64::try_from(secs).unwrap_or(0);
        let s = (t + i64::from(r.ctx.zone.offset(t))).rem_euclid(86_400);
        write!(
            r.out,
            "{:02}:{:02}:{:02}.{usec:06} ",
            s / 3600,
            s % 3600 / 60,
            s % 60
        )?;
    } else {
        write!(r.out, "{secs}.{usec:06} ")?;
    }
    writeln!(r.out)
}

/// `-x`: turn on promiscuous mode and print every message seen.
fn promisc<T: Transport>(r: &mut Runner<'_, T>, cli: &Cli) -> i32 {
    let Some(client) = r.client.as_mut() else {
        return 1;
    };
    if let Err(e) = client.send(&request::promisc(r.pid)) {
        eprintln!("setkey: {e}");
        return 1;
    }
    loop {
        let msg = match r.client.as_mut().map(|c| c.recv_any().map(<[u8]>::to_vec)) {
            Some(Ok(m)) => m,
            Some(Err(crate::client::ClientError::BadLength)) => continue,
            Some(Err(e)) => {
                eprintln!("setkey: {e}");
                return 1;
            }
            None => return 1,
        };
        let res = (|| -> io::Result<()> {
            printdate(r, cli.tflag)?;
            if cli.hexdump {
                for (i, chunk) in msg.chunks(16).enumerate() {
                    let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x} ")).collect();
                    writeln!(r.out, "{:08x}: {}", i * 16, hex.concat())?;
                }
            }
            let promisc =
                MsgHeader::decode(&msg).is_some_and(|h| h.msg_type == MsgType::XPromisc as u8);
            let inner = if promisc {
                msg.get(SADB_MSG_LEN..).filter(|m| !m.is_empty())
            } else {
                Some(&msg[..])
            };
            if let Some(m) = inner {
                writeln!(r.out, "{}", kdebug(m))?;
            }
            r.out.flush()
        })();
        if res.is_err() {
            return 1;
        }
    }
}
