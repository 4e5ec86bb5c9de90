// SPDX-License-Identifier: GPL-2.0

//! `setkey` (work in progress).

#![deny(unsafe_code)]
#![allow(dead_code)]

mod addr;
mod algs;
mod ast;
mod client;
mod ipsec;
mod kdebug;
mod lexer;
mod parse_sa;
mod parse_spd;
mod parser;
mod pfkey_socket;
mod policy;
mod print;
mod protocols;
mod request;
mod spdump;
mod tz;

fn main() {}
