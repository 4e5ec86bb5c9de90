// SPDX-License-Identifier: GPL-2.0

//! PF_KEY v2 extensions as typed values: decoded from a slot that
//! [`Exts::parse`](super::ext::Exts::parse) already checked, and encoded by
//! one [`Encoder`] that sizes and writes a message from one description.
//!
//! Layouts are Linux's `include/uapi/linux/pfkeyv2.h`. Fields are in host
//! byte order except SPIs and ports, which PF_KEY carries in network order;
//! the typed values hold SPIs and ports in host order and convert here.

use crate::kame_core::pfkey::{MsgHeader, SADB_MSG_LEN, WORD};

/// Extension type numbers (`SADB_EXT_*`, `SADB_X_EXT_*`).
pub mod ext_type {
    /// `SADB_EXT_SA`
    pub const SA: u16 = 1;
    /// `SADB_EXT_LIFETIME_CURRENT`
    pub const LIFETIME_CURRENT: u16 = 2;
    /// `SADB_EXT_LIFETIME_HARD`
    pub const LIFETIME_HARD: u16 = 3;
    /// `SADB_EXT_LIFETIME_SOFT`
    pub const LIFETIME_SOFT: u16 = 4;
    /// `SADB_EXT_ADDRESS_SRC`
    pub const ADDRESS_SRC: u16 = 5;
    /// `SADB_EXT_ADDRESS_DST`
    pub const ADDRESS_DST: u16 = 6;
    /// `SADB_EXT_ADDRESS_PROXY`
    pub const ADDRESS_PROXY: u16 = 7;
    /// `SADB_EXT_KEY_AUTH`
    pub const KEY_AUTH: u16 = 8;
    /// `SADB_EXT_KEY_ENCRYPT`
    pub const KEY_ENCRYPT: u16 = 9;
    /// `SADB_EXT_IDENTITY_SRC`
    pub const IDENTITY_SRC: u16 = 10;
    /// `SADB_EXT_IDENTITY_DST`
    pub const IDENTITY_DST: u16 = 11;
    /// `SADB_EXT_SENSITIVITY`
    pub const SENSITIVITY: u16 = 12;
    /// `SADB_EXT_PROPOSAL`
    pub const PROPOSAL: u16 = 13;
    /// `SADB_EXT_SUPPORTED_AUTH`
    pub const SUPPORTED_AUTH: u16 = 14;
    /// `SADB_EXT_SUPPORTED_ENCRYPT`
    pub const SUPPORTED_ENCRYPT: u16 = 15;
    /// `SADB_EXT_SPIRANGE`
    pub const SPIRANGE: u16 = 16;
    /// `SADB_X_EXT_KMPRIVATE`
    pub const X_KMPRIVATE: u16 = 17;
    /// `SADB_X_EXT_POLICY`
    pub const X_POLICY: u16 = 18;
    /// `SADB_X_EXT_SA2`
    pub const X_SA2: u16 = 19;
    /// `SADB_X_EXT_NAT_T_TYPE`
    pub const X_NAT_T_TYPE: u16 = 20;
    /// `SADB_X_EXT_NAT_T_SPORT`
    pub const X_NAT_T_SPORT: u16 = 21;
    /// `SADB_X_EXT_NAT_T_DPORT`
    pub const X_NAT_T_DPORT: u16 = 22;
    /// `SADB_X_EXT_NAT_T_OA`
    pub const X_NAT_T_OA: u16 = 23;
    /// `SADB_X_EXT_SEC_CTX`
    pub const X_SEC_CTX: u16 = 24;
    /// `SADB_X_EXT_KMADDRESS`
    pub const X_KMADDRESS: u16 = 25;
    /// `SADB_X_EXT_FILTER`
    pub const X_FILTER: u16 = 26;
}

/// `AF_INET`
pub const AF_INET: u16 = 2;
/// `AF_INET6`
pub const AF_INET6: u16 = 10;

/// Length of `struct sockaddr_in`.
const SOCKADDR_IN_LEN: usize = 16;
/// Length of `struct sockaddr_in6`.
const SOCKADDR_IN6_LEN: usize = 28;

/// Where encoded bytes go: a growable buffer the caller owns (a `KVec` in
/// the kernel, a `Vec` on the host).
pub trait ByteSink {
    /// Whether the sink only counts bytes ([`Sizer`]): the encoder then
    /// leaves extensions unwritten and [`ByteSink::count`]s them.
    const COUNTS_ONLY: bool = false;
    /// Appends `bytes`; `Err` when memory runs out.
    fn put(&mut self, bytes: &[u8]) -> Result<(), NoMemory>;
    /// Appends `n` zero bytes and returns them to be written in place.
    fn put_zeroed(&mut self, n: usize) -> Result<&mut [u8], NoMemory>;
    /// Appends `n` bytes the encoder does not write: zeroes, for a sink
    /// that keeps bytes.
    fn count(&mut self, n: usize) -> Result<(), NoMemory> {
        self.put_zeroed(n).map(|_| ())
    }
    /// Overwrites already appended bytes at `at`.
    fn patch(&mut self, at: usize, bytes: &[u8]);
    /// Bytes appended so far.
    fn written(&self) -> usize;
}

/// A [`ByteSink`] that only counts, so that an [`Encoder`] over it works
/// out a message's length with the code that writes the message
/// ([`measure`]). It has no bytes to hand out: `put_zeroed` is refused,
/// and the encoder, seeing [`ByteSink::COUNTS_ONLY`], never asks.
#[derive(Debug, Default)]
pub struct Sizer {
    n: usize,
}

impl ByteSink for Sizer {
    const COUNTS_ONLY: bool = true;

