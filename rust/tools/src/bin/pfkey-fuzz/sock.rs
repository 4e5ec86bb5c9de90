// SPDX-License-Identifier: GPL-2.0

//! The only `unsafe` of the fuzz client: a non-blocking PF_KEY socket
//! (`socket(PF_KEY, SOCK_RAW | SOCK_NONBLOCK, PF_KEY_V2)`) with send,
//! receive, `SO_RCVBUF` and close.

#![expect(
    unsafe_code,
    reason = "the libc socket calls of the fuzz client live here"
)]

use std::io;

/// An open, non-blocking PF_KEY socket, closed on drop.
///
/// # Invariants
///
/// `fd` is a socket descriptor owned by this value and open until `drop`.
pub struct Sock {
    fd: libc::c_int,
}

/// The errno of the last failed call.
fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

impl Sock {
    /// Opens a socket.
    pub fn open() -> io::Result<Sock> {
        let proto = libc::c_int::from(kame_core::pfkey::PF_KEY_V2);
        // SAFETY: `socket` takes no pointers; the result is checked.
        let fd = unsafe { libc::socket(libc::PF_KEY, libc::SOCK_RAW | libc::SOCK_NONBLOCK, proto) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // INVARIANT: `fd` was just returned by a successful `socket`.
        Ok(Sock { fd })
    }

    /// Sets `SO_RCVBUF` (the kernel doubles it and keeps a minimum).
    pub fn set_rcvbuf(&self, bytes: i32) -> io::Result<()> {
        let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `bytes` lives across the call and `len` is its size;
        // `self.fd` is open by the type invariant.
        let ret = unsafe {
            libc::setsockopt(
                self.fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&bytes as *const libc::c_int).cast(),
                len,
            )
        };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Writes one message: `Ok(())` or the errno the write failed with.
    pub fn send(&self, msg: &[u8]) -> Result<(), i32> {
        // SAFETY: `msg` is valid for `msg.len()` bytes during the call;
        // `self.fd` is open by the type invariant.
        let n = unsafe { libc::send(self.fd, msg.as_ptr().cast(), msg.len(), 0) };
        if n < 0 {
            return Err(errno());
        }
        Ok(())
    }

    /// Reads one queued message into `buf` without blocking: its whole
    /// length (which may exceed `buf`, MSG_TRUNC), `None` when nothing is
    /// queued.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            // SAFETY: `buf` is writable for `buf.len()` bytes during the
            // call; `self.fd` is open by the type invariant.
            let n = unsafe {
                libc::recv(
                    self.fd,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                )
            };
            if n >= 0 {
                return Ok(Some(n as usize));
            }
            match errno() {
                libc::EAGAIN => return Ok(None),
                libc::EINTR => continue,
                _ => return Err(io::Error::last_os_error()),
            }
        }
    }
}

impl Drop for Sock {
    fn drop(&mut self) {
        // SAFETY: `self.fd` is open by the type invariant and closed only
        // here, once.
        unsafe {
            libc::close(self.fd);
        }
    }
}
