// SPDX-License-Identifier: GPL-2.0

//! `ipsecstat`: kame_ipsec's counters for the current network namespace,
//! as BSD `netstat -s -p ipsec|esp|ah` prints them.
//!
//! ```text
//! ipsecstat [-p ipsec|esp|ah] [-z]
//! ```
//!
//! Without `-p`, all three sections. `-z` resets the sections shown after
//! printing them (CAP_NET_ADMIN over the namespace), as `netstat -z`.

#![forbid(unsafe_code)]

use kame_tools::ipsecstat::{parse, render, section, Section, PROC_DIR, SECTIONS};
use std::process::ExitCode;

const USAGE: &str = "usage: ipsecstat [-p ipsec|esp|ah] [-z]";

fn parse_args() -> Result<(Vec<&'static Section>, bool), String> {
    let mut secs = Vec::new();
    let mut zero = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-z" => zero = true,
            "-p" => {
                let p = args.next().ok_or(USAGE)?;
                secs.push(section(&p).ok_or(format!("unknown protocol {p}\n{USAGE}"))?);
            }
            _ => return Err(USAGE.into()),
        }
    }
    if secs.is_empty() {
        secs.extend(SECTIONS.iter());
    }
    Ok((secs, zero))
}

fn run() -> Result<(), String> {
    let (secs, zero) = parse_args()?;
    for sec in secs {
        let path = format!("{PROC_DIR}/{}", sec.file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{path}: {e} (is kame_ipsec loaded?)"))?;
        print!("{}", render(sec, &parse(&text)));
        if zero {
            std::fs::write(&path, "0\n").map_err(|e| format!("cannot reset {path}: {e}"))?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ipsecstat: {e}");
            ExitCode::FAILURE
        }
    }
}