    fn put(&mut self, bytes: &[u8]) -> Result<(), NoMemory> {
        self.count(bytes.len())
    }

    fn put_zeroed(&mut self, _: usize) -> Result<&mut [u8], NoMemory> {
        Err(NoMemory)
    }

    fn count(&mut self, n: usize) -> Result<(), NoMemory> {
        self.n = self.n.checked_add(n).ok_or(NoMemory)?;
        Ok(())
    }

    fn patch(&mut self, _: usize, _: &[u8]) {}

    fn written(&self) -> usize {
        self.n
    }
}

/// A message body that can be sized as well as written: the same code
/// runs over a [`Sizer`] and over the sink that keeps the bytes.
pub trait Describe {
    /// Appends the body's extensions.
    fn describe<S: ByteSink>(&self, e: &mut Encoder<'_, S>) -> Result<(), NoMemory>;
}

/// The length of the message of header `hdr` and body `body`, header
/// included.
pub fn measure<D: Describe + ?Sized>(hdr: &MsgHeader, body: &D) -> Result<usize, NoMemory> {
    let mut sizer = Sizer::default();
    let mut e = Encoder::new(&mut sizer, hdr)?;
    body.describe(&mut e)?;
    e.finish()
}

/// A [`ByteSink`] over a zeroed slice sized beforehand for one message
/// ([`measure`]): taking room is a bounds check, not
/// a growth check and a zeroing per extension (encoding an SPD dump's
/// messages so takes 40% fewer instructions). It never grows: writing
/// past the end is [`NoMemory`].
pub struct SliceSink<'a> {
    /// All zero beyond `at`: bytes are handed out once, in order.
    buf: &'a mut [u8],
    at: usize,
}

impl<'a> SliceSink<'a> {
    /// A sink over `buf`, which must be all zero bytes (`put_zeroed` hands
    /// them out as they are).
    pub fn new(buf: &'a mut [u8]) -> Self {
        SliceSink { buf, at: 0 }
    }

    /// Whether every byte was written: a message sized right fills its
    /// slice exactly.
    pub fn is_full(&self) -> bool {
        self.at == self.buf.len()
    }

    fn next(&mut self, n: usize) -> Result<&mut [u8], NoMemory> {
        let end = self.at.checked_add(n).ok_or(NoMemory)?;
        let out = self.buf.get_mut(self.at..end).ok_or(NoMemory)?;
        self.at = end;
        Ok(out)
    }
}

impl ByteSink for SliceSink<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), NoMemory> {
        self.next(bytes.len())?.copy_from_slice(bytes);
        Ok(())
    }

    fn put_zeroed(&mut self, n: usize) -> Result<&mut [u8], NoMemory> {
        // Zero already: nothing before `at` is handed out again.
        self.next(n)
    }

    fn patch(&mut self, at: usize, bytes: &[u8]) {
        if at + bytes.len() <= self.at {
            if let Some(dst) = self.buf.get_mut(at..at + bytes.len()) {
                dst.copy_from_slice(bytes);
            }
        }
    }

    fn written(&self) -> usize {
        self.at
    }
}

/// The bytes [`Encoder::ext`] appends for `body`: its header and body,
/// padded to a word.
fn ext_len<B: ExtBody + ?Sized>(body: &B) -> usize {
    (4 + body.body_len()).div_ceil(WORD) * WORD
}

/// A [`ByteSink`] could not grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoMemory;

/// One extension's body (everything after its 4-byte `sadb_ext` header).
pub trait ExtBody {
    /// Body length in bytes before padding.
    fn body_len(&self) -> usize;
    /// Writes the body; `out` is `body_len()` zeroed bytes.
    fn write_body(&self, out: &mut [u8]);
}

/// Builds one PF_KEY message: the header, then extensions, each padded to
/// whole words; `finish` fixes `sadb_msg_len`.
pub struct Encoder<'s, S: ByteSink> {
    sink: &'s mut S,
    start: usize,
}

impl<'s, S: ByteSink> Encoder<'s, S> {
    /// Starts a message with header `hdr` (its `len` is set by `finish`).
    pub fn new(sink: &'s mut S, hdr: &MsgHeader) -> Result<Self, NoMemory> {
        let start = sink.written();
        sink.put(&hdr.encode())?;
        Ok(Encoder { sink, start })
    }

    /// Appends extension `ext_type` with `body`, zero-padded to a word,
    /// written where it goes (staging it in a zeroed buffer and copying
    /// it was a third of the kernel's time in a dump under TCG). Generic
    /// rather than `&dyn`, so each body's writer is inlined (a dump
    /// encodes ten extensions per message).
    pub fn ext<B: ExtBody + ?Sized>(&mut self, ext_type: u16, body: &B) -> Result<(), NoMemory> {
        let len = 4 + body.body_len();
        let padded = ext_len(body);
        let words = u16::try_from(padded / WORD).map_err(|_| NoMemory)?;
        if S::COUNTS_ONLY {
            return self.sink.count(padded);
        }
        let out = self.sink.put_zeroed(padded)?;
        out[0..2].copy_from_slice(&words.to_ne_bytes());
        out[2..4].copy_from_slice(&ext_type.to_ne_bytes());
        body.write_body(&mut out[4..len]);
        Ok(())
    }

