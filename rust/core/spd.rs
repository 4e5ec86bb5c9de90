// SPDX-License-Identifier: GPL-2.0

//! Security policies as PF_KEY describes them: the record an
//! SADB_X_SPDADD/SPDUPDATE creates (af_key's `pfkey_spdadd()` checks and
//! errnos), its selector, its IPsec requests, and the message describing it.

use crate::kame_core::{
    errno::Errno,
    pfkey::{
        ext::Exts,
        wire::{
            ext_type as et, Address, ByteSink, Describe, Encoder, ExtBody, IpAddr, IpsecRequest,
            Lifetime, NoMemory, Policy, SockAddr,
        },
    },
    sad::{address_pair, IPPROTO_AH, IPPROTO_COMP, IPPROTO_ESP, MODE_ANY, MODE_TUNNEL},
};

/// `IPSEC_DIR_INBOUND`
pub const DIR_IN: u8 = 1;
/// `IPSEC_DIR_OUTBOUND`
pub const DIR_OUT: u8 = 2;
/// `IPSEC_DIR_FWD`
pub const DIR_FWD: u8 = 3;

/// `IPSEC_POLICY_DISCARD`
pub const POLICY_DISCARD: u16 = 0;
/// `IPSEC_POLICY_NONE`
pub const POLICY_NONE: u16 = 1;
/// `IPSEC_POLICY_IPSEC`
pub const POLICY_IPSEC: u16 = 2;

/// `IPSEC_LEVEL_DEFAULT`
pub const LEVEL_DEFAULT: u8 = 0;
/// `IPSEC_LEVEL_USE`
pub const LEVEL_USE: u8 = 1;
/// `IPSEC_LEVEL_REQUIRE`
pub const LEVEL_REQUIRE: u8 = 2;
/// `IPSEC_LEVEL_UNIQUE`
pub const LEVEL_UNIQUE: u8 = 3;

/// `IPSEC_MANUAL_REQID_MAX`: reqids above are ours to generate.
pub const MANUAL_REQID_MAX: u32 = 0x3fff;
/// `IPPROTO_ROUTING`: af_key accepts it in a request (IPv6 route optimisation).
const IPPROTO_ROUTING: u8 = 43;
/// `IPPROTO_DSTOPTS`: likewise.
const IPPROTO_DSTOPTS: u8 = 60;
/// `XFRM_MAX_DEPTH`: the longest bundle.
pub const MAX_DEPTH: usize = 6;
/// `IPSEC_ULPROTO_ANY`
pub const ULPROTO_ANY: u8 = 255;

/// `ELOOP`: more requests than a bundle holds (af_key's errno).
const ELOOP: Errno = Errno(40);

/// What traffic a policy covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Selector {
    /// Source prefix.
    pub src: IpAddr,
    /// Destination prefix.
    pub dst: IpAddr,
    /// Source prefix length.
    pub src_len: u8,
    /// Destination prefix length.
    pub dst_len: u8,
    /// Source port, 0 for any.
    pub sport: u16,
    /// Destination port, 0 for any.
    pub dport: u16,
    /// Upper-layer protocol, 0 for any.
    pub proto: u8,
}

impl Selector {
    /// The selector of an SPD message's address pair: the upper-layer
    /// protocol is the destination's, as af_key reads it.
    pub fn from_pair(src: &Address, dst: &Address) -> Selector {
        let ul = |p: u8| if p == ULPROTO_ANY { 0 } else { p };
        Selector {
            src: src.sa.addr,
            dst: dst.sa.addr,
            src_len: src.prefixlen,
            dst_len: dst.prefixlen,
            sport: src.sa.port,
            dport: dst.sa.port,
            proto: ul(dst.proto),
        }
    }

