// SPDX-License-Identifier: GPL-2.0

//! ESP in UDP arriving (NAT traversal, RFC 3948). A key daemon's socket
//! with `UDP_ENCAP_ESPINUDP` (its port 4500, or any port it chose) has
//! XFRM's UDP receive path look at each datagram: keepalives (one byte,
//! 0xff) are eaten there, IKE (a zero Non-ESP Marker) goes to the socket,
//! and ESP is handed to the ESP handler chain, where we see it before
//! XFRM ([`crate::kapi::ipproto`]). An SPI of ours loses its UDP header
//! and goes through the ordinary input ([`crate::input::take`]), which
//! checks that its SA has NAT-T and fixes a transport-mode checksum after
//! the layer is undone. Other SPIs go on to XFRM untouched (counted in
//! `esps_notdb` if XFRM has no state for them either).

#![forbid(unsafe_code)]

use crate::{
    drops::{self, SaSite},
    input::{count_no_sa, our_sa, take},
    kame_core::{
        esp::{natt_classify, NattPayload, ESP_HDR_LEN, UDP_HDR_LEN},
        flow::{Flow, Frag, IPPROTO_ESP, IPPROTO_UDP},
        natt::strip_udp,
        spd::DIR_IN,
    },
    kapi::skb::Skb,
    netns::Netns,
    output::read_flow,
    stats::Stat,
};

/// Takes the ESP-in-UDP packet `skb` (`data` at the ESP header) if its SA
/// is ours; gives it back untouched otherwise.
pub(crate) fn receive(ns: &Netns, mut skb: Skb, v6: bool) -> Result<(), Skb> {
    // XFRM pulled the IP and UDP headers; both are still in front.
    let nh = usize::try_from(-skb.network_offset()).unwrap_or(0);
    if nh < UDP_HDR_LEN || skb.push(nh).is_err() {
        return Err(skb);
    }
    let dp = ns.dp();
    let mut spi = [0u8; 4];
    let flow = match read_flow(&skb) {
        Some(mut f) if skb.copy_out(nh, &mut spi).is_ok() => {
            // The flow as the packet will be once out of UDP.
            f.proto = IPPROTO_ESP;
            f.spi = Some(u32::from_be_bytes(spi));
            f.transport_offset = nh - UDP_HDR_LEN;
            f.sport = 0;
            f.dport = 0;
            Some(f)
        }
        _ => None,
    };
    let Some((flow, sa)) = flow.and_then(|f| our_sa(&dp.keys.sad, f, IPPROTO_ESP)) else {
        // XFRM's ESP input gets it next, as it would bare ESP.
        if let Some(f) = flow {
            count_no_sa(&dp.stats, &skb, &f, IPPROTO_ESP);
        }
        let _ = skb.pull(nh);
        return Err(skb);
    };
    // Ours from here: the UDP header goes, the IP header moving over it.
    let site = SaSite {
        debug: dp.debug(v6),
        dir: DIR_IN,
        rec: &sa.rec,
    };
    if skb.make_room(0, 0).is_err() {
        drops::drop_sa(&mut skb, &dp.stats, Stat::EspCryptoError, site);
        return Ok(());
    }
    if strip_udp(skb.bytes(), v6, flow.transport_offset).is_none() || skb.pull(UDP_HDR_LEN).is_err()
    {
        drops::drop_sa(&mut skb, &dp.stats, Stat::EspBadEncap, site);
        return Ok(());
    }
    skb.set_network_offset(0);
    take(ns, skb, v6, flow, sa, true);
    Ok(())
}

/// `UDP_ENCAP_ESPINUDP`
const UDP_ENCAP_ESPINUDP: u8 = 2;

/// Whether `skb`, a UDP datagram arriving for this host in the clear
/// (LOCAL_IN, `flow` its selectors), is ESP or a NAT keepalive for a
/// socket with `UDP_ENCAP_ESPINUDP`. XFRM and FreeBSD judge such a
/// datagram by the socket's policy first, which IKE daemons set to
/// `bypass`; until our data path honours per-socket policies (TODO[B]),
/// these are let through instead (the ESP inside is judged once undone,
/// keepalives are eaten), as that bypass would. IKE on that socket is
/// ordinary UDP.
///
/// IPv6 reassembles after LOCAL_IN, so an ESP-in-UDP datagram fragmented
/// on the wire comes here in pieces: its first fragment holds the UDP
/// header and the start of the payload and is judged as a whole datagram;
/// a later fragment of UDP is let through, since without the first one
/// (dropped if it had to be) it is never reassembled.
pub(crate) fn for_encap_socket(skb: &Skb, v6: bool, flow: &Flow) -> bool {
    if flow.proto != IPPROTO_UDP {
        return false;
    }
    match flow.frag {
        Frag::Later => return v6,
        Frag::None | Frag::First => {}
    }
    // Up to an ESP header and one byte more: what the classification needs.
    let payload = flow.transport_offset + UDP_HDR_LEN;
    let mut buf = [0u8; ESP_HDR_LEN + 1];
    let n = skb.len().saturating_sub(payload).min(buf.len());
    if skb.copy_out(payload, &mut buf[..n]).is_err() {
        return false;
    }
    match natt_classify(&buf[..n]) {
        NattPayload::Esp | NattPayload::Keepalive => {
            skb.udp_encap_type(v6, flow.sport, flow.dport) == UDP_ENCAP_ESPINUDP
        }
        NattPayload::Ike | NattPayload::Other => false,
    }
}
