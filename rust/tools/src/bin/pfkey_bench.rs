// SPDX-License-Identifier: GPL-2.0

//! `pfkey-bench`: a raw PF_KEY v2 load and dump client, for timing the
//! kernel (kame_ipsec or af_key) without setkey's parsing and printing.
//!
//! ```text
//! pfkey-bench add-sa     [-n N] [--window W]  N SADB_ADDs (crate::bulk)
//! pfkey-bench add-spd    [-n N] [--window W]  N SADB_X_SPDADDs
//! pfkey-bench add-spd-unique [-n N]           the SPD flushed, then N SPDADDs
//!                                              of `unique` requests (reqids generated)
//! pfkey-bench dump-sa    [-n N] [--rcvbuf B]  SADB_DUMP, checked (crate::bulk_dump)
//! pfkey-bench dump-spd   [-n N] [--rcvbuf B]  SADB_X_SPDDUMP, checked
//! pfkey-bench round-trip [-n N] [--window W]  N SADB_GETs of absent SAs (ESRCH)
//! pfkey-bench getspi     [-n N] [--window W]  N SADB_GETSPIs, each to a new
//!                                              destination (a larval SA each)
//! pfkey-bench recv-floor [-n N] [--window W]  their replies read W at a time
//! pfkey-bench read-floor-sa  [-n N] [--window W]  SADB_GETs of the added SAs,
//!                                              replies read and checked W at a time
//! pfkey-bench read-floor-spd [-n N] [--window W]  likewise, SADB_X_SPDGETs
//! pfkey-bench flush                           SADB_FLUSH and SADB_X_SPDFLUSH
//! ```
//!
//! Adds send one message per entry. With `--window 1` (the default) each
//! waits for its reply before the next is sent, as setkey does; a larger
//! window keeps up to W requests unanswered. Messages are built before the
//! clock starts, so the time is the kernel's and the syscalls'. Dumps read
//! as fast as they can, with the receive buffer as given (the kernel's
//! default if none). Each timed step prints one line of `key=value` words:
//!
//! ```text
//! pfkey-bench: op=add-sa n=100000 window=1 secs=12.345678 per_sec=8100.6
//! pfkey-bench: op=dump-sa n=100000 rcvbuf=default secs=3.210000 per_sec=31152.6 bytes=29600000
//! ```
//!
//! Exits 1, with the reason on stderr, if the kernel refuses an entry, a
//! dump is incomplete, out of order or misnumbered, or nothing arrives for
//! a minute.

#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::{Duration, Instant};

use kame_core::pfkey::{MsgHeader, MsgType};
use kame_tools::bulk::{
    sa_add, sa_get, sa_getspi, spd_add, GETSPI_MAX_N, MAX_N, POLICY, POLICY_UNIQUE,
};
use kame_tools::bulk_dump::{check_entry, policy_id, DumpCheck, Kind};
use kame_tools::client::Client;
use kame_tools::ipsec::dir;
use kame_tools::pfkey_socket::PfkeySocket;
use kame_tools::request::{short, spdget};

/// How long a reply may take before the run is declared stuck.
const STALL: Duration = Duration::from_secs(60);

struct Args {
    op: String,
    n: u32,
    window: u32,
    rcvbuf: Option<usize>,
}

const USAGE: &str =
    "usage: pfkey-bench add-sa|add-spd|add-spd-unique|dump-sa|dump-spd|round-trip|getspi|recv-floor|read-floor-sa|read-floor-spd|flush \
                     [-n N] [--window W] [--rcvbuf BYTES]";

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let op = it.next().ok_or(USAGE)?;
    let mut a = Args {
        op,
        n: 100_000,
        window: 1,
        rcvbuf: None,
    };
    while let Some(flag) = it.next() {
        let val = it.next().ok_or(USAGE)?;
        let num = |v: &str| {
            v.parse::<u32>()
                .map_err(|_| format!("{flag}: not a number: {v}"))
        };
        match flag.as_str() {
            "-n" => a.n = num(&val)?,
            "--window" => a.window = num(&val)?,
            "--rcvbuf" => a.rcvbuf = Some(num(&val)? as usize),
            _ => return Err(USAGE.into()),
        }
    }
    if a.n == 0 || a.n > MAX_N || a.window == 0 {
        return Err(format!("-n must be 1..{MAX_N} and --window at least 1"));
    }
    Ok(a)
}

