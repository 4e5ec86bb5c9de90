// SPDX-License-Identifier: GPL-2.0

//! Integer sysctls registered per network namespace
//! (`register_net_sysctl_sz()`).
//!
//! Each value lives in an [`Entry`] the table points at through `extra1`.
//! Our handler parses a write into a temporary, checks the writer's
//! CAP_NET_ADMIN over the namespace and the setting's range, and only then
//! stores it: a refused write changes nothing.

use super::{bindings, net::Net};
use core::ffi::{c_int, c_void, CStr};
use kernel::{
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc,
    },
};

/// What the kernel-API layer needs to know of one integer setting.
pub(crate) trait IntSetting: Sync + 'static {
    /// The leaf name under the table's directory.
    fn name(&self) -> &'static CStr;
    /// The value a new namespace starts with.
    fn default(&self) -> i32;
    /// Whether a written value is accepted (EINVAL otherwise).
    fn accepts(&self, value: i32) -> bool;
}

/// One setting's value in one namespace.
struct Entry {
    value: Atomic<i32>,
    setting: &'static dyn IntSetting,
    net: *mut bindings::net,
}

/// The values of one table's settings, shared between the table (whose
/// handler writes them) and the packet path's readers ([`IntValues`]).
struct Entries(KVec<Entry>);

// SAFETY: an entry's `net` is only read by the handler, which runs while
// the table is registered; the values are atomics, read and written from
// any thread.
unsafe impl Send for Entries {}
// SAFETY: as for `Send`: through `&Entries` only the atomics are used
// concurrently.
unsafe impl Sync for Entries {}

/// A directory of integer sysctls registered in one namespace.
///
/// # Invariants
///
/// `header` is the registration of `_table`, whose entries point at the
/// elements of `entries`; neither is ever resized, and `entries` is kept
/// alive by the reference held here, so those pointers stay valid until
/// `drop` unregisters the table. The kernel reads both through those
/// pointers only.
pub(crate) struct IntTable {
    header: *mut bindings::ctl_table_header,
    _table: KVec<bindings::ctl_table>,
    entries: Arc<Entries>,
}

// SAFETY: the raw pointers are only used to unregister (from any thread) and
// by the kernel's handler calls, which `Entry`'s atomics make safe to run
// concurrently.
unsafe impl Send for IntTable {}
// SAFETY: through `&self` only the shared values are reached.
unsafe impl Sync for IntTable {}

/// A reader of one table's current values, usable after the table is
/// gone (the values then no longer change).
#[derive(Clone)]
pub(crate) struct IntValues(Arc<Entries>);

impl IntValues {
    /// The current value of setting `i` (in registration order); 0 past
    /// the end. Any context: one relaxed load.
    pub(crate) fn get(&self, i: usize) -> i32 {
        self.0 .0.get(i).map_or(0, |e| e.value.load(Relaxed))
    }
}

impl IntTable {
    /// Registers `settings` under `path` (`net/inet/ipsec`) in `net`, each at
    /// its default.
    pub(crate) fn register(
        net: &Net,
        path: &'static CStr,
        settings: &[&'static dyn IntSetting],
    ) -> Result<Self> {
        let mut entries = KVec::with_capacity(settings.len(), GFP_KERNEL)?;
        for &setting in settings {
            entries
                .push_within_capacity(Entry {
                    value: Atomic::new(setting.default()),
                    setting,
                    net: net.as_ptr(),
                })
                .map_err(|_| ENOMEM)?;
        }
        let entries = Arc::new(Entries(entries), GFP_KERNEL)?;
        let mut table = KVec::with_capacity(settings.len(), GFP_KERNEL)?;
        for entry in entries.0.iter() {
            table
                .push_within_capacity(bindings::ctl_table {
                    procname: entry.setting.name().as_char_ptr(),
                    data: core::ptr::null_mut(),
                    maxlen: 0,
                    mode: 0o644,
                    proc_handler: Some(int_handler),
                    poll: core::ptr::null_mut(),
                    extra1: core::ptr::from_ref(entry).cast_mut().cast::<c_void>(),
                    extra2: core::ptr::null_mut(),
                })
                .map_err(|_| ENOMEM)?;
        }
        // SAFETY: `net` is live, `path` is a static C string, and `table`
        // holds `table.len()` entries that stay valid until unregistered
        // (type invariant, established next).
        let header = unsafe {
            bindings::register_net_sysctl_sz(
                net.as_ptr(),
                path.as_char_ptr(),
                table.as_mut_ptr(),
                table.len(),
            )
        };
        if header.is_null() {
            return Err(ENOMEM);
        }
        // INVARIANT: `table` is registered and points into `entries`.
        Ok(Self {
            header,
            _table: table,
            entries,
        })
    }
}

impl IntTable {
    /// A reader of the table's values.
    pub(crate) fn values(&self) -> IntValues {
        IntValues(self.entries.clone())
    }
}

impl Drop for IntTable {
    fn drop(&mut self) {
        // SAFETY: by the type invariant `header` is registered; this waits
        // for running handlers, after which nothing points into `table` or
        // `entries`.
        unsafe { bindings::unregister_net_sysctl_table(self.header) };
        // `table` and `entries` are freed after this, as fields.
    }
}

/// The `proc_handler` of every [`IntTable`] entry.
///
/// # Safety
///
/// Called by the sysctl core with `ctl` one of an [`IntTable`]'s registered
/// entries and the buffer arguments of `proc_dointvec`.
unsafe extern "C" fn int_handler(
    ctl: *const bindings::ctl_table,
    dir: c_int,
    buf: *mut c_void,
    lenp: *mut usize,
    ppos: *mut bindings::loff_t,
) -> c_int {
    // SAFETY: `extra1` of our entries points to an `Entry` that outlives the
    // registration (type invariant of `IntTable`), and the sysctl core does
    // not call handlers after unregistration.
    let entry = unsafe { &*(*ctl).extra1.cast::<Entry>() };
    // SAFETY: `entry.net` is the namespace the table is registered in, alive
    // while the table is.
    let net = unsafe { Net::from_raw(entry.net) };
    let writing = dir != 0;
    if writing && !net.current_is_net_admin() {
        return EPERM.to_errno();
    }
    let mut value: c_int = entry.value.load(Relaxed);
    let tmp = bindings::ctl_table {
        data: core::ptr::from_mut(&mut value).cast::<c_void>(),
        maxlen: core::mem::size_of::<c_int>() as c_int,
        proc_handler: None,
        extra1: core::ptr::null_mut(),
        // SAFETY: the caller passes a valid entry.
        ..unsafe { *ctl }
    };
    // SAFETY: `tmp` describes one `int` at `value`, live for the call; the
    // buffer arguments come from the caller unchanged.
    let ret = unsafe { bindings::proc_dointvec(&tmp, dir, buf, lenp, ppos) };
    if ret != 0 || !writing {
        return ret;
    }
    if !entry.setting.accepts(value) {
        return EINVAL.to_errno();
    }
    entry.value.store(value, Relaxed);
    0
}
