// SPDX-License-Identifier: GPL-2.0

//! One outbound packet through the SAs of its bundle, innermost first
//! ([`crate::esp_output`], [`crate::ah_output`]): each step makes room for
//! its header (after the IP header in transport mode; in tunnel mode under
//! a new outer header, routed to the tunnel's far end by the SA's cached
//! route), and when no SA is left the packet leaves through
//! `ip_local_out()`, marked so our hooks do not take it again. The chain holds its namespace's [`InFlight`]
//! token throughout, and stops (counted) once the namespace is going.

#![forbid(unsafe_code)]

use crate::{
    datapath::Token,
    drops::{self, SaSite},
    kame_core::{
        flow::{Flow, IPPROTO_AH, IPPROTO_IPIP, IPPROTO_IPV6, IPV4_HDR_LEN, IPV6_HDR_LEN},
        pfkey::wire::IpAddr,
        sad::{SaRecord, MODE_TUNNEL},
        spd::DIR_OUT,
        tunnel::{encap_dsfield, DfBit, EcnMode, Outer4, Outer6, DEFAULT_TTL},
    },
    kapi::skb::Skb,
    output::{read_flow, Bundle, OutSettings},
    sad_table::SaEntry,
    stats::Stat,
};
use core::cell::Cell;
use kernel::prelude::*;

/// A packet on its way through its bundle.
pub(crate) struct OutChain {
    pub(crate) skb: Skb,
    /// The family of the packet as it now is (the outer one after a
    /// tunnel).
    pub(crate) v6: bool,
    bundle: Bundle,
    /// The SA to apply next (a byte: the chain is moved at each step).
    next: u8,
    pub(crate) settings: OutSettings,
    /// Holds the namespace's teardown back while the packet is in crypto;
    /// its counters and the SAs' lifetime events.
    pub(crate) ns: Token,
}

/// The bytes a step adds at the end of the packet.
#[derive(Clone, Copy)]
pub(crate) enum Tail {
    /// This many, in the linear part ([`Skb::bytes`] covers them).
    Linear(usize),
    /// This many, in the linear part's tailroom if they fit, else in a
    /// page fragment (with the few bytes before them that end the linear
    /// part on a [`CIPHER_CHUNK`]): a full packet is not copied to grow it.
    Anywhere(usize),
}

/// The bytes the crypto API's walk takes at a time for the AES modes
/// (GCM, CBC, CTR; a multiple of DES's block): a linear part that ends
/// mid-chunk sends the walk through its slow path, a bounce buffer
/// allocated per operation. ChaCha20's chunk is larger; it gains nothing.
const CIPHER_CHUNK: usize = 16;

/// What the pieces of one packet (a GSO packet's segments) share, handed
/// to each piece's first step; later steps, which may run after
/// asynchronous crypto, parse and draw their own.
#[derive(Clone, Copy, Default)]
pub(crate) struct Shared<'a> {
    /// Their selectors, if the caller read them (segmentation changes
    /// none): the step takes them instead of parsing each piece again.
    pub(crate) flow: Option<&'a Flow>,
    /// Their tunnel-mode outer IPv4 identifications.
    pub(crate) idents: Option<&'a Idents>,
}

/// The outer IPv4 identifications of a GSO packet's segments in tunnel
/// mode, reserved for all of them by the first, as the stack numbers a
/// GSO packet's own segments (`ip_select_ident_segs()`): one draw from
/// the hashed generator per GSO packet rather than one per segment (a
/// `siphash_3u32()` each, 0.8% of a tunnel profile's samples with
/// `__ip_select_ident()`).
pub(crate) struct Idents(Cell<IdentState>);

#[derive(Clone, Copy)]
enum IdentState {
    /// None drawn yet, for this many segments.
    Unreserved(u16),
    /// The next segment's.
    Next(u16),
    /// All 0 (DF set, as `ip_select_ident()` leaves them).
    Zero,
}

impl Idents {
    /// For `segments` segments.
    pub(crate) fn new(segments: usize) -> Self {
        let n = u16::try_from(segments).unwrap_or(u16::MAX);
        Idents(Cell::new(IdentState::Unreserved(n)))
    }

