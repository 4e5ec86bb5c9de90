// SPDX-License-Identifier: GPL-2.0

//! Policy failures logged when `net.inet.ipsec.debug` (or ipsec6's) is 1,
//! under the kernel's shared rate limit for packet-triggered messages, as
//! KAME logs them with `ipsec_debug`: direction, selector, SPI, reason.

#![forbid(unsafe_code)]

use crate::{
    kame_core::{
        flow::Flow,
        pfkey::wire::IpAddr,
        spd::{DIR_FWD, DIR_IN},
    },
    kapi::net::net_ratelimit,
};
use kernel::prelude::*;

/// Logs that a packet going `dir` failed its policy, if `debug` is on.
pub(crate) fn violation(debug: bool, dir: u8, flow: &Flow, spi: Option<u32>, reason: &str) {
    if !debug || !net_ratelimit() {
        return;
    }
    let dir = match dir {
        DIR_IN => "in",
        DIR_FWD => "fwd",
        _ => "out",
    };
    let spi = spi.unwrap_or(0);
    pr_info!(
        "policy violation {}: {} port {} > {} port {} proto {} spi {:#x}: {}\n",
        dir,
        Addr(&flow.src),
        flow.sport,
        Addr(&flow.dst),
        flow.dport,
        flow.proto,
        spi,
        reason
    );
}

/// An address for the kernel's formatting (the core's `Display`).
struct Addr<'a>(&'a IpAddr);

impl kernel::fmt::Display for Addr<'_> {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        core::fmt::Display::fmt(self.0, f)
    }
}
