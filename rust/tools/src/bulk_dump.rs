// SPDX-License-Identifier: GPL-2.0

//! Checks a SADB_DUMP or SADB_X_SPDDUMP of the bulk load ([`crate::bulk`])
//! message by message, as it arrives: exactly `n` messages, af_key's order
//! (newest first, so entry `n - 1` comes first and entry 0 last, each once),
//! and af_key's numbering: `sadb_msg_seq` 1, 2, ..., n - 1, then 0 on the
//! last (Documentation/pfkey.rst, "Dumps").

#![forbid(unsafe_code)]

use kame_core::pfkey::ext::Exts;
use kame_core::pfkey::wire::{ext_type, Address, Policy, Sa, SockAddr};
use kame_core::pfkey::{MsgHeader, MsgType};

use crate::bulk::{sa_dst, sa_spi, spd_src};

/// What is dumped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The SAD.
    Sa,
    /// The SPD.
    Spd,
}

impl Kind {
    /// The dump request's message type.
    pub fn msg_type(self) -> MsgType {
        match self {
            Kind::Sa => MsgType::Dump,
            Kind::Spd => MsgType::XSpdDump,
        }
    }
}

/// A dump being checked.
pub struct DumpCheck {
    kind: Kind,
    n: u32,
    pid: u32,
    got: u32,
    bytes: u64,
}

fn address(x: &Exts<'_>, t: u16) -> Option<SockAddr> {
    Some(Address::decode(x.get(t)?)?.sa)
}

/// Checks that `msg` describes entry `i` of `kind` as the bulk load
/// added it (its extensions parsed, the SA's SPI and destination or the
/// policy's source and direction read): what a dump's reader does with
/// each message, also timed by `pfkey-bench read-floor-*`.
pub fn check_entry(kind: Kind, i: u32, msg: &[u8]) -> Result<(), String> {
    let x = Exts::parse(msg).map_err(|e| format!("extensions: {e:?}"))?;
    match kind {
        Kind::Sa => {
            let spi = x.get(ext_type::SA).map(|e| Sa::decode(e).spi);
            let dst = address(&x, ext_type::ADDRESS_DST);
            if spi != Some(sa_spi(i)) || dst != Some(sa_dst(i)) {
                return Err(format!(
                    "SA {spi:x?} to {dst:?}, want SA {i} ({:#x} to {:?})",
                    sa_spi(i),
                    sa_dst(i).addr
                ));
            }
        }
        Kind::Spd => {
            let src = address(&x, ext_type::ADDRESS_SRC);
            let dir = x.get(ext_type::X_POLICY).map(|e| Policy::decode(e).dir);
            if src != Some(spd_src(i)) || dir != Some(crate::ipsec::dir::OUT) {
                return Err(format!(
                    "policy from {src:?} dir {dir:?}, want policy {i} (from {:?})",
                    spd_src(i).addr
                ));
            }
        }
    }
    Ok(())
}

/// The id of the policy `msg` describes (an SPDADD reply, a dump message).
pub fn policy_id(msg: &[u8]) -> Option<u32> {
    let x = Exts::parse(msg).ok()?;
    Some(Policy::decode(x.get(ext_type::X_POLICY)?).id)
}

impl DumpCheck {
    /// Expects `n` entries in messages addressed to `pid`.
    pub fn new(kind: Kind, n: u32, pid: u32) -> DumpCheck {
        DumpCheck {
            kind,
            n,
            pid,
            got: 0,
            bytes: 0,
        }
    }

    /// Messages of this dump received so far.
    pub fn got(&self) -> u32 {
        self.got
    }