fn open(rcvbuf: Option<usize>) -> Result<Client<PfkeySocket>, String> {
    let s = PfkeySocket::open().map_err(|e| format!("socket(PF_KEY): {e}"))?;
    if let Some(b) = rcvbuf {
        s.set_rcvbuf(b).map_err(|e| format!("SO_RCVBUF: {e}"))?;
    }
    s.set_recv_timeout(STALL)
        .map_err(|e| format!("SO_RCVTIMEO: {e}"))?;
    Ok(Client::new(s, std::process::id()))
}

fn report(op: &str, n: u32, what: &str, start: Instant, extra: &str) {
    let secs = start.elapsed().as_secs_f64();
    println!(
        "pfkey-bench: op={op} n={n} {what} secs={secs:.6} per_sec={:.1}{extra}",
        f64::from(n) / secs
    );
}

/// Sends the `n` prebuilt messages, at most `window` unanswered, and waits
/// for each reply (the ADD/SPDADD broadcast comes back to the sender).
fn add(a: &Args, kind: Kind) -> Result<(), String> {
    let pid = std::process::id();
    let policy = kame_tools::policy::parse(POLICY)?;
    let built: Result<Vec<Vec<u8>>, _> = match kind {
        Kind::Sa => (0..a.n).map(|i| sa_add(i, pid)).collect(),
        Kind::Spd => (0..a.n).map(|i| spd_add(i, &policy, pid)).collect(),
    };
    let (op, want) = match kind {
        Kind::Sa => ("add-sa", MsgType::Add),
        Kind::Spd => ("add-spd", MsgType::XSpdAdd),
    };
    exchange_all(a, op, &built.map_err(|e| e.to_string())?, want, 0)
}

/// The SPD flushed (untimed), then `n` SPDADDs whose request is `unique`
/// with no reqid, so the kernel generates one for each: af_key's
/// generator walks every policy for each candidate.
fn add_unique(a: &Args) -> Result<(), String> {
    let pid = std::process::id();
    open(None)?
        .exchange(&short(MsgType::XSpdFlush, 0, pid), &mut |_| {}, &mut |_| {})
        .map_err(|e| e.to_string())?;
    let policy = kame_tools::policy::parse(POLICY_UNIQUE)?;
    let built: Result<Vec<Vec<u8>>, _> = (0..a.n).map(|i| spd_add(i, &policy, pid)).collect();
    let built = built.map_err(|e| e.to_string())?;
    exchange_all(a, "add-spd-unique", &built, MsgType::XSpdAdd, 0)
}

/// `n` SADB_GETSPIs in the default range, each to a destination of its
/// own: what the kernel does per candidate SPI (is it taken by any SA of
/// the protocol?) is timed with whatever the SAD holds (`add-sa`'s SAs
/// in `make bench`).
fn getspi(a: &Args) -> Result<(), String> {
    if a.n > GETSPI_MAX_N {
        return Err(format!(
            "getspi: -n must be at most {GETSPI_MAX_N} (distinct destinations)"
        ));
    }
    let pid = std::process::id();
    let built: Result<Vec<Vec<u8>>, _> = (0..a.n).map(|i| sa_getspi(i, pid)).collect();
    let built = built.map_err(|e| e.to_string())?;
    exchange_all(a, "getspi", &built, MsgType::GetSpi, 0)
}

/// SADB_GETs of the `n` SAs `add-sa` adds (not there yet for the steps
/// that run first, `round-trip` and `recv-floor`).
fn sa_gets(a: &Args) -> Result<Vec<Vec<u8>>, String> {
    let pid = std::process::id();
    let built: Result<Vec<Vec<u8>>, _> = (0..a.n).map(|i| sa_get(i, pid)).collect();
    built.map_err(|e| e.to_string())
}