    /// Appends extension `ext_type` made of `head` and then each of
    /// `items` (`N` bytes each, written by `write` into zeroed space),
    /// zero-padded to a word: for bodies too long to stage whole, such as
    /// an ACQUIRE's proposal of dozens of combinations.
    pub fn ext_items<T, const N: usize>(
        &mut self,
        ext_type: u16,
        head: &[u8],
        items: impl Iterator<Item = T> + Clone,
        write: impl Fn(&T, &mut [u8]),
    ) -> Result<(), NoMemory> {
        let len = 4 + head.len() + items.clone().count() * N;
        let padded = len.div_ceil(WORD) * WORD;
        let words = u16::try_from(padded / WORD).map_err(|_| NoMemory)?;
        let mut hdr = [0u8; 4];
        hdr[0..2].copy_from_slice(&words.to_ne_bytes());
        hdr[2..4].copy_from_slice(&ext_type.to_ne_bytes());
        self.sink.put(&hdr)?;
        self.sink.put(head)?;
        for it in items {
            let mut buf = [0u8; N];
            write(&it, &mut buf);
            self.sink.put(&buf)?;
        }
        self.sink.put(&[0u8; WORD][..padded - len])
    }

    /// Fixes the header's length; returns the message length in bytes.
    pub fn finish(self) -> Result<usize, NoMemory> {
        let len = self.sink.written() - self.start;
        let words = u16::try_from(len / WORD).map_err(|_| NoMemory)?;
        self.sink.patch(self.start + 4, &words.to_ne_bytes());
        Ok(len)
    }
}

/// Reads a native-endian `u16` at `at`, 0 past the end (slots were length
/// checked, so this only guards against misuse).
fn ne16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_ne_bytes([s[0], s[1]]))
}

fn ne32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

fn ne64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8).map_or(0, |s| {
        u64::from_ne_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]])
    })
}

fn be16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_be_bytes([s[0], s[1]]))
}

fn be32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn byte(b: &[u8], at: usize) -> u8 {
    b.get(at).copied().unwrap_or(0)
}

/// `struct sadb_sa`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sa {
    /// SPI, host order.
    pub spi: u32,
    /// Replay window, in packets as Linux and KAME read it.
    pub replay: u8,
    /// `SADB_SASTATE_*`
    pub state: u8,
    /// Authentication algorithm id.
    pub auth: u8,
    /// Encryption algorithm id.
    pub encrypt: u8,
    /// `SADB_SAFLAGS_*`
    pub flags: u32,
}

impl Sa {
    /// Decodes a checked `SADB_EXT_SA` slot.
    pub fn decode(ext: &[u8]) -> Sa {
        Sa {
            spi: be32(ext, 4),
            replay: byte(ext, 8),
            state: byte(ext, 9),
            auth: byte(ext, 10),
            encrypt: byte(ext, 11),
            flags: ne32(ext, 12),
        }
    }
}

impl ExtBody for Sa {
    fn body_len(&self) -> usize {
        12
    }
    fn write_body(&self, o: &mut [u8]) {
        o[0..4].copy_from_slice(&self.spi.to_be_bytes());
        o[4] = self.replay;
        o[5] = self.state;
        o[6] = self.auth;
        o[7] = self.encrypt;
        o[8..12].copy_from_slice(&self.flags.to_ne_bytes());
    }
}

/// `struct sadb_lifetime`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lifetime {
    /// Allocations (for the current lifetime: how many so far).
    pub allocations: u32,
    /// Bytes.
    pub bytes: u64,
    /// Seconds since add (hard/soft) or the add time (current).
    pub addtime: u64,
    /// Seconds since first use (hard/soft) or the first use time (current).
    pub usetime: u64,
}

impl Lifetime {
    /// Decodes a checked lifetime slot.
    pub fn decode(ext: &[u8]) -> Lifetime {
        Lifetime {
            allocations: ne32(ext, 4),
            bytes: ne64(ext, 8),
            addtime: ne64(ext, 16),
            usetime: ne64(ext, 24),
        }
    }
}

impl ExtBody for Lifetime {
    fn body_len(&self) -> usize {
        28
    }
    fn write_body(&self, o: &mut [u8]) {
        o[0..4].copy_from_slice(&self.allocations.to_ne_bytes());
        o[4..12].copy_from_slice(&self.bytes.to_ne_bytes());
        o[12..20].copy_from_slice(&self.addtime.to_ne_bytes());
        o[20..28].copy_from_slice(&self.usetime.to_ne_bytes());
    }
}

/// An IP address with what a `sockaddr` adds to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpAddr {
    /// IPv4, network byte order.
    V4([u8; 4]),
    /// IPv6, network byte order, with its scope id.
    V6([u8; 16], u32),
}

impl IpAddr {
    /// `AF_INET` or `AF_INET6`.
    pub fn family(&self) -> u16 {
        match self {
            IpAddr::V4(_) => AF_INET,
            IpAddr::V6(..) => AF_INET6,
        }
    }

    /// Address length in bits, the largest prefix length.
    pub fn bits(&self) -> u8 {
        match self {
            IpAddr::V4(_) => 32,
            IpAddr::V6(..) => 128,
        }
    }

    /// The address without an IPv6 scope id (as SAs keep addresses).
    pub fn without_scope(self) -> IpAddr {
        match self {
            IpAddr::V6(o, _) => IpAddr::V6(o, 0),
            v4 => v4,
        }
    }

    /// The address bytes.
    pub fn octets(&self) -> &[u8] {
        match self {
            IpAddr::V4(a) => a,
            IpAddr::V6(a, _) => a,
        }
    }

    /// True if all bits are zero (the wildcard).
    pub fn is_unspecified(&self) -> bool {
        self.octets().iter().all(|&b| b == 0)
    }

