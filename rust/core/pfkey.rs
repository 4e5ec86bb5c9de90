// SPDX-License-Identifier: GPL-2.0

//! PF_KEY v2 (RFC 2367) wire format, with Linux's numbering
//! (`include/uapi/linux/pfkeyv2.h`), and the checks every message passes
//! before it is dispatched.

use crate::kame_core::errno::Errno;

pub mod ext;
pub mod wire;

/// `PF_KEY_V2`: the protocol number of a PF_KEY socket and the version
/// every message carries.
pub const PF_KEY_V2: u8 = 2;

/// Length of `struct sadb_msg`, the base header, in bytes.
pub const SADB_MSG_LEN: usize = 16;

/// PF_KEY lengths count 64-bit words.
pub const WORD: usize = 8;

/// Room af_key keeps below the socket's send buffer size: a message longer
/// than `sk_sndbuf - SNDBUF_SLACK` is refused with EMSGSIZE.
pub const SNDBUF_SLACK: usize = 32;

/// A PF_KEY message type, numbered as Linux's `pfkeyv2.h`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum MsgType {
    /// `SADB_GETSPI`
    GetSpi = 1,
    /// `SADB_UPDATE`
    Update = 2,
    /// `SADB_ADD`
    Add = 3,
    /// `SADB_DELETE`
    Delete = 4,
    /// `SADB_GET`
    Get = 5,
    /// `SADB_ACQUIRE`
    Acquire = 6,
    /// `SADB_REGISTER`
    Register = 7,
    /// `SADB_EXPIRE`
    Expire = 8,
    /// `SADB_FLUSH`
    Flush = 9,
    /// `SADB_DUMP`
    Dump = 10,
    /// `SADB_X_PROMISC`
    XPromisc = 11,
    /// `SADB_X_PCHANGE`
    XPchange = 12,
    /// `SADB_X_SPDUPDATE`
    XSpdUpdate = 13,
    /// `SADB_X_SPDADD`
    XSpdAdd = 14,
    /// `SADB_X_SPDDELETE`
    XSpdDelete = 15,
    /// `SADB_X_SPDGET`
    XSpdGet = 16,
    /// `SADB_X_SPDACQUIRE`
    XSpdAcquire = 17,
    /// `SADB_X_SPDDUMP`
    XSpdDump = 18,
    /// `SADB_X_SPDFLUSH`
    XSpdFlush = 19,
    /// `SADB_X_SPDSETIDX`
    XSpdSetIdx = 20,
    /// `SADB_X_SPDEXPIRE`
    XSpdExpire = 21,
    /// `SADB_X_SPDDELETE2`
    XSpdDelete2 = 22,
    /// `SADB_X_NAT_T_NEW_MAPPING`
    XNatTNewMapping = 23,
    /// `SADB_X_MIGRATE`
    XMigrate = 24,
}

impl MsgType {
    /// `SADB_MAX`: the highest message type Linux defines.
    pub const MAX: u8 = 24;

    /// Maps a wire number to a message type; `None` for `SADB_RESERVED` and
    /// anything above `SADB_MAX`.
    pub fn from_wire(v: u8) -> Option<MsgType> {
        use MsgType::*;
        const ALL: [MsgType; MsgType::MAX as usize] = [
            GetSpi,
            Update,
            Add,
            Delete,
            Get,
            Acquire,
            Register,
            Expire,
            Flush,
            Dump,
            XPromisc,
            XPchange,
            XSpdUpdate,
            XSpdAdd,
            XSpdDelete,
            XSpdGet,
            XSpdAcquire,
            XSpdDump,
            XSpdFlush,
            XSpdSetIdx,
            XSpdExpire,
            XSpdDelete2,
            XNatTNewMapping,
            XMigrate,
        ];
        ALL.get(usize::from(v).checked_sub(1)?).copied()
    }
}

/// `struct sadb_msg`, the base header of every PF_KEY message, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MsgHeader {
    /// `sadb_msg_version`
    pub version: u8,
    /// `sadb_msg_type`
    pub msg_type: u8,
    /// `sadb_msg_errno`
    pub errno: u8,
    /// `sadb_msg_satype`
    pub satype: u8,
    /// `sadb_msg_len`, in 64-bit words
    pub len: u16,
    /// `sadb_msg_reserved`
    pub reserved: u16,
    /// `sadb_msg_seq`
    pub seq: u32,
    /// `sadb_msg_pid`
    pub pid: u32,
}

