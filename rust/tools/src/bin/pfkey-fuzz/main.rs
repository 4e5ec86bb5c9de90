// SPDX-License-Identifier: GPL-2.0

//! `pfkey-fuzz`: writes random and mutated PF_KEY messages to the kernel
//! and checks what comes back (selftests/pfkey_fuzz.py runs it in the VM).
//!
//! ```text
//! pfkey-fuzz run SEED COUNT     COUNT messages, deterministic from SEED
//! pfkey-fuzz seeds DIR COUNT    COUNT valid requests as files (fuzz corpus)
//! ```
//!
//! `run` keeps several sockets open: two registered, one promiscuous, two
//! plain ones the messages are written from, and one with a small receive
//! buffer that starts dumps and reads them slowly; now and then a plain or
//! slow socket is closed (a dump may be pending) and opened again. A
//! REGISTER that would make the module probe the crypto API is sent only
//! once in [`RARE_REGISTER`] times (each probe of a missing algorithm runs
//! modprobe: seconds under TCG); the others get an SA type it refuses. Every
//! message a socket receives, but for the raw copies of what was written
//! that promiscuous sockets get, must be a well-formed PF_KEY message (base header, length, extensions), and every
//! error must carry one of af_key's errnos. It prints a histogram of the
//! outcomes and exits non-zero if anything came back wrong.

#![deny(unsafe_code)]

mod mutate;
mod rng;
mod sock;
mod templates;

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use kame_core::pfkey::ext::Exts;
use kame_core::pfkey::{check_header, MsgHeader, MsgType, SADB_MSG_LEN, WORD};

use rng::Rng;
use sock::Sock;

/// Errnos af_key puts in error replies.
const REPLY_ERRNOS: [u8; 11] = [2, 3, 16, 17, 22, 38, 40, 92, 93, 95, 105];
/// Errnos a write itself may fail with (a malformed base header, a message
/// over the send buffer).
const WRITE_ERRNOS: [i32; 2] = [libc::EINVAL, libc::EMSGSIZE];
/// One in this many REGISTERs that would probe the crypto API is sent.
const RARE_REGISTER: u32 = 20000;
/// A FLUSH and an SPDFLUSH this often keep the tables small.
const FLUSH_EVERY: u64 = 2000;
/// The pid our requests carry.
const PID: u32 = 0x4b41_4d45;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Registered for ESP and AH; messages are written from it.
    Registered,
    /// Promiscuous from the start: sees every message written.
    Promisc,
    /// Messages are written from it.
    Plain,
    /// Small receive buffer: starts dumps and reads them slowly.
    Slow,
}

struct Slot {
    sock: Sock,
    role: Role,
    /// SA types it registered (bit per satype), as the module keeps them.
    registered: u32,
    /// Whether the module has it promiscuous: it then gets a raw copy of
    /// every message written, before the message is handled.
    promisc: bool,
    /// Written messages whose raw copy it has not read yet (while it is
    /// promiscuous); what it reads that is none of these is checked.
    copies: VecDeque<Vec<u8>>,
}

#[derive(Default)]
struct Stats {
    valid: u64,
    mutated: u64,
    random: u64,
    oversize: u64,
    write_err: BTreeMap<i32, u64>,
    reply_err: BTreeMap<u8, u64>,
    reply_ok: u64,
    no_reply: u64,
    received: u64,
    unchecked: u64,
    malformed: u64,
    reopened: u64,
    dumps: u64,
    registers: u64,
    first_bad: Vec<String>,
}

impl Stats {
    fn bad(&mut self, what: String) {
        self.malformed += 1;
        if self.first_bad.len() < 10 {
            self.first_bad.push(what);
        }
    }
}

fn open(role: Role) -> std::io::Result<Slot> {
    let sock = Sock::open()?;
    let promisc = role == Role::Promisc;
    let mut registered = 0;
    match role {
        Role::Registered => {
            let _ = sock.send(&templates::bare(MsgType::Register, 3));
            registered = 1 << 3;
        }
        Role::Promisc => {
            let _ = sock.send(&templates::bare(MsgType::XPromisc, 1));
        }
        Role::Slow => sock.set_rcvbuf(2048)?,
        Role::Plain => {}
    }
    Ok(Slot {
        sock,
        role,
        registered,
        promisc,
        copies: VecDeque::new(),
    })
}

/// Whether `msg`, written from `slot`, is a REGISTER that reaches the
/// point where the module probes the crypto API for every algorithm it
/// lists: an unavailable one makes the kernel run modprobe (several
/// times), seconds under TCG, as af_key's `xfrm_probe_algs()` does.
fn probes_crypto(msg: &[u8], slot: &Slot) -> bool {
    match check_header(msg) {
        Ok((h, MsgType::Register)) => {
            h.satype <= 9
                && (h.satype == 0 || slot.registered & (1 << h.satype) == 0)
                && Exts::parse(msg).is_ok()
        }
        _ => false,
    }
}