    /// Whether a packet's addresses, ports and protocol fall under it.
    pub fn matches(&self, src: &IpAddr, dst: &IpAddr, sport: u16, dport: u16, proto: u8) -> bool {
        self.src.prefix_matches(src, self.src_len)
            && self.dst.prefix_matches(dst, self.dst_len)
            && (self.proto == 0 || self.proto == proto)
            && (self.sport == 0 || self.sport == sport)
            && (self.dport == 0 || self.dport == dport)
    }

    /// Whether both ends are single hosts (ports and protocol may be
    /// anything): the selectors a hash of the packet's addresses finds.
    pub fn is_host_pair(&self) -> bool {
        self.src_len == self.src.bits() && self.dst_len == self.dst.bits()
    }
}

/// One IPsec request of a policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// `IPPROTO_ESP`, `IPPROTO_AH` or `IPPROTO_COMP`.
    pub proto: u8,
    /// `IPSEC_MODE_TRANSPORT` or `_TUNNEL` (BEET too).
    pub mode: u8,
    /// `IPSEC_LEVEL_*`, kept as given (af_key turns DEFAULT into REQUIRE).
    pub level: u8,
    /// Request id (UNIQUE only).
    pub reqid: u32,
    /// Tunnel endpoints.
    pub tunnel: Option<(IpAddr, IpAddr)>,
}

/// One security policy.
#[derive(Clone, Debug)]
pub struct PolicyRecord {
    /// `IPSEC_DIR_*`
    pub dir: u8,
    /// `IPSEC_POLICY_DISCARD`, `_NONE` or `_IPSEC`.
    pub ty: u16,
    /// Priority: lower is tried first.
    pub priority: u32,
    /// Policy id (`spid`); the SPD assigns it.
    pub id: u32,
    /// Traffic covered.
    pub sel: Selector,
    /// The bundle, outermost last (`requests[..nreq]`).
    pub requests: [Option<Request>; MAX_DEPTH],
    /// Hard limits.
    pub hard: Lifetime,
    /// Soft limits.
    pub soft: Lifetime,
    /// When it was added (seconds since the epoch): its current lifetime
    /// has nothing else, as no packet use is counted against a policy.
    /// Kept alone, not as a [`Lifetime`], so that a policy's allocation
    /// (record, dump order and reference count) stays within 512 bytes.
    pub added: u64,
}

/// The direction an SPD message names; EINVAL outside in/out/fwd.
pub fn dir_of(policy: &Policy) -> Result<u8, Errno> {
    match policy.dir {
        DIR_IN | DIR_OUT | DIR_FWD => Ok(policy.dir),
        _ => Err(Errno::EINVAL),
    }
}

/// The selector, direction and policy ext of an SPD message (SPDADD,
/// SPDUPDATE, SPDDELETE): EINVAL without an address pair of one family or
/// without a policy ext.
pub fn selector_of<'a>(exts: &Exts<'a>) -> Result<(Selector, Policy, &'a [u8]), Errno> {
    let (src, dst) = address_pair(exts)?;
    let slot = exts.get(et::X_POLICY).ok_or(Errno::EINVAL)?;
    Ok((Selector::from_pair(&src, &dst), Policy::decode(slot), slot))
}

/// A record built in place by [`PolicyRecord::from_msg_into`] may be the
/// value itself.
impl AsMut<PolicyRecord> for PolicyRecord {
    fn as_mut(&mut self) -> &mut PolicyRecord {
        self
    }
}

impl PolicyRecord {
    /// Builds the policy an SPDADD or SPDUPDATE describes; `gen_reqid`
    /// yields a fresh reqid for `unique` requests without a manual one.
    pub fn from_msg(
        exts: &Exts<'_>,
        now: u64,
        gen_reqid: impl FnMut() -> Option<u32>,
    ) -> Result<PolicyRecord, Errno> {
        Self::from_msg_into(exts, now, gen_reqid, |rec| rec)
    }

