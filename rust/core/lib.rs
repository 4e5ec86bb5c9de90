// SPDX-License-Identifier: GPL-2.0

//! The pure core of kame-ipsec: no `unsafe`, no kernel calls, no allocation.
//!
//! Everything here is plain data and arithmetic, built both inside the kernel
//! module (mounted as `kame_core`) and as a host crate (`rust/core/host.rs`),
//! so `cargo test` covers it in seconds without a VM.

#![forbid(unsafe_code)]

pub mod acquire;
mod addr_fmt;
pub mod ah;
pub mod algs;
pub mod errno;
pub mod esp;
pub mod flow;
pub mod hash;
pub mod icmp;
pub mod natt;
pub mod pfkey;
pub mod pmtu;
pub mod replay;
pub mod sad;
pub mod sockpolicy;
pub mod spd;
pub mod sysctl;
pub mod tcp_mss;
pub mod tunnel;
pub mod xform;
