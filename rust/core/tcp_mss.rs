// SPDX-License-Identifier: GPL-2.0

//! MSS clamping of TCP SYNs that IPsec protects. Linux gives a policy-based
//! IPsec stack no way to lower a socket's path MTU for the ESP/AH overhead
//! alone (KAME's TCP subtracts `ipsec_hdrsiz_tcp()` itself; XFRM routes
//! through a bundle with its own MTU). So the MSS each end announces is
//! lowered, as `iptables -j TCPMSS --clamp-mss-to-pmtu` would: both ends
//! then send segments that fit once protected, and TCP over IPsec needs no
//! IP fragments.

/// TCP option kinds.
const OPT_END: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;
/// The SYN flag in byte 13 of the TCP header.
const SYN: u8 = 0x02;

/// Whether the TCP header `tcp` is a SYN (or SYN-ACK).
pub fn is_syn(tcp: &[u8]) -> bool {
    tcp.get(13).is_some_and(|f| f & SYN != 0)
}

/// Lowers the MSS option of the SYN whose TCP header (options included)
/// is `tcp` to `max`, fixing the checksum incrementally (RFC 1624), which
/// must be complete. Returns the old MSS if it changed.
pub fn clamp_syn_mss(tcp: &mut [u8], max: u16) -> Option<u16> {
    if !is_syn(tcp) {
        return None;
    }
    let doff = usize::from(tcp.get(12)? >> 4) * 4;
    let opts_end = doff.min(tcp.len());
    let mut i = 20;
    while i < opts_end {
        match tcp[i] {
            OPT_END => return None,
            OPT_NOP => i += 1,
            kind => {
                let len = usize::from(*tcp.get(i + 1)?);
                if len < 2 || i + len > opts_end {
                    return None;
                }
                if kind == OPT_MSS && len == 4 {
                    let old = u16::from_be_bytes([tcp[i + 2], tcp[i + 3]]);
                    if old <= max {
                        return None;
                    }
                    tcp[i + 2..i + 4].copy_from_slice(&max.to_be_bytes());
                    let sum = u16::from_be_bytes([tcp[16], tcp[17]]);
                    tcp[16..18].copy_from_slice(&adjust(sum, old, max).to_be_bytes());
                    return Some(old);
                }
                i += len;
            }
        }
    }
    None
}

/// RFC 1624 eqn. 3: the checksum after a 16-bit word goes from `old` to
/// `new`: HC' = ~(~HC + ~m + m').
fn adjust(sum: u16, old: u16, new: u16) -> u16 {
    let mut s = u32::from(!sum) + u32::from(!old) + u32::from(new);
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    // CAST: folded to 16 bits just above.
    !(s as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one's-complement checksum of `b` (even length) plus `init`.
    fn sum(b: &[u8], init: u32) -> u16 {
        let mut s = init
            + b.chunks(2)
                .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
                .sum::<u32>();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    /// A SYN with NOP, NOP, MSS `mss`, and a valid checksum over the
    /// header and a pseudo-header sum of 0x1234.
    fn syn(mss: u16) -> [u8; 28] {
        let mut t = [0u8; 28];
        t[12] = 7 << 4;
        t[13] = SYN;
        t[20] = OPT_NOP;
        t[21] = OPT_NOP;
        t[22] = OPT_MSS;
        t[23] = 4;
        t[24..26].copy_from_slice(&mss.to_be_bytes());
        t[26] = OPT_END;
        let c = sum(&t, 0x1234);
        t[16..18].copy_from_slice(&c.to_be_bytes());
        t
    }

    #[test]
    fn clamps_and_keeps_the_checksum_valid() {
        let mut t = syn(1460);
        assert_eq!(clamp_syn_mss(&mut t, 1382), Some(1460));
        assert_eq!(u16::from_be_bytes([t[24], t[25]]), 1382);
        // Summing everything, checksum included, gives zero.
        let mut check = t;
        let c = u16::from_be_bytes([t[16], t[17]]);
        check[16..18].copy_from_slice(&[0, 0]);
        assert_eq!(sum(&check, 0x1234), c);
    }

    #[test]
    fn leaves_small_mss_non_syn_and_malformed_alone() {
        let mut t = syn(1000);
        assert_eq!(clamp_syn_mss(&mut t, 1382), None);
        let mut ack = syn(1460);
        ack[13] = 0x10;
        assert_eq!(clamp_syn_mss(&mut ack, 1382), None);
        let mut bad = syn(1460);
        bad[23] = 40; // option runs past the header
        assert_eq!(clamp_syn_mss(&mut bad, 1382), None);
        let mut short = syn(1460);
        assert_eq!(clamp_syn_mss(&mut short[..23], 1382), None);
    }
}
