// SPDX-License-Identifier: GPL-2.0

//! Policy failures and drops logged when `net.inet.ipsec.debug` (or
//! ipsec6's) is 1, under the kernel's shared rate limit for packet-triggered
//! messages, as KAME logs them with `ipsec_debug`: direction, selector (or
//! the SA's addresses), SPI, reason.

#![forbid(unsafe_code)]

use crate::{
    kame_core::{
        flow::Flow,
        pfkey::wire::IpAddr,
        sad::{SaRecord, IPPROTO_AH},
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
    let dir = dir_name(dir);
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

/// Logs that a packet going `dir` through SA `rec` was dropped, if
/// `debug` is on: `stat` is the counter it went to.
pub(crate) fn sa_drop(debug: bool, dir: u8, rec: &SaRecord, stat: &str, reason: &str) {
    if !debug || !net_ratelimit() {
        return;
    }
    let proto = if rec.id.proto == IPPROTO_AH {
        "ah"
    } else {
        "esp"
    };
    pr_info!(
        "drop {}: {} spi {:#x} {} > {}: {} ({})\n",
        dir_name(dir),
        proto,
        rec.id.spi,
        Addr(&rec.src),
        Addr(&rec.id.dst),
        reason,
        stat
    );
}

/// Logs a drop no SA or selector is known for, if `debug` is on.
pub(crate) fn plain_drop(debug: bool, dir: u8, stat: &str, reason: &str) {
    if debug && net_ratelimit() {
        pr_info!("drop {}: {} ({})\n", dir_name(dir), reason, stat);
    }
}

fn dir_name(dir: u8) -> &'static str {
    match dir {
        DIR_IN => "in",
        DIR_FWD => "fwd",
        _ => "out",
    }
}

/// An address for the kernel's formatting (the core's `Display`).
struct Addr<'a>(&'a IpAddr);

impl kernel::fmt::Display for Addr<'_> {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        core::fmt::Display::fmt(self.0, f)
    }
}
