// SPDX-License-Identifier: GPL-2.0

//! `setkey` (work in progress).

#![deny(unsafe_code)]
#![allow(dead_code)]

mod algs;
mod lexer;

fn main() {}