    /// True if the first `prefix` bits of `self` and `other` agree and both
    /// are the same family (a prefix past the address's length compares
    /// it whole; the parser refuses such prefixes). The addresses are
    /// compared as integers under a mask: the packet path asks this of
    /// every policy it tries, and a slice comparison was a `bcmp()` call.
    pub fn prefix_matches(&self, other: &IpAddr, prefix: u8) -> bool {
        match (self, other) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let diff = u32::from_be_bytes(*a) ^ u32::from_be_bytes(*b);
                diff & u32::MAX
                    .checked_shl(32 - u32::from(prefix.min(32)))
                    .unwrap_or(0)
                    == 0
            }
            (IpAddr::V6(a, _), IpAddr::V6(b, _)) => {
                let diff = u128::from_be_bytes(*a) ^ u128::from_be_bytes(*b);
                diff & u128::MAX
                    .checked_shl(128 - u32::from(prefix.min(128)))
                    .unwrap_or(0)
                    == 0
            }
            _ => false,
        }
    }
}

/// A socket address as PF_KEY carries it (`sockaddr_in`/`sockaddr_in6`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SockAddr {
    /// The address.
    pub addr: IpAddr,
    /// Port, host order (0 = any).
    pub port: u16,
}

impl SockAddr {
    /// Decodes a `sockaddr` at the start of `b` (family already checked by
    /// the extension walk); `None` for another family or short bytes.
    pub fn decode(b: &[u8]) -> Option<SockAddr> {
        let family = ne16(b, 0);
        let port = be16(b, 2);
        let addr = match family {
            AF_INET if b.len() >= SOCKADDR_IN_LEN => IpAddr::V4(b.get(4..8)?.try_into().ok()?),
            AF_INET6 if b.len() >= SOCKADDR_IN6_LEN => {
                IpAddr::V6(b.get(8..24)?.try_into().ok()?, ne32(b, 24))
            }
            _ => return None,
        };
        Some(SockAddr { addr, port })
    }

    /// Length of the `sockaddr`.
    pub fn len(&self) -> usize {
        match self.addr {
            IpAddr::V4(_) => SOCKADDR_IN_LEN,
            IpAddr::V6(..) => SOCKADDR_IN6_LEN,
        }
    }

    /// Never empty; present for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the `sockaddr` into `o` (at least `len()` zeroed bytes).
    pub fn write(&self, o: &mut [u8]) {
        o[0..2].copy_from_slice(&self.addr.family().to_ne_bytes());
        o[2..4].copy_from_slice(&self.port.to_be_bytes());
        match self.addr {
            IpAddr::V4(a) => o[4..8].copy_from_slice(&a),
            IpAddr::V6(a, scope) => {
                o[8..24].copy_from_slice(&a);
                o[24..28].copy_from_slice(&scope.to_ne_bytes());
            }
        }
    }
}

/// `struct sadb_address` with its `sockaddr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Address {
    /// Upper-layer protocol (`IPSEC_ULPROTO_ANY` is 255).
    pub proto: u8,
    /// Prefix length.
    pub prefixlen: u8,
    /// The address and port.
    pub sa: SockAddr,
}

impl Address {
    /// Decodes a checked address slot.
    pub fn decode(ext: &[u8]) -> Option<Address> {
        Some(Address {
            proto: byte(ext, 4),
            prefixlen: byte(ext, 5),
            sa: SockAddr::decode(ext.get(8..)?)?,
        })
    }
}

impl ExtBody for Address {
    fn body_len(&self) -> usize {
        4 + self.sa.len()
    }
    fn write_body(&self, o: &mut [u8]) {
        o[0] = self.proto;
        o[1] = self.prefixlen;
        self.sa.write(&mut o[4..]);
    }
}

/// `struct sadb_key` and its key bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key<'a> {
    /// Key length in bits.
    pub bits: u16,
    /// The key, `bits` rounded up to bytes.
    pub key: &'a [u8],
}

impl<'a> Key<'a> {
    /// Decodes a checked key slot (the walk proved the bits fit).
    pub fn decode(ext: &'a [u8]) -> Key<'a> {
        let bits = ne16(ext, 4);
        let n = usize::from(bits).div_ceil(8);
        Key {
            bits,
            key: ext.get(8..8 + n).unwrap_or(&[]),
        }
    }
}

impl ExtBody for Key<'_> {
    fn body_len(&self) -> usize {
        4 + self.key.len()
    }
    fn write_body(&self, o: &mut [u8]) {
        o[0..2].copy_from_slice(&self.bits.to_ne_bytes());
        o[4..4 + self.key.len()].copy_from_slice(self.key);
    }
}

/// `struct sadb_spirange`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpiRange {
    /// Lowest SPI, host order.
    pub min: u32,
    /// Highest SPI, host order.
    pub max: u32,
}

impl SpiRange {
    /// Decodes a checked spirange slot.
    pub fn decode(ext: &[u8]) -> SpiRange {
        SpiRange {
            min: ne32(ext, 4),
            max: ne32(ext, 8),
        }
    }
}

impl ExtBody for SpiRange {
    fn body_len(&self) -> usize {
        12
    }
    fn write_body(&self, o: &mut [u8]) {
        o[0..4].copy_from_slice(&self.min.to_ne_bytes());
        o[4..8].copy_from_slice(&self.max.to_ne_bytes());
    }
}

/// `struct sadb_x_sa2`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sa2 {
    /// `IPSEC_MODE_*`
    pub mode: u8,
    /// Sequence: an SA's last outbound sequence number (FreeBSD; af_key
    /// ignores it).
    pub sequence: u32,
    /// Request id binding SAs to policies.
    pub reqid: u32,
}

impl Sa2 {
    /// Decodes a checked sa2 slot.
    pub fn decode(ext: &[u8]) -> Sa2 {
        Sa2 {
            mode: byte(ext, 4),
            sequence: ne32(ext, 8),
            reqid: ne32(ext, 12),
        }
    }
}