    /// Their bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Checks the next received message. `Ok(true)` when the dump ended as
    /// it should; messages for others are skipped.
    pub fn feed(&mut self, msg: &[u8]) -> Result<bool, String> {
        let h = MsgHeader::decode(msg).ok_or("a message shorter than its header")?;
        if h.pid != self.pid || h.msg_type != self.kind.msg_type() as u8 {
            return Ok(false);
        }
        if h.errno != 0 {
            return Err(format!(
                "errno {} after {} of {} entries",
                h.errno, self.got, self.n
            ));
        }
        self.got += 1;
        self.bytes += msg.len() as u64;
        let k = self.got;
        let Some(i) = self.n.checked_sub(k) else {
            return Err(format!("message {k}: more than {} entries", self.n));
        };
        let want_seq = if k == self.n { 0 } else { k };
        if h.seq != want_seq {
            return Err(format!(
                "message {k} of {}: seq {}, want {want_seq}",
                self.n, h.seq
            ));
        }
        check_entry(self.kind, i, msg).map_err(|e| format!("message {k}: {e}"))?;
        Ok(h.seq == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bulk::{sa_add, spd_add, POLICY};

    /// A kernel's dump message for a bulk ADD/SPDADD message: the request's
    /// extensions under a dump header.
    fn as_dump(mut m: Vec<u8>, t: MsgType, seq: u32, pid: u32) -> Vec<u8> {
        m[1] = t as u8;
        m[8..12].copy_from_slice(&seq.to_ne_bytes());
        m[12..16].copy_from_slice(&pid.to_ne_bytes());
        m
    }

    fn sa_dump(n: u32, order: &[u32], seqs: &[u32]) -> Result<bool, String> {
        let mut c = DumpCheck::new(Kind::Sa, n, 9);
        let mut done = false;
        for (&i, &seq) in order.iter().zip(seqs) {
            done = c.feed(&as_dump(sa_add(i, 1).unwrap(), MsgType::Dump, seq, 9))?;
        }
        Ok(done)
    }

    #[test]
    fn a_whole_dump_newest_first_numbered_as_af_key_passes() {
        assert_eq!(sa_dump(3, &[2, 1, 0], &[1, 2, 0]), Ok(true));
        assert_eq!(sa_dump(1, &[0], &[0]), Ok(true));
        let p = crate::policy::parse(POLICY).unwrap();
        let mut c = DumpCheck::new(Kind::Spd, 2, 9);
        let m = |i, seq| as_dump(spd_add(i, &p, 1).unwrap(), MsgType::XSpdDump, seq, 9);
        assert_eq!(c.feed(&m(1, 1)), Ok(false));
        assert_eq!(c.feed(&m(0, 0)), Ok(true));
    }

    #[test]
    fn wrong_order_numbering_or_length_fails() {
        assert!(sa_dump(3, &[1, 2, 0], &[1, 2, 0]).is_err());
        assert!(sa_dump(3, &[2, 1, 0], &[1, 2, 3]).is_err());
        assert!(sa_dump(3, &[2, 1, 0], &[2, 1, 0]).is_err());
        assert!(sa_dump(3, &[2, 1], &[1, 0]).is_err());
        assert!(sa_dump(2, &[1, 1], &[1, 0]).is_err());
    }

    #[test]
    fn others_messages_are_skipped_and_errors_end_it() {
        let mut c = DumpCheck::new(Kind::Sa, 1, 9);
        assert_eq!(
            c.feed(&as_dump(sa_add(0, 1).unwrap(), MsgType::Dump, 0, 8)),
            Ok(false)
        );
        assert_eq!(c.feed(&sa_add(0, 9).unwrap()), Ok(false));
        let mut e = as_dump(sa_add(0, 1).unwrap(), MsgType::Dump, 0, 9);
        e[2] = 2;
        assert!(c.feed(&e).is_err());
    }

    #[test]
    fn an_entry_is_checked_alone_and_a_policy_get_names_its_id() {
        let p = crate::policy::parse(POLICY).unwrap();
        assert_eq!(check_entry(Kind::Sa, 4, &sa_add(4, 1).unwrap()), Ok(()));
        assert!(check_entry(Kind::Sa, 5, &sa_add(4, 1).unwrap()).is_err());
        assert_eq!(
            check_entry(Kind::Spd, 4, &spd_add(4, &p, 1).unwrap()),
            Ok(())
        );
        assert!(check_entry(Kind::Spd, 3, &spd_add(4, &p, 1).unwrap()).is_err());
        let get = crate::request::spdget(crate::ipsec::dir::OUT, 0x4_0012, 1).unwrap();
        assert_eq!(
            MsgHeader::decode(&get).unwrap().msg_type,
            MsgType::XSpdGet as u8
        );
        assert_eq!(policy_id(&get), Some(0x4_0012));
    }
}