    /// Numbers the routed IPv4 packet at the start of `skb`, the next
    /// segment's outer header.
    fn number(&self, skb: &mut Skb) -> Result {
        let (id, after) = match self.0.get() {
            IdentState::Unreserved(n) => {
                // The first is written by the reservation.
                let first = skb.reserve_idents(n)?;
                self.0
                    .set(first.map_or(IdentState::Zero, |id| IdentState::Next(id.wrapping_add(1))));
                return Ok(());
            }
            IdentState::Next(id) => (id, IdentState::Next(id.wrapping_add(1))),
            IdentState::Zero => (0, IdentState::Zero),
        };
        self.0.set(after);
        skb.bytes()
            .get_mut(4..6)
            .ok_or(EINVAL)?
            .copy_from_slice(&id.to_be_bytes());
        Ok(())
    }
}

/// Where a step's header went.
pub(crate) struct Layout {
    /// Offset of the ESP/AH header from `data` (the IP header).
    pub(crate) hdr_off: usize,
    /// The protocol the header protects: the payload's, or the inner IP
    /// version's in tunnel mode.
    pub(crate) next_header: u8,
}

impl OutChain {
    /// Sends `skb` through `bundle`; consumes it whatever happens.
    /// `shared`: what it shares with the other pieces of its packet, for
    /// the first step. Borrowed, not kept in the chain: the chain is moved
    /// at each step and after the crypto, and the selectors were 72 of its
    /// 184 bytes (`memcpy` showed in profiles).
    pub(crate) fn start(
        mut skb: Skb,
        v6: bool,
        bundle: Bundle,
        settings: OutSettings,
        shared: Shared<'_>,
        ns: Token,
    ) {
        // The route is used after the crypto, which may complete later.
        if skb.keep_dst().is_err() {
            drops::mark(&mut skb, Stat::OutInvalid);
            return drops::count(&ns.stats, Stat::OutInvalid, settings.debug, DIR_OUT);
        }
        OutChain {
            skb,
            v6,
            bundle,
            next: 0,
            settings,
            ns,
        }
        .advance(shared);
    }

    /// Applies the next SA, or sends the packet when none is left;
    /// `shared` as for [`OutChain::start`].
    fn advance(mut self, shared: Shared<'_>) {
        // After asynchronous crypto: the namespace may be going.
        if self.ns.closing() {
            return self.drop_plain(Stat::ExitDrops);
        }
        let mut next = usize::from(self.next);
        while next < self.bundle.sas.len() && self.bundle.sas[next].is_none() {
            next += 1;
        }
        // CAST: at most the bundle's length, MAX_DEPTH.
        self.next = next as u8;
        // Each SA is applied once: taken, not cloned.
        let Some(sa) = self.bundle.sas.get_mut(next).and_then(Option::take) else {
            self.ns.stats.inc(Stat::OutSuccess);
            return self.skb.send(self.v6);
        };
        if self.skb.resolve_checksum().is_err() {
            return self.drop_plain(Stat::OutInvalid);
        }
        if sa.rec.id.proto == IPPROTO_AH {
            crate::ah_output::step(self, sa, shared);
        } else {
            crate::esp_output::step(self, sa, shared);
        }
    }

    /// The selectors of the packet as it is now: `shared`'s if the caller
    /// gave them, else parsed.
    pub(crate) fn selectors(&self, shared: Shared<'_>) -> Option<Flow> {
        shared.flow.copied().or_else(|| read_flow(&self.skb))
    }

    /// Drops the packet for `s`, counted and logged, no SA named.
    fn drop_plain(mut self, s: Stat) {
        drops::mark(&mut self.skb, s);
        drops::count(&self.ns.stats, s, self.settings.debug, DIR_OUT);
    }

    /// Drops the packet for `s` at SA `rec`, counted and logged.
    pub(crate) fn drop_at(mut self, rec: &SaRecord, s: Stat) {
        let site = SaSite {
            debug: self.settings.debug,
            dir: DIR_OUT,
            rec,
        };
        drops::drop_sa(&mut self.skb, &self.ns.stats, s, site);
    }

    /// The current step is done: on to the next SA.
    pub(crate) fn step_done(mut self) {
        self.next += 1;
        self.advance(Shared::default());
    }

