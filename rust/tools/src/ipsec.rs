// SPDX-License-Identifier: GPL-2.0

//! Numbers of Linux's `include/uapi/linux/ipsec.h` and libipsec's
//! `libpfkey.h` that policies are made of.

#![forbid(unsafe_code)]

/// `PRIORITY_LOW`, `PRIORITY_DEFAULT`, `PRIORITY_HIGH` (libpfkey.h).
pub const PRIORITY_LOW: u32 = 0xC000_0000;
/// `prio def`: what a policy without a priority gets.
pub const PRIORITY_DEFAULT: u32 = 0x8000_0000;
/// `prio high`
pub const PRIORITY_HIGH: u32 = 0x4000_0000;

/// `IPSEC_DIR_*`
pub mod dir {
    /// `IPSEC_DIR_INBOUND`
    pub const IN: u8 = 1;
    /// `IPSEC_DIR_OUTBOUND`
    pub const OUT: u8 = 2;
    /// `IPSEC_DIR_FWD`
    pub const FWD: u8 = 3;
}

/// `IPSEC_POLICY_*`
pub mod ptype {
    /// `IPSEC_POLICY_DISCARD`
    pub const DISCARD: u16 = 0;
    /// `IPSEC_POLICY_NONE`
    pub const NONE: u16 = 1;
    /// `IPSEC_POLICY_IPSEC`
    pub const IPSEC: u16 = 2;
    /// `IPSEC_POLICY_ENTRUST`
    pub const ENTRUST: u16 = 3;
    /// `IPSEC_POLICY_BYPASS`
    pub const BYPASS: u16 = 4;
}

/// `IPSEC_LEVEL_*`
pub mod level {
    /// `IPSEC_LEVEL_DEFAULT`
    pub const DEFAULT: u8 = 0;
    /// `IPSEC_LEVEL_USE`
    pub const USE: u8 = 1;
    /// `IPSEC_LEVEL_REQUIRE`
    pub const REQUIRE: u8 = 2;
    /// `IPSEC_LEVEL_UNIQUE`
    pub const UNIQUE: u8 = 3;
}

/// `IPPROTO_ESP`, `IPPROTO_AH`, `IPPROTO_COMP`.
pub mod proto {
    /// `IPPROTO_ESP`
    pub const ESP: u16 = 50;
    /// `IPPROTO_AH`
    pub const AH: u16 = 51;
    /// `IPPROTO_COMP`
    pub const IPCOMP: u16 = 108;
}
