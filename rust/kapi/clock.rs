// SPDX-License-Identifier: GPL-2.0

//! Wall-clock time, randomness and the crypto API's catalogue, as PF_KEY
//! needs them: lifetimes are in seconds since the epoch, SPIs are chosen at
//! random, and SADB_REGISTER lists the algorithms the kernel can provide.

use super::bindings;
use core::ffi::CStr;
use kernel::str::CStrExt;

/// Seconds since the epoch (`ktime_get_real_seconds()`), 0 before 1970.
pub(crate) fn real_seconds() -> u64 {
    // SAFETY: reads the timekeeping state; callable from any context.
    let s = unsafe { bindings::ktime_get_real_seconds() };
    u64::try_from(s).unwrap_or(0)
}

/// A random `u32` from the kernel's CSPRNG (`get_random_u32()`).
pub(crate) fn random_u32() -> u32 {
    // SAFETY: callable from any context once the RNG is set up, which it is
    // before modules load.
    unsafe { bindings::get_random_u32() }
}

/// Whether the crypto API can provide algorithm `name` (loading its
/// module if needed), as `crypto_has_alg()`.
pub(crate) fn crypto_has(name: &CStr) -> bool {
    // SAFETY: `name` is a NUL-terminated string valid for the call; the
    // function may sleep, and callers run in process context.
    unsafe { bindings::crypto_has_alg(name.as_char_ptr(), 0, 0) != 0 }
}
