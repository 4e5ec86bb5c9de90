// SPDX-License-Identifier: GPL-2.0

//! Address and port resolution for the parser, as setkey's `parse_addr()`
//! (`getaddrinfo()` with the `-4`, `-6` and `-n` flags of the command).

#![forbid(unsafe_code)]

use std::net::{Ipv4Addr, Ipv6Addr, ToSocketAddrs};

use kame_core::pfkey::wire::{IpAddr, SockAddr, AF_INET, AF_INET6};

/// The `-46n` flags of one command.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddrOpts {
    /// `AF_INET` (`-4`) or `AF_INET6` (`-6`); `None` takes both.
    pub family: Option<u16>,
    /// `-n`: numeric addresses only (`AI_NUMERICHOST`).
    pub numeric: bool,
}

/// `gai_strerror(EAI_NONAME)`, what setkey prints for a bad address.
pub const NONAME: &str = "Name or service not known";

/// The interface index of `name`, from sysfs (no libc call needed).
fn ifindex(name: &str) -> Option<u32> {
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    if name.contains('/') || name.starts_with('.') {
        return None;
    }
    let text = std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex")).ok()?;
    text.trim().parse().ok()
}

/// Parses a numeric address (`10.0.0.1`, `fe80::1%eth0`).
pub fn parse_numeric(host: &str) -> Option<IpAddr> {
    if let Ok(a) = host.parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(a.octets()));
    }
    let (addr, scope) = match host.split_once('%') {
        Some((a, s)) => (a, ifindex(s)?),
        None => (host, 0),
    };
    let a = addr.parse::<Ipv6Addr>().ok()?;
    Some(IpAddr::V6(a.octets(), scope))
}

/// Parses a port: `any` (0), a number, or nothing (0).
pub fn parse_port(port: &str) -> Option<u16> {
    if port == "any" {
        return Some(0);
    }
    port.parse().ok()
}

/// Resolves `host` with `port` into one or more socket addresses of the
/// families `opts` allows; the error is the `gai_strerror()` text.
pub fn resolve(host: &str, port: u16, opts: AddrOpts) -> Result<Vec<SockAddr>, String> {
    let allowed = |a: &IpAddr| opts.family.is_none_or(|f| f == a.family());
    if let Some(addr) = parse_numeric(host) {
        if !allowed(&addr) {
            return Err("Address family for hostname not supported".to_string());
        }
        return Ok(vec![SockAddr { addr, port }]);
    }
    if opts.numeric {
        return Err(NONAME.to_string());
    }
    let found = (host, port)
        .to_socket_addrs()
        .map_err(|_| NONAME.to_string())?;
    let mut out: Vec<SockAddr> = Vec::new();
    for sa in found {
        let addr = match sa {
            std::net::SocketAddr::V4(v4) => IpAddr::V4(v4.ip().octets()),
            std::net::SocketAddr::V6(v6) => IpAddr::V6(v6.ip().octets(), v6.scope_id()),
        };
        let s = SockAddr { addr, port };
        if allowed(&addr) && !out.contains(&s) {
            out.push(s);
        }
    }
    if out.is_empty() {
        return Err(NONAME.to_string());
    }
    Ok(out)
}

/// The full prefix length of a family.
pub fn full_prefix(family: u16) -> u8 {
    if family == AF_INET6 {
        128
    } else {
        debug_assert_eq!(family, AF_INET);
        32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_addresses_and_scopes() {
        assert_eq!(parse_numeric("10.0.0.1"), Some(IpAddr::V4([10, 0, 0, 1])));
        let mut want = [0u8; 16];
        want[0] = 0xfe;
        want[1] = 0x80;
        want[15] = 1;
        assert_eq!(parse_numeric("fe80::1%3"), Some(IpAddr::V6(want, 3)));
        assert_eq!(parse_numeric("fe80::1"), Some(IpAddr::V6(want, 0)));
        assert_eq!(parse_numeric("10.0.0"), None);
        assert_eq!(parse_numeric("fe80::1%../x"), None);
    }

    #[test]
    fn families_and_numeric_only_are_enforced() {
        let v6 = AddrOpts {
            family: Some(AF_INET6),
            numeric: false,
        };
        assert!(resolve("10.0.0.1", 0, v6).is_err());
        assert_eq!(resolve("::1", 500, v6).unwrap()[0].port, 500);
        let n = AddrOpts {
            family: None,
            numeric: true,
        };
        assert_eq!(resolve("not-an-address", 0, n), Err(NONAME.to_string()));
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port("any"), Some(0));
        assert_eq!(parse_port("4500"), Some(4500));
        assert_eq!(parse_port("70000"), None);
    }
}
