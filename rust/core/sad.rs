// SPDX-License-Identifier: GPL-2.0

//! Security associations as PF_KEY describes them: the record an SADB_ADD,
//! SADB_UPDATE or SADB_GETSPI creates, its checks (af_key's
//! `pfkey_msg2xfrm_state()` order and errnos, plus our own where af_key
//! falls short), and the message that describes it back.
//!
//! The record is plain data; the module keeps records in its SAD tables.

mod expiry;
mod filter;
mod usage;

pub use expiry::Expiry;
pub use filter::AddrFilter;
pub use usage::{seq_exhausted, Usage};

use crate::kame_core::{
    algs::{self, EncKind, AALG_NULL, EALG_NULL},
    errno::Errno,
    pfkey::{
        ext::Exts,
        wire::{
            ext_type as et, Address, ByteSink, Describe, Encoder, IpAddr, Key, Lifetime, NatTPort,
            NatTType, NoMemory, Sa, Sa2, SockAddr,
        },
        MsgHeader,
    },
};

/// `SADB_SATYPE_UNSPEC`
pub const SATYPE_UNSPEC: u8 = 0;
/// `SADB_SATYPE_AH`
pub const SATYPE_AH: u8 = 2;
/// `SADB_SATYPE_ESP`
pub const SATYPE_ESP: u8 = 3;
/// `SADB_X_SATYPE_IPCOMP`
pub const SATYPE_IPCOMP: u8 = 9;
/// `SADB_SATYPE_MAX`
pub const SATYPE_MAX: u8 = 9;

pub use crate::kame_core::flow::{IPPROTO_AH, IPPROTO_ESP};
/// `IPPROTO_COMP`
pub const IPPROTO_COMP: u8 = 108;
/// `IPSEC_PROTO_ANY`: every protocol (flush and dump of SATYPE_UNSPEC).
pub const PROTO_ANY: u8 = 255;

/// `IPSEC_MODE_ANY`
pub const MODE_ANY: u8 = 0;
/// `IPSEC_MODE_TRANSPORT`
pub const MODE_TRANSPORT: u8 = 1;
/// `IPSEC_MODE_TUNNEL`
pub const MODE_TUNNEL: u8 = 2;
/// `IPSEC_MODE_BEET`
pub const MODE_BEET: u8 = 3;

/// The lowest SPI we hand out or accept: 1-255 are reserved by IANA
/// (RFC 4303 section 2.1), 0 means none.
pub const SPI_MIN: u32 = 256;
/// `UDP_ENCAP_ESPINUDP`, the NAT-T type af_key's ESP accepts.
pub const NATT_ESPINUDP: u8 = 2;
/// af_key's GETSPI range when the request names none.
pub const GETSPI_DEFAULT: (u32, u32) = (0x100, 0x0fff_ffff);
/// Seconds a larval SA from GETSPI lives (Linux's `xfrm_acq_expires`).
pub const LARVAL_LIFETIME: u64 = 30;

/// The protocol an SA type stands for: `None` for types PF_KEY knows but
/// IPsec does not use; [`PROTO_ANY`] for `SADB_SATYPE_UNSPEC`.
pub fn satype_to_proto(satype: u8) -> Option<u8> {
    match satype {
        SATYPE_UNSPEC => Some(PROTO_ANY),
        SATYPE_AH => Some(IPPROTO_AH),
        SATYPE_ESP => Some(IPPROTO_ESP),
        SATYPE_IPCOMP => Some(IPPROTO_COMP),
        _ => None,
    }
}

/// The SA type of a protocol.
pub fn proto_to_satype(proto: u8) -> u8 {
    match proto {
        IPPROTO_AH => SATYPE_AH,
        IPPROTO_ESP => SATYPE_ESP,
        IPPROTO_COMP => SATYPE_IPCOMP,
        _ => SATYPE_UNSPEC,
    }
}

/// The mode an SA keeps for a `sadb_x_sa2` mode: ANY is transport, as
/// af_key stores it; `None` for unknown modes.
pub fn canonical_mode(mode: u8) -> Option<u8> {
    match mode {
        MODE_ANY | MODE_TRANSPORT => Some(MODE_TRANSPORT),
        MODE_TUNNEL | MODE_BEET => Some(mode),
        _ => None,
    }
}

/// `SADB_SASTATE_*`
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SaState {
    /// Created by GETSPI, waiting for UPDATE.
    Larval = 0,
    /// Usable.
    Mature = 1,
    /// Past its soft lifetime.
    Dying = 2,
    /// Deleted or past its hard lifetime.
    Dead = 3,
}

