// SPDX-License-Identifier: GPL-2.0

//! The sysctl trees of one namespace: the core's table, registered through
//! the kernel-API layer.

#![forbid(unsafe_code)]

use crate::{
    kame_core::sysctl::{Knob, TREES},
    kapi::{
        net::Net,
        sysctl::{IntSetting, IntTable},
    },
};
use core::ffi::CStr;
use kernel::prelude::*;

impl IntSetting for Knob {
    fn name(&self) -> &'static CStr {
        self.name
    }

    fn default(&self) -> i32 {
        self.default
    }

    fn accepts(&self, value: i32) -> bool {
        self.check(value).is_ok()
    }
}

/// The registered trees of one namespace, in [`TREES`] order.
pub(crate) struct Sysctls {
    _tables: KVec<IntTable>,
}

impl Sysctls {
    /// Registers every tree in `net`, each knob at its default.
    pub(crate) fn register(net: &Net) -> Result<Self> {
        let mut tables = KVec::with_capacity(TREES.len(), GFP_KERNEL)?;
        for tree in TREES {
            let mut settings: KVec<&'static dyn IntSetting> =
                KVec::with_capacity(tree.knobs.len(), GFP_KERNEL)?;
            for knob in tree.knobs {
                settings.push(knob, GFP_KERNEL)?;
            }
            let table = IntTable::register(net, tree.path, &settings)?;
            tables.push(table, GFP_KERNEL)?;
        }
        Ok(Sysctls { _tables: tables })
    }
}
