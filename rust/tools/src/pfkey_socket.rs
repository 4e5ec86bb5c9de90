// SPDX-License-Identifier: GPL-2.0

//! The only `unsafe` in the tools: a PF_KEY v2 socket (`socket(PF_KEY,
//! SOCK_RAW, PF_KEY_V2)`) with send, receive, two socket options and close.
//!
//! Everything above this file sees a [`Transport`](crate::client::Transport).

#![expect(unsafe_code, reason = "the libc socket calls of the tool live here")]

use std::io;
use std::time::Duration;

use crate::client::Transport;

/// An open PF_KEY socket, closed on drop.
///
/// # Invariants
///
/// `fd` is a socket descriptor owned by this value and open until `drop`.
pub struct PfkeySocket {
    fd: libc::c_int,
}

/// Maps a `-1` return to the thread's `errno`.
fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

impl PfkeySocket {
    /// Opens a PF_KEY v2 socket.
    pub fn open() -> io::Result<PfkeySocket> {
        let proto = libc::c_int::from(kame_core::pfkey::PF_KEY_V2);
        // SAFETY: `socket` takes no pointers; any integer arguments are valid
        // and the result is checked before use.
        let fd = check(unsafe { libc::socket(libc::PF_KEY, libc::SOCK_RAW, proto) })?;
        // INVARIANT: `fd` was just returned by a successful `socket`.
        Ok(PfkeySocket { fd })
    }

    /// Sets `SO_RCVBUF` to `bytes` (the kernel doubles and caps it).
    pub fn set_rcvbuf(&self, bytes: usize) -> io::Result<()> {
        let val = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `val` lives across the call and `len` is its exact size;
        // `self.fd` is open by the type invariant.
        let ret = unsafe {
            libc::setsockopt(
                self.fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&val as *const libc::c_int).cast(),
                len,
            )
        };
        check(ret).map(|_| ())
    }

    /// Sets `SO_RCVTIMEO`, so that a kernel that never answers cannot hang
    /// the tool.
    pub fn set_recv_timeout(&self, timeout: Duration) -> io::Result<()> {
        let tv = libc::timeval {
            tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_usec: libc::suseconds_t::from(timeout.subsec_micros() as i32),
        };
        let len = std::mem::size_of::<libc::timeval>() as libc::socklen_t;
        // SAFETY: `tv` lives across the call and `len` is its exact size;
        // `self.fd` is open by the type invariant.
        let ret = unsafe {
            libc::setsockopt(
                self.fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                len,
            )
        };
        check(ret).map(|_| ())
    }
}

impl Transport for PfkeySocket {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        // SAFETY: `msg` is a valid slice for `msg.len()` bytes during the
        // call; `self.fd` is open by the type invariant.
        let n = unsafe { libc::send(self.fd, msg.as_ptr().cast(), msg.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n as usize != msg.len() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short send"));
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // SAFETY: `buf` is a valid, writable slice for `buf.len()` bytes
            // during the call; `self.fd` is open by the type invariant.
            let n = unsafe { libc::recv(self.fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

impl Drop for PfkeySocket {
    fn drop(&mut self) {
        // SAFETY: `self.fd` is open by the type invariant and closed only
        // here, once.
        unsafe {
            libc::close(self.fd);
        }
    }
}
