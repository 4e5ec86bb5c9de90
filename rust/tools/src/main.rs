// SPDX-License-Identifier: GPL-2.0

//! `setkey`: a setkey(8)-compatible PF_KEY v2 client for kame-ipsec (and
//! Linux's af_key), with ipsec-tools 0.8's options, language and output.

#![forbid(unsafe_code)]

use kame_tools::{cli, run};

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
