// SPDX-License-Identifier: GPL-2.0

//! `setkey`: a setkey(8)-compatible PF_KEY v2 client for kame-ipsec (and
//! Linux's af_key), with ipsec-tools 0.8's options, language and output.
//!
//! Every module forbids `unsafe` except `pfkey_socket`, the one place that
//! calls libc; the root denies it so that only that module can opt out.

#![deny(unsafe_code)]

mod addr;
mod algs;
mod ast;
mod cli;
mod client;
mod exec;
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
mod run;
mod spdump;
mod tz;

#[cfg(test)]
mod tests;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match cli::parse_args(&args) {
        Ok(cli) => run::main(cli),
        Err(cli::Usage::Version) => {
            cli::print_version();
            1
        }
        Err(cli::Usage::Help) => {
            cli::print_usage();
            1
        }
    };
    std::process::exit(code);
}
