// SPDX-License-Identifier: GPL-2.0

//! The `net.inet.ipsec`, `net.inet6.ipsec6`, `net.inet.esp` and `net.inet.ah`
//! sysctls: names, KAME/BSD defaults and the values each accepts.
//!
//! Defaults and ranges follow KAME as NetBSD and FreeBSD carry it, and OpenBSD
//! for `esp.enable`/`ah.enable`; Documentation/sysctl.rst gives the source of
//! each. Where BSD stores any integer, we refuse the values that have no
//! documented meaning, so a typo fails loudly instead of acting as some
//! other setting.

use crate::kame_core::errno::Errno;
use core::ffi::CStr;

/// One integer sysctl.
#[derive(Debug)]
pub struct Knob {
    /// The leaf name, KAME spelling (`esp_trans_deflev`).
    pub name: &'static CStr,
    /// The value a new network namespace starts with.
    pub default: i32,
    /// The smallest value accepted.
    pub min: i32,
    /// The largest value accepted.
    pub max: i32,
}

impl Knob {
    /// Checks a value written to this sysctl: EINVAL outside `min..=max`.
    pub fn check(&self, value: i32) -> Result<i32, Errno> {
        if (self.min..=self.max).contains(&value) {
            Ok(value)
        } else {
            Err(Errno::EINVAL)
        }
    }
}

/// A sysctl directory and its knobs, in table order.
#[derive(Debug)]
pub struct Tree {
    /// The directory under `/proc/sys`, with slashes (`net/inet/ipsec`).
    pub path: &'static CStr,
    /// The knobs, indexed by the tree's enum (`Ipsec4`, `Ipsec6`, `Enable`).
    pub knobs: &'static [Knob],
}

/// `IPSEC_LEVEL_USE`: use an SA if there is one.
pub const LEVEL_USE: i32 = 1;
/// `IPSEC_LEVEL_REQUIRE`: drop the packet if there is no SA.
pub const LEVEL_REQUIRE: i32 = 2;
/// `IPSEC_POLICY_DISCARD`
pub const POLICY_DISCARD: i32 = 0;
/// `IPSEC_POLICY_NONE`
pub const POLICY_NONE: i32 = 1;

const fn deflev(name: &'static CStr) -> Knob {
    Knob {
        name,
        default: LEVEL_USE,
        min: LEVEL_USE,
        max: LEVEL_REQUIRE,
    }
}
const fn def_policy() -> Knob {
    Knob {
        name: c"def_policy",
        default: POLICY_NONE,
        min: POLICY_DISCARD,
        max: POLICY_NONE,
    }
}
const fn flag(name: &'static CStr, default: i32) -> Knob {
    Knob {
        name,
        default,
        min: 0,
        max: 1,
    }
}
/// `ecn`: 1 allowed (RFC 6040 behaviour), 0 forbidden (KAME's default),
/// -1 no care (the TOS byte is copied unchanged).
const fn ecn() -> Knob {
    Knob {
        name: c"ecn",
        default: 0,
        min: -1,
        max: 1,
    }
}

/// The knobs of `net.inet.ipsec`, by index into [`IPSEC4`]'s table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Ipsec4 {
    /// `esp_trans_deflev`
    EspTransDeflev,
    /// `esp_net_deflev`
    EspNetDeflev,
    /// `ah_trans_deflev`
    AhTransDeflev,
    /// `ah_net_deflev`
    AhNetDeflev,
    /// `def_policy`
    DefPolicy,
    /// `ah_cleartos`
    AhCleartos,
    /// `ah_offsetmask`
    AhOffsetmask,
    /// `dfbit`
    Dfbit,
    /// `ecn`
    Ecn,
    /// `debug`
    Debug,
    /// `icmp_accept_clear`
    IcmpAcceptClear,
    /// `async_crypto`
    AsyncCrypto,
}