/// The floor of any request-and-reply step: `n` SADB_GETs of SAs that do
/// not exist, each answered ESRCH. It is the system calls, the message's
/// parse and the reply's skb, with as little else as PF_KEY allows, so
/// `round-trip / af_key's add` bounds the ratio an add can reach.
fn round_trip(a: &Args) -> Result<(), String> {
    let msgs = sa_gets(a)?;
    exchange_all(a, "round-trip", &msgs, MsgType::Get, libc::ESRCH)
}

/// The floor of a dump's reader: how fast queued replies can be read, one
/// `recvmsg` each, with the kernel's building of them left out. `n`
/// SADB_GETs of absent SAs are sent in batches of `window`; only the reads
/// of each batch's ESRCH replies, already queued, are timed. A dump
/// message is longer than these 16 bytes, so a dump cannot read faster:
/// this rate over af_key's dump rate bounds the ratio a dump can reach.
fn recv_floor(a: &Args) -> Result<(), String> {
    let pid = std::process::id();
    let msgs: Vec<(u32, Vec<u8>)> = (0..).zip(sa_gets(a)?).collect();
    timed_reads(a, "recv-floor", &msgs, |_, m| match MsgHeader::decode(m) {
        Some(h) if h.pid == pid && i32::from(h.errno) == libc::ESRCH => Ok(()),
        _ => Err("recv-floor: a reply other than ESRCH".into()),
    })
}

/// Sends `msgs` (each with its entry's index) `window` at a time and,
/// once a batch is sent, times only the reads of its replies, each
/// passed to `check` with its entry's index; prints step `op`'s line.
fn timed_reads(
    a: &Args,
    op: &str,
    msgs: &[(u32, Vec<u8>)],
    check: impl Fn(u32, &[u8]) -> Result<(), String>,
) -> Result<(), String> {
    let mut c = open(None)?;
    let mut reading = Duration::ZERO;
    for batch in msgs.chunks(a.window as usize) {
        for (_, m) in batch {
            c.send(m).map_err(|e| e.to_string())?;
        }
        let start = Instant::now();
        for (i, _) in batch {
            let m = c.recv_any().map_err(|e| e.to_string())?;
            check(*i, m)?;
        }
        reading += start.elapsed();
    }
    let secs = reading.as_secs_f64();
    println!(
        "pfkey-bench: op={op} n={} window={} secs={secs:.6} per_sec={:.1}",
        a.n,
        a.window,
        f64::from(a.n) / secs
    );
    Ok(())
}

/// The floor of a dump's reader for messages of the dump's own size:
/// entry `i` of the `n` that `add-sa` or `add-spd` added, asked for by
/// SADB_GET or SADB_X_SPDGET (by the ids an untimed dump lists) in
/// batches of `window`. Only the reads of each batch's replies, already
/// queued, and the check a dump's reader makes of each message
/// ([`check_entry`]) are timed. Each reply has an skb of its own, as
/// each of af_key's dump messages: this is the floor of af_key's dump
/// reader. Ours reads dozens of messages from one skb, a little cheaper.
fn read_floor(a: &Args, kind: Kind) -> Result<(), String> {
    let pid = std::process::id();
    let (op, want, msgs) = match kind {
        Kind::Sa => (
            "read-floor-sa",
            MsgType::Get,
            (0..).zip(sa_gets(a)?).collect(),
        ),
        Kind::Spd => ("read-floor-spd", MsgType::XSpdGet, policy_gets(a, pid)?),
    };
    timed_reads(a, op, &msgs, |i, m| {
        match MsgHeader::decode(m) {
            Some(h) if h.pid == pid && h.msg_type == want as u8 && h.errno == 0 => {}
            _ => return Err(format!("{op}: entry {i}: not its reply")),
        }
        check_entry(kind, i, m).map_err(|e| format!("{op}: entry {i}: {e}"))
    })
}

