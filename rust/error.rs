// SPDX-License-Identifier: GPL-2.0

//! Conversions between the core's [`Errno`] and the kernel's [`Error`].

#![forbid(unsafe_code)]

use crate::kame_core::errno::Errno;
use kernel::prelude::*;

/// The kernel error for a core errno.
pub(crate) fn to_kernel(e: Errno) -> Error {
    Error::from_errno(-i32::from(e.0))
}
