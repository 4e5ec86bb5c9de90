// SPDX-License-Identifier: GPL-2.0

//! Addresses as people write them, for log lines: dotted quad, and RFC 5952
//! text for IPv6 (lowercase, no leading zeros, the longest run of two or
//! more zero groups as `::`).

use crate::kame_core::pfkey::wire::IpAddr;
use core::fmt;

impl fmt::Display for IpAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpAddr::V4(a) => write!(f, "{}.{}.{}.{}", a[0], a[1], a[2], a[3]),
            IpAddr::V6(a, _) => {
                let g: [u16; 8] =
                    core::array::from_fn(|i| u16::from_be_bytes([a[2 * i], a[2 * i + 1]]));
                // The longest run of zero groups (the first if tied), if
                // at least two long.
                let (mut best, mut run) = ((0, 0), (0, 0));
                for (i, &x) in g.iter().enumerate() {
                    if x == 0 {
                        run = if run.1 == 0 {
                            (i, 1)
                        } else {
                            (run.0, run.1 + 1)
                        };
                        if run.1 > best.1 {
                            best = run;
                        }
                    } else {
                        run = (0, 0);
                    }
                }
                let mut i = 0;
                while i < 8 {
                    if best.1 >= 2 && i == best.0 {
                        f.write_str(if i == 0 { "::" } else { ":" })?;
                        i += best.1;
                        continue;
                    }
                    write!(f, "{:x}", g[i])?;
                    if i < 7 {
                        f.write_str(":")?;
                    }
                    i += 1;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    fn v6(s: [u16; 8]) -> IpAddr {
        let mut a = [0u8; 16];
        for (i, g) in s.iter().enumerate() {
            a[2 * i..2 * i + 2].copy_from_slice(&g.to_be_bytes());
        }
        IpAddr::V6(a, 0)
    }

    #[test]
    fn formats() {
        assert_eq!(IpAddr::V4([192, 0, 2, 1]).to_string(), "192.0.2.1");
        assert_eq!(
            v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]).to_string(),
            "2001:db8::1"
        );
        assert_eq!(v6([0; 8]).to_string(), "::");
        assert_eq!(v6([0, 0, 0, 0, 0, 0, 0, 1]).to_string(), "::1");
        assert_eq!(v6([0xfe80, 0, 0, 0, 0, 0, 0, 0]).to_string(), "fe80::");
        assert_eq!(v6([1, 0, 2, 3, 4, 5, 6, 7]).to_string(), "1:0:2:3:4:5:6:7");
        assert_eq!(v6([1, 0, 0, 2, 0, 0, 0, 3]).to_string(), "1:0:0:2::3");
        assert_eq!(v6([1, 0, 0, 2, 0, 0, 3, 4]).to_string(), "1::2:0:0:3:4");
    }
}