/// `net.inet.ipsec`: the IPv4 IPsec settings.
pub static IPSEC4: Tree = Tree {
    path: c"net/inet/ipsec",
    knobs: &[
        deflev(c"esp_trans_deflev"),
        deflev(c"esp_net_deflev"),
        deflev(c"ah_trans_deflev"),
        deflev(c"ah_net_deflev"),
        def_policy(),
        flag(c"ah_cleartos", 1),
        // ANDed with the whole 16-bit ip_off (flags and offset) for the ICV.
        Knob {
            name: c"ah_offsetmask",
            default: 0,
            min: 0,
            max: 0xffff,
        },
        // 0 clear, 1 set, 2 copy the inner DF bit.
        Knob {
            name: c"dfbit",
            default: 0,
            min: 0,
            max: 2,
        },
        ecn(),
        flag(c"debug", 0),
        // 1 lets a cleartext ICMP error through a `require` policy when
        // the flow it quotes is one an `ipsec` policy covers (Solaris'
        // icmp-accept-clear, off here as in KAME and XFRM).
        flag(c"icmp_accept_clear", 0),
        // 1 decrypts inbound ESP on another CPU than the packet arrived
        // on (FreeBSD's knob, 0 by default there), for both families.
        flag(c"async_crypto", 1),
    ],
};

/// The knobs of `net.inet6.ipsec6`, by index into [`IPSEC6`]'s table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Ipsec6 {
    /// `esp_trans_deflev`
    EspTransDeflev,
    /// `esp_net_deflev`
    EspNetDeflev,
    /// `ah_trans_deflev`
    AhTransDeflev,
    /// `ah_net_deflev`
    AhNetDeflev,
    /// `def_policy`
    DefPolicy,
    /// `ecn`
    Ecn,
    /// `debug`
    Debug,
    /// `icmp_accept_clear`
    IcmpAcceptClear,
}

/// `net.inet6.ipsec6`: the IPv6 IPsec settings.
pub static IPSEC6: Tree = Tree {
    path: c"net/inet6/ipsec6",
    knobs: &[
        deflev(c"esp_trans_deflev"),
        deflev(c"esp_net_deflev"),
        deflev(c"ah_trans_deflev"),
        deflev(c"ah_net_deflev"),
        def_policy(),
        ecn(),
        flag(c"debug", 0),
        // 1 lets a cleartext ICMP error through a `require` policy when
        // the flow it quotes is one an `ipsec` policy covers (Solaris'
        // icmp-accept-clear, off here as in KAME and XFRM).
        flag(c"icmp_accept_clear", 0),
    ],
};

/// The knob of `net.inet.esp` and `net.inet.ah` (OpenBSD).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Enable {
    /// `enable`: 0 drops the protocol's packets both ways.
    Enable,
}

/// `net.inet.esp`: OpenBSD's switch for ESP.
pub static ESP: Tree = Tree {
    path: c"net/inet/esp",
    knobs: &[flag(c"enable", 1)],
};

/// `net.inet.ah`: OpenBSD's switch for AH.
pub static AH: Tree = Tree {
    path: c"net/inet/ah",
    knobs: &[flag(c"enable", 1)],
};

/// Every tree, in registration order.
pub static TREES: [&Tree; 4] = [&IPSEC4, &IPSEC6, &ESP, &AH];

#[cfg(test)]
mod tests {
    use super::*;