impl MsgHeader {
    /// Decodes the first [`SADB_MSG_LEN`] bytes of `buf` (host byte order,
    /// as PF_KEY is); `None` if `buf` is shorter.
    pub fn decode(buf: &[u8]) -> Option<MsgHeader> {
        let b: &[u8; SADB_MSG_LEN] = buf.get(..SADB_MSG_LEN)?.try_into().ok()?;
        Some(MsgHeader {
            version: b[0],
            msg_type: b[1],
            errno: b[2],
            satype: b[3],
            len: u16::from_ne_bytes([b[4], b[5]]),
            reserved: u16::from_ne_bytes([b[6], b[7]]),
            seq: u32::from_ne_bytes([b[8], b[9], b[10], b[11]]),
            pid: u32::from_ne_bytes([b[12], b[13], b[14], b[15]]),
        })
    }

    /// Encodes the header; every byte of the result is defined.
    pub fn encode(&self) -> [u8; SADB_MSG_LEN] {
        let mut b = [0u8; SADB_MSG_LEN];
        b[0] = self.version;
        b[1] = self.msg_type;
        b[2] = self.errno;
        b[3] = self.satype;
        b[4..6].copy_from_slice(&self.len.to_ne_bytes());
        b[6..8].copy_from_slice(&self.reserved.to_ne_bytes());
        b[8..12].copy_from_slice(&self.seq.to_ne_bytes());
        b[12..16].copy_from_slice(&self.pid.to_ne_bytes());
        b
    }

    /// The error reply to this message: the same header with `errno` set and
    /// the length of a bare header, as af_key's `pfkey_error()` sends.
    pub fn error_reply(&self, err: Errno) -> MsgHeader {
        MsgHeader {
            errno: err.reply_byte(),
            len: (SADB_MSG_LEN / WORD) as u16,
            ..*self
        }
    }
}

/// Why a written message was refused before any reply could be formed.
///
/// These are returned by `sendmsg()` itself, as af_key does: without a valid
/// header there is nothing to address an error reply to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer bytes than a base header.
    Short,
    /// `sadb_msg_version` is not `PF_KEY_V2`.
    Version,
    /// `sadb_msg_reserved` is not zero.
    Reserved,
    /// `sadb_msg_type` is `SADB_RESERVED` or above `SADB_MAX`.
    Type,
    /// `sadb_msg_len` disagrees with the number of bytes written, or is
    /// shorter than a base header.
    Length,
}

impl From<HeaderError> for Errno {
    fn from(e: HeaderError) -> Errno {
        match e {
            HeaderError::Short | HeaderError::Length => Errno::EMSGSIZE,
            HeaderError::Version | HeaderError::Reserved | HeaderError::Type => Errno::EINVAL,
        }
    }
}

/// Checks the base header of a message of `buf.len()` bytes written to a
/// PF_KEY socket, in af_key's order (`pfkey_get_base_msg()`).
///
/// Unlike af_key, which compares `sadb_msg_len` with the written length
/// rounded down to whole words, a write whose length is not exactly
/// `sadb_msg_len` words is refused (EMSGSIZE): trailing bytes that belong to
/// no extension are a malformed message (Documentation/pfkey.rst).
pub fn check_header(buf: &[u8]) -> Result<(MsgHeader, MsgType), HeaderError> {
    let hdr = MsgHeader::decode(buf).ok_or(HeaderError::Short)?;
    if hdr.version != PF_KEY_V2 {
        return Err(HeaderError::Version);
    }
    if hdr.reserved != 0 {
        return Err(HeaderError::Reserved);
    }
    let msg_type = MsgType::from_wire(hdr.msg_type).ok_or(HeaderError::Type)?;
    let words = usize::from(hdr.len);
    if words < SADB_MSG_LEN / WORD || words.checked_mul(WORD) != Some(buf.len()) {
        return Err(HeaderError::Length);
    }
    Ok((hdr, msg_type))
}

