// SPDX-License-Identifier: GPL-2.0

//! Conversions between the core's [`Errno`] and the kernel's [`Error`].

#![forbid(unsafe_code)]

use crate::kame_core::errno::Errno;
use kernel::prelude::*;

/// The kernel error for a core errno.
pub(crate) fn to_kernel(e: Errno) -> Error {
    Error::from_errno(-i32::from(e.0))
}

/// The core errno for a kernel error: its positive value (EINVAL if it
/// does not fit, which no kernel errno does).
pub(crate) fn from_kernel(e: Error) -> Errno {
    e.to_errno()
        .checked_neg()
        .and_then(|n| u16::try_from(n).ok())
        .map_or(Errno::EINVAL, Errno)
}