/// Most raw copies remembered per promiscuous socket.
const MAX_COPIES: usize = 256;

/// Writes `msg` from slot `w`, as the module sees it: promiscuous sockets
/// get a raw copy first, then a header-only X_PROMISC turns promiscuous
/// mode on (satype 1) or off (0) for the writer.
fn write(slots: &mut [Slot], w: usize, msg: &[u8]) -> Result<(), i32> {
    slots[w].sock.send(msg)?;
    for s in slots.iter_mut().filter(|s| s.promisc) {
        if s.copies.len() == MAX_COPIES {
            s.copies.pop_front();
        }
        s.copies.push_back(msg.to_vec());
    }
    if let Ok((h, MsgType::XPromisc)) = check_header(msg) {
        if usize::from(h.len) * WORD == SADB_MSG_LEN && h.satype <= 1 {
            slots[w].promisc = h.satype == 1;
        }
    }
    Ok(())
}

/// Checks one message the kernel sent to a socket that gets no raw copies.
fn check_received(m: &[u8], len: usize, st: &mut Stats) {
    let Some(h) = MsgHeader::decode(m) else {
        return st.bad(format!("{len} bytes: shorter than a header"));
    };
    if len > m.len() || h.version != 2 || usize::from(h.len) * WORD != len {
        return st.bad(format!("{len} bytes: bad header {h:?}"));
    }
    if MsgType::from_wire(h.msg_type).is_none() {
        return st.bad(format!("unknown type {h:?}"));
    }
    let echo = h.msg_type == MsgType::XPromisc as u8 && usize::from(h.len) > 2;
    if h.errno != 0 && !echo {
        if usize::from(h.len) * WORD != SADB_MSG_LEN || !REPLY_ERRNOS.contains(&h.errno) {
            return st.bad(format!("error reply {h:?}"));
        }
        return;
    }
    if let Err(e) = Exts::parse(&m[..len]) {
        st.bad(format!("extensions {e:?} in {h:?}"));
    }
}

/// Reads up to `max` queued messages of slot `i`; notes the outcome of
/// request `seq` if its reply is among them.
fn drain(
    slot: &mut Slot,
    buf: &mut [u8],
    max: usize,
    want: Option<(u32, u8)>,
    st: &mut Stats,
) -> Option<u8> {
    let mut outcome = None;
    for _ in 0..max {
        let n = match slot.sock.recv(buf) {
            Ok(Some(n)) => n,
            Ok(None) => break,
            Err(e) => {
                st.bad(format!("recv: {e}"));
                break;
            }
        };
        st.received += 1;
        let got = &buf[..n.min(buf.len())];
        if let Some(i) = slot.copies.iter().position(|c| c[..] == *got) {
            slot.copies.remove(i);
            st.unchecked += 1;
            continue;
        }
        check_received(buf, n, st);
        if let (Some((seq, ty)), Some(h)) = (want, MsgHeader::decode(buf)) {
            if h.seq == seq && h.pid == PID && h.msg_type == ty && outcome != Some(0) {
                let is_err = h.errno != 0 && usize::from(h.len) * WORD == SADB_MSG_LEN;
                outcome = Some(if is_err { h.errno } else { 0 });
            }
        }
    }
    outcome
}