    /// Makes room for a `hdr`-byte `proto` header (and `tail` bytes at the
    /// end) for SA `sa`, the packet's selectors being `inner` (the step
    /// reads them once: parsing them again here showed in profiles): in
    /// transport mode after the IP header, whose protocol becomes `proto`;
    /// in tunnel mode under a new outer header, routed through the SA's
    /// route cache, its IPv4 identification from `idents` if given. IP
    /// lengths are set for the final size. The tail is in the linear part
    /// (`Tail::Linear`) or may be a page fragment of its own
    /// (`Tail::Anywhere`, reached by [`Skb::last_mut`]).
    pub(crate) fn layout(
        &mut self,
        sa: &SaEntry,
        inner: &Flow,
        proto: u8,
        hdr: usize,
        tail: Tail,
        idents: Option<&Idents>,
    ) -> Result<Layout> {
        let rec = &sa.rec;
        let tunnel = rec.mode == MODE_TUNNEL;
        let inner_v6 = self.v6;
        // Transport mode keeps the IP header in front; only a bare IPv6
        // header is handled (TODO[B]: after IPv6 extension headers).
        let hl = if tunnel {
            0
        } else {
            if inner_v6 && inner.transport_offset != IPV6_HDR_LEN {
                return Err(EOPNOTSUPP);
            }
            inner.transport_offset.min(self.skb.len())
        };
        let outer_v6 = if tunnel {
            matches!(rec.src, IpAddr::V6(..))
        } else {
            inner_v6
        };
        let outer_len = match (tunnel, outer_v6) {
            (false, _) => 0,
            (true, false) => IPV4_HDR_LEN,
            (true, true) => IPV6_HDR_LEN,
        };
        let head = outer_len + hdr;
        match tail {
            Tail::Linear(n) => {
                self.skb.make_room(head, n)?;
                self.skb.put(n)?;
            }
            Tail::Anywhere(n) => {
                self.skb.make_head_room(head)?;
                // The cipher starts at the payload, `hl` bytes in.
                self.skb.put_tail(n, hl, CIPHER_CHUNK)?;
            }
        }
        self.skb.push(head)?;
        let len = self.skb.len();
        let b = self.skb.bytes();
        let next_header = if tunnel {
            let outer = outer_header(rec, proto, inner, inner_v6, self.settings);
            b[..outer_len].copy_from_slice(&outer[..outer_len]);
            if inner_v6 {
                IPPROTO_IPV6
            } else {
                IPPROTO_IPIP
            }
        } else {
            b.copy_within(head..head + hl, 0);
            let proto_at = if inner_v6 { 6 } else { 9 };
            core::mem::replace(&mut b[proto_at], proto)
        };
        set_length(b, outer_v6, len)?;
        self.skb.set_network_offset(0);
        if tunnel {
            let cache = sa.route_cache();
            let (src, dst) = (rec.src.octets(), rec.id.dst.octets());
            let idents = idents.filter(|_| !outer_v6);
            self.skb
                .route(outer_v6, src, dst, cache, idents.is_none())?;
            if let Some(idents) = idents {
                idents.number(&mut self.skb)?;
            }
            self.v6 = outer_v6;
        }
        Ok(Layout {
            hdr_off: if tunnel { outer_len } else { hl },
            next_header,
        })
    }
}

/// Writes the IP header's length fields for a packet of `len` bytes.
fn set_length(b: &mut [u8], v6: bool, len: usize) -> Result {
    if v6 {
        let plen = u16::try_from(len - IPV6_HDR_LEN).map_err(|_| EMSGSIZE)?;
        b[4..6].copy_from_slice(&plen.to_be_bytes());
    } else {
        let tot = u16::try_from(len).map_err(|_| EMSGSIZE)?;
        b[2..4].copy_from_slice(&tot.to_be_bytes());
    }
    Ok(())
}

/// Tunnel mode's outer header, 20 or 40 bytes of the result as the SA's
/// family says (length, identification and checksum are filled in later).
fn outer_header(
    rec: &SaRecord,
    proto: u8,
    inner: &Flow,
    inner_v6: bool,
    s: OutSettings,
) -> [u8; 40] {
    let mut out = [0u8; 40];
    match (rec.src, rec.id.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let h = Outer4 {
                dsfield: encap_dsfield(inner.dsfield, EcnMode::from_sysctl(s.ecn)),
                total_len: 0,
                id: 0,
                df: DfBit::from_sysctl(s.dfbit).outer_df((!inner_v6).then_some(inner.df)),
                ttl: DEFAULT_TTL,
                proto,
                src,
                dst,
            };
            out[..IPV4_HDR_LEN].copy_from_slice(&h.to_bytes());
        }
        (IpAddr::V6(src, _), IpAddr::V6(dst, _)) => {
            let h = Outer6 {
                dsfield: encap_dsfield(inner.dsfield, EcnMode::from_sysctl(s.ecn6)),
                flow_label: 0,
                payload_len: 0,
                next_header: proto,
                hop_limit: DEFAULT_TTL,
                src,
                dst,
            };
            out = h.to_bytes();
        }
        // The SAD refuses SAs whose addresses disagree in family.
        _ => {}
    }
    out
}
