// SPDX-License-Identifier: GPL-2.0

//! kame-tools: the PF_KEY client library behind the `setkey` and
//! `pfkey-bench` binaries, and the counter reader of `ipsecstat`.
//!
//! Every module forbids `unsafe` except `pfkey_socket`, the one place that
//! calls libc; the root denies it so that only that module can opt out.

#![deny(unsafe_code)]

pub mod addr;
pub mod algs;
pub mod ast;
pub mod bulk;
pub mod bulk_dump;
pub mod cli;
pub mod client;
pub mod exec;
pub mod ipsec;
pub mod ipsecstat;
pub mod kdebug;
pub mod lexer;
pub mod parse_sa;
pub mod parse_spd;
pub mod parser;
pub mod pfkey_socket;
pub mod policy;
pub mod print;
pub mod protocols;
pub mod request;
pub mod run;
pub mod spdump;
pub mod tz;

#[cfg(test)]
mod tests;