/// The longest key we keep: 512 bits (HMAC-SHA-512).
pub const MAX_KEY_BYTES: usize = 64;

/// Key material, wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyBytes {
    bits: u16,
    len: u8,
    buf: [u8; MAX_KEY_BYTES],
}

impl core::fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "KeyBytes({} bits)", self.bits)
    }
}

impl KeyBytes {
    /// Copies a decoded key; EINVAL if longer than [`MAX_KEY_BYTES`].
    pub fn new(key: &Key<'_>) -> Result<KeyBytes, Errno> {
        let mut buf = [0u8; MAX_KEY_BYTES];
        let n = key.key.len();
        buf.get_mut(..n)
            .ok_or(Errno::EINVAL)?
            .copy_from_slice(key.key);
        Ok(KeyBytes {
            bits: key.bits,
            len: u8::try_from(n).map_err(|_| Errno::EINVAL)?,
            buf,
        })
    }

    /// The key as a wire extension.
    pub fn as_key(&self) -> Key<'_> {
        Key {
            bits: self.bits,
            key: &self.buf[..usize::from(self.len)],
        }
    }

    /// Key length in bits.
    pub fn bits(&self) -> u16 {
        self.bits
    }
}

impl Drop for KeyBytes {
    fn drop(&mut self) {
        // Keys do not outlive their SA in freed memory.
        self.buf.iter_mut().for_each(|b| *b = 0);
    }
}

/// An SA's identity in the SAD: (destination, SPI, protocol).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SaId {
    /// Destination address.
    pub dst: IpAddr,
    /// SPI, host order.
    pub spi: u32,
    /// `IPPROTO_ESP`, `IPPROTO_AH` or `IPPROTO_COMP`.
    pub proto: u8,
}

/// NAT-T encapsulation of an SA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NatT {
    /// `UDP_ENCAP_ESPINUDP` (2) and friends.
    pub ty: u8,
    /// Source port, host order.
    pub sport: u16,
    /// Destination port, host order.
    pub dport: u16,
}

/// One security association.
#[derive(Clone, Debug)]
pub struct SaRecord {
    /// Identity in the SAD.
    pub id: SaId,
    /// Source address.
    pub src: IpAddr,
    /// State.
    pub state: SaState,
    /// Replay window in packets.
    pub replay: u8,
    /// `SADB_SAFLAGS_*` kept (NOECN, DECAP_DSCP, NOPMTUDISC).
    pub flags: u32,
    /// Authentication algorithm id (0 none).
    pub auth: u8,
    /// Encryption (or compression) algorithm id (0 none).
    pub encrypt: u8,
    /// Authentication key.
    pub auth_key: Option<KeyBytes>,
    /// Encryption key.
    pub enc_key: Option<KeyBytes>,
    /// `IPSEC_MODE_TRANSPORT`, `_TUNNEL` or `_BEET`.
    pub mode: u8,
    /// Request id.
    pub reqid: u32,
    /// Hard limits (0 = none).
    pub hard: Lifetime,
    /// Soft limits (0 = none).
    pub soft: Lifetime,
    /// Use so far: allocations, bytes, add time and first use (seconds
    /// since the epoch).
    pub current: Lifetime,
    /// Proxy (inner source) selector, when given and unlike `src`.
    pub proxy: Option<Address>,
    /// NAT-T encapsulation.
    pub natt: Option<NatT>,
    /// `sadb_msg_seq` of the message that made it (matches ACQUIRE/GETSPI).
    pub seq: u32,
    /// The last outbound sequence number sent: what `sadb_x_sa2_sequence`
    /// of the ADD (or of the UPDATE completing a larval SA) gave, where
    /// the counter starts; in a reply, the counter as the data path left
    /// it. FreeBSD reports it there; af_key ignores the field and sends 0.
    pub out_seq: u64,
}

/// FreeBSD's `SADB_X_SAFLAGS_ESN` (setkey `-f esn`): 64-bit extended
/// sequence numbers (RFC 4303 2.2.1). Linux's PF_KEY has no such flag; af_key
/// drops it.
pub const SAFLAGS_ESN: u32 = 0x400;

/// The SA flags kept: af_key's, and ESN.
const KEPT_FLAGS: u32 = 0x2000_0000 | 0x4000_0000 | 0x8000_0000 | SAFLAGS_ESN;

