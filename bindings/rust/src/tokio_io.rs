//! Async sends and receives over the handles' event-loop descriptors:
//! a failed non-waiting call arms the descriptor, tokio's reactor reports
//! it readable, the call is made again. No thread, no polling.

use std::os::unix::io::{AsRawFd, RawFd};
use std::sync::Arc;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::{ffi, recv_raw, Error, Message, Receiver, Sender};

/// A descriptor owned by a libbus handle: watched, never closed here.
pub(crate) struct Fd(RawFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

pub(crate) type Readable = AsyncFd<Fd>;

fn watch(fd: i32) -> Result<Readable, Error> {
    let fd = Error::check(fd)?;
    Ok(AsyncFd::with_interest(Fd(fd), Interest::READABLE)?)
}

impl Receiver {
    /// Receives the next message, waiting without blocking the thread.
    ///
    /// Needs a tokio runtime with IO enabled; the receiver is registered
    /// with the first runtime that calls it. Cancel-safe: a message is
    /// only taken off the queue when the future completes.
    pub async fn recv_async(&mut self) -> Result<Message<'_>, Error> {
        let m = loop {
            match recv_raw(self.c, 0) {
                Ok(m) => break m,
                Err(e) if e.is_would_block() => {}
                Err(e) => return Err(e),
            }
            // Only receives after the first bus_consumer_fd() arm the
            // descriptor: try once more after taking it.
            if self.afd.is_none() {
                self.afd = Some(watch(unsafe { ffi::bus_consumer_fd(self.c.as_ptr()) })?);
                continue;
            }
            // The receive just made armed the descriptor.
            let afd = self.afd.as_ref().expect("registered above");
            afd.readable().await?.clear_ready();
        };
        Ok(self.message(m))
    }
}

impl Sender {
    /// The producer's descriptor, watched; and whether it is new.
    fn readable(&self) -> Result<(Arc<Readable>, bool), Error> {
        let mut afd = self.afd.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(a) = afd.as_ref() {
            return Ok((a.clone(), false));
        }
        let fd = unsafe { ffi::bus_producer_fd(self.lock().0.as_ptr()) };
        let a = Arc::new(watch(fd)?);
        *afd = Some(a.clone());
        Ok((a, true))
    }

    /// Sends an untyped message, waiting for room without blocking the
    /// thread. Needs a tokio runtime with IO enabled. Cancel-safe: the
    /// message is sent exactly when the future completes.
    pub async fn send_async(&self, data: &[u8]) -> Result<(), Error> {
        self.send_typed_async(0, data).await
    }

    /// Sends a typed message, waiting for room without blocking the thread.
    pub async fn send_typed_async(&self, type_id: u32, data: &[u8]) -> Result<(), Error> {
        loop {
            match self.send_raw(type_id, data, 0) {
                Ok(()) => return Ok(()),
                Err(e) if e.is_would_block() => {}
                Err(e) => return Err(e),
            }
            // Only sends after the first bus_producer_fd() arm the
            // descriptor: try once more after taking it.
            let (afd, new) = self.readable()?;
            if new {
                continue;
            }
            // The send just made armed the descriptor.
            afd.readable().await?.clear_ready();
        }
    }
}
