// SPDX-License-Identifier: GPL-2.0

//! The sysctl trees of one namespace: the core's table, registered through
//! the kernel-API layer.

#![forbid(unsafe_code)]

use crate::{
    kame_core::sysctl::{Enable, Ipsec4, Ipsec6, Knob, TREES},
    kapi::{
        net::Net,
        sysctl::{IntSetting, IntTable, IntValues},
    },
};
use core::ffi::CStr;
use kernel::{prelude::*, sync::Arc};

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
    values: Arc<SysctlValues>,
}

/// The current values of one namespace's trees, for the packet path: a
/// packet in asynchronous crypto reads them through its token, after
/// the hook that took it returned.
pub(crate) struct SysctlValues {
    tables: KVec<IntValues>,
}

/// A knob of one of the trees, as the packet path names it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Setting {
    /// `net.inet.ipsec.*`
    V4(Ipsec4),
    /// `net.inet6.ipsec6.*`
    V6(Ipsec6),
    /// `net.inet.esp.enable`
    EspEnable,
    /// `net.inet.ah.enable`
    AhEnable,
}

impl Sysctls {
    /// Registers every tree in `net`, each knob at its default.
    pub(crate) fn register(net: &Net) -> Result<Self> {
        let mut tables = KVec::with_capacity(TREES.len(), GFP_KERNEL)?;
        let mut values = KVec::with_capacity(TREES.len(), GFP_KERNEL)?;
        for tree in TREES {
            let mut settings: KVec<&'static dyn IntSetting> =
                KVec::with_capacity(tree.knobs.len(), GFP_KERNEL)?;
            for knob in tree.knobs {
                settings.push(knob, GFP_KERNEL)?;
            }
            let table = IntTable::register(net, tree.path, &settings)?;
            values.push(table.values(), GFP_KERNEL)?;
            tables.push(table, GFP_KERNEL)?;
        }
        Ok(Sysctls {
            _tables: tables,
            values: Arc::new(SysctlValues { tables: values }, GFP_KERNEL)?,
        })
    }

    /// The values, for the packet path.
    pub(crate) fn values(&self) -> &Arc<SysctlValues> {
        &self.values
    }

    /// The current value of `s`.
    pub(crate) fn get(&self, s: Setting) -> i32 {
        self.values.get(s)
    }
}

impl SysctlValues {
    /// The current value of `s` (indices follow [`TREES`]' order).
    pub(crate) fn get(&self, s: Setting) -> i32 {
        let (tree, knob) = match s {
            Setting::V4(k) => (0, k as usize),
            Setting::V6(k) => (1, k as usize),
            Setting::EspEnable => (2, Enable::Enable as usize),
            Setting::AhEnable => (3, Enable::Enable as usize),
        };
        self.tables.get(tree).map_or(0, |t| t.get(knob))
    }

    /// A setting both families have: `k6` of `net.inet6.ipsec6` for IPv6,
    /// else `k4` of `net.inet.ipsec`.
    pub(crate) fn of_family(&self, v6: bool, k4: Ipsec4, k6: Ipsec6) -> i32 {
        self.get(if v6 { Setting::V6(k6) } else { Setting::V4(k4) })
    }
}
