//! Errors: a negative errno from libbus, in bus_strerror()'s words.

use std::ffi::CStr;
use std::fmt;

use crate::ffi;

/// An error from libbus or busd: an errno value, displayed with the words
/// of `bus_strerror()`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Error {
    errno: i32,
}

impl Error {
    /// The error for an errno value; either sign is accepted (libbus
    /// returns negative ones).
    pub fn from_errno(errno: i32) -> Error {
        Error {
            errno: errno.checked_abs().unwrap_or(libc::EINVAL),
        }
    }

    /// The (positive) errno value, e.g. `libc::ENOENT`.
    pub fn errno(&self) -> i32 {
        self.errno
    }

    /// The queue was full (a send) or empty (a receive) and the call could
    /// not wait (`EAGAIN`).
    pub fn is_would_block(&self) -> bool {
        self.errno == libc::EAGAIN
    }

    /// The timeout passed first (`ETIMEDOUT`).
    pub fn is_timeout(&self) -> bool {
        self.errno == libc::ETIMEDOUT
    }

    /// The queue was deleted (`EPIPE`); a receiver sees it once drained.
    pub fn is_deleted(&self) -> bool {
        self.errno == libc::EPIPE
    }

    /// No such queue, or no busd on that socket (`ENOENT`).
    pub fn is_not_found(&self) -> bool {
        self.errno == libc::ENOENT
    }

    pub(crate) fn check(rc: i32) -> Result<i32, Error> {
        if rc < 0 {
            Err(Error::from_errno(rc))
        } else {
            Ok(rc)
        }
    }

    pub(crate) fn message(&self) -> &'static str {
        // bus_strerror() never returns NULL and its strings are static.
        unsafe { CStr::from_ptr(ffi::bus_strerror(-self.errno)) }
            .to_str()
            .unwrap_or("unknown error")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("errno", &self.errno)
            .field("message", &self.message())
            .finish()
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::from_errno(e.raw_os_error().unwrap_or(libc::EIO))
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        std::io::Error::from_raw_os_error(e.errno)
    }
}

/// Why [`Sender::try_send`](crate::Sender::try_send) sent nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrySendError {
    /// The queue is full.
    Full,
    /// The queue was deleted.
    Deleted,
    /// Another error (e.g. a message larger than the queue accepts).
    Other(Error),
}

/// Why [`Receiver::try_recv`](crate::Receiver::try_recv) received nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// The queue is empty.
    Empty,
    /// The queue was deleted and everything in it received.
    Deleted,
    /// Another error (e.g. a corrupt record).
    Other(Error),
}

/// The conversion from [`Error`], Display and std::error::Error of
/// [`TrySendError`] and [`TryRecvError`], which differ only in the name of
/// their EAGAIN variant.
macro_rules! try_error_impls {
    ($t:ident, $eagain:ident) => {
        impl From<Error> for $t {
            fn from(e: Error) -> $t {
                match e.errno {
                    libc::EAGAIN => $t::$eagain,
                    libc::EPIPE => $t::Deleted,
                    _ => $t::Other(e),
                }
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $t::$eagain => Error::from_errno(libc::EAGAIN).fmt(f),
                    $t::Deleted => Error::from_errno(libc::EPIPE).fmt(f),
                    $t::Other(e) => e.fmt(f),
                }
            }
        }

        impl std::error::Error for $t {}
    };
}

try_error_impls!(TrySendError, Full);
try_error_impls!(TryRecvError, Empty);