    fn knob(tree: &Tree, name: &str) -> &'static Knob {
        let t: &'static Tree = TREES.iter().find(|t| t.path == tree.path).unwrap();
        t.knobs
            .iter()
            .find(|k| k.name.to_str() == Ok(name))
            .unwrap()
    }

    #[test]
    fn enums_index_their_tables() {
        assert_eq!(IPSEC4.knobs[Ipsec4::Dfbit as usize].name, c"dfbit");
        assert_eq!(IPSEC4.knobs[Ipsec4::Debug as usize].name, c"debug");
        assert_eq!(
            IPSEC4.knobs[Ipsec4::IcmpAcceptClear as usize].name,
            c"icmp_accept_clear"
        );
        assert_eq!(
            IPSEC4.knobs[Ipsec4::AsyncCrypto as usize].name,
            c"async_crypto"
        );
        assert_eq!(IPSEC4.knobs.len(), Ipsec4::AsyncCrypto as usize + 1);
        assert_eq!(IPSEC6.knobs[Ipsec6::Ecn as usize].name, c"ecn");
        assert_eq!(
            IPSEC6.knobs[Ipsec6::IcmpAcceptClear as usize].name,
            c"icmp_accept_clear"
        );
        assert_eq!(IPSEC6.knobs.len(), Ipsec6::IcmpAcceptClear as usize + 1);
        assert_eq!(ESP.knobs[Enable::Enable as usize].name, c"enable");
    }

    #[test]
    fn defaults_are_kame_and_openbsd() {
        let want: [(&Tree, &str, i32); 22] = [
            (&IPSEC4, "esp_trans_deflev", 1),
            (&IPSEC4, "esp_net_deflev", 1),
            (&IPSEC4, "ah_trans_deflev", 1),
            (&IPSEC4, "ah_net_deflev", 1),
            (&IPSEC4, "def_policy", 1),
            (&IPSEC4, "ah_cleartos", 1),
            (&IPSEC4, "ah_offsetmask", 0),
            (&IPSEC4, "dfbit", 0),
            (&IPSEC4, "ecn", 0),
            (&IPSEC4, "debug", 0),
            (&IPSEC4, "icmp_accept_clear", 0),
            (&IPSEC4, "async_crypto", 1),
            (&IPSEC6, "esp_trans_deflev", 1),
            (&IPSEC6, "esp_net_deflev", 1),
            (&IPSEC6, "ah_trans_deflev", 1),
            (&IPSEC6, "ah_net_deflev", 1),
            (&IPSEC6, "def_policy", 1),
            (&IPSEC6, "ecn", 0),
            (&IPSEC6, "debug", 0),
            (&IPSEC6, "icmp_accept_clear", 0),
            (&ESP, "enable", 1),
            (&AH, "enable", 1),
        ];
        for (tree, name, default) in want {
            assert_eq!(knob(tree, name).default, default, "{:?}/{name}", tree.path);
        }
        let total: usize = TREES.iter().map(|t| t.knobs.len()).sum();
        assert_eq!(total, want.len());
    }

    #[test]
    fn ranges_refuse_with_einval() {
        let cases: [(&Tree, &str, i32, bool); 24] = [
            (&IPSEC4, "esp_trans_deflev", 0, false),
            (&IPSEC4, "esp_trans_deflev", 1, true),
            (&IPSEC4, "esp_trans_deflev", 2, true),
            (&IPSEC4, "esp_trans_deflev", 3, false),
            (&IPSEC6, "ah_net_deflev", 3, false),
            (&IPSEC4, "def_policy", -1, false),
            (&IPSEC4, "def_policy", 0, true),
            (&IPSEC4, "def_policy", 2, false),
            (&IPSEC4, "dfbit", 2, true),
            (&IPSEC4, "dfbit", 3, false),
            (&IPSEC4, "ecn", -1, true),
            (&IPSEC4, "ecn", -2, false),
            (&IPSEC4, "ecn", 2, false),
            (&IPSEC4, "ah_offsetmask", 0xffff, true),
            (&IPSEC4, "ah_offsetmask", 0x10000, false),
            (&IPSEC4, "ah_offsetmask", -1, false),
            (&IPSEC4, "debug", 2, false),
            (&ESP, "enable", 0, true),
            (&AH, "enable", 2, false),
            (&IPSEC6, "ecn", i32::MIN, false),
            (&IPSEC4, "icmp_accept_clear", 1, true),
            (&IPSEC4, "icmp_accept_clear", 2, false),
            (&IPSEC6, "icmp_accept_clear", -1, false),
            (&IPSEC6, "icmp_accept_clear", 0, true),
        ];
        for (tree, name, v, ok) in cases {
            let got = knob(tree, name).check(v);
            assert_eq!(got.is_ok(), ok, "{:?}/{name} = {v}", tree.path);
            if !ok {
                assert_eq!(got, Err(Errno::EINVAL));
            }
        }
    }

    #[test]
    fn every_default_is_in_range() {
        for t in TREES {
            for k in t.knobs {
                assert_eq!(
                    k.check(k.default),
                    Ok(k.default),
                    "{:?}/{:?}",
                    t.path,
                    k.name
                );
            }
        }
    }
}