/// Both addresses, present and of one known family (af_key's
/// `present_and_same_family()`).
pub fn address_pair(exts: &Exts<'_>) -> Result<(Address, Address), Errno> {
    let src = exts.get(et::ADDRESS_SRC).and_then(Address::decode);
    let dst = exts.get(et::ADDRESS_DST).and_then(Address::decode);
    match (src, dst) {
        (Some(s), Some(d)) if s.sa.addr.family() == d.sa.addr.family() => Ok((s, d)),
        _ => Err(Errno::EINVAL),
    }
}

/// An address as the SAD keeps it: no port, no scope.
fn bare(a: &Address) -> IpAddr {
    match a.sa.addr {
        IpAddr::V6(o, _) => IpAddr::V6(o, 0),
        v4 => v4,
    }
}

/// The protocol of `satype` for a message that names one SA type; EINVAL
/// for UNSPEC and unknown types.
pub fn proto_of(satype: u8) -> Result<u8, Errno> {
    match satype_to_proto(satype) {
        Some(PROTO_ANY) | None => Err(Errno::EINVAL),
        Some(p) => Ok(p),
    }
}

/// The identity an SA ext and the destination address of a DELETE or GET
/// name: EINVAL without them, ESRCH for an SA type that names no protocol
/// (nothing can match it), as af_key.
pub fn lookup_id(hdr: &MsgHeader, exts: &Exts<'_>) -> Result<SaId, Errno> {
    let sa = exts.get(et::SA).map(Sa::decode).ok_or(Errno::EINVAL)?;
    let (_, dst) = address_pair(exts)?;
    let proto = satype_to_proto(hdr.satype).ok_or(Errno::ESRCH)?;
    Ok(SaId {
        dst: bare(&dst),
        spi: sa.spi,
        proto,
    })
}

impl SaRecord {
    /// Builds the SA an SADB_ADD or SADB_UPDATE describes, checking it in
    /// af_key's order; `now` is the time in seconds for `current.addtime`.
    pub fn from_msg(hdr: &MsgHeader, exts: &Exts<'_>, now: u64) -> Result<SaRecord, Errno> {
        Self::from_msg_into(hdr, exts, now, |rec| rec)
    }

