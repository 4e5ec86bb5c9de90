// SPDX-License-Identifier: GPL-2.0

//! `/proc/net/kame_ipsec/{ipsecstat,espstat,ahstat}`: a namespace's
//! counters, one `name value` line each, KAME's field names, then the
//! nonzero rows of its histograms, one `histogram algorithm value` line
//! each. Writing `0` to a file resets its counters and histograms
//! (CAP_NET_ADMIN over the namespace).

#![forbid(unsafe_code)]

use crate::{
    kapi::{
        net::Net,
        proc_net::{NetFile, ProcNetDir},
    },
    stats::{Section, Stat, Stats},
    stats_hist::Hist,
};
use kernel::{prelude::*, seq_file::SeqFile, seq_print, sync::Arc};

/// The files: read by all, reset by the namespace's administrator.
const FILES: [(&CStr, Section); 3] = [
    (c"ipsecstat", Section::Ipsec),
    (c"espstat", Section::Esp),
    (c"ahstat", Section::Ah),
];

/// `rw-r--r--`: the write is checked for CAP_NET_ADMIN as well.
const MODE: u16 = 0o644;

/// One file: a section of a namespace's counters.
pub(crate) struct StatFile {
    stats: Arc<Stats>,
    section: Section,
}

impl NetFile for StatFile {
    fn show(&self, out: &SeqFile) -> Result {
        for &s in Stat::ALL.iter().filter(|s| s.section() == self.section) {
            seq_print!(out, "{} {}\n", s.name(), self.stats.get(s));
        }
        for h in Hist::of(self.section) {
            for (alg, v) in self.stats.hist().rows(h).filter(|&(_, v)| v != 0) {
                seq_print!(out, "{} {} {}\n", h.name(), alg.setkey_name, v);
            }
        }
        Ok(())
    }

    fn write(&self, input: &[u8]) -> Result {
        // `0`, as `echo 0 >` writes it; nothing else means anything.
        match input.trim_ascii() {
            b"0" => {
                self.stats.reset(self.section);
                Ok(())
            }
            _ => Err(EINVAL),
        }
    }
}

/// Publishes `stats` as `net`'s `/proc/net/kame_ipsec/` files.
pub(crate) fn register(net: &Net, stats: &Arc<Stats>) -> Result<ProcNetDir<StatFile>> {
    let mut dir = ProcNetDir::new(net, c"kame_ipsec")?;
    for (name, section) in FILES {
        let file = StatFile {
            stats: stats.clone(),
            section,
        };
        dir.add(name, MODE, file)?;
    }
    Ok(dir)
}