/// SADB_X_SPDGETs of the `n` policies `add-spd` added, each with its
/// index, by the ids an untimed dump lists (newest first).
fn policy_gets(a: &Args, pid: u32) -> Result<Vec<(u32, Vec<u8>)>, String> {
    let mut c = open(None)?;
    let mut check = DumpCheck::new(Kind::Spd, a.n, pid);
    c.send(&short(MsgType::XSpdDump, 0, pid))
        .map_err(|e| e.to_string())?;
    let mut gets = Vec::new();
    loop {
        let m = c.recv_any().map_err(|e| e.to_string())?;
        let before = check.got();
        let last = check.feed(m)?;
        if check.got() > before {
            let id = policy_id(m).ok_or("a dump message without a policy")?;
            let get = spdget(dir::OUT, id, pid).map_err(|e| e.to_string())?;
            gets.push((a.n - check.got(), get));
        }
        if last {
            return Ok(gets);
        }
    }
}

/// Sends `msgs`, at most `window` unanswered, and checks that each is
/// answered in order by a `want` reply with errno `errno`.
fn exchange_all(
    a: &Args,
    op: &str,
    msgs: &[Vec<u8>],
    want: MsgType,
    errno: i32,
) -> Result<(), String> {
    let pid = std::process::id();
    let mut c = open(None)?;
    let (mut sent, mut done) = (0u32, 0u32);
    let start = Instant::now();
    while done < a.n {
        while sent < a.n && sent - done < a.window {
            c.send(&msgs[sent as usize]).map_err(|e| e.to_string())?;
            sent += 1;
        }
        let m = c
            .recv_any()
            .map_err(|e| format!("{e} after {done} of {} replies", a.n))?;
        let Some(h) = MsgHeader::decode(m) else {
            continue;
        };
        if h.pid != pid || h.msg_type != want as u8 {
            continue;
        }
        if i32::from(h.errno) != errno {
            return Err(format!(
                "entry seq {}: errno {}, want {errno}",
                h.seq, h.errno
            ));
        }
        if h.seq != done + 1 {
            return Err(format!("reply seq {}, want {}", h.seq, done + 1));
        }
        done += 1;
    }
    report(op, a.n, &format!("window={}", a.window), start, "");
    Ok(())
}

/// Dumps and checks every message as it arrives.
fn dump(a: &Args, kind: Kind) -> Result<(), String> {
    let pid = std::process::id();
    let mut c = open(a.rcvbuf)?;
    let mut check = DumpCheck::new(kind, a.n, pid);
    let start = Instant::now();
    c.send(&short(kind.msg_type(), 0, pid))
        .map_err(|e| e.to_string())?;
    loop {
        let m = c
            .recv_any()
            .map_err(|e| format!("{e} after {} of {} entries", check.got(), a.n))?;
        if check.feed(m)? {
            break;
        }
    }
    let op = if kind == Kind::Sa {
        "dump-sa"
    } else {
        "dump-spd"
    };
    let rcvbuf = a.rcvbuf.map_or("default".into(), |b| b.to_string());
    let bytes = format!(" bytes={}", check.bytes());
    report(op, a.n, &format!("rcvbuf={rcvbuf}"), start, &bytes);
    Ok(())
}

fn flush() -> Result<(), String> {
    let pid = std::process::id();
    let mut c = open(None)?;
    for t in [MsgType::Flush, MsgType::XSpdFlush] {
        c.exchange(&short(t, 0, pid), &mut |_| {}, &mut |_| {})
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let r = parse_args().and_then(|a| match a.op.as_str() {
        "add-sa" => add(&a, Kind::Sa),
        "add-spd" => add(&a, Kind::Spd),
        "add-spd-unique" => add_unique(&a),
        "dump-sa" => dump(&a, Kind::Sa),
        "dump-spd" => dump(&a, Kind::Spd),
        "round-trip" => round_trip(&a),
        "getspi" => getspi(&a),
        "recv-floor" => recv_floor(&a),
        "read-floor-sa" => read_floor(&a, Kind::Sa),
        "read-floor-spd" => read_floor(&a, Kind::Spd),
        "flush" => flush(),
        _ => Err(USAGE.into()),
    });
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pfkey-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