    /// As [`SaRecord::from_msg`], handing the record to `place` as it is
    /// built, so that the caller can have it written straight where it
    /// will stay (a record is 360 bytes).
    pub fn from_msg_into<T>(
        hdr: &MsgHeader,
        exts: &Exts<'_>,
        now: u64,
        place: impl FnOnce(SaRecord) -> T,
    ) -> Result<T, Errno> {
        let sa = exts.get(et::SA).map(Sa::decode).ok_or(Errno::EINVAL)?;
        let (src, dst) = address_pair(exts)?;
        let auth_key = exts.get(et::KEY_AUTH).map(Key::decode);
        let enc_key = exts.get(et::KEY_ENCRYPT).map(Key::decode);
        if hdr.satype == SATYPE_ESP && enc_key.is_none() {
            return Err(Errno::EINVAL);
        }
        if hdr.satype == SATYPE_AH && auth_key.is_none() {
            return Err(Errno::EINVAL);
        }
        let hard = exts.get(et::LIFETIME_HARD).map(Lifetime::decode);
        let soft = exts.get(et::LIFETIME_SOFT).map(Lifetime::decode);
        if hard.is_some() != soft.is_some() {
            return Err(Errno::EINVAL);
        }
        // UNSPEC passes here and fails below, as af_key's xfrm_init_state().
        let proto = satype_to_proto(hdr.satype).ok_or(Errno::EINVAL)?;
        if sa.auth > AALG_NULL
            || (hdr.satype == SATYPE_IPCOMP && sa.encrypt > 4)
            || sa.encrypt > 253
        {
            return Err(Errno::EINVAL);
        }
        if matches!(auth_key, Some(k) if sa.auth != AALG_NULL && k.bits == 0)
            || matches!(enc_key, Some(k) if sa.encrypt != EALG_NULL && k.bits == 0)
        {
            return Err(Errno::EINVAL);
        }
        check_algorithms(hdr.satype, &sa, auth_key.as_ref(), enc_key.as_ref())?;
        let (mode, reqid, out_seq) = match exts.get(et::X_SA2).map(Sa2::decode) {
            Some(s) => (
                canonical_mode(s.mode).ok_or(Errno::EINVAL)?,
                s.reqid,
                s.sequence,
            ),
            None => (MODE_TRANSPORT, 0, 0),
        };
        if proto == PROTO_ANY {
            return Err(Errno::EPROTONOSUPPORT);
        }
        let proxy_family = exts
            .get(et::ADDRESS_PROXY)
            .and_then(Address::decode)
            .map(|p| bare(&p).family());
        if mode == MODE_TRANSPORT && proxy_family.is_some_and(|f| f != bare(&src).family()) {
            return Err(Errno::EPROTONOSUPPORT);
        }
        // ESP in UDP (type 2) is the only encapsulation, and only for ESP.
        if let Some(t) = exts.get(et::X_NAT_T_TYPE) {
            if proto != IPPROTO_ESP || NatTType::decode(t).0 != NATT_ESPINUDP {
                return Err(Errno::EINVAL);
            }
        }
        // Ours, not af_key's: SPIs 0-255 are not usable (RFC 4303), and an
        // IPComp CPI is 16 bits (af_key takes any, then fails every IPComp
        // SA with EPROTONOSUPPORT on a kernel without IPComp).
        if (proto != IPPROTO_COMP && sa.spi < SPI_MIN)
            || (proto == IPPROTO_COMP && sa.spi > CPI_MAX)
        {
            return Err(Errno::EINVAL);
        }
        let proxy = exts
            .get(et::ADDRESS_PROXY)
            .and_then(Address::decode)
            .filter(|p| bare(p) != bare(&src));
        let natt = exts.get(et::X_NAT_T_TYPE).map(|t| NatT {
            ty: NatTType::decode(t).0,
            sport: exts
                .get(et::X_NAT_T_SPORT)
                .map_or(0, |p| NatTPort::decode(p).0),
            dport: exts
                .get(et::X_NAT_T_DPORT)
                .map_or(0, |p| NatTPort::decode(p).0),
        });
        let keep = |k: Option<Key<'_>>, alg: u8| match k {
            Some(k) if alg != 0 && k.bits != 0 => KeyBytes::new(&k).map(Some),
            _ => Ok(None),
        };
        let auth_key = keep(auth_key, sa.auth)?;
        let enc_key = keep(enc_key, sa.encrypt)?;
        Ok(place(SaRecord {
            id: SaId {
                dst: bare(&dst),
                spi: sa.spi,
                proto,
            },
            src: bare(&src),
            state: SaState::Mature,
            replay: sa.replay,
            flags: sa.flags & KEPT_FLAGS,
            auth: sa.auth,
            encrypt: sa.encrypt,
            auth_key,
            enc_key,
            mode,
            reqid,
            hard: hard.unwrap_or_default(),
            soft: soft.unwrap_or_default(),
            current: Lifetime {
                addtime: now,
                ..Lifetime::default()
            },
            proxy,
            natt,
            seq: hdr.seq,
            out_seq: u64::from(out_seq),
        }))
    }

    /// Whether this is a larval SA (or one that expired larval): no ADD or
    /// UPDATE gave it algorithms; every completed SA has one (ESP's NULL
    /// cipher has an id, AH needs an authenticator, IPComp a compressor).
    fn never_completed(&self) -> bool {
        self.state == SaState::Larval || (self.auth == 0 && self.encrypt == 0)
    }

    /// A larval SA for GETSPI, from its address pair, mode and reqid.
    pub fn larval(
        proto: u8,
        src: &Address,
        dst: &Address,
        mode: u8,
        reqid: u32,
        seq: u32,
        now: u64,
    ) -> SaRecord {
        SaRecord {
            id: SaId {
                dst: bare(dst),
                spi: 0,
                proto,
            },
            src: bare(src),
            state: SaState::Larval,
            replay: 0,
            flags: 0,
            auth: 0,
            encrypt: 0,
            auth_key: None,
            enc_key: None,
            mode,
            reqid,
            hard: Lifetime {
                addtime: LARVAL_LIFETIME,
                ..Lifetime::default()
            },
            soft: Lifetime::default(),
            current: Lifetime {
                addtime: now,
                ..Lifetime::default()
            },
            proxy: None,
            natt: None,
            seq,
            out_seq: 0,
        }
    }

    /// The SA type to put in messages about this SA.
    pub fn satype(&self) -> u8 {
        proto_to_satype(self.id.proto)
    }

    /// Appends the extensions describing this SA, in af_key's order: SA,
    /// hard and soft lifetimes, current lifetime, source, destination,
    /// proxy, keys (when `with_keys`), sa2, NAT-T.
    pub fn encode<S: ByteSink>(
        &self,
        e: &mut Encoder<'_, S>,
        with_keys: bool,
    ) -> Result<(), NoMemory> {
        self.encode_parts(e, with_keys, Lifetimes::Both, &self.counted())
    }

    /// What this record says of the SA's use: its current lifetime and
    /// outbound counter.
    pub fn counted(&self) -> Counted {
        Counted {
            current: self.current,
            out_seq: self.out_seq,
        }
    }

    /// As [`SaRecord::encode`], with the use `c` counted by the data path
    /// in place of the record's own (a dump's entry, without copying it).
    pub fn encode_counted<S: ByteSink>(
        &self,
        e: &mut Encoder<'_, S>,
        with_keys: bool,
        c: &Counted,
    ) -> Result<(), NoMemory> {
        self.encode_parts(e, with_keys, Lifetimes::Both, c)
    }

    /// The body of SADB_EXPIRE: as [`SaRecord::encode`] without keys, and
    /// with only the lifetime that ran out beside the current one.
    pub fn encode_expire<S: ByteSink>(
        &self,
        e: &mut Encoder<'_, S>,
        kind: Expiry,
    ) -> Result<(), NoMemory> {
        let which = match kind {
            Expiry::Soft => Lifetimes::Soft,
            Expiry::Hard => Lifetimes::Hard,
        };
        self.encode_parts(e, false, which, &self.counted())
    }

    fn encode_parts<S: ByteSink>(
        &self,
        e: &mut Encoder<'_, S>,
        with_keys: bool,
        which: Lifetimes,
        c: &Counted,
    ) -> Result<(), NoMemory> {
        e.ext(
            et::SA,
            &Sa {
                spi: self.id.spi,
                replay: self.replay,
                state: self.state as u8,
                auth: self.auth,
                encrypt: self.encrypt,
                flags: self.flags,
            },
        )?;
        if which != Lifetimes::Soft {
            e.ext(et::LIFETIME_HARD, &self.hard)?;
        }
        if which != Lifetimes::Hard {
            e.ext(et::LIFETIME_SOFT, &self.soft)?;
        }
        e.ext(et::LIFETIME_CURRENT, &c.current)?;
        let full = |addr: IpAddr| Address {
            proto: 0,
            prefixlen: addr.bits(),
            sa: SockAddr { addr, port: 0 },
        };
        e.ext(et::ADDRESS_SRC, &full(self.src))?;
        e.ext(et::ADDRESS_DST, &full(self.id.dst))?;
        match &self.proxy {
            Some(p) => e.ext(et::ADDRESS_PROXY, p)?,
            // af_key reports an SA added without a proxy with a wildcard
            // one (its selector is left zero); larval SAs have none, also
            // when their EXPIRE marks them dead.
            None if !self.never_completed() && !self.src.is_unspecified() => {
                let any = match self.src {
                    IpAddr::V4(_) => IpAddr::V4([0; 4]),
                    IpAddr::V6(..) => IpAddr::V6([0; 16], 0),
                };
                e.ext(
                    et::ADDRESS_PROXY,
                    &Address {
                        proto: 255,
                        prefixlen: 0,
                        sa: SockAddr { addr: any, port: 0 },
                    },
                )?
            }
            None => {}
        }
        if with_keys {
            if let Some(k) = &self.auth_key {
                e.ext(et::KEY_AUTH, &k.as_key())?;
            }
            if let Some(k) = &self.enc_key {
                e.ext(et::KEY_ENCRYPT, &k.as_key())?;
            }
        }
        e.ext(
            et::X_SA2,
            &Sa2 {
                mode: self.mode,
                // FreeBSD's key_setdumpsa(): the outbound counter, its low
                // 32 bits (the field is 32 bits wide, also with ESN).
                sequence: c.out_seq as u32,
                reqid: self.reqid,
            },
        )?;
        if let Some(n) = self.natt.filter(|n| n.ty != 0) {
            e.ext(et::X_NAT_T_TYPE, &NatTType(n.ty))?;
            e.ext(et::X_NAT_T_SPORT, &NatTPort(n.sport))?;
            e.ext(et::X_NAT_T_DPORT, &NatTPort(n.dport))?;
        }
        Ok(())
    }
}