    /// As [`PolicyRecord::from_msg`], handing the record to `place` as soon
    /// as its fixed part is known and then filling in its bundle where
    /// `place` put it, so that the caller can have it written straight
    /// where it will stay: a record is 480 bytes, and built whole first it
    /// was copied there.
    pub fn from_msg_into<T: AsMut<PolicyRecord>>(
        exts: &Exts<'_>,
        now: u64,
        mut gen_reqid: impl FnMut() -> Option<u32>,
        place: impl FnOnce(PolicyRecord) -> T,
    ) -> Result<T, Errno> {
        let (sel, pol, slot) = selector_of(exts)?;
        if pol.ty > POLICY_IPSEC {
            return Err(Errno::EINVAL);
        }
        let dir = dir_of(&pol)?;
        let mut placed = place(PolicyRecord {
            dir,
            ty: pol.ty,
            priority: pol.priority,
            id: pol.id,
            sel,
            requests: [None; MAX_DEPTH],
            hard: exts
                .get(et::LIFETIME_HARD)
                .map(Lifetime::decode)
                .unwrap_or_default(),
            soft: exts
                .get(et::LIFETIME_SOFT)
                .map(Lifetime::decode)
                .unwrap_or_default(),
            added: now,
        });
        if pol.ty == POLICY_IPSEC {
            let requests = &mut placed.as_mut().requests;
            fill_requests(requests, Policy::requests(slot), &mut gen_reqid)?;
        }
        Ok(placed)
    }

    /// The requests of the bundle, in order.
    pub fn bundle(&self) -> impl Iterator<Item = &Request> {
        self.requests.iter().map_while(Option::as_ref)
    }

    /// Appends the extensions describing this policy, in af_key's order:
    /// source, destination, hard, soft and current lifetimes, policy.
    pub fn encode<S: ByteSink>(&self, e: &mut Encoder<'_, S>) -> Result<(), NoMemory> {
        let (src, dst) = self.addresses();
        e.ext(et::ADDRESS_SRC, &src)?;
        e.ext(et::ADDRESS_DST, &dst)?;
        e.ext(et::LIFETIME_HARD, &self.hard)?;
        e.ext(et::LIFETIME_SOFT, &self.soft)?;
        e.ext(et::LIFETIME_CURRENT, &self.current())?;
        e.ext(et::X_POLICY, &self.body())
    }

    /// The selector's source and destination extensions.
    fn addresses(&self) -> (Address, Address) {
        let proto = if self.sel.proto == 0 {
            ULPROTO_ANY
        } else {
            self.sel.proto
        };
        let addr = |addr: IpAddr, prefixlen: u8, port: u16| Address {
            proto,
            prefixlen,
            sa: SockAddr { addr, port },
        };
        (
            addr(self.sel.src, self.sel.src_len, self.sel.sport),
            addr(self.sel.dst, self.sel.dst_len, self.sel.dport),
        )
    }

    /// The current lifetime: when the policy was added (no use is
    /// counted for a policy).
    fn current(&self) -> Lifetime {
        Lifetime {
            addtime: self.added,
            ..Lifetime::default()
        }
    }

    /// The policy extension's body.
    fn body(&self) -> StoredPolicy<'_> {
        StoredPolicy::new(
            Policy {
                ty: self.ty,
                dir: self.dir,
                id: self.id,
                priority: self.priority,
            },
            &self.requests,
        )
    }
}

impl Describe for PolicyRecord {
    fn describe<S: ByteSink>(&self, e: &mut Encoder<'_, S>) -> Result<(), NoMemory> {
        self.encode(e)
    }
}

/// A stored policy's extension body (an SPD entry's or a socket's), its
/// requests put in wire form one at a time as they are written.
pub struct StoredPolicy<'a> {
    policy: Policy,
    requests: &'a [Option<Request>; MAX_DEPTH],
}

impl<'a> StoredPolicy<'a> {
    /// The body of `policy` with `requests`. An IPsec policy without
    /// requests reads back as `none`, as af_key reports it.
    pub fn new(mut policy: Policy, requests: &'a [Option<Request>; MAX_DEPTH]) -> Self {
        if policy.ty == POLICY_IPSEC && requests[0].is_none() {
            policy.ty = POLICY_NONE;
        }
        StoredPolicy { policy, requests }
    }

