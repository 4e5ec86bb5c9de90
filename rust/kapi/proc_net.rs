// SPDX-License-Identifier: GPL-2.0

//! Per-namespace files under `/proc/net/` (`proc_net_mkdir`,
//! `proc_create_net_single_write`).
//!
//! `/proc/net` is the reader's own namespace's view, so each namespace
//! registers its own directory and a reader sees the files of the
//! namespace it is in.

use super::{bindings, net::Net};
use core::{ffi::CStr, ptr::NonNull};
use kernel::{
    error::from_result,
    ffi::{c_char, c_int, c_void},
    prelude::*,
    seq_file::SeqFile,
    str::CStrExt,
};

/// What one file shows and what a write to it does.
pub(crate) trait NetFile: Send + Sync + Sized + 'static {
    /// Prints the file's text. Process context.
    fn show(&self, out: &SeqFile) -> Result;

    /// Acts on `input`, written by a task with CAP_NET_ADMIN over the
    /// file's namespace (when it opened the file). Process context.
    fn write(&self, input: &[u8]) -> Result;
}

/// A directory of [`NetFile`]s in one namespace's `/proc/net/`, removed with
/// its files when dropped.
///
/// # Invariants
///
/// `dir` came from `kame_proc_net_mkdir()` and is removed only by `drop`.
/// Every file in it was created with a pointer to an element of `files`
/// as its data; the boxes do not move and outlive the directory.
pub(crate) struct ProcNetDir<T: NetFile> {
    dir: NonNull<bindings::proc_dir_entry>,
    files: KVec<KBox<T>>,
}

// SAFETY: the entry pointer is only passed to `proc_remove()`, from any
// thread; the files are `Send`.
unsafe impl<T: NetFile> Send for ProcNetDir<T> {}
// SAFETY: no method takes `&self`; the files are `Sync`.
unsafe impl<T: NetFile> Sync for ProcNetDir<T> {}

impl<T: NetFile> ProcNetDir<T> {
    /// Creates `/proc/net/<name>/` in `net`. Process context.
    pub(crate) fn new(net: &Net, name: &CStr) -> Result<Self> {
        // SAFETY: `net` is live (type invariant of `Net`), being set up by a
        // pernet `init` whose `/proc/net` exists; `name` is NUL-terminated.
        let p = unsafe { bindings::kame_proc_net_mkdir(net.as_ptr(), name.as_char_ptr()) };
        // INVARIANT: made just above, with no file yet.
        NonNull::new(p)
            .map(|dir| Self {
                dir,
                files: KVec::new(),
            })
            .ok_or(ENOMEM)
    }

    /// Adds file `name` with permissions `mode`, served by `file`.
    pub(crate) fn add(&mut self, name: &CStr, mode: u16, file: T) -> Result {
        self.files.reserve(1, GFP_KERNEL)?;
        let file = KBox::new(file, GFP_KERNEL)?;
        let data = core::ptr::from_ref::<T>(&file).cast_mut().cast::<c_void>();
        // SAFETY: `dir` is live (type invariant), `name` NUL-terminated; the
        // callbacks read `data` as a `T`, which lives as long as the entry
        // (pushed below, dropped after the directory is removed).
        let e = unsafe {
            bindings::proc_create_net_single_write(
                name.as_char_ptr(),
                mode,
                self.dir.as_ptr(),
                Some(show_trampoline::<T>),
                Some(write_trampoline::<T>),
                data,
            )
        };
        if e.is_null() {
            return Err(ENOMEM);
        }
        // INVARIANT: room was reserved, so the file is kept.
        self.files.push_within_capacity(file).map_err(|_| ENOMEM)
    }
}

impl<T: NetFile> Drop for ProcNetDir<T> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the directory is ours to remove,
        // once. `proc_remove()` waits for callbacks still running, so no
        // file's data is read once it returns and `files` drops.
        unsafe { bindings::proc_remove(self.dir.as_ptr()) };
    }
}

/// # Safety
///
/// Called by procfs for an open file of a [`ProcNetDir<T>`], whose data is
/// a live `T` until the directory is removed (type invariant).
unsafe extern "C" fn show_trampoline<T: NetFile>(
    m: *mut bindings::seq_file,
    _v: *mut c_void,
) -> c_int {
    from_result(|| {
        // SAFETY: `m` is the open file's seq_file, for this call.
        let data = unsafe { bindings::kame_seq_pde_data(m) };
        // SAFETY: the file's data is a `T` (see above), not freed while
        // the file's callbacks can run.
        let file = unsafe { &*data.cast::<T>() };
        // CAST: both bindings describe the kernel's one `struct seq_file`.
        // SAFETY: `m` is valid and used by this thread alone during `show`.
        let out = unsafe { SeqFile::from_raw(m.cast()) };
        file.show(out)?;
        Ok(0)
    })
}

/// # Safety
///
/// Called by procfs (`proc_simple_write()`) for an open file of a
/// [`ProcNetDir<T>`], with `buf` a kernel copy of `len` bytes.
unsafe extern "C" fn write_trampoline<T: NetFile>(
    f: *mut bindings::file,
    buf: *mut c_char,
    len: usize,
) -> c_int {
    from_result(|| {
        // SAFETY: `f` is open on a file of our directory, whose parent's
        // data is its namespace (`proc_net_mkdir()`), held by the open file.
        if !unsafe { bindings::kame_proc_file_net_admin(f) } {
            return Err(EPERM);
        }
        // SAFETY: as in `show_trampoline`: the file's data is a live `T`.
        let file = unsafe { &*bindings::kame_file_pde_data(f).cast::<T>() };
        // SAFETY: procfs passes a buffer of `len` bytes it owns for the call.
        let input = unsafe { core::slice::from_raw_parts(buf, len) };
        file.write(input)?;
        Ok(0)
    })
}
