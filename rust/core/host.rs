// SPDX-License-Identifier: GPL-2.0

//! Host build of the kame-ipsec core, for `cargo test`, `cargo fuzz` and the
//! userspace tools.
//!
//! The kernel module mounts `lib.rs` as its module `kame_core`; this root does
//! the same so that `crate::kame_core::...` paths work in both builds.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

#[path = "lib.rs"]
pub mod kame_core;

pub use kame_core::*;
