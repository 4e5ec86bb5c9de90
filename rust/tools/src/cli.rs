// SPDX-License-Identifier: GPL-2.0

//! setkey's command line (`getopt("acdf:HlnvxDFPphVrk?")`), plus:
//!
//! - `-p esp|ah|ipcomp` right after `-D`/`-F`: restrict the dump or flush
//!   to one SA type (a bare `-p` keeps ipsec-tools' meaning: print ports);
//! - `--rcvbuf=N` or `KAME_SETKEY_RCVBUF=N`: the socket's `SO_RCVBUF`.

#![forbid(unsafe_code)]

use crate::ast::satype;

/// What the invocation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `-f file`
    Script,
    /// `-c`
    Stdin,
    /// `-D`
    Dump,
    /// `-F`
    Flush,
    /// `-x`
    Promisc,
}

/// Parsed options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cli {
    /// The mode; the last of `-f -c -D -F -x` wins, as with getopt.
    pub action: Option<Action>,
    /// `-f`'s argument (`-` is standard input).
    pub file: Option<String>,
    /// `-a`
    pub all: bool,
    /// `-l`
    pub forever: bool,
    /// `-n`
    pub notreally: bool,
    /// `-H`: hex dumps in `-x`.
    pub hexdump: bool,
    /// How many `-x`: 1 prints the time of day, 2 seconds since the epoch.
    pub tflag: u32,
    /// `-P`: the SPD instead of the SAD.
    pub policy: bool,
    /// `-p`: ports in dumps.
    pub withports: bool,
    /// `-p esp|ah|ipcomp`: the SA type of `-D`/`-F`.
    pub satype: u8,
    /// `-v`
    pub verbose: bool,
    /// `-k` clears it; `-r` (the default) sets it.
    pub no_fwd: bool,
    /// `--rcvbuf`, else `KAME_SETKEY_RCVBUF`.
    pub rcvbuf: Option<usize>,
    /// Files of raw PF_KEY messages to print.
    pub files: Vec<String>,
}

/// Why the usage text is printed instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    /// `-V`
    Version,
    /// `-h`, `-?`, an unknown option, no arguments.
    Help,
}

fn satype_of(name: &str) -> Option<u8> {
    match name {
        "esp" => Some(satype::ESP),
        "ah" => Some(satype::AH),
        "ipcomp" => Some(satype::IPCOMP),
        _ => None,
    }
}

/// Parses the arguments (without the program name).
pub fn parse_args(args: &[String]) -> Result<Cli, Usage> {
    if args.is_empty() {
        return Err(Usage::Help);
    }
    let mut c = Cli::default();
    let mut i = 0;
    let mut only_files = false;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if only_files || a == "-" || !a.starts_with('-') {
            c.files.push(a.clone());
            continue;
        }
        if a == "--" {
            only_files = true;
            continue;
        }
        if let Some(v) = a.strip_prefix("--rcvbuf=") {
            c.rcvbuf = Some(v.parse().map_err(|_| Usage::Help)?);
            continue;
        }
        let flags: Vec<char> = a[1..].chars().collect();
        for (k, &f) in flags.iter().enumerate() {
            let last = k + 1 == flags.len();
            match f {
                'c' => c.action = Some(Action::Stdin),
                'f' => {
                    let rest: String = flags[k + 1..].iter().collect();
                    let file = if rest.is_empty() {
                        i += 1;
                        args.get(i - 1).cloned().ok_or(Usage::Help)?
                    } else {
                        rest
                    };
                    c.action = Some(Action::Script);
                    c.file = Some(file);
                    break;
                }
                'D' => c.action = Some(Action::Dump),
                'F' => c.action = Some(Action::Flush),
                'a' => c.all = true,
                'l' => c.forever = true,
                'n' => c.notreally = true,
                'H' => c.hexdump = true,
                'x' => {
                    c.action = Some(Action::Promisc);
                    c.tflag += 1;
                }
                'P' => c.policy = true,
                'p' => match args.get(i).and_then(|n| satype_of(n)).filter(|_| last) {
                    Some(st) => {
                        c.satype = st;
                        i += 1;
                    }
                    None => c.withports = true,
                },
                'v' => c.verbose = true,
                'r' => c.no_fwd = false,
                'k' => c.no_fwd = true,
                'd' => {}
                'V' => return Err(Usage::Version),
                _ => return Err(Usage::Help),
            }
        }
    }
    if c.rcvbuf.is_none() {
        if let Ok(v) = std::env::var("KAME_SETKEY_RCVBUF") {
            c.rcvbuf = v.parse().ok();
        }
    }
    Ok(c)
}

/// The version line.
pub fn print_version() {
    println!(
        "setkey @(#) kame-tools {} (kame-ipsec)",
        env!("CARGO_PKG_VERSION")
    );
}

/// setkey's usage text.
pub fn print_usage() {
    print_version();
    println!("usage: setkey [-vrk] file ...");
    println!("       setkey [-nvrk] -c");
    println!("       setkey [-nvrk] -f filename");
    println!("       setkey [-Palpvrk] -D [-p esp|ah|ipcomp]");
    println!("       setkey [-Pv] -F [-p esp|ah|ipcomp]");
    println!("       setkey [-H] -x");
    println!("       setkey [-V] [-h]");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Cli, Usage> {
        parse_args(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn clustered_and_separate_flags() {
        let c = p(&["-DP"]).unwrap();
        assert_eq!((c.action, c.policy), (Some(Action::Dump), true));
        assert_eq!(p(&["-D", "-P"]).unwrap(), c);
        let c = p(&["-nvf", "conf"]).unwrap();
        assert_eq!(
            (c.action, c.file.as_deref()),
            (Some(Action::Script), Some("conf"))
        );
        assert!(c.notreally && c.verbose);
        assert_eq!(p(&["-f-"]).unwrap().file.as_deref(), Some("-"));
        assert_eq!(p(&["-xx"]).unwrap().tflag, 2);
        assert!(p(&["-k", "-c"]).unwrap().no_fwd);
    }

    #[test]
    fn p_takes_an_sa_type_or_means_ports() {
        let c = p(&["-D", "-p", "esp"]).unwrap();
        assert_eq!((c.satype, c.withports), (satype::ESP, false));
        let c = p(&["-Dp"]).unwrap();
        assert!(c.withports);
        let c = p(&["-F", "-p", "ipcomp"]).unwrap();
        assert_eq!(c.satype, satype::IPCOMP);
    }

    #[test]
    fn usage_cases() {
        assert_eq!(p(&[]), Err(Usage::Help));
        assert_eq!(p(&["-h"]), Err(Usage::Help));
        assert_eq!(p(&["-q"]), Err(Usage::Help));
        assert_eq!(p(&["-V"]), Err(Usage::Version));
        assert_eq!(p(&["-f"]), Err(Usage::Help));
        assert_eq!(p(&["--rcvbuf=4096", "-D"]).unwrap().rcvbuf, Some(4096));
        assert_eq!(
            p(&["dumpfile"]).unwrap().files,
            vec!["dumpfile".to_string()]
        );
    }
}