    fn wire(&self) -> impl Iterator<Item = IpsecRequest> + '_ {
        self.requests
            .iter()
            .map_while(Option::as_ref)
            .map(wire_request)
    }
}

impl ExtBody for StoredPolicy<'_> {
    fn body_len(&self) -> usize {
        Policy::body_len_with(self.wire())
    }
    fn write_body(&self, o: &mut [u8]) {
        self.policy.write_body_with(self.wire(), o);
    }
}

/// A request as the wire has it.
fn wire_request(r: &Request) -> IpsecRequest {
    IpsecRequest {
        proto: u16::from(r.proto),
        mode: r.mode,
        level: r.level,
        reqid: r.reqid,
        tunnel: r
            .tunnel
            .map(|(s, d)| (SockAddr { addr: s, port: 0 }, SockAddr { addr: d, port: 0 })),
    }
}

/// Checks the `sadb_x_ipsecrequest`s of a policy (`rest`, after its fixed
/// part) as af_key's `parse_ipsecrequests()`: EINVAL for a bad one, ELOOP
/// for more than a bundle holds.
pub fn requests_of(
    rest: &[u8],
    gen_reqid: &mut impl FnMut() -> Option<u32>,
) -> Result<[Option<Request>; MAX_DEPTH], Errno> {
    let mut requests = [None; MAX_DEPTH];
    fill_requests(&mut requests, rest, gen_reqid)?;
    Ok(requests)
}

/// As [`requests_of`], into `requests` (all `None`) where they stay.
fn fill_requests(
    requests: &mut [Option<Request>; MAX_DEPTH],
    mut rest: &[u8],
    gen_reqid: &mut impl FnMut() -> Option<u32>,
) -> Result<(), Errno> {
    let mut n = 0;
    while rest.len() >= 16 {
        let (rq, len) = IpsecRequest::decode(rest).map_err(|_| Errno::EINVAL)?;
        let slot = requests.get_mut(n).ok_or(ELOOP)?;
        *slot = Some(request_of(&rq, gen_reqid)?);
        n += 1;
        rest = &rest[len..];
    }
    Ok(())
}

/// Checks one request as af_key's `parse_ipsecrequest()`.
fn request_of(
    rq: &IpsecRequest,
    gen_reqid: &mut impl FnMut() -> Option<u32>,
) -> Result<Request, Errno> {
    if rq.mode == MODE_ANY || rq.mode > 3 {
        return Err(Errno::EINVAL);
    }
    // As af_key: the u16 field is read as a u8, and IPv6's routing and
    // destination options headers are valid protocols (xfrm_id_proto_valid).
    let proto = match rq.proto.to_le_bytes()[0] {
        p @ (IPPROTO_ESP | IPPROTO_AH | IPPROTO_COMP | IPPROTO_ROUTING | IPPROTO_DSTOPTS) => p,
        _ => return Err(Errno::EINVAL),
    };
    // Levels af_key does not know read back as require, as there.
    let level = if rq.level > LEVEL_UNIQUE {
        LEVEL_REQUIRE
    } else {
        rq.level
    };
    let reqid = if level == LEVEL_UNIQUE {
        match rq.reqid {
            r @ 1..=MANUAL_REQID_MAX => r,
            _ => gen_reqid().ok_or(Errno::ENOBUFS)?,
        }
    } else {
        0
    };
    let tunnel = if rq.mode == MODE_TUNNEL {
        let (s, d) = rq.tunnel.ok_or(Errno::EINVAL)?;
        Some((s.addr, d.addr))
    } else {
        None
    };
    Ok(Request {
        proto,
        mode: rq.mode,
        level,
        reqid,
        tunnel,
    })
}

#[cfg(test)]
mod tests;
