// SPDX-License-Identifier: GPL-2.0

//! Upper-layer protocol names, as `getprotobyname()`/`getprotobynumber()`
//! give them to setkey: read from `/etc/protocols`, with a built-in copy of
//! the common entries of Debian's netbase for machines without the file.

#![forbid(unsafe_code)]

/// The protocols database.
#[derive(Clone, Debug)]
pub struct Protocols {
    /// (official name, number, aliases), in file order.
    entries: Vec<(String, u8, Vec<String>)>,
}

/// The entries setkey users meet most, as Debian's netbase spells them.
const BUILTIN: &str = "\
ip 0 IP
hopopt 0 HOPOPT
icmp 1 ICMP
igmp 2 IGMP
ipencap 4 IP-ENCAP
tcp 6 TCP
udp 17 UDP
ipv6 41 IPv6
ipv6-route 43 IPv6-Route
ipv6-frag 44 IPv6-Frag
gre 47 GRE
esp 50 IPSEC-ESP
ah 51 IPSEC-AH
ipv6-icmp 58 IPv6-ICMP
ipv6-nonxt 59 IPv6-NoNxt
ipv6-opts 60 IPv6-Opts
ipcomp 108 IPCOMP
sctp 132 SCTP
mobility-header 135 Mobility-Header
udplite 136 UDPLite
";

impl Protocols {
    /// Parses text in `/etc/protocols` format.
    pub fn from_text(text: &str) -> Protocols {
        let mut entries = Vec::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut f = line.split_whitespace();
            let (Some(name), Some(num)) = (f.next(), f.next()) else {
                continue;
            };
            let Ok(num) = num.parse::<u8>() else {
                continue;
            };
            entries.push((name.to_string(), num, f.map(str::to_string).collect()));
        }
        Protocols { entries }
    }

    /// The built-in table.
    pub fn builtin() -> Protocols {
        Protocols::from_text(BUILTIN)
    }

    /// The system's `/etc/protocols`, or the built-in table without it.
    pub fn system() -> Protocols {
        match std::fs::read_to_string("/etc/protocols") {
            Ok(text) => Protocols::from_text(&text),
            Err(_) => Protocols::builtin(),
        }
    }

    /// `getprotobynumber()`: the first entry with number `n`.
    pub fn by_number(&self, n: u8) -> Option<&str> {
        self.entries
            .iter()
            .find(|(_, num, _)| *num == n)
            .map(|(name, _, _)| name.as_str())
    }

    /// `getprotobyname()`: by official name or alias.
    pub fn by_name(&self, name: &str) -> Option<u8> {
        self.entries
            .iter()
            .find(|(n, _, aliases)| n == name || aliases.iter().any(|a| a == name))
            .map(|(_, num, _)| *num)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_as_netbase() {
        let p = Protocols::builtin();
        assert_eq!(p.by_number(0), Some("ip"));
        assert_eq!(p.by_number(58), Some("ipv6-icmp"));
        assert_eq!(p.by_number(255), None);
        assert_eq!(p.by_name("tcp"), Some(6));
        assert_eq!(p.by_name("IPv6-ICMP"), Some(58));
        assert_eq!(p.by_name("icmp6"), None);
    }

    #[test]
    fn comments_and_junk_lines_are_skipped() {
        let p = Protocols::from_text("# c\nfoo 300\nbar 7 BAR # x\n\n");
        assert_eq!(p.by_number(7), Some("bar"));
        assert_eq!(p.by_name("BAR"), Some(7));
        assert_eq!(p.by_name("foo"), None);
    }
}
