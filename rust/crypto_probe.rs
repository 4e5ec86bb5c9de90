// SPDX-License-Identifier: GPL-2.0

//! Which of our table's algorithms the crypto API can run, asked once per
//! algorithm while the module is loaded. Asking `crypto_has_alg()` about an
//! algorithm the kernel lacks runs modprobe for it, every time (seconds
//! each under emulation), and SADB_REGISTER asks about every algorithm
//! with the key mutex held; af_key asks each time, we remember the answer.
//! An algorithm whose module is installed after the first question is seen
//! after the module is reloaded.

#![forbid(unsafe_code)]

use crate::{
    kame_core::algs::{AUTH, ENC},
    kapi::clock::crypto_has,
};
use core::ffi::CStr;
use kernel::sync::atomic::{Atomic, Relaxed};

const UNKNOWN: i32 = 0;
const YES: i32 = 1;
const NO: i32 = 2;

static AUTH_SEEN: [Atomic<i32>; AUTH.len()] = [const { Atomic::new(UNKNOWN) }; AUTH.len()];
static ENC_SEEN: [Atomic<i32>; ENC.len()] = [const { Atomic::new(UNKNOWN) }; ENC.len()];

/// Whether the crypto API can provide `name`; remembered for the names
/// of our algorithm tables, asked afresh for any other.
pub(crate) fn has(name: &CStr) -> bool {
    let slot = AUTH
        .iter()
        .zip(&AUTH_SEEN)
        .chain(ENC.iter().zip(&ENC_SEEN))
        .find(|(a, _)| a.crypto_name == name)
        .map(|(_, s)| s);
    let Some(slot) = slot else {
        return crypto_has(name);
    };
    match slot.load(Relaxed) {
        YES => true,
        NO => false,
        _ => {
            // Two threads may both ask; they get the same answer.
            let yes = crypto_has(name);
            slot.store(if yes { YES } else { NO }, Relaxed);
            yes
        }
    }
}
