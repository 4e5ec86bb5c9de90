// SPDX-License-Identifier: GPL-2.0

//! The Linux errno values the core reports, and the one map from them to the
//! byte a PF_KEY error reply carries.

/// A Linux errno, positive, as the core reports it.
///
/// The module turns it into the kernel's negative error code at the boundary;
/// PF_KEY error replies carry it in `sadb_msg_errno` through [`Errno::reply_byte`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub u16);

impl Errno {
    /// Operation not permitted.
    pub const EPERM: Errno = Errno(1);
    /// No such file or directory (no such entry).
    pub const ENOENT: Errno = Errno(2);
    /// No such process (no such SA).
    pub const ESRCH: Errno = Errno(3);
    /// Interrupted system call.
    pub const EINTR: Errno = Errno(4);
    /// Out of memory.
    pub const ENOMEM: Errno = Errno(12);
    /// Permission denied.
    pub const EACCES: Errno = Errno(13);
    /// Bad address.
    pub const EFAULT: Errno = Errno(14);
    /// Device or resource busy.
    pub const EBUSY: Errno = Errno(16);
    /// File exists.
    pub const EEXIST: Errno = Errno(17);
    /// Invalid argument.
    pub const EINVAL: Errno = Errno(22);
    /// File name too long (a crypto algorithm name over 127 bytes).
    pub const ENAMETOOLONG: Errno = Errno(36);
    /// Function not implemented (unknown algorithm, as af_key).
    pub const ENOSYS: Errno = Errno(38);
    /// Message too long.
    pub const EMSGSIZE: Errno = Errno(90);
    /// Protocol not supported.
    pub const EPROTONOSUPPORT: Errno = Errno(93);
    /// Socket type not supported.
    pub const ESOCKTNOSUPPORT: Errno = Errno(94);
    /// Operation not supported.
    pub const EOPNOTSUPP: Errno = Errno(95);
    /// No buffer space available.
    pub const ENOBUFS: Errno = Errno(105);

    /// The kernel-internal "restart the system call" codes, which user space
    /// must never see.
    const RESTART_CODES: [u16; 4] = [512, 513, 514, 516];

    /// The value a PF_KEY error reply carries in `sadb_msg_errno`.
    ///
    /// Total, as af_key's `pfkey_error()`: the restart codes become EINTR,
    /// anything else that does not fit in the byte (or is zero) becomes EINVAL.
    pub fn reply_byte(self) -> u8 {
        if Self::RESTART_CODES.contains(&self.0) {
            return Self::EINTR.0 as u8;
        }
        match u8::try_from(self.0) {
            Ok(0) | Err(_) => Self::EINVAL.0 as u8,
            Ok(b) => b,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Errno;

    #[test]
    fn reply_byte_is_total() {
        assert_eq!(Errno::EOPNOTSUPP.reply_byte(), 95);
        assert_eq!(Errno(512).reply_byte(), 4);
        assert_eq!(Errno(516).reply_byte(), 4);
        assert_eq!(Errno(600).reply_byte(), 22);
        assert_eq!(Errno(0).reply_byte(), 22);
        assert_eq!(Errno(255).reply_byte(), 255);
    }
}