impl ExtBody for Sa2 {
    fn body_len(&self) -> usize {
        12
    }
    fn write_body(&self, o: &mut [u8]) {
        o[0] = self.mode;
        o[4..8].copy_from_slice(&self.sequence.to_ne_bytes());
        o[8..12].copy_from_slice(&self.reqid.to_ne_bytes());
    }
}

/// `struct sadb_x_policy`, without its requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// `IPSEC_POLICY_*`
    pub ty: u16,
    /// `IPSEC_DIR_*`
    pub dir: u8,
    /// Policy id.
    pub id: u32,
    /// Priority (lower wins).
    pub priority: u32,
}

/// Length of `struct sadb_x_policy`.
pub const POLICY_LEN: usize = 16;
/// Length of `struct sadb_x_ipsecrequest`.
pub const IPSECREQUEST_LEN: usize = 16;

impl Policy {
    /// Decodes the fixed part of a checked policy slot.
    pub fn decode(ext: &[u8]) -> Policy {
        Policy {
            ty: ne16(ext, 4),
            dir: byte(ext, 6),
            id: ne32(ext, 8),
            priority: ne32(ext, 12),
        }
    }

    /// The bytes after the fixed part: the `sadb_x_ipsecrequest`s.
    pub fn requests(ext: &[u8]) -> &[u8] {
        ext.get(POLICY_LEN..).unwrap_or(&[])
    }

    /// The body length of a policy extension with `requests`.
    pub fn body_len_with(requests: impl Iterator<Item = IpsecRequest>) -> usize {
        12 + requests.map(|r| r.len()).sum::<usize>()
    }

    /// Writes a policy extension's body: this fixed part, then `requests`
    /// made one at a time (no array of them copied around), into `o`,
    /// [`Policy::body_len_with`] zeroed bytes.
    pub fn write_body_with(&self, requests: impl Iterator<Item = IpsecRequest>, o: &mut [u8]) {
        o[0..2].copy_from_slice(&self.ty.to_ne_bytes());
        o[2] = self.dir;
        o[4..8].copy_from_slice(&self.id.to_ne_bytes());
        o[8..12].copy_from_slice(&self.priority.to_ne_bytes());
        let mut at = 12;
        for r in requests {
            let n = r.len();
            r.write(&mut o[at..at + n]);
            at += n;
        }
    }
}

/// A policy extension with its requests, for encoding.
pub struct PolicyWithRequests<'a> {
    /// The fixed part.
    pub policy: Policy,
    /// The requests, in order.
    pub requests: &'a [IpsecRequest],
}

impl ExtBody for PolicyWithRequests<'_> {
    fn body_len(&self) -> usize {
        Policy::body_len_with(self.requests.iter().copied())
    }
    fn write_body(&self, o: &mut [u8]) {
        self.policy
            .write_body_with(self.requests.iter().copied(), o);
    }
}

/// `struct sadb_x_ipsecrequest` with its optional tunnel endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpsecRequest {
    /// `IPPROTO_ESP`, `IPPROTO_AH` or `IPPROTO_COMP`.
    pub proto: u16,
    /// `IPSEC_MODE_*`
    pub mode: u8,
    /// `IPSEC_LEVEL_*`
    pub level: u8,
    /// Request id.
    pub reqid: u32,
    /// Tunnel endpoints (source, destination).
    pub tunnel: Option<(SockAddr, SockAddr)>,
}

/// Why a policy's request list was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// A request shorter than its fixed part, or longer than what is left.
    Length,
    /// Endpoints whose families disagree or are unknown.
    Address,
}

impl IpsecRequest {
    /// Encoded length: the fixed part, the endpoints, padded to a word.
    pub fn len(&self) -> usize {
        let addrs = self.tunnel.map_or(0, |(s, d)| s.len() + d.len());
        (IPSECREQUEST_LEN + addrs).div_ceil(WORD) * WORD
    }

    /// Never empty; present for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        false
    }

    fn write(&self, o: &mut [u8]) {
        let len = u16::try_from(o.len()).unwrap_or(u16::MAX);
        o[0..2].copy_from_slice(&len.to_ne_bytes());
        o[2..4].copy_from_slice(&self.proto.to_ne_bytes());
        o[4] = self.mode;
        o[5] = self.level;
        o[8..12].copy_from_slice(&self.reqid.to_ne_bytes());
        if let Some((s, d)) = self.tunnel {
            s.write(&mut o[IPSECREQUEST_LEN..]);
            d.write(&mut o[IPSECREQUEST_LEN + s.len()..]);
        }
    }

    /// Decodes the request at the start of `b`; returns it and its length.
    /// Endpoints are read when the request is long enough to hold two
    /// `sockaddr`s of one family.
    pub fn decode(b: &[u8]) -> Result<(IpsecRequest, usize), RequestError> {
        let len = usize::from(ne16(b, 0));
        if b.len() < IPSECREQUEST_LEN || len < IPSECREQUEST_LEN || len > b.len() {
            return Err(RequestError::Length);
        }
        let body = &b[IPSECREQUEST_LEN..len];
        let tunnel = if body.is_empty() {
            None
        } else {
            let s = SockAddr::decode(body).ok_or(RequestError::Address)?;
            let d =
                SockAddr::decode(&body[s.len().min(body.len())..]).ok_or(RequestError::Address)?;
            if s.addr.family() != d.addr.family() {
                return Err(RequestError::Address);
            }
            Some((s, d))
        };
        let req = IpsecRequest {
            proto: ne16(b, 2),
            mode: byte(b, 4),
            level: byte(b, 5),
            reqid: ne32(b, 8),
            tunnel,
        };
        Ok((req, len))
    }
}