/// Checks the size of a write against the socket's send buffer, as af_key:
/// EMSGSIZE when `len` exceeds `sndbuf - SNDBUF_SLACK`.
pub fn check_write_size(len: usize, sndbuf: usize) -> Result<(), Errno> {
    if len > sndbuf.saturating_sub(SNDBUF_SLACK) {
        Err(Errno::EMSGSIZE)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(version: u8, msg_type: u8, len: u16, reserved: u16, total: usize) -> std::vec::Vec<u8> {
        let h = MsgHeader {
            version,
            msg_type,
            len,
            reserved,
            seq: 7,
            pid: 42,
            ..Default::default()
        };
        let mut v = std::vec::Vec::from(h.encode());
        v.resize(total, 0);
        v
    }

    #[test]
    fn every_type_number_round_trips() {
        assert_eq!(MsgType::from_wire(0), None);
        for v in 1..=MsgType::MAX {
            assert_eq!(MsgType::from_wire(v).map(|t| t as u8), Some(v));
        }
        assert_eq!(MsgType::from_wire(MsgType::MAX + 1), None);
        assert_eq!(MsgType::from_wire(255), None);
        assert_eq!(MsgType::XSpdDelete2 as u8, 22);
        assert_eq!(MsgType::XSpdDump as u8, 18);
    }

    #[test]
    fn header_checks_in_af_key_order() {
        // Numbered table: (case, bytes, expected).
        let cases: [(u32, std::vec::Vec<u8>, Result<MsgType, HeaderError>); 12] = [
            (1, msg(2, 9, 2, 0, 16), Ok(MsgType::Flush)),
            (2, msg(2, 9, 2, 0, 15), Err(HeaderError::Short)),
            (3, std::vec::Vec::new(), Err(HeaderError::Short)),
            (4, msg(1, 9, 2, 0, 16), Err(HeaderError::Version)),
            (5, msg(2, 9, 2, 1, 16), Err(HeaderError::Reserved)),
            (6, msg(2, 0, 2, 0, 16), Err(HeaderError::Type)),
            (7, msg(2, 25, 2, 0, 16), Err(HeaderError::Type)),
            (8, msg(2, 9, 3, 0, 16), Err(HeaderError::Length)),
            (9, msg(2, 9, 1, 0, 16), Err(HeaderError::Length)),
            (10, msg(2, 9, 0, 0, 0x10), Err(HeaderError::Length)),
            (11, msg(2, 9, 2, 0, 17), Err(HeaderError::Length)),
            (12, msg(2, 24, 4, 0, 32), Ok(MsgType::XMigrate)),
        ];
        for (n, bytes, want) in cases {
            assert_eq!(check_header(&bytes).map(|(_, t)| t), want, "case {n}");
        }
        // Version is checked before the type, as af_key does.
        assert_eq!(
            check_header(&msg(3, 0, 2, 0, 16)).map(|(_, t)| t),
            Err(HeaderError::Version)
        );
    }

    #[test]
    fn header_errnos_match_af_key() {
        assert_eq!(Errno::from(HeaderError::Short), Errno::EMSGSIZE);
        assert_eq!(Errno::from(HeaderError::Length), Errno::EMSGSIZE);
        assert_eq!(Errno::from(HeaderError::Version), Errno::EINVAL);
        assert_eq!(Errno::from(HeaderError::Reserved), Errno::EINVAL);
        assert_eq!(Errno::from(HeaderError::Type), Errno::EINVAL);
    }

    #[test]
    fn header_round_trips_and_error_reply_keeps_seq_pid() {
        let h = MsgHeader {
            version: 2,
            msg_type: 3,
            errno: 0,
            satype: 3,
            len: 9,
            reserved: 0,
            seq: 0xdead,
            pid: 77,
        };
        assert_eq!(MsgHeader::decode(&h.encode()), Some(h));
        let r = h.error_reply(Errno::EOPNOTSUPP);
        assert_eq!(
            (r.errno, r.len, r.seq, r.pid, r.msg_type, r.satype),
            (95, 2, 0xdead, 77, 3, 3)
        );
    }

    #[test]
    fn write_size_against_sndbuf() {
        assert_eq!(check_write_size(100, 132), Ok(()));
        assert_eq!(check_write_size(101, 132), Err(Errno::EMSGSIZE));
        assert_eq!(check_write_size(1, 0), Err(Errno::EMSGSIZE));
    }
}