/// The algorithm checks: unknown ids are ENOSYS (af_key); a key whose
/// length the algorithm cannot take, an ESP SA without a cipher, an AEAD
/// beside an authenticator, or an AH SA without an authenticator is EINVAL
/// (af_key finds these when it sets the keys up, with the same errno).
fn check_algorithms(
    satype: u8,
    sa: &Sa,
    auth_key: Option<&Key<'_>>,
    enc_key: Option<&Key<'_>>,
) -> Result<(), Errno> {
    let bits = |k: Option<&Key<'_>>| k.map_or(0, |k| k.bits);
    let auth = match sa.auth {
        0 => None,
        id => Some(algs::auth_by_id(id).ok_or(Errno::ENOSYS)?),
    };
    if satype == SATYPE_IPCOMP {
        return if sa.encrypt == 0 || (2..=4).contains(&sa.encrypt) {
            Ok(())
        } else {
            Err(Errno::ENOSYS)
        };
    }
    let enc = match sa.encrypt {
        0 => None,
        id => Some(algs::enc_by_id(id).ok_or(Errno::ENOSYS)?),
    };
    if let Some(a) = auth {
        if !a.key_fits(bits(auth_key)) {
            return Err(Errno::EINVAL);
        }
    }
    if let Some(c) = enc {
        if !c.key_fits(bits(enc_key)) {
            return Err(Errno::EINVAL);
        }
    }
    match satype {
        SATYPE_ESP => match (enc, auth) {
            (None, _) => Err(Errno::EINVAL),
            (Some(c), Some(a)) if c.kind == EncKind::Aead && a.id != AALG_NULL => {
                Err(Errno::EINVAL)
            }
            _ => Ok(()),
        },
        SATYPE_AH => match (auth, enc) {
            (Some(a), None) if a.id != AALG_NULL => Ok(()),
            _ => Err(Errno::EINVAL),
        },
        _ => Ok(()),
    }
}