/// `struct sadb_x_nat_t_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NatTType(pub u8);

impl NatTType {
    /// Decodes a checked slot.
    pub fn decode(ext: &[u8]) -> NatTType {
        NatTType(byte(ext, 4))
    }
}

impl ExtBody for NatTType {
    fn body_len(&self) -> usize {
        4
    }
    fn write_body(&self, o: &mut [u8]) {
        o[0] = self.0;
    }
}

/// `struct sadb_x_nat_t_port`, port in host order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NatTPort(pub u16);

impl NatTPort {
    /// Decodes a checked slot.
    pub fn decode(ext: &[u8]) -> NatTPort {
        NatTPort(be16(ext, 4))
    }
}

impl ExtBody for NatTPort {
    fn body_len(&self) -> usize {
        4
    }
    fn write_body(&self, o: &mut [u8]) {
        o[0..2].copy_from_slice(&self.0.to_be_bytes());
    }
}

/// `struct sadb_alg`: one algorithm of a `SADB_EXT_SUPPORTED_*` list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alg {
    /// Algorithm id.
    pub id: u8,
    /// IV length in bytes.
    pub ivlen: u8,
    /// Smallest key in bits.
    pub min_bits: u16,
    /// Largest key in bits.
    pub max_bits: u16,
}

/// Length of `struct sadb_alg`.
pub const ALG_LEN: usize = 8;

impl Alg {
    /// Decodes the `index`th algorithm of a supported slot.
    pub fn decode_nth(ext: &[u8], index: usize) -> Option<Alg> {
        let at = 8 + index * ALG_LEN;
        let b = ext.get(at..at + ALG_LEN)?;
        Some(Alg {
            id: b[0],
            ivlen: b[1],
            min_bits: ne16(b, 2),
            max_bits: ne16(b, 4),
        })
    }
}

/// `struct sadb_supported` and its algorithms.
pub struct Supported<'a>(pub &'a [Alg]);

impl ExtBody for Supported<'_> {
    fn body_len(&self) -> usize {
        4 + self.0.len() * ALG_LEN
    }
    fn write_body(&self, o: &mut [u8]) {
        for (i, a) in self.0.iter().enumerate() {
            let b = &mut o[4 + i * ALG_LEN..4 + (i + 1) * ALG_LEN];
            b[0] = a.id;
            b[1] = a.ivlen;
            b[2..4].copy_from_slice(&a.min_bits.to_ne_bytes());
            b[4..6].copy_from_slice(&a.max_bits.to_ne_bytes());
        }
    }
}

/// `struct sadb_comb`: one proposal of an ACQUIRE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Comb {
    /// Authentication algorithm id.
    pub auth: u8,
    /// Encryption algorithm id.
    pub encrypt: u8,
    /// Flags.
    pub flags: u16,
    /// Authentication key bits, least.
    pub auth_min_bits: u16,
    /// Authentication key bits, most.
    pub auth_max_bits: u16,
    /// Encryption key bits, least.
    pub encrypt_min_bits: u16,
    /// Encryption key bits, most.
    pub encrypt_max_bits: u16,
    /// Soft allocations.
    pub soft_allocations: u32,
    /// Hard allocations.
    pub hard_allocations: u32,
    /// Soft bytes.
    pub soft_bytes: u64,
    /// Hard bytes.
    pub hard_bytes: u64,
    /// Soft seconds after add.
    pub soft_addtime: u64,
    /// Hard seconds after add.
    pub hard_addtime: u64,
    /// Soft seconds after first use.
    pub soft_usetime: u64,
    /// Hard seconds after first use.
    pub hard_usetime: u64,
}

/// Length of `struct sadb_comb`.
pub const COMB_LEN: usize = 72;

impl Comb {
    pub(crate) fn write(&self, b: &mut [u8]) {
        b[0] = self.auth;
        b[1] = self.encrypt;
        b[2..4].copy_from_slice(&self.flags.to_ne_bytes());
        b[4..6].copy_from_slice(&self.auth_min_bits.to_ne_bytes());
        b[6..8].copy_from_slice(&self.auth_max_bits.to_ne_bytes());
        b[8..10].copy_from_slice(&self.encrypt_min_bits.to_ne_bytes());
        b[10..12].copy_from_slice(&self.encrypt_max_bits.to_ne_bytes());
        b[16..20].copy_from_slice(&self.soft_allocations.to_ne_bytes());
        b[20..24].copy_from_slice(&self.hard_allocations.to_ne_bytes());
        b[24..32].copy_from_slice(&self.soft_bytes.to_ne_bytes());
        b[32..40].copy_from_slice(&self.hard_bytes.to_ne_bytes());
        b[40..48].copy_from_slice(&self.soft_addtime.to_ne_bytes());
        b[48..56].copy_from_slice(&self.hard_addtime.to_ne_bytes());
        b[56..64].copy_from_slice(&self.soft_usetime.to_ne_bytes());
        b[64..72].copy_from_slice(&self.hard_usetime.to_ne_bytes());
    }

    /// Decodes the `index`th combination of a proposal slot.
    pub fn decode_nth(ext: &[u8], index: usize) -> Option<Comb> {
        let at = 8 + index * COMB_LEN;
        let b = ext.get(at..at + COMB_LEN)?;
        Some(Comb {
            auth: b[0],
            encrypt: b[1],
            flags: ne16(b, 2),
            auth_min_bits: ne16(b, 4),
            auth_max_bits: ne16(b, 6),
            encrypt_min_bits: ne16(b, 8),
            encrypt_max_bits: ne16(b, 10),
            soft_allocations: ne32(b, 16),
            hard_allocations: ne32(b, 20),
            soft_bytes: ne64(b, 24),
            hard_bytes: ne64(b, 32),
            soft_addtime: ne64(b, 40),
            hard_addtime: ne64(b, 48),
            soft_usetime: ne64(b, 56),
            hard_usetime: ne64(b, 64),
        })
    }
}