fn run(seed: u64, count: u64) -> Result<bool, String> {
    let mut r = Rng::new(seed);
    let roles = [
        Role::Registered,
        Role::Registered,
        Role::Promisc,
        Role::Plain,
        Role::Plain,
        Role::Slow,
    ];
    let mut slots: Vec<Slot> = roles
        .iter()
        .map(|&role| open(role))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("socket: {e}"))?;
    let writers = [0usize, 1, 3, 4];
    let mut buf = vec![0u8; 1 << 19];
    let mut st = Stats::default();
    let start = Instant::now();
    // Progress every tenth, at least every 10 000 messages.
    let step = (count / 10).clamp(1, 10_000);
    for i in 0..count {
        if i > 0 && i % step == 0 {
            println!(
                "# {i} of {count} messages, {:.1} s",
                start.elapsed().as_secs_f64()
            );
        }
        if i % FLUSH_EVERY == FLUSH_EVERY - 1 {
            for m in [
                templates::bare(MsgType::Flush, 0),
                templates::bare(MsgType::XSpdFlush, 0),
            ] {
                let _ = write(&mut slots, 0, &m);
            }
        }
        if r.chance(1, 1500) {
            // Close a plain or slow socket, a dump perhaps pending, and
            // open it again; a slow one starts a dump it will not finish.
            let k = r.pick(&[3usize, 4, 5, 5]);
            let role = slots[k].role;
            slots[k] = open(role).map_err(|e| format!("socket: {e}"))?;
            st.reopened += 1;
        }
        if r.chance(1, 200) {
            let ty = r.pick(&[MsgType::Dump, MsgType::XSpdDump]);
            if write(&mut slots, 5, &templates::bare(ty, 0)).is_ok() {
                st.dumps += 1;
            }
        }
        let mut msg = match r.below(100) {
            0..=4 => {
                st.random += 1;
                mutate::random(&mut r)
            }
            5..=14 => {
                st.valid += 1;
                templates::valid(&mut r)
            }
            _ => {
                st.mutated += 1;
                let base = templates::valid(&mut r);
                let donor = templates::valid(&mut r);
                mutate::mutate(&mut r, &base, &donor)
            }
        };
        if r.chance(1, 20000) {
            // Over the send buffer: EMSGSIZE.
            st.oversize += 1;
            msg = templates::bare(MsgType::Flush, 0);
            msg.resize(1 << 18, 0);
            msg[4..6].copy_from_slice(&(((1 << 18) / WORD) as u16).to_ne_bytes());
        }
        let seq = (i as u32).wrapping_add(1);
        if msg.len() >= SADB_MSG_LEN {
            msg[8..12].copy_from_slice(&seq.to_ne_bytes());
            msg[12..16].copy_from_slice(&PID.to_ne_bytes());
        }
        let w = r.pick(&writers);
        if probes_crypto(&msg, &slots[w]) {
            // REGISTERs that probe the crypto API are slow (modprobe):
            // one in RARE_REGISTER goes through, the others get an SA type
            // the module refuses first.
            if r.chance(1, RARE_REGISTER) {
                st.registers += 1;
                slots[w].registered |= 1 << msg[3];
            } else {
                msg[3] = 10 + r.below(246) as u8;
            }
        }
        match write(&mut slots, w, &msg) {
            Err(e) => {
                *st.write_err.entry(e).or_default() += 1;
                if !WRITE_ERRNOS.contains(&e) {
                    st.bad(format!("write failed with errno {e}"));
                }
            }
            Ok(()) => {
                let want = Some((seq, msg.get(1).copied().unwrap_or(0)));
                match drain(&mut slots[w], &mut buf, usize::MAX, want, &mut st) {
                    Some(0) => st.reply_ok += 1,
                    Some(e) => *st.reply_err.entry(e).or_default() += 1,
                    None => st.no_reply += 1,
                }
            }
        }
        if i % 8 == 7 {
            for k in [0usize, 1, 2, 3, 4] {
                drain(&mut slots[k], &mut buf, usize::MAX, None, &mut st);
            }
        }
        if i % 64 == 63 {
            drain(&mut slots[5], &mut buf, 2, None, &mut st);
        }
    }
    for s in &mut slots {
        drain(s, &mut buf, usize::MAX, None, &mut st);
    }
    drop(slots);
    let secs = start.elapsed().as_secs_f64();
    println!(
        "pfkey-fuzz: seed {seed}: {count} messages in {secs:.1} s ({:.0}/s): \
         {} valid, {} mutated, {} random, {} over the send buffer",
        count as f64 / secs.max(1e-9),
        st.valid,
        st.mutated,
        st.random,
        st.oversize
    );
    let hist = |m: &BTreeMap<i32, u64>| {
        m.iter()
            .map(|(e, n)| format!("{}={n}", errno_name(*e)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("writes failed: {}", hist(&st.write_err));
    let replies: BTreeMap<i32, u64> = st
        .reply_err
        .iter()
        .map(|(e, n)| (i32::from(*e), *n))
        .collect();
    println!(
        "error replies: {}; replies without error: {}; no reply seen: {}",
        hist(&replies),
        st.reply_ok,
        st.no_reply
    );
    println!(
        "received {} messages ({} raw copies of what was written), malformed {}; \
         sockets reopened {}, dumps started {}, registrations {}",
        st.received, st.unchecked, st.malformed, st.reopened, st.dumps, st.registers
    );
    for b in &st.first_bad {
        println!("bad: {b}");
    }
    Ok(st.malformed == 0)
}

fn errno_name(e: i32) -> String {
    let name = match e {
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EINVAL => "EINVAL",
        libc::ENOSYS => "ENOSYS",
        libc::ELOOP => "ELOOP",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::ENOPROTOOPT => "ENOPROTOOPT",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ENOBUFS => "ENOBUFS",
        _ => return format!("errno{e}"),
    };
    name.to_string()
}

/// Writes `count` valid requests into `dir`, one file each.
fn seeds(dir: &str, count: u64) -> Result<bool, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{dir}: {e}"))?;
    let mut r = Rng::new(1);
    for i in 0..count {
        let path = format!("{dir}/valid-{i:04}");
        std::fs::write(&path, templates::valid(&mut r)).map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(true)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| args.get(i).and_then(|s| s.parse::<u64>().ok());
    let result = match (args.first().map(String::as_str), num(1), num(2)) {
        (Some("run"), Some(seed), Some(count)) => run(seed, count),
        (Some("seeds"), _, Some(count)) => seeds(&args[1], count),
        _ => Err("usage: pfkey-fuzz run SEED COUNT | pfkey-fuzz seeds DIR COUNT".to_string()),
    };
    match result {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("pfkey-fuzz: {e}");
            std::process::exit(2);
        }
    }
}