/// The largest IPComp CPI: CPIs are 16 bits (RFC 3173).
pub const CPI_MAX: u32 = 0xffff;

/// Checks a GETSPI range for protocol `proto` as Linux's
/// `verify_spi_info()`: EINVAL if `min > max`, or for IPComp if the range
/// reaches past [`CPI_MAX`] (so an IPComp GETSPI needs an SPIRANGE).
pub fn check_spi_range(proto: u8, min: u32, max: u32) -> Result<(), Errno> {
    if min > max || (proto == IPPROTO_COMP && max > CPI_MAX) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Picks an SPI in `[min, max]` for GETSPI: `random` seeds the search and
/// `taken` says whether an SPI is in use. Ranges below [`SPI_MIN`] are
/// raised to it; EINVAL if nothing is left of the range, ENOENT if every SPI
/// in it is taken (af_key's `xfrm_alloc_spi()` errno).
pub fn pick_spi(
    min: u32,
    max: u32,
    random: u32,
    mut taken: impl FnMut(u32) -> bool,
) -> Result<u32, Errno> {
    let min = min.max(SPI_MIN);
    if min > max {
        return Err(Errno::EINVAL);
    }
    let span = u64::from(max - min) + 1;
    let at = |x: u64| min + u32::try_from(x % span).unwrap_or(0);
    // Random probes first (SPIs should not be guessable), then a sweep so
    // a nearly full range still yields its free SPI.
    let mut x = random | 1;
    for _ in 0..16 {
        let spi = at(u64::from(x));
        if !taken(spi) {
            return Ok(spi);
        }
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
    }
    let start = u64::from(random);
    (0..span)
        .map(|i| at(start + i))
        .find(|&spi| !taken(spi))
        .ok_or(Errno::ENOENT)
}

/// An SA's use as the data path counts it, reported in its messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    /// The current lifetime: allocations, bytes, add and first use time.
    pub current: Lifetime,
    /// The last outbound sequence number sent.
    pub out_seq: u64,
}

/// An SA as its replies and dump messages describe it: both lifetimes,
/// the use `counted`, its keys if `with_keys` ([`SaRecord::encode_counted`]).
pub struct SaMessage<'a> {
    /// The SA.
    pub rec: &'a SaRecord,
    /// Whether the keys go in.
    pub with_keys: bool,
    /// Its use as counted.
    pub counted: &'a Counted,
}

impl Describe for SaMessage<'_> {
    fn describe<S: ByteSink>(&self, e: &mut Encoder<'_, S>) -> Result<(), NoMemory> {
        self.rec.encode_counted(e, self.with_keys, self.counted)
    }
}

/// Which of the hard and soft lifetimes a message carries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lifetimes {
    Both,
    Hard,
    Soft,
}

#[cfg(test)]
mod tests;