/// `struct sadb_prop` and its combinations.
pub struct Proposal<'a> {
    /// Replay window.
    pub replay: u8,
    /// Combinations, most preferred first.
    pub combs: &'a [Comb],
}

impl ExtBody for Proposal<'_> {
    fn body_len(&self) -> usize {
        4 + self.combs.len() * COMB_LEN
    }
    fn write_body(&self, o: &mut [u8]) {
        o[0] = self.replay;
        for (i, c) in self.combs.iter().enumerate() {
            c.write(&mut o[4 + i * COMB_LEN..4 + (i + 1) * COMB_LEN]);
        }
    }
}

/// Raw bytes as an extension body (an extension echoed as received).
pub struct Raw<'a>(pub &'a [u8]);

impl ExtBody for Raw<'_> {
    fn body_len(&self) -> usize {
        self.0.len()
    }
    fn write_body(&self, o: &mut [u8]) {
        // A zip, not `copy_from_slice`: no panic path to fall into.
        for (d, s) in o.iter_mut().zip(self.0) {
            *d = *s;
        }
    }
}

/// Splits a message into its header and extension bytes for readers of
/// replies (the tools): `None` if shorter than a header.
pub fn split(msg: &[u8]) -> Option<(MsgHeader, &[u8])> {
    Some((MsgHeader::decode(msg)?, msg.get(SADB_MSG_LEN..)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kame_core::pfkey::ext::Exts;
    use std::vec::Vec;

    // The test sink every core test module encodes into.
    impl ByteSink for Vec<u8> {
        fn put(&mut self, bytes: &[u8]) -> Result<(), NoMemory> {
            self.extend_from_slice(bytes);
            Ok(())
        }
        fn put_zeroed(&mut self, n: usize) -> Result<&mut [u8], NoMemory> {
            let at = self.len();
            self.resize(at + n, 0);
            Ok(&mut self[at..])
        }
        fn patch(&mut self, at: usize, bytes: &[u8]) {
            self[at..at + bytes.len()].copy_from_slice(bytes);
        }
        fn written(&self) -> usize {
            self.len()
        }
    }

    #[test]
    fn a_slice_sink_hands_out_its_bytes_once_and_never_grows() {
        let mut buf = [0u8; 16];
        let mut s = SliceSink::new(&mut buf);
        s.put(&[1, 2, 3, 4]).unwrap();
        assert_eq!(s.put_zeroed(8).unwrap(), &[0u8; 8][..]);
        // Only what was written can be patched.
        s.patch(2, &[9, 9]);
        s.patch(11, &[7, 7]);
        assert_eq!(s.written(), 12);
        assert!(!s.is_full());
        assert_eq!(s.put_zeroed(5), Err(NoMemory));
        s.put(&[5; 4]).unwrap();
        assert!(s.is_full());
        assert_eq!(s.put(&[6]), Err(NoMemory));
        assert_eq!(buf, [1, 2, 9, 9, 0, 0, 0, 0, 0, 0, 0, 0, 5, 5, 5, 5]);
    }

    fn hdr() -> MsgHeader {
        MsgHeader {
            version: 2,
            msg_type: 3,
            satype: 3,
            seq: 9,
            pid: 4,
            ..Default::default()
        }
    }

    #[test]
    fn an_sa_message_round_trips_through_the_walk() {
        let mut v = Vec::new();
        let key = [0xabu8; 20];
        let src = Address {
            proto: 255,
            prefixlen: 32,
            sa: SockAddr {
                addr: IpAddr::V4([10, 0, 0, 1]),
                port: 0,
            },
        };
        let dst = Address {
            proto: 255,
            prefixlen: 128,
            sa: SockAddr {
                addr: IpAddr::V6([0xfe; 16], 3),
                port: 500,
            },
        };
        let sa = Sa {
            spi: 0x1234_5678,
            replay: 32,
            state: 1,
            auth: 3,
            encrypt: 12,
            flags: 0,
        };
        let mut e = Encoder::new(&mut v, &hdr()).unwrap();
        e.ext(ext_type::SA, &sa).unwrap();
        e.ext(ext_type::ADDRESS_SRC, &src).unwrap();
        e.ext(ext_type::ADDRESS_DST, &dst).unwrap();
        let k = Key {
            bits: 160,
            key: &key,
        };
        e.ext(ext_type::KEY_AUTH, &k).unwrap();
        let len = e.finish().unwrap();
        assert_eq!(len, v.len());
        // 16 header + 16 sa + 24 + 40 addresses + 32 key.
        assert_eq!(len, 128);
        assert_eq!(u16::from_ne_bytes([v[4], v[5]]), 16);
        // SPI in network order on the wire.
        assert_eq!(&v[20..24], &[0x12, 0x34, 0x56, 0x78]);
        let x = Exts::parse(&v).unwrap();
        assert_eq!(Sa::decode(x.get(ext_type::SA).unwrap()), sa);
        assert_eq!(
            Address::decode(x.get(ext_type::ADDRESS_SRC).unwrap()),
            Some(src)
        );
        assert_eq!(
            Address::decode(x.get(ext_type::ADDRESS_DST).unwrap()),
            Some(dst)
        );
        assert_eq!(Key::decode(x.get(ext_type::KEY_AUTH).unwrap()), k);
    }

    #[test]
    fn key_padding_is_zero_on_the_small_and_the_large_path() {
        for n in [1usize, 55, 56, 57, 63] {
            let key = std::vec![0xffu8; n];
            let mut v = Vec::new();
            let mut e = Encoder::new(&mut v, &hdr()).unwrap();
            let k = Key {
                bits: (n * 8) as u16,
                key: &key,
            };
            e.ext(ext_type::KEY_AUTH, &k).unwrap();
            e.finish().unwrap();
            let ext = &v[16..];
            assert_eq!(ext.len(), (8 + n).div_ceil(8) * 8, "{n} bytes");
            assert_eq!(&ext[8..8 + n], &key[..]);
            assert!(ext[8 + n..].iter().all(|&b| b == 0), "{n} bytes");
            assert_eq!(Key::decode(ext), k);
        }
    }

    #[test]
    fn a_policy_with_a_tunnel_request_round_trips() {
        let t = (
            SockAddr {
                addr: IpAddr::V4([192, 0, 2, 1]),
                port: 0,
            },
            SockAddr {
                addr: IpAddr::V4([192, 0, 2, 2]),
                port: 0,
            },
        );
        let reqs = [
            IpsecRequest {
                proto: 50,
                mode: 2,
                level: 2,
                reqid: 0,
                tunnel: Some(t),
            },
            IpsecRequest {
                proto: 51,
                mode: 1,
                level: 3,
                reqid: 7,
                tunnel: None,
            },
        ];
        let pol = PolicyWithRequests {
            policy: Policy {
                ty: 2,
                dir: 2,
                id: 0,
                priority: 0x8000_0000,
            },
            requests: &reqs,
        };
        let mut v = Vec::new();
        let mut e = Encoder::new(&mut v, &hdr()).unwrap();
        e.ext(ext_type::X_POLICY, &pol).unwrap();
        e.finish().unwrap();
        let x = Exts::parse(&v).unwrap();
        let slot = x.get(ext_type::X_POLICY).unwrap();
        assert_eq!(Policy::decode(slot), pol.policy);
        let mut rest = Policy::requests(slot);
        let mut got = Vec::new();
        while !rest.is_empty() {
            let (r, n) = IpsecRequest::decode(rest).unwrap();
            got.push(r);
            rest = &rest[n..];
        }
        assert_eq!(got, reqs);
        assert_eq!(reqs[0].len(), 48);
    }

    #[test]
    fn bad_requests_are_refused() {
        assert_eq!(
            IpsecRequest::decode(&[8, 0, 50, 0]),
            Err(RequestError::Length)
        );
        let mut r = [0u8; 16];
        r[0] = 24;
        assert_eq!(IpsecRequest::decode(&r), Err(RequestError::Length));
        let mut r = [0u8; 24];
        r[0] = 24;
        r[16] = 99;
        assert_eq!(IpsecRequest::decode(&r), Err(RequestError::Address));
    }

    #[test]
    fn prefixes_match_bitwise() {
        let a = IpAddr::V4([10, 1, 2, 3]);
        assert!(a.prefix_matches(&IpAddr::V4([10, 1, 255, 0]), 16));
        assert!(!a.prefix_matches(&IpAddr::V4([10, 1, 255, 0]), 17));
        assert!(a.prefix_matches(&IpAddr::V4([10, 1, 2, 0]), 30 - 6));
        assert!(a.prefix_matches(&IpAddr::V4([10, 1, 3, 0]), 23));
        assert!(!a.prefix_matches(&IpAddr::V4([10, 1, 3, 0]), 24));
        assert!(a.prefix_matches(&IpAddr::V4([0; 4]), 0));
        assert!(!a.prefix_matches(&IpAddr::V6([0; 16], 0), 0));
    }

    /// Bit by bit, as RFC 4291 2.3 and RFC 4632 3.1 read a prefix.
    fn prefix_bits_agree(a: &[u8], b: &[u8], prefix: u8) -> bool {
        (0..usize::from(prefix)).all(|i| (a[i / 8] ^ b[i / 8]) & (0x80 >> (i % 8)) == 0)
    }

    #[test]
    fn prefixes_match_as_bit_by_bit_for_every_length() {
        // Pairs that differ in one bit, in several bits, or not at all, at
        // every position: the masked comparison must agree with the
        // bit-by-bit reading for every prefix length of the family.
        let base: [u8; 16] = [
            0x20, 0x01, 0x0d, 0xb8, 0x85, 0xa3, 0x08, 0xd3, 0x13, 0x19, 0x8a, 0x2e, 0x03, 0x70,
            0x73, 0x44,
        ];
        for bit in 0..=128usize {
            let mut other = base;
            if bit < 128 {
                other[bit / 8] ^= 0x80 >> (bit % 8);
            }
            let mut far = other;
            far[15] ^= 0xff;
            for b in [other, far] {
                for prefix in 0..=128u8 {
                    let (x, y) = (IpAddr::V6(base, 0), IpAddr::V6(b, 7));
                    assert_eq!(
                        x.prefix_matches(&y, prefix),
                        prefix_bits_agree(&base, &b, prefix),
                        "v6 bit {bit} prefix {prefix}"
                    );
                }
                let (a4, b4): ([u8; 4], [u8; 4]) =
                    (base[..4].try_into().unwrap(), b[..4].try_into().unwrap());
                for prefix in 0..=32u8 {
                    assert_eq!(
                        IpAddr::V4(a4).prefix_matches(&IpAddr::V4(b4), prefix),
                        prefix_bits_agree(&a4, &b4, prefix),
                        "v4 bit {bit} prefix {prefix}"
                    );
                }
            }
        }
        // Families never match, whatever the prefix.
        assert!(!IpAddr::V6([0; 16], 0).prefix_matches(&IpAddr::V4([0; 4]), 0));
    }
}
