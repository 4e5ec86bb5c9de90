// SPDX-License-Identifier: GPL-2.0

//! What a parsed setkey command says, before it becomes PF_KEY messages.
//!
//! Addresses are already resolved; one command may name several source or
//! destination addresses (a host name), as setkey sends one message per
//! source/destination pair of the same family.

#![forbid(unsafe_code)]

use kame_core::pfkey::wire::{IpsecRequest, SockAddr};

/// `SADB_SATYPE_*` numbers (Linux `pfkeyv2.h`).
pub mod satype {
    /// `SADB_SATYPE_UNSPEC`
    pub const UNSPEC: u8 = 0;
    /// `SADB_SATYPE_AH`
    pub const AH: u8 = 2;
    /// `SADB_SATYPE_ESP`
    pub const ESP: u8 = 3;
    /// `SADB_X_SATYPE_IPCOMP`
    pub const IPCOMP: u8 = 9;
    /// KAME's `SADB_X_SATYPE_TCPSIGNATURE`; Linux has none, so the kernel
    /// refuses it.
    pub const TCPSIGNATURE: u8 = 11;
}

/// KAME's `SADB_X_EXT_*` SA flags, as ipsec-tools sends them in
/// `sadb_sa_flags` (Linux ignores the ones it does not know).
pub mod saflags {
    /// `SADB_X_EXT_OLD`: RFC 1827/1829 formats (`esp-old`, `ah-old`).
    pub const OLD: u32 = 0x0001;
    /// `SADB_X_EXT_IV4B`
    pub const IV4B: u32 = 0x0010;
    /// `SADB_X_EXT_DERIV`
    pub const DERIV: u32 = 0x0020;
    /// `SADB_X_EXT_CYCSEQ`: the default; `-f nocyclic-seq` clears it.
    pub const CYCSEQ: u32 = 0x0040;
    /// `SADB_X_EXT_RAWCPI` (`-C ... -R`)
    pub const RAWCPI: u32 = 0x0080;
    /// `SADB_X_EXT_PRAND` (`-f random-pad`)
    pub const PRAND: u32 = 0x0100;
    /// `SADB_X_EXT_PZERO` (`-f zero-pad`)
    pub const PZERO: u32 = 0x0200;
    /// FreeBSD's `SADB_X_SAFLAGS_ESN` (`-f esn`): extended sequence numbers.
    pub const ESN: u32 = 0x0400;
}

/// `UDP_ENCAP_ESPINUDP`: the NAT-T type `esp-udp` sets.
pub const UDP_ENCAP_ESPINUDP: u8 = 2;

/// NAT-T parameters of an `esp-udp` SA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatT {
    /// The original address (`esp-udp addr`), if given.
    pub oa: Option<SockAddr>,
}

/// The `p_*` state of setkey's parser for one SA command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaParams {
    /// SPI, host order.
    pub spi: u32,
    /// `sadb_sa_flags` (see [`saflags`]).
    pub flags: u32,
    /// Encryption (or compression) algorithm id.
    pub enc: u8,
    /// Authentication algorithm id.
    pub auth: u8,
    /// Replay window (`-r`).
    pub replay: u8,
    /// `IPSEC_MODE_*` (`-m`), 0 (any) by default.
    pub mode: u8,
    /// Request id (`-u`).
    pub reqid: u32,
    /// Encryption key; `Some(empty)` for `null`, which still sends one.
    pub key_enc: Option<Vec<u8>>,
    /// Authentication key; `None` for `-A null`.
    pub key_auth: Option<Vec<u8>>,
    /// Hard lifetime, seconds (`-lh`).
    pub lt_hard: u64,
    /// Soft lifetime, seconds (`-ls`).
    pub lt_soft: u64,
    /// Hard lifetime, bytes (`-bh`).
    pub lb_hard: u64,
    /// Soft lifetime, bytes (`-bs`).
    pub lb_soft: u64,
    /// NAT-T, for `esp-udp`.
    pub natt: Option<NatT>,
}

impl Default for SaParams {
    /// setkey's `parse_init()`.
    fn default() -> SaParams {
        SaParams {
            spi: 0,
            flags: saflags::CYCSEQ,
            enc: 0,
            auth: 0,
            replay: 0,
            mode: 0,
            reqid: 0,
            key_enc: None,
            key_auth: None,
            lt_hard: 0,
            lt_soft: 0,
            lb_hard: 0,
            lb_soft: 0,
            natt: None,
        }
    }
}

/// Which SA message a command sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaOp {
    /// `add`: SADB_ADD.
    Add,
    /// `get`: SADB_GET.
    Get,
    /// `delete`: SADB_DELETE.
    Delete,
}

/// `add`, `get` or `delete`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaCmd {
    /// The message.
    pub op: SaOp,
    /// Source addresses (ports as written).
    pub src: Vec<SockAddr>,
    /// Destination addresses.
    pub dst: Vec<SockAddr>,
    /// `SADB_SATYPE_*`
    pub satype: u8,
    /// Everything else.
    pub p: SaParams,
}

/// One side of a policy selector: `addr[/prefix][[port]]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Selector {
    /// Address and port (0 = any).
    pub addr: SockAddr,
    /// Prefix length; `None` means the whole address.
    pub prefix: Option<u8>,
}

/// A parsed `-P` policy (the `sadb_x_policy` ipsec-tools builds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicySpec {
    /// `IPSEC_DIR_*`
    pub dir: u8,
    /// `IPSEC_POLICY_*`
    pub ty: u16,
    /// Priority, lower wins (`0x80000000` is `prio def`).
    pub priority: u32,
    /// The `ipsec` requests, in order.
    pub requests: Vec<IpsecRequest>,
}

/// Which SPD message a command sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpdOp {
    /// `spdadd`: SADB_X_SPDADD.
    Add,
    /// `spdupdate`: SADB_X_SPDUPDATE.
    Update,
    /// `spddelete`: SADB_X_SPDDELETE.
    Delete,
}

/// `spdadd`, `spdupdate` or `spddelete`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpdCmd {
    /// The message.
    pub op: SpdOp,
    /// Source selector.
    pub src: Selector,
    /// Destination selector.
    pub dst: Selector,
    /// Upper-layer protocol (255 = any).
    pub upper: u8,
    /// The policy.
    pub policy: PolicySpec,
}

/// One command of the language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `add`, `get`, `delete`.
    Sa(SaCmd),
    /// `deleteall src dst protocol`: on Linux a dump, then one delete per SA.
    DeleteAll {
        /// Source addresses.
        src: Vec<SockAddr>,
        /// Destination addresses.
        dst: Vec<SockAddr>,
        /// `SADB_SATYPE_*`
        satype: u8,
    },
    /// `flush [protocol]`
    Flush(u8),
    /// `dump [protocol]`
    Dump(u8),
    /// `spdadd`, `spdupdate`, `spddelete`.
    Spd(SpdCmd),
    /// `spdflush`
    SpdFlush,
    /// `spddump`
    SpdDump,
    /// `exit`, `quit`, `bye`
    Exit,
}

/// A command and the line its `;` is on (setkey's "The result of line N").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// The command.
    pub cmd: Command,
    /// Its line.
    pub line: u32,
}
